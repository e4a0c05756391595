#include "sidecar/injector.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"

namespace llmix::sidecar {
namespace {

using nlohmann::json;

json AppPod(json annotations = {{"llmix.io/inject", "true"}}) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"generateName", "app-"}, {"annotations", annotations}}},
      {"spec",
       {{"containers",
         {{{"name", "app"}, {"image", "example/app:1"}, {"env", {{{"name", "A"}, {"value", "1"}}}}},
          {{"name", "helper"}, {"image", "example/helper:1"}}}}}}};
}

json Review(const json& pod, const std::string& op = "CREATE") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"operation", op},
            {"namespace", "default"},
            {"object", pod}}}};
}

json Patched(const json& pod, const InjectorConfig& config = {}) {
  auto patch = BuildInjectionPatch(pod, config);
  EXPECT_TRUE(patch.ok()) << patch.status();
  return patch.ok() ? pod.patch(*patch) : pod;
}

int CountSidecars(const json& pod) {
  int n = 0;
  for (const char* list : {"containers", "initContainers"}) {
    if (!pod["spec"].contains(list)) continue;
    for (const auto& c : pod["spec"][list])
      n += c.is_object() && c.value("name", json()) == kSidecarName;
  }
  return n;
}

std::string EnvValue(const json& container, const std::string& name) {
  for (const auto& e : container.value("env", json::array())) {
    if (e["name"] == name) return e.value("value", "");
  }
  return "<unset>";
}

