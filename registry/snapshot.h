// An immutable, fully validated view of one registry revision: every preset parsed into a
// typed LlmConfig. Built off the request path and shared as `shared_ptr<const Snapshot>`;
// a call holds the pointer it started with, so it never sees two revisions.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/json_schema.h"
#include "nlohmann/json.hpp"
#include "registry/budget_settings.h"
#include "common/priority.h"
#include "registry/llm_config.h"

namespace llmix::registry {

// Sidecar-only preset settings, from the `metadata.llmix-sidecar` namespace of the preset's
// front matter (strict: unknown keys are errors). The LLMix libraries ignore this namespace, and
// nothing here ever enters a cache key.
// One entry of `fallback.targets`: the preset's config with this target's provider, model and
// (when given) providerOptions, validated like a preset at load time. Its cache key is its own.
// `routing` (README "Backpressure"): when more than `max_queue_depth` calls wait for a target,
// calls below `min_priority_when_busy` are rejected or sent on to the next fallback target.
// Critical calls are always admitted.
struct RoutingRule {
  enum class Action { kReject, kFallback };
  int max_queue_depth = 64;                            // `maxQueueDepth`
  Action low_priority = Action::kReject;               // `lowPriority`: reject | fallback
  Priority min_priority_when_busy = Priority::kNormal;  // `minPriorityWhenBusy`
};

struct FallbackTarget {
  LlmConfig config;
  std::optional<std::string> base_url;  // `baseUrl` of the target
  std::optional<ModelPrice> pricing;    // `pricing` of the target (its model's price)
  std::optional<RoutingRule> routing;   // the target's own `routing`, else the preset's
};

// `json`: every call of the preset is a JSON task (pipeline/json_stage.h) unless the request
// brings its own.
struct JsonTaskSettings {
  JsonSchema schema;    // `json.schema`, compiled (checked) at publish and load
  int max_repairs = 2;  // `json.maxRepairs`, 0..5
};

// `semanticCache` (README "Semantic cache"): after an exact-key miss, a cached response to a
// prompt whose embedding is similar enough is served (pipeline/semantic_lookup.h).
struct SemanticCacheSettings {
  std::string embedding_preset;  // `embeddingPreset`: "module/preset" of an embeddings preset
  double threshold = 0.95;       // `threshold`: cosine similarity, 0 < t <= 1
  // `maxTemperature`: only calls whose effective temperature (the request's override, else
  // the preset's; none counts as 1) is at most this are served or stored.
  double max_temperature = 0.3;
  size_t max_entries = 10000;  // `maxEntries`: per scope, least recently used evicted first
  std::optional<absl::Duration> ttl;  // `ttlSeconds`; unset: the preset's caching TTL
  bool shared = false;  // `shared`: entries also in Redis, so other pods find them
};

struct SidecarSettings {
  std::optional<std::string> base_url;  // `baseUrl`: overrides the provider's base URL
  // `fallback.targets`: tried in order when the preset's own target fails in a way another
  // provider may not (retryable upstream errors, open breaker, dead key pool, no key).
  std::vector<FallbackTarget> fallback;
  // `fallback.stickyMs`: how long the target that last served is tried first.
  absl::Duration fallback_sticky = absl::Seconds(60);
  // `pricing`: the price of the preset's own model, instead of LLMix's table.
  std::optional<ModelPrice> pricing;
  // `budget`: spend limits per window (pipeline/budget_stage.h).
  std::optional<BudgetSettings> budget;
  std::optional<JsonTaskSettings> json_task;  // `json`
  // `routing`: backpressure per target (the preset's own and, unless they set their own,
  // its fallback targets); unset: no call is shed by priority.
  std::optional<RoutingRule> routing;
  std::optional<SemanticCacheSettings> semantic_cache;  // `semanticCache`
};

// The RoutingRule of a schema-checked `routing` object.
RoutingRule RoutingRuleOf(const nlohmann::json& routing);

// The typed settings of a schema-checked `metadata.llmix-sidecar` object for a preset whose
// own config is `primary`. InvalidConfig naming the field (e.g. "fallback.targets[1]: ...")
// when a fallback target is not a valid preset config.
absl::StatusOr<SidecarSettings> SidecarSettingsOf(const nlohmann::json& ns,
                                                  const LlmConfig& primary);

// `modelMap` (README "Model tiers"): when the schema-checked `metadata.llmix-sidecar` object
// `ns` has a modelMap and `config.model` is "@<logical>", both `config.model` and
// `config.raw["model"]` become modelMap[config.provider][logical], so the cache key is exactly
// that of a preset naming the concrete model. InvalidConfig "<field>: \"@x\" has no modelMap
// entry for provider \"openai\"" when there is none. Any other model is left as it is.
// (SidecarSettingsOf resolves the fallback targets' models the same way.)
absl::Status ResolveModelTier(const nlohmann::json& ns, std::string_view field, LlmConfig& config);

struct Preset {
  std::string id;           // "module/preset"
  std::string source_path;  // relative path of the .mda inside the snapshot
  LlmConfig config;
  SidecarSettings sidecar;
  // Same as `sidecar.base_url` (kept for existing callers).
  std::optional<std::string> base_url;
};

struct Snapshot {
  std::string revision;  // empty: no registry loaded
  std::string manifest_sha256;
  std::string published_at;   // the manifest's `published_at` (ISO-8601)
  std::string compiled_path;  // absolute path of compiled/<revision>
  absl::Time loaded_at = absl::InfinitePast();
  absl::flat_hash_map<std::string, std::shared_ptr<const Preset>> presets;

  const Preset* Find(std::string_view id) const {
    auto it = presets.find(absl::string_view(id.data(), id.size()));
    return it == presets.end() ? nullptr : it->second.get();
  }
};

}  // namespace llmix::registry
