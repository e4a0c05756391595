#include "sidecar/priority_setup.h"

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/routing_stage.h"

namespace llmix::sidecar {

void InstallPriority(MetricRegistry& metrics, pipeline::PipelineState& state, WorkerPool& pool) {
  state.routing = std::make_shared<pipeline::RoutingState>(metrics);
  HistogramFamily* wait = &state.routing->wait_seconds;
  pool.SetWaitObserver([wait](Priority p, double seconds) {
    wait->With({"worker", std::string(PriorityName(p))}).Observe(seconds);
  });
  pipeline::PipelineState* s = &state;
  WorkerPool* w = &pool;
  metrics.AddCallbackGauge(
      "llmix_queue_depth",
      "Calls waiting, by queue (worker: for a worker thread; permit: for an AIMD or global "
      "concurrency permit) and priority.",
      {"queue", "priority"}, [s, w]() {
        std::vector<GaugeSample> out;
        std::array<double, kPriorityCount> permit{};
        if (s->resilience) {
          std::vector<resilience::AdaptiveSemaphore*> sems;
          for (const auto& [provider, sem] : s->resilience->limiters().All()) sems.push_back(sem);
          if (auto* global = s->resilience->global_limit()) sems.push_back(global);
          for (resilience::AdaptiveSemaphore* sem : sems) {
            const resilience::AdaptiveSemaphoreSnapshot snap = sem->Snapshot();
            for (size_t i = 0; i < kPriorityCount; ++i) {
              permit[i] += static_cast<double>(snap.queued_by_priority[i]);
            }
          }
        }
        for (Priority p : kAllPriorities) {
          const std::string name(PriorityName(p));
          out.push_back({{"worker", name}, static_cast<double>(w->queue_depth(p))});
          out.push_back({{"permit", name}, permit[PriorityIndex(p)]});
        }
        return out;
      });
  metrics.AddCallbackGauge(
      "llmix_target_waiting",
      "Calls counted against a target's routing.maxQueueDepth (from admission to their "
      "concurrency permit), per provider and model of targets with a routing rule.",
      {"provider", "model"}, [s]() {
        std::vector<GaugeSample> out;
        for (const auto& d : s->routing->queues.Depths()) {
          out.push_back({{d.provider, d.model}, static_cast<double>(d.waiting)});
        }
        return out;
      });
}

}  // namespace llmix::sidecar
