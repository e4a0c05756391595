// Wires priority scheduling into one sidecar process (README "Priority"): the routing state on
// the process's metric registry, the worker queue's wait observer, and the gauges of calls
// waiting per queue, priority and routed target.
#pragma once

#include "common/telemetry.h"
#include "pipeline/pipeline_state.h"
#include "sidecar/worker_pool.h"

namespace llmix::sidecar {

// Call after the resilience state is installed and before BuildPipeline. `state` and `pool`
// must outlive `metrics`' scrapes.
void InstallPriority(MetricRegistry& metrics, pipeline::PipelineState& state, WorkerPool& pool);

}  // namespace llmix::sidecar
