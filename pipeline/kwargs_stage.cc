#include "pipeline/provider_kwargs.h"
#include "pipeline/resilience_stages.h"

namespace llmix::pipeline {

void KwargsStage::Run(CallContext& ctx, const Next& next, Done done) const {
  auto kwargs = BuildRequestKwargs(*ctx.config, state_.env);
  if (!kwargs.ok()) {
    CallError e;
    e.code = CallErrorCode::kConfig;
    e.provider = ctx.config->provider;
    e.message = std::string(kwargs.status().message());
    ctx.Fail(std::move(e));
    std::move(done)();
    return;
  }
  ctx.upstream.kwargs = std::move(*kwargs);
  next(ctx, std::move(done));
}

}  // namespace llmix::pipeline
