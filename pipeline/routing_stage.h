// Priority backpressure per target (a preset's `metadata.llmix-sidecar.routing`, README
// "Priority and backpressure"). Runs for singleflight leaders only (followers share a leader's
// request; a shed leader's followers start over). A call counts as waiting for its target from
// this stage until the aimd stage grants its concurrency permits (the AIMD / global permit
// queues). When more than `maxQueueDepth` calls already wait for the target, a call
// below `minPriorityWhenBusy` is shed: RESOURCE_EXHAUSTED naming the target and the depth, or,
// with `lowPriority: fallback`, sent on to the next fallback target (FallbackStage). Critical
// calls are always admitted. Skipped (no span, no counting) for targets without a rule.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/telemetry.h"
#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class TargetQueues;

// One call's wait for one target; End() (idempotent, any thread) stops counting it.
struct TargetWait {
  TargetQueues* queues = nullptr;
  std::string key;
  std::atomic<bool> ended{false};
  void End();
};

// Calls waiting per target (provider, model, base URL). Thread-safe.
class TargetQueues {
 public:
  struct Depth {
    std::string provider;
    std::string model;
    int waiting = 0;
  };
  // Admits a call of class `priority` under `rule` (counting it as waiting; the returned wait
  // must be ended) or, when the target is busy for that class, returns null and the number of
  // calls waiting in `*depth`.
  std::shared_ptr<TargetWait> TryEnter(const std::string& provider, const std::string& model,
                                       const std::string& base_url, Priority priority,
                                       const registry::RoutingRule& rule, int* depth);
  std::vector<Depth> Depths() const;

 private:
  friend struct TargetWait;
  void Leave(const std::string& key);
  struct Entry {
    std::string provider;
    std::string model;
    int waiting = 0;
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> targets_ ABSL_GUARDED_BY(mu_);
};

// Routing state shared by every call (PipelineState::routing) and its metrics.
struct RoutingState {
  explicit RoutingState(MetricRegistry& registry);
  RoutingState();  // metrics on a private registry (tests, tools)

  std::unique_ptr<MetricRegistry> own_registry;
  // {priority, reason}: queue_full (worker queue) | target_busy (rejected by routing) |
  // rerouted (sent to the next fallback target by routing).
  CounterFamily& shed;
  // {queue, priority}: seconds a call waited for a worker ("worker") or for its concurrency
  // permits ("permit").
  HistogramFamily& wait_seconds;
  TargetQueues queues;
};

// True for the RESOURCE_EXHAUSTED of a call that routing wants moved to the next fallback
// target (FallbackStage moves it, or keeps the error when no target is left).
bool IsRerouteStatus(const absl::Status& status);
// Counts a reroute verdict: "rerouted" when FallbackStage moved the call on, "target_busy"
// when there was no target left (then `*status` loses the reroute mark).
void RecordReroute(PipelineState& state, const CallContext& ctx, bool moved_on,
                   absl::Status* status);

class RoutingStage final : public Stage {
 public:
  explicit RoutingStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "routing"; }
  bool Skip(const CallContext& ctx) const override;
  void Run(CallContext& ctx, const Next& next, Done done) const override;

  // The rule for the call's current target, or null.
  static const registry::RoutingRule* RuleFor(const CallContext& ctx);

 private:
  PipelineState& state_;
};

}  // namespace llmix::pipeline
