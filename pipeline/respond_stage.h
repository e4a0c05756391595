// Builds the CallResult from the last upstream outcome once the inner stages are done:
// normalized content, model, usage, tool calls and finish reason, or the structured error.
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class RespondStage final : public Stage {
 public:
  explicit RespondStage(const PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "respond"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  const PipelineState& state_;
};

}  // namespace llmix::pipeline
