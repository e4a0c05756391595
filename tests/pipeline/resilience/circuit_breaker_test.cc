// Runs every case of the `circuit_breaker` fixture family (ops on a FakeClock, every internal
// field checked after every op), plus registry and concurrency tests.
#include "pipeline/resilience/circuit_breaker.h"

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"
#include "tests/pipeline/resilience/resilience_test_util.h"
#include "tests/support/fixtures.h"

namespace llmix::resilience {
namespace {

using nlohmann::json;
using testing::Field;

CircuitBreakerOptions OptionsFrom(const json& in) {
  CircuitBreakerOptions o;
  if (const json* v = Field(in, "failureThreshold")) o.failure_threshold = v->get<int>();
  if (const json* v = Field(in, "cooldownMs")) o.cooldown = absl::Milliseconds(v->get<double>());
  if (const json* v = Field(in, "permittedHalfOpenCalls")) {
    o.permitted_half_open_calls = v->get<int>();
  }
  return o;
}

void ExpectAfter(const CircuitBreaker& cb, const FakeClock& clock, const json& after) {
  const CircuitBreakerSnapshot s = cb.Snapshot();
  EXPECT_EQ(CircuitStateName(s.raw_state), after.at("rawState").get<std::string>());
  EXPECT_EQ(s.consecutive_failures, after.at("consecutiveFailures").get<int>());
  EXPECT_EQ(absl::ToDoubleMilliseconds(s.cooldown), after.at("cooldownMs").get<double>());
  EXPECT_EQ(absl::ToDoubleMilliseconds(s.opened_at), after.at("openedAtMs").get<double>());
  EXPECT_EQ(s.half_open_active, after.at("halfOpenActive").get<int>());
  EXPECT_EQ(s.half_open_successes, after.at("halfOpenSuccesses").get<int>());
  EXPECT_EQ(s.half_open_failures, after.at("halfOpenFailures").get<int>());
  EXPECT_EQ(absl::ToDoubleMilliseconds(clock.Monotonic()), after.at("nowMs").get<double>());
}

void RunCase(const json& in, const json& want) {
  FakeClock clock;
  clock.Advance(absl::Milliseconds(in.at("startMs").get<double>()));
  CircuitBreakerRegistry registry(clock, OptionsFrom(in.value("options", json::object())));
  const std::string provider = in.at("provider").get<std::string>();
  const std::string base_url = in.at("baseUrl").get<std::string>();
  CircuitBreaker& cb = registry.Get(provider, base_url);

  const json& ops = in.at("ops");
  const json& steps = want.at("steps");
  ASSERT_EQ(ops.size(), steps.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i) + " " + ops[i].dump());
    const std::string op = ops[i].at(0).get<std::string>();
    const json& step = steps[i];
    ASSERT_EQ(step.at("op"), op);
    if (op == "check") {
      bool probe = false;
      const absl::Status s = cb.Check(&probe);
      if (step.at("result") == "admitted") {
        EXPECT_TRUE(s.ok()) << s;
        EXPECT_EQ(probe, cb.Snapshot().raw_state == CircuitState::kHalfOpen);
      } else {
        EXPECT_EQ(step.at("result"), "CircuitOpenError");
        EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
        EXPECT_EQ(s.message(), step.at("message").get<std::string>());
        EXPECT_FALSE(probe);
      }
    } else if (op == "state") {
      EXPECT_EQ(CircuitStateName(cb.state()), step.at("result").get<std::string>());
    } else if (op == "success") {
      cb.RecordSuccess();
    } else if (op == "failure") {
      CircuitFailure failure;
      if (ops[i].size() > 1 && !ops[i][1].is_null()) failure.http_status = ops[i][1].get<int>();
      failure.network_error = ops[i].size() > 2 && ops[i][2].get<bool>();
      cb.RecordFailure(failure);
    } else if (op == "cancel") {
      cb.CancelProbe();
    } else if (op == "reset") {
      cb.Reset();
    } else if (op == "advance") {
      clock.Advance(absl::Milliseconds(ops[i].at(1).get<double>()));
    } else {
      FAIL() << "unknown op " << op;
    }
    ExpectAfter(cb, clock, step.at("after"));
  }
}

