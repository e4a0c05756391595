// Sidecar injection for Kubernetes: turns an AdmissionReview (admission.k8s.io/v1) for a Pod
// into the AdmissionReview answer, with a JSONPatch adding the llmix-sidecar container when
// the pod is annotated `llmix.io/inject: "true"`. Pure functions over JSON (no I/O), so the
// webhook server, the unit tests and fuzzers share one code path. Never throws.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace llmix::sidecar {

// Cluster-wide defaults of the injector (flags of `llmix-sidecar inject-webhook`); each
// can be overridden per pod by an `llmix.io/*` annotation (see InjectAnnotations()).
struct InjectorConfig {
  std::string image = "ghcr.io/llmix/llmix-sidecar:latest";
  std::string image_pull_policy = "IfNotPresent";
  bool native_sidecar = true;      // init container with restartPolicy: Always (k8s >= 1.29)
  std::string registry_configmap;  // ConfigMap holding the registry; empty: none
  std::string registry_pvc;        // PersistentVolumeClaim holding the registry; empty: none
  // ConfigMap keys -> file paths under the registry mount ("key=path,key=path"), so a flat
  // ConfigMap can hold the nested registry layout (compiled/<revision>/...). Applies to
  // registry_configmap only (not to a per-pod llmix.io/registry-configmap). Empty: keys as files.
  std::string registry_items;
  std::string api_key_secret;  // Secret whose keys become env vars (envFrom); empty: none
  std::string redis_url;       // REDIS_URL for the L2 cache; empty: none
  std::string otlp_endpoint;   // OTEL_EXPORTER_OTLP_ENDPOINT; empty: none
  std::string cpu_request = "50m";
  std::string memory_request = "64Mi";
  std::string cpu_limit = "1";
  std::string memory_limit = "256Mi";
  int admin_port = 9464;
  int run_as_user = 65532;
  // Where the app finds the sidecar (LLMIX_SIDECAR_ADDR); the socket lives on a shared emptyDir.
  std::string app_addr = "unix:///var/run/llmix/llmix.sock";
  bool deny_on_error = false;  // bad review / bad annotation: deny (true) or allow unpatched
};

inline constexpr const char* kSidecarName = "llmix-sidecar";
inline constexpr const char* kSocketDir = "/var/run/llmix";
inline constexpr const char* kRegistryMount = "/etc/llmix/registry";
inline constexpr const char* kInjectedAnnotation = "llmix.io/status";

struct ConfigMapItem {
  std::string key;
  std::string path;
};
// Checks the cluster defaults (image, pull policy, names, quantities, items) so a typo fails
// the webhook at startup instead of every injected pod at admission. Errors name the flag.
absl::Status ValidateInjectorConfig(const InjectorConfig& config);

// Parses InjectorConfig::registry_items; an error names the bad entry.
absl::StatusOr<std::vector<ConfigMapItem>> ParseRegistryItems(const std::string& spec);

// One row per per-pod override annotation: name and what it overrides (for docs and --help).
struct AnnotationDoc {
  const char* name;
  const char* meaning;
};
const std::vector<AnnotationDoc>& InjectAnnotations();

// The JSONPatch (RFC 6902 array) that injects the sidecar into `pod`; an empty array when the
// pod is not annotated or already has the sidecar. An error names the bad field/annotation.
absl::StatusOr<nlohmann::json> BuildInjectionPatch(const nlohmann::json& pod,
                                                   const InjectorConfig& config);

// The whole webhook step: request body (AdmissionReview JSON text) in, response
// AdmissionReview out. Malformed input never throws: it yields an allow-with-warning or a
// denial (config.deny_on_error), naming what was wrong.
nlohmann::json ReviewAdmission(const std::string& body, const InjectorConfig& config);

}  // namespace llmix::sidecar
