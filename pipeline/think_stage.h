// Think-token extraction (CONTRACT §3, §9): once the inner stages are done, a successful
// reply's `<think>` blocks are moved from `content` to `thinking_content`, unless the config
// sets `common.keepThinkingOutput`. It sits outside the cache stage, so cached text is raw and
// a cache hit is stripped the same way as a fresh reply.
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class ThinkStage final : public Stage {
 public:
  explicit ThinkStage(const PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "think"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

  // `common.keepThinkingOutput` with JS truthiness (as LLMix tests it).
  static bool KeepThinkingOutput(const registry::LlmConfig& config);

 private:
  const PipelineState& state_;
};

}  // namespace llmix::pipeline
