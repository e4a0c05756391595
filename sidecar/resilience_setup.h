// Builds the pipeline's resilience state (retry, breakers, key pools, AIMD, global cap, kill
// switch, singleflight) from the serve options and LLM_GLOBAL_CONCURRENCY, resuming parked
// calls through `executor` (the worker pool's resume lane) and `scheduler`.
#pragma once

#include "absl/status/status.h"
#include "common/env.h"
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

}  // namespace llmix::sidecar
