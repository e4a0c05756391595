#include "tests/e2e/sidecar_process.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace llmix::testing {

SidecarProcess::SidecarProcess(std::vector<std::string> extra_args,
                               std::map<std::string, std::optional<std::string>> env) {
  const std::string ready_file = dir_.File("ready.json");
  std::vector<std::string> argv = {LLMIX_SIDECAR_BIN, "serve"};
  bool has_grpc = false;
  bool has_admin = false;
  bool has_http = false;
  for (const auto& a : extra_args) {
    has_grpc = has_grpc || absl::StartsWith(a, "--grpc-listen");
    has_admin = has_admin || absl::StartsWith(a, "--admin-listen");
    has_http = has_http || absl::StartsWith(a, "--http-listen");
  }
  if (!has_grpc) argv.insert(argv.end(), {"--grpc-listen", "127.0.0.1:0"});
  if (!has_admin) argv.insert(argv.end(), {"--admin-listen", "127.0.0.1:0"});
  if (!has_http) argv.insert(argv.end(), {"--http-listen", "127.0.0.1:0"});
  argv.insert(argv.end(), {"--ready-file", ready_file, "--state-dir", dir_.File("state")});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  // Never let the developer's real keys or endpoints leak into a test.
  for (const char* k : {"OPENAI_API_KEY", "OPENAI_KEYS", "OPENAI_BASE_URL", "LLMIX_GRPC_LISTEN",
                        "LLMIX_ADMIN_LISTEN", "LLMIX_HTTP_LISTEN", "LLMIX_AUTH_TOKEN_FILE",
                        "LLMIX_DUMMY_UPSTREAM", "REDIS_URL"}) {
    env.emplace(k, std::nullopt);
  }
  process_ = std::make_unique<ChildProcess>(argv, env, dir_.path());
  ready_ = WaitFor([&] { return !ReadFile(ready_file).empty() || !process_->Running(); },
                   std::chrono::seconds(20)) &&
           !ReadFile(ready_file).empty();
  if (!ready_) return;
  nlohmann::json j = nlohmann::json::parse(ReadFile(ready_file));
  for (const auto& a : j["grpc"]) {
    grpc_addresses_.push_back(a.get<std::string>());
    if (grpc_address_.empty() && !absl::StartsWith(a.get<std::string>(), "unix:")) {
      grpc_address_ = a.get<std::string>();
    }
  }
  admin_address_ = j["admin"].get<std::string>();
  if (j.contains("http")) http_address_ = j["http"].get<std::string>();
  const std::string target = grpc_address_.empty() ? grpc_addresses_.front() : grpc_address_;
  stub_ = v1::Llmix::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

SidecarProcess::~SidecarProcess() {
  if (process_ && process_->Running()) {
    process_->Signal(SIGTERM);
    process_->Wait(std::chrono::seconds(10));
  }
  // In a sanitizer build (scripts/test.sh --sanitize) a report from the sidecar fails the test
  // that started it, even when the test never looked at the process's output. (ASan and LSan
  // also write to ASAN_OPTIONS' log_path; UBSan, linked with ASan, only to stderr.)
  if (process_) {
    const std::string err = process_->Stderr();
    for (const char* marker :
         {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", ": runtime error: "}) {
      if (const size_t at = err.find(marker); at != std::string::npos) {
        ADD_FAILURE() << "sanitizer report from the sidecar:\n"
                      << err.substr(at > 200 ? at - 200 : 0, 4000);
        break;
      }
    }
  }
}

std::string SidecarProcess::error() const {
  return "sidecar did not start.\nstdout:\n" + process_->Stdout() + "\nstderr:\n" +
         process_->Stderr();
}

grpc::Status SidecarProcess::Call(const v1::CallRequest& req, v1::CallResponse* resp,
                                  std::chrono::milliseconds deadline) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  return stub_->Call(&ctx, req, resp);
}

int SidecarProcess::AdminGet(const std::string& path, std::string* body) {
  httplib::Client c("http://" + admin_address_);
  c.set_connection_timeout(std::chrono::seconds(2));
  c.set_read_timeout(std::chrono::seconds(5));
  auto res = c.Get(path.c_str());
  if (!res) return 0;
  if (body != nullptr) *body = res->body;
  return res->status;
}

std::optional<double> MetricValue(const std::string& exposition, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.size() > series.size() && line.substr(0, series.size()) == series &&
        line[series.size()] == ' ') {
      double v = 0;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
    }
  }
  return std::nullopt;
}

int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

v1::CallRequest InlineRequest(const std::string& config_json, const std::string& user_text) {
  v1::CallRequest req;
  req.set_config_json(config_json);
  v1::Message* m = req.add_messages();
  m->set_role("user");
  m->set_text(user_text);
  return req;
}

}  // namespace llmix::testing
