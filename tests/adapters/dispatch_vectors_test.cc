// LLMix's dispatch vectors (family dispatch_args, CONTRACT §10) against the adapters' request
// shaping: system messages become the instructions, the other messages pass through, OpenRouter
// requests (model mapping, message conversion, routing options) match the recorded SDK request,
// and sno-gpu's thinking settings move into extra_body exactly as LLMix's fetch wrapper does.
#include <gtest/gtest.h>

#include "adapters/anthropic_messages_adapter.h"
#include "adapters/gemini_adapter.h"
#include "adapters/openai_chat_adapter.h"
#include "common/env.h"
#include "pipeline/provider_kwargs.h"
#include "registry/llm_config.h"
#include "tests/support/fixtures.h"

namespace llmix::adapters {
namespace {

using nlohmann::json;
using testing::FixtureCase;

MapEnv EnvOf(const json& input) {
  MapEnv env;
  if (input.contains("env") && input["env"].is_object()) {
    for (const auto& [k, v] : input["env"].items()) {
      if (v.is_string()) env.Set(k, v.get<std::string>());
    }
  }
  return env;
}

const json* SdkCall(const FixtureCase& c, std::string_view name) {
  for (const json& call : c.expected["sdkCalls"]) {
    if (call["call"] == name) return &call;
  }
  return nullptr;
}

// The request the adapters get for this vector, as the pipeline would build it.
ProviderRequest RequestOf(const FixtureCase& c, const json& messages) {
  const json& config = c.input.at("config");
  auto parsed = registry::ParseLlmConfig(config, registry::Strictness::kLenient);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  ProviderRequest r;
  r.provider = config["provider"];
  r.model = config["model"];
  r.messages = &messages;
  if (parsed.ok()) {
    auto kwargs = pipeline::BuildRequestKwargs(*parsed, EnvOf(c.input));
    EXPECT_TRUE(kwargs.ok()) << kwargs.status();
    if (kwargs.ok()) r.kwargs = *kwargs;
  }
  if (config.contains("providerOptions") && config["providerOptions"].contains(r.provider)) {
    r.provider_options = config["providerOptions"][r.provider];
  }
  return r;
}

// camelCase keys (recursively) -> snake_case: the OpenRouter SDK's request -> its wire body.
json Snake(const json& v) {
  if (v.is_array()) {
    json out = json::array();
    for (const auto& e : v) out.push_back(Snake(e));
    return out;
  }
  if (!v.is_object()) return v;
  json out = json::object();
  for (const auto& [k, e] : v.items()) {
    std::string s;
    for (char ch : k) {
      if (ch >= 'A' && ch <= 'Z') {
        s += '_';
        s += static_cast<char>(ch - 'A' + 'a');
      } else {
        s += ch;
      }
    }
    // Option bodies (provider routing, reasoning) keep their own spelling.
    out[s] = (k == "provider" || k == "reasoning" || k == "function") ? e : Snake(e);
  }
  return out;
}

class DispatchVectors : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(DispatchVectors, RequestShapingMatchesLLMix) {
  const FixtureCase& c = GetParam();
  const json messages = c.input.at("messages");
  ProviderRequest r = RequestOf(c, messages);
  const std::string dispatcher = c.expected.value("dispatcher", "");

  if (const json* send = SdkCall(c, "@openrouter/sdk.chat.send")) {
    auto body = OpenAiChatAdapter::BuildBody(r, nullptr);
    ASSERT_TRUE(body.ok()) << body.status();
    const json expected = Snake(send->at("request").at("chatRequest"));
    for (const auto& [k, v] : expected.items()) {
      ASSERT_TRUE(body->contains(k)) << "missing " << k << " in " << body->dump();
      EXPECT_EQ((*body)[k], v) << k;
    }
    for (const auto& [k, v] : body->items()) EXPECT_TRUE(expected.contains(k)) << "extra field " << k;
    return;
  }

  const json* generate = SdkCall(c, "ai.generateText");
  ASSERT_NE(generate, nullptr);
  const json& args = generate->at("args");
  const std::string instructions = args.value("instructions", "");
  if (dispatcher == "anthropicDispatch") {
    auto body = AnthropicMessagesAdapter::BuildBody(r, nullptr);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(body->value("system", ""), instructions);
    ASSERT_EQ((*body)["messages"].size(), args["messages"].size());
    if (args.contains("providerOptions")) {
      // budgetTokens -> budget_tokens; only the provider's own options are forwarded.
      const json& thinking = args["providerOptions"]["anthropic"]["thinking"];
      EXPECT_EQ((*body)["thinking"]["budget_tokens"], thinking["budgetTokens"]);
    }
  } else if (dispatcher == "geminiDispatch") {
    auto body = GeminiAdapter::BuildBody(r, nullptr);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ((*body)["systemInstruction"]["parts"][0]["text"], instructions);
    ASSERT_EQ((*body)["contents"].size(), args["messages"].size());
    if (args.contains("temperature")) EXPECT_EQ((*body)["generationConfig"]["temperature"], args["temperature"]);
    if (args.contains("providerOptions")) {
      EXPECT_EQ((*body)["generationConfig"]["thinkingConfig"], args["providerOptions"]["google"]["thinkingConfig"]);
    }
  } else {
    auto body = OpenAiChatAdapter::BuildBody(r, nullptr);
    ASSERT_TRUE(body.ok()) << body.status();
    json expected = json::array();
    if (!instructions.empty()) expected.push_back({{"role", "system"}, {"content", instructions}});
    for (const auto& m : args["messages"]) expected.push_back(m);
    EXPECT_EQ((*body)["messages"], expected);
    if (args.contains("temperature")) EXPECT_EQ((*body)["temperature"], args["temperature"]);
  }

  if (c.expected.contains("fetchWrapper")) {
    const json& fw = c.expected["fetchWrapper"];
    json shaped = fw["requestBodyIn"];
    OpenAiChatAdapter::ShapeSnoGpuBody(r.kwargs, shaped);
    EXPECT_EQ(shaped, fw["sent"][0]["body"]);
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, DispatchVectors,
                         ::testing::ValuesIn(testing::LoadFixtureCases("dispatch_args")),
                         testing::FixtureCaseName);

}  // namespace
}  // namespace llmix::adapters
