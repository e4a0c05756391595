// Wires prices and budgets into a sidecar process: the --pricing-file overrides (a startup
// error naming the file and entry when invalid) and the cost/budget metrics.
#pragma once

#include "absl/status/status.h"
#include "common/telemetry.h"
#include "pipeline/pipeline_state.h"
#include "sidecar/options.h"

namespace llmix::sidecar {

absl::Status InstallCostAccounting(const ServeOptions& options, MetricRegistry& metrics,
                                   pipeline::PipelineState& state);

}  // namespace llmix::sidecar
