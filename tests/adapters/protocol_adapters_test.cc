// The three wire protocols against loopback fakes that speak them: each test runs for
// OpenAI Chat, Anthropic Messages and Gemini generateContent through the Dispatcher, and
// checks what the fake received (body, auth header placement) and what came back.
#include <gtest/gtest.h>

#include "adapters/anthropic_messages_adapter.h"
#include "adapters/dispatcher.h"
#include "adapters/gemini_adapter.h"
#include "adapters/openai_chat_adapter.h"
#include "adapters/wire_common.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::adapters {
namespace {

using nlohmann::json;
using testing::FakeOpenAi;
using testing::FakeProtocol;
using testing::FakeReply;

constexpr const char* kKey = "sk-proto-secret-7777";

struct Protocol {
  const char* name;
  FakeProtocol fake;
  const char* provider;
};

void PrintTo(const Protocol& p, std::ostream* os) { *os << p.name; }

class ProtocolTest : public ::testing::TestWithParam<Protocol> {
 protected:
  ProviderRequest Request(const json& messages) {
    messages_ = messages;
    ProviderRequest r;
    r.provider = GetParam().provider;
    r.model = "model-x";
    r.base_url = fake_.base_url();
    r.api_key = kKey;
    r.messages = &messages_;
    r.timeout = absl::Seconds(5);
    return r;
  }
  FakeProtocol protocol() const { return GetParam().fake; }
  // The conversation the fake received, as (role, text) pairs in its own protocol's shape.
  std::vector<std::pair<std::string, std::string>> Turns(const json& body) const {
    std::vector<std::pair<std::string, std::string>> out;
    if (protocol() == FakeProtocol::kOpenAiChat) {
      for (const auto& m : body["messages"]) {
        std::string text = m["content"].is_string() ? m["content"].get<std::string>() : "";
        if (m["content"].is_array()) {
          for (const auto& p : m["content"]) text += p.value("text", "");
        }
        out.emplace_back(m["role"], text);
      }
    } else if (protocol() == FakeProtocol::kAnthropicMessages) {
      if (body.contains("system")) out.emplace_back("system", body["system"]);
      for (const auto& m : body["messages"]) {
        std::string text;
        for (const auto& b : m["content"]) {
          if (b["type"] == "text") text += b["text"].get<std::string>();
        }
        out.emplace_back(m["role"], text);
      }
    } else {
      if (body.contains("systemInstruction")) {
        out.emplace_back("system", body["systemInstruction"]["parts"][0]["text"]);
      }
      for (const auto& c : body["contents"]) {
        std::string text;
        for (const auto& p : c["parts"]) {
          if (p.contains("text")) text += p["text"].get<std::string>();
        }
        out.emplace_back(c["role"] == "model" ? "assistant" : c["role"].get<std::string>(), text);
      }
    }
    return out;
  }

