// The long-lived state of the resilience stages, shared by every call and kept across config
// reloads: the retry policy, circuit breakers per (provider, base URL), key pools and AIMD
// limiters per provider, the optional global concurrency cap, the singleflight table, and the
// Scheduler/Executor that resume parked calls. Owned by PipelineState. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/scheduler.h"
#include "pipeline/call_context.h"
#include "pipeline/resilience/aimd_limiter.h"
#include "pipeline/resilience/circuit_breaker.h"
#include "pipeline/resilience/key_limits.h"
#include "pipeline/resilience/key_pool.h"
#include "pipeline/resilience/retry_policy.h"
#include "pipeline/resilience/singleflight.h"

namespace llmix::pipeline {

struct ResilienceOptions {
  resilience::RetryOptions retry;             // attempts, backoff, Retry-After cap
  resilience::CircuitBreakerOptions breaker;  // threshold, cooldown, half-open probes
  resilience::AimdOptions aimd;               // initial (= max) and min window per provider
  std::optional<int> global_concurrency;      // LLM_GLOBAL_CONCURRENCY: process-wide cap
  std::string kill_switch_path;               // empty: no kill switch
  bool singleflight = true;                   // coalesce identical concurrent calls
  bool key_aliases = true;  // also read documented alias variables (GEMINI_API_KEY, ...)
  // Per-key RPM/TPM limits by provider (<P>_KEY_RPM / <P>_KEY_TPM); none: LLMix's pool only.
  absl::flat_hash_map<std::string, resilience::KeyLimits> key_limits;
};

// What a singleflight leader hands to its followers.
struct SharedOutcome {
  CallResult result;
  absl::Status status;
  SequenceVerdict verdict = SequenceVerdict::kNone;
  std::optional<int> failure_status;
  bool failure_network = false;
  // The leader ended for a reason of its own (its caller cancelled, its deadline passed,
  // shutdown): followers with time left start over instead of sharing that ending.
  bool leader_gave_up = false;
};

class ResilienceState {
 public:
  // `scheduler` / `executor` must outlive the state; when null, the state owns a
  // ThreadScheduler on `clock` and an InlineExecutor (tests and tools).
  static absl::StatusOr<std::unique_ptr<ResilienceState>> Create(const ResilienceOptions& options,
                                                                 const Clock& clock, const Env& env,
                                                                 Scheduler* scheduler = nullptr,
                                                                 Executor* executor = nullptr);
  ~ResilienceState();

  const ResilienceOptions& options() const { return options_; }
  const resilience::RetryPolicy& retry() const { return retry_; }
  resilience::CircuitBreakerRegistry& breakers() { return breakers_; }
  resilience::KeyPoolRegistry& keys() { return keys_; }
  // The provider's per-key limiter, or null when its keys have no limits.
  resilience::KeyRateLimiter* key_limiter(std::string_view provider) const {
    auto it = key_limiters_.find(absl::string_view(provider.data(), provider.size()));
    return it == key_limiters_.end() ? nullptr : it->second.get();
  }
  // (provider, limiter) for every provider with limits; fixed at creation.
  const absl::flat_hash_map<std::string, std::shared_ptr<resilience::KeyRateLimiter>>&
  key_limiters() const {
    return key_limiters_;
  }
  resilience::LimiterRegistry& limiters() { return *limiters_; }
  resilience::AdaptiveSemaphore* global_limit() { return global_.get(); }  // null: no cap
  resilience::Singleflight<SharedOutcome>& flights() { return flights_; }
  Scheduler& scheduler() { return *scheduler_; }
  Executor& executor() { return *executor_; }

  // The random draw in [0, 1) for backoff jitter (Math.random()); replaceable for tests.
  double Random() const { return random_(); }
  void set_random(std::function<double()> random) { random_ = std::move(random); }

  // Shutdown: no new attempt starts (calls end UNAVAILABLE), AIMD waiters are released.
  void BeginShutdown();
  bool shutting_down() const { return shutting_down_.load(); }

 private:
  ResilienceState(const ResilienceOptions& options, const Clock& clock, const Env& env,
                  resilience::RetryPolicy retry);

  const ResilienceOptions options_;
  const resilience::RetryPolicy retry_;
  resilience::CircuitBreakerRegistry breakers_;
  resilience::KeyPoolRegistry keys_;
  absl::flat_hash_map<std::string, std::shared_ptr<resilience::KeyRateLimiter>> key_limiters_;
  std::unique_ptr<resilience::LimiterRegistry> limiters_;
  std::unique_ptr<resilience::AdaptiveSemaphore> global_;
  resilience::Singleflight<SharedOutcome> flights_;
  std::unique_ptr<Scheduler> owned_scheduler_;
  std::unique_ptr<Executor> owned_executor_;
  Scheduler* scheduler_ = nullptr;
  Executor* executor_ = nullptr;
  std::function<double()> random_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace llmix::pipeline
