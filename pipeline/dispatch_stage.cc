#include "pipeline/dispatch_stage.h"

#include <chrono>

#include "adapters/http_transport.h"
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
      info != nullptr && info->protocol == WireProtocol::kOpenAiChat &&
      !req.provider_options.is_null()) {
    // LLMix filterOpenAIProviderOptions: textVerbosity only for models that support it.
    req.provider_options = FilterOpenAiProviderOptions(cfg.model, req.provider_options).options;
  }
  req.timeout = remaining;
  Span* span = ctx.stage_span;
  // The upstream request continues the trace as a child of this (client) span.
  if (span != nullptr) req.traceparent = span->context().ToTraceparent();
  req.api_key = ctx.upstream.api_key;  // chosen by the key stage (empty offline)

  ctx.result.attempts += 1;
  const auto started = std::chrono::steady_clock::now();
  ctx.outcome = state_.adapter.Send(req);
  const adapters::ProviderOutcome& o = *ctx.outcome;
  const std::string status = o.network_error ? "network" : std::to_string(o.http_status);
  state_.metrics.upstream_requests.With({cfg.provider, status}).Add();
  state_.metrics.upstream_seconds.With({cfg.provider})
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (span != nullptr) {
    span->SetAttribute("llmix.attempt", int64_t{ctx.result.attempts});
    span->SetAttribute("gen_ai.system", cfg.provider);
    span->SetAttribute("gen_ai.request.model", cfg.model);
    if (std::string host = adapters::UrlHost(ctx.base_url); !host.empty()) {
      span->SetAttribute("server.address", std::move(host));
    }
    if (!o.network_error) span->SetAttribute("http.response.status_code", int64_t{o.http_status});
    if (o.error) {
      span->SetAttribute("error.type", std::string(CallErrorCodeName(o.error->code)));
      span->SetError(o.error->message);
    }
  }
  next(ctx, std::move(done));
}

}  // namespace llmix::pipeline
