// Fallback chains end to end: a published preset whose `metadata.llmix-sidecar.fallback` names
// a second target on another (fake) provider. Primary down -> the secondary serves (and says so
// in the response and /metrics) -> the secondary is tried first while sticky -> the primary
// recovers and serves again once the sticky window is over. Errors the provider would repeat
// (400) never fall back. Real binary, two loopback fakes, no sleeps.
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kPreset[] = R"(---
name: chain
description: Primary with a fallback target.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: primary-model
      temperature: 0.2
    caching:
      strategy: memory
      ttl: 600
  llmix-sidecar:
    baseUrl: PRIMARY_URL
    fallback:
      stickyMs: STICKY_MS
      targets:
        - provider: openai
          model: secondary-model
          baseUrl: SECONDARY_URL
---
# demo/chain
)";

FakeReply Status(int status) {
  FakeReply r;
  r.status = status;
  return r;
}

class FallbackE2E : public ::testing::Test {
 protected:
  void Publish(int sticky_ms) {
    root_ = dir_.File("llm");
    fs::create_directories(root_ + "/source/demo");
    WriteFile(root_ + "/source/demo/chain.mda",
              absl::StrReplaceAll(
                  kPreset, {{"PRIMARY_URL", primary_.base_url()},
                            // Expanded from the sidecar's env at call time.
                            {"SECONDARY_URL", "${LLMIX_E2E_SECONDARY_URL:-http://127.0.0.1:1/v1}"},
                            {"STICKY_MS", std::to_string(sticky_ms)}}));
    CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root_});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  void Start(int sticky_ms) {
    Publish(sticky_ms);
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--registry", root_, "--max-retries", "1", "--retry-base-ms", "10",
                                 "--retry-jitter-ms", "0", "--breaker-threshold", "2",
                                 "--breaker-cooldown-ms", "200"},
        std::map<std::string, std::optional<std::string>>{
            {"OPENAI_API_KEY", "sk-fallback"}, {"LLMIX_E2E_SECONDARY_URL", secondary_.base_url()}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  v1::CallResponse Call(const std::string& text) {
    v1::CallRequest req;
    req.set_preset("demo/chain");
    req.add_messages()->set_role("user");
    req.mutable_messages(0)->set_text(text);
    v1::CallResponse resp;
    grpc::Status st = sidecar_->Call(req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  double Metric(const std::string& series) {
    std::string body;
    sidecar_->AdminGet("/metrics", &body);
    return MetricValue(body, series).value_or(0);
  }

  TempDir dir_;
  std::string root_;
  FakeOpenAi primary_, secondary_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(FallbackE2E, PrimaryDownSecondaryServesThenThePrimaryIsPreferredAgain) {
  Start(/*sticky_ms=*/300);
  // Healthy primary: LLMix semantics, one provider.
  v1::CallResponse r = Call("one");
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.model(), "primary-model");
  EXPECT_EQ(r.fallback_index(), 0);
  EXPECT_EQ(secondary_.RequestCount(), 0u);

  // Primary down: its retries fail, the secondary serves the same call.
  primary_.SetDefault(Status(503));
  r = Call("two");
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.model(), "secondary-model");
  EXPECT_EQ(r.provider(), "openai");
  EXPECT_EQ(r.fallback_index(), 1);
  EXPECT_EQ(primary_.RequestCount(), 1u + 2u) << "1 success, then 1 attempt + 1 retry";
  EXPECT_EQ(secondary_.RequestCount(), 1u);
  EXPECT_EQ(secondary_.Requests().back().json["model"], "secondary-model");
  EXPECT_EQ(Metric(R"(llmix_fallbacks_total{preset="demo/chain",target="1"})"), 1);

  // While sticky, the secondary is tried first: the primary sees nothing new.
  r = Call("three");
  EXPECT_EQ(r.fallback_index(), 1);
  EXPECT_EQ(primary_.RequestCount(), 3u);
  // The secondary's answer was cached under the secondary's own key.
  r = Call("two");
  EXPECT_EQ(r.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(r.fallback_index(), 1);
  EXPECT_EQ(secondary_.RequestCount(), 2u);

  // The primary recovers: once the sticky window is over the chain starts from it again (its
  // breaker, opened by the 503s, lets a probe through after its cooldown).
  primary_.SetDefault(FakeReply{});
  int n = 0;
  ASSERT_TRUE(WaitFor([&] {
    v1::CallResponse again = Call(absl::StrCat("recovery ", n++));
    return again.success() && again.fallback_index() == 0 && again.model() == "primary-model";
  }));
  EXPECT_LT(n, 200);
  const size_t secondary_before = secondary_.RequestCount();
  r = Call("after recovery");
  EXPECT_EQ(r.fallback_index(), 0);
  EXPECT_EQ(secondary_.RequestCount(), secondary_before);
}

TEST_F(FallbackE2E, EveryTargetDownIsTheLastTargetsErrorAndRequestErrorsDoNotFallBack) {
  Start(/*sticky_ms=*/60000);
  primary_.SetDefault(Status(500));
  secondary_.SetDefault(Status(502));
  v1::CallResponse r = Call("all down");
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.error().code(), v1::ERROR_CODE_UPSTREAM_ERROR);
  EXPECT_EQ(r.error().http_status(), 502) << "the last target's error";
  EXPECT_EQ(r.fallback_index(), 1);

  // A request the provider refuses (400) would be refused by the next one too: no fallback.
  primary_.SetDefault(Status(400));
  secondary_.SetDefault(FakeReply{});
  // Fresh sidecar memory: a failed chain remembers nothing, so the primary is first.
  const size_t secondary_before = secondary_.RequestCount();
  r = Call("bad request");
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.error().code(), v1::ERROR_CODE_INVALID_REQUEST);
  EXPECT_EQ(r.fallback_index(), 0);
  EXPECT_EQ(secondary_.RequestCount(), secondary_before);
}

TEST(FallbackConfig, AnInvalidTargetIsRefusedAtPublishNamingTheField) {
  TempDir dir;
  const std::string root = dir.File("llm");
  fs::create_directories(root + "/source/demo");
  WriteFile(root + "/source/demo/chain.mda",
            absl::StrReplaceAll(kPreset, {{"PRIMARY_URL", "http://127.0.0.1:1/v1"},
                                          {"SECONDARY_URL", "ftp://nowhere"},
                                          {"STICKY_MS", "1000"}}));
  CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("fallback.targets.0.baseUrl"), std::string::npos)
      << r.out << r.err;

  WriteFile(root + "/source/demo/chain.mda",
            absl::StrReplaceAll(kPreset, {{"PRIMARY_URL", "http://127.0.0.1:1/v1"},
                                          {"SECONDARY_URL", "http://127.0.0.1:2/v1"},
                                          {"provider: openai\n          model: secondary-model",
                                           "provider: no-such-provider\n          model: m"},
                                          {"STICKY_MS", "1000"}}));
  r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("fallback.targets.0.provider"), std::string::npos)
      << r.out << r.err;

  // A ${VAR} reference may never pull a credential into a preset.
  WriteFile(root + "/source/demo/chain.mda",
            absl::StrReplaceAll(kPreset, {{"PRIMARY_URL", "${OPENAI_API_KEY}"},
                                          {"SECONDARY_URL", "http://127.0.0.1:2/v1"},
                                          {"STICKY_MS", "1000"}}));
  r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("names a secret"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace llmix::testing
