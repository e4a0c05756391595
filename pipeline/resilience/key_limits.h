// Per-key request and token limits (RPM / TPM) for a provider's key pool: a sidecar addition on
// top of LLMix's KeyPool, inactive unless `<PROVIDER>_KEY_RPM` / `<PROVIDER>_KEY_TPM` are set.
// Each key has a sliding one-minute window of per-second buckets; a call reserves one request
// and its estimated tokens on the key it selects and settles them with the real usage when the
// attempt ends (exactly once: a KeyReservation settles itself when dropped). Keys are only ever
// named by their fingerprint (8 hex digits of SHA-256). KeyRateLimiter is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/env.h"
#include "pipeline/resilience/key_pool.h"

namespace llmix::resilience {

// Limits of every key of one provider's pool; 0 means "no limit" for that dimension.
struct KeyLimits {
  int64_t rpm = 0;  // requests per key per minute
  int64_t tpm = 0;  // tokens (input + output) per key per minute
  bool active() const { return rpm > 0 || tpm > 0; }
};

// The first 8 hex digits of SHA-256(key): how metrics and logs name a key.
std::string KeyFingerprint(std::string_view key);

// `<P>_KEY_RPM` / `<P>_KEY_TPM` for every catalog provider (<P> as for `<P>_KEYS`): a map from
// provider name to its limits, holding only providers with a limit set. A value that is not a
// whole number in [1, 1e9] (blank counts as unset) is kInvalidArgument naming the variable.
absl::StatusOr<absl::flat_hash_map<std::string, KeyLimits>> KeyLimitsFromEnv(const Env& env);

// One key's window as /metrics shows it.
struct KeyWindowStats {
  std::string fingerprint;
  int64_t requests = 0;  // requests in the last minute (reserved or settled)
  int64_t tokens = 0;    // tokens in the last minute (estimates until settled)
};

class KeyRateLimiter;

// A request reserved on one key. Settle() records what the attempt really used; a reservation
// dropped without Settle() keeps its estimate (the conservative choice). Move-only.
class KeyReservation {
 public:
  KeyReservation() = default;
  KeyReservation(KeyReservation&& other) noexcept { *this = std::move(other); }
  KeyReservation& operator=(KeyReservation&& other) noexcept;
  KeyReservation(const KeyReservation&) = delete;
  KeyReservation& operator=(const KeyReservation&) = delete;
  ~KeyReservation();

  // `sent`: the request reached (or may have reached) the provider, so it counts towards the
  // RPM; otherwise the request is released too. `actual_tokens` replaces the estimate. Only
  // the first call has an effect.
  void Settle(int64_t actual_tokens, bool sent);
  bool pending() const { return limiter_ != nullptr; }
  int64_t estimated_tokens() const { return tokens_; }

 private:
  friend class KeyRateLimiter;
  std::shared_ptr<KeyRateLimiter> limiter_;
  void* window_ = nullptr;  // the key's window inside limiter_ (stable address)
  int64_t second_ = 0;      // the bucket it was counted in
  int64_t tokens_ = 0;
};

class KeyRateLimiter : public std::enable_shared_from_this<KeyRateLimiter> {
 public:
  static constexpr int64_t kWindowSeconds = 60;

  static std::shared_ptr<KeyRateLimiter> Create(KeyLimits limits, const Clock& clock);
  KeyRateLimiter(const KeyRateLimiter&) = delete;
  KeyRateLimiter& operator=(const KeyRateLimiter&) = delete;

  const KeyLimits& limits() const { return limits_; }

  // Reserves one request and `tokens` on `key` when both fit in its window; nullopt (nothing
  // reserved) otherwise. A request larger than the whole TPM fits only a key whose token
  // window is empty (it could never fit otherwise).
  std::optional<KeyReservation> TryReserve(std::string_view key, int64_t tokens);
  // How long until `key` could take one request of `tokens`: zero when it can now.
  absl::Duration TimeUntilFree(std::string_view key, int64_t tokens);

  // Every key seen so far, its window pruned to the last minute.
  std::vector<KeyWindowStats> Stats();

  // Counters for /metrics: a key passed over at its limit; a call that waited because every
  // key was at its limit; a call refused (RATE_LIMITED) because none frees before its deadline.
  void CountSkip(int64_t n = 1) { skips_.fetch_add(n); }
  void CountWait() { waits_.fetch_add(1); }
  void CountReject() { rejects_.fetch_add(1); }
  int64_t skips() const { return skips_.load(); }
  int64_t waits() const { return waits_.load(); }
  int64_t rejects() const { return rejects_.load(); }

 private:
  friend class KeyReservation;
  struct Bucket {
    int64_t second = 0;
    int64_t requests = 0;
    int64_t tokens = 0;
  };
  struct Window {
    std::string fingerprint;
    std::deque<Bucket> buckets;  // ascending seconds, within the last minute
    int64_t requests = 0;
    int64_t tokens = 0;
  };

  KeyRateLimiter(KeyLimits limits, const Clock& clock) : limits_(limits), clock_(clock) {}
  int64_t NowSecond() const;
  Window& WindowFor(std::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Prune(Window& w, int64_t now_second);
  bool Fits(const Window& w, int64_t tokens) const;
  void Settle(KeyReservation& r, int64_t actual_tokens, bool sent);

  const KeyLimits limits_;
  const Clock& clock_;
  absl::Mutex mu_;
  // Keyed by the key text (memory only; never exported). node_hash_map: stable addresses.
  absl::node_hash_map<std::string, Window> windows_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> skips_{0};
  std::atomic<int64_t> waits_{0};
  std::atomic<int64_t> rejects_{0};
};

// The outcome of a limited selection.
struct LimitedSelection {
  std::string key;
  KeyReservation reservation;
  int skipped = 0;  // keys passed over because they were at their limit
};

// LLMix's sticky selection with limits: the first alive key, from the current one on, whose
// window takes one more request of `tokens` becomes the current key and gets the reservation.
// Every key dead: KeyPool::Select's kFailedPrecondition. Every alive key at its limit:
// kResourceExhausted, with `*free_in` set to the time until the first of them frees.
absl::StatusOr<LimitedSelection> SelectWithinLimits(KeyPool& pool, KeyRateLimiter& limiter,
                                                    int64_t tokens, absl::Duration* free_in);

}  // namespace llmix::resilience
