// Innermost stage: builds the provider request (LLMix kwargs from the config, messages,
// tools, API key, remaining time budget, traceparent) and performs the upstream exchange
// through the dispatcher. This is the only stage that occupies a worker thread while it
// waits (the blocking HTTP exchange).
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class DispatchStage final : public Stage {
 public:
  explicit DispatchStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "dispatch"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

  // LLMix's pipeline kwargs (CONTRACT §5, before provider transforms): snake_case request
  // params from `common` and `responseFormat`; absent values are left out.
  static nlohmann::json BuildKwargs(const registry::LlmConfig& config);

 private:
  PipelineState& state_;
};

}  // namespace llmix::pipeline
