// Security checks against the real binary, each on real processes over loopback:
// - secrets (API keys, the Redis password, the OTLP auth header) never reach logs, spans,
//   errors, metrics, the cache or any response, even when the provider echoes the key back;
// - with no listen flags at all the sidecar listens only on loopback and a private unix socket;
// - upstream base URLs that point at link-local / cloud metadata addresses are refused before
//   any connection is made;
// - oversized and deeply nested JSON requests are refused with a clear error, without a crash
//   and without unbounded memory, and the process keeps serving.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/fakes/otlp_receiver.h"
#include "tests/fakes/recording_proxy.h"
#include "tests/support/redis_server.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Env = std::map<std::string, std::optional<std::string>>;

// Two provider keys: one shaped like an OpenAI key (caught by the generic sk- pattern too), one
// that matches no generic pattern (only the sidecar knowing it is a key can redact it).
constexpr char kKey1[] = "sk-llmixsec-Q7vX2mPz9KwR4tLs";
constexpr char kKey2[] = "llmixsec_H3nB8cYe5JdU1fGaZx";
constexpr char kRedisPassword[] = "redispw-llmixsec-M4qW8eR2tY6u";
constexpr char kOtlpToken[] = "otlptok-llmixsec-P0oI9uY8tR7e";

std::string Tail(const std::string& s, size_t n) { return s.substr(s.size() - n); }

// What must appear nowhere: each secret and its last 12 characters (a truncated echo), plus
// the marker shared by all of them.
std::vector<std::pair<std::string, std::string>> Needles() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string s : {kKey1, kKey2, kRedisPassword, kOtlpToken}) {
    out.emplace_back(s, s);
    out.emplace_back("last 12 chars of " + s, Tail(s, 12));
  }
  out.emplace_back("the marker llmixsec", "llmixsec");
  return out;
}

// Fails (once per needle) if `text` contains a secret, showing where.
void ExpectNoSecret(const std::string& where, const std::string& text) {
  for (const auto& [label, needle] : Needles()) {
    const size_t at = text.find(needle);
    if (at == std::string::npos) continue;
    const size_t from = at < 120 ? 0 : at - 120;
    ADD_FAILURE() << where << " leaks " << label << ":\n..."
                  << text.substr(from, 240 + needle.size()) << "...";
  }
}

// Every regular file under `dir`, concatenated (logs, ready file, state dir).
std::string AllFilesUnder(const std::string& dir) {
  std::string out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) out += "\n== " + it->path().string() + "\n" + ReadFile(it->path());
  }
  return out;
}

// A gRPC Call, with everything the client sees as text: response, status, metadata.
std::string CallAll(SidecarProcess& s, const v1::CallRequest& req, v1::CallResponse* resp,
                    grpc::Status* status) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
  *status = s.stub().Call(&ctx, req, resp);
  std::string text = resp->DebugString() + "\nstatus: " + std::to_string(status->error_code()) +
                     " " + status->error_message() + " " + status->error_details();
  for (const auto* md : {&ctx.GetServerInitialMetadata(), &ctx.GetServerTrailingMetadata()}) {
    for (const auto& [k, v] : *md) {
      text += "\n" + std::string(k.data(), k.size()) + ": " + std::string(v.data(), v.size());
    }
  }
  return text;
}

std::string HttpText(const httplib::Result& res) {
  if (!res) return "<no response>";
  std::string text = absl::StrCat("HTTP ", res->status, "\n");
  for (const auto& [k, v] : res->headers) text += k + ": " + v + "\n";
  return text + "\n" + res->body;
}

std::string Chat(const std::string& model, const std::string& text) {
  return json{{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}}.dump();
}

// Publishes `presets` ({"module/name" -> front matter body under metadata}) as a registry.
std::string PublishRegistry(const TempDir& dir, const std::map<std::string, std::string>& presets) {
  const std::string root = dir.File("llm");
  for (const auto& [id, metadata] : presets) {
    const std::string path = root + "/source/" + id + ".mda";
    fs::create_directories(fs::path(path).parent_path());
    const std::string name = id.substr(id.find('/') + 1);
    WriteFile(path, "---\nname: " + name + "\ndescription: security e2e\nmetadata:\n" + metadata +
                        "---\n# " + id + "\n");
  }
  CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return root;
}

