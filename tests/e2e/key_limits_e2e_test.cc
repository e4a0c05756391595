// Per-key RPM/TPM limits (<P>_KEY_RPM / <P>_KEY_TPM) against the real binary and the loopback
// fake provider, which records the Authorization header of every request: keys are used in
// LLMix's sticky order and skipped at their limit, a call that no key can take before its
// deadline is RATE_LIMITED without reaching the provider, /metrics shows the windows by key
// fingerprint only, and a bad variable stops the sidecar at startup naming it.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_replace.h"
#include "common/canonical_json.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/process.h"

namespace llmix::testing {
namespace {

const std::string kConfig = R"({"provider":"openai","model":"gpt-4o"})";
const std::string kConfig100 =
    R"({"provider":"openai","model":"gpt-4o","common":{"maxOutputTokens":100}})";

std::unique_ptr<SidecarProcess> Start(FakeOpenAi& fake,
                                      std::map<std::string, std::optional<std::string>> env) {
  env.emplace("OPENAI_BASE_URL", fake.base_url());
  env.emplace("OPENAI_KEYS", "key-A,key-B");
  return std::make_unique<SidecarProcess>(std::vector<std::string>{"--retry-jitter-ms", "0"},
                                          std::move(env));
}

std::vector<std::string> Authorizations(const FakeOpenAi& fake) {
  std::vector<std::string> out;
  for (const RecordedRequest& r : fake.Requests()) {
    auto it = r.headers.find("authorization");
    out.push_back(it == r.headers.end() ? "" : it->second);
  }
  return out;
}

std::string Fingerprint(const std::string& key) { return Sha256Hex(key).substr(0, 8); }

TEST(KeyLimitsE2E, TwoKeysAtRpmTwoServeAThenBAndTheFifthCallIsRateLimited) {
  FakeOpenAi fake;
  auto sidecar = Start(fake, {{"OPENAI_KEY_RPM", "2"}});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  for (int i = 0; i < 4; ++i) {
    v1::CallResponse r;
    ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "call " + std::to_string(i)), &r).ok());
    EXPECT_TRUE(r.success()) << i << " " << r.error().message();
  }
  EXPECT_EQ(Authorizations(fake), (std::vector<std::string>{"Bearer key-A", "Bearer key-A",
                                                            "Bearer key-B", "Bearer key-B"}));
  // Every key has had its 2 requests this minute: a call with a 3 s deadline cannot wait the
  // ~60 s until one frees, so it fails at once and says when to come back.
  v1::CallResponse fifth;
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "fifth"), &fifth, std::chrono::seconds(3)).ok());
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(fifth.success());
  EXPECT_EQ(fifth.error().code(), v1::ERROR_CODE_RATE_LIMITED);
  EXPECT_TRUE(fifth.error().retryable());
  EXPECT_GT(fifth.error().retry_after_ms(), 50000);
  EXPECT_LE(fifth.error().retry_after_ms(), 60000);
  EXPECT_NE(fifth.error().message().find("per-key limit (RPM 2)"), std::string::npos)
      << fifth.error().message();
  EXPECT_LT(took, std::chrono::seconds(2)) << "fail fast, no wait";
  EXPECT_EQ(fake.RequestCount(), 4u) << "a key at its limit is not hammered";
  EXPECT_EQ(fifth.attempts(), 0);

  std::string metrics;
  ASSERT_EQ(sidecar->AdminGet("/metrics", &metrics), 200);
  for (const std::string key : {"key-A", "key-B"}) {
    const std::string labels = R"({provider="openai",key=")" + Fingerprint(key) + R"("})";
    EXPECT_EQ(MetricValue(metrics, "llmix_key_window_requests" + labels), 2) << metrics;
    EXPECT_EQ(MetricValue(metrics, "llmix_key_window_tokens" + labels), 20) << "fake usage 7+3";
  }
  EXPECT_EQ(MetricValue(metrics, R"(llmix_key_limit{provider="openai",kind="rpm"})"), 2);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_key_limit_events_total{provider="openai",event="skip"})"),
            3);  // A on call 3; B and A on call 5
  EXPECT_EQ(
      MetricValue(metrics, R"(llmix_key_limit_events_total{provider="openai",event="reject"})"), 1);
  EXPECT_EQ(metrics.find("key-A"), std::string::npos);
  EXPECT_EQ(metrics.find("key-B"), std::string::npos);
  CommandResult check = RunCommand({"promtool", "check", "metrics"}, metrics);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  const std::string logs = sidecar->process().Stdout() + sidecar->process().Stderr();
  EXPECT_EQ(logs.find("key-A"), std::string::npos);
}

