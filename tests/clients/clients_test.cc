// The example clients (clients/node, clients/python) and the official OpenAI SDK against the
// real llmix-sidecar binary (TCP + unix socket, the examples registry) and the loopback fake
// provider. Each test scripts the fake, runs one client scenario as a child process and checks
// its exit status and what reached the provider.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSource = LLMIX_SOURCE_DIR;
constexpr char kToken[] = "tok-clients-test-0001";

class ClientsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.File("llm");
    fs::create_directories(root_);
    fs::copy(kSource + "/examples/config/llm/source", root_ + "/source", fs::copy_options::recursive);
    ASSERT_EQ(RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root_}).exit_code, 0);
  }

  void StartSidecar(bool with_auth = false) {
    std::vector<std::string> args = {"--registry", root_, "--grpc-listen", "127.0.0.1:0",
                                     "--grpc-listen", "unix://" + dir_.File("llmix.sock"),
                                     "--max-retries", "0"};
    if (with_auth) {
      WriteFile(dir_.File("token"), std::string(kToken) + "\n");
      args.insert(args.end(), {"--auth-token-file", dir_.File("token")});
    }
    sidecar_ = std::make_unique<SidecarProcess>(
        args, std::map<std::string, std::optional<std::string>>{
                  {"OPENAI_BASE_URL", fake_.base_url()}, {"OPENAI_API_KEY", "sk-clients-test"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
    ASSERT_FALSE(sidecar_->http_address().empty());
  }

  std::map<std::string, std::optional<std::string>> ClientEnv() const {
    std::string unix_target;
    for (const auto& a : sidecar_->grpc_addresses()) {
      if (a.rfind("unix:", 0) == 0) unix_target = a;
    }
    return {{"LLMIX_GRPC_TCP", sidecar_->grpc_address()},
            {"LLMIX_GRPC_UNIX", unix_target},
            {"LLMIX_HTTP_BASE", "http://" + sidecar_->http_address() + "/v1"},
            {"LLMIX_PROTO_DIR", kSource + "/proto"},
            {"LLMIX_TOKEN", sidecar_auth_ ? std::optional<std::string>(kToken) : std::nullopt},
            {"LLMIX_PY_STUBS", dir_.File("py-stubs")},
            {"NODE_PATH", LLMIX_NODE_MODULES},
            {"PYTHONDONTWRITEBYTECODE", "1"},
            {"OPENAI_API_KEY", std::nullopt},
            {"OPENAI_BASE_URL", std::nullopt}};
  }

  void RunClient(const std::vector<std::string>& argv) {
    CommandResult r = RunCommand(argv, "", ClientEnv(), std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 0) << argv[1] << " " << argv[2] << "\nstdout:\n" << r.out
                              << "\nstderr:\n" << r.err;
  }
  void Node(const std::string& script, const std::string& scenario) {
    ASSERT_TRUE(fs::exists(LLMIX_NODE_MODULES))
        << "npm packages missing: " << LLMIX_NODE_MODULES
        << " (install nodejs and npm: scripts/install-deps.sh, then rebuild)";
    RunClient({"node", kSource + "/clients/node/" + script, scenario});
  }
  void Python(const std::string& scenario) {
    RunClient({"/usr/bin/python3", kSource + "/clients/python/test_client.py", scenario});
  }

  FakeReply Failure(int status) {
    FakeReply r;
    r.status = status;
    r.raw_body = json{{"error", {{"message", "scripted failure"}, {"type", "server_error"}}}}.dump();
    return r;
  }

  TempDir dir_;
  std::string root_;
  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
  bool sidecar_auth_ = false;
};

// ---- gRPC clients (Node, Python): success (TCP + unix, traceparent, deadline), errors,
// deadline, cancel. One scenario name per case; each client implements all of them.

class GrpcClientE2E : public ClientsE2E, public ::testing::WithParamInterface<std::string> {
 protected:
  void Scenario(const std::string& name) {
    if (GetParam() == "node") {
      Node("test_grpc.js", name);
    } else {
      Python(name);
    }
  }
};

TEST_P(GrpcClientE2E, SuccessOverTcpAndUnixSocket) {
  StartSidecar();
  Scenario("success");
  EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_P(GrpcClientE2E, InvalidArgument) {
  StartSidecar();
  Scenario("invalid_argument");
  EXPECT_EQ(fake_.RequestCount(), 0u);
}

TEST_P(GrpcClientE2E, DeadlineExceededAndCancel) {
  StartSidecar();
  fake_.Hold();
  Scenario("deadline_exceeded");
  Scenario("cancel");
  fake_.Release();
  Scenario("success");  // the sidecar keeps serving after abandoned calls
}

INSTANTIATE_TEST_SUITE_P(Clients, GrpcClientE2E, ::testing::Values("node", "python"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST_F(ClientsE2E, GrpcClientsNeedTheSharedTokenWhenConfigured) {
  sidecar_auth_ = true;
  StartSidecar(/*with_auth=*/true);
  Node("test_grpc.js", "unauthenticated");
  Python("unauthenticated");
  EXPECT_EQ(fake_.RequestCount(), 2u);  // only the calls with the token went upstream
}

TEST_F(ClientsE2E, CppClientOverTcpAndUnixSocketWithTraceparent) {
  StartSidecar();
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  for (const std::string& target : sidecar_->grpc_addresses()) {
    CommandResult r = RunCommand({LLMIX_CPP_CLIENT, target, "demo/hello", "cpp via " + target,
                                  "00-" + trace_id + "-00f067aa0ba902b7-01"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "fake reply\n");
    EXPECT_NE(r.err.find("trace_id=" + trace_id), std::string::npos) << r.err;
  }
  EXPECT_EQ(fake_.RequestCount(), 2u);
  CommandResult missing = RunCommand({LLMIX_CPP_CLIENT, sidecar_->grpc_address(), "nope/x", "hi"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope/x"), std::string::npos) << missing.err;
}

TEST_F(ClientsE2E, ShellExampleCallsBothFrontEnds) {
  StartSidecar();
  CommandResult r = RunCommand({"bash", kSource + "/clients/shell/call.sh", "demo/hello", "shell"},
                               "", ClientEnv(), std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string http_line = r.out.substr(r.out.find('{'));
  EXPECT_EQ(json::parse(http_line.substr(0, http_line.find('\n')))["choices"][0]["message"]["content"],
            "fake reply");
  EXPECT_NE(r.err.find("x-llmix-cache: none"), std::string::npos) << r.err;
  // The gRPC call repeats the same request: the response cache answers it.
  EXPECT_EQ(r.out.substr(r.out.rfind("fake reply")), "fake reply\n");
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

// ---- The Anthropic SDK against POST /v1/messages (served by the OpenAI-protocol fake).

TEST_F(ClientsE2E, AnthropicSdkMessage) {
  StartSidecar();
  Node("test_anthropic.js", "message");
  ASSERT_EQ(fake_.RequestCount(), 1u);
  const json sent = fake_.Requests()[0].json;
  EXPECT_EQ(sent["max_tokens"], 64);
  EXPECT_EQ(sent["messages"], json::parse(R"([{"role":"system","content":"Be brief."},
      {"role":"user","content":"sdk hello"}])"));
}

TEST_F(ClientsE2E, AnthropicSdkToolRound) {
  StartSidecar();
  FakeReply r;
  r.content = "";
  r.tool_calls = json::parse(
      R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}])");
  fake_.Enqueue(r);
  Node("test_anthropic.js", "tool_round");
  ASSERT_EQ(fake_.RequestCount(), 1u);
  const json sent = fake_.Requests()[0].json;
  EXPECT_EQ(sent["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(sent["messages"][2], json::parse(R"({"role":"tool","tool_call_id":"toolu_01","content":"18C"})"));
}

TEST_F(ClientsE2E, AnthropicSdkErrorTypes) {
  StartSidecar();
  FakeReply limited = Failure(429);
  fake_.Enqueue(limited);
  Node("test_anthropic.js", "errors");
  EXPECT_EQ(fake_.RequestCount(), 1u);  // the bad request never went upstream
}

// ---- The OpenAI SDK against the HTTP front door.

TEST_F(ClientsE2E, OpenAiSdkChatCompletionHonoursRequestFields) {
  StartSidecar();
  Node("test_openai.js", "chat");
  ASSERT_EQ(fake_.RequestCount(), 1u);
  const json sent = fake_.Requests()[0].json;
  EXPECT_EQ(sent["model"], "gpt-4o-mini");
  EXPECT_EQ(sent["temperature"], 0.7);  // overrides the preset's 0.2
  EXPECT_EQ(sent["max_tokens"], 50);
  EXPECT_EQ(sent["seed"], 3);
  EXPECT_EQ(sent["stop"], json::array({"END"}));
  EXPECT_EQ(sent["messages"], json::parse(R"([{"role":"user","content":"sdk chat"}])"));
}

TEST_F(ClientsE2E, OpenAiSdkRawProviderModel) {
  StartSidecar();
  Node("test_openai.js", "raw_model");
  ASSERT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(fake_.Requests()[0].json["model"], "gpt-4o-mini");
}

TEST_F(ClientsE2E, OpenAiSdkToolCall) {
  StartSidecar();
  FakeReply r;
  r.content = "";
  r.tool_calls = json::parse(
      R"([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}])");
  fake_.Enqueue(r);
  Node("test_openai.js", "tool_call");
  ASSERT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(fake_.Requests()[0].json["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(fake_.Requests()[0].json["tool_choice"], "auto");
}

TEST_F(ClientsE2E, OpenAiSdkErrorTypes) {
  StartSidecar();
  fake_.Enqueue(Failure(429));
  Node("test_openai.js", "rate_limited");
  fake_.Enqueue(Failure(500));
  Node("test_openai.js", "server_error");
  Node("test_openai.js", "unknown_model");
  Node("test_openai.js", "stream_bad_field");
  EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_F(ClientsE2E, OpenAiSdkConsumesTheSseStream) {
  StartSidecar();
  FakeReply r;
  r.content = "Hello wörld ✓";
  r.prompt_tokens = 9;
  r.completion_tokens = 6;
  FakeStream s;
  s.content_pieces = {"Hel", "lo wö", "rld ✓"};
  s.write_bytes = 5;  // reads split the multi-byte characters
  r.stream = s;
  fake_.Enqueue(r);
  Node("test_openai.js", "stream");
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(ClientsE2E, OpenAiSdkSecondCallIsACacheHit) {
  StartSidecar();
  Node("test_openai.js", "cache_hit");
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(ClientsE2E, OpenAiSdkListsPresetsAsModels) {
  StartSidecar();
  Node("test_openai.js", "models");
}

TEST_F(ClientsE2E, OpenAiSdkEmbeddingsFloatAndBase64) {
  StartSidecar();
  Node("test_openai.js", "embeddings");
  auto reqs = fake_.Requests();
  ASSERT_EQ(reqs.size(), 3u);  // no caching for a raw provider:model
  for (const auto& r : reqs) EXPECT_EQ(r.path, "/v1/embeddings");
  EXPECT_EQ(reqs[0].json["input"], json::array({"sdk a", "sdk b"}));
  EXPECT_EQ(reqs[0].json["model"], "text-embedding-3-small");
  // Upstream always gets float (the sidecar encodes base64 itself).
  EXPECT_EQ(reqs[0].json["encoding_format"], "float");
  EXPECT_EQ(reqs[2].json["dimensions"], 2);
}

TEST_F(ClientsE2E, OpenAiSdkNeedsTheSharedTokenWhenConfigured) {
  sidecar_auth_ = true;
  StartSidecar(/*with_auth=*/true);
  Node("test_openai.js", "unauthenticated");
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

}  // namespace
}  // namespace llmix::testing
