#include "pipeline/resilience/aimd_limiter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <system_error>
#include <utility>

#include "common/js_text.h"

namespace llmix::resilience {
namespace {

constexpr double kHeaderBackoffThreshold = 0.10;
constexpr char kClosedMessage[] = "AdaptiveSemaphore is closed";

}  // namespace

double JsParseInt(std::string_view text) {
  // Trailing whitespace is irrelevant: parsing stops at the first non-digit anyway.
  std::string_view s = TrimJsWhitespace(text);
  double sign = 1;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
  }
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0) return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  const auto res = std::from_chars(s.data(), s.data() + digits, value);
  if (res.ec == std::errc::result_out_of_range) value = std::numeric_limits<double>::infinity();
  return sign * value;
}

std::optional<RateLimitInfo> ParseRateLimitHeaders(std::optional<std::string_view> remaining,
                                                   std::optional<std::string_view> limit) {
  if (!remaining.has_value() || !limit.has_value()) return std::nullopt;
  const double rem = JsParseInt(*remaining);
  const double lim = JsParseInt(*limit);
  if (std::isnan(rem) || std::isnan(lim) || !(lim > 0)) return std::nullopt;
  return RateLimitInfo{rem, lim};
}

std::optional<RateLimitInfo> ParseRateLimitHeaders(
    const absl::flat_hash_map<std::string, std::string>& headers) {
  const auto get = [&](const char* name) -> std::optional<std::string_view> {
    const auto it = headers.find(name);
    if (it == headers.end()) return std::nullopt;
    return std::string_view(it->second);
  };
  return ParseRateLimitHeaders(get("x-ratelimit-remaining-requests"),
                               get("x-ratelimit-limit-requests"));
}

absl::StatusOr<std::unique_ptr<AdaptiveSemaphore>> AdaptiveSemaphore::Create(
    const AimdOptions& options) {
  if (options.initial < 1) return absl::InvalidArgumentError("initial must be >= 1");
  if (options.min_concurrency < 1) {
    return absl::InvalidArgumentError("minConcurrency must be >= 1");
  }
  if (options.min_concurrency > options.initial) {
    return absl::InvalidArgumentError("minConcurrency must be <= initial");
  }
  return std::unique_ptr<AdaptiveSemaphore>(
      new AdaptiveSemaphore(options.initial, options.min_concurrency));
}

AdaptiveSemaphore::AdaptiveSemaphore(int initial, int min)
    : max_(initial), min_(min), window_(initial), permits_(initial) {}

AdaptiveSemaphore::~AdaptiveSemaphore() { Close(); }

void AdaptiveSemaphore::RunGrants(Grants grants) {
  for (GrantCallback& grant : grants) grant(absl::OkStatus());
}

AdaptiveSemaphore::Ticket AdaptiveSemaphore::Acquire(GrantCallback on_granted,
                                                     Priority priority) {
  absl::Status verdict;
  Ticket ticket;
  {
    absl::MutexLock lock(&mu_);
    ticket = next_ticket_++;
    if (closed_) {
      verdict = absl::UnavailableError(kClosedMessage);
    } else if (permits_ > 0) {
      --permits_;
    } else {
      by_ticket_.emplace(ticket, queue_.Push(priority, Waiter{ticket, std::move(on_granted)}));
      return ticket;
    }
  }
  on_granted(std::move(verdict));
  return ticket;
}

bool AdaptiveSemaphore::Cancel(Ticket ticket, absl::Status reason) {
  GrantCallback callback;
  {
    absl::MutexLock lock(&mu_);
    const auto it = by_ticket_.find(ticket);
    if (it == by_ticket_.end()) return false;
    callback = std::move(it->second.it->callback);
    queue_.Erase(it->second);
    by_ticket_.erase(it);
  }
  callback(std::move(reason));
  return true;
}

void AdaptiveSemaphore::ReleaseLocked(Grants* grants) {
  if (!queue_.empty()) {
    Waiter waiter = queue_.Pop();
    by_ticket_.erase(waiter.ticket);
    grants->push_back(std::move(waiter.callback));
  } else if (permits_ < window_) {
    ++permits_;
  }
  // Otherwise the permit is absorbed: the window shrank while it was held.
}

void AdaptiveSemaphore::Release() {
  Grants grants;
  {
    absl::MutexLock lock(&mu_);
    ReleaseLocked(&grants);
  }
  RunGrants(std::move(grants));
}

