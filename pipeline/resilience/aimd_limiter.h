// LLMix's AIMD adaptive semaphore (CONTRACT.md §8, aimd fixtures) in continuation form: a
// permit is granted to a callback, at once or later when another holder releases, so no thread
// ever blocks waiting. The window grows by one per success (until rate-limit headers are seen),
// halves on 429 and follows x-ratelimit-* header feedback. Thread-safe; callbacks always run
// outside the internal lock (inline in Acquire when the permit is free).
#pragma once

#include <cstddef>
#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/priority.h"

namespace llmix::resilience {

struct AimdOptions {
  int initial = 32;         // starting and maximum window
  int min_concurrency = 4;  // the window never shrinks below this
};

// Header feedback from `x-ratelimit-remaining-requests` / `x-ratelimit-limit-requests`.
struct RateLimitInfo {
  double remaining = 0;
  double limit = 0;
};

// JS parseInt(text, 10): optional leading JS whitespace and sign, then the longest run of ASCII
// digits ("12abc" -> 12, "1.9" -> 1, "0x1A" -> 0, "1e3" -> 1); NaN when there is no digit.
double JsParseInt(std::string_view text);

// Both values present and parseable and limit > 0, else nullopt (LLMix
// parseOpenAIRatelimitHeaders).
std::optional<RateLimitInfo> ParseRateLimitHeaders(std::optional<std::string_view> remaining,
                                                   std::optional<std::string_view> limit);
// Same, reading the two lower-case header names from a response header map.
std::optional<RateLimitInfo> ParseRateLimitHeaders(
    const absl::flat_hash_map<std::string, std::string>& headers);

// The semaphore's internal counters (for tests and metrics).
struct AdaptiveSemaphoreSnapshot {
  int window = 0;
  int permits = 0;  // free permits
  size_t queued = 0;
  std::array<size_t, kPriorityCount> queued_by_priority{};  // indexed by PriorityIndex
  bool has_header_signal = false;
  bool closed = false;
  int max_concurrency = 0;
  int min_concurrency = 0;
};

class AdaptiveSemaphore {
 public:
  using Ticket = uint64_t;
  // Receives OK when the permit is granted (the holder must call Release() exactly once), or
  // an error when the wait ends without one (Close(): kUnavailable "AdaptiveSemaphore is
  // closed"; Cancel(): the reason given). Called exactly once per Acquire.
  using GrantCallback = absl::AnyInvocable<void(absl::Status)>;

  // kInvalidArgument "initial must be >= 1", "minConcurrency must be >= 1" or
  // "minConcurrency must be <= initial".
  static absl::StatusOr<std::unique_ptr<AdaptiveSemaphore>> Create(const AimdOptions& options);

  AdaptiveSemaphore(const AdaptiveSemaphore&) = delete;
  AdaptiveSemaphore& operator=(const AdaptiveSemaphore&) = delete;
  ~AdaptiveSemaphore();  // rejects any still-queued waiter as Close() does

  // Grants a free permit inline (callback runs before Acquire returns), rejects inline when
  // closed, or queues the callback in `priority`'s lane (FIFO within a class; a release
  // serves the highest class first, with aging: common/priority.h). With one class only this
  // is LLMix's FIFO. The ticket identifies the wait for Cancel().
  Ticket Acquire(GrantCallback on_granted, Priority priority = Priority::kNormal);
  // Removes a still-queued waiter and runs its callback with `reason`; true if it was queued.
  // False means the callback already ran or is running (granted or rejected): a granted
  // holder still owns its permit and must Release() it.
  bool Cancel(Ticket ticket,
              absl::Status reason = absl::DeadlineExceededError("gave up waiting for a permit"));
  // Hands the permit to the next waiter (see Acquire), else frees it unless the window shrank meanwhile
  // (then the permit is absorbed).
  void Release();

  void OnSuccess();    // additive increase (only while no header feedback has been seen)
  void OnRateLimit();  // 429: window = max(floor(window / 2), min)
  // Header feedback (limit <= 0 is ignored): remaining/limit >= 0.10 grows by one, below it
  // the window targets floor(min + ratio / 0.10 * (max - min)).
  void OnHeaders(double remaining, double limit);
  // Rejects every waiter; later Acquire calls are rejected; window feedback is ignored.
  void Close();

  int window() const;
  bool closed() const;
  int max_concurrency() const { return max_; }
  int min_concurrency() const { return min_; }
  AdaptiveSemaphoreSnapshot Snapshot() const;

 private:
  struct Waiter {
    Ticket ticket;
    GrantCallback callback;
  };
  using Grants = std::vector<GrantCallback>;

  AdaptiveSemaphore(int initial, int min);
  void ReleaseLocked(Grants* grants) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdjustWindowLocked(double target, Grants* grants) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void RunGrants(Grants grants);

  const int max_;
  const int min_;
  mutable absl::Mutex mu_;
  int window_ ABSL_GUARDED_BY(mu_);
  int permits_ ABSL_GUARDED_BY(mu_);
  bool has_header_signal_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  Ticket next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  PriorityLanes<Waiter> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Ticket, PriorityLanes<Waiter>::Handle> by_ticket_ ABSL_GUARDED_BY(mu_);
};

// One AdaptiveSemaphore per provider, created on first use with shared options.
// Thread-safe; returned references stay valid for the registry's lifetime.
class LimiterRegistry {
 public:
  static absl::StatusOr<std::unique_ptr<LimiterRegistry>> Create(const AimdOptions& options);

  LimiterRegistry(const LimiterRegistry&) = delete;
  LimiterRegistry& operator=(const LimiterRegistry&) = delete;

  AdaptiveSemaphore& Get(std::string_view provider);
  // (provider, limiter) for every limiter created so far, in no particular order.
  std::vector<std::pair<std::string, AdaptiveSemaphore*>> All() const;
  // Closes every limiter (shutdown: queued waiters are rejected).
  void CloseAll();

 private:
  explicit LimiterRegistry(const AimdOptions& options) : options_(options) {}

  const AimdOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<AdaptiveSemaphore>> limiters_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::resilience
