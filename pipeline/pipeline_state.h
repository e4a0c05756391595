// Long-lived state shared by every call and kept across config reloads: options, clock,
// env, telemetry, the upstream dispatcher and the active config snapshot. Owned by the
// server; stages hold a reference. Thread-safe.
#pragma once

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adapters/dispatcher.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/logging.h"
#include "common/pricing.h"
#include "common/telemetry.h"
#include "pipeline/cache/l1_cache.h"
#include "pipeline/budget_ledger.h"
#include "pipeline/cache/redis_l2.h"
#include "pipeline/cache/semantic_cache.h"
#include "pipeline/cost_metrics.h"
#include "pipeline/embedder.h"
#include "pipeline/resilience_state.h"
#include "registry/snapshot.h"

namespace llmix::pipeline {

struct RoutingState;  // pipeline/routing_stage.h

struct PipelineOptions {
  absl::Duration default_timeout = absl::Seconds(60);  // when neither caller nor preset sets one
  // Streamed calls: the longest silence of the provider's stream before it is an
  // UPSTREAM_TIMEOUT (the call's deadline bounds the whole stream as well).
  absl::Duration stream_idle_timeout = absl::Seconds(60);
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
  HistogramFamily& call_seconds;      // {outcome}
  HistogramFamily& stage_seconds;     // {stage}
  CounterFamily& upstream_requests;   // {provider, status}: HTTP status or "network"
  HistogramFamily& upstream_seconds;  // {provider}
  // Response cache (pipeline/cache).
  CounterFamily& cache_hits;       // {tier}: l1 | l2
  Counter& cache_misses;           // lookups that found nothing (bypass/refresh not counted)
  CounterFamily& cache_l2_errors;  // {op}: get | set | connect
  Gauge& cache_l2_up;              // 1 while Redis is reachable
  Counter& cache_l2_write_drops;   // L2 writes dropped (queue full or Redis down)
  Counter& cache_l2_writes;        // L2 writes done
  // Semantic cache (pipeline/semantic_lookup.h); hits also count in cache_hits{semantic}.
  Counter& semantic_misses;          // lookups (an embed call made) that found nothing
  Counter& semantic_embed_errors;    // embed calls that failed (the call went on uncached)
  CounterFamily& semantic_skips;     // {reason}: no_embedder | temperature | no_text
  Counter& semantic_inserts;         // entries stored after an upstream success
  CounterFamily& fallbacks;        // {preset, target}: a call moved on to fallback target i
  CounterFamily& json_tasks;       // {preset, outcome}: valid | invalid | error
  CounterFamily& json_repairs;     // {preset}: repair calls made by JSON tasks
};

// Which fallback target last served each preset, so it is tried first for the preset's
// `fallback.stickyMs` (per sidecar process). Keyed by revision too: a new revision may
// reorder its targets. Thread-safe.
class FallbackMemory {
 public:
  // The target to try first (0: the preset's own) for `preset` of `revision` at `now`.
  int First(const std::string& preset, const std::string& revision, absl::Time now) const {
    absl::MutexLock l(&mu_);
    auto it = served_.find(preset);
    if (it == served_.end() || it->second.revision != revision || now >= it->second.until) {
      return 0;
    }
    return it->second.index;
  }
  // `index` served `preset` at `now`. A fallback target is remembered for `sticky` from the
  // moment the call first moved to it (serving again does not extend that, so the preset's
  // own target is retried every `sticky` while it is down); 0, the preset's own, forgets.
  void Served(const std::string& preset, const std::string& revision, int index, absl::Time now,
              absl::Duration sticky) {
    absl::MutexLock l(&mu_);
    if (index == 0) {
      served_.erase(preset);
      return;
    }
    Entry& e = served_[preset];
    if (e.revision != revision || e.index != index || now >= e.until) {
      e = {revision, index, now + sticky};
    }
  }

 private:
  struct Entry {
    std::string revision;
    int index = 0;
    absl::Time until;
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> served_ ABSL_GUARDED_BY(mu_);
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
  FallbackMemory fallback_memory{};
  // Embeddings (pipeline/embedder.h), for the semantic cache; set by the server when the
  // embeddings service runs, null otherwise (semantic caching is then skipped).
  Embedder* embedder = nullptr;
  // The semantic cache's in-memory index; BuildPipeline creates one when unset.
  std::unique_ptr<cache::SemanticIndex> semantic_index = nullptr;
  // Prices and budgets (pipeline/call_cost.h, pipeline/budget_stage.h): the --pricing-file
  // table (before LLMix's), the budget accounts, and their metrics (null: not recorded).
  PriceTable price_overrides{};
  BudgetLedger budgets{clock};
  std::unique_ptr<CostMetrics> cost_metrics = nullptr;
  // Per-target wait counts and priority metrics (pipeline/routing_stage.h); BuildPipeline
  // creates one on a private metric registry when unset.
  std::shared_ptr<RoutingState> routing = nullptr;
};

}  // namespace llmix::pipeline
