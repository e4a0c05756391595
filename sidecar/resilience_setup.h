// Builds the pipeline's resilience state (retry, breakers, key pools, AIMD, global cap, kill
// switch, singleflight) from the serve options and LLM_GLOBAL_CONCURRENCY, resuming parked
// calls through `executor` (the worker pool's resume lane) and `scheduler`.
#pragma once

#include "absl/status/status.h"
#include "common/env.h"
#include "common/telemetry.h"
#include "common/scheduler.h"
#include "pipeline/pipeline_state.h"
#include "sidecar/options.h"

namespace llmix::sidecar {

// The options as ResilienceOptions; kInvalidArgument for a bad LLM_GLOBAL_CONCURRENCY.
absl::StatusOr<pipeline::ResilienceOptions> ResilienceOptionsFrom(const ServeOptions& options,
                                                                  const Env& env);

// Sets state.resilience and state.dummy_upstream.
absl::Status InstallResilience(const ServeOptions& options, const Env& env,
                               pipeline::PipelineState& state, Scheduler& scheduler,
                               Executor& executor);

// /metrics for per-key limits (README "Per-key limits"): llmix_key_window_requests and
// llmix_key_window_tokens {provider, key} (key = 8-hex fingerprint), llmix_key_limit
// {provider, kind} and llmix_key_limit_events_total {provider, event}: skip | wait | reject.
void RegisterKeyLimitMetrics(MetricRegistry& metrics, pipeline::ResilienceState& resilience);

}  // namespace llmix::sidecar
