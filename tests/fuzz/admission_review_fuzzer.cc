// The sidecar injector's webhook step (sidecar/injector.h): an AdmissionReview
// request body in, an AdmissionReview answer out (serialised as
// inject_webhook_command.cc does), with the default config and with
// deny-on-error and a registry.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sidecar/injector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string body(reinterpret_cast<const char *>(data), size);
  static const llmix::sidecar::InjectorConfig kDefaults;
  static const llmix::sidecar::InjectorConfig kStrict = [] {
    llmix::sidecar::InjectorConfig c;
    c.deny_on_error = true;
    c.native_sidecar = false;
    c.registry_configmap = "llmix-registry";
    c.registry_items = "current.json=current.json,manifest=compiled/r1/manifest.json";
    c.api_key_secret = "llmix-keys";
    c.redis_url = "redis://redis:6379";
    return c;
  }();
  nlohmann::json out = llmix::sidecar::ReviewAdmission(body, kDefaults);
  (void)out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out = llmix::sidecar::ReviewAdmission(body, kStrict);
  (void)out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // The registry-items flag parser on the same bytes.
  (void)llmix::sidecar::ParseRegistryItems(body);
  return 0;
}
