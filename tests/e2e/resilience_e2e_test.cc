// End-to-end resilience: the real llmix-sidecar binary with small tunables (flags), a real
// gRPC client and the scriptable fake provider (status, headers, hold/release). No test sleeps
// to wait: conditions are awaited with WaitFor and a deadline, loops are bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::string kConfig = R"({"provider":"openai","model":"gpt-4o"})";

FakeReply Status(int status, std::map<std::string, std::string> headers = {}) {
  FakeReply r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

std::unique_ptr<SidecarProcess> Start(FakeOpenAi& fake, std::vector<std::string> args,
                                      std::map<std::string, std::optional<std::string>> env = {}) {
  env.emplace("OPENAI_BASE_URL", fake.base_url());
  if (!env.count("OPENAI_KEYS")) env.emplace("OPENAI_API_KEY", "sk-e2e");
  return std::make_unique<SidecarProcess>(std::move(args), std::move(env));
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

size_t LogCount(SidecarProcess& s, const std::string& needle) {
  return Count(s.process().Stdout() + s.process().Stderr(), needle);
}

// 429 with Retry-After: the sidecar waits what the provider asked (1 s here, although its own
// backoff would be 10 ms) and the retry succeeds; the caller sees one successful call.
TEST(ResilienceE2E, RateLimitWithRetryAfterThenSuccess) {
  FakeOpenAi fake;
  fake.Enqueue(Status(429, {{"Retry-After", "1"}}));
  auto sidecar = Start(fake, {"--retry-base-ms", "10", "--retry-jitter-ms", "0"});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  v1::CallResponse resp;
  const auto start = Clock::now();
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "hi"), &resp, std::chrono::seconds(10)).ok());
  const auto took = Clock::now() - start;
  EXPECT_TRUE(resp.success()) << resp.error().message();
  EXPECT_EQ(resp.content(), "fake reply");
  EXPECT_EQ(resp.attempts(), 2);
  EXPECT_EQ(fake.RequestCount(), 2u);
  EXPECT_GE(took, milliseconds(950)) << "Retry-After must replace the 10 ms backoff";
}

// 500 x threshold opens the breaker (later calls fail CIRCUIT_OPEN without reaching the
// provider); after the cooldown one half-open probe succeeds and closes it again.
TEST(ResilienceE2E, ServerErrorsOpenTheBreakerAndAHalfOpenProbeClosesIt) {
  FakeOpenAi fake;
  for (int i = 0; i < 3; ++i) fake.Enqueue(Status(500));
  auto sidecar = Start(fake, {"--max-retries", "0", "--breaker-threshold", "3",
                              "--breaker-cooldown-ms", "300", "--breaker-half-open-probes", "1"});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  for (int i = 0; i < 3; ++i) {
    v1::CallResponse r;
    ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "fail " + std::to_string(i)), &r).ok());
    EXPECT_EQ(r.error().code(), v1::ERROR_CODE_UPSTREAM_ERROR);
  }
  v1::CallResponse open;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "while open"), &open).ok());
  EXPECT_FALSE(open.success());
  EXPECT_EQ(open.error().code(), v1::ERROR_CODE_CIRCUIT_OPEN);
  EXPECT_NE(open.error().message().find("Circuit breaker OPEN for (openai, )"), std::string::npos)
      << open.error().message();
  EXPECT_EQ(fake.RequestCount(), 3u) << "an open breaker must not reach the provider";

  // After the cooldown the next call is a probe; the fake now answers 200.
  int polls = 0;
  v1::CallResponse probe;
  ASSERT_TRUE(WaitFor(
      [&] {
        ++polls;
        probe.Clear();
        return sidecar->Call(InlineRequest(kConfig, "probe"), &probe).ok() && probe.success();
      },
      std::chrono::seconds(10)));
  EXPECT_EQ(fake.RequestCount(), 4u) << "only the probe reached the provider";
  EXPECT_GT(polls, 0);
  // Closed again: calls flow.
  for (int i = 0; i < 3; ++i) {
    v1::CallResponse r;
    ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "after " + std::to_string(i)), &r).ok());
    EXPECT_TRUE(r.success()) << r.error().message();
  }
  EXPECT_EQ(fake.RequestCount(), 7u);
}

