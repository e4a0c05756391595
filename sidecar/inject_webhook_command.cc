#include "sidecar/inject_webhook_command.h"

#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "sidecar/admin_server.h"
#include "sidecar/reloading_certificate.h"

namespace llmix::sidecar {
namespace {

constexpr size_t kMaxReviewBytes = 8 << 20;  // a Pod AdmissionReview is far smaller

enum class Kind { kString, kBool, kInt };

struct FlagSpec {
  const char* flag;
  const char* env;
  Kind kind;
  const char* help;
  std::function<void*(InjectWebhookOptions&)> field;
};

const std::vector<FlagSpec>& Specs() {
  using O = InjectWebhookOptions;
  static const std::vector<FlagSpec> specs = {
      {"listen", "LLMIX_INJECT_LISTEN", Kind::kString, "HTTPS address (host:port)",
       [](O& o) -> void* { return &o.listen; }},
      {"tls-cert", "LLMIX_INJECT_TLS_CERT", Kind::kString, "PEM certificate (chain) file",
       [](O& o) -> void* { return &o.tls_cert; }},
      {"tls-key", "LLMIX_INJECT_TLS_KEY", Kind::kString, "PEM private key file",
       [](O& o) -> void* { return &o.tls_key; }},
      {"ready-file", "LLMIX_INJECT_READY_FILE", Kind::kString,
       "Write {\"listen\": \"host:port\"} here once serving",
       [](O& o) -> void* { return &o.ready_file; }},
      {"image", "LLMIX_INJECT_IMAGE", Kind::kString, "Sidecar image",
       [](O& o) -> void* { return &o.injector.image; }},
      {"image-pull-policy", "LLMIX_INJECT_IMAGE_PULL_POLICY", Kind::kString,
       "Always | IfNotPresent | Never",
       [](O& o) -> void* { return &o.injector.image_pull_policy; }},
      {"native-sidecar", "LLMIX_INJECT_NATIVE_SIDECAR", Kind::kBool,
       "Inject an init container with restartPolicy: Always (k8s >= 1.29); false: a regular "
       "container",
       [](O& o) -> void* { return &o.injector.native_sidecar; }},
      {"registry-configmap", "LLMIX_INJECT_REGISTRY_CONFIGMAP", Kind::kString,
       "ConfigMap mounted as the registry",
       [](O& o) -> void* { return &o.injector.registry_configmap; }},
      {"registry-items", "LLMIX_INJECT_REGISTRY_ITEMS", Kind::kString,
       "KEY=PATH,... : ConfigMap keys mounted at these paths under the registry (nested layout)",
       [](O& o) -> void* { return &o.injector.registry_items; }},
      {"registry-pvc", "LLMIX_INJECT_REGISTRY_PVC", Kind::kString,
       "PersistentVolumeClaim mounted as the registry",
       [](O& o) -> void* { return &o.injector.registry_pvc; }},
      {"api-key-secret", "LLMIX_INJECT_API_KEY_SECRET", Kind::kString,
       "Secret whose keys become the sidecar's env (e.g. OPENAI_API_KEY)",
       [](O& o) -> void* { return &o.injector.api_key_secret; }},
      {"redis-url", "LLMIX_INJECT_REDIS_URL", Kind::kString, "REDIS_URL given to the sidecar",
       [](O& o) -> void* { return &o.injector.redis_url; }},
      {"otlp-endpoint", "LLMIX_INJECT_OTLP_ENDPOINT", Kind::kString,
       "OTEL_EXPORTER_OTLP_ENDPOINT given to the sidecar",
       [](O& o) -> void* { return &o.injector.otlp_endpoint; }},
      {"cpu-request", "LLMIX_INJECT_CPU_REQUEST", Kind::kString, "Sidecar CPU request",
       [](O& o) -> void* { return &o.injector.cpu_request; }},
      {"memory-request", "LLMIX_INJECT_MEMORY_REQUEST", Kind::kString, "Sidecar memory request",
       [](O& o) -> void* { return &o.injector.memory_request; }},
      {"cpu-limit", "LLMIX_INJECT_CPU_LIMIT", Kind::kString, "Sidecar CPU limit",
       [](O& o) -> void* { return &o.injector.cpu_limit; }},
      {"memory-limit", "LLMIX_INJECT_MEMORY_LIMIT", Kind::kString, "Sidecar memory limit",
       [](O& o) -> void* { return &o.injector.memory_limit; }},
      {"admin-port", "LLMIX_INJECT_ADMIN_PORT", Kind::kInt,
       "Sidecar admin port (probes, metrics), bound on 0.0.0.0 in the pod",
       [](O& o) -> void* { return &o.injector.admin_port; }},
      {"app-addr", "LLMIX_INJECT_APP_ADDR", Kind::kString,
       "LLMIX_SIDECAR_ADDR given to the app containers",
       [](O& o) -> void* { return &o.injector.app_addr; }},
      {"deny-on-error", "LLMIX_INJECT_DENY_ON_ERROR", Kind::kBool,
       "Deny pods whose review or llmix.io/* annotations are invalid (default: allow unpatched "
       "with a warning)",
       [](O& o) -> void* { return &o.injector.deny_on_error; }},
  };
  return specs;
}

absl::Status Apply(const FlagSpec& spec, InjectWebhookOptions& o, const std::string& value,
                   const std::string& where) {
  void* field = spec.field(o);
  switch (spec.kind) {
    case Kind::kString:
      *static_cast<std::string*>(field) = value;
      return absl::OkStatus();
    case Kind::kBool:
      if (value == "true" || value == "1") {
        *static_cast<bool*>(field) = true;
      } else if (value == "false" || value == "0") {
        *static_cast<bool*>(field) = false;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(where, ": expected true or false"));
      }
      return absl::OkStatus();
    case Kind::kInt: {
      int v = 0;
      if (!absl::SimpleAtoi(value, &v) || v < 1 || v > 65535) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": expected a port (1-65535)"));
      }
      *static_cast<int*>(field) = v;
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

absl::Status WriteReadyFile(const std::string& path, const std::string& listen) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return absl::UnavailableError(absl::StrCat("--ready-file: cannot write ", path));
  const std::string body = nlohmann::json{{"listen", listen}}.dump() + "\n";
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("--ready-file: cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace

std::string InjectWebhookHelp() {
  std::string out =
      "usage: llmix-sidecar inject-webhook --tls-cert FILE --tls-key FILE [flags]\n"
      "Mutating admission webhook: POST /mutate (AdmissionReview v1), GET /healthz.\n"
      "flags (each also read from its env var; a flag wins):\n";
  for (const auto& s : Specs()) {
    absl::StrAppend(&out, "  --", s.flag, " (", s.env, ")\n      ", s.help, "\n");
  }
  out += "per-pod annotations:\n";
  for (const auto& a : InjectAnnotations())
    absl::StrAppend(&out, "  ", a.name, ": ", a.meaning, "\n");
  return out;
}

absl::StatusOr<InjectWebhookOptions> ParseInjectWebhookOptions(const std::vector<std::string>& args,
                                                               const Env& env) {
  InjectWebhookOptions o;
  for (const auto& spec : Specs()) {
    if (auto v = env.Get(spec.env); v.has_value()) {
      if (auto st = Apply(spec, o, *v, spec.env); !st.ok()) return st;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0)
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", a, "\""));
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const FlagSpec* spec = nullptr;
    const std::string key = eq == std::string::npos ? name : name.substr(0, eq);
    for (const auto& s : Specs()) {
      if (key == s.flag) spec = &s;
    }
    if (!spec) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", key));
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
    } else if (spec->kind == Kind::kBool) {
      value = "true";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", key, ": missing value"));
    }
    if (auto st = Apply(*spec, o, value, "--" + key); !st.ok()) return st;
  }
  if (o.tls_cert.empty() || o.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key are required (the API server only calls HTTPS webhooks)");
  }
  if (auto st = ValidateInjectorConfig(o.injector); !st.ok()) return st;
  return o;
}

