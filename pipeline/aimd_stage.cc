#include "pipeline/resilience/aimd_limiter.h"
#include "pipeline/resilience_stages.h"
#include "pipeline/routing_stage.h"

namespace llmix::pipeline {

namespace {

// One permit wait. Its mutex orders the grant against the waiter's setup: a grant that
// arrives while the waiter is still registering its hook and deadline timer waits for that
// (short) setup to finish, so the setup can safely touch the call's context.
struct PermitWait {
  absl::Mutex mu;
  bool acquiring = true;  // still inside Acquire(): a grant now runs inline
  bool ended = false;
  Scheduler::TimerId timer = 0;
};

}  // namespace

void AimdStage::Acquire(CallContext& ctx, resilience::AdaptiveSemaphore& sem,
                        absl::AnyInvocable<void(absl::Status) &&> then) const {
  ResilienceState& r = *state_.resilience;
  const absl::Duration remaining = ctx.deadline - state_.clock.Monotonic();
  auto wait = std::make_shared<PermitWait>();
  auto cont = std::make_shared<absl::AnyInvocable<void(absl::Status) &&>>(std::move(then));
  const resilience::AdaptiveSemaphore::Ticket ticket = sem.Acquire(
      [wait, cont, &r, &ctx](absl::Status status) mutable {
        bool inline_grant = false;
        Scheduler::TimerId timer = 0;
        {
          absl::MutexLock l(&wait->mu);
          wait->ended = true;
          inline_grant = wait->acquiring;
          timer = wait->timer;
        }
        if (inline_grant) {
          std::move (*cont)(std::move(status));
          return;
        }
        if (timer != 0) r.scheduler().Cancel(timer);
        ctx.upstream.cancel.ClearHook();
        r.executor().Submit(
            [cont, status = std::move(status)]() mutable { std::move (*cont)(std::move(status)); });
      },
      ctx.input.priority);
  resilience::AdaptiveSemaphore* s = &sem;
  bool cancel_now = false;
  {
    absl::MutexLock l(&wait->mu);
    wait->acquiring = false;
    if (wait->ended) return;  // granted or refused inline; the call may be finished already
    state_.logger.Debug("aimd: waiting for a concurrency permit",
                        {{"provider", std::string_view(ctx.config->provider)}});
    cancel_now = r.shutting_down() || !ctx.upstream.cancel.SetHook([s, ticket] {
      s->Cancel(ticket, absl::CancelledError("the caller cancelled the call"));
    });
    if (!cancel_now && remaining != absl::InfiniteDuration()) {
      wait->timer = r.scheduler().RunAfter(remaining, [s, ticket] {
        s->Cancel(ticket, absl::DeadlineExceededError(
                              "deadline exceeded waiting for a concurrency permit"));
      });
    }
  }
  if (cancel_now) s->Cancel(ticket, absl::CancelledError("the call was cancelled"));
}

void AimdStage::Run(CallContext& ctx, const Next& next, Done done) const {
  ResilienceState& r = *state_.resilience;
  resilience::AdaptiveSemaphore& sem = r.limiters().Get(ctx.config->provider);
  resilience::AdaptiveSemaphore* global = r.global_limit();
  auto finish = std::make_shared<Done>(std::move(done));
  const absl::Duration waiting_since = state_.clock.Monotonic();
  RoutingState* routing = state_.routing.get();

  // Runs the attempt holding the permits, feeds the window, releases, then finishes.
  auto run_attempt = [this, &ctx, &sem, global, next, finish, waiting_since, routing]() {
    // Permits held: the call no longer waits for its target.
    if (ctx.target_wait != nullptr) ctx.target_wait->End();
    if (routing != nullptr) {
      routing->wait_seconds.With({"permit", std::string(PriorityName(ctx.input.priority))})
          .Observe(absl::ToDoubleSeconds(state_.clock.Monotonic() - waiting_since));
    }
    next(ctx, [&ctx, &sem, global, finish]() {
      if (ctx.outcome.has_value()) {
        const adapters::ProviderOutcome& o = *ctx.outcome;
        if (auto info = resilience::ParseRateLimitHeaders(o.headers)) {
          sem.OnHeaders(info->remaining, info->limit);
        }
        if (o.http_status == 429) {
          sem.OnRateLimit();
        } else if (o.ok()) {
          sem.OnSuccess();
        }
      }
      if (global != nullptr) global->Release();
      sem.Release();
      std::move (*finish)();
    });
  };
  Acquire(ctx, sem, [this, &ctx, &sem, global, run_attempt, finish](absl::Status status) {
    if (!status.ok()) {
      ctx.status = std::move(status);
      std::move (*finish)();
      return;
    }
    if (global == nullptr) {
      run_attempt();
      return;
    }
    Acquire(ctx, *global, [&ctx, &sem, run_attempt, finish](absl::Status global_status) {
      if (!global_status.ok()) {
        ctx.status = std::move(global_status);
        sem.Release();
        std::move (*finish)();
        return;
      }
      run_attempt();
    });
  });
}

}  // namespace llmix::pipeline