// An upstream that outlives a caller's own short deadline is the caller's impatience, not a
// provider failure: any number of such calls leave the breaker closed. The same hang under the
// sidecar's timeout (the caller's deadline is longer) is a failure and opens it at the threshold.
TEST(ResilienceE2E, ImpatientCallersDoNotOpenTheBreakerButUpstreamTimeoutsDo) {
  FakeOpenAi fake;
  fake.Hold();
  auto sidecar = Start(fake, {"--max-retries", "0", "--breaker-threshold", "2",
                              "--breaker-cooldown-ms", "600000", "--default-timeout-ms", "1500"});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  for (int i = 0; i < 4; ++i) {
    v1::CallResponse r;
    const grpc::Status st = sidecar->Call(InlineRequest(kConfig, "impatient " + std::to_string(i)),
                                          &r, milliseconds(300));
    // The client's deadline and the sidecar's answer at that same deadline race (seen under
    // load): either way the call ended at the caller's deadline.
    if (st.ok()) {
      EXPECT_FALSE(r.success());
      EXPECT_EQ(r.error().code(), v1::ERROR_CODE_UPSTREAM_TIMEOUT) << r.error().message();
    } else {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    }
  }
  EXPECT_EQ(fake.RequestCount(), 4u);

  // Still closed: the next calls reach the provider. With no caller deadline the sidecar's
  // 1.5 s timeout ends each call: the hang is the provider's, and two such timeouts open it.
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext no_deadline;
    v1::CallResponse r;
    ASSERT_TRUE(sidecar->stub()
                    .Call(&no_deadline, InlineRequest(kConfig, "slow " + std::to_string(i)), &r)
                    .ok());
    EXPECT_EQ(r.error().code(), v1::ERROR_CODE_UPSTREAM_TIMEOUT) << r.error().message();
  }
  v1::CallResponse open;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "while open"), &open).ok());
  EXPECT_EQ(open.error().code(), v1::ERROR_CODE_CIRCUIT_OPEN) << open.error().message();
  EXPECT_EQ(fake.RequestCount(), 6u) << "an open breaker must not reach the provider";
  fake.Release();
}

// 401 on key A: that call fails (not retried), A is dead, and every later call uses B.
TEST(ResilienceE2E, UnauthorizedKeyIsRetiredAndTheNextKeyIsUsed) {
  FakeOpenAi fake;
  fake.Enqueue(Status(401));
  auto sidecar = Start(fake, {}, {{"OPENAI_KEYS", "key-A, key-B"}});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  v1::CallResponse r1;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "one"), &r1).ok());
  EXPECT_FALSE(r1.success());
  EXPECT_EQ(r1.error().code(), v1::ERROR_CODE_AUTHENTICATION);
  for (int i = 0; i < 3; ++i) {
    v1::CallResponse r;
    ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "more " + std::to_string(i)), &r).ok());
    EXPECT_TRUE(r.success()) << r.error().message();
  }
  auto reqs = fake.Requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer key-A");
  for (size_t i = 1; i < reqs.size(); ++i) {
    EXPECT_EQ(reqs[i].headers["authorization"], "Bearer key-B") << i;
  }
}

// 100 identical concurrent calls: one leader reaches the provider, 99 followers wait on its
// result (without holding a worker each) and all get the same answer.
TEST(ResilienceE2E, HundredIdenticalConcurrentCallsMakeOneUpstreamRequest) {
  FakeOpenAi fake;
  FakeReply reply;
  reply.content = "one for all";
  fake.SetDefault(reply);
  fake.Hold();
  auto sidecar = Start(fake, {"--log-level", "debug", "--workers", "8"});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  constexpr int kCalls = 100;
  std::vector<grpc::Status> statuses(kCalls);
  std::vector<v1::CallResponse> responses(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      statuses[i] = sidecar->Call(InlineRequest(kConfig, "same question"), &responses[i],
                                  std::chrono::seconds(30));
    });
  }
  // Only 8 workers: 99 followers can only all be waiting if they hold no worker.
  const bool joined = WaitFor(
      [&] {
        return fake.RequestCount() == 1 &&
               LogCount(*sidecar, "singleflight: follower joined") == kCalls - 1;
      },
      std::chrono::seconds(20));
  fake.Release();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(joined) << "requests=" << fake.RequestCount()
                      << " followers=" << LogCount(*sidecar, "singleflight: follower joined");
  EXPECT_EQ(fake.RequestCount(), 1u);
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_TRUE(responses[i].success());
    EXPECT_EQ(responses[i].content(), "one for all");
  }
  EXPECT_NE(responses[0].trace_id(), responses[1].trace_id()) << "each call keeps its trace";
}

