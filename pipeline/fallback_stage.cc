#include "pipeline/fallback_stage.h"

#include <string>
#include <vector>

#include "pipeline/resolve_stage.h"
#include "pipeline/routing_stage.h"

namespace llmix::pipeline {

// One call's walk along its preset's targets (0: the preset's own, i: fallback i).
struct FallbackStage::Chain {
  CallContext* ctx;
  Next next;
  Done done;
  std::vector<int> order;  // targets in the order they are tried
  size_t position = 0;
  bool rerouted = false;  // moved on because a target was busy (routing), not because it failed
};

bool FallbackStage::Skip(const CallContext& ctx) const {
  return ctx.preset == nullptr || ctx.preset->sidecar.fallback.empty();
}

bool FallbackStage::ShouldFallBack(const CallContext& ctx) {
  if (!ctx.status.ok() || ctx.result.success || !ctx.result.error.has_value()) return false;
  switch (ctx.result.error->code) {
    case CallErrorCode::kCircuitOpen:
    case CallErrorCode::kKeyPoolExhausted:
    case CallErrorCode::kNoApiKey:
    case CallErrorCode::kAuthentication:
    case CallErrorCode::kRateLimited:
    case CallErrorCode::kUpstreamUnreachable:
    case CallErrorCode::kUpstreamTimeout:
    case CallErrorCode::kUpstreamBadResponse:
      return true;
    case CallErrorCode::kUpstreamError:
      return ctx.result.error->retryable;  // 5xx; not a 4xx the provider would repeat
    default:
      return false;
  }
}

void FallbackStage::Run(CallContext& ctx, const Next& next, Done done) const {
  const registry::SidecarSettings& settings = ctx.preset->sidecar;
  const int first =
      state_.fallback_memory.First(ctx.preset_id, ctx.snapshot->revision, state_.clock.Wall());
  auto chain = std::make_shared<Chain>(Chain{&ctx, next, std::move(done), {}, 0});
  const int targets = static_cast<int>(settings.fallback.size()) + 1;
  if (first > 0 && first < targets) chain->order.push_back(first);
  for (int i = 0; i < targets; ++i) {
    if (i != first || first == 0) chain->order.push_back(i);
  }
  Attempt(std::move(chain));
}

void FallbackStage::Attempt(std::shared_ptr<Chain> chain) const {
  CallContext& ctx = *chain->ctx;
  const int index = chain->order[chain->position];
  if (chain->position > 0 || index != 0) {
    // A fresh attempt at another target: forget the last one's answer and identity.
    const registry::Preset& preset = *ctx.preset;
    ctx.ForgetLastAttempt();
    const registry::FallbackTarget* target =
        index == 0 ? nullptr : &preset.sidecar.fallback[static_cast<size_t>(index - 1)];
    ctx.status = SelectTarget(state_, ctx, target ? target->config : preset.config,
                              target ? target->base_url : preset.base_url);
    if (!ctx.status.ok() || ctx.result.error.has_value()) {
      AfterAttempt(std::move(chain));
      return;
    }
  }
  ctx.result.fallback_index = index;
  ctx.upstream.more_targets = chain->position + 1 < chain->order.size();
  Next next = chain->next;
  next(ctx, [this, chain]() mutable { AfterAttempt(std::move(chain)); });
}

void FallbackStage::AfterAttempt(std::shared_ptr<Chain> chain) const {
  CallContext& ctx = *chain->ctx;
  const bool time_left = ctx.deadline - state_.clock.Monotonic() > absl::ZeroDuration();
  // A streamed answer that already reached the caller cannot be served again by another target.
  const bool can_move_on = time_left && !ctx.cancelled.load() && !ctx.stream_started &&
                           chain->position + 1 < chain->order.size();
  if (IsRerouteStatus(ctx.status)) {  // the target is busy and routing says "fallback"
    RecordReroute(state_, ctx, can_move_on, &ctx.status);
    chain->rerouted = chain->rerouted || can_move_on;
  }
  if ((ShouldFallBack(ctx) || IsRerouteStatus(ctx.status)) && can_move_on) {
    chain->position += 1;
    const int to = chain->order[chain->position];
    state_.metrics.fallbacks.With({ctx.preset_id, std::to_string(to)}).Add();
    state_.logger.Debug("falling back", {{"preset", std::string_view(ctx.preset_id)},
                                         {"from_provider", std::string_view(ctx.result.provider)},
                                         {"target", int64_t{to}}});
    Attempt(std::move(chain));
    return;
  }
  // A reroute around a busy target is not a failure of it: nothing to remember.
  if (ctx.status.ok() && ctx.result.success && !chain->rerouted) {
    state_.fallback_memory.Served(ctx.preset_id, ctx.snapshot->revision, ctx.result.fallback_index,
                                  state_.clock.Wall(), ctx.preset->sidecar.fallback_sticky);
  }
  if (ctx.span != nullptr) {
    ctx.span->SetAttribute("llmix.fallback.index", int64_t{ctx.result.fallback_index});
    ctx.span->SetAttribute("llmix.fallback.attempted", int64_t(chain->position + 1));
  }
  Done done = std::move(chain->done);
  chain.reset();
  std::move(done)();
}

}  // namespace llmix::pipeline