TEST(Injector, AnnotatedPodGetsNativeSidecarWithEverythingWired) {
  InjectorConfig config;
  config.registry_configmap = "llm-registry";
  config.api_key_secret = "llm-keys";
  config.redis_url = "redis://redis:6379/0";
  config.otlp_endpoint = "http://otel:4317";
  const json pod = Patched(AppPod(), config);

  ASSERT_EQ(CountSidecars(pod), 1);
  ASSERT_EQ(pod["spec"]["initContainers"].size(), 1u);
  const json& s = pod["spec"]["initContainers"][0];
  EXPECT_EQ(s["name"], "llmix-sidecar");
  EXPECT_EQ(s["restartPolicy"], "Always");
  EXPECT_EQ(s["image"], config.image);
  EXPECT_EQ(s["args"], json::array({"serve"}));
  EXPECT_EQ(EnvValue(s, "LLMIX_ADMIN_LISTEN"), "0.0.0.0:9464");
  EXPECT_EQ(EnvValue(s, "LLMIX_STATE_DIR"), "/var/run/llmix");
  EXPECT_EQ(EnvValue(s, "LLMIX_GRPC_LISTEN"), "unix:///var/run/llmix/llmix.sock,127.0.0.1:7070");
  EXPECT_EQ(EnvValue(s, "LLMIX_REGISTRY_DIR"), "/etc/llmix/registry");
  EXPECT_EQ(EnvValue(s, "REDIS_URL"), "redis://redis:6379/0");
  EXPECT_EQ(EnvValue(s, "OTEL_EXPORTER_OTLP_ENDPOINT"), "http://otel:4317");
  EXPECT_EQ(s["envFrom"][0]["secretRef"]["name"], "llm-keys");
  EXPECT_EQ(s["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(s["livenessProbe"]["httpGet"]["path"], "/healthz");
  EXPECT_EQ(s["livenessProbe"]["httpGet"]["port"], s["ports"][0]["name"]);
  EXPECT_EQ(s["ports"][0]["containerPort"], 9464);
  EXPECT_EQ(s["resources"]["limits"]["memory"], "256Mi");
  const json& sc = s["securityContext"];
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(sc["seccompProfile"]["type"], "RuntimeDefault");

  const json& volumes = pod["spec"]["volumes"];
  ASSERT_EQ(volumes.size(), 2u);
  EXPECT_EQ(volumes[0]["name"], "llmix-run");
  EXPECT_TRUE(volumes[0].contains("emptyDir"));
  EXPECT_EQ(volumes[1]["configMap"]["name"], "llm-registry");
  for (const auto& app : pod["spec"]["containers"]) {
    EXPECT_EQ(EnvValue(app, "LLMIX_SIDECAR_ADDR"), "unix:///var/run/llmix/llmix.sock")
        << app["name"];
    ASSERT_EQ(app["volumeMounts"].size(), 1u);
    EXPECT_EQ(app["volumeMounts"][0]["mountPath"], "/var/run/llmix");
  }
  EXPECT_EQ(EnvValue(pod["spec"]["containers"][0], "A"), "1");  // existing env kept
  EXPECT_EQ(pod["metadata"]["annotations"]["llmix.io/status"], "injected");
}

TEST(Injector, SecondPassIsANoOp) {
  const json once = Patched(AppPod());
  auto again = BuildInjectionPatch(once, {});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty()) << again->dump();
  // A pod whose author already added a container of that name is not patched either.
  json manual = AppPod();
  manual["spec"]["containers"].push_back({{"name", "llmix-sidecar"}, {"image", "x"}});
  auto patch = BuildInjectionPatch(manual, {});
  ASSERT_TRUE(patch.ok());
  EXPECT_TRUE(patch->empty());
}

TEST(Injector, UnannotatedOrNotTruePodsAreLeftAlone) {
  for (const json& ann : {json::object(), json{{"llmix.io/inject", "false"}},
                          json{{"llmix.io/inject", "yes"}}, json{{"other", "true"}}}) {
    auto patch = BuildInjectionPatch(AppPod(ann), {});
    ASSERT_TRUE(patch.ok());
    EXPECT_TRUE(patch->empty()) << ann.dump();
  }
  json bare = AppPod();
  bare["metadata"].erase("annotations");
  auto patch = BuildInjectionPatch(bare, {});
  ASSERT_TRUE(patch.ok());
  EXPECT_TRUE(patch->empty());
}

TEST(Injector, ExistingInitContainersAndVolumesAreAppendedTo) {
  json pod = AppPod();
  pod["spec"]["initContainers"] = {{{"name", "migrate"}, {"image", "m"}}};
  pod["spec"]["volumes"] = {{{"name", "data"}, {"emptyDir", json::object()}}};
  pod["spec"]["containers"][0]["volumeMounts"] = {{{"name", "data"}, {"mountPath", "/data"}}};
  const json out = Patched(pod);
  ASSERT_EQ(out["spec"]["initContainers"].size(), 2u);
  EXPECT_EQ(out["spec"]["initContainers"][0]["name"], "llmix-sidecar");  // starts first
  EXPECT_EQ(out["spec"]["initContainers"][1]["name"], "migrate");
  ASSERT_EQ(out["spec"]["volumes"].size(), 2u);
  EXPECT_EQ(out["spec"]["volumes"][0]["name"], "data");
  EXPECT_EQ(out["spec"]["containers"][0]["volumeMounts"].size(), 2u);
  EXPECT_FALSE(out["spec"]["volumes"][1].contains("configMap"));  // no registry configured
}

TEST(Injector, AnnotationsOverrideDefaultsPerPod) {
  InjectorConfig config;
  config.registry_configmap = "cluster-default";
  const json pod = Patched(AppPod({{"llmix.io/inject", "true"},
                                   {"llmix.io/mode", "container"},
                                   {"llmix.io/image", "registry.local/llmix:2"},
                                   {"llmix.io/registry-pvc", "team-registry"},
                                   {"llmix.io/cpu-request", "250m"},
                                   {"llmix.io/memory-limit", "1Gi"},
                                   {"llmix.io/api-key-secret", "team-keys"}}),
                           config);
  EXPECT_FALSE(pod["spec"].contains("initContainers"));
  ASSERT_EQ(CountSidecars(pod), 1);
  const json& s = pod["spec"]["containers"].back();
  EXPECT_EQ(s["name"], "llmix-sidecar");
  EXPECT_FALSE(s.contains("restartPolicy"));
  EXPECT_EQ(s["image"], "registry.local/llmix:2");
  EXPECT_EQ(s["resources"]["requests"]["cpu"], "250m");
  EXPECT_EQ(s["resources"]["limits"]["memory"], "1Gi");
  EXPECT_EQ(s["envFrom"][0]["secretRef"]["name"], "team-keys");
  ASSERT_EQ(pod["spec"]["volumes"].size(), 2u);
  EXPECT_EQ(pod["spec"]["volumes"][1]["persistentVolumeClaim"]["claimName"], "team-registry");
  // The app containers got the address; the sidecar did not point at itself.
  EXPECT_EQ(EnvValue(s, "LLMIX_SIDECAR_ADDR"), "<unset>");
}

TEST(Injector, RegistryItemsGiveTheNestedLayout) {
  InjectorConfig config;
  config.registry_configmap = "llm-registry";
  config.registry_items =
      "current.json=current.json,compiled__r1__manifest.json=compiled/r1/manifest.json";
  const json pod = Patched(AppPod(), config);
  const json& items = pod["spec"]["volumes"][1]["configMap"]["items"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1]["key"], "compiled__r1__manifest.json");
  EXPECT_EQ(items[1]["path"], "compiled/r1/manifest.json");
  // A pod naming its own ConfigMap gets it whole: the cluster's items do not describe it.
  const json own = Patched(
      AppPod({{"llmix.io/inject", "true"}, {"llmix.io/registry-configmap", "mine"}}), config);
  EXPECT_EQ(own["spec"]["volumes"][1]["configMap"], json({{"name", "mine"}}));
  for (const std::string bad :
       {"nokey", "=path", "k=", "k=/abs", "k=../up", "k=a/", "bad key=x", "a=b,,c=d"}) {
    auto items = ParseRegistryItems(bad);
    ASSERT_FALSE(items.ok()) << bad;
    EXPECT_NE(std::string(items.status().message()).find("registry items"), std::string::npos);
    config.registry_items = bad;
    EXPECT_FALSE(BuildInjectionPatch(AppPod(), config).ok()) << bad;
  }
}

