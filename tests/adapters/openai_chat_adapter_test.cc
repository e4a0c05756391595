#include "adapters/openai_chat_adapter.h"

#include <gtest/gtest.h>

#include "adapters/dummy_adapter.h"
#include "adapters/wire_common.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::adapters {
namespace {

using testing::FakeOpenAi;
using testing::FakeReply;

class OpenAiChatAdapterTest : public ::testing::Test {
 protected:
  ProviderRequest Request() {
    ProviderRequest r;
    r.provider = "openai";
    r.model = "gpt-4o-mini";
    r.base_url = fake_.base_url();
    r.api_key = "sk-unit-secret-123456";
    r.messages = &messages_;
    r.timeout = absl::Seconds(5);
    return r;
  }
  FakeOpenAi fake_;
  HttpTransport transport_{[] {
    HttpTransportOptions o;
    o.max_response_bytes = 64 * 1024;
    return o;
  }()};
  UnknownOptionWarner warner_{nullptr};
  OpenAiChatAdapter adapter_{transport_, warner_};
  nlohmann::json messages_ = nlohmann::json::parse(R"([{"role":"user","content":"hi"}])");
};

TEST_F(OpenAiChatAdapterTest, SendsWireFormatAndParsesTheAnswer) {
  FakeReply reply;
  reply.content = "hello";
  reply.prompt_tokens = 4;
  reply.completion_tokens = 2;
  fake_.Enqueue(reply);
  ProviderRequest req = Request();
  req.kwargs = {{"temperature", 0.5}, {"top_k", 3}, {"max_tokens", 10}};
  ProviderOutcome o = adapter_.Send(req);
  ASSERT_TRUE(o.ok()) << o.error->message;
  EXPECT_EQ(o.response.content, "hello");
  EXPECT_EQ(o.response.model, "gpt-4o-mini");
  EXPECT_EQ(o.response.usage.input_tokens, 4);
  EXPECT_EQ(o.response.usage.output_tokens, 2);
  EXPECT_EQ(o.response.usage.total_tokens, 6);
  auto sent = fake_.Requests().at(0);
  EXPECT_EQ(sent.headers["authorization"], "Bearer sk-unit-secret-123456");
  EXPECT_EQ(sent.headers["content-type"], "application/json");
  EXPECT_EQ(sent.json["temperature"], 0.5);
  EXPECT_EQ(sent.json["max_tokens"], 10);
  EXPECT_FALSE(sent.json.contains("top_k"));  // not a Chat Completions parameter
}

TEST_F(OpenAiChatAdapterTest, ReusesTheConnection) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(adapter_.Send(Request()).ok());
  EXPECT_EQ(fake_.RequestCount(), 3u);
}

TEST_F(OpenAiChatAdapterTest, ErrorStatusesAreClassified) {
  struct Case {
    int status;
    CallErrorCode code;
    bool retryable;
  };
  for (Case c : {Case{400, CallErrorCode::kInvalidRequest, false},
                 Case{401, CallErrorCode::kAuthentication, false},
                 Case{403, CallErrorCode::kAuthentication, false},
                 Case{408, CallErrorCode::kUpstreamTimeout, true},
                 Case{429, CallErrorCode::kRateLimited, true},
                 Case{500, CallErrorCode::kUpstreamError, true},
                 Case{503, CallErrorCode::kUpstreamError, true}}) {
    FakeReply r;
    r.status = c.status;
    r.headers["Retry-After"] = "7";
    fake_.Enqueue(r);
    ProviderOutcome o = adapter_.Send(Request());
    ASSERT_FALSE(o.ok()) << c.status;
    EXPECT_EQ(o.error->code, c.code) << c.status;
    EXPECT_EQ(o.error->retryable, c.retryable) << c.status;
    EXPECT_EQ(o.error->http_status, c.status);
    EXPECT_EQ(o.http_status, c.status);
    EXPECT_EQ(o.headers["retry-after"], "7");
    EXPECT_FALSE(o.network_error);
  }
}

TEST_F(OpenAiChatAdapterTest, KeyEchoedInErrorBodyIsRedacted) {
  FakeReply r;
  r.status = 401;
  r.raw_body = R"({"error":{"message":"bad key sk-unit-secret-123456","type":"auth"}})";
  fake_.Enqueue(r);
  ProviderOutcome o = adapter_.Send(Request());
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error->message.find("sk-unit-secret-123456"), std::string::npos) << o.error->message;
  EXPECT_NE(o.error->message.find("[REDACTED]"), std::string::npos);
  EXPECT_EQ(o.error->provider_error_type, "auth");
}

TEST_F(OpenAiChatAdapterTest, MalformedAndOversizedBodies) {
  FakeReply bad;
  bad.raw_body = R"({"choices":[]})";
  fake_.Enqueue(bad);
  ProviderOutcome o1 = adapter_.Send(Request());
  ASSERT_FALSE(o1.ok());
  EXPECT_EQ(o1.error->code, CallErrorCode::kUpstreamBadResponse);

  FakeReply huge;
  huge.content = std::string(200 * 1024, 'x');
  fake_.Enqueue(huge);
  ProviderOutcome o2 = adapter_.Send(Request());
  ASSERT_FALSE(o2.ok());
  EXPECT_EQ(o2.error->code, CallErrorCode::kUpstreamBadResponse);
  EXPECT_NE(o2.error->message.find("size cap"), std::string::npos) << o2.error->message;

  ASSERT_TRUE(adapter_.Send(Request()).ok());  // later calls are unaffected
}

