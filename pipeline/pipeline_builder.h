// Builds the pipeline: the one place that knows the order of the stages.
#pragma once

#include <memory>

#include "pipeline/pipeline.h"
#include "pipeline/pipeline_state.h"

namespace llmix::pipeline {

std::unique_ptr<Pipeline> BuildPipeline(PipelineState& state);

}  // namespace llmix::pipeline
