// Runs every case of the `retry` fixture family through pipeline/resilience/retry_policy.h,
// plus direct tests of the JS-compatible helpers (Date.parse, Number::toString, 2 ** n).
#include "pipeline/resilience/retry_policy.h"

#include "common/canonical_json.h"
#include "common/js_date.h"
#include "common/js_text.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/pipeline/resilience/resilience_test_util.h"
#include "tests/support/fixtures.h"

namespace llmix::resilience {
namespace {

using nlohmann::json;
using testing::Field;
using testing::IsAbsent;
using testing::SameNumber;
using testing::TimeFromMs;

// RetryOptions from a (partial) LLMix options object; null/undefined keep the default.
RetryOptions OptionsFrom(const json& in) {
  RetryOptions o;
  const std::pair<const char*, double*> fields[] = {
      {"maxRetries", &o.max_retries},
      {"baseMs", &o.base_ms},
      {"maxDelayMs", &o.max_delay_ms},
      {"jitterMs", &o.jitter_ms},
      {"maxRetryAfterMs", &o.retry_after_cap_ms},
  };
  for (const auto& [name, slot] : fields) {
    if (const json* v = Field(in, name)) {
      EXPECT_TRUE(v->is_number()) << name << " is not a number: " << v->dump();
      if (v->is_number()) *slot = v->get<double>();
    }
  }
  return o;
}

std::optional<std::string> HeaderFrom(const json& in, const char* key) {
  const json* v = Field(in, key);
  if (v == nullptr) return std::nullopt;
  EXPECT_TRUE(v->is_string()) << v->dump();
  return v->is_string() ? std::optional<std::string>(v->get<std::string>()) : std::nullopt;
}

void ExpectDelay(const json& expected, std::optional<double> actual, const char* key) {
  const json& want = expected.at(key);
  if (IsAbsent(want)) {
    EXPECT_FALSE(actual.has_value()) << key << " = " << actual.value_or(0);
  } else {
    ASSERT_TRUE(actual.has_value()) << key << " expected " << want.dump();
    EXPECT_TRUE(SameNumber(*actual, want.get<double>()))
        << key << ": got " << JsNumberToString(*actual) << ", want " << want.dump();
  }
}

void RunIsRetryable(const json& in, const json& want) {
  const double status = in.at("status").get<double>();
  EXPECT_EQ(IsRetryableStatus(status), want.at("retryable").get<bool>());
  if (std::trunc(status) == status && std::fabs(status) < 1e9) {
    EXPECT_EQ(IsRetryableStatus(static_cast<int>(status)), want.at("retryable").get<bool>());
  }
}

void RunCalculateDelay(const json& in, const json& want) {
  const RetryOptions o = OptionsFrom(in.value("options", json::object()));
  const double attempt = in.at("attempt").get<double>();
  ExpectDelay(want, CalculateDelayMs(attempt, o, in.at("random").get<double>()), "delayMs");
  ExpectDelay(want, CalculateDelayMs(attempt, o, 0.0), "minMs");
  ExpectDelay(want, CalculateDelayMs(attempt, o, std::nextafter(1.0, 0.0)), "maxMs");
}

void RunParseRetryAfter(const json& in, const json& want) {
  const std::optional<std::string> header = HeaderFrom(in, "header");
  const absl::Time now = TimeFromMs(in.at("nowMs"));
  std::optional<double> got;  // an absent header is never a Retry-After
  if (header.has_value()) {
    const json* cap = Field(in, "maxMs");
    got = cap != nullptr ? ParseRetryAfterMs(*header, now, cap->get<double>())
                         : ParseRetryAfterMs(*header, now);
  }
  ExpectDelay(want, got, "delayMs");
}

void RunCtor(const json& in, const json& want) {
  const absl::StatusOr<RetryPolicy> policy =
      RetryPolicy::Create(OptionsFrom(in.value("options", json::object())));
  if (const json* error = Field(want, "error")) {
    ASSERT_FALSE(policy.ok());
    EXPECT_EQ(error->at("type"), "RangeError");
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(policy.status().message(), error->at("message").get<std::string>());
    return;
  }
  ASSERT_TRUE(policy.ok()) << policy.status();
  const RetryOptions& o = policy->options();
  EXPECT_TRUE(SameNumber(o.max_retries, want.at("maxRetries").get<double>()));
  EXPECT_TRUE(SameNumber(o.base_ms, want.at("baseMs").get<double>()));
  EXPECT_TRUE(SameNumber(o.max_delay_ms, want.at("maxDelayMs").get<double>()));
  EXPECT_TRUE(SameNumber(o.jitter_ms, want.at("jitterMs").get<double>()));
  EXPECT_TRUE(SameNumber(o.retry_after_cap_ms, want.at("maxRetryAfterMs").get<double>()));
}

void RunGetDelay(const json& in, const json& want) {
  const absl::StatusOr<RetryPolicy> policy =
      RetryPolicy::Create(OptionsFrom(in.value("options", json::object())));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const std::optional<std::string> header = HeaderFrom(in, "header");
  const double got = policy->GetDelayMs(
      in.at("attempt").get<double>(),
      header.has_value() ? std::optional<std::string_view>(*header) : std::nullopt,
      TimeFromMs(in.at("nowMs")), in.at("random").get<double>());
  ExpectDelay(want, got, "delayMs");
}

// LLMix execute(): scripted failures, then success; sleeps are the delays the policy asks for.
void RunExecute(const json& in, const json& want) {
  const absl::StatusOr<RetryPolicy> policy =
      RetryPolicy::Create(OptionsFrom(in.value("options", json::object())));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const json* predicate = Field(in, "predicate");
  if (predicate != nullptr) {
    ASSERT_EQ(*predicate, "isRetryable(statusCode)");
  }
  const json& failures = in.at("failures");
  const absl::Time now = Field(in, "nowMs") ? TimeFromMs(in.at("nowMs")) : absl::UnixEpoch();
  const double random = in.at("random").get<double>();

  int attempts = 0;
  std::vector<double> sleeps;
  std::optional<json> thrown_status;
  bool succeeded = false;
  for (size_t attempt = 0;; ++attempt) {
    ++attempts;
    if (attempt >= failures.size()) {
      succeeded = true;
      break;
    }
    const json& failure = failures[attempt];
    const json* status = Field(failure, "statusCode");
    const bool retryable =
        predicate == nullptr || (status != nullptr && IsRetryableStatus(status->get<double>()));
    std::optional<std::string> retry_after;
    if (const json* headers = Field(failure, "headers")) {
      retry_after = HeaderFrom(*headers, "retry-after");
    }
    const std::optional<double> delay = policy->NextRetryDelayMs(
        static_cast<double>(attempt), retryable,
        retry_after.has_value() ? std::optional<std::string_view>(*retry_after) : std::nullopt, now,
        random);
    if (!delay.has_value()) {
      thrown_status = status != nullptr ? *status : json();
      break;
    }
    sleeps.push_back(*delay);
  }
  EXPECT_EQ(attempts, want.at("attempts").get<int>());
  const json& want_sleeps = want.at("sleepsMs");
  ASSERT_EQ(sleeps.size(), want_sleeps.size());
  for (size_t i = 0; i < sleeps.size(); ++i) {
    EXPECT_TRUE(SameNumber(sleeps[i], want_sleeps[i].get<double>())) << "sleep " << i;
  }
  if (want.contains("value")) {
    EXPECT_TRUE(succeeded);
    EXPECT_EQ(want.at("value"), "ok");
  } else {
    ASSERT_FALSE(succeeded);
    ASSERT_TRUE(thrown_status.has_value());
    EXPECT_EQ(*thrown_status, want.at("thrownStatus"));
  }
}

TEST(RetryFixturesTest, EveryCase) {
  const auto cases = llmix::testing::LoadFixtureCases("retry");
  ASSERT_FALSE(cases.empty());
  std::map<std::string, int> ran;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string fn = c.input.at("fn").get<std::string>();
    if (fn == "isRetryable") {
      RunIsRetryable(c.input, c.expected);
    } else if (fn == "calculateDelay") {
      RunCalculateDelay(c.input, c.expected);
    } else if (fn == "parseRetryAfter") {
      RunParseRetryAfter(c.input, c.expected);
    } else if (fn == "RetryPolicy") {
      RunCtor(c.input, c.expected);
    } else if (fn == "RetryPolicy.getDelayMs") {
      RunGetDelay(c.input, c.expected);
    } else if (fn == "RetryPolicy.execute") {
      RunExecute(c.input, c.expected);
    } else {
      ADD_FAILURE() << "unknown fn " << fn;
      continue;
    }
    ++ran[fn];
  }
  int total = 0;
  for (const auto& [fn, n] : ran) total += n;
  EXPECT_EQ(total, static_cast<int>(cases.size()));
}

TEST(RetryPolicyTest, DefaultsAndDecisions) {
  const RetryPolicy policy;
  const absl::Time now = absl::FromUnixMillis(1767225600250);
  EXPECT_EQ(policy.options().max_retries, 3);
  EXPECT_EQ(policy.NextRetryDelayMs(0, true, std::nullopt, now, 0.0), 1000);
  EXPECT_EQ(policy.NextRetryDelayMs(2, true, std::nullopt, now, 0.0), 4000);
  EXPECT_EQ(policy.NextRetryDelayMs(3, true, std::nullopt, now, 0.0), std::nullopt);  // 4th failed
  EXPECT_EQ(policy.NextRetryDelayMs(0, false, std::nullopt, now, 0.0), std::nullopt);
  // A usable Retry-After replaces the backoff, capped at 60 s.
  EXPECT_EQ(policy.NextRetryDelayMs(1, true, "7", now, 0.9), 7000);
  EXPECT_EQ(policy.NextRetryDelayMs(1, true, "600", now, 0.9), 60000);
  EXPECT_EQ(policy.NextRetryDelayMs(1, true, "soon", now, 0.0), 2000);
}

TEST(RetryPolicyTest, ValidationMessages) {
  RetryOptions o;
  o.base_ms = std::numeric_limits<double>::infinity();
  EXPECT_EQ(ValidateRetryOptions(o).message(),
            "baseMs must be a non-negative finite number, got Infinity");
  o = RetryOptions();
  o.retry_after_cap_ms = -0.5;
  EXPECT_EQ(ValidateRetryOptions(o).message(),
            "maxRetryAfterMs must be a non-negative finite number, got -0.5");
  o = RetryOptions();
  o.max_retries = 1e21;  // an integer, as far as Number.isInteger is concerned
  EXPECT_TRUE(ValidateRetryOptions(o).ok());
}

TEST(RetryPolicyTest, CalculateDelayDoubleArithmetic) {
  const RetryOptions o;
  EXPECT_EQ(CalculateDelayMs(1.5, o, 0), 2828.4271247461897);  // V8: 2 ** 1.5 = 2.82842712474619
  EXPECT_EQ(CalculateDelayMs(-2, o, 0), 250);
  EXPECT_EQ(CalculateDelayMs(-1074, o, 0), 1000 * 5e-324);
  EXPECT_EQ(CalculateDelayMs(-1e9, o, 0), 0);
  EXPECT_EQ(CalculateDelayMs(1e9, o, 0), 30000);
  EXPECT_TRUE(std::isnan(CalculateDelayMs(std::nan(""), o, 0)));
  EXPECT_EQ(CalculateDelayMs(0.25, o, 0.5), 1189.2071150027211 + 500);
}

TEST(RetryAfterTest, DeltaSecondsAndDates) {
  const absl::Time now = absl::FromUnixMillis(1767225600250);  // 2026-01-01T00:00:00.250Z
  EXPECT_EQ(ParseRetryAfterMs("0", now), 0);
  EXPECT_EQ(ParseRetryAfterMs("\t12\r\n", now), 12000);
  EXPECT_EQ(ParseRetryAfterMs("\xE3\x80\x80"
                              "3",
                              now),
            3000);  // U+3000 is JS white space
  EXPECT_EQ(ParseRetryAfterMs(std::string(400, '9'), now), 60000);
  EXPECT_EQ(ParseRetryAfterMs("\xD9\xA5", now), std::nullopt);  // Arabic-Indic five
  EXPECT_EQ(ParseRetryAfterMs("5.5", now), std::nullopt);       // a date in 2001: past
  // RFC 850 and the other forms Date.parse accepts.
  EXPECT_EQ(ParseRetryAfterMs("Thursday, 01-Jan-26 00:00:10 GMT", now), 9750);
  EXPECT_EQ(ParseRetryAfterMs("Thu, 01 Jan 2026 00:00:10 +0000", now), 9750);
  EXPECT_EQ(ParseRetryAfterMs("Wed, 31 Dec 2025 19:00:10 EST", now), 9750);
  EXPECT_EQ(ParseRetryAfterMs("2026-01-01T00:00:10", now), 9750);  // date-time: local = UTC
  EXPECT_EQ(ParseRetryAfterMs("2026-01-01T00:00:00.250Z", now), std::nullopt);  // not future
  EXPECT_EQ(ParseRetryAfterMs("Thu, 01 Jan 2026 00:00:10 GMT", now, 1000.5), 1000.5);
}

// Expected values recorded from Node 20 `Date.parse` with TZ=UTC.
TEST(JsDateParseTest, MatchesV8) {
  const struct {
    const char* text;
    std::optional<double> ms;
  } kCases[] = {
      {"Thu, 01 Jan 2026 00:00:10 GMT", 1767225610000},
      {"Thursday, 01-Jan-26 00:00:10 GMT", 1767225610000},
      {"Thu Jan  1 00:00:10 2026", 1767225610000},
      {"2026-01-01T01:00:30+01:00", 1767225630000},
      {"2026-01-01", 1767225600000},
      {"2026-01-01 00:00:30", 1767225630000},
      {"Jan 1 2026 12:00 AM", 1767225600000},
      {"Thu, 01 Jan 2026 12:00:10 PM", 1767268810000},
      {"Thu, 01 Jan 2026 00:00:10 GMT+0100", 1767222010000},
      {"01 Jan 2026 00:00:10\xC2\xA0+0100", 1767222010000},  // NBSP is white space
      {"Thu,\xC2\xA0"
       "01 Jan 2026 00:00:10 GMT",
       1767225610000},
      {"Thu,\xE2\x80\xA8"
       "01 Jan 2026 00:00:10 GMT",
       std::nullopt},  // U+2028 is a word
      {"01 Jan 2026 00:00:10\nGMT", 1767225610000},
      {"Thu, 01 Jan 2026 00:00:10 GMT (Coordinated Universal Time)", 1767225610000},
      {"2026-01-01T24:00:00Z", 1767312000000},
      {"2026-01-01T24:00:01Z", std::nullopt},
      {"+275760-09-13T00:00:00.000Z", 8.64e15},
      {"+275760-09-13T00:00:00.001Z", std::nullopt},
      {"Feb 30 2026", 1772409600000},  // rolls over into March, as V8 does
      {"5", 988675200000},             // May 1 2001
      {"Thu, 32 Jan 2026 00:00:10 GMT", std::nullopt},
      {"Thu, 01 Jan 2026 25:00:00 GMT", std::nullopt},
      {"1e3", std::nullopt},
      {"abc", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : kCases) {
    EXPECT_EQ(ParseJsDateMs(c.text), c.ms) << c.text;
  }
}

TEST(JsTextTest, TrimAndNumberToString) {
  EXPECT_EQ(TrimJsWhitespace(" \t\xC2\xA0 k1 \xEF\xBB\xBF\n"), "k1");
  EXPECT_EQ(TrimJsWhitespace("\xC2\x85x"), "\xC2\x85x");  // U+0085 is not JS white space
  EXPECT_EQ(TrimJsWhitespace("   "), "");
  EXPECT_EQ(JsNumberToString(-1), "-1");
  EXPECT_EQ(JsNumberToString(1.5), "1.5");
  EXPECT_EQ(JsNumberToString(std::nan("")), "NaN");
  EXPECT_EQ(JsNumberToString(-0.0), "0");
  EXPECT_EQ(JsNumberToString(1e21), "1e+21");
  EXPECT_EQ(JsNumberToString(123456789012345680000.0), "123456789012345680000");
  EXPECT_EQ(JsNumberToString(1e-7), "1e-7");
  EXPECT_EQ(JsNumberToString(0.000001), "0.000001");
  EXPECT_EQ(JsNumberToString(5e-324), "5e-324");
}

}  // namespace
}  // namespace llmix::resilience
