// Provider stream parsers: golden streams per protocol (tests/adapters/streams/*.sse, written
// from the providers' documented formats) fed whole, byte by byte, split at every offset and
// at random multi-splits, all giving the same events; framing rules; limits; bad input.
#include "adapters/stream_parser.h"

#include <fstream>
#include <random>
#include <sstream>

#include "common/js_text.h"
#include "gtest/gtest.h"

namespace llmix::adapters {
namespace {

std::string ReadGolden(const std::string& name) {
  std::ifstream in(std::string(LLMIX_SOURCE_DIR) + "/tests/adapters/streams/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Parsed {
  std::vector<std::string> events;  // DebugString of each
  std::vector<StreamEvent> raw;
  absl::Status status;
};

// Feeds `body` cut at `cuts` (ascending), then Finish.
Parsed Parse(WireProtocol protocol, std::string_view body, const std::vector<size_t>& cuts,
             size_t max_event_bytes = SseFramer::kDefaultMaxEventBytes) {
  auto parser = MakeStreamParser(protocol, "prov", StreamParserOptions{max_event_bytes});
  Parsed p;
  size_t prev = 0;
  std::vector<size_t> all = cuts;
  all.push_back(body.size());
  for (size_t cut : all) {
    p.status = parser->Feed(body.substr(prev, cut - prev), &p.raw);
    prev = cut;
    if (!p.status.ok()) break;
  }
  if (p.status.ok()) p.status = parser->Finish(&p.raw);
  for (const StreamEvent& e : p.raw) p.events.push_back(DebugString(e));
  return p;
}

struct Golden {
  const char* file;
  WireProtocol protocol;
  std::vector<std::string> events;
};

void PrintTo(const Golden& g, std::ostream* os) { *os << g.file; }

const std::vector<Golden>& Goldens() {
  static const auto* goldens = new std::vector<Golden>{
      {"openai_tools_usage.sse",
       WireProtocol::kOpenAiChat,
       {
           "model \"gpt-4o-mini-2024-07-18\"",
           "content \"Grüße\"",
           "content \" aus 東京 😀\"",
           "tool_call #0 id=call_Hx1 name=get_weather args=",
           "tool_call #0 id= name= args={\"city\":",
           "tool_call #0 id= name= args= \"Paris\"}",
           "tool_call #1 id=call_Hx2 name=get_time args={}",
           "finish \"tool_calls\"",
           "usage in=31 out=17 total=48 cached=12 reasoning=0",
       }},
      {"openai_reasoning.sse",
       WireProtocol::kOpenAiChat,
       {
           "model \"deepseek/deepseek-r1\"",
           "thinking \"The user wants\"",
           "thinking \" a sum: 2+2.\"",
           "content \"<think>inline</think>2 + 2 = \"",
           "content \"4.\"",
           "finish \"stop\"",
           "usage in=10 out=40 total=50 cached=-1 reasoning=30",
       }},
      {"openai_error.sse",
       WireProtocol::kOpenAiChat,
       {
           "model \"deepseek/deepseek-r1\"",
           "content \"Partial\"",
           "error UPSTREAM_ERROR retryable type=server_error prov stream error server_error: "
           "Provider disconnected unexpectedly",
       }},
      {"anthropic_thinking_tools.sse",
       WireProtocol::kAnthropicMessages,
       {
           "model \"claude-sonnet-4-5-20250929\"",
           "thinking \"Weather needs a tool.\"",
           "content \"Okay, checking San Francisco — \"",
           "content \"ünïcödé ✓\"",
           "tool_call #0 id=toolu_01T1x1fJ34qAmk2tNTrN7Up6 name=get_weather args=",
           "tool_call #0 id= name= args={\"location\": \"San Fra",
           "tool_call #0 id= name= args=ncisco, CA\"}",
           "finish \"tool_calls\"",
           "usage in=472 out=89 total=561 cached=100 reasoning=-1",
       }},
      {"anthropic_error.sse",
       WireProtocol::kAnthropicMessages,
       {
           "model \"claude-3-5-haiku-20241022\"",
           "content \"Hel\"",
           "error UPSTREAM_ERROR retryable type=overloaded_error prov stream error "
           "overloaded_error: Overloaded",
       }},
      {"gemini_thoughts_tools.sse",
       WireProtocol::kGeminiGenerateContent,
       {
           "model \"gemini-2.5-flash\"",
           "thinking \"**Planning** the answer\"",
           "usage in=9 out=0 total=9 cached=-1 reasoning=-1",
           "content \"日本語の\"",
           "usage in=9 out=23 total=32 cached=-1 reasoning=20",
           "content \"答え。\"",
           "tool_call #0 id=call_0 name=get_time args={\"tz\":\"Asia/Tokyo\"}",
           "finish \"tool_calls\"",
           "usage in=9 out=32 total=41 cached=4 reasoning=20",
       }},
      {"gemini_error.sse",
       WireProtocol::kGeminiGenerateContent,
       {
           "model \"gemini-2.5-flash\"",
           "content \"Once upon\"",
           "error UPSTREAM_ERROR retryable type=UNAVAILABLE prov stream error UNAVAILABLE: "
           "The model is overloaded. Please try again later.",
       }},
  };
  return *goldens;
}

class GoldenStreams : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenStreams, EverySplitGivesTheSameEvents) {
  const Golden& g = GetParam();
  const std::string body = ReadGolden(g.file);
  ASSERT_FALSE(body.empty()) << g.file;
  const Parsed whole = Parse(g.protocol, body, {});
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  EXPECT_EQ(whole.events, g.events);

