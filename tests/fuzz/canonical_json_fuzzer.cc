// ECMAScript JSON (common/js_json.h), both canonicalisers
// (common/canonical_json.h) and the response-cache key
// (pipeline/cache/cache_key.h) over arbitrary JSON text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/canonical_json.h"
#include "common/env.h"
#include "common/js_json.h"
#include "pipeline/cache/cache_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  absl::StatusOr<nlohmann::json> value = llmix::ParseJsJson(text);
  if (value.ok()) {
    (void)llmix::CacheCanonicalJson(*value);
    (void)llmix::RegistryCanonicalJson(*value, llmix::RegistryJsonLayout::kCompact);
    (void)llmix::RegistryCanonicalJson(*value, llmix::RegistryJsonLayout::kPretty);
    // The value as generateCacheKey() params, and as a {config, messages} call.
    if (value->is_object()) {
      (void)llmix::cache::CacheKey(llmix::cache::CacheKeyParamsFromObject(*value));
      static const nlohmann::json kNull;
      const nlohmann::json &config = value->contains("config") ? (*value)["config"] : *value;
      const nlohmann::json &messages = value->contains("messages") ? (*value)["messages"] : kNull;
      llmix::MapEnv env({{"GPU_BASE_URL", "http://127.0.0.1:1/v1"}});
      (void)llmix::cache::CacheKeyOf(config, messages, env);
      (void)llmix::cache::ConsultsResponseCache(config);
    }
  }
  absl::StatusOr<nlohmann::ordered_json> ordered = llmix::ParseJsJsonOrdered(text);
  if (ordered.ok()) {
    (void)llmix::CacheCanonicalJson(*ordered);
    (void)llmix::RegistryCanonicalJson(*ordered, llmix::RegistryJsonLayout::kPretty);
  }
  // The string quoting on raw (possibly non-WTF-8) bytes.
  (void)llmix::JsJsonQuote(text);
  return 0;
}
