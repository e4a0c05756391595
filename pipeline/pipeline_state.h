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
#include "registry/snapshot.h"

namespace llmix::pipeline {

struct PipelineOptions {
  absl::Duration default_timeout = absl::Seconds(60);  // when neither caller nor preset sets one
  size_t max_messages = 1024;
  size_t max_request_bytes = 4 << 20;
};

// Metrics the pipeline records; created once on the process registry.
struct PipelineMetrics {
  explicit PipelineMetrics(MetricRegistry& registry);

  CounterFamily& calls;              // {outcome}: success | failure | invalid | not_found
  HistogramFamily& call_seconds;     // {outcome}
  HistogramFamily& stage_seconds;    // {stage}
  CounterFamily& upstream_requests;  // {provider, status}: HTTP status or "network"
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
  adapters::Dispatcher& dispatcher;
  SnapshotHolder snapshots;
};

}  // namespace llmix::pipeline
