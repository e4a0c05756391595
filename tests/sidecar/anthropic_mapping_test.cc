// The /v1/messages mapping (sidecar/anthropic_mapping.h): Anthropic request -> pipeline input
// (OpenAI-shaped LLMix messages), result -> Anthropic `message`, errors -> Anthropic's error
// shape, transcoding notes, and the CallStream -> Anthropic SSE encoder (golden output).
#include "sidecar/anthropic_mapping.h"

#include <gtest/gtest.h>

namespace llmix::sidecar {
namespace {

using nlohmann::json;
namespace v1 = ::llmix::sidecar::v1;

json Base() {
  return json{{"model", "demo/hello"},
              {"max_tokens", 256},
              {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
}

std::string FieldOfError(const json& body) {
  auto r = MessagesRequestToCallInput(body);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  const std::string m(r.status().message());
  return m.substr(0, m.find(':'));
}

TEST(MessagesRequestToCallInput, SystemMessagesAndMaxTokens) {
  json body = Base();
  body["system"] = json::array(
      {{{"type", "text"}, {"text", "Be brief."}}, {{"type", "text"}, {"text", "Be kind."}}});
  body["messages"].push_back({{"role", "assistant"}, {"content", "Hello"}});
  body["messages"].push_back(
      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Again"}}}}});
  body["temperature"] = 0.5;
  body["top_p"] = 0.9;
  body["stop_sequences"] = {"END"};
  auto r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "demo/hello");
  EXPECT_EQ(r->input.preset, "demo/hello");
  EXPECT_EQ(r->input.messages, json::parse(R"([{"role":"system","content":"Be brief.\n\nBe kind."},
                            {"role":"user","content":"Hi"},
                            {"role":"assistant","content":"Hello"},
                            {"role":"user","content":[{"type":"text","text":"Again"}]}])"));
  EXPECT_EQ(r->input.common_overrides,
            json::parse(R"({"maxOutputTokens":256,"temperature":0.5,"topP":0.9,
                            "stopSequences":["END"]})"));
  EXPECT_TRUE(r->notes.empty());
  EXPECT_FALSE(r->stream);
}

TEST(MessagesRequestToCallInput, ToolUseRoundTripBecomesToolCallsAndToolMessages) {
  json body = json::parse(R"({
    "model": "openai:gpt-4o-mini", "max_tokens": 100,
    "tools": [{"name": "get_weather", "description": "Weather by city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "any"},
    "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1",
         "content": [{"type": "text", "text": "18C sunny"}]},
        {"type": "text", "text": "And tomorrow?"}]}]})");
  auto r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(json::parse(*r->input.config_json),
            (json{{"provider", "openai"}, {"model", "gpt-4o-mini"}}));
  EXPECT_EQ(r->input.messages, json::parse(R"([
    {"role":"user","content":"Weather in Paris?"},
    {"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_1","type":"function",
      "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"toolu_1","content":"18C sunny"},
    {"role":"user","content":[{"type":"text","text":"And tomorrow?"}]}])"));
  EXPECT_EQ(r->input.tools, json::parse(R"([{"type":"function","function":{"name":"get_weather",
    "description":"Weather by city",
    "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])"));
  EXPECT_EQ(r->input.tool_choice, "required");
}

TEST(MessagesRequestToCallInput, ToolChoiceKinds) {
  json body = Base();
  body["tools"] = {{{"name", "f"}, {"input_schema", {{"type", "object"}}}}};
  for (auto [anthropic, openai] :
       {std::pair{json{{"type", "auto"}}, json("auto")},
        std::pair{json{{"type", "none"}}, json("none")},
        std::pair{json{{"type", "tool"}, {"name", "f"}},
                  json{{"type", "function"}, {"function", {{"name", "f"}}}}}}) {
    body["tool_choice"] = anthropic;
    auto r = MessagesRequestToCallInput(body);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->input.tool_choice, openai);
  }
  body["tool_choice"] = {{"type", "tool"}};
  EXPECT_EQ(FieldOfError(body), "tool_choice.name");
  body["tool_choice"] = {{"type", "sometimes"}};
  EXPECT_EQ(FieldOfError(body), "tool_choice.type");
}

TEST(MessagesRequestToCallInput, ImagesBecomeImageUrlParts) {
  json body = Base();
  body["messages"][0]["content"] = json::parse(R"([
    {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
    {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
    {"type":"text","text":"What are these?"}])");
  auto r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->input.messages[0]["content"], json::parse(R"([
    {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
    {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},
    {"type":"text","text":"What are these?"}])"));
  body["messages"][0]["content"] = json::parse(R"([{"type":"image","source":{"type":"base64"}}])");
  EXPECT_EQ(FieldOfError(body), "messages[0].content[0].source.media_type");
}

TEST(MessagesRequestToCallInput, TopKThinkingAndMetadata) {
  json body = Base();
  body["model"] = "anthropic:claude-sonnet-4-5";
  body["top_k"] = 40;
  body["thinking"] = {{"type", "enabled"}, {"budget_tokens", 2048}};
  body["metadata"] = {{"user_id", "u-1"}};
  auto r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->input.common_overrides["topK"], 40);
  EXPECT_EQ(r->input.common_overrides["enableThinking"], true);
  EXPECT_EQ(json::parse(*r->input.config_json)["providerOptions"],
            json::parse(R"({"anthropic":{"thinking":{"type":"enabled","budgetTokens":2048}}})"));
  EXPECT_EQ(r->notes.Header(), "metadata.user_id: not sent to the provider");
  TranscodingNotes notes;
  ProviderNotes(*r, "anthropic", &notes);
  EXPECT_TRUE(notes.empty());  // top_k and the budget both reach Anthropic

  body["model"] = "google:gemini-2.5-flash";
  r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(json::parse(*r->input.config_json)["providerOptions"],
            json::parse(R"({"google":{"thinkingConfig":{"thinkingBudget":2048,
                                                        "includeThoughts":true}}})"));
  TranscodingNotes google;
  ProviderNotes(*r, "google", &google);
  EXPECT_TRUE(google.empty()) << google.Header();  // Gemini has topK and a thinking budget

  body["model"] = "openai:gpt-4o";
  body.erase("metadata");
  r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(json::parse(*r->input.config_json).contains("providerOptions"));
  ProviderNotes(*r, "openai", &notes);
  EXPECT_EQ(notes.Header(),
            "top_k: not supported by the provider's OpenAI protocol, dropped; "
            "thinking.budget_tokens: not supported by the provider's OpenAI protocol");
}

