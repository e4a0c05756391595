#include "pipeline/cache/cache_key.h"

#include <cmath>
#include <string_view>
#include <utility>

#include "common/canonical_json.h"
#include "common/provider_catalog.h"

namespace llmix::cache {

namespace {

using nlohmann::json;

// A member that counts as present in JS: own key whose value is not undefined.
const json* Member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_discarded()) return nullptr;
  return &*it;
}

json MemberOrNull(const json& object, std::string_view key) {
  const json* m = Member(object, key);
  return m != nullptr ? *m : json();
}

// generateCacheKey drops null, undefined and non-finite numbers.
bool IsKeptField(const json& v) {
  if (v.is_null() || v.is_discarded()) return false;
  if (v.is_number_float() && !std::isfinite(v.get<double>())) return false;
  return true;
}

}  // namespace

CacheKeyParams CacheKeyParamsFromObject(const json& params) {
  CacheKeyParams p;
  p.base_url = MemberOrNull(params, "baseUrl");
  p.enable_thinking = MemberOrNull(params, "enableThinking");
  p.frequency_penalty = MemberOrNull(params, "frequencyPenalty");
  p.max_output_tokens = MemberOrNull(params, "maxOutputTokens");
  p.messages = MemberOrNull(params, "messages");
  p.model = MemberOrNull(params, "model");
  p.presence_penalty = MemberOrNull(params, "presencePenalty");
  p.provider = MemberOrNull(params, "provider");
  p.provider_options = MemberOrNull(params, "providerOptions");
  p.response_format = MemberOrNull(params, "responseFormat");
  p.seed = MemberOrNull(params, "seed");
  p.stop_sequences = MemberOrNull(params, "stopSequences");
  p.temperature = MemberOrNull(params, "temperature");
  p.top_k = MemberOrNull(params, "topK");
  p.top_p = MemberOrNull(params, "topP");
  return p;
}

std::string CanonicalCacheText(const CacheKeyParams& params) {
  const std::pair<const char*, const json*> fields[] = {
      {"baseUrl", &params.base_url},
      {"enableThinking", &params.enable_thinking},
      {"frequencyPenalty", &params.frequency_penalty},
      {"maxOutputTokens", &params.max_output_tokens},
      {"messages", &params.messages},
      {"model", &params.model},
      {"presencePenalty", &params.presence_penalty},
      {"provider", &params.provider},
      {"providerOptions", &params.provider_options},
      {"responseFormat", &params.response_format},
      {"seed", &params.seed},
      {"stopSequences", &params.stop_sequences},
      {"temperature", &params.temperature},
      {"topK", &params.top_k},
      {"topP", &params.top_p},
  };
  json canonical = json::object();
  for (const auto& [name, value] : fields) {
    if (IsKeptField(*value)) canonical[name] = *value;
  }
  return CacheCanonicalJson(canonical);
}

std::string CacheKey(const CacheKeyParams& params) {
  return std::string(kCacheKeyPrefix) + Sha256Hex(CanonicalCacheText(params));
}

bool ConsultsResponseCache(const json& config) {
  const json* caching = Member(config, "caching");
  const json* strategy = caching != nullptr ? Member(*caching, "strategy") : nullptr;
  if (strategy == nullptr || strategy->is_null()) return false;
  if (strategy->is_string()) {
    const std::string& s = strategy->get_ref<const std::string&>();
    if (s == "native" || s == "gateway" || s == "disabled") return false;
  }
  return true;
}

absl::StatusOr<CacheKeyParams> CacheKeyParamsOf(const json& config, const json& messages,
                                                const Env& env) {
  absl::StatusOr<std::optional<json>> base_url = EffectiveBaseUrlForKey(config, env);
  if (!base_url.ok()) return base_url.status();
  CacheKeyParams p;
  p.provider = MemberOrNull(config, "provider");
  p.model = MemberOrNull(config, "model");
  p.messages = messages.is_discarded() ? json() : messages;
  if (base_url->has_value()) p.base_url = **base_url;
  const json* common = Member(config, "common");
  if (common != nullptr && common->is_object()) {
    p.enable_thinking = MemberOrNull(*common, "enableThinking");
    p.temperature = MemberOrNull(*common, "temperature");
    p.max_output_tokens = MemberOrNull(*common, "maxOutputTokens");
    p.seed = MemberOrNull(*common, "seed");
    p.top_p = MemberOrNull(*common, "topP");
    p.top_k = MemberOrNull(*common, "topK");
    p.presence_penalty = MemberOrNull(*common, "presencePenalty");
    p.frequency_penalty = MemberOrNull(*common, "frequencyPenalty");
    p.stop_sequences = MemberOrNull(*common, "stopSequences");
  }
  p.response_format = MemberOrNull(config, "responseFormat");
  p.provider_options = MemberOrNull(config, "providerOptions");
  return p;
}

absl::StatusOr<std::optional<CacheKeyParams>> CacheKeyParamsForCall(const json& config,
                                                                    const json& messages,
                                                                    const Env& env) {
  // The effective base URL is resolved first: its errors fail the call even without caching.
  absl::StatusOr<CacheKeyParams> params = CacheKeyParamsOf(config, messages, env);
  if (!params.ok()) return params.status();
  if (!ConsultsResponseCache(config)) return std::optional<CacheKeyParams>();
  return std::optional<CacheKeyParams>(std::move(*params));
}

}  // namespace llmix::cache
