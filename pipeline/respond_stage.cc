#include "pipeline/respond_stage.h"

namespace llmix::pipeline {

void RespondStage::Run(CallContext& ctx, const Next& next, Done done) const {
  next(ctx, [&ctx, done = std::move(done)]() mutable {
    if (ctx.status.ok() && ctx.outcome.has_value() && !ctx.result.error.has_value()) {
      adapters::ProviderOutcome& o = *ctx.outcome;
      if (o.ok()) {
        adapters::ProviderResponse& r = o.response;
        ctx.result.success = true;
        ctx.result.content = std::move(r.content);
        if (r.reasoning_content && !r.reasoning_content->empty() &&
            ctx.result.content.find("<think>") == std::string::npos) {
          // Reasoning the provider returns in a separate field (Anthropic thinking blocks,
          // Gemini thoughts, reasoning_content) is carried as a leading <think> block, so
          // the think stage, keepThinkingOutput and cache hits treat it like inline thinking.
          ctx.result.content = "<think>" + *r.reasoning_content + "</think>" + ctx.result.content;
        }
        if (!r.model.empty()) ctx.result.model = std::move(r.model);
        ctx.result.usage = r.usage;
        ctx.result.tool_calls = std::move(r.tool_calls);
        ctx.result.finish_reason = std::move(r.finish_reason);
      } else {
        ctx.Fail(std::move(*o.error));
      }
    }
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
