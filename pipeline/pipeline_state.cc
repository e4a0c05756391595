#include "pipeline/pipeline_state.h"

namespace llmix::pipeline {

PipelineMetrics::PipelineMetrics(MetricRegistry& registry)
    : calls(registry.AddCounter("llmix_calls_total", "Calls by outcome.", {"outcome"})),
      call_seconds(registry.AddHistogram("llmix_call_duration_seconds",
                                         "Call latency inside the sidecar.", {"outcome"},
                                         LatencyBucketsSeconds())),
      stage_seconds(registry.AddHistogram(
          "llmix_stage_duration_seconds",
          "Time from entering a pipeline stage to its completion (includes inner stages).",
          {"stage"}, LatencyBucketsSeconds())),
      upstream_requests(registry.AddCounter("llmix_upstream_requests_total",
                                            "Upstream requests by provider and HTTP status.",
                                            {"provider", "status"})) {}

}  // namespace llmix::pipeline
