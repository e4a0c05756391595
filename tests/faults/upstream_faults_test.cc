// Fault matrix, upstream rows: slow, hanging, reset mid-body, garbage, a 50 MB body, 5xx and
// 429 storms, keep-alive connections closed by the upstream. For each: every call ends exactly
// once, within its deadline, with an outcome that says what happened; nothing is sent upstream
// twice that should not be; the process keeps serving; the counters agree with the callers.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/fakes/fake_openai.h"
#include "tests/faults/fault_support.h"
#include "tests/faults/raw_upstream.h"

namespace llmix::testing {
namespace {

using std::chrono::milliseconds;

const std::string kConfig = OpenAiConfig();
const std::string kCalls = R"(llmix_calls_total{preset="inline",provider="openai",outcome=")";

std::unique_ptr<SidecarProcess> Start(const std::string& base_url, std::vector<std::string> args) {
  args.insert(args.end(), {"--retry-base-ms", "10", "--retry-jitter-ms", "0"});
  auto s = std::make_unique<SidecarProcess>(
      std::move(args), std::map<std::string, std::optional<std::string>>{
                           {"OPENAI_BASE_URL", base_url}, {"OPENAI_API_KEY", "sk-fault-matrix"}});
  EXPECT_TRUE(s->ready()) << s->error();
  return s;
}

// Unique prompts: no call is answered from the cache or joined by singleflight.
std::function<v1::CallRequest(int, int)> Unique(const std::string& tag) {
  return [tag](int t, int i) { return InlineRequest(kConfig, absl::StrCat(tag, t, "-", i)); };
}

// The outcome of one more call once the fault is gone ("success" when serving continues).
std::string ServesAgain(SidecarProcess& s) {
  v1::CallResponse r;
  const grpc::Status st = s.Call(InlineRequest(kConfig, "after the fault"), &r);
  return OutcomeOf(st, r) + (st.ok() && !r.success() ? ": " + r.error().message() : "");
}

TEST(FaultMatrix, UpstreamSlowEveryCallCompletesAndAnOverdueOneEndsAtItsDeadline) {
  FakeOpenAi fake;
  FakeReply slow;
  slow.delay = milliseconds(200);
  fake.SetDefault(slow);
  auto s = Start(fake.base_url(), {"--workers", "16"});
  const Tally t = RunCalls(*s, 8, 3, Unique("slow-"), std::chrono::seconds(10));
  EXPECT_EQ(t.Count("success"), 24) << t.ToString();
  EXPECT_EQ(fake.RequestCount(), 24u);
  EXPECT_EQ(Metric(*s, kCalls + "success\"}"), 24);

  slow.delay = milliseconds(5000);
  fake.Enqueue(slow);
  const Tally overdue = RunCalls(*s, 1, 1, Unique("overdue-"), milliseconds(500));
  EXPECT_EQ(overdue.calls, 1);
  EXPECT_EQ(overdue.Count("success"), 0) << overdue.ToString();
  EXPECT_LT(overdue.slowest, milliseconds(2000)) << overdue.ToString();
}

TEST(FaultMatrix, UpstreamHangsEveryCallEndsAtItsDeadlineAndServingContinues) {
  RawUpstream raw(RawBehavior::kHang);
  auto s = Start(raw.base_url(), {"--workers", "16", "--breaker-threshold", "1000"});
  const Tally t = RunCalls(*s, 8, 1, Unique("hang-"), milliseconds(800));
  EXPECT_EQ(t.calls, 8);
  EXPECT_EQ(t.Count("ERROR_CODE_UPSTREAM_TIMEOUT") + t.Count("grpc:DEADLINE_EXCEEDED"), 8)
      << t.ToString();
  EXPECT_LT(t.slowest, milliseconds(800 + 1500)) << t.ToString();
  raw.SetDefault(RawBehavior::kAnswer);
  EXPECT_EQ(ServesAgain(*s), "success");
  EXPECT_EQ(Metric(*s, kCalls + "success\"}"), 1);
}

TEST(FaultMatrix, UpstreamResetMidBodyIsRetriedAndAPersistentResetIsAStructuredFailure) {
  RawUpstream raw;
  raw.Enqueue(RawBehavior::kResetMidBody);
  raw.Enqueue(RawBehavior::kResetMidBody);
  auto s = Start(raw.base_url(), {"--max-retries", "2", "--breaker-threshold", "1000"});
  v1::CallResponse r;
  ASSERT_TRUE(s->Call(InlineRequest(kConfig, "reset twice"), &r).ok());
  EXPECT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.content(), "raw reply");
  EXPECT_EQ(r.attempts(), 3);
  EXPECT_EQ(raw.requests(), 3u);
  EXPECT_EQ(Metric(*s, R"(llmix_upstream_requests_total{provider="openai",status="network"})"), 2);

  raw.SetDefault(RawBehavior::kResetMidBody);
  const Tally t = RunCalls(*s, 4, 1, Unique("reset-"), std::chrono::seconds(10));
  EXPECT_EQ(t.Count("ERROR_CODE_UPSTREAM_UNREACHABLE"), 4) << t.ToString();
  EXPECT_EQ(raw.requests(), 3u + 4 * 3) << "each failing call makes exactly 1 + 2 retries";
  EXPECT_EQ(Metric(*s, kCalls + "failure\"}"), 4);
}

