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
        if (!r.model.empty()) ctx.result.model = std::move(r.model);
        ctx.result.usage = r.usage;
        ctx.result.tool_calls = std::move(r.tool_calls);
        ctx.result.finish_reason = std::move(r.finish_reason);
      } else {
        ctx.Fail(std::move(*o.error));
      }
    }
    if (ctx.span) {
      ctx.span->SetAttribute("gen_ai.response.model", ctx.result.model);
      ctx.span->SetAttribute("gen_ai.usage.input_tokens", ctx.result.usage.input_tokens);
      ctx.span->SetAttribute("gen_ai.usage.output_tokens", ctx.result.usage.output_tokens);
    }
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
