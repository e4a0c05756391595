#include "pipeline/resilience/circuit_breaker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pipeline/resilience/retry_policy.h"

namespace llmix::resilience {
namespace {

constexpr absl::Duration kMaxCooldown = absl::Milliseconds(300000);

}  // namespace

std::string_view CircuitStateName(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "CLOSED";
    case CircuitState::kOpen:
      return "OPEN";
    case CircuitState::kHalfOpen:
      return "HALF_OPEN";
  }
  return "UNKNOWN";
}

CircuitBreaker::CircuitBreaker(std::string provider, std::string base_url, const Clock& clock,
                               const CircuitBreakerOptions& options)
    : provider_(std::move(provider)),
      base_url_(std::move(base_url)),
      clock_(clock),
      options_(options),
      cooldown_(options.cooldown) {}

CircuitState CircuitBreaker::StateLocked() {
  if (state_ == CircuitState::kOpen && clock_.Monotonic() - opened_at_ >= cooldown_) {
    state_ = CircuitState::kHalfOpen;
    half_open_active_ = 0;
    half_open_successes_ = 0;
    half_open_failures_ = 0;
  }
  return state_;
}

void CircuitBreaker::OpenLocked() {
  state_ = CircuitState::kOpen;
  opened_at_ = clock_.Monotonic();
}

void CircuitBreaker::EvaluateHalfOpenLocked() {
  if (half_open_successes_ + half_open_failures_ < options_.permitted_half_open_calls) return;
  if (half_open_successes_ > half_open_failures_) {
    state_ = CircuitState::kClosed;
    consecutive_failures_ = 0;
    cooldown_ = options_.cooldown;
  } else {
    OpenLocked();
    cooldown_ = std::min(cooldown_ * 2, kMaxCooldown);
  }
}

absl::Status CircuitBreaker::Check(bool* probe) {
  absl::MutexLock lock(&mu_);
  if (probe != nullptr) *probe = false;
  const CircuitState current = StateLocked();
  if (current == CircuitState::kClosed) return absl::OkStatus();
  if (current == CircuitState::kHalfOpen &&
      half_open_active_ < options_.permitted_half_open_calls) {
    ++half_open_active_;
    if (probe != nullptr) *probe = true;
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat("Circuit breaker OPEN for (", provider_, ", ", base_url_, ")"));
}

void CircuitBreaker::RecordSuccess() {
  absl::MutexLock lock(&mu_);
  if (state_ == CircuitState::kHalfOpen) {
    ++half_open_successes_;
    EvaluateHalfOpenLocked();
    return;
  }
  state_ = CircuitState::kClosed;
  consecutive_failures_ = 0;
}

void CircuitBreaker::RecordFailure(const CircuitFailure& failure) {
  absl::MutexLock lock(&mu_);
  const bool counts = failure.network_error ||
                      (failure.http_status.has_value() && IsRetryableStatus(*failure.http_status));
  if (state_ == CircuitState::kHalfOpen) {
    if (counts) {
      ++half_open_failures_;
    } else {
      ++half_open_successes_;  // the server answered: reachable
    }
    EvaluateHalfOpenLocked();
    return;
  }
  // Auth errors prove the server reachable even with the network flag set; so does any other
  // non-counting outcome. Both reset the consecutive counter.
  const bool auth_error = failure.http_status.has_value() &&
                          (*failure.http_status == 401 || *failure.http_status == 403);
  if (auth_error || !counts) {
    consecutive_failures_ = 0;
    return;
  }
  ++consecutive_failures_;
  if (consecutive_failures_ >= options_.failure_threshold) OpenLocked();
}

void CircuitBreaker::CancelProbe() {
  absl::MutexLock lock(&mu_);
  if (state_ != CircuitState::kHalfOpen) return;
  if (half_open_successes_ + half_open_failures_ >= half_open_active_) return;
  ++half_open_failures_;
  EvaluateHalfOpenLocked();
}

void CircuitBreaker::Reset() {
  absl::MutexLock lock(&mu_);
  state_ = CircuitState::kClosed;
  consecutive_failures_ = 0;
  opened_at_ = absl::ZeroDuration();
  half_open_active_ = 0;
  half_open_successes_ = 0;
  half_open_failures_ = 0;
  cooldown_ = options_.cooldown;
}

CircuitState CircuitBreaker::state() {
  absl::MutexLock lock(&mu_);
  return StateLocked();
}

CircuitBreakerSnapshot CircuitBreaker::Snapshot() const {
  absl::MutexLock lock(&mu_);
  CircuitBreakerSnapshot s;
  s.raw_state = state_;
  s.consecutive_failures = consecutive_failures_;
  s.cooldown = cooldown_;
  s.opened_at = opened_at_;
  s.half_open_active = half_open_active_;
  s.half_open_successes = half_open_successes_;
  s.half_open_failures = half_open_failures_;
  return s;
}

CircuitBreaker& CircuitBreakerRegistry::Get(std::string_view provider, std::string_view base_url) {
  absl::MutexLock lock(&mu_);
  auto key = std::make_pair(std::string(provider), std::string(base_url));
  auto it = breakers_.find(key);
  if (it == breakers_.end()) {
    auto breaker = std::make_unique<CircuitBreaker>(key.first, key.second, clock_, options_);
    it = breakers_.emplace(std::move(key), std::move(breaker)).first;
  }
  return *it->second;
}

size_t CircuitBreakerRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return breakers_.size();
}

}  // namespace llmix::resilience

namespace llmix::resilience {

std::vector<CircuitBreaker*> CircuitBreakerRegistry::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<CircuitBreaker*> out;
  for (const auto& [key, breaker] : breakers_) out.push_back(breaker.get());
  return out;
}

}  // namespace llmix::resilience