TEST(Injector, ClusterDefaultsAreCheckedUpFront) {
  EXPECT_TRUE(ValidateInjectorConfig({}).ok());
  const std::pair<void (*)(InjectorConfig&), const char*> bad[] = {
      {[](InjectorConfig& c) { c.image = "a b"; }, "--image"},
      {[](InjectorConfig& c) { c.image_pull_policy = "Sometimes"; }, "--image-pull-policy"},
      {[](InjectorConfig& c) { c.registry_configmap = "Upper"; }, "--registry-configmap"},
      {[](InjectorConfig& c) { c.api_key_secret = "a_b"; }, "--api-key-secret"},
      {[](InjectorConfig& c) { c.memory_limit = "256MB"; }, "--memory-limit"},
      {[](InjectorConfig& c) { c.registry_items = "k=/abs"; }, "--registry-items"},
      {[](InjectorConfig& c) {
         c.registry_configmap = "a";
         c.registry_pvc = "b";
       },
       "--registry-pvc"},
  };
  for (const auto& [mutate, flag] : bad) {
    InjectorConfig config;
    mutate(config);
    auto st = ValidateInjectorConfig(config);
    ASSERT_FALSE(st.ok()) << flag;
    EXPECT_NE(std::string(st.message()).find(flag), std::string::npos) << st;
  }
}

TEST(Injector, BadAnnotationNamesIt) {
  const std::pair<const char*, const char*> bad[] = {
      {"llmix.io/mode", "sidecar"},
      {"llmix.io/image", "has space"},
      {"llmix.io/cpu-request", "lots"},
      {"llmix.io/memory-limit", "1 Gi"},
      {"llmix.io/registry-configmap", "Bad_Name"},
      {"llmix.io/api-key-secret", "-x"},
  };
  for (const auto& [name, value] : bad) {
    auto patch = BuildInjectionPatch(AppPod({{"llmix.io/inject", "true"}, {name, value}}), {});
    ASSERT_FALSE(patch.ok()) << name;
    EXPECT_NE(std::string(patch.status().message()).find(name), std::string::npos)
        << patch.status();
  }
}

