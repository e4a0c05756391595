// Model tiers end to end (README "Model tiers"): a published preset whose model is "@strong",
// resolved through `metadata.llmix-sidecar.modelMap` for the preset's own provider and for a
// fallback target on another (fake) provider. The fake receives concrete models, the response
// names them, GetConfigInfo and /config show them, and the cache key is that of an identical
// preset naming the concrete model. Real binary, loopback fakes, no sleeps.
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;

// MODEL, NAME and the sidecar namespace are filled in per preset; everything LLMix hashes
// (provider, model once resolved, common, caching, description) is the same for both presets.
constexpr char kPreset[] = R"(---
name: NAME
description: Tiered or not, the same config.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: MODEL
      temperature: 0.2
    caching:
      strategy: memory
      ttl: 600
  llmix-sidecar:
    baseUrl: PRIMARY_URL
SIDECAR---
# demo/NAME
)";

constexpr char kTiers[] = R"(    modelMap:
      openai: {strong: gpt-strong-1, weak: gpt-weak-1}
      together: {strong: together-strong-1}
    fallback:
      targets:
        - provider: together
          model: "@strong"
          baseUrl: SECONDARY_URL
)";

FakeReply Status(int status) {
  FakeReply r;
  r.status = status;
  return r;
}

class ModelTiersE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.File("llm");
    fs::create_directories(root_ + "/source/demo");
    auto write = [&](const std::string& name, const std::string& model,
                     const std::string& sidecar) {
      WriteFile(root_ + "/source/demo/" + name + ".mda",
                absl::StrReplaceAll(absl::StrReplaceAll(kPreset, {{"SIDECAR", sidecar}}),
                                    {{"NAME", name},
                                     {"MODEL", model},
                                     {"PRIMARY_URL", primary_.base_url()},
                                     {"SECONDARY_URL", secondary_.base_url()}}));
    };
    write("tiered", "\"@strong\"", kTiers);
    write("concrete", "gpt-strong-1", "");
    CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root_});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--registry", root_, "--max-retries", "0"},
        std::map<std::string, std::optional<std::string>>{{"OPENAI_API_KEY", "sk-tiers"},
                                                          {"TOGETHER_API_KEY", "sk-tiers-2"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  v1::CallResponse Call(const std::string& preset, const std::string& text) {
    v1::CallRequest req;
    req.set_preset(preset);
    req.add_messages()->set_role("user");
    req.mutable_messages(0)->set_text(text);
    v1::CallResponse resp;
    grpc::Status st = sidecar_->Call(req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  TempDir dir_;
  std::string root_;
  FakeOpenAi primary_, secondary_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(ModelTiersE2E, AtStrongIsTheConcreteModelWithTheSameCacheKey) {
  v1::CallResponse r = Call("demo/tiered", "hello");
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.model(), "gpt-strong-1");
  EXPECT_EQ(r.fallback_index(), 0);
  ASSERT_EQ(primary_.RequestCount(), 1u);
  EXPECT_EQ(primary_.Requests().back().json["model"], "gpt-strong-1");

  // The same messages through the preset naming the concrete model: the key LLMix computes for
  // it is the tiered preset's, so the answer comes from L1 and the provider sees nothing new.
  r = Call("demo/concrete", "hello");
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(r.model(), "gpt-strong-1");
  EXPECT_EQ(primary_.RequestCount(), 1u);

  // GetConfigInfo and /config show the resolved model.
  grpc::ClientContext ctx;
  v1::ConfigInfo info;
  ASSERT_TRUE(sidecar_->stub().GetConfigInfo(&ctx, v1::GetConfigInfoRequest(), &info).ok());
  bool found = false;
  for (const auto& p : info.presets()) {
    if (p.id() != "demo/tiered") continue;
    found = true;
    EXPECT_EQ(p.model(), "gpt-strong-1");
  }
  EXPECT_TRUE(found);
  std::string body;
  ASSERT_EQ(sidecar_->AdminGet("/config", &body), 200);
  nlohmann::json config = nlohmann::json::parse(body, nullptr, false);
  ASSERT_TRUE(config.is_object()) << body;
  found = false;
  for (const auto& p : config["presets"]) {
    if (p["id"] != "demo/tiered") continue;
    found = true;
    EXPECT_EQ(p["model"], "gpt-strong-1");
  }
  EXPECT_TRUE(found) << body;
}

TEST_F(ModelTiersE2E, TheFallbackTargetGetsItsOwnProvidersModelForTheSameTier) {
  primary_.SetDefault(Status(503));
  v1::CallResponse r = Call("demo/tiered", "primary down");
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.fallback_index(), 1);
  EXPECT_EQ(r.provider(), "together");
  EXPECT_EQ(r.model(), "together-strong-1");
  ASSERT_EQ(secondary_.RequestCount(), 1u);
  EXPECT_EQ(secondary_.Requests().back().json["model"], "together-strong-1");
}

TEST(ModelTiersConfig, AnUnmappedTierIsRefusedAtPublishNamingTheField) {
  TempDir dir;
  const std::string root = dir.File("llm");
  fs::create_directories(root + "/source/demo");
  WriteFile(root + "/source/demo/tiered.mda",
            absl::StrReplaceAll(absl::StrReplaceAll(kPreset, {{"SIDECAR", kTiers}}),
                                {{"NAME", "tiered"},
                                 {"MODEL", "\"@cheap\""},
                                 {"PRIMARY_URL", "http://127.0.0.1:1/v1"},
                                 {"SECONDARY_URL", "http://127.0.0.1:2/v1"}}));
  CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err)
                .find("metadata.snoai-llmix.common.model: \"@cheap\" has no modelMap "
                      "entry for provider \"openai\""),
            std::string::npos)
      << r.out << r.err;
}

}  // namespace
}  // namespace llmix::testing
