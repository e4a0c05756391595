#include "tests/support/redis_server.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace llmix::testing {

int FreeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

RedisServer::RedisServer(Options options) : options_(std::move(options)) {
  socket_ = dir_.File("redis.sock");
  // A port taken by someone else between FreeTcpPort() and the bind: try another one.
  for (int attempt = 0; attempt < 5 && !ok_; ++attempt) {
    port_ = FreeTcpPort();
    ok_ = Start(std::chrono::seconds(15));
  }
}

RedisServer::~RedisServer() { Kill(); }

std::string RedisServer::error() const {
  return "redis-server did not start on port " + std::to_string(port_) +
         (process_ ? "\nstdout:\n" + process_->Stdout() + "\nstderr:\n" + process_->Stderr()
                   : std::string());
}

std::string RedisServer::url(int db) const {
  std::string u = "redis://";
  if (!options_.password.empty()) u += ":" + options_.password + "@";
  u += "127.0.0.1:" + std::to_string(port_);
  if (db != 0) u += "/" + std::to_string(db);
  return u;
}

bool RedisServer::Start(std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"/usr/bin/redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_.path(),
                                   "--unixsocket",
                                   socket_,
                                   "--unixsocketperm",
                                   "700",
                                   "--daemonize",
                                   "no"};
  if (!options_.password.empty()) {
    argv.insert(argv.end(), {"--requirepass", options_.password});
  }
  if (options_.debug_command) argv.insert(argv.end(), {"--enable-debug-command", "local"});
  process_ = std::make_unique<ChildProcess>(
      argv, std::map<std::string, std::optional<std::string>>{}, dir_.path());
  return WaitFor(
             [&] {
               if (!process_->Running()) return true;
               auto pong = Command({"PING"});
               return pong.has_value() && *pong == "PONG";
             },
             timeout) &&
         process_->Running();
}

bool RedisServer::Running() const { return process_ && process_->Running(); }

void RedisServer::Kill() {
  if (process_ && process_->Running()) {
    process_->Signal(SIGKILL);
    process_->Wait(std::chrono::seconds(10));
  }
}

bool RedisServer::Restart(std::chrono::milliseconds timeout) {
  Kill();
  ok_ = Start(timeout);
  return ok_;
}

namespace {

std::string ReplyText(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) {
        if (i > 0) out += "\n";
        out += ReplyText(r->element[i]);
      }
      return out;
    }
    default:
      return "";
  }
}

redisReply* Run(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
}

}  // namespace

std::optional<std::string> RedisServer::Command(const std::vector<std::string>& argv,
                                                int db) const {
  timeval tv{2, 0};
  // Through our own unix socket: a TCP probe could reach another redis that holds the same
  // port while ours is failing to bind it (redis binds TCP before it opens the socket).
  redisContext* c = redisConnectUnixWithTimeout(socket_.c_str(), tv);
  if (c == nullptr) return std::nullopt;
  std::optional<std::string> out;
  if (c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
    bool ready = true;
    auto prepare = [&](const std::vector<std::string>& cmd) {
      redisReply* r = Run(c, cmd);
      ready = ready && r != nullptr && r->type != REDIS_REPLY_ERROR;
      if (r != nullptr) freeReplyObject(r);
    };
    if (!options_.password.empty()) prepare({"AUTH", options_.password});
    if (db != 0) prepare({"SELECT", std::to_string(db)});
    if (ready) {
      if (redisReply* r = Run(c, argv); r != nullptr) {
        out = ReplyText(r);
        freeReplyObject(r);
      }
    }
  }
  redisFree(c);
  return out;
}

std::optional<std::string> RedisServer::Get(const std::string& key, int db) const {
  auto v = Command({"GET", key}, db);
  if (!v.has_value() || *v == "(nil)") return std::nullopt;
  return v;
}

bool RedisServer::SetEx(const std::string& key, int64_t ttl_s, const std::string& value,
                        int db) const {
  auto v = Command({"SETEX", key, std::to_string(ttl_s), value}, db);
  return v.has_value() && *v == "OK";
}

std::optional<int64_t> RedisServer::Ttl(const std::string& key, int db) const {
  auto v = Command({"TTL", key}, db);
  if (!v.has_value()) return std::nullopt;
  return std::stoll(*v);
}

std::vector<std::string> RedisServer::Keys(const std::string& pattern, int db) const {
  std::vector<std::string> out;
  auto v = Command({"KEYS", pattern}, db);
  if (!v.has_value() || v->empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t nl = v->find('\n', start);
    out.push_back(v->substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

}  // namespace llmix::testing
