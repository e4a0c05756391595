// The admin HTTP listener: /healthz (process alive), /readyz (serving and not draining),
// /metrics (Prometheus text) and /config (the active revision, read-only JSON). Never runs LLM
// calls. Runs its own thread. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace llmix::sidecar {

class AdminServer {
 public:
  struct Handlers {
    std::function<bool()> ready;
    std::function<std::string()> metrics;  // Prometheus text; null: 404
    std::function<std::string()> config;   // JSON; null: 404
  };
  explicit AdminServer(Handlers handlers);
  ~AdminServer();

  // Binds `address` ("host:port"; port 0 picks a free one) and starts serving.
  // Returns the bound "host:port".
  absl::StatusOr<std::string> Start(const std::string& address);
  void Stop();

 private:
  Handlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// Binds `server` to `address` ("host:port"; port 0 picks a free one), runs its accept loop on
// `*thread` and returns once it accepts, with the bound "host:port". Errors name `flag`.
absl::StatusOr<std::string> ListenInBackground(httplib::Server& server, const std::string& address,
                                               const std::string& flag, std::thread* thread);

// Splits "host:port" / "[v6]:port" into parts; false when malformed.
bool SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace llmix::sidecar
