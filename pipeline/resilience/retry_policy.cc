#include "pipeline/resilience/retry_policy.h"

#include "common/canonical_json.h"
#include "common/js_date.h"
#include "common/js_text.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmix::resilience {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double JsMin(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  if (a == 0 && b == 0) return std::signbit(a) ? a : b;
  return b < a ? b : a;
}

// ---------------------------------------------------------------------------------------------
// 2 ** y as V8 computes it. V8 evaluates `**` with fdlibm's pow, which is not always correctly
// rounded (2 ** 1.5 is 2.82842712474619, one ulp below the true value), so the C library's pow
// cannot be used. With x = 2 fdlibm's log2(x) step is exact (t1 = 1, t2 = 0) and only its
// exp2 reconstruction remains; the steps and constants below follow fdlibm e_pow.c:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunSoft, a Sun Microsystems, Inc. business. Permission to use, copy, modify,
//   and distribute this software is freely granted, provided that this notice is preserved.
// ---------------------------------------------------------------------------------------------

int32_t HighWord(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return static_cast<int32_t>(bits >> 32);
}

uint32_t LowWord(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return static_cast<uint32_t>(bits);
}

double WithWords(uint32_t high, uint32_t low) {
  const uint64_t bits = (static_cast<uint64_t>(high) << 32) | low;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

double JsPow2(double y) {
  constexpr double kLn2 = 6.93147180559945286227e-01;     // 0x3FE62E42 FEFA39EF
  constexpr double kLn2Hi = 6.93147182464599609375e-01;   // 0x3FE62E43 00000000
  constexpr double kLn2Lo = -1.90465429995776804525e-09;  // 0xBE205C61 0CA86C39
  constexpr double kOverflowTail = 8.0085662595372944372e-17;
  constexpr double kP1 = 1.66666666666666019037e-01;
  constexpr double kP2 = -2.77777777770155933842e-03;
  constexpr double kP3 = 6.61375632143793436117e-05;
  constexpr double kP4 = -1.65339022054652515390e-06;
  constexpr double kP5 = 4.13813679705723846039e-08;

  if (std::isnan(y)) return kNaN;
  if (y == 0) return 1.0;
  if (std::isinf(y)) return y > 0 ? kInf : 0.0;
  const int32_t hy = HighWord(y);
  const int32_t iy = hy & 0x7FFFFFFF;
  if (LowWord(y) == 0) {
    if (iy == 0x3FF00000) return hy < 0 ? 0.5 : 2.0;
    if (hy == 0x40000000) return 4.0;
    if (hy == 0x3FE00000) return std::sqrt(2.0);
  }
  if (iy > 0x41E00000) return hy > 0 ? kInf : 0.0;  // |y| > 2^31: certain over/underflow

  // y * log2(2) split as p_h + p_l, p_h having its low 32 bits clear.
  const double y_hi = WithWords(static_cast<uint32_t>(hy), 0);
  double p_l = (y - y_hi) * 1.0 + y * 0.0;
  double p_h = y_hi;
  double z = p_l + p_h;
  int32_t j = HighWord(z);
  const uint32_t i_low = LowWord(z);
  if (j >= 0x40900000) {  // z >= 1024
    if (((static_cast<uint32_t>(j) - 0x40900000u) | i_low) != 0) return kInf;
    if (p_l + kOverflowTail > z - p_h) return kInf;
  } else if ((j & 0x7FFFFFFF) >= 0x4090CC00) {  // z <= -1075
    if (((static_cast<uint32_t>(j) - 0xC090CC00u) | i_low) != 0) return 0.0;
    if (p_l <= z - p_h) return 0.0;
  }

  // Split z = n + r with |r| <= 0.5, then 2^r by the rational approximation of exp.
  const int32_t i = j & 0x7FFFFFFF;
  int32_t k = (i >> 20) - 0x3FF;
  int32_t n = 0;
  if (i > 0x3FE00000) {
    n = j + (0x00100000 >> (k + 1));
    k = ((n & 0x7FFFFFFF) >> 20) - 0x3FF;
    const double whole = WithWords(static_cast<uint32_t>(n & ~(0x000FFFFF >> k)), 0);
    n = ((n & 0x000FFFFF) | 0x00100000) >> (20 - k);
    if (j < 0) n = -n;
    p_h -= whole;
  }
  double t = WithWords(static_cast<uint32_t>(HighWord(p_l + p_h)), 0);
  const double u = t * kLn2Hi;
  const double v = (p_l - (t - p_h)) * kLn2 + t * kLn2Lo;
  z = u + v;
  const double w = v - (z - u);
  t = z * z;
  const double t1 = z - t * (kP1 + t * (kP2 + t * (kP3 + t * (kP4 + t * kP5))));
  const double r = (z * t1) / ((t1 - 2.0) - (w + z * w));
  z = 1.0 - (r - z);
  j = HighWord(z) + static_cast<int32_t>(static_cast<uint32_t>(n) << 20);
  if ((j >> 20) <= 0) return std::scalbn(z, n);  // subnormal result
  return WithWords(static_cast<uint32_t>(j), LowWord(z));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public helpers
// ---------------------------------------------------------------------------------------------

bool IsRetryableStatus(double status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool IsRetryableStatus(int status) { return IsRetryableStatus(static_cast<double>(status)); }

absl::Status ValidateRetryOptions(const RetryOptions& o) {
  const auto is_integer = [](double v) { return std::isfinite(v) && std::trunc(v) == v; };
  if (!is_integer(o.max_retries) || o.max_retries < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maxRetries must be a non-negative integer, got ", JsNumberToString(o.max_retries)));
  }
  const std::pair<const char*, double> finite_fields[] = {
      {"baseMs", o.base_ms},
      {"maxDelayMs", o.max_delay_ms},
      {"jitterMs", o.jitter_ms},
      {"maxRetryAfterMs", o.retry_after_cap_ms},
  };
  for (const auto& [name, v] : finite_fields) {
    if (!std::isfinite(v) || v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be a non-negative finite number, got ", JsNumberToString(v)));
    }
  }
  return absl::OkStatus();
}

double CalculateDelayMs(double attempt, const RetryOptions& options, double random) {
  const double exponential = JsMin(JsPow2(attempt) * options.base_ms, options.max_delay_ms);
  const double jitter = std::floor(random * (options.jitter_ms + 1));
  return exponential + jitter;
}

std::optional<double> ParseRetryAfterMs(std::string_view header, absl::Time now, double cap_ms) {
  const std::string_view trimmed = TrimJsWhitespace(header);
  bool all_digits = !trimmed.empty();
  for (char c : trimmed) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    double seconds = 0;
    const auto res = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), seconds);
    if (res.ec == std::errc::result_out_of_range) seconds = kInf;  // parseInt gives Infinity
    return JsMin(seconds * 1000, cap_ms);
  }
  const std::optional<double> date_ms = ParseJsDateMs(header);
  if (date_ms.has_value()) {
    const double delta = *date_ms - static_cast<double>(absl::ToUnixMillis(now));
    if (delta > 0) return JsMin(delta, cap_ms);
  }
  return std::nullopt;
}

absl::StatusOr<RetryPolicy> RetryPolicy::Create(const RetryOptions& options) {
  if (absl::Status s = ValidateRetryOptions(options); !s.ok()) return s;
  return RetryPolicy(options);
}

double RetryPolicy::GetDelayMs(double attempt, std::optional<std::string_view> retry_after,
                               absl::Time now, double random) const {
  if (retry_after.has_value()) {
    if (std::optional<double> ms =
            ParseRetryAfterMs(*retry_after, now, options_.retry_after_cap_ms)) {
      return *ms;
    }
  }
  return CalculateDelayMs(attempt, options_, random);
}

std::optional<double> RetryPolicy::NextRetryDelayMs(double attempt, bool retryable,
                                                    std::optional<std::string_view> retry_after,
                                                    absl::Time now, double random) const {
  if (attempt >= options_.max_retries) return std::nullopt;
  if (!retryable) return std::nullopt;
  return GetDelayMs(attempt, retry_after, now, random);
}

}  // namespace llmix::resilience
