// End-to-end: the real llmix-sidecar binary, a real gRPC client, a loopback fake provider.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

class CallE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // No retries here: these tests look at how one upstream answer is reported
    // (resilience_e2e_test covers retries).
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--max-retries", "0"},
        std::map<std::string, std::optional<std::string>>{
            {"OPENAI_BASE_URL", fake_.base_url()}, {"OPENAI_API_KEY", "sk-test-e2e-secret-0001"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
  const std::string config_ = R"({"provider":"openai","model":"gpt-4o-mini","common":{"temperature":0.7,"maxOutputTokens":64}})";
};

TEST_F(CallE2E, ReturnsTheFakeProvidersContentModelAndUsage) {
  FakeReply reply;
  reply.content = "Hello from the fake";
  reply.model = "gpt-4o-mini-2024-07-18";
  reply.prompt_tokens = 11;
  reply.completion_tokens = 5;
  fake_.Enqueue(reply);
  v1::CallRequest req = InlineRequest(config_, "Hi");
  v1::Message* sys = req.add_messages();
  sys->set_role("system");
  sys->set_text("Be brief.");
  v1::CallResponse resp;
  grpc::Status st = sidecar_->Call(req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.success()) << resp.error().message();
  EXPECT_EQ(resp.content(), "Hello from the fake");
  EXPECT_EQ(resp.model(), "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(resp.provider(), "openai");
  EXPECT_EQ(resp.usage().input_tokens(), 11);
  EXPECT_EQ(resp.usage().output_tokens(), 5);
  EXPECT_EQ(resp.usage().total_tokens(), 16);
  EXPECT_EQ(resp.attempts(), 1);
  EXPECT_EQ(resp.trace_id().size(), 32u);
  EXPECT_EQ(resp.finish_reason(), "stop");

  // What reached the provider: OpenAI wire format, key in the Authorization header.
  auto reqs = fake_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer sk-test-e2e-secret-0001");
  EXPECT_EQ(reqs[0].json["model"], "gpt-4o-mini");
  EXPECT_EQ(reqs[0].json["temperature"], 0.7);
  EXPECT_EQ(reqs[0].json["max_tokens"], 64);
  ASSERT_EQ(reqs[0].json["messages"].size(), 2u);
  // LLMix sends system messages as the instructions, which lead the conversation.
  EXPECT_EQ(reqs[0].json["messages"][0], (nlohmann::json{{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(reqs[0].json["messages"][1], (nlohmann::json{{"role", "user"}, {"content", "Hi"}}));
  EXPECT_EQ(reqs[0].headers["traceparent"].substr(3, 32), resp.trace_id());
}

TEST_F(CallE2E, ContinuesTheCallersTrace) {
  v1::CallRequest req = InlineRequest(config_, "Hi");
  grpc::ClientContext ctx;
  ctx.AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar_->stub().Call(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_F(CallE2E, UpstreamErrorIsAStructuredFailureNotAGrpcError) {
  FakeReply reply;
  reply.status = 500;
  fake_.Enqueue(reply);
  v1::CallResponse resp;
  grpc::Status st = sidecar_->Call(InlineRequest(config_, "Hi"), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.success());
  EXPECT_EQ(resp.content(), "");
  EXPECT_EQ(resp.error().code(), v1::ERROR_CODE_UPSTREAM_ERROR);
  EXPECT_EQ(resp.error().http_status(), 500);
  EXPECT_TRUE(resp.error().retryable());
  EXPECT_EQ(resp.error().provider(), "openai");
  EXPECT_NE(resp.error().message().find("fake error 500"), std::string::npos);
  EXPECT_EQ(resp.error().provider_error_type(), "fake_error");
}

TEST_F(CallE2E, RateLimitAndAuthErrorsGetTheirCodes) {
  FakeReply limited;
  limited.status = 429;
  limited.headers["Retry-After"] = "3";
  fake_.Enqueue(limited);
  FakeReply denied;
  denied.status = 401;
  denied.raw_body = R"({"error":{"message":"Incorrect API key provided: sk-test-e2e-secret-0001","type":"invalid_request_error"}})";
  fake_.Enqueue(denied);
  v1::CallResponse r1, r2;
  ASSERT_TRUE(sidecar_->Call(InlineRequest(config_, "a"), &r1).ok());
  EXPECT_EQ(r1.error().code(), v1::ERROR_CODE_RATE_LIMITED);
  EXPECT_TRUE(r1.error().retryable());
  ASSERT_TRUE(sidecar_->Call(InlineRequest(config_, "b"), &r2).ok());
  EXPECT_EQ(r2.error().code(), v1::ERROR_CODE_AUTHENTICATION);
  EXPECT_FALSE(r2.error().retryable());
  // The key the provider echoed back never reaches the caller.
  EXPECT_EQ(r2.error().message().find("sk-test-e2e-secret-0001"), std::string::npos)
      << r2.error().message();
}

TEST_F(CallE2E, MalformedUpstreamBodyIsABadResponse) {
  FakeReply reply;
  reply.raw_body = "{not json";
  fake_.Enqueue(reply);
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar_->Call(InlineRequest(config_, "Hi"), &resp).ok());
  EXPECT_FALSE(resp.success());
  EXPECT_EQ(resp.error().code(), v1::ERROR_CODE_UPSTREAM_BAD_RESPONSE);
}

struct BadRequestCase {
  const char* name;
  std::function<void(v1::CallRequest&)> mutate;
  const char* field;
};

TEST_F(CallE2E, BadRequestsAreInvalidArgumentNamingTheFieldAndServingContinues) {
  const std::vector<BadRequestCase> cases = {
      {"no messages", [](v1::CallRequest& r) { r.clear_messages(); }, "messages"},
      {"unknown role", [](v1::CallRequest& r) { r.mutable_messages(0)->set_role("wizard"); },
       "messages[0].role"},
      {"preset and config", [](v1::CallRequest& r) { r.set_preset("demo/hello"); }, "preset"},
      {"neither preset nor config", [](v1::CallRequest& r) { r.clear_config_json(); }, "preset"},
      {"oversized input",
       [](v1::CallRequest& r) { r.mutable_messages(0)->set_text(std::string(5 << 20, 'x')); },
       "request"},
      {"invalid config json", [](v1::CallRequest& r) { r.set_config_json("{nope"); },
       "config_json"},
      {"unknown provider",
       [](v1::CallRequest& r) { r.set_config_json(R"({"provider":"acme","model":"m"})"); },
       "config_json.provider"},
      {"config without model",
       [](v1::CallRequest& r) { r.set_config_json(R"({"provider":"openai"})"); },
       "config_json.model"},
      {"non-numeric temperature",
       [](v1::CallRequest& r) {
         r.set_config_json(R"({"provider":"openai","model":"m","common":{"temperature":"hot"}})");
       },
       "config_json.common.temperature"},
      {"message_json mixed with typed fields",
       [](v1::CallRequest& r) { r.mutable_messages(0)->set_message_json(R"({"role":"user"})"); },
       "messages[0].message_json"},
      {"tool without name", [](v1::CallRequest& r) { r.add_tools(); }, "tools[0].name"},
  };
  for (const auto& c : cases) {
    v1::CallRequest req = InlineRequest(config_, "Hi");
    c.mutate(req);
    v1::CallResponse resp;
    grpc::Status st = sidecar_->Call(req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_EQ(st.error_message().rfind(c.field, 0), 0u)
        << c.name << ": message \"" << st.error_message() << "\" should start with " << c.field;
  }
  EXPECT_EQ(fake_.RequestCount(), 0u);
  v1::CallResponse ok;
  ASSERT_TRUE(sidecar_->Call(InlineRequest(config_, "still there?"), &ok).ok());
  EXPECT_TRUE(ok.success());
  EXPECT_TRUE(sidecar_->process().Running());
}

TEST_F(CallE2E, UnknownPresetIsNotFound) {
  v1::CallRequest req;
  req.set_preset("demo/missing");
  req.add_messages()->set_role("user");
  req.mutable_messages(0)->set_text("hi");
  v1::CallResponse resp;
  grpc::Status st = sidecar_->Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("demo/missing"), std::string::npos);
}

TEST_F(CallE2E, TypedMessagesReachTheProviderAsLlmixJson) {
  v1::CallRequest req;
  req.set_config_json(config_);
  v1::Message* u = req.add_messages();
  u->set_role("user");
  auto* parts = u->mutable_parts();
  parts->add_parts()->set_text("look");
  parts->add_parts()->mutable_image_url()->set_url("https://example.com/a.png");
  v1::Message* a = req.add_messages();
  a->set_role("assistant");
  auto* tc = a->add_tool_calls();
  tc->set_id("c1");
  tc->mutable_function()->set_name("f");
  tc->mutable_function()->set_arguments("{}");
  v1::Message* t = req.add_messages();
  t->set_role("tool");
  t->set_tool_call_id("c1");
  t->set_text("42");
  req.add_messages()->set_message_json(R"({"role":"user","content":"raw","name":"bob"})");
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar_->Call(req, &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  auto sent = fake_.Requests().at(0).json["messages"];
  EXPECT_EQ(sent, nlohmann::json::parse(R"([
    {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]},
    {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
    {"role":"tool","content":"42","tool_call_id":"c1"},
    {"role":"user","content":"raw","name":"bob"}])"));
}

TEST_F(CallE2E, ToolCallsAreNormalized) {
  FakeReply reply;
  reply.tool_calls = nlohmann::json::parse(
      R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])");
  fake_.Enqueue(reply);
  v1::CallRequest req = InlineRequest(config_, "Weather in Paris?");
  v1::Tool* tool = req.add_tools();
  tool->set_name("get_weather");
  tool->set_parameters_json(R"({"type":"object","properties":{"city":{"type":"string"}}})");
  req.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_REQUIRED);
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar_->Call(req, &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  ASSERT_EQ(resp.tool_calls_size(), 1);
  EXPECT_EQ(resp.tool_calls(0).id(), "call_1");
  EXPECT_EQ(resp.tool_calls(0).function().name(), "get_weather");
  EXPECT_EQ(resp.tool_calls(0).function().arguments(), R"({"city":"Paris"})");
  EXPECT_EQ(resp.finish_reason(), "tool_calls");
  auto sent = fake_.Requests().at(0).json;
  EXPECT_EQ(sent["tool_choice"], "required");
  EXPECT_EQ(sent["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(sent["tools"][0]["function"]["parameters"]["properties"]["city"]["type"], "string");
}

TEST_F(CallE2E, AdminHealthAndReadiness) {
  std::string body;
  EXPECT_EQ(sidecar_->AdminGet("/healthz", &body), 200);
  EXPECT_NE(body.find("ok"), std::string::npos);
  EXPECT_EQ(sidecar_->AdminGet("/readyz"), 200);
}

TEST_F(CallE2E, GetConfigInfoWithoutRegistry) {
  grpc::ClientContext ctx;
  v1::ConfigInfo info;
  ASSERT_TRUE(sidecar_->stub().GetConfigInfo(&ctx, v1::GetConfigInfoRequest(), &info).ok());
  EXPECT_EQ(info.revision(), "");
  EXPECT_EQ(info.presets_size(), 0);
}

TEST_F(CallE2E, SigtermLetsInFlightCallsFinishThenExitsCleanly) {
  FakeReply slow;
  slow.content = "slow but complete";
  slow.delay = std::chrono::milliseconds(600);
  fake_.Enqueue(slow);
  std::atomic<bool> done{false};
  grpc::Status st;
  v1::CallResponse resp;
  std::thread caller([&] {
    st = sidecar_->Call(InlineRequest(config_, "Hi"), &resp);
    done = true;
  });
  ASSERT_TRUE(WaitFor([&] { return fake_.RequestCount() == 1; }));
  sidecar_->process().Signal(SIGTERM);
  // Readiness flips while draining, before the process exits.
  auto exit_status = sidecar_->process().Wait(std::chrono::seconds(15));
  caller.join();
  ASSERT_TRUE(exit_status.has_value());
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.content(), "slow but complete");
}

TEST(CallE2EStandalone, FullQueueAnswersResourceExhaustedAtOnce) {
  FakeOpenAi fake;
  FakeReply slow;
  slow.delay = std::chrono::milliseconds(1500);
  fake.SetDefault(slow);
  SidecarProcess sidecar({"--workers", "1", "--queue-size", "1"},
                         {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "k"}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  const std::string config = R"({"provider":"openai","model":"m"})";
  // The first call occupies the only worker; of the next four, one fits in the queue and
  // the others must be refused at once, not after waiting for the worker.
  std::thread first([&] {
    v1::CallResponse r;
    EXPECT_TRUE(sidecar.Call(InlineRequest(config, "first"), &r).ok());
  });
  ASSERT_TRUE(WaitFor([&] { return fake.RequestCount() == 1; }));
  constexpr int kBurst = 4;
  std::vector<grpc::Status> statuses(kBurst);
  std::vector<std::chrono::milliseconds> took(kBurst);
  std::vector<std::thread> burst;
  for (int i = 0; i < kBurst; ++i) {
    burst.emplace_back([&, i] {
      const auto start = std::chrono::steady_clock::now();
      v1::CallResponse r;
      statuses[i] = sidecar.Call(InlineRequest(config, "burst"), &r);
      took[i] = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    });
  }
  for (auto& t : burst) t.join();
  first.join();
  int ok = 0, rejected = 0;
  for (int i = 0; i < kBurst; ++i) {
    if (statuses[i].ok()) {
      ++ok;
    } else {
      EXPECT_EQ(statuses[i].error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_LT(took[i], std::chrono::milliseconds(1000)) << "rejection must not wait";
      ++rejected;
    }
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(rejected, kBurst - 1);
}

// Cache hits never need a worker: with the only worker busy and its queue full, a cached
// call is still answered (from the gRPC thread) while a new miss is refused.
TEST(CallE2EStandalone, CacheHitsAreServedWhileEveryWorkerIsBusy) {
  FakeOpenAi fake;
  SidecarProcess sidecar({"--workers", "1", "--queue-size", "1"},
                         {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "k"}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  const std::string config =
      R"({"provider":"openai","model":"m","caching":{"strategy":"memory","ttl":600}})";
  v1::CallResponse warm;
  ASSERT_TRUE(sidecar.Call(InlineRequest(config, "warm"), &warm).ok());
  ASSERT_TRUE(warm.success()) << warm.error().message();
  ASSERT_EQ(warm.cache_hit(), v1::CACHE_TIER_NONE);

  fake.Hold();
  std::vector<std::thread> busy;
  std::vector<grpc::Status> busy_status(2);
  for (int i = 0; i < 2; ++i) {
    busy.emplace_back([&, i] {
      v1::CallResponse r;
      busy_status[i] = sidecar.Call(InlineRequest(config, "busy " + std::to_string(i)), &r,
                                    std::chrono::seconds(20));
    });
    if (i == 0) ASSERT_TRUE(WaitFor([&] { return fake.InFlight() == 1; }));
  }
  // The second busy call waits in the queue; a third miss is refused.
  ASSERT_TRUE(WaitFor([&] {
    std::string metrics;
    return sidecar.AdminGet("/metrics", &metrics) == 200 &&
           metrics.find("\nllmix_worker_queue_depth 1\n") != std::string::npos;
  }));
  v1::CallResponse refused;
  EXPECT_EQ(sidecar.Call(InlineRequest(config, "refused"), &refused).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::CallResponse hit;
  const grpc::Status hit_status = sidecar.Call(InlineRequest(config, "warm"), &hit);
  fake.Release();
  for (auto& t : busy) t.join();
  ASSERT_TRUE(hit_status.ok()) << hit_status.error_message();
  EXPECT_TRUE(hit.success());
  EXPECT_EQ(hit.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(hit.content(), warm.content());
  for (const grpc::Status& st : busy_status) EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(fake.RequestCount(), 3u);  // warm + the two busy calls; nothing refused went up
}

TEST(CallE2EStandalone, UnixSocketListener) {
  FakeOpenAi fake;
  TempDir dir;
  const std::string sock = dir.File("llmix.sock");
  SidecarProcess sidecar({"--grpc-listen", "unix://" + sock},
                         {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "k"}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  struct stat st {};
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar.Call(InlineRequest(R"({"provider":"openai","model":"m"})", "hi"), &resp).ok());
  EXPECT_TRUE(resp.success());
}

TEST(CallE2EStandalone, DummyUpstreamNeedsNoKeyAndNoNetwork) {
  SidecarProcess sidecar({"--dummy-upstream"}, {});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  v1::CallResponse r1, r2;
  auto req = InlineRequest(R"({"provider":"openai","model":"gpt-4o-mini"})", "Hi");
  ASSERT_TRUE(sidecar.Call(req, &r1).ok());
  ASSERT_TRUE(sidecar.Call(req, &r2).ok());
  EXPECT_TRUE(r1.success());
  EXPECT_EQ(r1.content(), "[dummy openai/gpt-4o-mini] offline reply to: Hi");
  EXPECT_EQ(r1.content(), r2.content());
  EXPECT_GT(r1.usage().total_tokens(), 0);
}

TEST(CallE2EStandalone, MissingKeyIsAStructuredError) {
  FakeOpenAi fake;
  SidecarProcess sidecar({}, {{"OPENAI_BASE_URL", fake.base_url()}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar.Call(InlineRequest(R"({"provider":"openai","model":"m"})", "hi"), &resp).ok());
  EXPECT_FALSE(resp.success());
  EXPECT_EQ(resp.error().code(), v1::ERROR_CODE_NO_API_KEY);
  EXPECT_NE(resp.error().message().find("OPENAI_API_KEY"), std::string::npos);
  EXPECT_EQ(fake.RequestCount(), 0u);
}

TEST(CallE2EStandalone, CliCallPrintsTheResponse) {
  FakeOpenAi fake;
  FakeReply reply;
  reply.content = "cli works";
  fake.SetDefault(reply);
  SidecarProcess sidecar({}, {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "k"}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  auto res = RunCommand({LLMIX_SIDECAR_BIN, "call", "--addr", sidecar.grpc_address(),
                         "--config-json", R"({"provider":"openai","model":"m"})", "--system",
                         "Be brief.", "--deadline-ms", "5000", "Hi"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto j = nlohmann::json::parse(res.out);
  EXPECT_EQ(j["content"], "cli works");
  EXPECT_EQ(j["success"], true);
  auto sent = fake.Requests().at(0).json["messages"];
  EXPECT_EQ(sent[0]["role"], "system");
  EXPECT_EQ(sent[1]["content"], "Hi");
  auto bad = RunCommand({LLMIX_SIDECAR_BIN, "call", "--addr", sidecar.grpc_address(), "Hi"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("INVALID_ARGUMENT"), std::string::npos) << bad.err;
}

TEST(CallE2EStandalone, BadFlagsFailFastNamingTheFlag) {
  auto res = RunCommand({LLMIX_SIDECAR_BIN, "serve", "--workers", "zero"});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.err.find("--workers"), std::string::npos) << res.err;
  auto unknown = RunCommand({LLMIX_SIDECAR_BIN, "serve", "--nope"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("--nope"), std::string::npos);
  auto version = RunCommand({LLMIX_SIDECAR_BIN, "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("llmix-sidecar ", 0), 0u);
}

}  // namespace
}  // namespace llmix::testing
