// End-to-end per wire protocol: the real sidecar binary calls loopback fakes speaking
// Anthropic Messages, Gemini generateContent and sno-gpu's OpenAI dialect; the answer is
// normalised, separate reasoning comes back as thinking, and a second call is a cache hit.
#include <gtest/gtest.h>

#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

class ProviderE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--max-retries", "0"},
        std::map<std::string, std::optional<std::string>>{
            {"ANTHROPIC_BASE_URL", anthropic_.base_url()},
            {"ANTHROPIC_API_KEY", "sk-ant-e2e-secret-0001"},
            {"GOOGLE_BASE_URL", gemini_.base_url()},
            {"GOOGLE_API_KEY", "gm-e2e-secret-0001"},
            {"GPU_BASE_URL", "http://127.0.0.1:" + std::to_string(gpu_.port())},
            {"SNO_GPU_API_KEY", "gpu-e2e-secret-0001"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  FakeOpenAi anthropic_{FakeProtocol::kAnthropicMessages};
  FakeOpenAi gemini_{FakeProtocol::kGeminiGenerateContent};
  FakeOpenAi gpu_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(ProviderE2E, AnthropicThinkingUsageAndCacheHit) {
  FakeReply reply;
  reply.content = "Paris.";
  reply.reasoning_content = "The capital of France";
  reply.prompt_tokens = 9;
  reply.completion_tokens = 2;
  anthropic_.Enqueue(reply);
  const std::string config =
      R"({"provider":"anthropic","model":"claude-sonnet-4-5","common":{"maxOutputTokens":100},
          "caching":{"strategy":"memory"},
          "providerOptions":{"anthropic":{"thinking":{"type":"enabled","budgetTokens":1024}}}})";
  v1::CallRequest req = InlineRequest(config, "Capital of France?");
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar_->Call(req, &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  EXPECT_EQ(resp.content(), "Paris.");
  EXPECT_EQ(resp.thinking_content(), "The capital of France");
  EXPECT_EQ(resp.usage().input_tokens(), 9);
  EXPECT_EQ(resp.usage().total_tokens(), 11);
  auto reqs = anthropic_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers["x-api-key"], "sk-ant-e2e-secret-0001");
  EXPECT_EQ(reqs[0].json["max_tokens"], 1124) << reqs[0].body;
  EXPECT_EQ(reqs[0].json["thinking"]["budget_tokens"], 1024);
  // Whole numbers go on the wire as integers, as JSON.stringify writes them.
  EXPECT_NE(reqs[0].body.find(R"("budget_tokens":1024,)"), std::string::npos) << reqs[0].body;

  v1::CallResponse again;
  ASSERT_TRUE(sidecar_->Call(req, &again).ok());
  EXPECT_EQ(again.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(again.content(), "Paris.");
  EXPECT_EQ(again.thinking_content(), "The capital of France");  // thinking survives the cache
  EXPECT_EQ(anthropic_.RequestCount(), 1u);
}

TEST_F(ProviderE2E, GeminiKeyInHeaderAndToolCall) {
  FakeReply reply;
  reply.content = "";
  reply.tool_calls = nlohmann::json::parse(
      R"([{"id":"c1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}])");
  gemini_.Enqueue(reply);
  v1::CallRequest req = InlineRequest(R"({"provider":"google","model":"gemini-2.5-flash"})", "Find x");
  v1::Tool* tool = req.add_tools();
  tool->set_name("lookup");
  tool->set_parameters_json(R"({"type":"object","properties":{"q":{"type":"string"}}})");
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar_->Call(req, &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  ASSERT_EQ(resp.tool_calls_size(), 1);
  EXPECT_EQ(resp.tool_calls(0).function().name(), "lookup");
  EXPECT_EQ(nlohmann::json::parse(resp.tool_calls(0).function().arguments()), (nlohmann::json{{"q", "x"}}));
  auto reqs = gemini_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1beta/models/gemini-2.5-flash:generateContent");
  EXPECT_EQ(reqs[0].headers["x-goog-api-key"], "gm-e2e-secret-0001");
  EXPECT_EQ(reqs[0].json["tools"][0]["functionDeclarations"][0]["name"], "lookup");
}

TEST_F(ProviderE2E, SnoGpuHeadersThinkingBodyAndReasoningFallback) {
  FakeReply reply;
  reply.content = "";
  reply.reasoning_content = "answer via reasoning";
  gpu_.Enqueue(reply);
  v1::CallRequest req = InlineRequest(
      R"({"provider":"sno-gpu","model":"qwen3.5-27b","common":{"enableThinking":true},
          "providerOptions":{"sno-gpu":{"thinkingBudget":256}}})",
      "hi");
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar_->Call(req, &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  EXPECT_EQ(resp.content(), "answer via reasoning");
  auto reqs = gpu_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].headers["x-internal-token"], "gpu-e2e-secret-0001");
  EXPECT_EQ(reqs[0].headers["x-sno-llm-key"], "gpu-e2e-secret-0001");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer not-used");
  EXPECT_EQ(reqs[0].json["extra_body"]["chat_template_kwargs"],
            (nlohmann::json{{"enable_thinking", true}, {"thinking_budget", 256}}));
}

}  // namespace
}  // namespace llmix::testing
