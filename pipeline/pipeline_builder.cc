#include "pipeline/pipeline_builder.h"

#include "pipeline/dispatch_stage.h"
#include "pipeline/resolve_stage.h"
#include "pipeline/respond_stage.h"
#include "pipeline/validate_stage.h"

namespace llmix::pipeline {

std::unique_ptr<Pipeline> BuildPipeline(PipelineState& state) {
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<ValidateStage>(state));
  stages.push_back(std::make_unique<ResolveStage>(state));
  stages.push_back(std::make_unique<RespondStage>(state));
  stages.push_back(std::make_unique<DispatchStage>(state));
  return std::make_unique<Pipeline>(std::move(stages), state.tracer,
                                    &state.metrics.stage_seconds);
}

}  // namespace llmix::pipeline
