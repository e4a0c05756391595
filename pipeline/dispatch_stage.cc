#include "pipeline/dispatch_stage.h"

#include <chrono>

#include <memory>

#include "adapters/http_transport.h"
#include "adapters/stream_parser.h"
#include "common/provider_catalog.h"
#include "pipeline/call_stream.h"
#include "pipeline/provider_kwargs.h"
#include "pipeline/think_stage.h"
#include "pipeline/thinking.h"

namespace llmix::pipeline {

namespace {

// Turns the provider's stream events into the caller's deltas: content goes through the
// streaming <think> extractor (so thinking never leaks into content, whatever the chunk
// boundaries), provider-native reasoning is thinking, tool-call deltas pass through.
class DeltaForwarder final : public adapters::StreamEventSink {
 public:
  DeltaForwarder(CallContext& ctx, bool keep_thinking) : ctx_(ctx), think_(keep_thinking) {}

  bool OnEvent(const adapters::StreamEvent& e) override {
    switch (e.kind) {
      case adapters::StreamEventKind::kContent: {
        ThinkingDelta d;
        think_.Feed(e.text, &d);
        return Forward(std::move(d));
      }
      case adapters::StreamEventKind::kThinking:
        return Send({StreamDelta::Kind::kThinking, e.text, {}});
      case adapters::StreamEventKind::kToolCall:
        return Send({StreamDelta::Kind::kToolCall, "", e.tool_call});
      default:
        return !ctx_.cancelled.load();
    }
  }
  // End of a complete answer: what the extractor still held.
  void Finish() {
    ThinkingDelta d;
    think_.Finish(&d);
    Forward(std::move(d));
  }

 private:
  bool Forward(ThinkingDelta d) {
    if (!d.thinking.empty() && !Send({StreamDelta::Kind::kThinking, std::move(d.thinking), {}})) {
      return false;
    }
    if (!d.content.empty()) return Send({StreamDelta::Kind::kContent, std::move(d.content), {}});
    return !ctx_.cancelled.load();
  }
  bool Send(StreamDelta delta) {
    if (delta.kind != StreamDelta::Kind::kToolCall && delta.text.empty()) return true;
    ctx_.stream_started = true;
    return ctx_.stream->OnDelta(std::move(delta));
  }

  CallContext& ctx_;
  StreamingThinkingExtractor think_;
};

// Reads the provider's stream for `req`; the call's cancellation closes the upstream request.
adapters::ProviderOutcome SendStreamed(adapters::Adapter& adapter,
                                       const adapters::ProviderRequest& req, CallContext& ctx) {
  auto cancel = std::make_shared<adapters::StreamCancellation>();
  // The hook may run on another thread after this call returned: it owns the cancellation.
  if (!ctx.upstream.cancel.SetHook([cancel] { cancel->Cancel(); })) cancel->Cancel();
  DeltaForwarder forwarder(ctx, ThinkStage::KeepThinkingOutput(*ctx.config));
  adapters::ProviderOutcome outcome = adapter.SendStream(req, forwarder, cancel.get());
  ctx.upstream.cancel.ClearHook();
  if (outcome.ok()) forwarder.Finish();
  return outcome;
}

}  // namespace

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
  req.stream_idle_timeout = state_.options.stream_idle_timeout;
  Span* span = ctx.stage_span;
  // The upstream request continues the trace as a child of this (client) span.
  if (span != nullptr) req.traceparent = span->context().ToTraceparent();
  req.api_key = ctx.upstream.api_key;  // chosen by the key stage (empty offline)

  ctx.result.attempts += 1;
  const auto started = std::chrono::steady_clock::now();
  ctx.outcome = ctx.stream != nullptr ? SendStreamed(state_.adapter, req, ctx)
                                      : state_.adapter.Send(req);
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