void AdaptiveSemaphore::OnSuccess() {
  Grants grants;
  {
    absl::MutexLock lock(&mu_);
    if (closed_ || has_header_signal_) return;
    if (window_ < max_) {
      window_ = std::min(window_ + 1, max_);
      ReleaseLocked(&grants);
    }
  }
  RunGrants(std::move(grants));
}

void AdaptiveSemaphore::OnRateLimit() {
  Grants grants;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    AdjustWindowLocked(std::max(std::floor(window_ / 2.0), static_cast<double>(min_)), &grants);
  }
  RunGrants(std::move(grants));
}

void AdaptiveSemaphore::OnHeaders(double remaining, double limit) {
  Grants grants;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    // NaN feedback is ignored (LLMix would poison its window with NaN).
    if (std::isnan(remaining) || std::isnan(limit) || limit <= 0) return;
    has_header_signal_ = true;
    const double ratio = remaining / limit;
    if (ratio >= kHeaderBackoffThreshold) {
      if (window_ < max_) {
        window_ = std::min(window_ + 1, max_);
        ReleaseLocked(&grants);
      }
    } else {
      const double scale = ratio / kHeaderBackoffThreshold;
      AdjustWindowLocked(std::floor(min_ + scale * (max_ - min_)), &grants);
    }
  }
  RunGrants(std::move(grants));
}

void AdaptiveSemaphore::AdjustWindowLocked(double target, Grants* grants) {
  if (closed_) return;
  target = std::min(std::max(target, static_cast<double>(min_)), static_cast<double>(max_));
  const int new_window = static_cast<int>(target);
  if (new_window == window_) return;
  if (new_window > window_) {
    // As in LLMix, each grown slot is a release() judged against the old window: it wakes a
    // waiter if there is one and is otherwise absorbed while all permits are free.
    const int grow = new_window - window_;
    for (int i = 0; i < grow; ++i) ReleaseLocked(grants);
  } else {
    // Shrinking removes free permits only; permits held now are absorbed on release.
    permits_ = std::max(0, permits_ - (window_ - new_window));
  }
  window_ = new_window;
}

void AdaptiveSemaphore::Close() {
  std::list<Waiter> rejected;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    rejected = queue_.TakeAll();
    by_ticket_.clear();
  }
  for (Waiter& waiter : rejected) waiter.callback(absl::UnavailableError(kClosedMessage));
}

int AdaptiveSemaphore::window() const {
  absl::MutexLock lock(&mu_);
  return window_;
}

bool AdaptiveSemaphore::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

AdaptiveSemaphoreSnapshot AdaptiveSemaphore::Snapshot() const {
  absl::MutexLock lock(&mu_);
  AdaptiveSemaphoreSnapshot s;
  s.window = window_;
  s.permits = permits_;
  s.queued = queue_.size();
  for (Priority p : kAllPriorities) s.queued_by_priority[PriorityIndex(p)] = queue_.size(p);
  s.has_header_signal = has_header_signal_;
  s.closed = closed_;
  s.max_concurrency = max_;
  s.min_concurrency = min_;
  return s;
}

absl::StatusOr<std::unique_ptr<LimiterRegistry>> LimiterRegistry::Create(
    const AimdOptions& options) {
  absl::StatusOr<std::unique_ptr<AdaptiveSemaphore>> probe = AdaptiveSemaphore::Create(options);
  if (!probe.ok()) return probe.status();
  return std::unique_ptr<LimiterRegistry>(new LimiterRegistry(options));
}

AdaptiveSemaphore& LimiterRegistry::Get(std::string_view provider) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<AdaptiveSemaphore>& slot = limiters_[std::string(provider)];
  if (slot == nullptr) slot = std::move(AdaptiveSemaphore::Create(options_)).value();
  return *slot;
}

void LimiterRegistry::CloseAll() {
  std::vector<AdaptiveSemaphore*> all;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, limiter] : limiters_) all.push_back(limiter.get());
  }
  for (AdaptiveSemaphore* limiter : all) limiter->Close();
}

}  // namespace llmix::resilience

namespace llmix::resilience {

std::vector<std::pair<std::string, AdaptiveSemaphore*>> LimiterRegistry::All() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, AdaptiveSemaphore*>> out;
  for (const auto& [provider, limiter] : limiters_) out.emplace_back(provider, limiter.get());
  return out;
}

}  // namespace llmix::resilience
