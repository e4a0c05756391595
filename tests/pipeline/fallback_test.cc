// Fallback chains below the e2e level: which results move a call on to the next target, how
// long the serving target stays first, and how a preset's fallback targets are built.
#include <gtest/gtest.h>

#include "pipeline/fallback_stage.h"
#include "pipeline/pipeline_state.h"
#include "registry/snapshot.h"

namespace llmix::pipeline {
namespace {

using nlohmann::json;

CallContext& Failed(CallContext& ctx, CallErrorCode code, bool retryable) {
  CallError e;
  e.code = code;
  e.retryable = retryable;
  ctx.Fail(std::move(e));
  return ctx;
}

TEST(FallbackStage, FallsBackOnUpstreamTroubleButNotOnRequestOrLocalErrors) {
  for (CallErrorCode code :
       {CallErrorCode::kCircuitOpen, CallErrorCode::kKeyPoolExhausted, CallErrorCode::kNoApiKey,
        CallErrorCode::kAuthentication, CallErrorCode::kRateLimited,
        CallErrorCode::kUpstreamUnreachable, CallErrorCode::kUpstreamTimeout,
        CallErrorCode::kUpstreamBadResponse}) {
    CallContext ctx;
    EXPECT_TRUE(FallbackStage::ShouldFallBack(Failed(ctx, code, false))) << static_cast<int>(code);
  }
  CallContext server_error, client_error, invalid, config, kill, ok, grpc_error;
  EXPECT_TRUE(FallbackStage::ShouldFallBack(
      Failed(server_error, CallErrorCode::kUpstreamError, /*retryable=*/true)));  // 5xx
  EXPECT_FALSE(FallbackStage::ShouldFallBack(
      Failed(client_error, CallErrorCode::kUpstreamError, /*retryable=*/false)));  // e.g. 409
  EXPECT_FALSE(
      FallbackStage::ShouldFallBack(Failed(invalid, CallErrorCode::kInvalidRequest, false)));
  EXPECT_FALSE(FallbackStage::ShouldFallBack(Failed(config, CallErrorCode::kConfig, false)));
  EXPECT_FALSE(FallbackStage::ShouldFallBack(Failed(kill, CallErrorCode::kKillSwitch, false)));
  ok.result.success = true;
  EXPECT_FALSE(FallbackStage::ShouldFallBack(ok));
  Failed(grpc_error, CallErrorCode::kUpstreamUnreachable, true).status =
      absl::CancelledError("gone");
  EXPECT_FALSE(FallbackStage::ShouldFallBack(grpc_error)) << "a gRPC-level ending stays";
}

TEST(FallbackMemory, TheServingTargetStaysFirstForTheStickyWindowFromTheFirstSwitch) {
  FallbackMemory m;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const absl::Duration sticky = absl::Seconds(10);
  EXPECT_EQ(m.First("p", "r1", t0), 0);
  m.Served("p", "r1", 2, t0, sticky);
  EXPECT_EQ(m.First("p", "r1", t0 + absl::Seconds(9)), 2);
  // Serving again does not extend the window: the preset's own target gets its retry.
  m.Served("p", "r1", 2, t0 + absl::Seconds(9), sticky);
  EXPECT_EQ(m.First("p", "r1", t0 + absl::Seconds(10)), 0);
  // After the window, a new switch starts a new one.
  m.Served("p", "r1", 2, t0 + absl::Seconds(11), sticky);
  EXPECT_EQ(m.First("p", "r1", t0 + absl::Seconds(20)), 2);
  // Another revision may have other targets; the preset's own target forgets.
  EXPECT_EQ(m.First("p", "r2", t0 + absl::Seconds(12)), 0);
  EXPECT_EQ(m.First("q", "r1", t0 + absl::Seconds(12)), 0);
  m.Served("p", "r1", 0, t0 + absl::Seconds(12), sticky);
  EXPECT_EQ(m.First("p", "r1", t0 + absl::Seconds(13)), 0);
}

TEST(SidecarSettings, FallbackTargetsCarryThePresetsParametersWithTheirOwnProviderAndModel) {
  auto primary = registry::ParseLlmConfig(
      json::parse(R"({"provider":"openai","model":"gpt-4o","common":{"temperature":0.3},
                     "providerOptions":{"openai":{"user":"u"}},
                     "caching":{"strategy":"memory","ttl":60}})"),
      registry::Strictness::kStrict);
  ASSERT_TRUE(primary.ok()) << primary.status();
  auto settings = registry::SidecarSettingsOf(json::parse(R"({"baseUrl":"http://a/v1",
      "fallback":{"stickyMs":1500,"targets":[
        {"provider":"anthropic","model":"claude-3-5-haiku-latest","baseUrl":"http://b/v1"},
        {"provider":"google","model":"gemini-2.0-flash",
         "providerOptions":{"google":{"thinkingConfig":{"thinkingBudget":64}}}}]}})"),
                                              *primary);
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->base_url, "http://a/v1");
  EXPECT_EQ(settings->fallback_sticky, absl::Milliseconds(1500));
  ASSERT_EQ(settings->fallback.size(), 2u);
  const auto& a = settings->fallback[0];
  EXPECT_EQ(a.config.provider, "anthropic");
  EXPECT_EQ(a.config.model, "claude-3-5-haiku-latest");
  EXPECT_EQ(a.base_url, "http://b/v1");
  EXPECT_EQ(a.config.raw["common"]["temperature"], 0.3);
  EXPECT_EQ(a.config.raw["caching"]["ttl"], 60);
  EXPECT_EQ(a.config.raw["providerOptions"], primary->raw["providerOptions"]);
  const auto& g = settings->fallback[1];
  EXPECT_FALSE(g.base_url.has_value());
  EXPECT_EQ(g.config.raw["providerOptions"]["google"]["thinkingConfig"]["thinkingBudget"], 64);

  // A target that is not a valid preset config is refused naming it.
  auto bad = registry::SidecarSettingsOf(
      json::parse(R"({"fallback":{"targets":[{"provider":"openai","model":"m"},
          {"provider":"anthropic","model":"c","providerOptions":{"anthropic":
            {"thinking":{"type":"enabled","budgetTokens":10}}}}]}})"),
      *primary);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("fallback.targets[1]"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace llmix::pipeline