  std::vector<size_t> every;
  for (size_t k = 1; k < body.size(); ++k) every.push_back(k);
  const Parsed bytes = Parse(g.protocol, body, every);
  EXPECT_TRUE(bytes.status.ok()) << bytes.status;
  EXPECT_EQ(bytes.events, g.events) << "byte by byte";
  for (const StreamEvent& e : bytes.raw) {
    // A character split across chunks never reaches a delta half-way.
    EXPECT_EQ(ToValidUtf8(e.text), e.text);
    EXPECT_EQ(ToValidUtf8(e.tool_call.arguments), e.tool_call.arguments);
  }
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    const Parsed p = Parse(g.protocol, body, {cut});
    ASSERT_TRUE(p.status.ok()) << "cut at " << cut << ": " << p.status;
    ASSERT_EQ(p.events, g.events) << "cut at " << cut;
  }
  std::mt19937 rng(14);
  std::uniform_int_distribution<size_t> at(0, body.size());
  for (int round = 0; round < 100; ++round) {
    std::vector<size_t> cuts(5);
    for (size_t& c : cuts) c = at(rng);
    std::sort(cuts.begin(), cuts.end());
    const Parsed p = Parse(g.protocol, body, cuts);
    ASSERT_TRUE(p.status.ok()) << p.status;
    ASSERT_EQ(p.events, g.events);
  }
}

void CheckCutShort(const Golden& g) {
  SCOPED_TRACE(g.file);
  const std::string body = ReadGolden(g.file);
  // Everything before the event that completes the stream.
  size_t end = 0;
  if (g.protocol == WireProtocol::kAnthropicMessages) {
    end = body.find("event: message_stop");
  } else {
    end = body.rfind("data:",
                     body.find(g.protocol == WireProtocol::kOpenAiChat ? "\"finish_reason\":\""
                                                                       : "\"finishReason\""));
  }
  ASSERT_NE(end, std::string::npos);
  const std::string head = body.substr(0, end);
  const Parsed p = Parse(g.protocol, head, {});
  EXPECT_EQ(p.status.code(), absl::StatusCode::kUnavailable) << p.status;
  EXPECT_NE(p.status.message().find(std::string(
                g.protocol == WireProtocol::kOpenAiChat          ? "openai_chat stream ended"
                : g.protocol == WireProtocol::kAnthropicMessages ? "anthropic_messages stream ended"
                                                                 : "gemini stream ended")),
            std::string::npos)
      << p.status;
  const CallError e = StreamFailure("prov", p.status);
  EXPECT_EQ(e.code, CallErrorCode::kUpstreamUnreachable);
  EXPECT_TRUE(e.retryable);
}

INSTANTIATE_TEST_SUITE_P(Protocols, GoldenStreams, ::testing::ValuesIn(Goldens()),
                         [](const auto& param_info) {
                           std::string name = param_info.param.file;
                           return name.substr(0, name.find('.'));
                         });

TEST(GoldenStreamTest, CutShortIsAnErrorNamingTheProtocol) {
  for (const Golden& g : Goldens()) {
    if (std::string(g.file).find("error") == std::string::npos) CheckCutShort(g);
  }
}

class EachProtocol : public ::testing::TestWithParam<WireProtocol> {};

TEST_P(EachProtocol, OversizeEventIsAnError) {
  const std::string big = "data: {\"x\":\"" + std::string(5000, 'a') + "\"}\n\n";
  for (size_t chunk : {size_t{1}, size_t{7}, big.size()}) {
    std::vector<size_t> cuts;
    for (size_t k = chunk; k < big.size(); k += chunk) cuts.push_back(k);
    const Parsed p = Parse(GetParam(), big, cuts, /*max_event_bytes=*/4096);
    EXPECT_EQ(p.status.code(), absl::StatusCode::kResourceExhausted) << p.status;
    EXPECT_NE(p.status.message().find("larger than 4096 bytes"), std::string::npos) << p.status;
    EXPECT_TRUE(p.events.empty());
  }
  // Many small data lines count too.
  std::string lines;
  for (int k = 0; k < 1000; ++k) lines += "data: 0123456789\n";
  EXPECT_EQ(Parse(GetParam(), lines, {}, 4096).status.code(), absl::StatusCode::kResourceExhausted);
}

TEST_P(EachProtocol, GarbageIsAnErrorNamingTheProtocol) {
  const std::string name(WireProtocolName(GetParam()) == "gemini_generate_content"
                             ? "gemini"
                             : WireProtocolName(GetParam()));
  Parsed p = Parse(GetParam(), "data: {not json}\n\n", {});
  EXPECT_EQ(p.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(p.status.message(),
            name + " stream: event 1: data of event \"message\" is not a JSON object");
  p = Parse(GetParam(), "data: [1, 2]\n\n", {});
  EXPECT_EQ(p.status.code(), absl::StatusCode::kDataLoss) << p.status;
  // An HTML error page or a unary JSON body where a stream was expected.
  p = Parse(GetParam(), "<html><body>502 Bad Gateway</body></html>\n", {});
  EXPECT_EQ(p.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      p.status.message().find(name + " stream: the body has no server-sent events (not a stream?)"),
      0u)
      << p.status;
  EXPECT_EQ(StreamFailure("prov", p.status).code, CallErrorCode::kUpstreamBadResponse);
  // Deeply nested JSON is refused before it is built.
  p = Parse(GetParam(), "data: " + std::string(1000, '[') + "\n\n", {});
  EXPECT_EQ(p.status.code(), absl::StatusCode::kDataLoss);
}

INSTANTIATE_TEST_SUITE_P(Protocols, EachProtocol,
                         ::testing::Values(WireProtocol::kOpenAiChat,
                                           WireProtocol::kAnthropicMessages,
                                           WireProtocol::kGeminiGenerateContent),
                         [](const auto& param_info) {
                           return std::string(WireProtocolName(param_info.param));
                         });

TEST(OpenAiStreamTest, BytesAfterDoneAreIgnored) {
  const std::string body =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n"
      "garbage that would not parse\n\ndata: {oops}\n\n";
  const Parsed p = Parse(WireProtocol::kOpenAiChat, body, {});
  EXPECT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.events, std::vector<std::string>{"content \"a\""});
}

TEST(OpenAiStreamTest, FinishReasonWithoutDoneIsComplete) {
  const Parsed p = Parse(WireProtocol::kOpenAiChat,
                         "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},"
                         "\"finish_reason\":\"length\"}]}\n\n",
                         {});
  EXPECT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.events, (std::vector<std::string>{"content \"a\"", "finish \"length\""}));
}