TEST(FaultMatrix, UpstreamGarbageIsAStructuredFailureNotACrash) {
  RawUpstream raw(RawBehavior::kGarbage);
  auto s = Start(raw.base_url(), {"--max-retries", "1", "--breaker-threshold", "1000"});
  const Tally t = RunCalls(*s, 4, 2, Unique("garbage-"), std::chrono::seconds(10));
  EXPECT_EQ(t.calls, 8);
  EXPECT_EQ(t.Count("success"), 0);
  EXPECT_EQ(
      t.Count("ERROR_CODE_UPSTREAM_UNREACHABLE") + t.Count("ERROR_CODE_UPSTREAM_BAD_RESPONSE"), 8)
      << t.ToString();
  EXPECT_EQ(raw.requests(), 16u);
  raw.SetDefault(RawBehavior::kAnswer);
  EXPECT_EQ(ServesAgain(*s), "success");
}

TEST(FaultMatrix, UpstreamFiftyMegabyteBodyIsCutOffAtTheCapAndNotRetried) {
  RawUpstream raw(RawBehavior::kHugeBody);
  auto s = Start(raw.base_url(), {"--max-response-bytes", std::to_string(4 << 20)});
  const Tally t = RunCalls(*s, 2, 1, Unique("huge-"), std::chrono::seconds(20));
  EXPECT_EQ(t.Count("ERROR_CODE_UPSTREAM_BAD_RESPONSE"), 2) << t.ToString();
  EXPECT_EQ(raw.requests(), 2u) << "an oversized body is not retried";
  raw.SetDefault(RawBehavior::kAnswer);
  EXPECT_EQ(ServesAgain(*s), "success");
  // The sidecar stopped reading at the cap (4 MiB + socket buffers per call): most of the two
  // 50 MB bodies was never taken.
  EXPECT_LT(raw.body_bytes_sent(), RawUpstream::kHugeBodyBytes / 2);
}

TEST(FaultMatrix, ServerErrorStormOpensTheBreakerAndEveryCallIsAnswered) {
  FakeOpenAi fake;
  FakeReply err;
  err.status = 503;
  fake.SetDefault(err);
  auto s = Start(fake.base_url(), {"--max-retries", "1", "--breaker-threshold", "5",
                                   "--breaker-cooldown-ms", "60000"});
  const Tally t = RunCalls(*s, 4, 10, Unique("storm-"), std::chrono::seconds(10));
  EXPECT_EQ(t.calls, 40);
  EXPECT_EQ(t.Count("ERROR_CODE_UPSTREAM_ERROR") + t.Count("ERROR_CODE_CIRCUIT_OPEN"), 40)
      << t.ToString();
  EXPECT_GT(t.Count("ERROR_CODE_CIRCUIT_OPEN"), 20) << t.ToString();
  EXPECT_LT(fake.RequestCount(), 20u) << "the open breaker spares the upstream";
  EXPECT_EQ(Metric(*s, kCalls + "failure\"}"), 40);
}

TEST(FaultMatrix, RateLimitStormIsAnsweredWithBoundedRetries) {
  FakeOpenAi fake;
  FakeReply limited;
  limited.status = 429;
  limited.headers = {{"Retry-After", "0"}};
  fake.SetDefault(limited);
  auto s = Start(fake.base_url(), {"--max-retries", "2", "--breaker-threshold", "1000"});
  const Tally t = RunCalls(*s, 4, 5, Unique("429-"), std::chrono::seconds(10));
  EXPECT_EQ(t.Count("ERROR_CODE_RATE_LIMITED"), 20) << t.ToString();
  EXPECT_LE(fake.RequestCount(), 20u * 3);
  EXPECT_EQ(Metric(*s, R"(llmix_upstream_requests_total{provider="openai",status="429"})"),
            static_cast<double>(fake.RequestCount()));
  fake.SetDefault(FakeReply{});
  EXPECT_EQ(ServesAgain(*s), "success");
}

TEST(FaultMatrix, KeepAliveConnectionsClosedByTheUpstreamLoseNoCall) {
  RawUpstream raw(RawBehavior::kAnswerThenClose);
  auto s = Start(raw.base_url(), {});
  const Tally closed = RunCalls(*s, 1, 20, Unique("close-"), std::chrono::seconds(10));
  EXPECT_EQ(closed.Count("success"), 20) << closed.ToString();
  EXPECT_EQ(raw.requests(), 20u) << "no request sent twice";

  // The upstream's idle timeout fires as a request arrives on a pooled connection.
  raw.SetDefault(RawBehavior::kCloseOnReusedSocket);
  const Tally raced = RunCalls(*s, 1, 20, Unique("race-"), std::chrono::seconds(10));
  EXPECT_EQ(raced.Count("success"), 20) << raced.ToString();
  EXPECT_EQ(raw.answered(), 40u);
}

}  // namespace
}  // namespace llmix::testing