  FakeOpenAi fake_{GetParam().fake};
  Dispatcher dispatcher_{[] {
    DispatcherOptions o;
    o.transport.max_response_bytes = 64 * 1024;
    return o;
  }()};
  json messages_;
};

TEST_P(ProtocolTest, PlainTextWithSystemPromptAndAuthHeaderPlacement) {
  FakeReply reply;
  reply.content = "Hello there";
  reply.model = "model-x-2025";
  reply.prompt_tokens = 12;
  reply.completion_tokens = 4;
  fake_.Enqueue(reply);
  ProviderOutcome out = dispatcher_.Send(Request(json::parse(
      R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
          {"role":"system","content":"Really."}])")));
  ASSERT_TRUE(out.ok()) << out.error->message;
  EXPECT_EQ(out.response.content, "Hello there");
  EXPECT_EQ(out.response.model, "model-x-2025");
  EXPECT_EQ(out.response.usage.input_tokens, 12);
  EXPECT_EQ(out.response.usage.output_tokens, 4);
  EXPECT_EQ(out.response.usage.total_tokens, 16);
  EXPECT_EQ(out.response.finish_reason, "stop");

  auto reqs = fake_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& h = reqs[0].headers;
  // System messages are joined into one instruction (CONTRACT §10).
  auto turns = Turns(reqs[0].json);
  ASSERT_EQ(turns.size(), 2u);
  EXPECT_EQ(turns[0], (std::pair<std::string, std::string>{"system", "Be brief.\n\nReally."}));
  EXPECT_EQ(turns[1], (std::pair<std::string, std::string>{"user", "Hi"}));
  switch (protocol()) {
    case FakeProtocol::kOpenAiChat:
      EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
      EXPECT_EQ(h.at("authorization"), std::string("Bearer ") + kKey);
      EXPECT_EQ(reqs[0].json["model"], "model-x");
      break;
    case FakeProtocol::kAnthropicMessages:
      EXPECT_EQ(reqs[0].path, "/v1/messages");
      EXPECT_EQ(h.at("x-api-key"), kKey);
      EXPECT_EQ(h.at("anthropic-version"), "2023-06-01");
      EXPECT_FALSE(h.contains("authorization"));
      EXPECT_EQ(reqs[0].json["model"], "model-x");
      EXPECT_EQ(reqs[0].json["max_tokens"], AnthropicMessagesAdapter::kDefaultMaxTokens);
      break;
    case FakeProtocol::kGeminiGenerateContent:
      EXPECT_EQ(reqs[0].path, "/v1beta/models/model-x:generateContent");
      EXPECT_EQ(h.at("x-goog-api-key"), kKey);
      EXPECT_FALSE(h.contains("authorization"));
      EXPECT_EQ(reqs[0].path.find(kKey), std::string::npos);  // never in the URL
      break;
  }
}

TEST_P(ProtocolTest, MultiTurnKeepsOrderAndSamplingParameters) {
  ProviderRequest r = Request(json::parse(R"([
      {"role":"user","content":"one"},{"role":"assistant","content":"two"},
      {"role":"user","content":[{"type":"text","text":"three"}]}])"));
  r.kwargs = {{"temperature", 0.3}, {"top_p", 0.9}, {"max_tokens", 77}, {"stop", json::array({"END"})}};
  ProviderOutcome out = dispatcher_.Send(r);
  ASSERT_TRUE(out.ok()) << out.error->message;
  const json body = fake_.Requests().at(0).json;
  auto turns = Turns(body);
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[0].second, "one");
  EXPECT_EQ(turns[1], (std::pair<std::string, std::string>{"assistant", "two"}));
  EXPECT_EQ(turns[2].second, "three");
  switch (protocol()) {
    case FakeProtocol::kOpenAiChat:
      EXPECT_EQ(body["temperature"], 0.3);
      EXPECT_EQ(body["max_tokens"], 77);
      EXPECT_EQ(body["stop"], json::array({"END"}));
      break;
    case FakeProtocol::kAnthropicMessages:
      EXPECT_EQ(body["temperature"], 0.3);
      EXPECT_EQ(body["top_p"], 0.9);
      EXPECT_EQ(body["max_tokens"], 77);
      EXPECT_EQ(body["stop_sequences"], json::array({"END"}));
      break;
    case FakeProtocol::kGeminiGenerateContent:
      EXPECT_EQ(body["generationConfig"]["temperature"], 0.3);
      EXPECT_EQ(body["generationConfig"]["topP"], 0.9);
      EXPECT_EQ(body["generationConfig"]["maxOutputTokens"], 77);
      EXPECT_EQ(body["generationConfig"]["stopSequences"], json::array({"END"}));
      break;
  }
}

TEST_P(ProtocolTest, ToolCallRoundTrip) {
  FakeReply reply;
  reply.content = "";
  reply.tool_calls = json::parse(
      R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])");
  fake_.Enqueue(reply);
  const json tools = json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])");
  ProviderRequest r = Request(json::parse(R"([{"role":"user","content":"Weather in Paris?"}])"));
  r.tools = tools;
  r.tool_choice = "auto";
  ProviderOutcome first = dispatcher_.Send(r);
  ASSERT_TRUE(first.ok()) << first.error->message;
  ASSERT_EQ(first.response.tool_calls.size(), 1u);
  EXPECT_EQ(first.response.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(first.response.tool_calls[0].arguments), (json{{"city", "Paris"}}));
  EXPECT_EQ(first.response.finish_reason, "tool_calls");
  EXPECT_FALSE(first.response.tool_calls[0].id.empty());

  // The tool declaration reached the provider in its own shape.
  const json sent = fake_.Requests().at(0).json;
  switch (protocol()) {
    case FakeProtocol::kOpenAiChat:
      EXPECT_EQ(sent["tools"], tools);
      break;
    case FakeProtocol::kAnthropicMessages:
      EXPECT_EQ(sent["tools"][0]["name"], "get_weather");
      EXPECT_EQ(sent["tools"][0]["input_schema"]["properties"]["city"]["type"], "string");
      EXPECT_EQ(sent["tool_choice"], (json{{"type", "auto"}}));
      break;
    case FakeProtocol::kGeminiGenerateContent:
      EXPECT_EQ(sent["tools"][0]["functionDeclarations"][0]["name"], "get_weather");
      EXPECT_EQ(sent["toolConfig"]["functionCallingConfig"]["mode"], "AUTO");
      break;
  }

  // Second turn: the assistant's call and the tool's result go back.
  const std::string id = first.response.tool_calls[0].id;
  json history = json::parse(R"([{"role":"user","content":"Weather in Paris?"}])");
  history.push_back({{"role", "assistant"},
                     {"content", nullptr},
                     {"tool_calls", {{{"id", id}, {"type", "function"},
                                      {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}}}});
  history.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", "{\"temp\":21}"}});
  fake_.Enqueue(FakeReply{.content = "It is 21 degrees."});
  r = Request(history);
  r.tools = tools;
  ProviderOutcome second = dispatcher_.Send(r);
  ASSERT_TRUE(second.ok()) << second.error->message;
  EXPECT_EQ(second.response.content, "It is 21 degrees.");
  const json back = fake_.Requests().at(1).json;
  switch (protocol()) {
    case FakeProtocol::kOpenAiChat:
      EXPECT_EQ(back["messages"][2]["tool_call_id"], id);
      break;
    case FakeProtocol::kAnthropicMessages: {
      const json& assistant = back["messages"][1];
      EXPECT_EQ(assistant["role"], "assistant");
      EXPECT_EQ(assistant["content"][0]["type"], "tool_use");
      EXPECT_EQ(assistant["content"][0]["input"], (json{{"city", "Paris"}}));
      const json& result = back["messages"][2];
      EXPECT_EQ(result["role"], "user");
      EXPECT_EQ(result["content"][0]["type"], "tool_result");
      EXPECT_EQ(result["content"][0]["tool_use_id"], id);
      break;
    }
    case FakeProtocol::kGeminiGenerateContent: {
      EXPECT_EQ(back["contents"][1]["role"], "model");
      EXPECT_EQ(back["contents"][1]["parts"][0]["functionCall"]["args"], (json{{"city", "Paris"}}));
      const json& fr = back["contents"][2]["parts"][0]["functionResponse"];
      EXPECT_EQ(fr["name"], "get_weather");  // found through the earlier call's id
      EXPECT_EQ(fr["response"], (json{{"temp", 21}}));
      break;
    }
  }
}