TEST_F(OpenAiChatAdapterTest, SlowUpstreamTimesOutWithinTheBudget) {
  FakeReply slow;
  slow.delay = std::chrono::milliseconds(1500);
  fake_.Enqueue(slow);
  ProviderRequest req = Request();
  req.timeout = absl::Milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  ProviderOutcome o = adapter_.Send(req);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error->code, CallErrorCode::kUpstreamTimeout);
  EXPECT_TRUE(o.error->retryable);
  EXPECT_TRUE(o.network_error);
  EXPECT_LT(took, std::chrono::milliseconds(1400));
}

TEST_F(OpenAiChatAdapterTest, RefusedConnectionIsUnreachable) {
  ProviderRequest req = Request();
  req.base_url = "http://127.0.0.1:1/v1";
  ProviderOutcome o = adapter_.Send(req);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error->code, CallErrorCode::kUpstreamUnreachable);
  EXPECT_TRUE(o.network_error);
}

TEST(OpenAiChatAdapterParse, ToolCallsUsageDetailsAndReasoning) {
  ProviderResponse r;
  std::string err;
  ASSERT_TRUE(OpenAiChatAdapter::ParseResponse(R"({
    "model":"m","choices":[{"finish_reason":"tool_calls","message":{"content":null,
    "reasoning_content":"thought","tool_calls":[{"id":"c","type":"function",
    "function":{"name":"f","arguments":"{\"a\":1}"}}]}}],
    "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,
    "prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}})",
                                               &r, &err))
      << err;
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.reasoning_content, "thought");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, R"({"a":1})");
  EXPECT_EQ(r.usage.cached_input_tokens, 2);
  EXPECT_EQ(r.usage.reasoning_tokens, 1);
  EXPECT_EQ(r.finish_reason, "tool_calls");
  EXPECT_FALSE(OpenAiChatAdapter::ParseResponse("[]", &r, &err));
  EXPECT_FALSE(OpenAiChatAdapter::ParseResponse(R"({"choices":[{"message":{"content":5}}]})", &r, &err));
}

// Found by tests/fuzz/openai_response_fuzzer: a usage count outside int64's range was converted
// double -> int64 (UB). Such counts now read as 0; in-range floats are truncated.
TEST(OpenAiChatAdapterParse, OutOfRangeUsageCountsReadAsZero) {
  ProviderResponse r;
  std::string err;
  ASSERT_TRUE(OpenAiChatAdapter::ParseResponse(R"({
    "model":"m","choices":[{"finish_reason":"stop","message":{"content":"hi"}}],
    "usage":{"prompt_tokens":9.0,"completion_tokens":-1e300,
    "total_tokens":127777777777777777777777777,
    "prompt_tokens_details":{"cached_tokens":18446744073709551615}}})",
                                               &r, &err))
      << err;
  EXPECT_EQ(r.usage.input_tokens, 9);
  EXPECT_EQ(r.usage.output_tokens, 0);
  EXPECT_EQ(r.usage.total_tokens, 9);  // unusable: input + output, as for a missing total
  EXPECT_EQ(r.usage.cached_input_tokens, 0);
}

// Token totals computed from provider counts saturate instead of overflowing int64 (UB).
TEST(OpenAiChatAdapterParse, ComputedTotalSaturates) {
  ProviderResponse r;
  std::string err;
  ASSERT_TRUE(OpenAiChatAdapter::ParseResponse(
      R"({"model":"m","choices":[{"message":{"content":"hi"}}],
      "usage":{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775807}})",
      &r, &err))
      << err;
  EXPECT_EQ(r.usage.total_tokens, INT64_MAX);
  EXPECT_EQ(SaturatingAdd(INT64_MIN, -1), INT64_MIN);
  EXPECT_EQ(SaturatingAdd(-5, 7), 2);
}

TEST(DummyAdapter, DeterministicAndOffline) {
  DummyAdapter dummy;
  nlohmann::json msgs = nlohmann::json::parse(
      R"([{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hello"}]}])");
  ProviderRequest req;
  req.provider = "anthropic";
  req.model = "claude";
  req.messages = &msgs;
  ProviderOutcome a = dummy.Send(req), b = dummy.Send(req);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.response.content, "[dummy anthropic/claude] offline reply to: hello");
  EXPECT_EQ(a.response.content, b.response.content);
  EXPECT_EQ(a.response.usage.total_tokens,
            a.response.usage.input_tokens + a.response.usage.output_tokens);
}

TEST(SplitUrl, OriginAndPath) {
  std::string origin, path;
  ASSERT_TRUE(SplitUrl("https://api.openai.com/v1/chat/completions", &origin, &path));
  EXPECT_EQ(origin, "https://api.openai.com");
  EXPECT_EQ(path, "/v1/chat/completions");
  ASSERT_TRUE(SplitUrl("http://127.0.0.1:8080", &origin, &path));
  EXPECT_EQ(origin, "http://127.0.0.1:8080");
  EXPECT_EQ(path, "/");
  EXPECT_FALSE(SplitUrl("ftp://x/y", &origin, &path));
  EXPECT_FALSE(SplitUrl("https://user:pw@host/", &origin, &path));
  EXPECT_FALSE(SplitUrl("nonsense", &origin, &path));
}

TEST(UrlHost, AuthorityAndHostNeverIncludeUserinfo) {
  EXPECT_EQ(UrlAuthority("https://api.openai.com/v1"), "api.openai.com");
  EXPECT_EQ(UrlAuthority("http://user:sk-secret@10.0.0.1:8080/v1?x#y"), "10.0.0.1:8080");
  EXPECT_EQ(UrlAuthority("no-scheme"), "");
  EXPECT_EQ(UrlHost("http://user:sk-secret@10.0.0.1:8080/v1"), "10.0.0.1");
  EXPECT_EQ(UrlHost("http://[::1]:4000/v1"), "[::1]");
  EXPECT_EQ(UrlHost("https://example.com"), "example.com");
}

}  // namespace
}  // namespace llmix::adapters
