// POST /v1/messages on the real binary: an Anthropic-format conversation (system, a tool, a
// tool_use/tool_result round) served by an OpenAI-protocol provider and by an Anthropic one —
// what each fake provider received (its own wire shape) and what the client got back
// (Anthropic's shape, x-llmix-* headers, transcoding notes); errors in Anthropic's shape.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <sstream>

#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class MessagesE2E : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    const std::string root = dir_.File("llm");
    fs::create_directories(root);
    fs::copy(std::string(LLMIX_SOURCE_DIR) + "/examples/config/llm/source", root + "/source",
             fs::copy_options::recursive);
    ASSERT_EQ(RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root}).exit_code, 0);
    std::vector<std::string> args = {"--registry", root, "--max-retries", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    sidecar_ =
        std::make_unique<SidecarProcess>(args, std::map<std::string, std::optional<std::string>>{
                                                   {"OPENAI_BASE_URL", openai_.base_url()},
                                                   {"OPENAI_API_KEY", "sk-msg-openai-0001"},
                                                   {"ANTHROPIC_BASE_URL", anthropic_.base_url()},
                                                   {"ANTHROPIC_API_KEY", "sk-ant-msg-0001"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  httplib::Result Post(const json& body, const httplib::Headers& headers = {}) {
    httplib::Client c("http://" + sidecar_->http_address());
    c.set_read_timeout(30, 0);
    return c.Post("/v1/messages", headers, body.dump(), "application/json");
  }

  TempDir dir_;
  FakeOpenAi openai_;
  FakeOpenAi anthropic_{FakeProtocol::kAnthropicMessages};
  std::unique_ptr<SidecarProcess> sidecar_;
};

json WithModel(json body, const std::string& model) {
  body["model"] = model;
  return body;
}

// A weather conversation after one tool round: the model called get_weather, the client ran
// it and sends the result back.
const json kConversation = json::parse(R"({
  "max_tokens": 200,
  "system": "You answer weather questions.",
  "tools": [{"name": "get_weather", "description": "Current weather by city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"]}}],
  "tool_choice": {"type": "auto"},
  "top_k": 20,
  "messages": [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "assistant", "content": [
      {"type": "text", "text": "Checking Paris."},
      {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C, sunny"}]}]})");

TEST_F(MessagesE2E, AnthropicRequestServedByOpenAiProtocolPreset) {
  Start();
  FakeReply reply;
  reply.content = "";
  reply.prompt_tokens = 40;
  reply.completion_tokens = 9;
  reply.tool_calls = json::parse(R"([{"id":"call_rome","type":"function",
      "function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}])");
  openai_.Enqueue(reply);

  auto res = Post(WithModel(kConversation, "demo/hello"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;

  // The provider saw an OpenAI Chat Completions request.
  auto reqs = openai_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const json& sent = reqs[0].json;
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_EQ(sent["model"], "gpt-4o-mini");
  EXPECT_EQ(sent["max_tokens"], 200) << reqs[0].body;
  EXPECT_EQ(sent["messages"], json::parse(R"([
    {"role":"system","content":"You answer weather questions."},
    {"role":"user","content":"Weather in Paris and Rome?"},
    {"role":"assistant","content":"Checking Paris.","tool_calls":[{"id":"toolu_01",
      "type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"toolu_01","content":"18C, sunny"}])"))
      << reqs[0].body;
  ASSERT_EQ(sent["tools"].size(), 1u);
  EXPECT_EQ(sent["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(sent["tools"][0]["function"]["parameters"]["required"], json::array({"city"}));
  EXPECT_EQ(sent["tool_choice"], "auto");
  EXPECT_FALSE(sent.contains("top_k")) << reqs[0].body;

  // The client got an Anthropic message.
  json m = json::parse(res->body);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["model"], "demo/hello");
  EXPECT_EQ(m["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(m["content"], json::parse(R"([{"type":"tool_use","id":"call_rome",
      "name":"get_weather","input":{"city":"Rome"}}])"));
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_TRUE(m["stop_sequence"].is_null());
  EXPECT_EQ(m["usage"], json::parse(R"({"input_tokens":40,"output_tokens":9})"));
  EXPECT_EQ(res->get_header_value("x-llmix-provider"), "openai");
  EXPECT_EQ(res->get_header_value("x-llmix-cache"), "none");
  EXPECT_EQ(res->get_header_value("x-llmix-attempts"), "1");
  EXPECT_EQ(res->get_header_value("x-llmix-trace-id").size(), 32u);
  EXPECT_EQ(res->get_header_value("x-llmix-transcoding-notes"),
            "top_k: not supported by the provider's OpenAI protocol, dropped");
  EXPECT_EQ(res->body.find("sk-msg-openai"), std::string::npos);
}

TEST_F(MessagesE2E, AnthropicRequestServedByAnthropicProvider) {
  Start();
  FakeReply reply;
  reply.content = "Rome is 22C.";
  reply.reasoning_content = "Use the tool result.";
  reply.prompt_tokens = 50;
  reply.completion_tokens = 6;
  anthropic_.Enqueue(reply);

  json body = WithModel(kConversation, "anthropic:claude-sonnet-4-5");
  body["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  auto res = Post(body, {{"x-llmix-cache-mode", "bypass"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;

  auto reqs = anthropic_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const json& sent = reqs[0].json;
  EXPECT_EQ(reqs[0].path, "/v1/messages");
  EXPECT_EQ(sent["model"], "claude-sonnet-4-5");
  EXPECT_EQ(sent["system"], "You answer weather questions.");
  EXPECT_EQ(sent["messages"][1]["content"][1],
            json::parse(R"({"type":"tool_use","id":"toolu_01","name":"get_weather",
                            "input":{"city":"Paris"}})"))
      << reqs[0].body;
  EXPECT_EQ(sent["messages"][2]["content"][0],
            json::parse(R"({"type":"tool_result","tool_use_id":"toolu_01",
                            "content":"18C, sunny"})"))
      << reqs[0].body;
  EXPECT_EQ(sent["tools"][0]["input_schema"]["required"], json::array({"city"}));
  EXPECT_EQ(sent["thinking"], json::parse(R"({"type":"enabled","budget_tokens":1024})"));
  EXPECT_EQ(sent["max_tokens"], 200 + 1024);  // Anthropic's budget comes on top

  json m = json::parse(res->body);
  EXPECT_EQ(m["content"], json::parse(R"([
      {"type":"thinking","thinking":"Use the tool result.","signature":""},
      {"type":"text","text":"Rome is 22C."}])"));
  EXPECT_EQ(m["stop_reason"], "end_turn");
  EXPECT_EQ(m["usage"]["input_tokens"], 50);
  EXPECT_EQ(res->get_header_value("x-llmix-provider"), "anthropic");
  EXPECT_EQ(res->get_header_value("x-llmix-transcoding-notes"),
            "thinking.signature: not kept by the sidecar (empty)");
}

// `stream: true` with an OpenAI-protocol provider that streams: Anthropic's SSE events, the
// text split across provider chunks joined back, usage in message_delta.
TEST_F(MessagesE2E, StreamedAnthropicRequestServedByOpenAiStream) {
  Start();
  FakeReply reply;
  reply.content = "Rome is 22C and sunny.";
  reply.completion_tokens = 6;
  FakeStream pieces;
  pieces.content_pieces = {"Rome is ", "22C ", "and sunny."};
  reply.stream = pieces;
  openai_.Enqueue(reply);

  json body = WithModel(kConversation, "demo/hello");
  body["stream"] = true;
  auto res = Post(body);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("content-type"), "text/event-stream");
  ASSERT_EQ(openai_.Requests().size(), 1u);
  EXPECT_EQ(openai_.Requests()[0].json["stream"], true);

  // Parse the SSE: `event: NAME` then `data: JSON`, blank-line separated.
  std::vector<std::string> names;
  std::string text;
  json message_delta;
  std::istringstream in(res->body);
  std::string line, event;
  while (std::getline(in, line)) {
    if (line.rfind("event: ", 0) == 0) {
      event = line.substr(7);
      names.push_back(event);
    } else if (line.rfind("data: ", 0) == 0) {
      json data = json::parse(line.substr(6));
      EXPECT_EQ(data["type"], event) << line;
      if (event == "content_block_delta" && data["delta"]["type"] == "text_delta") {
        text += data["delta"]["text"].get<std::string>();
      }
      if (event == "message_delta") message_delta = data;
    }
  }
  ASSERT_GE(names.size(), 5u) << res->body;
  EXPECT_EQ(names.front(), "message_start");
  EXPECT_EQ(names.back(), "message_stop");
  EXPECT_EQ(text, "Rome is 22C and sunny.");
  EXPECT_EQ(message_delta["delta"]["stop_reason"], "end_turn") << res->body;
  EXPECT_EQ(message_delta["usage"]["output_tokens"], 6) << res->body;
}

TEST_F(MessagesE2E, ErrorsUseAnthropicShape) {
  WriteFile(dir_.File("token"), "tok-msg\n");
  Start({"--auth-token-file", dir_.File("token")});
  const httplib::Headers auth = {{"x-api-key", "tok-msg"}};
  json body = WithModel(kConversation, "demo/hello");

  auto anon = Post(body);
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);
  EXPECT_EQ(json::parse(anon->body)["error"]["type"], "authentication_error");

  json bad = body;
  bad.erase("max_tokens");
  auto missing = Post(bad, auth);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  EXPECT_EQ(json::parse(missing->body),
            json::parse(R"({"type":"error","error":{"type":"invalid_request_error",
                            "message":"max_tokens: required"}})"));

  // A streamed request that fails before the first byte is a JSON error, not an SSE stream.
  json stream = WithModel(body, "nosuch/preset");
  stream["stream"] = true;
  auto streamed = Post(stream, {{"authorization", "Bearer tok-msg"}});
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 404) << streamed->body;
  EXPECT_EQ(json::parse(streamed->body)["type"], "error");

  auto unknown = Post(WithModel(body, "nosuch/preset"), auth);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << unknown->body;
  EXPECT_EQ(json::parse(unknown->body)["error"]["type"], "not_found_error");
  EXPECT_EQ(openai_.RequestCount(), 0u);

  FakeReply limited;
  limited.status = 429;
  limited.headers["Retry-After"] = "3";
  limited.raw_body = R"({"error":{"message":"slow down","type":"rate_limit"}})";
  openai_.Enqueue(limited);
  auto res = Post(body, auth);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(res->get_header_value("retry-after"), "3");
  json e = json::parse(res->body);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "rate_limit_error");
  EXPECT_EQ(res->get_header_value("x-llmix-provider"), "openai");
  EXPECT_EQ(res->body.find("sk-msg-openai"), std::string::npos);
}

}  // namespace
}  // namespace llmix::testing