TEST_P(ProtocolTest, ThinkingOutputIsReturnedAsReasoning) {
  FakeReply reply;
  reply.content = "42";
  reply.reasoning_content = "Let me think.";
  fake_.Enqueue(reply);
  ProviderOutcome out = dispatcher_.Send(Request(json::parse(R"([{"role":"user","content":"q"}])")));
  ASSERT_TRUE(out.ok()) << out.error->message;
  EXPECT_EQ(out.response.content, "42");
  ASSERT_TRUE(out.response.reasoning_content.has_value());
  EXPECT_EQ(*out.response.reasoning_content, "Let me think.");
}

TEST_P(ProtocolTest, ErrorBodiesBecomeStructuredErrors) {
  struct Case {
    int status;
    CallErrorCode code;
    bool retryable;
  };
  for (const Case& c : {Case{400, CallErrorCode::kInvalidRequest, false},
                        Case{401, CallErrorCode::kAuthentication, false},
                        Case{429, CallErrorCode::kRateLimited, true},
                        Case{500, CallErrorCode::kUpstreamError, true}}) {
    fake_.Enqueue(FakeReply{.status = c.status});
    ProviderOutcome out = dispatcher_.Send(Request(json::parse(R"([{"role":"user","content":"q"}])")));
    ASSERT_FALSE(out.ok()) << c.status;
    EXPECT_EQ(out.http_status, c.status);
    EXPECT_EQ(out.error->code, c.code) << c.status;
    EXPECT_EQ(out.error->retryable, c.retryable) << c.status;
    EXPECT_NE(out.error->message.find("fake error " + std::to_string(c.status)), std::string::npos)
        << out.error->message;
    EXPECT_EQ(out.error->provider_error_type,
              protocol() == FakeProtocol::kGeminiGenerateContent ? "FAKE_ERROR" : "fake_error");
  }
}