TEST(MessagesRequestToCallInput, UncarriedFeaturesAreNotedNotRefused) {
  json body = json::parse(R"({
    "model": "demo/hello", "max_tokens": 10, "service_tier": "auto",
    "system": [{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],
    "tools": [{"type":"web_search_20250305","name":"web_search"}],
    "messages": [
      {"role":"user","content":[
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}},
        {"type":"text","text":"Summarize"}]},
      {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},
                                     {"type":"text","text":"ok"}]},
      {"role":"user","content":"go"}]})");
  auto r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->notes.Header(),
            "system[0].cache_control: ignored (the sidecar caches responses itself); "
            "messages[0].content[0]: document block dropped (no equivalent in LLMix messages); "
            "messages[1].content[0]: thinking block of an earlier turn dropped; "
            "tools[0]: server tool \"web_search_20250305\" dropped; "
            "service_tier: not supported, ignored");
  EXPECT_TRUE(r->input.tools.is_null());
}

TEST(MessagesRequestToCallInput, BadInputNamesTheField) {
  json body = Base();
  body.erase("max_tokens");
  EXPECT_EQ(FieldOfError(body), "max_tokens");
  body = Base();
  body["max_tokens"] = 0;
  EXPECT_EQ(FieldOfError(body), "max_tokens");
  body = Base();
  body["max_tokens"] = 2.5;
  EXPECT_EQ(FieldOfError(body), "max_tokens");
  body = Base();
  body["max_tokens"] = 256.0;  // JavaScript-parsed JSON: every number is a double
  EXPECT_TRUE(MessagesRequestToCallInput(body).ok());
  body = Base();
  body.erase("model");
  EXPECT_EQ(FieldOfError(body), "model");
  body = Base();
  body["messages"] = json::array();
  EXPECT_EQ(FieldOfError(body), "messages");
  body = Base();
  body["messages"][0]["role"] = "system";
  EXPECT_EQ(FieldOfError(body), "messages[0].role");
  body = Base();
  body["messages"][0]["content"] = {{{"type", "tool_result"}}};
  EXPECT_EQ(FieldOfError(body), "messages[0].content[0].tool_use_id");
  body = Base();
  body["temperature"] = "warm";
  EXPECT_EQ(FieldOfError(body), "temperature");
  body = Base();
  body["top_k"] = 1.5;
  EXPECT_EQ(FieldOfError(body), "top_k");
  body = Base();
  body["stop_sequences"] = "END";
  EXPECT_EQ(FieldOfError(body), "stop_sequences");
  body = Base();
  body["tools"] = {{{"name", "f"}}};
  EXPECT_EQ(FieldOfError(body), "tools[0].input_schema");
  body = Base();
  body["thinking"] = {{"type", "enabled"}};
  EXPECT_EQ(FieldOfError(body), "thinking.budget_tokens");
  body = Base();
  body["system"] = 3;
  EXPECT_EQ(FieldOfError(body), "system");
  body = Base();
  body["model"] = "nosuch:model";
  EXPECT_EQ(MessagesRequestToCallInput(body).status().code(), absl::StatusCode::kNotFound);
  body = Base();
  body["stream"] = true;
  auto r = MessagesRequestToCallInput(body);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->stream);
}

