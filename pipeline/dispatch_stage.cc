#include "pipeline/dispatch_stage.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/provider_catalog.h"

namespace llmix::pipeline {

namespace {

// The first usable key from the provider's env variables (<P>_KEYS, <P>_API_KEY, alias).
std::string FirstKey(const std::string& provider, const Env& env) {
  for (const std::string& name : ProviderKeyEnvNames(provider)) {
    auto v = env.Get(name);
    if (!v) continue;
    for (absl::string_view k : absl::StrSplit(*v, ',')) {
      k = absl::StripAsciiWhitespace(k);
      if (!k.empty()) return std::string(k);
    }
  }
  return "";
}

}  // namespace

nlohmann::json DispatchStage::BuildKwargs(const registry::LlmConfig& config) {
  nlohmann::json kw = nlohmann::json::object();
  const registry::CommonParams& c = config.common;
  if (c.temperature) kw["temperature"] = *c.temperature;
  if (c.top_p) kw["top_p"] = *c.top_p;
  if (c.max_output_tokens) kw["max_tokens"] = *c.max_output_tokens;
  if (c.top_k) kw["top_k"] = *c.top_k;
  if (c.presence_penalty) kw["presence_penalty"] = *c.presence_penalty;
  if (c.frequency_penalty) kw["frequency_penalty"] = *c.frequency_penalty;
  if (c.stop_sequences) kw["stop"] = *c.stop_sequences;
  if (c.seed) kw["seed"] = *c.seed;
  if (!config.response_format.is_null()) kw["response_format"] = config.response_format;
  return kw;
}

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
  req.kwargs = BuildKwargs(cfg);
  req.tools = ctx.input.tools;
  req.tool_choice = ctx.input.tool_choice;
  req.timeout = remaining;
  if (ctx.stage_span != nullptr) req.traceparent = ctx.stage_span->ToTraceparent();
  if (!state_.dispatcher.dummy_upstream()) {
    req.api_key = FirstKey(cfg.provider, state_.env);
    if (req.api_key.empty()) {
      CallError e;
      e.code = CallErrorCode::kNoApiKey;
      e.provider = cfg.provider;
      e.message = absl::StrCat("no API key for provider \"", cfg.provider, "\": set ",
                               absl::StrJoin(ProviderKeyEnvNames(cfg.provider), " or "));
      ctx.Fail(std::move(e));
      std::move(done)();
      return;
    }
  }

  ctx.result.attempts += 1;
  ctx.outcome = state_.dispatcher.Send(req);
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
