// The response-cache key (CONTRACT.md §1): "llmix:resp:" + SHA-256 of the canonical JSON of up to
// 15 request-shaping fields, byte-identical to LLMix's generateCacheKey so a Redis L2 can be
// shared with Node/Python LLMix processes. Fields hold raw JSON values as the caller wrote them
// (not type-checked). Stateless free functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/env.h"
#include "nlohmann/json.hpp"

namespace llmix::cache {

inline constexpr char kCacheKeyPrefix[] = "llmix:resp:";

// Each field is a raw JSON value; null or discarded (JS undefined) means absent, and so does a
// non-finite number. Any other value — "", false, 0, [], {} — enters the key.
struct CacheKeyParams {
  nlohmann::json base_url;
  nlohmann::json enable_thinking;
  nlohmann::json frequency_penalty;
  nlohmann::json max_output_tokens;
  nlohmann::json messages;
  nlohmann::json model;
  nlohmann::json presence_penalty;
  nlohmann::json provider;
  nlohmann::json provider_options;
  nlohmann::json response_format;
  nlohmann::json seed;
  nlohmann::json stop_sequences;
  nlohmann::json temperature;
  nlohmann::json top_k;
  nlohmann::json top_p;
};

// Reads the camelCase members of a generateCacheKey() params object (unknown members ignored).
CacheKeyParams CacheKeyParamsFromObject(const nlohmann::json& params);

// The exact pre-hash text: the present fields under their camelCase names, serialised by the
// cache canonicaliser (CacheCanonicalJson).
std::string CanonicalCacheText(const CacheKeyParams& params);

// kCacheKeyPrefix + lowercase hex SHA-256 of CanonicalCacheText(params).
std::string CacheKey(const CacheKeyParams& params);

// The key fields of one pipeline call (config object as given, messages as given), or nullopt
// when the call does not consult the response cache: `caching.strategy` missing/null (counts as
// "disabled"), "native", "gateway" or "disabled"; any other strategy value computes a key.
// Fields: provider, model, messages, effective base URL (EffectiveBaseUrlForKey), common.{
// enableThinking, temperature, maxOutputTokens, seed, topP, topK, presencePenalty,
// frequencyPenalty, stopSequences}, top-level responseFormat and providerOptions. Fails (as the
// call does, whatever the strategy) when a sno-gpu base URL cannot be built.
absl::StatusOr<std::optional<CacheKeyParams>> CacheKeyParamsForCall(const nlohmann::json& config,
                                                                    const nlohmann::json& messages,
                                                                    const Env& env);

// The key fields of a call whatever its caching strategy (singleflight keys identical calls
// with it even when the response cache is off). Same errors as CacheKeyParamsForCall.
absl::StatusOr<CacheKeyParams> CacheKeyParamsOf(const nlohmann::json& config,
                                                const nlohmann::json& messages, const Env& env);

// CacheKey(*CacheKeyParamsOf(config, messages, env)) without copying the fields (the call
// path). Same errors as CacheKeyParamsOf.
absl::StatusOr<std::string> CacheKeyOf(const nlohmann::json& config, const nlohmann::json& messages,
                                       const Env& env);

// Whether a config consults the response cache: `caching.strategy` is set and is not
// "native", "gateway" or "disabled" (a missing `caching` counts as "disabled").
bool ConsultsResponseCache(const nlohmann::json& config);

}  // namespace llmix::cache