TEST_P(ProtocolTest, KeyEchoedInAnErrorBodyIsRedacted) {
  FakeReply reply;
  reply.status = 401;
  reply.raw_body = std::string(R"({"error":{"message":"bad key )") + kKey + R"(","type":"auth"}})";
  fake_.Enqueue(reply);
  ProviderOutcome out = dispatcher_.Send(Request(json::parse(R"([{"role":"user","content":"q"}])")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->message.find(kKey), std::string::npos) << out.error->message;
}

TEST_P(ProtocolTest, MalformedTruncatedAndOversizedBodies) {
  for (const std::string body : {std::string("not json"), std::string(R"({"content":[{"type":"te)"),
                                 std::string("[]")}) {
    FakeReply reply;
    reply.raw_body = body;
    fake_.Enqueue(reply);
    ProviderOutcome out = dispatcher_.Send(Request(json::parse(R"([{"role":"user","content":"q"}])")));
    ASSERT_FALSE(out.ok()) << body;
    EXPECT_EQ(out.error->code, CallErrorCode::kUpstreamBadResponse) << body;
  }
  FakeReply huge;
  huge.content = std::string(200 * 1024, 'x');  // over the 64 KiB cap of this transport
  fake_.Enqueue(huge);
  ProviderOutcome out = dispatcher_.Send(Request(json::parse(R"([{"role":"user","content":"q"}])")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->code, CallErrorCode::kUpstreamBadResponse);
  EXPECT_FALSE(out.error->retryable);
}

TEST_P(ProtocolTest, ImagePartsAreSentInTheProtocolsShape) {
  ProviderOutcome out = dispatcher_.Send(Request(json::parse(R"([{"role":"user","content":[
      {"type":"text","text":"What is this?"},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}])")));
  ASSERT_TRUE(out.ok()) << out.error->message;
  const json body = fake_.Requests().at(0).json;
  switch (protocol()) {
    case FakeProtocol::kOpenAiChat:
      EXPECT_EQ(body["messages"][0]["content"][1]["type"], "image_url");
      break;
    case FakeProtocol::kAnthropicMessages:
      EXPECT_EQ(body["messages"][0]["content"][1]["source"],
                (json{{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0KGgo="}}));
      break;
    case FakeProtocol::kGeminiGenerateContent:
      EXPECT_EQ(body["contents"][0]["parts"][1]["inlineData"],
                (json{{"mimeType", "image/png"}, {"data", "iVBORw0KGgo="}}));
      break;
  }
}

TEST_P(ProtocolTest, UnsupportedPartsAndBadSystemContentAreClearErrors) {
  ProviderOutcome out = dispatcher_.Send(
      Request(json::parse(R"([{"role":"system","content":[{"type":"text","text":"x"}]},{"role":"user","content":"q"}])")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->code, CallErrorCode::kInvalidRequest);
  EXPECT_NE(out.error->message.find("messages[0].content"), std::string::npos) << out.error->message;
  if (protocol() == FakeProtocol::kOpenAiChat) return;  // OpenAI passes other parts through
  out = dispatcher_.Send(
      Request(json::parse(R"([{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}])")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->code, CallErrorCode::kInvalidRequest);
  EXPECT_NE(out.error->message.find("messages[0].content[0].type"), std::string::npos) << out.error->message;
  EXPECT_EQ(fake_.RequestCount(), 0u);  // refused locally, nothing sent
}

INSTANTIATE_TEST_SUITE_P(
    Protocols, ProtocolTest,
    ::testing::Values(Protocol{"openai_chat", FakeProtocol::kOpenAiChat, "openai"},
                      Protocol{"anthropic_messages", FakeProtocol::kAnthropicMessages, "anthropic"},
                      Protocol{"gemini", FakeProtocol::kGeminiGenerateContent, "google"}),
    [](const ::testing::TestParamInfo<Protocol>& info) { return std::string(info.param.name); });

// ---- Protocol-specific request shaping ----

TEST(AnthropicBody, ThinkingOptionsMapToWireNamesAndRaiseMaxTokens) {
  json messages = json::parse(R"([{"role":"user","content":"q"}])");
  ProviderRequest r;
  r.provider = "anthropic";
  r.model = "claude-sonnet-4-5";
  r.messages = &messages;
  r.kwargs = {{"temperature", 0.5}, {"max_tokens", 1000}};
  r.provider_options = json::parse(R"({"thinking":{"type":"enabled","budgetTokens":2048},"futureOption":1})");
  std::vector<std::string> unknown;
  auto body = AnthropicMessagesAdapter::BuildBody(r, &unknown);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ((*body)["thinking"], (json{{"type", "enabled"}, {"budget_tokens", 2048}}));
  EXPECT_EQ((*body)["max_tokens"], 3048);
  EXPECT_FALSE(body->contains("temperature"));  // refused by Anthropic alongside thinking
  EXPECT_EQ((*body)["futureOption"], 1);        // unknown options pass through unchanged
  EXPECT_EQ(unknown, std::vector<std::string>{"futureOption"});
}

TEST(AnthropicBody, JsonSchemaOutputUsesAForcedToolAndReturnsItsInputAsText) {
  json messages = json::parse(R"([{"role":"user","content":"q"}])");
  ProviderRequest r;
  r.provider = "anthropic";
  r.messages = &messages;
  r.kwargs = json::parse(R"({"response_format":{"type":"json_schema","json_schema":{"name":"Out",
      "schema":{"type":"object","properties":{"a":{"type":"string"}}}}}})");
  auto body = AnthropicMessagesAdapter::BuildBody(r, nullptr);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["tool_choice"], (json{{"type", "tool"}, {"name", "json"}}));
  EXPECT_EQ((*body)["tools"][0]["input_schema"]["properties"]["a"]["type"], "string");
  ProviderResponse out;
  std::string err;
  ASSERT_TRUE(AnthropicMessagesAdapter::ParseResponse(
      R"({"content":[{"type":"tool_use","id":"t","name":"json","input":{"a":"x"}}],"stop_reason":"tool_use"})",
      &out, &err));
  EXPECT_EQ(out.content, R"({"a":"x"})");
  EXPECT_TRUE(out.tool_calls.empty());
  EXPECT_EQ(out.finish_reason, "stop");
}

TEST(GeminiBody, ProviderOptionsAndResponseFormatLandInGenerationConfig) {
  json messages = json::parse(R"([{"role":"user","content":"q"}])");
  ProviderRequest r;
  r.provider = "google";
  r.model = "gemini-2.5-flash";
  r.messages = &messages;
  // The kwargs' thinkingConfig is LLMix's and is not forwarded (CONTRACT §10).
  r.kwargs = json::parse(R"({"thinkingConfig":{"thinkingBudget":0},"response_format":{"type":"json_object"}})");
  r.provider_options = json::parse(R"({"thinkingConfig":{"includeThoughts":true},"safetySettings":[]})");
  auto body = GeminiAdapter::BuildBody(r, nullptr);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["generationConfig"]["thinkingConfig"], (json{{"includeThoughts", true}}));
  EXPECT_EQ((*body)["generationConfig"]["responseMimeType"], "application/json");
  EXPECT_EQ((*body)["safetySettings"], json::array());
  EXPECT_FALSE(body->contains("thinkingConfig"));
}

TEST(GeminiParse, UsageFinishReasonsAndBlockedPrompts) {
  ProviderResponse out;
  std::string err;
  ASSERT_TRUE(GeminiAdapter::ParseResponse(R"({"candidates":[{"content":{"parts":[{"text":"a"}]},
      "finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,
      "thoughtsTokenCount":3,"cachedContentTokenCount":4,"totalTokenCount":10}})", &out, &err));
  EXPECT_EQ(out.finish_reason, "length");
  EXPECT_EQ(out.usage.input_tokens, 5);
  EXPECT_EQ(out.usage.output_tokens, 5);
  EXPECT_EQ(out.usage.total_tokens, 10);
  EXPECT_EQ(out.usage.cached_input_tokens, 4);
  EXPECT_EQ(out.usage.reasoning_tokens, 3);
  ProviderResponse blocked;
  EXPECT_FALSE(GeminiAdapter::ParseResponse(R"({"promptFeedback":{"blockReason":"SAFETY"}})", &blocked, &err));
  EXPECT_NE(err.find("SAFETY"), std::string::npos);
}

TEST(OpenAiChatBody, ProviderOptionsUseWireNames) {
  json messages = json::parse(R"([{"role":"user","content":"q"}])");
  ProviderRequest r;
  r.provider = "openai";
  r.model = "o3";
  r.messages = &messages;
  r.provider_options = json::parse(R"({"reasoningEffort":"high","parallelToolCalls":false,"user":"u1"})");
  auto body = OpenAiChatAdapter::BuildBody(r, nullptr);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["reasoning_effort"], "high");
  EXPECT_EQ((*body)["parallel_tool_calls"], false);
  EXPECT_EQ((*body)["user"], "u1");
}

TEST(Helicone, DefaultOpenAiUrlIsRoutedThroughHeliconeWithItsAuthHeader) {
  FakeOpenAi helicone;
  DispatcherOptions o;
  o.helicone.api_key = "hk-1";
  o.helicone.openai_base_url = helicone.base_url();
  Dispatcher dispatcher(o);
  json messages = json::parse(R"([{"role":"user","content":"q"}])");
  ProviderRequest r;
  r.provider = "openai";
  r.model = "gpt-4o";
  r.base_url = "https://api.openai.com/v1";  // the default: routed
  r.api_key = kKey;
  r.messages = &messages;
  r.timeout = absl::Seconds(5);
  ASSERT_TRUE(dispatcher.Send(r).ok());
  ASSERT_EQ(helicone.RequestCount(), 1u);
  EXPECT_EQ(helicone.Requests()[0].headers.at("helicone-auth"), "Bearer hk-1");
  EXPECT_EQ(helicone.Requests()[0].headers.at("authorization"), std::string("Bearer ") + kKey);

  FakeOpenAi gateway;  // a configured base URL is left alone: no Helicone header
  r.base_url = gateway.base_url();
  ASSERT_TRUE(dispatcher.Send(r).ok());
  ASSERT_EQ(gateway.RequestCount(), 1u);
  EXPECT_FALSE(gateway.Requests()[0].headers.contains("helicone-auth"));
}

TEST(UnknownOptions, WarnedOncePerProviderAndOption) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* sink = open_memstream(&buf, &len);
  ASSERT_NE(sink, nullptr);
  {
    Logger logger(LogLevel::kInfo, sink);
    UnknownOptionWarner warner(&logger);
    warner.Warn("openai", {"futureA"});
    warner.Warn("openai", {"futureA", "futureB"});
    warner.Warn("anthropic", {"futureA"});
  }
  fclose(sink);
  const std::string log(buf, len);
  free(buf);
  size_t lines = 0;
  for (char ch : log) lines += ch == '\n';
  EXPECT_EQ(lines, 3u) << log;
  EXPECT_NE(log.find("futureB"), std::string::npos);
}

}  // namespace
}  // namespace llmix::adapters

