#include "pipeline/resilience_stages.h"

namespace llmix::pipeline {

namespace {

// A follower's wait: whichever comes first (the leader's result, the follower's deadline, its
// cancellation) ends it; the others find `ended` set and do nothing.
struct FollowerWait {
  absl::Mutex mu;
  bool ended = false;
  Scheduler::TimerId timer = 0;
  bool leader = false;
  CallContext* ctx = nullptr;
  Done done;

  // True for the one caller that gets to end the wait; cancels the deadline timer.
  bool TryEnd(Scheduler& scheduler) {
    Scheduler::TimerId t = 0;
    {
      absl::MutexLock l(&mu);
      if (ended) return false;
      ended = true;
      t = timer;
    }
    if (t != 0) scheduler.Cancel(t);
    return true;
  }
};

bool LeaderGaveUp(const CallContext& ctx) {
  if (ctx.cancelled.load() || ctx.upstream.cancel.cancelled()) return true;
  switch (ctx.status.code()) {
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:  // shed by routing: followers decide for themselves
      return true;
    default:
      return false;
  }
}

}  // namespace

void SingleflightStage::Run(CallContext& ctx, const Next& next, Done done) const {
  std::string key = ctx.input.singleflight_key.value_or(ctx.request_key);
  // A stream's deltas go to one caller only: streams never join or lead a flight.
  if (!state_.resilience->options().singleflight || key.empty() || ctx.stream != nullptr) {
    next(ctx, std::move(done));
    return;
  }
  Join(ctx, next, std::move(done), std::move(key));
}

namespace {

// Ends a follower's wait with a status of its own (deadline, cancellation).
void EndFollower(const std::shared_ptr<FollowerWait>& wait, ResilienceState& r,
                 absl::Status status) {
  if (!wait->TryEnd(r.scheduler())) return;
  r.executor().Submit([wait, status = std::move(status)]() mutable {
    wait->ctx->upstream.cancel.ClearHook();
    wait->ctx->status = std::move(status);
    std::move(wait->done)();
  });
}

}  // namespace

void SingleflightStage::Join(CallContext& ctx, Next next, Done done, std::string key) const {
  ResilienceState& r = *state_.resilience;
  auto wait = std::make_shared<FollowerWait>();
  wait->ctx = &ctx;
  wait->done = std::move(done);
  const absl::Duration remaining = ctx.deadline - state_.clock.Monotonic();

  // wait->mu is held from Join until the follower's timer and hook are registered, so a
  // result that arrives at once (on the leader's thread) waits for that setup to finish.
  wait->mu.Lock();
  const bool leader = r.flights().Join(key, [this, wait, next, key, &r](const SharedOutcome& o) {
    {
      absl::MutexLock l(&wait->mu);
      if (wait->leader) return;  // the leader continues by itself
    }
    if (!wait->TryEnd(r.scheduler())) return;  // the follower already gave up
    r.executor().Submit([this, wait, next, key, o]() mutable {
      CallContext& c = *wait->ctx;
      c.upstream.cancel.ClearHook();
      if (o.leader_gave_up && !LeaderGaveUp(c) && c.deadline > state_.clock.Monotonic()) {
        Join(c, next, std::move(wait->done), key);  // start over: lead or follow anew
        return;
      }
      std::string trace_id = std::move(c.result.trace_id);
      std::string revision = std::move(c.result.config_revision);
      c.result = o.result;
      c.result.trace_id = std::move(trace_id);
      if (!revision.empty()) c.result.config_revision = std::move(revision);
      c.status = o.status;
      c.upstream.verdict = o.verdict;
      c.upstream.failure_status = o.failure_status;
      c.upstream.failure_network = o.failure_network;
      c.upstream.follower = true;
      std::move(wait->done)();
    });
  });

  if (ctx.stage_span != nullptr) {  // still this stage's span: a follower runs no later stage
    ctx.stage_span->SetAttribute("llmix.singleflight.role",
                                 std::string(leader ? "leader" : "follower"));
  }
  if (leader) {
    wait->leader = true;
    Done leader_done = std::move(wait->done);
    wait->mu.Unlock();
    next(ctx, [this, &ctx, key, leader_done = std::move(leader_done)]() mutable {
      SharedOutcome o;
      o.result = ctx.result;
      o.status = ctx.status;
      o.verdict = ctx.upstream.verdict;
      o.failure_status = ctx.upstream.failure_status;
      o.failure_network = ctx.upstream.failure_network;
      o.leader_gave_up = LeaderGaveUp(ctx);
      state_.resilience->flights().Complete(key, o);
      std::move(leader_done)();
    });
    return;
  }

  state_.logger.Debug("singleflight: follower joined an identical in-flight call",
                      {{"provider", std::string_view(ctx.config->provider)}});
  const bool hooked = ctx.upstream.cancel.SetHook(
      [wait, &r] { EndFollower(wait, r, absl::CancelledError("the caller cancelled the call")); });
  if (hooked && !r.shutting_down() && remaining != absl::InfiniteDuration()) {
    wait->timer = r.scheduler().RunAfter(remaining, [wait, &r] {
      EndFollower(
          wait, r,
          absl::DeadlineExceededError("deadline exceeded waiting for an identical in-flight call"));
    });
  }
  wait->mu.Unlock();
  if (!hooked) EndFollower(wait, r, absl::CancelledError("the caller cancelled the call"));
}

}  // namespace llmix::pipeline
