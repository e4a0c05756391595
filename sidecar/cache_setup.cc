#include "sidecar/cache_setup.h"

namespace llmix::sidecar {

absl::Status InstallCaches(const ServeOptions& options, pipeline::PipelineState& state) {
  cache::L1Options l1;
  l1.max_entries = static_cast<size_t>(options.cache_max_entries);
  l1.max_bytes = static_cast<size_t>(options.cache_max_bytes);
  state.l1_cache = std::make_unique<cache::L1Cache>(state.clock, l1);
  if (options.redis_url.empty()) {
    state.logger.Info("response cache: L1 only (REDIS_URL not set)",
                      {{"max_entries", int64_t{options.cache_max_entries}},
                       {"max_bytes", int64_t{options.cache_max_bytes}}});
    return absl::OkStatus();
  }
  cache::RedisL2Options l2;
  l2.url = options.redis_url;
  l2.command_timeout = absl::Milliseconds(options.redis_timeout_ms);
  l2.connect_timeout = absl::Milliseconds(options.redis_connect_timeout_ms);
  l2.write_timeout = absl::Milliseconds(options.redis_write_timeout_ms);
  l2.pool_size = static_cast<size_t>(options.redis_pool_size);
  l2.write_queue = static_cast<size_t>(options.redis_write_queue);
  pipeline::PipelineMetrics& m = state.metrics;
  cache::RedisL2Metrics metrics;
  metrics.get_errors = &m.cache_l2_errors.With({"get"});
  metrics.set_errors = &m.cache_l2_errors.With({"set"});
  metrics.connect_errors = &m.cache_l2_errors.With({"connect"});
  metrics.write_drops = &m.cache_l2_write_drops;
  metrics.writes = &m.cache_l2_writes;
  metrics.up = &m.cache_l2_up;
  auto created = cache::RedisL2::Create(l2, state.clock, state.logger, metrics);
  if (!created.ok()) return created.status();
  state.l2_cache = std::move(*created);
  const std::string url = cache::RedactRedisUrl(options.redis_url);
  state.logger.Info("response cache: L1 + Redis L2",
                    {{"redis_url", std::string_view(url)}, {"l2_up", state.l2_cache->up()}});
  return absl::OkStatus();
}

}  // namespace llmix::sidecar
