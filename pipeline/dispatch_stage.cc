#include "pipeline/dispatch_stage.h"

#include "common/provider_catalog.h"
#include "pipeline/provider_kwargs.h"

namespace llmix::pipeline {

void DispatchStage::Run(CallContext& ctx, const Next& next, Done done) const {
  const registry::LlmConfig& cfg = *ctx.config;
  const absl::Duration remaining = ctx.deadline - state_.clock.Monotonic();
  if (remaining <= absl::ZeroDuration()) {
    ctx.status = absl::DeadlineExceededError("deadline exceeded before the upstream request");
    std::move(done)();
    return;
  }
  adapters::ProviderRequest req;
  req.provider = cfg.provider;
  req.model = cfg.model;
  req.base_url = ctx.base_url;
  req.messages = &ctx.input.messages;
  req.kwargs = ctx.upstream.kwargs;  // built by the kwargs stage
  req.tools = ctx.input.tools;
  req.tool_choice = ctx.input.tool_choice;
  if (cfg.provider_options.is_object()) {
    if (auto it = cfg.provider_options.find(cfg.provider); it != cfg.provider_options.end()) {
      req.provider_options = *it;
    }
  }
  if (const ProviderInfo* info = FindProvider(cfg.provider);
      info != nullptr && info->protocol == WireProtocol::kOpenAiChat && !req.provider_options.is_null()) {
    // LLMix filterOpenAIProviderOptions: textVerbosity only for models that support it.
    req.provider_options = FilterOpenAiProviderOptions(cfg.model, req.provider_options).options;
  }
  req.timeout = remaining;
  if (ctx.stage_span != nullptr) req.traceparent = ctx.stage_span->ToTraceparent();
  req.api_key = ctx.upstream.api_key;  // chosen by the key stage (empty offline)

  ctx.result.attempts += 1;
  ctx.outcome = state_.adapter.Send(req);
  const adapters::ProviderOutcome& o = *ctx.outcome;
  state_.metrics.upstream_requests
      .With({cfg.provider, o.network_error ? "network" : std::to_string(o.http_status)})
      .Add();
  if (ctx.stage_span != nullptr && ctx.span) {
    ctx.span->SetAttribute("llmix.attempt", int64_t{ctx.result.attempts});
  }
  next(ctx, std::move(done));
}

}  // namespace llmix::pipeline
