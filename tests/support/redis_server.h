// A real redis-server for tests: started on a free loopback port (and a unix socket) with no
// persistence, in its own temp dir; Kill() / Restart() (same port) for outage tests; a few
// client helpers (one short-lived hiredis connection per call). Tests never sleep: startup
// waits for PING with a deadline.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace llmix::testing {

// A TCP port that was free a moment ago (bind 127.0.0.1:0, read it, close).
int FreeTcpPort();

class RedisServer {
 public:
  struct Options {
    std::string password;  // requirepass when non-empty
    bool debug_command = false;  // allow DEBUG (e.g. DEBUG SLEEP) from local clients
  };
  RedisServer() : RedisServer(Options{}) {}
  explicit RedisServer(Options options);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // False (see error()) when redis-server did not answer PING in time.
  bool ok() const { return ok_; }
  std::string error() const;

  int port() const { return port_; }
  // redis://[:password@]127.0.0.1:<port>[/db]
  std::string url(int db = 0) const;
  const std::string& unix_socket() const { return socket_; }
  std::string unix_url() const { return "unix://" + socket_; }

  bool Running() const;
  // SIGKILL and reap (a crash, not a shutdown).
  void Kill();
  // Starts it again on the same port; true once it answers PING.
  bool Restart(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  // Client helpers; nullopt when the command failed or Redis is unreachable.
  // The reply as text: bulk/status string, integer as decimal, "(nil)" for nil, "ERR ..." for
  // an error reply, array elements joined with "\n".
  std::optional<std::string> Command(const std::vector<std::string>& argv, int db = 0) const;
  std::optional<std::string> Get(const std::string& key, int db = 0) const;
  bool SetEx(const std::string& key, int64_t ttl_s, const std::string& value, int db = 0) const;
  std::optional<int64_t> Ttl(const std::string& key, int db = 0) const;
  std::vector<std::string> Keys(const std::string& pattern, int db = 0) const;

 private:
  bool Start(std::chrono::milliseconds timeout);

  Options options_;
  TempDir dir_;
  int port_ = 0;
  std::string socket_;
  std::unique_ptr<ChildProcess> process_;
  bool ok_ = false;
};

}  // namespace llmix::testing