TEST(CircuitBreakerFixturesTest, EveryCase) {
  const auto cases = llmix::testing::LoadFixtureCases("circuit_breaker");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RunCase(c.input, c.expected);
  }
}

TEST(CircuitBreakerTest, ResetRestoresConfiguredCooldown) {
  FakeClock clock;
  CircuitBreakerOptions o;
  o.failure_threshold = 1;
  o.permitted_half_open_calls = 1;
  CircuitBreaker cb("openai", "https://x", clock, o);
  cb.RecordFailure({500, false});
  clock.Advance(absl::Seconds(30));
  ASSERT_TRUE(cb.Check().ok());
  cb.RecordFailure({std::nullopt, true});  // failed probe: reopen, cooldown 60 s
  EXPECT_EQ(cb.Snapshot().cooldown, absl::Seconds(60));
  cb.Reset();
  const CircuitBreakerSnapshot s = cb.Snapshot();
  EXPECT_EQ(s.raw_state, CircuitState::kClosed);
  EXPECT_EQ(s.cooldown, absl::Seconds(30));
  EXPECT_EQ(s.opened_at, absl::ZeroDuration());
  EXPECT_EQ(s.half_open_active, 0);
}

TEST(CircuitBreakerTest, NonCountingFailureInHalfOpenIsSuccess) {
  FakeClock clock;
  CircuitBreakerOptions o;
  o.failure_threshold = 1;
  o.permitted_half_open_calls = 1;
  CircuitBreaker cb("openai", "https://x", clock, o);
  cb.RecordFailure({503, false});
  clock.Advance(absl::Seconds(30));
  bool probe = false;
  ASSERT_TRUE(cb.Check(&probe).ok());
  EXPECT_TRUE(probe);
  cb.RecordFailure({401, false});  // the server answered: counts as a probe success
  EXPECT_EQ(cb.state(), CircuitState::kClosed);
}

TEST(CircuitBreakerRegistryTest, OneStableBreakerPerProviderAndBaseUrl) {
  FakeClock clock;
  CircuitBreakerRegistry registry(clock);
  CircuitBreaker& a = registry.Get("openai", "https://a");
  CircuitBreaker& b = registry.Get("openai", "https://b");
  CircuitBreaker& c = registry.Get("openai:https", "//a");  // no "provider:url" collisions
  EXPECT_NE(&a, &b);
  EXPECT_NE(&a, &c);
  for (int i = 0; i < 100; ++i) registry.Get("p" + std::to_string(i), "u");
  EXPECT_EQ(&registry.Get("openai", "https://a"), &a);
  EXPECT_EQ(a.provider(), "openai");
  EXPECT_EQ(a.base_url(), "https://a");
  EXPECT_EQ(registry.size(), 103u);
}

// 8 threads hammer one breaker through its whole cycle; the counters must stay consistent.
TEST(CircuitBreakerTest, ConcurrentUseKeepsInvariants) {
  FakeClock clock;
  CircuitBreakerOptions o;
  o.permitted_half_open_calls = 4;
  CircuitBreakerRegistry registry(clock, o);
  std::atomic<int> admitted{0};
  std::latch start(8);  // release all 8 threads at once for maximum overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      CircuitBreaker& cb = registry.Get("openai", "https://api");
      for (int i = 0; i < 2000; ++i) {
        bool probe = false;
        if (cb.Check(&probe).ok()) {
          admitted.fetch_add(1);
          switch ((i + t) % 4) {
            case 0:
              cb.RecordSuccess();
              break;
            case 1:
              cb.RecordFailure({500, false});
              break;
            case 2:
              cb.RecordFailure({std::nullopt, true});
              break;
            default:
              if (probe) cb.CancelProbe();
          }
        }
        if (i % 64 == 0) clock.Advance(absl::Seconds(7));
        const CircuitBreakerSnapshot s = cb.Snapshot();
        EXPECT_LE(s.half_open_active, o.permitted_half_open_calls);
        EXPECT_LE(s.cooldown, absl::Milliseconds(300000));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(admitted.load(), 0);
}

}  // namespace
}  // namespace llmix::resilience
