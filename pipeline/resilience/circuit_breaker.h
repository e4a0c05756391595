// LLMix's per-(provider, base URL) circuit breaker (CONTRACT.md §7): CLOSED -> OPEN after N
// consecutive retryable/network failures, OPEN -> HALF_OPEN once the cooldown has elapsed and
// the state is read, HALF_OPEN admits a fixed number of probes and closes on a majority of
// successes or reopens with a doubled cooldown. Time comes from an injected Clock.
// Thread-safe: every method takes the breaker's mutex; registries hand out stable references.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace llmix::resilience {

enum class CircuitState { kClosed, kOpen, kHalfOpen };

// "CLOSED", "OPEN", "HALF_OPEN" (LLMix's names).
std::string_view CircuitStateName(CircuitState state);

struct CircuitBreakerOptions {
  int failure_threshold = 3;
  absl::Duration cooldown = absl::Milliseconds(30000);
  int permitted_half_open_calls = 10;
};

// What a failed call (or a whole failed retry sequence) reports to the breaker.
struct CircuitFailure {
  std::optional<int> http_status;  // the upstream HTTP status, when there was one
  bool network_error = false;      // connect/reset/timeout: no usable response
};

// The breaker's internal fields, read without applying the OPEN -> HALF_OPEN transition.
struct CircuitBreakerSnapshot {
  CircuitState raw_state = CircuitState::kClosed;
  int consecutive_failures = 0;
  absl::Duration cooldown;
  absl::Duration opened_at;  // Clock::Monotonic() when last opened; zero if never
  int half_open_active = 0;
  int half_open_successes = 0;
  int half_open_failures = 0;
};

class CircuitBreaker {
 public:
  // `clock` must outlive the breaker.
  CircuitBreaker(std::string provider, std::string base_url, const Clock& clock,
                 const CircuitBreakerOptions& options = {});
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Admits a call, or returns kUnavailable "Circuit breaker OPEN for (<provider>, <baseUrl>)"
  // while OPEN or when HALF_OPEN has no probe slot left. `*probe` (if given) is set to whether
  // the admitted call is a HALF_OPEN probe, which must later report an outcome or be
  // cancelled with CancelProbe().
  absl::Status Check(bool* probe = nullptr);

  void RecordSuccess();
  // Retryable statuses and network errors count as failures. 401/403 (even with the network
  // flag), other statuses, and a failure with neither status nor flag reset the consecutive
  // counter; in HALF_OPEN anything but a retryable status or network error is a probe success.
  void RecordFailure(const CircuitFailure& failure);
  // Counts an admitted HALF_OPEN probe that will never report (e.g. it failed locally) as a
  // failure; a no-op when every admitted probe already reported or the state is not HALF_OPEN.
  void CancelProbe();
  // Back to CLOSED with the configured cooldown and all counters zero.
  void Reset();

  // The current state; moves OPEN to HALF_OPEN when the cooldown has elapsed.
  CircuitState state();
  CircuitBreakerSnapshot Snapshot() const;

  const std::string& provider() const { return provider_; }
  const std::string& base_url() const { return base_url_; }

 private:
  CircuitState StateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvaluateHalfOpenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OpenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string provider_;
  const std::string base_url_;
  const Clock& clock_;
  const CircuitBreakerOptions options_;

  mutable absl::Mutex mu_;
  CircuitState state_ ABSL_GUARDED_BY(mu_) = CircuitState::kClosed;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration cooldown_ ABSL_GUARDED_BY(mu_);
  absl::Duration opened_at_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  int half_open_active_ ABSL_GUARDED_BY(mu_) = 0;
  int half_open_successes_ ABSL_GUARDED_BY(mu_) = 0;
  int half_open_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

// One breaker per (provider, effective base URL), created on first use with shared options.
// Thread-safe; returned references stay valid for the registry's lifetime.
class CircuitBreakerRegistry {
 public:
  explicit CircuitBreakerRegistry(const Clock& clock, const CircuitBreakerOptions& options = {})
      : clock_(clock), options_(options) {}
  CircuitBreakerRegistry(const CircuitBreakerRegistry&) = delete;
  CircuitBreakerRegistry& operator=(const CircuitBreakerRegistry&) = delete;

  CircuitBreaker& Get(std::string_view provider, std::string_view base_url);
  size_t size() const;
  // Every breaker created so far (stable pointers), in no particular order.
  std::vector<CircuitBreaker*> All() const;

 private:
  const Clock& clock_;
  const CircuitBreakerOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, std::string>, std::unique_ptr<CircuitBreaker>>
      breakers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::resilience