TEST(KeyLimitsE2E, WithTpmALargeRequestSkipsToTheKeyWithRoom) {
  FakeOpenAi fake;
  auto sidecar = Start(fake, {{"OPENAI_KEY_TPM", "1000"}});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  FakeReply heavy;
  heavy.prompt_tokens = 700;  // key-A: 703 of 1000 tokens used after this call settles
  fake.Enqueue(heavy);
  v1::CallResponse r1;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig100, "first"), &r1).ok());
  ASSERT_TRUE(r1.success()) << r1.error().message();
  // 1,000 characters (~250 tokens) + 100 output tokens do not fit key-A's remaining 297.
  v1::CallResponse r2;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig100, std::string(1000, 'x')), &r2).ok());
  ASSERT_TRUE(r2.success()) << r2.error().message();
  // A small request now stays on key-B, the current key (LLMix's sticky order).
  v1::CallResponse r3;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig100, "small"), &r3).ok());
  ASSERT_TRUE(r3.success()) << r3.error().message();
  EXPECT_EQ(Authorizations(fake),
            (std::vector<std::string>{"Bearer key-A", "Bearer key-B", "Bearer key-B"}));
  std::string metrics;
  ASSERT_EQ(sidecar->AdminGet("/metrics", &metrics), 200);
  const std::string a = R"({provider="openai",key=")" + Fingerprint("key-A") + R"("})";
  const std::string b = R"({provider="openai",key=")" + Fingerprint("key-B") + R"("})";
  EXPECT_EQ(MetricValue(metrics, "llmix_key_window_tokens" + a), 703);
  EXPECT_EQ(MetricValue(metrics, "llmix_key_window_tokens" + b), 20);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_key_limit_events_total{provider="openai",event="skip"})"),
            1);
}

// Every key at its limit and a deadline past the time one frees: the call waits — on a timer,
// not on a worker (--workers 1 and another provider's call is served meanwhile) — and a client
// cancellation ends the wait at once, without a request upstream.
TEST(KeyLimitsE2E, ACallWaitsForAKeyWithoutHoldingAWorkerAndCancellationEndsTheWait) {
  FakeOpenAi fake;
  auto sidecar = std::make_unique<SidecarProcess>(
      std::vector<std::string>{"--workers", "1"},
      std::map<std::string, std::optional<std::string>>{{"OPENAI_BASE_URL", fake.base_url()},
                                                        {"OPENAI_KEYS", "key-A"},
                                                        {"OPENAI_KEY_RPM", "1"},
                                                        {"DEEPINFRA_BASE_URL", fake.base_url()},
                                                        {"DEEPINFRA_API_KEY", "key-D"}});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  v1::CallResponse first;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "first"), &first).ok());
  ASSERT_TRUE(first.success()) << first.error().message();

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  v1::CallResponse waiting;
  grpc::Status waiting_status;
  std::thread caller([&] {
    waiting_status = sidecar->stub().Call(&ctx, InlineRequest(kConfig, "second"), &waiting);
  });
  auto metric = [&](const std::string& series) {
    std::string body;
    sidecar->AdminGet("/metrics", &body);
    return MetricValue(body, series).value_or(-1);
  };
  const std::string waits = R"(llmix_key_limit_events_total{provider="openai",event="wait"})";
  ASSERT_TRUE(WaitFor([&] { return metric(waits) == 1; }, std::chrono::seconds(10)));
  // The only worker is free: another provider's call is served while the first one waits.
  v1::CallResponse other;
  ASSERT_TRUE(sidecar
                  ->Call(InlineRequest(R"({"provider":"deepinfra","model":"m"})", "other"), &other,
                         std::chrono::seconds(5))
                  .ok());
  EXPECT_TRUE(other.success()) << other.error().message();
  const auto cancelled_at = std::chrono::steady_clock::now();
  ctx.TryCancel();
  caller.join();
  EXPECT_EQ(waiting_status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled_at, std::chrono::seconds(2));
  EXPECT_EQ(Authorizations(fake), (std::vector<std::string>{"Bearer key-A", "Bearer key-D"}));
  const std::string in_flight = "llmix_calls_in_flight";
  EXPECT_TRUE(WaitFor([&] { return metric(in_flight) == 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(metric(R"(llmix_key_window_requests{provider="openai",key=")" + Fingerprint("key-A") +
                   R"("})"),
            1);
}

