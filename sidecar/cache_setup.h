// Creates the response caches of a sidecar process from its options: the L1 always, the
// Redis L2 when REDIS_URL is set (an invalid URL is a startup error; an unreachable Redis is
// not: L2 starts down and reconnects in the background).
#pragma once

#include "absl/status/status.h"
#include "pipeline/pipeline_state.h"
#include "sidecar/options.h"

namespace llmix::sidecar {

absl::Status InstallCaches(const ServeOptions& options, pipeline::PipelineState& state);

}  // namespace llmix::sidecar