TEST(Injector, ReviewCarriesUidAndBase64Patch) {
  const json out = ReviewAdmission(Review(AppPod()).dump(), {});
  EXPECT_EQ(out["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(out["kind"], "AdmissionReview");
  const json& r = out["response"];
  EXPECT_EQ(r["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(r["allowed"], true);
  EXPECT_EQ(r["patchType"], "JSONPatch");
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(r["patch"].get<std::string>(), &decoded));
  EXPECT_EQ(CountSidecars(AppPod().patch(json::parse(decoded))), 1);
}

TEST(Injector, ReviewOfOtherKindsAndOperationsHasNoPatch) {
  json update = Review(AppPod(), "UPDATE");
  json service = Review(AppPod());
  service["request"]["kind"]["kind"] = "Service";
  for (const json& review : {update, service}) {
    const json r = ReviewAdmission(review.dump(), {})["response"];
    EXPECT_EQ(r["allowed"], true);
    EXPECT_FALSE(r.contains("patch"));
    EXPECT_FALSE(r.contains("warnings"));
  }
}

TEST(Injector, MalformedReviewsGetACleanAnswer) {
  json no_spec = Review(AppPod());
  no_spec["request"]["object"].erase("spec");
  json string_containers = Review(AppPod());
  string_containers["request"]["object"]["spec"]["containers"] = "app";
  json bad_env = Review(AppPod());
  bad_env["request"]["object"]["spec"]["containers"][0]["env"] = {{"not", "a list"}};
  json number_container = Review(AppPod());
  number_container["request"]["object"]["spec"]["containers"][1] = 7;
  json no_object = Review(AppPod());
  no_object["request"].erase("object");
  json no_uid = Review(AppPod());
  no_uid["request"].erase("uid");
  json taken_volume = Review(AppPod());
  taken_volume["request"]["object"]["spec"]["volumes"] = {{{"name", "llmix-run"}}};
  const std::pair<std::string, std::string> cases[] = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {"[]", "request"},
      {"{\"request\":5}", "request"},
      {"{\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},\"object\":[]}}", "pod"},
      {"\xff\xfe{}", "not JSON"},
      {no_spec.dump(), "pod.spec"},
      {string_containers.dump(), "pod.spec.containers"},
      {bad_env.dump(), "containers[0].env"},
      {number_container.dump(), "containers[1]"},
      {no_object.dump(), "request.object"},
      {no_uid.dump(), "request.uid"},
      {taken_volume.dump(), "llmix-run"},
  };
  for (const auto& [body, names] : cases) {
    for (bool deny : {false, true}) {
      InjectorConfig config;
      config.deny_on_error = deny;
      json out;
      ASSERT_NO_THROW(out = ReviewAdmission(body, config)) << body;
      const json& r = out["response"];
      EXPECT_FALSE(r.contains("patch")) << body;
      EXPECT_EQ(r["allowed"], !deny) << body;
      const std::string msg =
          deny ? r["status"]["message"].get<std::string>() : r["warnings"][0].get<std::string>();
      EXPECT_NE(msg.find(names), std::string::npos) << msg;
      // The answer serialises even when the input was not UTF-8.
      EXPECT_NO_THROW(out.dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
}

// Bounded randomized robustness: any node of a valid review replaced by any JSON type never
// throws, always answers with a uid and an allowed flag, and any patch it returns applies to
// the pod and leaves exactly one sidecar.
TEST(Injector, MutatedReviewsNeverThrowAndPatchesAlwaysApply) {
  json base = Review(AppPod());
  base["request"]["object"]["spec"]["initContainers"] = {{{"name", "init"}, {"image", "i"}}};
  base["request"]["object"]["spec"]["volumes"] = {{{"name", "v"}, {"emptyDir", json::object()}}};
  std::vector<json::json_pointer> pointers;
  const json flat = base.flatten();
  for (const auto& item : flat.items()) {
    json::json_pointer p(item.key());
    while (!p.empty()) {
      pointers.push_back(p);
      p = p.parent_pointer();
    }
  }
  const json replacements[] = {nullptr,
                               0,
                               -1.5,
                               "",
                               "true",
                               true,
                               json::array(),
                               json::object(),
                               json::array({1, "x"}),
                               json{{"name", "llmix-sidecar"}}};
  std::mt19937 rng(20261124);
  int patched = 0;
  for (int i = 0; i < 3000; ++i) {
    json review = base;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const auto& ptr = pointers[rng() % pointers.size()];
      const json& replacement = replacements[rng() % std::size(replacements)];
      try {  // an earlier edit may have removed the path's parents
        if (review.contains(ptr)) review.at(ptr) = replacement;
      } catch (const json::exception&) {
      }
    }
    json out;
    ASSERT_NO_THROW(out = ReviewAdmission(review.dump(), {})) << review.dump();
    const json& r = out["response"];
    ASSERT_TRUE(r["uid"].is_string());
    ASSERT_TRUE(r["allowed"].is_boolean());
    if (!r.contains("patch")) continue;
    std::string decoded;
    ASSERT_TRUE(absl::Base64Unescape(r["patch"].get<std::string>(), &decoded));
    json pod;
    ASSERT_NO_THROW(pod = review["request"]["object"].patch(json::parse(decoded))) << review.dump();
    EXPECT_EQ(CountSidecars(pod), 1) << review.dump();
    ++patched;
  }
  EXPECT_GT(patched, 100);  // the mutations leave many pods injectable, so patches are exercised
}

}  // namespace
}  // namespace llmix::sidecar