constexpr char kFallbackPreset[] = R"(---
name: chain
description: Primary openai (one key, RPM 1) with a deepinfra fallback target.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: primary-model
  llmix-sidecar:
    baseUrl: FAKE_URL
    fallback:
      targets:
        - provider: deepinfra
          model: secondary-model
          baseUrl: FAKE_URL
---
# demo/chain
)";

// A preset with a fallback target does not wait for its primary's keys: the call moves on to
// the next target at once (and the key's window is left alone).
TEST(KeyLimitsE2E, AFallbackTargetServesAtOnceWhenEveryPrimaryKeyIsAtItsLimit) {
  FakeOpenAi fake;
  TempDir dir;
  const std::string root = dir.File("llm");
  std::filesystem::create_directories(root + "/source/demo");
  WriteFile(root + "/source/demo/chain.mda",
            absl::StrReplaceAll(kFallbackPreset, {{"FAKE_URL", fake.base_url()}}));
  CommandResult published = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
  SidecarProcess sidecar(
      {"--registry", root},
      {{"OPENAI_KEYS", "key-A"}, {"OPENAI_KEY_RPM", "1"}, {"DEEPINFRA_API_KEY", "key-D"}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  auto call = [&](const std::string& text, v1::CallResponse* resp) {
    v1::CallRequest req;
    req.set_preset("demo/chain");
    req.add_messages()->set_role("user");
    req.mutable_messages(0)->set_text(text);
    return sidecar.Call(req, resp, std::chrono::seconds(90));
  };
  v1::CallResponse first;
  ASSERT_TRUE(call("first", &first).ok());
  ASSERT_TRUE(first.success()) << first.error().message();
  EXPECT_EQ(first.fallback_index(), 0);
  v1::CallResponse second;
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(call("second", &second).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10))
      << "no ~60 s wait for the primary's key";
  ASSERT_TRUE(second.success()) << second.error().message();
  EXPECT_EQ(second.fallback_index(), 1);
  EXPECT_EQ(second.model(), "secondary-model");
  EXPECT_EQ(Authorizations(fake), (std::vector<std::string>{"Bearer key-A", "Bearer key-D"}));
}

TEST(KeyLimitsE2E, ABadLimitVariableStopsTheSidecarNamingIt) {
  FakeOpenAi fake;
  auto sidecar = Start(fake, {{"ANTHROPIC_KEY_RPM", "lots"}});
  ASSERT_FALSE(sidecar->ready());
  EXPECT_NE(sidecar->error().find("ANTHROPIC_KEY_RPM: expected a whole number"), std::string::npos)
      << sidecar->error();
}

TEST(KeyLimitsE2E, WithoutLimitsEveryCallUsesTheCurrentKey) {
  FakeOpenAi fake;
  auto sidecar = Start(fake, {});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  for (int i = 0; i < 5; ++i) {
    v1::CallResponse r;
    ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "c" + std::to_string(i)), &r).ok());
    EXPECT_TRUE(r.success());
  }
  EXPECT_EQ(Authorizations(fake), std::vector<std::string>(5, "Bearer key-A"));
  std::string metrics;
  ASSERT_EQ(sidecar->AdminGet("/metrics", &metrics), 200);
  EXPECT_EQ(metrics.find("llmix_key_window_requests{"), std::string::npos);
}

}  // namespace
}  // namespace llmix::testing
