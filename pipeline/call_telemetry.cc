#include "pipeline/call_telemetry.h"

#include "absl/strings/ascii.h"
#include "common/logging.h"
#include "pipeline/call_cost.h"

namespace llmix::pipeline {

std::string CallOutcome(const CallContext& ctx) {
  if (!ctx.status.ok()) {
    return absl::AsciiStrToLower(absl::StatusCodeToString(ctx.status.code()));
  }
  return ctx.result.success ? "success" : "failure";
}

void RecordCallTelemetry(const PipelineState& state, CallContext& ctx, double seconds) {
  RecordCallCost(state, ctx);
  const std::string outcome = CallOutcome(ctx);
  const std::string preset =
      !ctx.preset_id.empty() ? ctx.preset_id : (ctx.config != nullptr ? "inline" : "");
  const std::string provider = ctx.config != nullptr ? ctx.config->provider : "";
  state.metrics.calls.With({preset, provider, outcome}).Add();
  state.metrics.call_seconds.With({outcome}).Observe(seconds);

  Span* span = ctx.span.get();
  if (span == nullptr) return;
  const CallResult& r = ctx.result;
  span->SetAttribute("gen_ai.operation.name", std::string("chat"));
  span->SetAttribute("llmix.outcome", outcome);
  if (ctx.config != nullptr) {
    span->SetAttribute("gen_ai.system", ctx.config->provider);
    span->SetAttribute("gen_ai.request.model", ctx.config->model);
    span->SetAttribute("llmix.preset", preset);
    span->SetAttribute("llmix.config_revision", r.config_revision);
    span->SetAttribute("llmix.cache.hit", r.cache_tier != CacheTier::kNone);
    span->SetAttribute("llmix.cache.tier", std::string(CacheTierName(r.cache_tier)));
    span->SetAttribute("llmix.attempts", int64_t{r.attempts});
  }
  if (r.success) {
    if (!r.model.empty()) span->SetAttribute("gen_ai.response.model", r.model);
    span->SetAttribute("gen_ai.usage.input_tokens", r.usage.input_tokens);
    span->SetAttribute("gen_ai.usage.output_tokens", r.usage.output_tokens);
    if (!r.finish_reason.empty()) {
      span->SetAttribute("gen_ai.response.finish_reasons",
                         std::vector<std::string>{r.finish_reason});
    }
  }
  if (state.options.trace_content) {
    // Opt-in only; the redaction is a second line of defence (callers never send keys).
    span->SetAttribute("gen_ai.prompt",
                       RedactSecrets(ctx.input.messages.dump(
                           -1, ' ', false, nlohmann::json::error_handler_t::replace)));
    if (r.success) span->SetAttribute("gen_ai.completion", RedactSecrets(r.content));
  }
  if (!ctx.status.ok()) {
    span->SetAttribute("error.type", outcome);
    span->SetError(std::string(ctx.status.message()));
  } else if (r.error) {
    span->SetAttribute("error.type", std::string(CallErrorCodeName(r.error->code)));
    span->SetError(r.error->message);
  }
}

}  // namespace llmix::pipeline