TEST(TranscodingNotes, DeduplicatedAndBounded) {
  TranscodingNotes notes;
  notes.Add("a: x");
  notes.Add("a: x");
  EXPECT_EQ(notes.Header(), "a: x");
  for (int i = 0; i < 30; ++i) notes.Add("n" + std::to_string(i));
  EXPECT_EQ(notes.list().size(), TranscodingNotes::kMaxNotes);
  EXPECT_NE(notes.Header().find("; +15 more"), std::string::npos) << notes.Header();
}

TEST(MessageFromResult, TextToolUseThinkingAndUsage) {
  pipeline::CallResult r;
  r.success = true;
  r.provider = "openai";
  r.content = "Checking.";
  r.thinking_content = "The user wants weather.";
  r.tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"}, {"call_2", "broken", "{nope"}};
  r.finish_reason = "tool_calls";
  r.usage.input_tokens = 30;
  r.usage.output_tokens = 12;
  r.usage.cached_input_tokens = 10;
  TranscodingNotes notes;
  json m = MessageFromResult(r, "demo/hello", "msg_abc", &notes);
  EXPECT_EQ(m, json::parse(R"({
    "id":"msg_abc","type":"message","role":"assistant","model":"demo/hello",
    "content":[
      {"type":"thinking","thinking":"The user wants weather.","signature":""},
      {"type":"text","text":"Checking."},
      {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
      {"type":"tool_use","id":"call_2","name":"broken","input":{}}],
    "stop_reason":"tool_use","stop_sequence":null,
    "usage":{"input_tokens":20,"output_tokens":12,"cache_read_input_tokens":10}})"));
  EXPECT_EQ(notes.Header(),
            "thinking.signature: not kept by the sidecar (empty); "
            "content[3].input: tool arguments were not a JSON object, sent as {}");
}

TEST(MessageFromResult, StopReasons) {
  EXPECT_EQ(StopReason("stop", false), "end_turn");
  EXPECT_EQ(StopReason("length", false), "max_tokens");
  EXPECT_EQ(StopReason("tool_calls", true), "tool_use");
  EXPECT_EQ(StopReason("", true), "tool_use");
  EXPECT_EQ(StopReason("content_filter", false), "refusal");
  pipeline::CallResult r;
  r.success = true;
  r.provider = "anthropic";
  r.usage.input_tokens = 5;
  r.usage.cached_input_tokens = 4;  // Anthropic already counts them apart
  TranscodingNotes notes;
  json m = MessageFromResult(r, "m", "msg_1", &notes);
  EXPECT_EQ(m["content"], json::parse(R"([{"type":"text","text":""}])"));
  EXPECT_EQ(m["usage"]["input_tokens"], 5);
  EXPECT_TRUE(notes.empty());
}

TEST(ToAnthropicError, StatusAndType) {
  auto check = [](int status, const char* type) {
    OpenAiError e;
    e.http_status = status;
    e.message = "m";
    AnthropicError a = ToAnthropicError(e);
    EXPECT_EQ(a.http_status, status);
    EXPECT_EQ(a.type, type) << status;
  };
  check(400, "invalid_request_error");
  check(401, "authentication_error");
  check(403, "permission_error");
  check(404, "not_found_error");
  check(413, "request_too_large");
  check(429, "rate_limit_error");
  check(500, "api_error");
  check(502, "api_error");
  check(503, "overloaded_error");
  check(529, "overloaded_error");
  check(504, "timeout_error");
  EXPECT_EQ(AnthropicErrorBody({400, "invalid_request_error", "max_tokens: required"}),
            json::parse(R"({"type":"error","error":{"type":"invalid_request_error",
                            "message":"max_tokens: required"}})"));
  // Through the front door's status mapping: a field error keeps its message.
  AnthropicError a =
      ToAnthropicError(ErrorFromStatus(absl::InvalidArgumentError("max_tokens: required")));
  EXPECT_EQ(a.http_status, 400);
  EXPECT_EQ(a.message, "max_tokens: required");
}

v1::CallStreamChunk Text(const std::string& s) {
  v1::CallStreamChunk c;
  c.set_content_delta(s);
  return c;
}
v1::CallStreamChunk Thinking(const std::string& s) {
  v1::CallStreamChunk c;
  c.set_thinking_delta(s);
  return c;
}
v1::CallStreamChunk Tool(int index, const std::string& id, const std::string& name,
                         const std::string& args) {
  v1::CallStreamChunk c;
  c.mutable_tool_call_delta()->set_index(index);
  c.mutable_tool_call_delta()->set_id(id);
  c.mutable_tool_call_delta()->set_name(name);
  c.mutable_tool_call_delta()->set_arguments_delta(args);
  return c;
}
v1::CallStreamChunk Final(const std::string& finish, int64_t in, int64_t out) {
  v1::CallStreamChunk c;
  v1::CallResponse* r = c.mutable_final();
  r->set_success(true);
  r->set_finish_reason(finish);
  r->mutable_usage()->set_input_tokens(in);
  r->mutable_usage()->set_output_tokens(out);
  return c;
}

TEST(AnthropicStreamEncoder, ThinkingTextAndToolUseGolden) {
  AnthropicStreamEncoder enc("msg_1", "demo/hello");
  std::string out;
  for (const auto& c : {Thinking("Let me"), Thinking(" think."), Text("Hi"), Text(" there"),
                        Tool(0, "call_1", "get_weather", "{\"city\":"),
                        Tool(0, "", "", "\"Paris\"}"), Final("tool_calls", 12, 7)}) {
    out += enc.Encode(c);
  }
  EXPECT_TRUE(enc.done());
  EXPECT_EQ(enc.Encode(Text("late")), "");
  const std::string golden =
      "event: message_start\n"
      R"(data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"demo/hello","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}})"
      "\n\n"
      "event: content_block_start\n"
      R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" think."}})"
      "\n\n"
      "event: content_block_stop\n"
      R"(data: {"type":"content_block_stop","index":0})"
      "\n\n"
      "event: content_block_start\n"
      R"(data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" there"}})"
      "\n\n"
      "event: content_block_stop\n"
      R"(data: {"type":"content_block_stop","index":1})"
      "\n\n"
      "event: content_block_start\n"
      R"(data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_1","name":"get_weather","input":{}}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}})"
      "\n\n"
      "event: content_block_delta\n"
      R"(data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})"
      "\n\n"
      "event: content_block_stop\n"
      R"(data: {"type":"content_block_stop","index":2})"
      "\n\n"
      "event: message_delta\n"
      R"(data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":12,"output_tokens":7}})"
      "\n\n"
      "event: message_stop\n"
      R"(data: {"type":"message_stop"})"
      "\n\n";
  EXPECT_EQ(out, golden);
}

