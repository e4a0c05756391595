#include "sidecar/injector.h"

#include <regex>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace llmix::sidecar {
namespace {

using nlohmann::json;

constexpr const char* kRunVolume = "llmix-run";
constexpr const char* kRegistryVolume = "llmix-registry";
constexpr const char* kAdminPortName = "llmix-admin";
constexpr size_t kMaxAnnotationValue = 512;

bool IsDnsSubdomain(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return !s.empty() && s.size() <= 253 && std::regex_match(s, re);
}

bool IsQuantity(const std::string& s) {
  static const std::regex re("[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?");
  return !s.empty() && s.size() <= 64 && std::regex_match(s, re);
}

bool IsImage(const std::string& s) {
  if (s.empty() || s.size() > kMaxAnnotationValue) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// JSON Pointer escaping (RFC 6901) of one reference token.
std::string PointerToken(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

const json* Find(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string Annotation(const json& pod, const char* name) {
  const json* meta = Find(pod, "metadata");
  const json* ann = meta ? Find(*meta, "annotations") : nullptr;
  const json* v = ann ? Find(*ann, name) : nullptr;
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool HasNamed(const json* list, std::string_view name) {
  if (!list || !list->is_array()) return false;
  for (const auto& item : *list) {
    const json* n = Find(item, "name");
    if (n && n->is_string() && n->get<std::string>() == name) return true;
  }
  return false;
}

// Applies the llmix.io/* overrides of one pod to the cluster defaults.
absl::StatusOr<InjectorConfig> Effective(const json& pod, InjectorConfig c) {
  struct Override {
    const char* annotation;
    std::string* field;
    bool (*valid)(const std::string&);
    const char* expect;
  };
  const Override overrides[] = {
      {"llmix.io/image", &c.image, IsImage, "an image reference without spaces"},
      {"llmix.io/registry-configmap", &c.registry_configmap, IsDnsSubdomain, "a ConfigMap name"},
      {"llmix.io/registry-pvc", &c.registry_pvc, IsDnsSubdomain, "a PersistentVolumeClaim name"},
      {"llmix.io/api-key-secret", &c.api_key_secret, IsDnsSubdomain, "a Secret name"},
      {"llmix.io/cpu-request", &c.cpu_request, IsQuantity, "a quantity such as 100m"},
      {"llmix.io/memory-request", &c.memory_request, IsQuantity, "a quantity such as 64Mi"},
      {"llmix.io/cpu-limit", &c.cpu_limit, IsQuantity, "a quantity such as 1"},
      {"llmix.io/memory-limit", &c.memory_limit, IsQuantity, "a quantity such as 256Mi"},
  };
  for (const auto& o : overrides) {
    const std::string v = Annotation(pod, o.annotation);
    if (v.empty()) continue;
    if (!o.valid(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("annotation ", o.annotation, ": expected ", o.expect));
    }
    *o.field = v;
  }
  // A per-pod registry source replaces the cluster default instead of adding a second one.
  if (!Annotation(pod, "llmix.io/registry-configmap").empty()) {
    c.registry_pvc.clear();
    c.registry_items.clear();
  }
  if (!Annotation(pod, "llmix.io/registry-pvc").empty()) c.registry_configmap.clear();
  const std::string mode = Annotation(pod, "llmix.io/mode");
  if (mode == "native") {
    c.native_sidecar = true;
  } else if (mode == "container") {
    c.native_sidecar = false;
  } else if (!mode.empty()) {
    return absl::InvalidArgumentError("annotation llmix.io/mode: expected native or container");
  }
  return c;
}

json EnvVar(const char* name, const std::string& value) {
  return json{{"name", name}, {"value", value}};
}

json Probe(const char* path, int period, int failures) {
  return json{{"httpGet", {{"path", path}, {"port", kAdminPortName}}},
              {"periodSeconds", period},
              {"timeoutSeconds", 2},
              {"failureThreshold", failures}};
}

json SidecarContainer(const InjectorConfig& c) {
  const std::string sock = absl::StrCat("unix://", kSocketDir, "/llmix.sock");
  json env = json::array({EnvVar("LLMIX_STATE_DIR", kSocketDir),
                          EnvVar("LLMIX_GRPC_LISTEN", sock + ",127.0.0.1:7070"),
                          EnvVar("LLMIX_ADMIN_LISTEN", absl::StrCat("0.0.0.0:", c.admin_port))});
  json mounts = json::array({{{"name", kRunVolume}, {"mountPath", kSocketDir}}});
  if (!c.registry_configmap.empty() || !c.registry_pvc.empty()) {
    env.push_back(EnvVar("LLMIX_REGISTRY_DIR", kRegistryMount));
    mounts.push_back(
        {{"name", kRegistryVolume}, {"mountPath", kRegistryMount}, {"readOnly", true}});
  }
  if (!c.redis_url.empty()) env.push_back(EnvVar("REDIS_URL", c.redis_url));
  if (!c.otlp_endpoint.empty())
    env.push_back(EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", c.otlp_endpoint));
  json container = {
      {"name", kSidecarName},
      {"image", c.image},
      {"imagePullPolicy", c.image_pull_policy},
      {"args", {"serve"}},
      {"env", env},
      {"ports", {{{"name", kAdminPortName}, {"containerPort", c.admin_port}, {"protocol", "TCP"}}}},
      {"resources",
       {{"requests", {{"cpu", c.cpu_request}, {"memory", c.memory_request}}},
        {"limits", {{"cpu", c.cpu_limit}, {"memory", c.memory_limit}}}}},
      {"startupProbe", Probe("/healthz", 1, 30)},
      {"livenessProbe", Probe("/healthz", 10, 3)},
      {"readinessProbe", Probe("/readyz", 5, 3)},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", c.run_as_user},
        {"runAsGroup", c.run_as_user},
        {"allowPrivilegeEscalation", false},
        {"privileged", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", {"ALL"}}}},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"volumeMounts", mounts},
  };
  if (!c.api_key_secret.empty()) {
    container["envFrom"] = {{{"secretRef", {{"name", c.api_key_secret}, {"optional", false}}}}};
  }
  if (c.native_sidecar) container["restartPolicy"] = "Always";
  return container;
}

// "add" of `value` to the array at `path`: the whole array when it is missing, else one item.
void AddToArray(json& patch, const json* existing, const std::string& path, json value,
                bool at_front = false) {
  if (!existing || !existing->is_array()) {
    patch.push_back({{"op", "add"}, {"path", path}, {"value", json::array({std::move(value)})}});
  } else {
    patch.push_back(
        {{"op", "add"}, {"path", path + (at_front ? "/0" : "/-")}, {"value", std::move(value)}});
  }
}

bool MountsPath(const json& container, std::string_view path) {
  const json* mounts = Find(container, "volumeMounts");
  if (!mounts || !mounts->is_array()) return false;
  for (const auto& m : *mounts) {
    const json* p = Find(m, "mountPath");
    if (p && p->is_string() && p->get<std::string>() == path) return true;
  }
  return false;
}

absl::StatusOr<json> BuildPatch(const json& pod, const InjectorConfig& defaults) {
  if (!pod.is_object()) return absl::InvalidArgumentError("pod: expected an object");
  if (Annotation(pod, "llmix.io/inject") != "true") return json::array();
  const json* spec = Find(pod, "spec");
  if (!spec || !spec->is_object())
    return absl::InvalidArgumentError("pod.spec: expected an object");
  const json* containers = Find(*spec, "containers");
  if (!containers || !containers->is_array()) {
    return absl::InvalidArgumentError("pod.spec.containers: expected an array");
  }
  const json* init = Find(*spec, "initContainers");
  if (init && !init->is_array()) {
    return absl::InvalidArgumentError("pod.spec.initContainers: expected an array");
  }
  const json* volumes = Find(*spec, "volumes");
  if (volumes && !volumes->is_array()) {
    return absl::InvalidArgumentError("pod.spec.volumes: expected an array");
  }
  // Idempotent: a pod that already carries the sidecar (or our marker) is left alone.
  if (HasNamed(containers, kSidecarName) || HasNamed(init, kSidecarName) ||
      Annotation(pod, kInjectedAnnotation) == "injected") {
    return json::array();
  }
  auto config = Effective(pod, defaults);
  if (!config.ok()) return config.status();
  const InjectorConfig& c = *config;
  const bool registry = !c.registry_configmap.empty() || !c.registry_pvc.empty();
  auto items = ParseRegistryItems(c.registry_items);
  if (!items.ok()) return items.status();
  for (const char* v : {kRunVolume, kRegistryVolume}) {
    if ((v == kRunVolume || registry) && HasNamed(volumes, v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod.spec.volumes: a volume named ", v, " already exists"));
    }
  }

  json patch = json::array();
  json run_volume = {{"name", kRunVolume},
                     {"emptyDir", {{"medium", "Memory"}, {"sizeLimit", "16Mi"}}}};
  AddToArray(patch, volumes, "/spec/volumes", run_volume);
  if (registry) {
    json reg = {{"name", kRegistryVolume}};
    if (!c.registry_configmap.empty()) {
      reg["configMap"] = {{"name", c.registry_configmap}};
      for (const auto& item : *items) {
        reg["configMap"]["items"].push_back({{"key", item.key}, {"path", item.path}});
      }
    } else {
      reg["persistentVolumeClaim"] = {{"claimName", c.registry_pvc}, {"readOnly", true}};
    }
    // After the first add the array exists, so the second one appends.
    patch.push_back({{"op", "add"}, {"path", "/spec/volumes/-"}, {"value", reg}});
  }
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& app = (*containers)[i];
    if (!app.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod.spec.containers[", i, "]: expected an object"));
    }
    const std::string base = absl::StrCat("/spec/containers/", i);
    const json* env = Find(app, "env");
    if (env && !env->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod.spec.containers[", i, "].env: expected an array"));
    }
    if (!HasNamed(env, "LLMIX_SIDECAR_ADDR")) {
      AddToArray(patch, env, base + "/env", EnvVar("LLMIX_SIDECAR_ADDR", c.app_addr));
    }
    const json* mounts = Find(app, "volumeMounts");
    if (mounts && !mounts->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod.spec.containers[", i, "].volumeMounts: expected an array"));
    }
    if (!MountsPath(app, kSocketDir)) {
      AddToArray(patch, mounts, base + "/volumeMounts",
                 {{"name", kRunVolume}, {"mountPath", kSocketDir}});
    }
  }
  if (c.native_sidecar) {
    AddToArray(patch, init, "/spec/initContainers", SidecarContainer(c), /*at_front=*/true);
  } else {
    patch.push_back(
        {{"op", "add"}, {"path", "/spec/containers/-"}, {"value", SidecarContainer(c)}});
  }
  patch.push_back({{"op", "add"},
                   {"path", "/metadata/annotations/" + PointerToken(kInjectedAnnotation)},
                   {"value", "injected"}});
  return patch;
}

std::string Truncate(std::string s) {
  if (s.size() > 256) s.resize(256);
  return s;
}

}  // namespace

absl::StatusOr<std::vector<ConfigMapItem>> ParseRegistryItems(const std::string& spec) {
  static const std::regex key_re("[-._a-zA-Z0-9]{1,253}");
  std::vector<ConfigMapItem> items;
  if (spec.empty()) return items;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    const std::string entry = spec.substr(start, end - start);
    const size_t eq = entry.find('=');
    ConfigMapItem item;
    if (eq != std::string::npos) {
      item.key = entry.substr(0, eq);
      item.path = entry.substr(eq + 1);
    }
    const bool path_ok = !item.path.empty() && item.path.size() <= 1024 && item.path[0] != '/' &&
                         item.path.find("..") == std::string::npos && item.path.back() != '/';
    if (eq == std::string::npos || !std::regex_match(item.key, key_re) || !path_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "registry items: expected KEY=RELATIVE/PATH, got \"", entry.substr(0, 200), "\""));
    }
    items.push_back(std::move(item));
    start = end + 1;
  }
  return items;
}

absl::Status ValidateInjectorConfig(const InjectorConfig& c) {
  auto optional_name = [](const std::string& s) { return s.empty() || IsDnsSubdomain(s); };
  const struct {
    const char* flag;
    bool ok;
    const char* expect;
  } checks[] = {
      {"--image", IsImage(c.image), "an image reference without spaces"},
      {"--image-pull-policy",
       c.image_pull_policy == "Always" || c.image_pull_policy == "IfNotPresent" ||
           c.image_pull_policy == "Never",
       "Always, IfNotPresent or Never"},
      {"--registry-configmap", optional_name(c.registry_configmap), "a ConfigMap name"},
      {"--registry-pvc", optional_name(c.registry_pvc), "a PersistentVolumeClaim name"},
      {"--api-key-secret", optional_name(c.api_key_secret), "a Secret name"},
      {"--cpu-request", IsQuantity(c.cpu_request), "a quantity such as 100m"},
      {"--memory-request", IsQuantity(c.memory_request), "a quantity such as 64Mi"},
      {"--cpu-limit", IsQuantity(c.cpu_limit), "a quantity such as 1"},
      {"--memory-limit", IsQuantity(c.memory_limit), "a quantity such as 256Mi"},
      {"--app-addr", IsImage(c.app_addr), "a gRPC target without spaces"},
  };
  for (const auto& check : checks) {
    if (!check.ok) {
      return absl::InvalidArgumentError(absl::StrCat(check.flag, ": expected ", check.expect));
    }
  }
  if (!c.registry_configmap.empty() && !c.registry_pvc.empty()) {
    return absl::InvalidArgumentError("--registry-configmap and --registry-pvc: give at most one");
  }
  if (auto items = ParseRegistryItems(c.registry_items); !items.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--registry-items: ", items.status().message()));
  }
  return absl::OkStatus();
}

const std::vector<AnnotationDoc>& InjectAnnotations() {
  static const std::vector<AnnotationDoc> docs = {
      {"llmix.io/inject", "\"true\" injects the sidecar into this pod"},
      {"llmix.io/mode", "native (init container with restartPolicy: Always) or container"},
      {"llmix.io/image", "sidecar image"},
      {"llmix.io/registry-configmap", "ConfigMap mounted as the registry"},
      {"llmix.io/registry-pvc", "PersistentVolumeClaim mounted (read-only) as the registry"},
      {"llmix.io/api-key-secret", "Secret whose keys become the sidecar's env (envFrom)"},
      {"llmix.io/cpu-request", "sidecar CPU request"},
      {"llmix.io/memory-request", "sidecar memory request"},
      {"llmix.io/cpu-limit", "sidecar CPU limit"},
      {"llmix.io/memory-limit", "sidecar memory limit"},
  };
  return docs;
}

absl::StatusOr<json> BuildInjectionPatch(const json& pod, const InjectorConfig& config) {
  try {
    return BuildPatch(pod, config);
  } catch (const std::exception& e) {  // defensive: a JSON type surprise must not crash
    return absl::InvalidArgumentError(absl::StrCat("pod: ", e.what()));
  }
}

json ReviewAdmission(const std::string& body, const InjectorConfig& config) {
  json response = {{"uid", ""}, {"allowed", true}};
  auto problem = [&](const std::string& why) {
    const std::string msg = Truncate("llmix-sidecar injector: " + why);
    if (config.deny_on_error) {
      response["allowed"] = false;
      response["status"] = {{"code", 400}, {"message", msg}};
    } else {
      response["warnings"] = json::array({msg});
    }
  };
  const json review = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const json* request = Find(review, "request");
  const json* uid = request ? Find(*request, "uid") : nullptr;
  if (uid && uid->is_string()) response["uid"] = *uid;
  if (review.is_discarded()) {
    problem("request body is not JSON");
  } else if (!request || !request->is_object()) {
    problem("AdmissionReview.request: expected an object");
  } else if (!uid || !uid->is_string()) {
    problem("AdmissionReview.request.uid: expected a string");
  } else {
    const json* kind = Find(*request, "kind");
    const json* kind_name = kind ? Find(*kind, "kind") : nullptr;
    const json* op = Find(*request, "operation");
    const bool is_pod = kind_name && kind_name->is_string() && *kind_name == "Pod";
    const bool is_create = !op || (op->is_string() && *op == "CREATE");
    const json* pod = Find(*request, "object");
    if (is_pod && is_create) {
      auto patch = pod ? BuildInjectionPatch(*pod, config)
                       : absl::StatusOr<json>(
                             absl::InvalidArgumentError("AdmissionReview.request.object: missing"));
      if (!patch.ok()) {
        problem(std::string(patch.status().message()));
      } else if (!patch->empty()) {
        response["patchType"] = "JSONPatch";
        response["patch"] =
            absl::Base64Escape(patch->dump(-1, ' ', false, json::error_handler_t::replace));
      }
    }
  }
  return json{
      {"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}};
}

}  // namespace llmix::sidecar
