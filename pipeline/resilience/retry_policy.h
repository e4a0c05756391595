// Retry decisions with LLMix's exact arithmetic (CONTRACT.md §4): which statuses retry, the
// exponential backoff with jitter, and Retry-After parsing (delta-seconds or any date JS
// `Date.parse` accepts, read as UTC). Pure functions and an immutable policy value: the caller
// supplies `now` and the random draw, so nothing here sleeps or reads a clock. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace llmix::resilience {

// 408, 429 and 500-599 retry; nothing else does (401/403/other 4xx/0/600+).
bool IsRetryableStatus(int status);
// Same rule on a JS number (non-integral values compare as JS does: 500.5 retries).
bool IsRetryableStatus(double status);

// LLMix RetryPolicy options. Values are JS numbers (doubles) so validation can report exactly
// what LLMix reports for a fractional or non-finite setting.
struct RetryOptions {
  double max_retries = 3;  // retries after the first attempt: 3 means 4 attempts
  double base_ms = 1000;
  double max_delay_ms = 30000;
  double jitter_ms = 1000;
  double retry_after_cap_ms = 60000;
};

// OK, or kInvalidArgument carrying LLMix's RangeError message, e.g.
// "maxRetries must be a non-negative integer, got 1.5".
absl::Status ValidateRetryOptions(const RetryOptions& options);

// min(2^attempt * base_ms, max_delay_ms) + floor(random * (jitter_ms + 1)) in IEEE doubles,
// with 2^attempt computed bit-for-bit as V8 does (fractional, negative and huge attempts
// included). `random` is the draw in [0, 1). Options are not validated (as in LLMix).
double CalculateDelayMs(double attempt, const RetryOptions& options, double random);

// Retry-After in milliseconds, or nullopt when unusable. The JS-trimmed value, when all ASCII
// digits, is delta-seconds: min(seconds * 1000, cap_ms). Otherwise the (untrimmed) value is
// parsed as JS `Date.parse` would with TZ=UTC; a date strictly after `now` gives
// min(date - now, cap_ms) and anything else nullopt.
// An absent header (JS null/undefined) is simply not a Retry-After: callers skip the call.
std::optional<double> ParseRetryAfterMs(std::string_view header, absl::Time now,
                                        double cap_ms = 60000);


// An immutable, validated LLMix RetryPolicy. The call pipeline drives the attempts itself
// (backoffs are timers, not sleeps) and asks the policy what to do after each failure.
class RetryPolicy {
 public:
  // The defaults (3 retries, 1 s base, 30 s max, 1 s jitter, 60 s Retry-After cap).
  RetryPolicy() = default;
  static absl::StatusOr<RetryPolicy> Create(const RetryOptions& options);

  const RetryOptions& options() const { return options_; }

  // LLMix getDelayMs: a usable Retry-After replaces the computed backoff entirely.
  double GetDelayMs(double attempt, std::optional<std::string_view> retry_after, absl::Time now,
                    double random) const;

  // After 0-based attempt `attempt` failed: the backoff before the next attempt, or nullopt
  // to give up (it was the last allowed attempt, or the error is not `retryable`). Mirrors
  // LLMix execute(): the attempt limit is checked first, then the predicate, then the delay
  // from the error's lower-case `retry-after` header.
  std::optional<double> NextRetryDelayMs(double attempt, bool retryable,
                                         std::optional<std::string_view> retry_after,
                                         absl::Time now, double random) const;

 private:
  explicit RetryPolicy(const RetryOptions& options) : options_(options) {}
  RetryOptions options_;
};

}  // namespace llmix::resilience
