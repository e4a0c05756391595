#include "absl/strings/str_cat.h"
#include "pipeline/resilience_stages.h"

namespace llmix::pipeline {

// One call's retry sequence, shared by its continuations (one runs at a time).
struct RetryStage::Loop {
  CallContext* ctx;
  Next next;
  Done done;
  resilience::RetryPolicy policy;
  int attempt = 0;  // 0-based index of the attempt about to run / that just ran
};

void RetryStage::Run(CallContext& ctx, const Next& next, Done done) const {
  resilience::RetryPolicy policy = state_.resilience->retry();
  // A preset's common.maxRetries overrides the sidecar default for its calls.
  if (const auto& max = ctx.config->common.max_retries; max.has_value() && *max >= 0) {
    resilience::RetryOptions options = policy.options();
    options.max_retries = *max;
    if (auto p = resilience::RetryPolicy::Create(options); p.ok()) policy = *p;
  }
  auto loop = std::make_shared<Loop>(Loop{&ctx, next, std::move(done), std::move(policy)});
  Attempt(std::move(loop));
}

void RetryStage::Attempt(std::shared_ptr<Loop> loop) const {
  CallContext& ctx = *loop->ctx;
  if (ctx.cancelled.load() || ctx.upstream.cancel.cancelled()) {
    ctx.status = absl::CancelledError("the caller cancelled the call");
    Finish(std::move(loop));
    return;
  }
  if (state_.resilience->shutting_down()) {
    ctx.status = absl::UnavailableError("sidecar is shutting down");
    Finish(std::move(loop));
    return;
  }
  if (ctx.deadline - state_.clock.Monotonic() <= absl::ZeroDuration()) {
    ctx.status = absl::DeadlineExceededError(loop->attempt == 0
                                                 ? "deadline exceeded before the upstream request"
                                                 : "deadline exceeded before the next retry");
    Finish(std::move(loop));
    return;
  }
  ctx.outcome.reset();
  Next next = loop->next;
  next(ctx, [this, loop]() mutable { AfterAttempt(std::move(loop)); });
}

void RetryStage::AfterAttempt(std::shared_ptr<Loop> loop) const {
  CallContext& ctx = *loop->ctx;
  UpstreamCall& u = ctx.upstream;
  if (!ctx.status.ok() || ctx.result.error.has_value() || !ctx.outcome.has_value()) {
    // A gRPC-level ending (deadline while waiting for a permit, ...) keeps the verdict of the
    // attempts so far; a local error (no pool, exhausted pool, bad config) is not counted.
    if (ctx.status.ok()) u.verdict = SequenceVerdict::kLocal;
    Finish(std::move(loop));
    return;
  }
  adapters::ProviderOutcome& outcome = *ctx.outcome;
  if (outcome.ok()) {
    u.verdict = SequenceVerdict::kSuccess;
    Finish(std::move(loop));
    return;
  }
  CallError& error = *outcome.error;
  if (outcome.http_status == 0 && !outcome.network_error && !error.retryable) {
    u.verdict = SequenceVerdict::kLocal;  // failed before reaching the provider
    Finish(std::move(loop));
    return;
  }
  if (error.code == CallErrorCode::kUpstreamTimeout && ctx.caller_deadline_shorter) {
    // The attempt ran until the caller's own (shorter) deadline: the caller gave up, the
    // provider did not fail. Earlier failed attempts of the sequence still count; this one
    // does not, so one impatient client cannot open the breaker for the whole pod.
    if (u.verdict == SequenceVerdict::kNone) u.verdict = SequenceVerdict::kLocal;
    Finish(std::move(loop));
    return;
  }
  u.verdict = SequenceVerdict::kFailure;
  u.failure_status =
      outcome.http_status != 0 ? std::optional<int>(outcome.http_status) : std::nullopt;
  u.failure_network = outcome.network_error;

  const absl::Time now = state_.clock.Wall();
  std::optional<std::string_view> retry_after;
  if (auto it = outcome.headers.find("retry-after"); it != outcome.headers.end()) {
    retry_after = it->second;
    if (auto ms = resilience::ParseRetryAfterMs(it->second, now,
                                                loop->policy.options().retry_after_cap_ms)) {
      error.retry_after_ms = static_cast<int64_t>(*ms);
    }
  }
  const std::optional<double> delay_ms = loop->policy.NextRetryDelayMs(
      loop->attempt, error.retryable, retry_after, now, state_.resilience->Random());
  // A streamed answer that already reached the caller cannot be started over.
  if (!delay_ms.has_value() || ctx.cancelled.load() || ctx.stream_started) {
    Finish(std::move(loop));
    return;
  }
  const absl::Duration delay = absl::Milliseconds(*delay_ms);
  const absl::Duration remaining = ctx.deadline - state_.clock.Monotonic();
  if (delay >= remaining) {
    // Sleeping past the deadline only to fail then helps nobody: fail now.
    ctx.status = absl::DeadlineExceededError(absl::StrCat(
        "deadline exceeded: the next retry would start in ", *delay_ms, " ms but only ",
        absl::ToInt64Milliseconds(remaining), " ms remain (last error: ", error.message, ")"));
    Finish(std::move(loop));
    return;
  }
  loop->attempt += 1;
  state_.logger.Debug("retry backoff", {{"provider", std::string_view(ctx.config->provider)},
                                        {"attempt", int64_t{loop->attempt}},
                                        {"delay_ms", static_cast<int64_t>(*delay_ms)}});
  // The backoff is a timer that hands the call back to a worker; cancellation fires it early.
  // The hook goes in first: once the timer exists the call may finish on another thread, so
  // nothing here touches `ctx` after RunAfter.
  ResilienceState& r = *state_.resilience;
  auto timer = std::make_shared<std::atomic<Scheduler::TimerId>>(0);
  const bool hooked = u.cancel.SetHook([this, loop, &r, timer]() mutable {
    const Scheduler::TimerId id = timer->load();
    if (id != 0 && r.scheduler().Cancel(id)) {
      r.executor().Submit([this, loop]() mutable { Attempt(std::move(loop)); });
    }
  });
  if (!hooked) {  // already cancelled: Attempt ends the call
    r.executor().Submit([this, loop]() mutable { Attempt(std::move(loop)); });
    return;
  }
  timer->store(r.scheduler().RunAfter(delay, [this, loop, &r]() mutable {
    loop->ctx->upstream.cancel.ClearHook();
    r.executor().Submit([this, loop]() mutable { Attempt(std::move(loop)); });
  }));
}

void RetryStage::Finish(std::shared_ptr<Loop> loop) const {
  loop->ctx->upstream.cancel.ClearHook();
  Done done = std::move(loop->done);
  loop.reset();
  std::move(done)();
}

}  // namespace llmix::pipeline
