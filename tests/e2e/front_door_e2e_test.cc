// The HTTP front door of the real binary, spoken to with a plain HTTP client: what the OpenAI
// SDK tests (tests/clients) do not show — malformed bodies, unknown routes, auth on every
// route, provider Retry-After, and concurrency beyond httplib's default thread count.
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/ascii.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class FrontDoorE2E : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    const std::string root = dir_.File("llm");
    fs::create_directories(root);
    fs::copy(std::string(LLMIX_SOURCE_DIR) + "/examples/config/llm/source", root + "/source",
             fs::copy_options::recursive);
    ASSERT_EQ(RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root}).exit_code, 0);
    std::vector<std::string> args = {"--registry", root, "--max-retries", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    sidecar_ = std::make_unique<SidecarProcess>(
        args, std::map<std::string, std::optional<std::string>>{
                  {"OPENAI_BASE_URL", fake_.base_url()}, {"OPENAI_API_KEY", "sk-front-door"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  httplib::Client Client() {
    httplib::Client c("http://" + sidecar_->http_address());
    c.set_tcp_nodelay(true);
    c.set_read_timeout(30, 0);
    return c;
  }

  static std::string Chat(const std::string& text) {
    return json{{"model", "demo/hello"}, {"messages", {{{"role", "user"}, {"content", text}}}}}
        .dump();
  }

  TempDir dir_;
  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(FrontDoorE2E, MalformedBodyAndUnknownRouteUseOpenAiErrorShape) {
  Start();
  auto c = Client();
  auto bad = c.Post("/v1/chat/completions", "{not json", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  json e = json::parse(bad->body)["error"];
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_EQ(e["param"], "body");

  auto field = c.Post("/v1/chat/completions",
                      R"({"model":"demo/hello","messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
                      "application/json");
  ASSERT_TRUE(field);
  EXPECT_EQ(field->status, 400);
  EXPECT_EQ(json::parse(field->body)["error"]["param"], "temperature");

  auto route = c.Get("/v1/nope");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 404);
  EXPECT_EQ(json::parse(route->body)["error"]["code"], "unknown_url");
  EXPECT_EQ(fake_.RequestCount(), 0u);
}

TEST_F(FrontDoorE2E, ProviderRateLimitKeepsStatusAndRetryAfter) {
  Start();
  FakeReply r;
  r.status = 429;
  r.headers["Retry-After"] = "2";
  r.raw_body = R"({"error":{"message":"slow down","type":"rate_limit"}})";
  fake_.Enqueue(r);
  auto res = Client().Post("/v1/chat/completions", Chat("limited"), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(res->get_header_value("retry-after"), "2");
  EXPECT_EQ(res->get_header_value("x-llmix-attempts"), "1");
  EXPECT_EQ(res->get_header_value("x-llmix-cache"), "none");
  json e = json::parse(res->body)["error"];
  EXPECT_EQ(e["type"], "rate_limit_error");
  EXPECT_EQ(e["code"], "rate_limited");
  EXPECT_EQ(res->body.find("sk-front-door"), std::string::npos);
}

TEST_F(FrontDoorE2E, CacheModeAndTimeoutHeaders) {
  Start();
  auto c = Client();
  auto first = c.Post("/v1/chat/completions", Chat("cached"), "application/json");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->get_header_value("x-llmix-cache"), "none");
  auto hit = c.Post("/v1/chat/completions", Chat("cached"), "application/json");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->get_header_value("x-llmix-cache"), "l1");
  auto bypass = c.Post("/v1/chat/completions", {{"x-llmix-cache-mode", "bypass"}}, Chat("cached"),
                       "application/json");
  ASSERT_TRUE(bypass);
  EXPECT_EQ(bypass->get_header_value("x-llmix-cache"), "none");
  EXPECT_EQ(fake_.RequestCount(), 2u);

  fake_.Hold();
  const auto started = std::chrono::steady_clock::now();
  auto late = c.Post("/v1/chat/completions", {{"x-llmix-timeout-ms", "300"}}, Chat("slow"),
                     "application/json");
  const auto took = std::chrono::steady_clock::now() - started;
  fake_.Release();
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 504) << late->body;
  EXPECT_EQ(json::parse(late->body)["error"]["code"], "upstream_timeout");
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(FrontDoorE2E, SharedTokenGuardsEveryRoute) {
  WriteFile(dir_.File("token"), "tok-fd\n");
  Start({"--auth-token-file", dir_.File("token")});
  auto c = Client();
  auto anon = c.Get("/v1/models");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 401);
  EXPECT_EQ(json::parse(anon->body)["error"]["code"], "invalid_api_key");
  auto wrong = c.Get("/v1/models", {{"Authorization", "Bearer tok-fdx"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto ok = c.Get("/v1/models", {{"Authorization", "Bearer tok-fd"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["data"].size(), 3u);
  // gRPC needs it too.
  v1::CallRequest req = InlineRequest(R"({"provider":"openai","model":"gpt-4o-mini"})", "hi");
  v1::CallResponse resp;
  EXPECT_EQ(sidecar_->Call(req, &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(fake_.RequestCount(), 0u);
}

TEST_F(FrontDoorE2E, ServesMoreConcurrentCallsThanHttplibsDefaultPool) {
  Start({"--workers", "16"});
  constexpr int kCalls = 12;  // httplib's default pool would hold 8 on this machine
  fake_.Hold();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      auto res = Client().Post("/v1/chat/completions", Chat("concurrent " + std::to_string(i)),
                               "application/json");
      if (res && res->status == 200) ok.fetch_add(1);
    });
  }
  const bool all_upstream =
      WaitFor([&] { return fake_.InFlight() == kCalls; }, std::chrono::seconds(15));
  fake_.Release();
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_upstream) << "in flight at the provider: " << fake_.InFlight();
  EXPECT_EQ(ok.load(), kCalls);
}

TEST_F(FrontDoorE2E, DrainFinishesInFlightCallsAndRefusesNewOnes) {
  Start({"--drain-grace-ms", "20000"});
  fake_.Hold();
  std::atomic<int> status{-1};
  std::thread caller([&] {
    auto res = Client().Post("/v1/chat/completions", Chat("in flight"), "application/json");
    status.store(res ? res->status : 0);
  });
  ASSERT_TRUE(WaitFor([&] { return fake_.InFlight() == 1; }));
  sidecar_->process().Signal(SIGTERM);
  // Once draining (readyz says so), a new call is refused with 503 in OpenAI's error shape.
  ASSERT_TRUE(WaitFor([&] { return sidecar_->AdminGet("/readyz") == 503; }));
  auto late = Client().Post("/v1/chat/completions", Chat("late"), "application/json");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 503);
  EXPECT_EQ(json::parse(late->body)["error"]["type"], "api_error");
  fake_.Release();
  caller.join();
  EXPECT_EQ(status.load(), 200);  // the call in flight finished within the grace period
  EXPECT_TRUE(sidecar_->process().Wait(std::chrono::seconds(10)).has_value());
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

}  // namespace
}  // namespace llmix::testing

namespace llmix::testing {
namespace {

// One raw TCP connection carrying many requests: the front door must not close keep-alive
// connections after a handful of requests (httplib's default is 5), which under load turned
// into reconnect storms and 1 s SYN-retransmit stalls.
TEST_F(FrontDoorE2E, KeepAliveConnectionsServeManyRequests) {
  Start();
  const std::string addr = sidecar_->http_address();
  const auto colon = addr.rfind(':');
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(addr.substr(colon + 1))));
  inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::string request = "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
  std::string buffer;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()))
        << "request " << i;
    // Read one response: headers, then Content-Length bytes of body.
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      char chunk[4096];
      ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      ASSERT_GT(n, 0) << "the server closed the connection after " << i << " requests";
      buffer.append(chunk, static_cast<size_t>(n));
    }
    const std::string headers = absl::AsciiStrToLower(buffer.substr(0, header_end));
    EXPECT_EQ(headers.find("connection: close"), std::string::npos) << "request " << i;
    const auto cl = headers.find("content-length: ");
    ASSERT_NE(cl, std::string::npos);
    const size_t length = std::stoul(headers.substr(cl + 16));
    while (buffer.size() < header_end + 4 + length) {
      char chunk[4096];
      ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      ASSERT_GT(n, 0);
      buffer.append(chunk, static_cast<size_t>(n));
    }
    EXPECT_EQ(buffer.substr(0, 12), "HTTP/1.1 200");
    buffer.erase(0, header_end + 4 + length);
  }
  close(fd);
}

}  // namespace
}  // namespace llmix::testing