// ---------------------------------------------------------------------------------------------
// a. Secrets never leave the process.

TEST(SecurityE2E, ApiKeysNeverInLogsSpansErrorsMetricsCacheOrResponses) {
  RedisServer redis(RedisServer::Options{kRedisPassword});
  ASSERT_TRUE(redis.ok()) << redis.error();
  FakeOpenAi fake;
  OtlpReceiver receiver;
  TempDir dir;
  const std::string registry = PublishRegistry(
      dir, {{"sec/chat",
             "  snoai-llmix:\n    common:\n      provider: openai\n      model: gpt-4o-mini\n"
             "    caching:\n      strategy: redis\n      ttl: 600\n"}});
  const std::string config =
      R"({"provider":"openai","model":"gpt-4o-mini","caching":{"strategy":"redis","ttl":600}})";

  SidecarProcess sidecar(
      {"--registry", registry, "--log-level", "debug", "--trace-content", "--max-retries", "0",
       "--breaker-threshold", "1000", "--cache-max-entries", "1"},
      Env{{"OPENAI_BASE_URL", fake.base_url()},
          {"OPENAI_KEYS", std::string(kKey1) + "," + kKey2},
          {"REDIS_URL", redis.url()},
          {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
          {"OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()},
          {"OTEL_EXPORTER_OTLP_HEADERS", std::string("authorization=Bearer%20") + kOtlpToken},
          {"OTEL_TRACES_SAMPLER", "always_on"},
          {"OTEL_BSP_SCHEDULE_DELAY", "20"}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();

  // Every scripted failure echoes the key the request carried, in the body and a header, the
  // way providers answer a bad key ("Incorrect API key provided: sk-...").
  auto echo = [](int status, const std::string& type) {
    FakeReply r;
    r.status = status;
    r.echo_api_key = true;
    r.raw_body = R"x({"error":{"message":"Incorrect API key provided: {api_key}. You can )x"
                 R"x(find your key at https://example.invalid/keys ({api_key})","type":")x" +
                 type + R"x(","code":"{api_key}"}})x";
    r.headers["x-debug-api-key"] = "{api_key}";
    return r;
  };
  std::vector<std::pair<std::string, std::string>> outputs;  // (where, text)
  auto grpc_call = [&](const std::string& name, const std::string& text) {
    v1::CallResponse resp;
    grpc::Status st;
    outputs.emplace_back("gRPC response to " + name,
                         CallAll(sidecar, InlineRequest(config, text), &resp, &st));
    EXPECT_TRUE(st.ok()) << name << ": " << st.error_message();
    return resp;
  };
  httplib::Client front("http://" + sidecar.http_address());
  front.set_read_timeout(15, 0);
  auto front_call = [&](const std::string& name, const std::string& text) {
    auto res = front.Post("/v1/chat/completions", Chat("sec/chat", text), "application/json");
    outputs.emplace_back("front-door response to " + name, HttpText(res));
    return res;
  };
  auto l2_entries = [&](size_t n) { return WaitFor([&] { return redis.Keys("*").size() >= n; }); };

  // gRPC: a miss (L2 written), an L1 hit, another miss that evicts the first from L1, an L2
  // hit; then 429 with Retry-After (rotates to key 2), 500, 401 (key 2 retired).
  EXPECT_TRUE(grpc_call("miss", "alpha").success());
  ASSERT_TRUE(l2_entries(1));
  EXPECT_EQ(grpc_call("L1 hit", "alpha").cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_TRUE(grpc_call("second miss", "beta").success());
  ASSERT_TRUE(l2_entries(2));
  EXPECT_EQ(grpc_call("L2 hit", "alpha").cache_hit(), v1::CACHE_TIER_L2);
  FakeReply limited = echo(429, "rate_limit_error");
  limited.headers["retry-after"] = "3";
  fake.Enqueue(limited);
  v1::CallResponse r429 = grpc_call("429", "gamma");
  EXPECT_EQ(r429.error().code(), v1::ERROR_CODE_RATE_LIMITED);
  EXPECT_EQ(r429.error().retry_after_ms(), 3000);
  fake.Enqueue(echo(500, "server_error"));
  EXPECT_FALSE(grpc_call("500", "delta").success());
  fake.Enqueue(echo(401, "invalid_request_error"));
  v1::CallResponse r401 = grpc_call("401", "epsilon");
  EXPECT_EQ(r401.error().http_status(), 401);
  // The echo reached the sidecar and was redacted, not dropped.
  EXPECT_NE(r401.error().message().find("Incorrect API key provided"), std::string::npos)
      << r401.error().message();

  // Front door: miss, L1 hit, miss, L2 hit, 429, 500, 401 (key 1 retired), pool exhausted.
  EXPECT_EQ(front_call("miss", "fd alpha")->status, 200);
  ASSERT_TRUE(l2_entries(3));
  EXPECT_EQ(front_call("L1 hit", "fd alpha")->get_header_value("x-llmix-cache"), "l1");
  EXPECT_EQ(front_call("second miss", "fd beta")->status, 200);
  ASSERT_TRUE(l2_entries(4));
  EXPECT_EQ(front_call("L2 hit", "fd alpha")->get_header_value("x-llmix-cache"), "l2");
  fake.Enqueue(limited);
  auto f429 = front_call("429", "fd gamma");
  EXPECT_EQ(f429->status, 429);
  EXPECT_EQ(f429->get_header_value("retry-after"), "3");
  fake.Enqueue(echo(500, "server_error"));
  EXPECT_GE(front_call("500", "fd delta")->status, 500);
  fake.Enqueue(echo(401, "invalid_request_error"));
  EXPECT_GE(front_call("401", "fd epsilon")->status, 400);
  EXPECT_GE(front_call("pool exhausted", "fd zeta")->status, 400);
  EXPECT_EQ(grpc_call("pool exhausted", "zeta").error().code(), v1::ERROR_CODE_KEY_POOL_EXHAUSTED);
  outputs.emplace_back("front-door /v1/models", HttpText(front.Get("/v1/models")));
  {
    grpc::ClientContext ctx;
    v1::ConfigInfo info;
    grpc::Status st = sidecar.stub().GetConfigInfo(&ctx, v1::GetConfigInfoRequest{}, &info);
    outputs.emplace_back("GetConfigInfo", info.DebugString() + st.error_message());
  }
  for (const char* path : {"/metrics", "/config", "/healthz", "/readyz"}) {
    std::string body;
    const int status = sidecar.AdminGet(path, &body);
    EXPECT_EQ(status, 200) << path;
    outputs.emplace_back(std::string("admin ") + path, body);
  }
  const std::vector<std::string> keys = redis.Keys("*");
  EXPECT_GE(keys.size(), 4u);
  for (const std::string& k : keys) {
    outputs.emplace_back("Redis key", k);
    outputs.emplace_back("Redis value of " + k, redis.Get(k).value_or("<unreadable>"));
  }

  // Controls: both keys really went upstream, and the collector got spans with content.
  std::set<std::string> sent;
  for (const auto& r : fake.Requests()) sent.insert(r.headers.at("authorization"));
  EXPECT_EQ(sent, (std::set<std::string>{std::string("Bearer ") + kKey1,
                                         std::string("Bearer ") + kKey2}));
  ASSERT_TRUE(receiver.WaitForSpans(20));

  // Stop it so the logs are complete and the span queue is flushed, then look everywhere.
  sidecar.process().Signal(SIGTERM);
  ASSERT_TRUE(sidecar.process().Wait(std::chrono::seconds(20)).has_value());
  const std::string stderr_text = sidecar.process().Stderr();
  outputs.emplace_back("sidecar stdout", sidecar.process().Stdout());
  outputs.emplace_back("sidecar stderr", stderr_text);
  outputs.emplace_back("files under the sidecar's dir", AllFilesUnder(sidecar.dir().path()));
  std::string spans;
  bool saw_content = false;
  for (const auto& s : receiver.Spans()) {
    spans += s.span.DebugString();
    for (const auto& kv : s.span.attributes()) saw_content |= kv.key() == "gen_ai.prompt";
  }
  EXPECT_TRUE(saw_content) << "--trace-content should put prompts on spans";
  outputs.emplace_back("OTLP spans (text)", spans);
  outputs.emplace_back("OTLP payload (raw bytes)", receiver.RawPayload());

  for (const auto& [where, text] : outputs) ExpectNoSecret(where, text);
}

// ---------------------------------------------------------------------------------------------
// b. Listen addresses.

struct ListeningSocket {
  std::string address;  // "127.0.0.1:7070", "[::1]:7070"
  bool loopback = false;
};

std::set<std::string> SocketInodes(pid_t pid) {
  std::set<std::string> out;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (auto it = fs::directory_iterator(fd_dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    std::error_code lec;
    const std::string target = fs::read_symlink(it->path(), lec).string();
    absl::string_view v(target);
    if (!lec && absl::ConsumePrefix(&v, "socket:[") && absl::ConsumeSuffix(&v, "]")) {
      out.emplace(v);
    }
  }
  return out;
}

// The TCP sockets in LISTEN state owned by `pid` (matched by inode), read from the /proc view of
// that process's network namespace.
std::vector<ListeningSocket> ListeningTcpSockets(pid_t pid) {
  const std::set<std::string> inodes = SocketInodes(pid);
  std::vector<ListeningSocket> out;
  for (const char* table : {"tcp", "tcp6"}) {
    std::istringstream lines(ReadFile("/proc/" + std::to_string(pid) + "/net/" + table));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      if (f.size() < 10 || f[3] != "0A" || inodes.count(f[9]) == 0) continue;
      const std::string hex_addr = f[1].substr(0, f[1].find(':'));
      uint32_t port = 0;
      absl::SimpleHexAtoi(f[1].substr(f[1].find(':') + 1), &port);
      ListeningSocket s;
      if (std::string(table) == "tcp") {
        uint32_t a = 0;
        absl::SimpleHexAtoi(hex_addr, &a);  // host byte order (little-endian) of the raw bytes
        s.address = absl::StrCat(a & 0xff, ".", (a >> 8) & 0xff, ".", (a >> 16) & 0xff, ".",
                                 a >> 24, ":", port);
        s.loopback = hex_addr == "0100007F";
      } else {
        s.address = "[" + hex_addr + "]:" + std::to_string(port);
        // ::1, or an IPv4-mapped 127.x.y.z (a dual-stack socket bound to 127.0.0.1)
        s.loopback =
            hex_addr == "00000000000000000000000001000000" ||
            (hex_addr.size() == 32 && hex_addr.substr(0, 24) == "0000000000000000FFFF0000" &&
             hex_addr.substr(30, 2) == "7F");
      }
      out.push_back(s);
    }
  }
  return out;
}

void ExpectOnlyLoopback(pid_t pid, size_t min_sockets) {
  const auto sockets = ListeningTcpSockets(pid);
  EXPECT_GE(sockets.size(), min_sockets);
  for (const auto& s : sockets) {
    EXPECT_TRUE(s.loopback) << "listening on a non-loopback address: " << s.address;
  }
}

TEST(SecurityE2E, DefaultListenersAreLoopbackAndAPrivateUnixSocketOnly) {
  // The defaults are fixed ports (7070, 7071, 9464), so the sidecar runs in a fresh network
  // namespace of its own (unprivileged: user + net namespace), where they are always free.
  if (RunCommand({"unshare", "-rn", "sh", "-c", "ip link set lo up"}).exit_code != 0) {
    GTEST_SKIP() << "needs unshare -rn and ip (user + network namespaces)";
  }
  TempDir dir;
  const std::string ready = dir.File("ready.json");
  Env env;
  for (const char* k : {"LLMIX_GRPC_LISTEN", "LLMIX_ADMIN_LISTEN", "LLMIX_HTTP_LISTEN",
                        "LLMIX_STATE_DIR", "LLMIX_READY_FILE", "OPENAI_API_KEY", "REDIS_URL"}) {
    env.emplace(k, std::nullopt);
  }
  ChildProcess child({"unshare", "-rn", "sh", "-c",
                      "ip link set lo up && exec \"$0\" serve --dummy-upstream --state-dir \"$1\" "
                      "--ready-file \"$2\"",
                      LLMIX_SIDECAR_BIN, dir.File("state"), ready},
                     env, dir.path());
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(ready).empty() || !child.Running(); },
                      std::chrono::seconds(20)) &&
              !ReadFile(ready).empty())
      << child.Stderr();
  const json r = json::parse(ReadFile(ready));
  ASSERT_EQ(r["grpc"].size(), 2u) << r.dump();
  EXPECT_EQ(r["grpc"][0].get<std::string>().rfind("unix:", 0), 0u) << r.dump();
  EXPECT_NE(r["grpc"][0].get<std::string>().find(dir.File("state") + "/llmix.sock"),
            std::string::npos)
      << r.dump();
  EXPECT_EQ(r["grpc"][1], "127.0.0.1:7070") << r.dump();
  EXPECT_EQ(r["http"], "127.0.0.1:7071") << r.dump();
  EXPECT_EQ(r["admin"], "127.0.0.1:9464") << r.dump();
  // gRPC, front door, admin: three TCP listeners, every one on loopback.
  ExpectOnlyLoopback(child.pid(), 3);
  struct stat st {};
  ASSERT_EQ(stat((dir.File("state") + "/llmix.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0007, 0u)
      << "unix socket open to other users: mode " << std::oct << (st.st_mode & 0777);
  child.Signal(SIGTERM);
  EXPECT_TRUE(child.Wait(std::chrono::seconds(15)).has_value());
}

TEST(SecurityE2E, HelpDocumentsLoopbackDefaultsAndARunningSidecarListensOnLoopbackOnly) {
  CommandResult help = RunCommand({LLMIX_SIDECAR_BIN, "serve", "--help"});
  const std::string text = help.out + help.err;
  EXPECT_NE(text.find("unix://<state-dir>/llmix.sock and 127.0.0.1:7070"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("0.0.0.0"), std::string::npos) << text;
  // Port-0 overrides (what every e2e test uses): still nothing but loopback, also with Redis
  // and an OTLP exporter, which must not open listeners of their own.
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  OtlpReceiver receiver;
  SidecarProcess sidecar(
      {"--dummy-upstream"},
      Env{{"REDIS_URL", redis.url()}, {"OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  v1::CallResponse resp;
  ASSERT_TRUE(
      sidecar.Call(InlineRequest(R"({"provider":"openai","model":"m"})", "hi"), &resp).ok());
  ExpectOnlyLoopback(sidecar.process().pid(), 3);
}

// ---------------------------------------------------------------------------------------------
// c. SSRF guard.

// With HTTP_PROXY pointing at a RecordingProxy, any upstream connection the sidecar makes shows
// up as a request there.

TEST(SecurityE2E, MetadataAndLinkLocalUpstreamsAreRefusedBeforeAnyConnection) {
  // Answers 502 itself: nothing that goes through it ever reaches a real host.
  RecordingProxy proxy(502, R"({"error":{"message":"counting proxy"}})");
  TempDir dir;
  const std::string registry = PublishRegistry(
      dir, {{"sec/metadata",
             "  snoai-llmix:\n    common:\n      provider: openai\n      model: gpt-4o-mini\n"
             "  llmix-sidecar:\n    baseUrl: http://169.254.169.254/latest/meta-data\n"}});
  Env env{{"OPENAI_API_KEY", "sk-ssrf-e2e-0001"},
          {"NO_PROXY", std::nullopt},
          {"no_proxy", std::nullopt}};
  for (const char* k : {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"}) {
    env.emplace(k, proxy.url());
  }
  SidecarProcess sidecar({"--registry", registry, "--max-retries", "3", "--retry-base-ms", "1",
                          "--retry-jitter-ms", "0"},
                         env);
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();

  auto expect_refused = [&](const std::string& what, const v1::CallRequest& req) {
    v1::CallResponse resp;
    grpc::Status st = sidecar.Call(req, &resp);
    ASSERT_TRUE(st.ok()) << what << ": " << st.error_message();
    EXPECT_FALSE(resp.success()) << what;
    EXPECT_EQ(resp.error().code(), v1::ERROR_CODE_CONFIG) << what;
    EXPECT_FALSE(resp.error().retryable()) << what;
    EXPECT_EQ(resp.attempts(), 1) << what << ": a refused upstream is not retried";
    EXPECT_NE(resp.error().message().find("link-local/metadata address"), std::string::npos)
        << what << ": " << resp.error().message();
    EXPECT_NE(resp.error().message().find("--allow-link-local-upstreams"), std::string::npos)
        << what << ": " << resp.error().message();
  };
  auto inline_with = [](const std::string& base_url) {
    return InlineRequest(
        json{{"provider", "openai"}, {"model", "gpt-4o-mini"}, {"baseUrl", base_url}}.dump(), "hi");
  };
  expect_refused("AWS/GCP metadata IP", inline_with("http://169.254.169.254/latest/meta-data"));
  expect_refused("IPv6 link-local", inline_with("http://[fe80::1]:8080/v1"));
  expect_refused("AWS IMDS IPv6", inline_with("http://[fd00:ec2::254]/v1"));
  expect_refused("IPv4-mapped IPv6", inline_with("http://[::ffff:169.254.169.254]/v1"));
  // Host names that resolve (without DNS: the resolver reads these numeric forms itself) to
  // 169.254.169.254, the classic bypasses of a check on the URL text.
  expect_refused("decimal host", inline_with("http://2852039166/v1"));
  expect_refused("hex host", inline_with("http://0xa9fea9fe/v1"));
  expect_refused("https and a port", inline_with("https://169.254.10.10:8443/v1"));
  v1::CallRequest preset;
  preset.set_preset("sec/metadata");
  *preset.add_messages() = InlineRequest("{}", "hi").messages(0);
  expect_refused("preset baseUrl", preset);
  EXPECT_TRUE(proxy.targets().empty())
      << "a refused upstream reached the proxy: " << proxy.targets().front();

  // Control: an upstream that is not link-local does go out (through the proxy).
  v1::CallResponse allowed;
  ASSERT_TRUE(sidecar.Call(inline_with("http://upstream.invalid/v1"), &allowed).ok());
  EXPECT_FALSE(allowed.success());
  EXPECT_FALSE(proxy.targets().empty()) << allowed.error().message();
}

// ---------------------------------------------------------------------------------------------
// d. Oversized and deeply nested input.

// Peak resident set of `pid` in MiB (VmHWM), or -1.
int64_t PeakRssMiB(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v(line);
    if (absl::ConsumePrefix(&v, "VmHWM:")) {
      int64_t kb = 0;
      v = absl::StripAsciiWhitespace(v);
      if (absl::ConsumeSuffix(&v, " kB") && absl::SimpleAtoi(v, &kb)) return kb / 1024;
    }
  }
  return -1;
}

// Generous: the sidecar idles at a few tens of MiB (more under ASan); a parser that built the
// 1,000,000-level documents below, or copied a 9 MiB body a few times, would go far past it.
constexpr int64_t kPeakRssBoundMiB = 300;

class OversizedInputE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    sidecar_ = std::make_unique<SidecarProcess>(std::vector<std::string>{"--max-retries", "0"},
                                                Env{{"OPENAI_BASE_URL", openai_.base_url()},
                                                    {"OPENAI_API_KEY", "sk-size-e2e-0001"},
                                                    {"ANTHROPIC_BASE_URL", anthropic_.base_url()},
                                                    {"ANTHROPIC_API_KEY", "sk-ant-size-e2e-0001"},
                                                    {"GOOGLE_BASE_URL", gemini_.base_url()},
                                                    {"GOOGLE_API_KEY", "gm-size-e2e-0001"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  // The next call still works and the process is alive, with a bounded peak RSS.
  void ExpectStillServing(const std::string& after) {
    v1::CallResponse ok;
    grpc::Status st = sidecar_->Call(InlineRequest(kOpenAi, "still there? " + after), &ok);
    EXPECT_TRUE(st.ok() && ok.success()) << after << ": " << st.error_message();
    EXPECT_TRUE(sidecar_->process().Running()) << after << "\n" << sidecar_->process().Stderr();
    const int64_t peak = PeakRssMiB(sidecar_->process().pid());
    EXPECT_GT(peak, 0);
    EXPECT_LT(peak, kPeakRssBoundMiB) << "peak RSS after " << after;
  }

  httplib::Client Front() {
    httplib::Client c("http://" + sidecar_->http_address());
    c.set_read_timeout(30, 0);
    c.set_write_timeout(30, 0);
    return c;
  }

  static constexpr char kOpenAi[] = R"({"provider":"openai","model":"gpt-4o-mini"})";
  static inline const std::string kDeepArray = std::string(1000000, '[');
  // Well-formed (so a parser without a depth limit would build it), 1,000,000 levels.
  static inline const std::string kDeepValid =
      "{\"a\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";

  FakeOpenAi openai_;
  FakeOpenAi anthropic_{FakeProtocol::kAnthropicMessages};
  FakeOpenAi gemini_{FakeProtocol::kGeminiGenerateContent};
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(OversizedInputE2E, GrpcRequestsOverTheSizeLimitAreRefusedNamingTheLimit) {
  // Over --max-request-bytes (4 MiB): INVALID_ARGUMENT naming the request.
  v1::CallResponse resp;
  grpc::Status st = sidecar_->Call(InlineRequest(kOpenAi, std::string(5 << 20, 'x')), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message().rfind("request", 0), 0u) << st.error_message();
  // Over what gRPC accepts at all (twice the limit, at least 8 MiB): refused by the transport.
  st = sidecar_->Call(InlineRequest(kOpenAi, std::string(9 << 20, 'x')), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_NE(st.error_message().find("larger than max"), std::string::npos) << st.error_message();
  EXPECT_EQ(openai_.RequestCount(), 0u);
  ExpectStillServing("oversized gRPC requests");
}

TEST_F(OversizedInputE2E, FrontDoorBodiesOverTheSizeLimitGetAnOpenAiError) {
  auto c = Front();
  // Over --max-request-bytes but under the HTTP cap: the call's own check, 400.
  auto over = c.Post("/v1/chat/completions", Chat("openai:gpt-4o-mini", std::string(5 << 20, 'x')),
                     "application/json");
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 400) << over->body;
  json e = json::parse(over->body, nullptr, false);
  ASSERT_TRUE(e.contains("error")) << over->body;
  EXPECT_EQ(e["error"]["type"], "invalid_request_error") << over->body;
  // Over the HTTP cap (twice the limit): refused while reading, 413.
  auto huge = c.Post("/v1/chat/completions", Chat("openai:gpt-4o-mini", std::string(9 << 20, 'x')),
                     "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413) << huge->body;
  e = json::parse(huge->body, nullptr, false);
  ASSERT_TRUE(e.contains("error")) << huge->body;
  EXPECT_EQ(e["error"]["type"], "invalid_request_error") << huge->body;
  EXPECT_NE(e["error"]["message"].get<std::string>().find("max-request-bytes"), std::string::npos)
      << huge->body;
  EXPECT_EQ(openai_.RequestCount(), 0u);
  ExpectStillServing("oversized front-door bodies");
}

TEST_F(OversizedInputE2E, MillionLevelNestedJsonIsRefusedWithoutCrashOrMemoryBlowUp) {
  // Front door body.
  auto c = Front();
  auto res = c.Post("/v1/chat/completions", kDeepArray, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  json e = json::parse(res->body, nullptr, false);
  EXPECT_EQ(e["error"]["param"], "body") << res->body;
  EXPECT_NE(res->body.find("nesting deeper than"), std::string::npos) << res->body;
  res = c.Post(
      "/v1/chat/completions",
      R"({"model":"openai:gpt-4o-mini","messages":[{"role":"user","content":)" + kDeepValid + "}]}",
      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  ExpectStillServing("nested front-door bodies");

  // gRPC fields holding JSON text: each refused naming the field.
  struct Case {
    const char* field;
    std::function<void(v1::CallRequest&)> set;
  };
  const std::vector<Case> cases = {
      {"config_json", [](v1::CallRequest& r) { r.set_config_json(kDeepValid); }},
      {"messages[0].message_json",
       [](v1::CallRequest& r) {
         r.mutable_messages(0)->clear_text();
         r.mutable_messages(0)->set_message_json(kDeepArray);
       }},
      {"response_format_json", [](v1::CallRequest& r) { r.set_response_format_json(kDeepValid); }},
      {"tools[0].parameters_json",
       [](v1::CallRequest& r) {
         v1::Tool* t = r.add_tools();
         t->set_name("f");
         t->set_parameters_json(kDeepValid);
       }},
  };
  for (const Case& k : cases) {
    v1::CallRequest req = InlineRequest(kOpenAi, "hi");
    k.set(req);
    v1::CallResponse resp;
    grpc::Status st = sidecar_->Call(req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << k.field;
    EXPECT_EQ(st.error_message().rfind(k.field, 0), 0u)
        << k.field << ": \"" << st.error_message().substr(0, 300) << "\"";
    ExpectStillServing(k.field);
  }
}

TEST_F(OversizedInputE2E, DeeplyNestedToolJsonIsRefusedForProtocolsThatParseIt) {
  // Anthropic and Gemini take tool-call arguments (and Gemini tool results) as JSON objects, so
  // the adapter parses the JSON text the caller sent: a 1,000,000-level document must be
  // refused there, naming the field, not built and serialized recursively.
  const std::string assistant = json{{"role", "assistant"},
                                     {"content", nullptr},
                                     {"tool_calls",
                                      {{{"id", "call_1"},
                                        {"type", "function"},
                                        {"function", {{"name", "f"}, {"arguments", kDeepValid}}}}}}}
                                    .dump();
  const std::string tool_result = json{
      {"role", "tool"},
      {"tool_call_id", "call_1"},
      {"name", "f"},
      {"content", kDeepValid}}.dump();
  struct Case {
    const char* name;
    const char* config;
    std::vector<std::string> messages;
    const char* field;
  };
  const std::string call_ok = json{{"role", "assistant"},
                                   {"content", nullptr},
                                   {"tool_calls",
                                    {{{"id", "call_1"},
                                      {"type", "function"},
                                      {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}}
                                  .dump();
  const std::vector<Case> cases = {
      {"anthropic arguments",
       R"({"provider":"anthropic","model":"claude-sonnet-4-5"})",
       {assistant},
       "messages[1].tool_calls[0].function.arguments"},
      {"gemini arguments",
       R"({"provider":"google","model":"gemini-2.5-flash"})",
       {assistant},
       "messages[1].tool_calls[0].function.arguments"},
      {"gemini tool result",
       R"({"provider":"google","model":"gemini-2.5-flash"})",
       {call_ok, tool_result},
       "messages[2].content"},
  };
  for (const Case& k : cases) {
    v1::CallRequest req = InlineRequest(k.config, "use the tool");
    for (const std::string& m : k.messages) req.add_messages()->set_message_json(m);
    v1::CallResponse resp;
    grpc::Status st = sidecar_->Call(req, &resp, std::chrono::seconds(30));
    ASSERT_TRUE(sidecar_->process().Running()) << k.name << ": the sidecar died\n"
                                               << sidecar_->process().Stderr();
    const std::string message = st.ok() ? resp.error().message() : st.error_message();
    EXPECT_TRUE(!st.ok() || !resp.success()) << k.name;
    EXPECT_NE(message.find(k.field), std::string::npos) << k.name << ": " << message;
    EXPECT_NE(message.find("nested deeper than"), std::string::npos) << k.name << ": " << message;
    ExpectStillServing(k.name);
  }
  EXPECT_EQ(anthropic_.RequestCount(), 0u);
  EXPECT_EQ(gemini_.RequestCount(), 0u);
}

}  // namespace
}  // namespace llmix::testing
