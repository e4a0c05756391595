// Fault matrix, process rows: SIGTERM under load, clients cancelling and deadlines expiring,
// worker queue overflow, OTLP collector down. Every call ends exactly once with an outcome
// the caller can act on, and the counters agree with what the callers saw.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/fakes/fake_openai.h"
#include "tests/faults/fault_support.h"

namespace llmix::testing {
namespace {

using std::chrono::milliseconds;

const std::string kConfig = OpenAiConfig();

std::map<std::string, std::optional<std::string>> Env(const FakeOpenAi& fake) {
  return {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "sk-fault-process"}};
}

TEST(FaultMatrix, SigtermUnderLoadFinishesCallsInFlightAndRefusesNewOnesCleanly) {
  FakeOpenAi fake;
  fake.Hold();
  SidecarProcess s({"--drain-grace-ms", "20000", "--workers", "16"}, Env(fake));
  ASSERT_TRUE(s.ready()) << s.error();
  constexpr int kInFlight = 6;
  Tally in_flight;
  std::thread callers([&] {
    in_flight = RunCalls(
        s, kInFlight, 1, [](int t, int) { return InlineRequest(kConfig, absl::StrCat("f", t)); },
        std::chrono::seconds(30));
  });
  ASSERT_TRUE(WaitFor([&] { return fake.InFlight() == kInFlight; }));
  s.process().Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return s.AdminGet("/readyz") == 503; }));
  // New calls while draining: refused at once, never run.
  const Tally late = RunCalls(
      s, 4, 1, [](int t, int) { return InlineRequest(kConfig, "late"); }, std::chrono::seconds(5));
  EXPECT_EQ(late.Count("grpc:UNAVAILABLE"), 4) << late.ToString();
  EXPECT_LT(late.slowest, milliseconds(2000));
  fake.Release();
  callers.join();
  EXPECT_EQ(in_flight.Count("success"), kInFlight) << in_flight.ToString();
  const auto status = s.process().Wait(std::chrono::seconds(15));
  ASSERT_TRUE(status.has_value()) << "the drain did not end";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_EQ(fake.RequestCount(), static_cast<size_t>(kInFlight)) << "no late call reached upstream";
}

TEST(FaultMatrix, ClientCancelsAndExpiredDeadlinesFreeTheCallAndAreNotRetried) {
  FakeOpenAi fake;
  fake.Hold();
  // Default breaker threshold (3): the four calls that outlive their caller's deadline are not
  // provider failures, so the "still serving" call below must not meet an open breaker.
  SidecarProcess s({"--workers", "16", "--max-retries", "3"}, Env(fake));
  ASSERT_TRUE(s.ready()) << s.error();
  constexpr int kEach = 4;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (int i = 0; i < kEach; ++i) contexts.push_back(std::make_unique<grpc::ClientContext>());
  std::mutex mu;
  Tally cancelled;
  std::vector<std::thread> threads;
  for (int i = 0; i < kEach; ++i) {
    threads.emplace_back([&, i] {
      v1::CallResponse r;
      contexts[i]->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      const grpc::Status st =
          s.stub().Call(contexts[i].get(), InlineRequest(kConfig, absl::StrCat("cancel", i)), &r);
      std::lock_guard<std::mutex> l(mu);
      cancelled.outcomes[OutcomeOf(st, r)] += 1;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return fake.InFlight() == kEach; }));
  for (auto& c : contexts) c->TryCancel();
  for (auto& t : threads) t.join();
  EXPECT_EQ(cancelled.Count("grpc:CANCELLED"), kEach) << cancelled.ToString();

  const Tally expired = RunCalls(
      s, kEach, 1, [](int t, int) { return InlineRequest(kConfig, absl::StrCat("expire", t)); },
      milliseconds(400));
  EXPECT_EQ(expired.Count("grpc:DEADLINE_EXCEEDED") + expired.Count("ERROR_CODE_UPSTREAM_TIMEOUT"),
            kEach)
      << expired.ToString();
  EXPECT_LT(expired.slowest, milliseconds(2000)) << expired.ToString();

  fake.Release();
  // Every call left the sidecar; none was retried after its caller gave up.
  EXPECT_TRUE(WaitFor([&] { return Metric(s, "llmix_calls_in_flight") == 0; }))
      << Metric(s, "llmix_calls_in_flight") << " calls still in flight; upstream requests "
      << fake.RequestCount() << ", in flight there " << fake.InFlight();
  EXPECT_EQ(fake.RequestCount(), 2u * kEach);
  v1::CallResponse r;
  const grpc::Status st = s.Call(InlineRequest(kConfig, "still serving"), &r);
  EXPECT_EQ(OutcomeOf(st, r), "success") << r.error().message();
}

TEST(FaultMatrix, WorkerQueueOverflowAnswersEveryCallAndCountsEachRejection) {
  FakeOpenAi fake;
  FakeReply slow;
  slow.delay = milliseconds(300);
  fake.SetDefault(slow);
  SidecarProcess s({"--workers", "2", "--queue-size", "2"}, Env(fake));
  ASSERT_TRUE(s.ready()) << s.error();
  const Tally t = RunCalls(
      s, 12, 2, [](int c, int i) { return InlineRequest(kConfig, absl::StrCat("q", c, "-", i)); },
      std::chrono::seconds(20));
  EXPECT_EQ(t.calls, 24);
  EXPECT_EQ(t.Count("success") + t.Count("grpc:RESOURCE_EXHAUSTED"), 24) << t.ToString();
  EXPECT_GT(t.Count("grpc:RESOURCE_EXHAUSTED"), 0) << t.ToString();
  EXPECT_EQ(Metric(s, R"(llmix_calls_rejected_total{reason="queue_full"})"),
            t.Count("grpc:RESOURCE_EXHAUSTED"));
  EXPECT_EQ(fake.RequestCount(), static_cast<size_t>(t.Count("success")))
      << "a refused call never reaches the upstream";
}

TEST(FaultMatrix, OtlpCollectorDownCostsNoCallAndDoesNotHoldUpShutdown) {
  FakeOpenAi fake;
  auto env = Env(fake);
  env["OTEL_EXPORTER_OTLP_ENDPOINT"] = absl::StrCat("http://127.0.0.1:", ClosedPort());
  env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "200";
  env["OTEL_BSP_SCHEDULE_DELAY"] = "10";
  SidecarProcess s({}, env);
  ASSERT_TRUE(s.ready()) << s.error();
  const Tally t = RunCalls(
      s, 4, 5, [](int c, int i) { return InlineRequest(kConfig, absl::StrCat("o", c, "-", i)); },
      std::chrono::seconds(10));
  EXPECT_EQ(t.Count("success"), 20) << t.ToString();
  EXPECT_TRUE(
      WaitFor([&] { return Metric(s, R"(llmix_trace_spans_total{result="failed"})") > 0; }));
  EXPECT_EQ(Metric(s, R"(llmix_trace_spans_total{result="exported"})"), 0);
  s.process().Signal(SIGTERM);
  const auto status = s.process().Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "SIGTERM held up by a dead collector";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

}  // namespace
}  // namespace llmix::testing