TEST(OpenAiStreamTest, OtherChoicesAndBadToolIndexes) {
  Parsed p = Parse(WireProtocol::kOpenAiChat,
                   "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"no\"}},"
                   "{\"index\":0,\"delta\":{\"content\":\"yes\"}}]}\n\ndata: [DONE]\n\n",
                   {});
  EXPECT_EQ(p.events, std::vector<std::string>{"content \"yes\""});
  p = Parse(WireProtocol::kOpenAiChat,
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":-1}]}}]}\n\n",
            {});
  EXPECT_EQ(p.status.code(), absl::StatusCode::kDataLoss) << p.status;
}

TEST(OpenAiStreamTest, ErrorEventsNeverCarryAKey) {
  const Parsed p = Parse(WireProtocol::kOpenAiChat,
                         "data: {\"error\":{\"message\":\"Incorrect API key provided: "
                         "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123456789\",\"type\":"
                         "\"invalid_request_error\",\"code\":401}}\n\n",
                         {});
  ASSERT_TRUE(p.status.ok()) << p.status;
  ASSERT_EQ(p.raw.size(), 1u);
  EXPECT_EQ(p.raw[0].error.code, CallErrorCode::kAuthentication);
  EXPECT_FALSE(p.raw[0].error.retryable);
  EXPECT_EQ(p.raw[0].error.message.find("AbCdEfGhIjKl"), std::string::npos)
      << p.raw[0].error.message;
  EXPECT_NE(p.raw[0].error.message.find("Incorrect API key provided"), std::string::npos);
}

TEST(AnthropicStreamTest, JsonToolStreamsAsContent) {
  const std::string body =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\"}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"json\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"tool_use\"},\"usage\":{\"output_tokens\":5}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  const Parsed p = Parse(WireProtocol::kAnthropicMessages, body, {});
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.events, (std::vector<std::string>{
                          "model \"m\"", "content \"{\\\"a\\\":\"", "content \"1}\"",
                          "finish \"stop\"", "usage in=0 out=5 total=5 cached=-1 reasoning=-1"}));
}

TEST(AnthropicStreamTest, InputDeltaForAnUnknownBlockIsMalformed) {
  const Parsed p = Parse(WireProtocol::kAnthropicMessages,
                         "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                         "\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":"
                         "\"{}\"}}\n\n",
                         {});
  EXPECT_EQ(p.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(p.status.message().find("anthropic_messages stream: event 1:"), std::string::npos);
}

TEST(GeminiStreamTest, BlockedPromptIsAnErrorEvent) {
  const Parsed p = Parse(WireProtocol::kGeminiGenerateContent,
                         "data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}\r\n\r\n", {});
  ASSERT_TRUE(p.status.ok()) << p.status;
  EXPECT_EQ(p.events, std::vector<std::string>{
                          "error UPSTREAM_BAD_RESPONSE type= prov stream: prompt blocked: "
                          "\"SAFETY\""});
}

}  // namespace
}  // namespace llmix::adapters
