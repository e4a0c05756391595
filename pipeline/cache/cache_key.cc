#include "pipeline/cache/cache_key.h"

#include <array>
#include <cmath>
#include <iterator>
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

// The key fields in the canonical (UTF-16 code unit) order of their names; null = absent.
constexpr std::string_view kFieldNames[] = {"baseUrl",         "enableThinking", "frequencyPenalty",
                                            "maxOutputTokens", "messages",       "model",
                                            "presencePenalty", "provider",       "providerOptions",
                                            "responseFormat",  "seed",           "stopSequences",
                                            "temperature",     "topK",           "topP"};
using FieldRefs = std::array<const json*, std::size(kFieldNames)>;

// The canonical text of the object {name: value} of the kept fields, written in place (the
// names are ASCII and already in order, so no object is built or sorted).
std::string CanonicalText(const FieldRefs& fields) {
  std::string out;
  out.reserve(512);
  out.push_back('{');
  bool first = true;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i] == nullptr || !IsKeptField(*fields[i])) continue;
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(kFieldNames[i]);
    out += "\":";
    AppendCacheCanonicalJson(*fields[i], out);
  }
  out.push_back('}');
  return out;
}

// The fields of one call (see CacheKeyParamsOf), pointing into `config` and `messages`;
// `base_url` holds the effective base URL the refs may point to.
absl::StatusOr<FieldRefs> CallFields(const json& config, const json& messages, const Env& env,
                                     std::optional<json>* base_url) {
  absl::StatusOr<std::optional<json>> url = EffectiveBaseUrlForKey(config, env);
  if (!url.ok()) return url.status();
  *base_url = std::move(*url);
  FieldRefs f{};
  f[0] = base_url->has_value() ? &**base_url : nullptr;
  f[4] = messages.is_discarded() ? nullptr : &messages;
  f[5] = Member(config, "model");
  f[7] = Member(config, "provider");
  f[8] = Member(config, "providerOptions");
  f[9] = Member(config, "responseFormat");
  const json* common = Member(config, "common");
  if (common != nullptr && common->is_object()) {
    f[1] = Member(*common, "enableThinking");
    f[2] = Member(*common, "frequencyPenalty");
    f[3] = Member(*common, "maxOutputTokens");
    f[6] = Member(*common, "presencePenalty");
    f[10] = Member(*common, "seed");
    f[11] = Member(*common, "stopSequences");
    f[12] = Member(*common, "temperature");
    f[13] = Member(*common, "topK");
    f[14] = Member(*common, "topP");
  }
  return f;
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
  return CanonicalText({&params.base_url, &params.enable_thinking, &params.frequency_penalty,
                        &params.max_output_tokens, &params.messages, &params.model,
                        &params.presence_penalty, &params.provider, &params.provider_options,
                        &params.response_format, &params.seed, &params.stop_sequences,
                        &params.temperature, &params.top_k, &params.top_p});
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
  std::optional<json> base_url;
  absl::StatusOr<FieldRefs> f = CallFields(config, messages, env, &base_url);
  if (!f.ok()) return f.status();
  auto copy = [](const json* v) { return v != nullptr ? *v : json(); };
  CacheKeyParams p;
  p.base_url = copy((*f)[0]);
  p.enable_thinking = copy((*f)[1]);
  p.frequency_penalty = copy((*f)[2]);
  p.max_output_tokens = copy((*f)[3]);
  p.messages = copy((*f)[4]);
  p.model = copy((*f)[5]);
  p.presence_penalty = copy((*f)[6]);
  p.provider = copy((*f)[7]);
  p.provider_options = copy((*f)[8]);
  p.response_format = copy((*f)[9]);
  p.seed = copy((*f)[10]);
  p.stop_sequences = copy((*f)[11]);
  p.temperature = copy((*f)[12]);
  p.top_k = copy((*f)[13]);
  p.top_p = copy((*f)[14]);
  return p;
}

absl::StatusOr<std::string> CacheKeyOf(const json& config, const json& messages, const Env& env) {
  std::optional<json> base_url;
  absl::StatusOr<FieldRefs> f = CallFields(config, messages, env, &base_url);
  if (!f.ok()) return f.status();
  return std::string(kCacheKeyPrefix) + Sha256Hex(CanonicalText(*f));
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
