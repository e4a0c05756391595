// End-to-end streaming (issue 14, part A): the real binary's CallStream RPC and the front
// door's `stream: true`, against loopback fakes that stream each protocol's real SSE events
// with scripted chunk boundaries, stalls and disconnects.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/process.h"

namespace llmix::testing {
namespace {

using nlohmann::json;

// What one CallStream returned, with the deltas joined.
struct StreamRun {
  grpc::Status status;
  int content_deltas = 0;
  int thinking_deltas = 0;
  std::string content;
  std::string thinking;
  std::map<int, v1::ToolCall> tools;  // joined tool-call deltas by index
  int tool_deltas = 0;
  bool has_final = false;
  bool final_last = true;  // nothing came after the final chunk
  v1::CallResponse final;
};

StreamRun ReadAll(grpc::ClientReaderInterface<v1::CallStreamChunk>& reader,
                  const std::function<void(const v1::CallStreamChunk&)>& each = nullptr) {
  StreamRun run;
  v1::CallStreamChunk chunk;
  while (reader.Read(&chunk)) {
    if (each) each(chunk);
    if (run.has_final) run.final_last = false;
    switch (chunk.chunk_case()) {
      case v1::CallStreamChunk::kContentDelta:
        ++run.content_deltas;
        run.content += chunk.content_delta();
        break;
      case v1::CallStreamChunk::kThinkingDelta:
        ++run.thinking_deltas;
        run.thinking += chunk.thinking_delta();
        break;
      case v1::CallStreamChunk::kToolCallDelta: {
        ++run.tool_deltas;
        const v1::ToolCallDelta& d = chunk.tool_call_delta();
        v1::ToolCall& t = run.tools[d.index()];
        if (!d.id().empty()) t.set_id(d.id());
        if (!d.name().empty()) t.mutable_function()->set_name(d.name());
        t.mutable_function()->mutable_arguments()->append(d.arguments_delta());
        break;
      }
      case v1::CallStreamChunk::kFinal:
        run.has_final = true;
        run.final = chunk.final();
        break;
      default:
        break;
    }
  }
  run.status = reader.Finish();
  return run;
}

StreamRun Stream(SidecarProcess& s, const v1::CallRequest& req,
                 std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  auto reader = s.stub().CallStream(&ctx, req);
  return ReadAll(*reader);
}

// A fake and a sidecar whose provider `provider` points at it.
class StreamE2E : public ::testing::Test {
 protected:
  void Start(FakeProtocol protocol, std::vector<std::string> args = {"--max-retries", "0"}) {
    fake_ = std::make_unique<FakeOpenAi>(protocol);
    const char* env = protocol == FakeProtocol::kAnthropicMessages        ? "ANTHROPIC_BASE_URL"
                      : protocol == FakeProtocol::kGeminiGenerateContent ? "GOOGLE_BASE_URL"
                                                                          : "OPENAI_BASE_URL";
    sidecar_ = std::make_unique<SidecarProcess>(
        args, std::map<std::string, std::optional<std::string>>{
                  {env, fake_->base_url()},
                  {"OPENAI_API_KEY", "sk-stream-e2e-0001"},
                  {"ANTHROPIC_API_KEY", "sk-ant-stream-e2e"},
                  {"GEMINI_API_KEY", "gm-stream-e2e"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }
  std::string Metrics() {
    std::string body;
    sidecar_->AdminGet("/metrics", &body);
    return body;
  }

  std::unique_ptr<FakeOpenAi> fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
  const std::string openai_ = R"({"provider":"openai","model":"gpt-4o-mini"})";
};

// Content pieces that split "<think>" / "</think>" across events, and 5-byte writes that
// split "ö" and "✓" (2 and 3 bytes in UTF-8) across reads.
FakeReply ThinkingStream() {
  FakeReply reply;
  reply.content = "<think>reasoning</think>Hello wörld ✓";
  reply.model = "gpt-4o-mini-2024-07-18";
  reply.prompt_tokens = 9;
  reply.completion_tokens = 6;
  FakeStream s;
  s.content_pieces = {"<thi", "nk>reas", "oning</th", "ink>Hel", "lo wö", "rld ✓"};
  s.write_bytes = 5;
  reply.stream = s;
  return reply;
}

TEST_F(StreamE2E, OpenAiStreamDeltasJoinToTheFinalWithThinkingSeparated) {
  Start(FakeProtocol::kOpenAiChat);
  fake_->Enqueue(ThinkingStream());
  StreamRun run = Stream(*sidecar_, InlineRequest(openai_, "Hi"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.has_final);
  EXPECT_TRUE(run.final_last);
  ASSERT_TRUE(run.final.success()) << run.final.error().message();
  EXPECT_GT(run.content_deltas, 1);
  EXPECT_EQ(run.content, "Hello wörld ✓");
  EXPECT_EQ(run.final.content(), run.content);
  EXPECT_EQ(run.thinking, "reasoning");
  EXPECT_EQ(run.final.thinking_content(), "reasoning");
  EXPECT_EQ(run.final.model(), "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(run.final.usage().input_tokens(), 9);
  EXPECT_EQ(run.final.usage().output_tokens(), 6);
  EXPECT_EQ(run.final.trace_id().size(), 32u);
  EXPECT_EQ(run.final.attempts(), 1);
  // The upstream request asked for a stream with usage.
  auto reqs = fake_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].json["stream"], true);
  EXPECT_EQ(reqs[0].json["stream_options"]["include_usage"], true);
  EXPECT_EQ(reqs[0].headers["accept"], "text/event-stream");

  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "llmix_stream_time_to_first_token_seconds_count"), 1.0) << m;
}

TEST_F(StreamE2E, AnthropicStreamsThinkingAndToolCallDeltas) {
  Start(FakeProtocol::kAnthropicMessages);
  FakeReply reply;
  reply.reasoning_content = "Let me look that up.";
  reply.content = "Checking.";
  reply.tool_calls = json::parse(
      R"([{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])");
  reply.stream = FakeStream{};
  fake_->Enqueue(reply);
  StreamRun run = Stream(
      *sidecar_,
      InlineRequest(R"({"provider":"anthropic","model":"claude-3-5-haiku-latest"})", "Weather?"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.final.success()) << run.final.error().message();
  EXPECT_EQ(run.thinking, "Let me look that up.");
  EXPECT_EQ(run.content, "Checking.");
  EXPECT_EQ(run.final.content(), "Checking.");
  EXPECT_GE(run.tool_deltas, 2);  // the arguments came in two pieces
  ASSERT_EQ(run.tools.size(), 1u);
  EXPECT_EQ(run.tools[0].id(), "toolu_1");
  EXPECT_EQ(run.tools[0].function().name(), "get_weather");
  EXPECT_EQ(json::parse(run.tools[0].function().arguments()), json::parse(R"({"city":"Paris"})"));
  ASSERT_EQ(run.final.tool_calls_size(), 1);
  EXPECT_EQ(json::parse(run.final.tool_calls(0).function().arguments()),
            json::parse(run.tools[0].function().arguments()));
  EXPECT_EQ(run.final.usage().output_tokens(), 3);
  auto reqs = fake_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].json["stream"], true);
}

TEST_F(StreamE2E, GeminiStreamsThroughStreamGenerateContent) {
  Start(FakeProtocol::kGeminiGenerateContent);
  FakeReply reply = ThinkingStream();
  reply.model = "";
  fake_->Enqueue(reply);
  StreamRun run = Stream(*sidecar_,
                         InlineRequest(R"({"provider":"google","model":"gemini-2.0-flash"})", "Hi"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.final.success()) << run.final.error().message();
  EXPECT_EQ(run.content, "Hello wörld ✓");
  EXPECT_EQ(run.final.content(), run.content);
  EXPECT_EQ(run.thinking, "reasoning");
  EXPECT_EQ(run.final.usage().input_tokens(), 9);
  EXPECT_EQ(run.final.usage().total_tokens(), 15);
  auto reqs = fake_->Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1beta/models/gemini-2.0-flash:streamGenerateContent");
}

TEST_F(StreamE2E, CompletedStreamIsCachedForCallAndReplayedAsAShortStream) {
  Start(FakeProtocol::kOpenAiChat);
  const std::string cfg =
      R"({"provider":"openai","model":"gpt-4o-mini","caching":{"strategy":"memory","ttl":600}})";
  fake_->Enqueue(ThinkingStream());
  StreamRun first = Stream(*sidecar_, InlineRequest(cfg, "cache me"));
  ASSERT_TRUE(first.final.success()) << first.final.error().message();
  EXPECT_EQ(first.final.cache_hit(), v1::CACHE_TIER_NONE);

  // A later unary Call with the same request is served from the cache the stream filled.
  v1::CallResponse unary;
  ASSERT_TRUE(sidecar_->Call(InlineRequest(cfg, "cache me"), &unary).ok());
  EXPECT_EQ(unary.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(unary.content(), "Hello wörld ✓");
  EXPECT_EQ(unary.thinking_content(), "reasoning");

  // And a stream hit is replayed: one thinking delta, one content delta, the final.
  StreamRun hit = Stream(*sidecar_, InlineRequest(cfg, "cache me"));
  ASSERT_TRUE(hit.status.ok());
  EXPECT_EQ(hit.final.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(hit.content_deltas, 1);
  EXPECT_EQ(hit.thinking_deltas, 1);
  EXPECT_EQ(hit.content, "Hello wörld ✓");
  EXPECT_EQ(hit.thinking, "reasoning");
  EXPECT_EQ(fake_->RequestCount(), 1u);
}

TEST_F(StreamE2E, RetriesBeforeTheFirstByte) {
  Start(FakeProtocol::kOpenAiChat, {"--max-retries", "2", "--retry-base-ms", "1"});
  FakeReply busy;
  busy.status = 503;
  fake_->Enqueue(busy);
  fake_->Enqueue(ThinkingStream());
  StreamRun run = Stream(*sidecar_, InlineRequest(openai_, "Hi"));
  ASSERT_TRUE(run.final.success()) << run.final.error().message();
  EXPECT_EQ(run.final.attempts(), 2);
  EXPECT_EQ(run.content, "Hello wörld ✓");
  EXPECT_EQ(fake_->RequestCount(), 2u);
}

TEST_F(StreamE2E, BrokenStreamAfterTheFirstDeltaEndsWithAFinalErrorAndNoRetry) {
  Start(FakeProtocol::kOpenAiChat, {"--max-retries", "2", "--retry-base-ms", "1"});
  FakeReply reply = ThinkingStream();
  reply.stream->write_bytes = 0;
  reply.stream->disconnect_after = 5;  // role, 4 content events ("Hel" sent), then gone
  fake_->Enqueue(reply);
  StreamRun run = Stream(*sidecar_, InlineRequest(openai_, "Hi"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.content, "Hel");
  ASSERT_TRUE(run.has_final);
  EXPECT_FALSE(run.final.success());
  EXPECT_EQ(run.final.error().code(), v1::ERROR_CODE_UPSTREAM_UNREACHABLE)
      << run.final.error().message();
  EXPECT_EQ(fake_->RequestCount(), 1u) << "no retry once a delta went out";
  EXPECT_EQ(MetricValue(Metrics(), "llmix_streams_aborted_total{reason=\"upstream_unreachable\"}"),
            1.0);
}

TEST_F(StreamE2E, UpstreamStallEndsTheStreamWithATimeout) {
  Start(FakeProtocol::kOpenAiChat, {"--max-retries", "0", "--stream-idle-timeout-ms", "300"});
  FakeReply reply = ThinkingStream();
  reply.stream->write_bytes = 0;
  reply.stream->stall_after = 5;
  fake_->Enqueue(reply);
  StreamRun run = Stream(*sidecar_, InlineRequest(openai_, "Hi"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.thinking, "reasoning");
  ASSERT_TRUE(run.has_final);
  EXPECT_FALSE(run.final.success());
  EXPECT_EQ(run.final.error().code(), v1::ERROR_CODE_UPSTREAM_TIMEOUT)
      << run.final.error().message();
}

TEST_F(StreamE2E, ClientCancellingMidStreamClosesTheUpstreamConnection) {
  Start(FakeProtocol::kOpenAiChat);
  FakeReply reply = ThinkingStream();
  reply.stream->write_bytes = 0;
  reply.stream->stall_after = 5;
  reply.stream->stall_pings = true;
  fake_->Enqueue(reply);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto reader = sidecar_->stub().CallStream(&ctx, InlineRequest(openai_, "Hi"));
  v1::CallStreamChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));  // the stream is flowing
  ctx.TryCancel();
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return fake_->StreamsClosedByClient() == 1; }))
      << "the upstream connection stayed open";
  EXPECT_TRUE(WaitFor([&] {
    return MetricValue(Metrics(), "llmix_streams_aborted_total{reason=\"cancelled\"}") == 1.0;
  }));
}

TEST_F(StreamE2E, ErrorsBeforeAnyChunkAreGrpcStatusesAsForCall) {
  Start(FakeProtocol::kOpenAiChat);
  v1::CallRequest empty = InlineRequest(openai_, "Hi");
  empty.clear_messages();
  StreamRun bad = Stream(*sidecar_, empty);
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(bad.has_final);
  EXPECT_EQ(bad.content_deltas, 0);

  v1::CallRequest missing;
  missing.set_preset("no/such-preset");
  *missing.add_messages() = InlineRequest(openai_, "Hi").messages(0);
  EXPECT_EQ(Stream(*sidecar_, missing).status.error_code(), grpc::StatusCode::NOT_FOUND);

  v1::CallRequest task = InlineRequest(openai_, "Hi");
  task.mutable_json_task()->set_schema_json(R"({"type":"object"})");
  StreamRun json_task = Stream(*sidecar_, task);
  EXPECT_EQ(json_task.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(json_task.status.error_message().find("json_task"), std::string::npos);
  EXPECT_EQ(fake_->RequestCount(), 0u);
}

TEST_F(StreamE2E, OpenBreakerEndsTheStreamWithCircuitOpen) {
  Start(FakeProtocol::kOpenAiChat, {"--max-retries", "0", "--breaker-threshold", "2",
                                    "--breaker-cooldown-ms", "600000"});
  FakeReply down;
  down.status = 500;
  fake_->SetDefault(down);
  for (int i = 0; i < 2; ++i) {
    StreamRun failed = Stream(*sidecar_, InlineRequest(openai_, "Hi"));
    ASSERT_TRUE(failed.status.ok());
    EXPECT_EQ(failed.final.error().code(), v1::ERROR_CODE_UPSTREAM_ERROR);
  }
  StreamRun open = Stream(*sidecar_, InlineRequest(openai_, "Hi"));
  ASSERT_TRUE(open.status.ok());
  EXPECT_EQ(open.content_deltas, 0);
  EXPECT_FALSE(open.final.success());
  EXPECT_EQ(open.final.error().code(), v1::ERROR_CODE_CIRCUIT_OPEN);
  EXPECT_EQ(fake_->RequestCount(), 2u);
}

// The front door's `stream: true`, read by a plain HTTP client as OpenAI SSE.
TEST_F(StreamE2E, FrontDoorStreamsChatCompletionChunksWithUsage) {
  Start(FakeProtocol::kOpenAiChat);
  fake_->Enqueue(ThinkingStream());
  httplib::Client client("http://" + sidecar_->http_address());
  client.set_read_timeout(20, 0);
  const json body = {{"model", "openai:gpt-4o-mini"},
                     {"stream", true},
                     {"stream_options", {{"include_usage", true}}},
                     {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  std::string sse;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    sse.append(data, n);
    return true;
  };
  auto res = client.send(req);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << sse;
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  std::string content;
  json usage;
  int chunks = 0;
  bool done = false;
  std::string finish;
  for (absl::string_view piece : absl::StrSplit(sse, "\n\n", absl::SkipEmpty())) {
    std::string_view event(piece.data(), piece.size());
    ASSERT_EQ(event.substr(0, 6), "data: ") << event;
    std::string_view data = event.substr(6);
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    ASSERT_FALSE(done) << "data after [DONE]";
    json chunk = json::parse(data);
    ++chunks;
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["model"], "openai:gpt-4o-mini");
    if (chunk["choices"].empty()) {
      usage = chunk["usage"];
      continue;
    }
    const json& choice = chunk["choices"][0];
    if (choice["delta"].contains("content")) content += choice["delta"]["content"].get<std::string>();
    if (choice["finish_reason"].is_string()) finish = choice["finish_reason"];
  }
  EXPECT_TRUE(done);
  EXPECT_GT(chunks, 3);
  EXPECT_EQ(content, "Hello wörld ✓");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(usage["prompt_tokens"], 9);
  EXPECT_EQ(usage["completion_tokens"], 6);
  EXPECT_EQ(usage["total_tokens"], 15);

  // An error before the first byte is the unary path's JSON error with its status.
  auto bad = client.Post("/v1/chat/completions",
                         json{{"model", "nosuch:model"},
                              {"stream", true},
                              {"messages", {{{"role", "user"}, {"content", "Hi"}}}}}
                             .dump(),
                         "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 404) << bad->body;
  EXPECT_TRUE(json::parse(bad->body).contains("error"));
  FakeReply down;
  down.status = 500;
  fake_->Enqueue(down);
  auto failed = client.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(failed);
  EXPECT_GE(failed->status, 500) << failed->body;
  EXPECT_EQ(failed->get_header_value("Content-Type"), "application/json");
  EXPECT_TRUE(json::parse(failed->body).contains("error"));
  auto wrong = client.Post(
      "/v1/chat/completions",
      json{{"model", "openai:gpt-4o-mini"},
           {"stream", "yes"},
           {"messages", {{{"role", "user"}, {"content", "Hi"}}}}}
          .dump(),
      "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 400);
  EXPECT_NE(wrong->body.find("stream"), std::string::npos);
}

}  // namespace
}  // namespace llmix::testing
