#include "pipeline/cache/cache_policy.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pipeline/cache/cache_key.h"

namespace llmix::cache {

CacheStrategy StrategyOf(const registry::LlmConfig& config) {
  if (!ConsultsResponseCache(config.raw)) return CacheStrategy::kNone;
  const nlohmann::json* strategy = nullptr;
  if (auto c = config.raw.find("caching"); c != config.raw.end() && c->is_object()) {
    if (auto it = c->find("strategy"); it != c->end()) strategy = &*it;
  }
  if (strategy != nullptr && strategy->is_string()) {
    const std::string& s = strategy->get_ref<const std::string&>();
    if (s == "redis") return CacheStrategy::kRedis;
    if (s == "redis-or-memory") return CacheStrategy::kRedisOrMemory;
  }
  return CacheStrategy::kMemory;
}

absl::Duration CacheTtl(const registry::LlmConfig& config) {
  if (config.caching.has_value() && config.caching->ttl_seconds.has_value()) {
    const double ttl = *config.caching->ttl_seconds;
    if (std::isfinite(ttl) && ttl > 0) return absl::Seconds(ttl);
  }
  return kDefaultCacheTtl;
}

absl::Status CheckCacheRequirements(const registry::Snapshot& snapshot, bool redis_configured) {
  if (redis_configured) return absl::OkStatus();
  std::vector<std::string> strict;
  for (const auto& [id, preset] : snapshot.presets) {
    if (StrategyOf(preset->config) == CacheStrategy::kRedis) strict.push_back(id);
  }
  if (strict.empty()) return absl::OkStatus();
  std::sort(strict.begin(), strict.end());
  return absl::FailedPreconditionError(
      absl::StrCat(strict.size() == 1 ? "preset " : "presets ", absl::StrJoin(strict, ", "),
                   " use caching.strategy \"redis\", which requires REDIS_URL (set it, or use "
                   "\"redis-or-memory\" to fall back to the in-process cache)"));
}

}  // namespace llmix::cache
