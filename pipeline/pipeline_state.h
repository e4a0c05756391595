// Long-lived state shared by every call and kept across config reloads: options, clock,
// env, telemetry, the upstream dispatcher and the active config snapshot. Owned by the
// server; stages hold a reference. Thread-safe.
#pragma once

#include <memory>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adapters/dispatcher.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/logging.h"
#include "common/telemetry.h"
#include "pipeline/cache/l1_cache.h"
#include "pipeline/cache/redis_l2.h"
#include "pipeline/resilience_state.h"
#include "registry/snapshot.h"

namespace llmix::pipeline {

struct PipelineOptions {
  absl::Duration default_timeout = absl::Seconds(60);  // when neither caller nor preset sets one
  size_t max_messages = 1024;
  size_t max_request_bytes = 4 << 20;
  // Put prompts and completions on the call span (gen_ai.prompt / gen_ai.completion). Off by
  // default: spans leave the pod.
  bool trace_content = false;
};

// Metrics the pipeline records; created once on the process registry.
struct PipelineMetrics {
  explicit PipelineMetrics(MetricRegistry& registry);

  // {preset, provider, outcome}: outcome success | failure | the gRPC code in lower case
  // (invalid_argument, not_found, ...); preset "inline" for inline configs, "" before resolve.
  CounterFamily& calls;
  HistogramFamily& call_seconds;     // {outcome}
  HistogramFamily& stage_seconds;    // {stage}
  CounterFamily& upstream_requests;  // {provider, status}: HTTP status or "network"
  HistogramFamily& upstream_seconds;  // {provider}
  // Response cache (pipeline/cache).
  CounterFamily& cache_hits;         // {tier}: l1 | l2
  Counter& cache_misses;             // lookups that found nothing (bypass/refresh not counted)
  CounterFamily& cache_l2_errors;    // {op}: get | set | connect
  Gauge& cache_l2_up;                // 1 while Redis is reachable
  Counter& cache_l2_write_drops;     // L2 writes dropped (queue full or Redis down)
  Counter& cache_l2_writes;          // L2 writes done
};

// The active snapshot, swapped atomically on reload; readers take a reference once per call.
class SnapshotHolder {
 public:
  SnapshotHolder() : current_(std::make_shared<const registry::Snapshot>()) {}
  std::shared_ptr<const registry::Snapshot> Get() const {
    absl::MutexLock l(&mu_);
    return current_;
  }
  void Set(std::shared_ptr<const registry::Snapshot> s) {
    absl::MutexLock l(&mu_);
    current_ = std::move(s);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const registry::Snapshot> current_ ABSL_GUARDED_BY(mu_);
};

struct PipelineState {
  PipelineOptions options;
  const Clock& clock;
  const Env& env;
  Logger& logger;
  Tracer& tracer;
  PipelineMetrics& metrics;
  adapters::Adapter& adapter;  // the upstream (adapters::Dispatcher, or a test double)
  SnapshotHolder snapshots;
  // Response cache: L1 always (set by the server), L2 when REDIS_URL is configured.
  std::unique_ptr<cache::L1Cache> l1_cache = nullptr;
  std::unique_ptr<cache::RedisL2> l2_cache = nullptr;
  // Offline mode (--dummy-upstream): the key stage needs no API key.
  bool dummy_upstream = false;
  // Breakers, key pools, AIMD limiters, singleflight table, scheduler, executor
  // (pipeline/resilience_state.h); BuildPipeline creates a default one when unset.
  std::unique_ptr<ResilienceState> resilience = nullptr;
};

}  // namespace llmix::pipeline