int RunInjectWebhookCommand(const std::vector<std::string>& args, const Env& env) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << InjectWebhookHelp();
      return 0;
    }
  }
  auto options = ParseInjectWebhookOptions(args, env);
  if (!options.ok()) {
    std::cerr << "llmix-sidecar inject-webhook: " << options.status().message() << "\n";
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  Logger logger;
  httplib::SSLServer server(options->tls_cert.c_str(), options->tls_key.c_str());
  if (!server.is_valid()) {
    logger.Error("startup failed",
                 {{"error", std::string_view("cannot load --tls-cert / --tls-key")}});
    return 1;
  }
  // cert-manager renews the Secret in place: serve whatever the files hold now.
  ReloadingCertificate certificate(options->tls_cert, options->tls_key, &logger);
  if (auto st = certificate.Load(); !st.ok()) {
    const std::string error(st.message());
    logger.Error("startup failed", {{"error", std::string_view(error)}});
    return 1;
  }
  certificate.Install(server.ssl_context());
  server.set_payload_max_length(kMaxReviewBytes);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  const InjectorConfig config = options->injector;
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  server.Post("/mutate", [&config, &logger](const httplib::Request& req, httplib::Response& res) {
    const nlohmann::json review = ReviewAdmission(req.body, config);
    const auto& r = review["response"];
    const bool patched = r.contains("patch");
    const std::string uid = r.value("uid", "");
    logger.Info("admission review", {{"uid", std::string_view(uid)},
                                     {"allowed", r.value("allowed", false)},
                                     {"patched", patched},
                                     {"warning", r.contains("warnings") || r.contains("status")}});
    res.set_content(review.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    "application/json");
  });
  std::thread thread;
  auto bound = ListenInBackground(server, options->listen, "--listen", &thread);
  if (!bound.ok()) {
    const std::string error(bound.status().message());
    logger.Error("startup failed", {{"error", std::string_view(error)}});
    if (thread.joinable()) {
      server.stop();
      thread.join();
    }
    return 1;
  }
  logger.Info("inject-webhook serving", {{"listen", std::string_view(*bound)}});
  if (!options->ready_file.empty()) {
    if (auto st = WriteReadyFile(options->ready_file, *bound); !st.ok()) {
      const std::string error(st.message());
      logger.Error("startup failed", {{"error", std::string_view(error)}});
      server.stop();
      thread.join();
      return 1;
    }
  }
  int sig = 0;
  sigwait(&set, &sig);
  logger.Info("signal received", {{"signal", std::string_view(strsignal(sig))}});
  server.stop();
  thread.join();
  return 0;
}

}  // namespace llmix::sidecar
