#include "sidecar/admin_server.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sidecar/prometheus_text.h"

namespace llmix::sidecar {

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535 || h.empty()) {
    return false;
  }
  *host = h;
  *port = p;
  return true;
}

AdminServer::AdminServer(Handlers handlers)
    : handlers_(std::move(handlers)), server_(std::make_unique<httplib::Server>()) {}

AdminServer::~AdminServer() { Stop(); }

absl::StatusOr<std::string> ListenInBackground(httplib::Server& server, const std::string& address,
                                               const std::string& flag, std::thread* thread) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected host:port, got \"", address, "\""));
  }
  if (port == 0) {
    port = server.bind_to_any_port(host.c_str());
    if (port < 0) return absl::UnavailableError(absl::StrCat(flag, ": cannot bind ", address));
  } else if (!server.bind_to_port(host.c_str(), port)) {
    return absl::UnavailableError(absl::StrCat(flag, ": cannot bind ", address));
  }
  *thread = std::thread([&server] { server.listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs; wait for it so Stop() never hangs.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server.is_running()) {
    return absl::UnavailableError(absl::StrCat(flag, ": listener did not start"));
  }
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat(v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

absl::StatusOr<std::string> AdminServer::Start(const std::string& address) {
  server_->set_tcp_nodelay(true);
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool ready = handlers_.ready();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "{\"status\":\"ready\"}\n" : "{\"status\":\"not ready\"}\n",
                    "application/json");
  });
  if (handlers_.metrics) {
    server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(handlers_.metrics(), std::string(kPrometheusContentType).c_str());
    });
  }
  if (handlers_.config) {
    server_->Get("/config", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(handlers_.config(), "application/json");
    });
  }
  return ListenInBackground(*server_, address, "--admin-listen", &thread_);
}

void AdminServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace llmix::sidecar