TEST(AnthropicStreamEncoder, TwoToolCallsAreTwoBlocks) {
  AnthropicStreamEncoder enc("msg_2", "m");
  std::string out;
  for (const auto& c :
       {Tool(0, "a", "f", "{}"), Tool(1, "b", "g", "{}"), Final("tool_calls", 1, 1)}) {
    out += enc.Encode(c);
  }
  EXPECT_NE(
      out.find(R"("index":0,"content_block":{"type":"tool_use","id":"a","name":"f","input":{}})"),
      std::string::npos);
  EXPECT_NE(
      out.find(R"("index":1,"content_block":{"type":"tool_use","id":"b","name":"g","input":{}})"),
      std::string::npos);
}

TEST(AnthropicStreamEncoder, FinalWithoutDeltasSendsWholeBlocks) {
  AnthropicStreamEncoder enc("msg_3", "m");
  v1::CallStreamChunk c = Final("stop", 3, 2);
  c.mutable_final()->set_content("cached answer");
  c.mutable_final()->mutable_usage()->set_cached_input_tokens(3);
  const std::string out = enc.Encode(c);
  EXPECT_NE(
      out.find(
          "event: content_block_start\n"
          R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find(R"("index":0,"delta":{"type":"text_delta","text":"cached answer"})"),
            std::string::npos);
  EXPECT_NE(
      out.find(
          R"("delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":3,"output_tokens":2,"cache_read_input_tokens":3})"),
      std::string::npos)
      << out;
}

TEST(AnthropicStreamEncoder, FailureIsAnErrorEvent) {
  AnthropicStreamEncoder enc("msg_4", "m");
  std::string out = enc.Encode(Text("partial"));
  v1::CallStreamChunk c;
  c.mutable_final()->set_success(false);
  c.mutable_final()->mutable_error()->set_message("upstream overloaded");
  c.mutable_final()->mutable_error()->set_retryable(true);
  out += enc.Encode(c);
  const std::string tail =
      "event: content_block_stop\n"
      R"(data: {"type":"content_block_stop","index":0})"
      "\n\n"
      "event: error\n"
      R"(data: {"type":"error","error":{"type":"overloaded_error","message":"upstream overloaded"}})"
      "\n\n";
  ASSERT_GE(out.size(), tail.size());
  EXPECT_EQ(out.substr(out.size() - tail.size()), tail);
  EXPECT_EQ(out.find("message_stop"), std::string::npos);
}

}  // namespace
}  // namespace llmix::sidecar
