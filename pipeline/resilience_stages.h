// The resilience stages, in pipeline order (pipeline_builder.cc places them):
//   kill_switch -> ... -> breaker -> singleflight -> respond -> retry -> aimd -> key -> kwargs
//   -> dispatch
// None of them parks a thread: backoffs are Scheduler timers that resume the call through the
// Executor, AIMD waiters are queued callbacks, singleflight followers are callbacks on the
// leader's result. Every wait ends at the call's deadline, on client cancellation
// (ctx.upstream.cancel) and on shutdown. Stateless and thread-safe; the long-lived state is
// PipelineState::resilience.
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

// `<stateDir>/killswitch` exists -> success=false, KILL_SWITCH (checked on every call, so it
// takes effect and clears without a restart).
class KillSwitchStage final : public Stage {
 public:
  explicit KillSwitchStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "kill_switch"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  PipelineState& state_;
};

// Circuit breaker per (provider, base URL): an open breaker answers CIRCUIT_OPEN at once;
// afterwards the whole retry sequence is recorded as one outcome (local errors are not).
class BreakerStage final : public Stage {
 public:
  explicit BreakerStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "breaker"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

  // The breaker's base URL: LLMix's effective base URL (config baseUrl, sno-gpu rewrite), else
  // the preset's sidecar baseUrl when it differs from the provider default, else "".
  static std::string BreakerBaseUrl(const CallContext& ctx, const Env& env);

 private:
  PipelineState& state_;
};

// Identical concurrent calls (ctx.input.singleflight_key, else ctx.request_key) share one
// upstream sequence: followers receive a copy of the leader's result (with their own trace
// id). A follower's own deadline and cancellation still apply; when the leader gave up for
// reasons of its own (cancelled, deadline, shutdown) followers start over.
class SingleflightStage final : public Stage {
 public:
  explicit SingleflightStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "singleflight"; }
  bool needs_worker() const override { return true; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  void Join(CallContext& ctx, Next next, Done done, std::string key) const;
  PipelineState& state_;
};

// LLMix's retry loop (CONTRACT §4): retryable failures are retried with jittered exponential
// backoff or Retry-After, as timers; the deadline bounds it (a backoff that does not fit ends
// the call with DEADLINE_EXCEEDED at once); cancellation and shutdown stop it.
class RetryStage final : public Stage {
 public:
  explicit RetryStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "retry"; }
  bool needs_worker() const override { return true; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

  struct Loop;

 private:
  void Attempt(std::shared_ptr<Loop> loop) const;
  void AfterAttempt(std::shared_ptr<Loop> loop) const;
  void Finish(std::shared_ptr<Loop> loop) const;
  PipelineState& state_;
};

// AIMD concurrency permit per provider (and the global cap, when set) around each attempt;
// the attempt's outcome feeds the window (429 halves, success grows, rate-limit headers).
class AimdStage final : public Stage {
 public:
  explicit AimdStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "aimd"; }
  bool needs_worker() const override { return true; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  // Acquires a permit of `sem` for `ctx` and calls `then` with OK (permit held) or the reason
  // the wait ended (deadline, cancellation, shutdown).
  void Acquire(CallContext& ctx, resilience::AdaptiveSemaphore& sem,
               absl::AnyInvocable<void(absl::Status) &&> then) const;
  PipelineState& state_;
};

// Selects the provider's API key (sticky; rotate on 429, dead on 401/403). No pool ->
// NO_API_KEY, all keys dead -> KEY_POOL_EXHAUSTED; neither is retried. Skipped offline.
class KeyStage final : public Stage {
 public:
  explicit KeyStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "key"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  PipelineState& state_;
};

// Builds the provider kwargs (pipeline/provider_kwargs.h) into ctx.upstream.kwargs.
class KwargsStage final : public Stage {
 public:
  explicit KwargsStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "kwargs"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  PipelineState& state_;
};

}  // namespace llmix::pipeline