namespace llmix::adapters {
namespace {

// Found by tests/fuzz (anthropic_response): a field of the wrong JSON type made json::value
// throw out of the parser, which on a worker thread would have ended the process.
TEST(ProviderBodies, FieldsOfTheWrongTypeAreIgnoredNotThrown) {
  ProviderResponse r;
  std::string err;
  EXPECT_TRUE(AnthropicMessagesAdapter::ParseResponse(
      R"({"type":"message","content":[{"type":{"city":"Paris"}},{"type":"text","text":"ok"},
          {"type":"tool_use","id":7,"name":[1],"input":{}}],"stop_reason":{"x":1}})",
      &r, &err))
      << err;
  EXPECT_EQ(r.content, "ok");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].id, "");
  EXPECT_EQ(r.tool_calls[0].name, "");
  ProviderResponse g;
  EXPECT_TRUE(GeminiAdapter::ParseResponse(
      R"({"candidates":[{"content":{"parts":[{"text":"hi"},{"functionCall":{"name":5,"args":{}}}]},
          "finishReason":["STOP"]}]})",
      &g, &err))
      << err;
  EXPECT_EQ(g.content, "hi");
}

// JSON text inside a request or a response is bounded in depth before it is parsed: a deeply
// nested tool-call arguments string once overflowed the stack (the parse is iterative, but the
// copy and dump of the result recurse), ending the process.
TEST(JsonNesting, CountsBracketsOutsideStringsOnly) {
  EXPECT_FALSE(JsonNestedDeeperThan("", 1));
  EXPECT_FALSE(JsonNestedDeeperThan("[[1]]", 2));
  EXPECT_TRUE(JsonNestedDeeperThan("[[1]]", 1));
  EXPECT_TRUE(JsonNestedDeeperThan(R"({"a":{"b":[]}})", 2));
  EXPECT_FALSE(JsonNestedDeeperThan(R"({"a":"[[[[{{{{"})", 1));
  EXPECT_FALSE(JsonNestedDeeperThan(R"(["\"[[[[", "\\", []])", 2));
  EXPECT_FALSE(JsonNestedDeeperThan("[][][][][]", 1));
  EXPECT_FALSE(JsonNestedDeeperThan("]]]]][", 1));  // not JSON, but never negative
  const std::string deep =
      std::string(kMaxJsonNesting + 1, '[') + std::string(kMaxJsonNesting + 1, ']');
  EXPECT_TRUE(JsonNestedDeeperThan(deep));
  EXPECT_FALSE(JsonNestedDeeperThan(deep.substr(1, deep.size() - 2)));
  EXPECT_TRUE(ParseJsonBounded(deep).is_discarded());
  EXPECT_EQ(ParseJsonBounded("[[1]]"), json::parse("[[1]]"));
}

TEST(JsonNesting, DeepToolJsonInARequestIsRefusedNamingTheField) {
  const std::string deep = "{\"a\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  const json assistant = {
      {"role", "assistant"},
      {"content", nullptr},
      {"tool_calls",
       {{{"id", "c1"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}},
        {{"id", "c2"}, {"type", "function"}, {"function", {{"name", "f"}, {"arguments", deep}}}}}}};
  json messages = json::array({{{"role", "user"}, {"content", "q"}}, assistant});
  ProviderRequest r;
  r.model = "m";
  r.messages = &messages;
  r.provider = "anthropic";
  auto a = AnthropicMessagesAdapter::BuildBody(r, nullptr);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.status().message(),
            "messages[1].tool_calls[1].function.arguments: JSON nested deeper than 128 levels");
  r.provider = "google";
  auto g = GeminiAdapter::BuildBody(r, nullptr);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(),
            "messages[1].tool_calls[1].function.arguments: JSON nested deeper than 128 levels");

  messages[1]["tool_calls"].erase(1);
  messages.push_back({{"role", "tool"}, {"tool_call_id", "c1"}, {"content", deep}});
  g = GeminiAdapter::BuildBody(r, nullptr);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(), "messages[2].content: JSON nested deeper than 128 levels");
  // At the limit it is still sent as an object.
  messages[2]["content"] = "{\"a\":" + std::string(127, '[') + std::string(127, ']') + "}";
  g = GeminiAdapter::BuildBody(r, nullptr);
  ASSERT_TRUE(g.ok()) << g.status();
}

TEST(JsonNesting, DeepProviderBodiesAreUnusableNotParsed) {
  const std::string deep =
      "{\"choices\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  ProviderResponse out;
  std::string err;
  EXPECT_FALSE(OpenAiChatAdapter::ParseResponse(deep, &out, &err));
  EXPECT_FALSE(AnthropicMessagesAdapter::ParseResponse(deep, &out, &err));
  EXPECT_FALSE(GeminiAdapter::ParseResponse(deep, &out, &err));
  HttpResponse http;
  http.status = 500;
  http.body = "{\"error\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  CallError e = ErrorFromHttp("openai", http);
  EXPECT_EQ(e.http_status, 500);
}

}  // namespace
}  // namespace llmix::adapters
