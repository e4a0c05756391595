#include "absl/strings/ascii.h"
#include "common/provider_catalog.h"
#include "pipeline/resilience_stages.h"

namespace llmix::pipeline {

std::string BreakerStage::BreakerBaseUrl(const CallContext& ctx, const Env& env) {
  const registry::LlmConfig& cfg = *ctx.config;
  auto effective = EffectiveBaseUrl(cfg.provider, cfg.base_url, cfg.provider_options, env);
  if (effective.ok() && !effective->empty()) return *effective;
  const ProviderInfo* info = FindProvider(cfg.provider);
  if (info != nullptr && ctx.base_url == DefaultBaseUrl(*info, env)) return "";
  return ctx.base_url;
}

void BreakerStage::Run(CallContext& ctx, const Next& next, Done done) const {
  resilience::CircuitBreaker& breaker =
      state_.resilience->breakers().Get(ctx.config->provider, BreakerBaseUrl(ctx, state_.env));
  bool probe = false;
  const absl::Status admitted = breaker.Check(&probe);
  if (ctx.stage_span != nullptr) {
    ctx.stage_span->SetAttribute(
        "llmix.breaker.state",
        absl::AsciiStrToLower(std::string(resilience::CircuitStateName(breaker.state()))));
    if (probe) ctx.stage_span->SetAttribute("llmix.breaker.probe", true);
  }
  if (const absl::Status& st = admitted; !st.ok()) {
    CallError e;
    e.code = CallErrorCode::kCircuitOpen;
    e.provider = ctx.config->provider;
    e.message = std::string(st.message());
    ctx.Fail(std::move(e));
    std::move(done)();
    return;
  }
  next(ctx, [&ctx, &breaker, probe, done = std::move(done)]() mutable {
    const UpstreamCall& u = ctx.upstream;
    // A follower shares its leader's sequence: only a probe slot it took must report.
    if (!u.follower || probe) {
      switch (u.verdict) {
        case SequenceVerdict::kSuccess:
          breaker.RecordSuccess();
          break;
        case SequenceVerdict::kFailure:
          breaker.RecordFailure({u.failure_status, u.failure_network});
          break;
        case SequenceVerdict::kLocal:
        case SequenceVerdict::kNone:
          if (probe) breaker.CancelProbe();
          break;
      }
    }
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
