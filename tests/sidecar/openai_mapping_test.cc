// The front door's pure mapping (OpenAI request -> pipeline input, result -> OpenAI JSON,
// failures -> OpenAI error shape) and the shared-token check.
#include <gtest/gtest.h>

#include <random>

#include "sidecar/auth.h"
#include "sidecar/openai_mapping.h"
#include "tests/support/process.h"

namespace llmix::sidecar {
namespace {

using nlohmann::json;

json Base() {
  return json{{"model", "demo/hello"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
}

TEST(ChatRequestToCallInput, PresetModelAndMessagesPassThrough) {
  auto in = ChatRequestToCallInput(Base());
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->preset, "demo/hello");
  EXPECT_FALSE(in->config_json.has_value());
  EXPECT_EQ(in->messages, Base()["messages"]);
  EXPECT_TRUE(in->common_overrides.is_null());
  EXPECT_TRUE(in->tools.is_null());
}

TEST(ChatRequestToCallInput, ProviderColonModelIsAnInlineConfig) {
  json body = Base();
  body["model"] = "openrouter:meta-llama/llama-3-8b:free";
  auto in = ChatRequestToCallInput(body);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_FALSE(in->preset.has_value());
  ASSERT_TRUE(in->config_json.has_value());
  EXPECT_EQ(json::parse(*in->config_json),
            (json{{"provider", "openrouter"}, {"model", "meta-llama/llama-3-8b:free"}}));
}

TEST(ChatRequestToCallInput, UnknownProviderIsNotFound) {
  json body = Base();
  body["model"] = "nosuch:gpt";
  auto in = ChatRequestToCallInput(body);
  ASSERT_EQ(in.status().code(), absl::StatusCode::kNotFound);
  OpenAiError e = ErrorFromStatus(in.status());
  EXPECT_EQ(e.http_status, 404);
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_EQ(ErrorBody(e)["error"]["type"], "invalid_request_error");
}

TEST(ChatRequestToCallInput, SamplingFieldsBecomeCommonOverrides) {
  json body = Base();
  body["temperature"] = 0.5;
  body["top_p"] = 0.9;
  body["max_tokens"] = 10;
  body["max_completion_tokens"] = 20;
  body["seed"] = 7;
  body["presence_penalty"] = 0.1;
  body["frequency_penalty"] = 0.2;
  body["stop"] = "END";
  auto in = ChatRequestToCallInput(body);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->common_overrides,
            (json{{"temperature", 0.5}, {"topP", 0.9}, {"maxOutputTokens", 20}, {"seed", 7},
                  {"presencePenalty", 0.1}, {"frequencyPenalty", 0.2},
                  {"stopSequences", {"END"}}}));
}

TEST(ChatRequestToCallInput, ToolsToolChoiceAndResponseFormat) {
  json body = Base();
  body["tools"] = {{{"type", "function"},
                    {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
  body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  body["response_format"] = {{"type", "json_object"}};
  auto in = ChatRequestToCallInput(body);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->tools, body["tools"]);
  EXPECT_EQ(in->tool_choice, body["tool_choice"]);
  ASSERT_TRUE(in->response_format_json.has_value());
  EXPECT_EQ(json::parse(*in->response_format_json), body["response_format"]);
}

TEST(ChatRequestToCallInput, BadFieldsAreNamed) {
  struct Case {
    const char* field;
    json value;
    const char* param;
  };
  const Case cases[] = {
      {"temperature", "hot", "temperature"},
      {"stop", json::array({1}), "stop"},
      {"messages", "hi", "messages"},
      {"messages", json::array({json{{"content", "x"}}}), "messages[0].role"},
      {"tools", json::array({json{{"type", "function"}}}), "tools[0].function"},
      {"tool_choice", "sometimes", "tool_choice"},
      {"response_format", "json", "response_format"},
      {"model", 3, "model"},
      {"n", 2, "n"},
      {"stream", "yes", "stream"},
      {"stream_options", json{{"include_usage", 1}}, "stream_options.include_usage"},
  };
  for (const Case& c : cases) {
    json body = Base();
    body[c.field] = c.value;
    auto in = ChatRequestToCallInput(body);
    ASSERT_EQ(in.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    OpenAiError e = ErrorFromStatus(in.status());
    EXPECT_EQ(e.http_status, 400) << c.field;
    EXPECT_EQ(e.param, c.param) << e.message;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
  EXPECT_NE(ChatRequestToCallInput(json{{"model", "a/b"}}).status().message().find("messages"),
            std::string::npos);
  EXPECT_FALSE(ChatRequestToCallInput(json::array()).ok());
}

// Any JSON in any field: a mapped input or an INVALID_ARGUMENT / NOT_FOUND, never a throw.
json RandomJson(std::mt19937& rng, int depth) {
  switch (rng() % (depth > 2 ? 6 : 8)) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: return static_cast<double>(static_cast<int32_t>(rng())) / 7.0;
    case 3: return std::string(rng() % 4, static_cast<char>('a' + rng() % 3)) + (rng() % 2 ? ":x" : "/y");
    case 4: return "\xff\xfe";  // invalid UTF-8
    case 5: return static_cast<int64_t>(rng() % 3);
    case 6: {
      json a = json::array();
      for (int i = rng() % 3; i > 0; --i) a.push_back(RandomJson(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      const char* keys[] = {"role", "content", "function", "name", "type", "parameters"};
      for (int i = rng() % 3; i > 0; --i) o[keys[rng() % 6]] = RandomJson(rng, depth + 1);
      return o;
    }
  }
}

TEST(ChatRequestToCallInput, ArbitraryFieldValuesNeverThrow) {
  std::mt19937 rng(12345);
  const char* fields[] = {"model", "messages", "temperature", "max_tokens", "stop", "tools",
                          "tool_choice", "response_format", "seed", "n", "stream", "top_p"};
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    json body = Base();
    for (int k = rng() % 3 + 1; k > 0; --k) body[fields[rng() % 12]] = RandomJson(rng, 0);
    absl::StatusOr<pipeline::CallInput> in;
    ASSERT_NO_THROW(in = ChatRequestToCallInput(body)) << body.dump(-1, ' ', false, json::error_handler_t::replace);
    if (in.ok()) {
      ++accepted;
      continue;
    }
    EXPECT_TRUE(in.status().code() == absl::StatusCode::kInvalidArgument ||
                in.status().code() == absl::StatusCode::kNotFound)
        << in.status();
    EXPECT_NO_THROW(ErrorBody(ErrorFromStatus(in.status())).dump(-1, ' ', false, json::error_handler_t::replace));
  }
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 5000);
}

TEST(ChatStreamRequested, ReadsStreamAndIncludeUsageNamingBadFields) {
  json body = Base();
  EXPECT_FALSE(ChatStreamRequested(body)->stream);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  ASSERT_TRUE(ChatRequestToCallInput(body).ok());
  auto o = ChatStreamRequested(body);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->stream);
  EXPECT_TRUE(o->include_usage);
  body["stream"] = "yes";
  EXPECT_NE(ChatRequestToCallInput(body).status().message().find("stream: "), std::string::npos);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", 1}};
  EXPECT_NE(ChatRequestToCallInput(body).status().message().find("stream_options.include_usage"),
            std::string::npos);
  body["stream_options"] = "x";
  EXPECT_EQ(ChatRequestToCallInput(body).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChatCompletionChunk, HasOpenAisChunkShape) {
  json c = ChatCompletionChunk("chatcmpl-1", "demo/hello", 7,
                               ChatChunkChoice({{"content", "Hi"}}, nullptr));
  EXPECT_EQ(c["object"], "chat.completion.chunk");
  EXPECT_EQ(c["choices"][0]["delta"]["content"], "Hi");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  adapters::Usage u;
  u.input_tokens = 3;
  u.output_tokens = 4;
  u.total_tokens = 7;
  EXPECT_EQ(ChatUsageJson(u), (json{{"prompt_tokens", 3}, {"completion_tokens", 4},
                                    {"total_tokens", 7}}));
}

TEST(ApplyLlmixHeaders, CacheModeAndTimeout) {
  pipeline::CallInput in;
  ASSERT_TRUE(ApplyLlmixHeaders("", "", &in).ok());
  EXPECT_EQ(in.cache_mode, pipeline::CacheMode::kDefault);
  EXPECT_FALSE(in.timeout.has_value());
  ASSERT_TRUE(ApplyLlmixHeaders("bypass", "1500", &in).ok());
  EXPECT_EQ(in.cache_mode, pipeline::CacheMode::kBypass);
  EXPECT_EQ(in.timeout, absl::Milliseconds(1500));
  ASSERT_TRUE(ApplyLlmixHeaders("refresh", "", &in).ok());
  EXPECT_EQ(in.cache_mode, pipeline::CacheMode::kRefresh);
  EXPECT_EQ(ErrorFromStatus(ApplyLlmixHeaders("never", "", &in)).param, "x-llmix-cache-mode");
  EXPECT_EQ(ErrorFromStatus(ApplyLlmixHeaders("", "-5", &in)).param, "x-llmix-timeout-ms");
  EXPECT_EQ(ErrorFromStatus(ApplyLlmixHeaders("", "soon", &in)).param, "x-llmix-timeout-ms");
}

TEST(ChatCompletionFromResult, TextAnswer) {
  pipeline::CallResult r;
  r.success = true;
  r.content = "hello";
  r.usage.input_tokens = 5;
  r.usage.output_tokens = 2;
  r.usage.total_tokens = 7;
  r.trace_id = "abc";
  r.finish_reason = "stop";
  json j = ChatCompletionFromResult(r, "demo/hello", 1700000000);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"], "chatcmpl-abc");
  EXPECT_EQ(j["model"], "demo/hello");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "hello");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_FALSE(j["choices"][0]["message"].contains("tool_calls"));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"], (json{{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}));
}

TEST(ChatCompletionFromResult, ToolCallsHaveNullContent) {
  pipeline::CallResult r;
  r.success = true;
  r.tool_calls.push_back({"call_1", "get_weather", "{\"city\":\"Paris\"}"});
  json j = ChatCompletionFromResult(r, "openai:gpt-4o-mini", 1);
  const json& m = j["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());
  EXPECT_EQ(m["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(m["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
}

TEST(ErrorFromCallError, ProviderStatusAndCodesMapToOpenAiTypes) {
  CallError e;
  e.code = CallErrorCode::kRateLimited;
  e.http_status = 429;
  e.message = "slow down";
  OpenAiError o = ErrorFromCallError(e);
  EXPECT_EQ(o.http_status, 429);
  EXPECT_EQ(o.type, "rate_limit_error");
  EXPECT_EQ(o.code, "rate_limited");
  EXPECT_EQ(ErrorBody(o)["error"]["message"], "slow down");

  e.code = CallErrorCode::kUpstreamError;
  e.http_status = 500;
  EXPECT_EQ(ErrorFromCallError(e).type, "api_error");
  EXPECT_EQ(ErrorFromCallError(e).http_status, 500);

  e.http_status = 0;
  e.code = CallErrorCode::kUpstreamTimeout;
  EXPECT_EQ(ErrorFromCallError(e).http_status, 504);
  e.code = CallErrorCode::kCircuitOpen;
  EXPECT_EQ(ErrorFromCallError(e).http_status, 503);
  e.code = CallErrorCode::kUpstreamUnreachable;
  EXPECT_EQ(ErrorFromCallError(e).http_status, 502);
  e.code = CallErrorCode::kKeyPoolExhausted;
  EXPECT_EQ(ErrorFromCallError(e).type, "rate_limit_error");
}

TEST(ErrorFromStatus, CanonicalCodes) {
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError("queue full")).http_status, 429);
  EXPECT_EQ(ErrorFromStatus(absl::ResourceExhaustedError("queue full")).type, "rate_limit_error");
  EXPECT_EQ(ErrorFromStatus(absl::UnavailableError("draining")).http_status, 503);
  EXPECT_EQ(ErrorFromStatus(absl::DeadlineExceededError("late")).http_status, 504);
  EXPECT_EQ(ErrorFromStatus(absl::InternalError("x")).type, "api_error");
  EXPECT_TRUE(ErrorBody(ErrorFromStatus(absl::InternalError("x")))["error"]["param"].is_null());
}

TEST(ModelList, SortedPresetIds) {
  registry::Snapshot s;
  s.presets["support/triage"] = std::make_shared<registry::Preset>();
  s.presets["demo/hello"] = std::make_shared<registry::Preset>();
  json j = ModelList(s);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0]["id"], "demo/hello");
  EXPECT_EQ(j["data"][1]["id"], "support/triage");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

TEST(BearerAuth, ChecksSchemeAndToken) {
  BearerAuth off;
  EXPECT_TRUE(off.Allows(""));
  BearerAuth on = BearerAuth::FromToken("s3cret");
  EXPECT_TRUE(on.Allows("Bearer s3cret"));
  EXPECT_TRUE(on.Allows("bearer s3cret"));
  EXPECT_FALSE(on.Allows(""));
  EXPECT_FALSE(on.Allows("Bearer s3cre"));
  EXPECT_FALSE(on.Allows("Bearer s3cret2"));
  EXPECT_FALSE(on.Allows("Basic s3cret"));
  EXPECT_FALSE(on.Allows("s3cret"));
}

TEST(BearerAuth, FromFileTrimsAndRejectsEmptyOrMissing) {
  llmix::testing::TempDir dir;
  const std::string path = dir.File("token");
  llmix::testing::WriteFile(path, "  tok-1\n");
  auto a = BearerAuth::FromFile(path);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->Allows("Bearer tok-1"));
  llmix::testing::WriteFile(path, "\n");
  EXPECT_NE(BearerAuth::FromFile(path).status().message().find("--auth-token-file"),
            std::string::npos);
  EXPECT_FALSE(BearerAuth::FromFile(dir.File("missing")).ok());
  EXPECT_FALSE(BearerAuth::FromFile("")->enabled());
}

}  // namespace
}  // namespace llmix::sidecar
