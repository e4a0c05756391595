#include "pipeline/resilience/key_limits.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/canonical_json.h"
#include "common/provider_catalog.h"

namespace llmix::resilience {

namespace {

constexpr int64_t kMaxLimit = 1000000000;

// A limit variable: unset or blank -> 0 (no limit), else a whole number in [0, kMaxLimit].
absl::StatusOr<int64_t> LimitFromEnv(const Env& env, const std::string& name) {
  std::optional<std::string> raw = env.Get(name);
  if (!raw.has_value()) return 0;
  const std::string value(absl::StripAsciiWhitespace(*raw));
  if (value.empty()) return 0;
  int64_t v = 0;
  if (!absl::SimpleAtoi(value, &v) || v < 0 || v > kMaxLimit ||
      value.find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": expected a whole number in [0, ",
                                                   kMaxLimit, "] (0: no limit), got \"", value,
                                                   "\""));
  }
  return v;
}

}  // namespace

std::string KeyFingerprint(std::string_view key) { return Sha256Hex(key).substr(0, 8); }

absl::StatusOr<absl::flat_hash_map<std::string, KeyLimits>> KeyLimitsFromEnv(const Env& env) {
  absl::flat_hash_map<std::string, KeyLimits> out;
  for (const ProviderInfo& p : AllProviders()) {
    const std::string prefix = ProviderEnvPrefix(p.name);
    KeyLimits limits;
    absl::StatusOr<int64_t> rpm = LimitFromEnv(env, prefix + "_KEY_RPM");
    if (!rpm.ok()) return rpm.status();
    absl::StatusOr<int64_t> tpm = LimitFromEnv(env, prefix + "_KEY_TPM");
    if (!tpm.ok()) return tpm.status();
    limits.rpm = *rpm;
    limits.tpm = *tpm;
    if (limits.active()) out.emplace(std::string(p.name), limits);
  }
  return out;
}

// --- KeyReservation --------------------------------------------------------------------------

KeyReservation& KeyReservation::operator=(KeyReservation&& other) noexcept {
  if (this != &other) {
    if (limiter_ != nullptr) Settle(tokens_, true);
    limiter_ = std::move(other.limiter_);
    other.limiter_ = nullptr;
    window_ = other.window_;
    second_ = other.second_;
    tokens_ = other.tokens_;
  }
  return *this;
}

KeyReservation::~KeyReservation() {
  if (limiter_ != nullptr) Settle(tokens_, true);
}

void KeyReservation::Settle(int64_t actual_tokens, bool sent) {
  if (limiter_ == nullptr) return;
  std::shared_ptr<KeyRateLimiter> limiter = std::move(limiter_);
  limiter_ = nullptr;
  limiter->Settle(*this, actual_tokens, sent);
}

// --- KeyRateLimiter --------------------------------------------------------------------------

std::shared_ptr<KeyRateLimiter> KeyRateLimiter::Create(KeyLimits limits, const Clock& clock) {
  return std::shared_ptr<KeyRateLimiter>(new KeyRateLimiter(limits, clock));
}

int64_t KeyRateLimiter::NowSecond() const {
  return absl::ToInt64Seconds(clock_.Monotonic());  // truncates: the current one-second bucket
}

KeyRateLimiter::Window& KeyRateLimiter::WindowFor(std::string_view key) {
  auto [it, inserted] = windows_.try_emplace(std::string(key));
  if (inserted) it->second.fingerprint = KeyFingerprint(key);
  return it->second;
}

// A bucket of second s counts while now < s + 60 s.
void KeyRateLimiter::Prune(Window& w, int64_t now_second) {
  while (!w.buckets.empty() && w.buckets.front().second + kWindowSeconds <= now_second) {
    w.requests -= w.buckets.front().requests;
    w.tokens -= w.buckets.front().tokens;
    w.buckets.pop_front();
  }
}

bool KeyRateLimiter::Fits(const Window& w, int64_t tokens) const {
  if (limits_.rpm > 0 && w.requests + 1 > limits_.rpm) return false;
  if (limits_.tpm > 0 && w.tokens + std::min(tokens, limits_.tpm) > limits_.tpm) return false;
  return true;
}

