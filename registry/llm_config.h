// An LLMix config (the object under `metadata.snoai-llmix`, or an inline `config_json`),
// parsed into typed fields for the hot path, plus the JSON exactly as given because the
// cache key hashes values as the caller wrote them (CONTRACT.md §1). Immutable once built.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace llmix::registry {

struct CommonParams {
  std::optional<double> max_output_tokens;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<double> top_k;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  std::optional<double> seed;
  std::optional<std::vector<std::string>> stop_sequences;
  std::optional<int> max_retries;
  std::optional<bool> enable_thinking;
  std::optional<bool> keep_thinking_output;
};

struct CachingConfig {
  std::string strategy;  // memory | redis | redis-or-memory | native | gateway | disabled | ...
  std::optional<double> ttl_seconds;
  std::optional<double> max_items;
  std::optional<std::string> key;
};

struct TimeoutConfig {
  std::optional<double> total_time_s;
  std::optional<double> stream_first_chunk_time_s;
};

struct LlmConfig {
  std::string provider;
  std::string model;
  CommonParams common;
  nlohmann::json provider_options;      // object, or null when absent
  nlohmann::json response_format;       // any JSON value, or null when absent
  std::optional<std::string> base_url;  // inline configs only (LLMix presets have none)
  std::optional<CachingConfig> caching;
  std::optional<TimeoutConfig> timeout;
  std::optional<std::string> description;
  std::vector<std::string> tags;
  bool deprecated = false;
  bool bypass_gateway = false;
  // Whether `tags` / `deprecated` / `bypassGateway` were present (they have no "absent" value).
  bool has_tags = false;
  bool has_deprecated = false;
  bool has_bypass_gateway = false;
  // The config object as given, for the cache key (values are not re-typed there). Under
  // kStrict it is also zod's parsed output (the input without `undefined` members).
  nlohmann::json raw;
};

// How strictly a config is checked.
//  - kStrict: LLMix's preset schema (zod, strict): unknown keys, wrong types and out-of-range
//    values are errors. Used for registry presets.
//  - kLenient: what LLMix's call path accepts for an inline config: provider (known) and model
//    are required strings; a typed field with the wrong JSON type is an error only where the
//    sidecar must interpret it; unknown keys are kept in `raw` and otherwise ignored.
enum class Strictness { kStrict, kLenient };

// Parses a config object. Errors are InvalidArgument naming the field path: kLenient e.g.
// "config.common.temperature: expected a number"; kStrict one "<path>: <zod code>: <message>" per
// issue joined with "; ", e.g. "common: unrecognized_keys: Unrecognized key: \"temp\"" (the
// issues themselves: CheckLlmConfigSchema in registry/preset_schema.h).
absl::StatusOr<LlmConfig> ParseLlmConfig(const nlohmann::json& config, Strictness strictness);

// The typed fields rendered back as LLMix config JSON (what zod's parse returns for a strictly
// parsed config). `provider_options` / `response_format` / `base_url` are copied when set.
nlohmann::json RenderLlmConfig(const LlmConfig& config);

}  // namespace llmix::registry