// A 429 storm halves the provider's concurrency window down to the floor (calls then queue
// for a permit instead of reaching the provider); successes grow it back.
TEST(ResilienceE2E, RateLimitStormShrinksConcurrencyAndItRecovers) {
  FakeOpenAi fake;
  auto sidecar = Start(fake, {"--log-level", "debug", "--aimd-initial", "8", "--aimd-min", "1",
                              "--max-retries", "0", "--breaker-threshold", "1000"});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  // Storm: 8 -> 4 -> 2 -> 1 -> 1.
  for (int i = 0; i < 4; ++i) {
    fake.Enqueue(Status(429));
    v1::CallResponse r;
    ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "storm " + std::to_string(i)), &r).ok());
    EXPECT_EQ(r.error().code(), v1::ERROR_CODE_RATE_LIMITED);
  }
  auto burst = [&](int n, const std::string& tag) {
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      // `tag` by value: the threads outlive this call (ASan caught the temporary dying).
      threads.emplace_back([&, i, tag] {
        v1::CallResponse r;
        EXPECT_TRUE(sidecar
                        ->Call(InlineRequest(kConfig, tag + std::to_string(i)), &r,
                               std::chrono::seconds(30))
                        .ok());
        EXPECT_TRUE(r.success()) << r.error().message();
      });
    }
    return threads;
  };
  // Shrunk: of 6 distinct calls, one is in flight and five wait for a permit.
  const size_t waits_before = LogCount(*sidecar, "aimd: waiting for a concurrency permit");
  fake.ResetMaxInFlight();
  fake.Hold();
  auto shrunk = burst(6, "shrunk ");
  const bool queued = WaitFor([&] {
    return fake.InFlight() == 1 &&
           LogCount(*sidecar, "aimd: waiting for a concurrency permit") - waits_before == 5;
  });
  const size_t max_shrunk = fake.MaxInFlight();
  fake.Release();
  for (auto& t : shrunk) t.join();
  ASSERT_TRUE(queued);
  EXPECT_EQ(max_shrunk, 1u);
  // Six successes: window 1 -> 7. Eight held calls now reach the provider 7 at a time.
  fake.ResetMaxInFlight();
  fake.Hold();
  auto recovered = burst(8, "recovered ");
  const bool widened = WaitFor([&] { return fake.InFlight() >= 7; });
  const size_t max_recovered = fake.MaxInFlight();
  fake.Release();
  for (auto& t : recovered) t.join();
  EXPECT_TRUE(widened) << "in flight: " << max_recovered;
  EXPECT_GE(max_recovered, 7u);
}

// A deadline shorter than the backoff ends the call with DEADLINE_EXCEEDED as soon as the
// backoff is known, not after sleeping through it (Retry-After 30 s; computed backoff 20 s).
TEST(ResilienceE2E, DeadlineShorterThanTheBackoffFailsFast) {
  FakeOpenAi fake;
  fake.Enqueue(Status(429, {{"Retry-After", "30"}}));
  fake.Enqueue(Status(503));
  auto sidecar = Start(fake, {"--retry-base-ms", "20000", "--retry-jitter-ms", "0"});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  for (const char* text : {"retry-after", "computed"}) {
    v1::CallResponse resp;
    const auto start = Clock::now();
    grpc::Status st = sidecar->Call(InlineRequest(kConfig, text), &resp, std::chrono::seconds(3));
    const auto took = Clock::now() - start;
    EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << text;
    EXPECT_LT(took, milliseconds(1500)) << text;
  }
  EXPECT_EQ(fake.RequestCount(), 2u);
}

// <stateDir>/killswitch blocks every call with KILL_SWITCH; removing it restores service,
// without a restart.
TEST(ResilienceE2E, KillSwitchOnAndOffWithoutRestart) {
  FakeOpenAi fake;
  auto sidecar = Start(fake, {});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  const std::string kill = sidecar->dir().File("state/killswitch");
  std::filesystem::create_directories(sidecar->dir().File("state"));
  WriteFile(kill, "");
  v1::CallResponse blocked;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "hi"), &blocked).ok());
  EXPECT_FALSE(blocked.success());
  EXPECT_EQ(blocked.error().code(), v1::ERROR_CODE_KILL_SWITCH);
  EXPECT_NE(blocked.error().message().find(kill), std::string::npos) << blocked.error().message();
  EXPECT_EQ(fake.RequestCount(), 0u);
  std::filesystem::remove(kill);
  v1::CallResponse served;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "hi"), &served).ok());
  EXPECT_TRUE(served.success()) << served.error().message();
  EXPECT_EQ(fake.RequestCount(), 1u);
}

}  // namespace
}  // namespace llmix::testing