std::optional<KeyReservation> KeyRateLimiter::TryReserve(std::string_view key, int64_t tokens) {
  tokens = std::max<int64_t>(tokens, 0);
  const int64_t now = NowSecond();
  absl::MutexLock l(&mu_);
  Window& w = WindowFor(key);
  Prune(w, now);
  if (!Fits(w, tokens)) return std::nullopt;
  if (w.buckets.empty() || w.buckets.back().second != now) w.buckets.push_back({now, 0, 0});
  w.buckets.back().requests += 1;
  w.buckets.back().tokens += tokens;
  w.requests += 1;
  w.tokens += tokens;
  KeyReservation r;
  r.limiter_ = shared_from_this();
  r.window_ = &w;
  r.second_ = now;
  r.tokens_ = tokens;
  return r;
}

absl::Duration KeyRateLimiter::TimeUntilFree(std::string_view key, int64_t tokens) {
  tokens = std::max<int64_t>(tokens, 0);
  const absl::Duration now = clock_.Monotonic();
  absl::MutexLock l(&mu_);
  Window& w = WindowFor(key);
  Prune(w, absl::ToInt64Seconds(now));
  if (Fits(w, tokens)) return absl::ZeroDuration();
  // Drop the oldest buckets one by one until the request fits; it frees when the last one
  // dropped leaves the window.
  Window rest;
  rest.requests = w.requests;
  rest.tokens = w.tokens;
  for (const Bucket& b : w.buckets) {
    rest.requests -= b.requests;
    rest.tokens -= b.tokens;
    if (Fits(rest, tokens)) {
      return std::max(absl::Seconds(b.second + kWindowSeconds) - now, absl::ZeroDuration());
    }
  }
  return absl::Seconds(kWindowSeconds);  // unreachable: an empty window always fits
}

void KeyRateLimiter::Settle(KeyReservation& r, int64_t actual_tokens, bool sent) {
  actual_tokens = std::max<int64_t>(actual_tokens, 0);
  absl::MutexLock l(&mu_);
  Window& w = *static_cast<Window*>(r.window_);
  // The bucket may have left the window already: then there is nothing to correct.
  for (auto it = w.buckets.rbegin(); it != w.buckets.rend(); ++it) {
    if (it->second < r.second_) break;
    if (it->second != r.second_) continue;
    const int64_t delta = (sent ? actual_tokens : 0) - r.tokens_;
    const int64_t tokens = std::max<int64_t>(it->tokens + delta, 0);
    w.tokens += tokens - it->tokens;
    it->tokens = tokens;
    if (!sent && it->requests > 0) {
      it->requests -= 1;
      w.requests -= 1;
    }
    break;
  }
}

std::vector<KeyWindowStats> KeyRateLimiter::Stats() {
  const int64_t now = NowSecond();
  absl::MutexLock l(&mu_);
  std::vector<KeyWindowStats> out;
  out.reserve(windows_.size());
  for (auto& [key, w] : windows_) {
    Prune(w, now);
    out.push_back({w.fingerprint, w.requests, w.tokens});
  }
  std::sort(out.begin(), out.end(), [](const KeyWindowStats& a, const KeyWindowStats& b) {
    return a.fingerprint < b.fingerprint;
  });
  return out;
}

// --- selection -------------------------------------------------------------------------------

absl::StatusOr<LimitedSelection> SelectWithinLimits(KeyPool& pool, KeyRateLimiter& limiter,
                                                    int64_t tokens, absl::Duration* free_in) {
  LimitedSelection sel;
  absl::StatusOr<std::string> key = pool.SelectWhere([&](const std::string& candidate) {
    std::optional<KeyReservation> r = limiter.TryReserve(candidate, tokens);
    if (!r.has_value()) {
      ++sel.skipped;
      return false;
    }
    sel.reservation = std::move(*r);
    return true;
  });
  if (sel.skipped > 0) limiter.CountSkip(sel.skipped);
  if (key.ok()) {
    sel.key = std::move(*key);
    return sel;
  }
  if (key.status().code() == absl::StatusCode::kResourceExhausted && free_in != nullptr) {
    const KeyPoolSnapshot snap = pool.Snapshot();
    absl::Duration first = absl::InfiniteDuration();
    for (size_t i = 0; i < pool.keys().size(); ++i) {
      if (std::find(snap.dead_indices.begin(), snap.dead_indices.end(), i) !=
          snap.dead_indices.end()) {
        continue;
      }
      first = std::min(first, limiter.TimeUntilFree(pool.keys()[i], tokens));
    }
    *free_in = first;
  }
  return key.status();
}

}  // namespace llmix::resilience
