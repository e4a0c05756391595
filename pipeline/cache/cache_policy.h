// How a config uses the response cache (CONTRACT §1, §12), and the registry-level check that
// a strict `redis` preset has a Redis to talk to. Stateless free functions; thread-safe.
#pragma once

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "registry/llm_config.h"
#include "registry/snapshot.h"

namespace llmix::cache {

inline constexpr absl::Duration kDefaultCacheTtl = absl::Seconds(3600);

enum class CacheStrategy {
  kNone,           // missing caching, "disabled", "native", "gateway": the cache is not consulted
  kMemory,         // "memory" (and any other strategy string): L1 only
  kRedis,          // "redis": L1 + L2, and REDIS_URL is required
  kRedisOrMemory,  // "redis-or-memory": L1 + L2 when REDIS_URL is set, else L1
};

CacheStrategy StrategyOf(const registry::LlmConfig& config);

// `caching.ttl` in seconds when it is a positive finite number, else the 3600 s default.
absl::Duration CacheTtl(const registry::LlmConfig& config);

// A snapshot whose presets use the strict `redis` strategy needs REDIS_URL: without it this
// is FailedPrecondition naming every such preset. Called where the sidecar installs a snapshot.
absl::Status CheckCacheRequirements(const registry::Snapshot& snapshot, bool redis_configured);

}  // namespace llmix::cache
