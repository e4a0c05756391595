#include "pipeline/resilience_state.h"

#include <random>

#include "absl/synchronization/mutex.h"

namespace llmix::pipeline {

namespace {

// Math.random() stand-in: a mutex-guarded Mersenne Twister seeded from the OS.
std::function<double()> DefaultRandom() {
  struct Source {
    absl::Mutex mu;
    std::mt19937_64 gen{std::random_device{}()};
    std::uniform_real_distribution<double> dist{0.0, 1.0};
  };
  auto source = std::make_shared<Source>();
  return [source] {
    absl::MutexLock l(&source->mu);
    return source->dist(source->gen);
  };
}

}  // namespace

ResilienceState::ResilienceState(const ResilienceOptions& options, const Clock& clock,
                                 const Env& env, resilience::RetryPolicy retry)
    : options_(options),
      retry_(std::move(retry)),
      breakers_(clock, options.breaker),
      keys_(env, options.key_aliases),
      random_(DefaultRandom()) {}

ResilienceState::~ResilienceState() {
  if (limiters_) limiters_->CloseAll();
  if (global_) global_->Close();
}

absl::StatusOr<std::unique_ptr<ResilienceState>> ResilienceState::Create(
    const ResilienceOptions& options, const Clock& clock, const Env& env, Scheduler* scheduler,
    Executor* executor) {
  auto retry = resilience::RetryPolicy::Create(options.retry);
  if (!retry.ok()) return retry.status();
  if (options.breaker.failure_threshold < 1 || options.breaker.permitted_half_open_calls < 1 ||
      options.breaker.cooldown < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "circuit breaker: threshold and half-open probes must be >= 1, cooldown >= 0");
  }
  auto limiters = resilience::LimiterRegistry::Create(options.aimd);
  if (!limiters.ok()) return limiters.status();
  std::unique_ptr<ResilienceState> state(
      new ResilienceState(options, clock, env, std::move(*retry)));
  state->limiters_ = std::move(*limiters);
  for (const auto& [provider, limits] : options.key_limits) {
    if (limits.active()) {
      state->key_limiters_.emplace(provider, resilience::KeyRateLimiter::Create(limits, clock));
    }
  }
  if (options.global_concurrency.has_value()) {
    auto global = resilience::AdaptiveSemaphore::Create(
        {*options.global_concurrency, *options.global_concurrency});
    if (!global.ok()) return global.status();
    state->global_ = std::move(*global);
  }
  if (scheduler == nullptr) {
    state->owned_scheduler_ = std::make_unique<ThreadScheduler>(clock);
    scheduler = state->owned_scheduler_.get();
  }
  if (executor == nullptr) {
    state->owned_executor_ = std::make_unique<InlineExecutor>();
    executor = state->owned_executor_.get();
  }
  state->scheduler_ = scheduler;
  state->executor_ = executor;
  return state;
}

void ResilienceState::BeginShutdown() {
  shutting_down_.store(true);
  limiters_->CloseAll();
  if (global_) global_->Close();
}

}  // namespace llmix::pipeline
