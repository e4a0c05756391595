// A loopback upstream that misbehaves at the TCP/HTTP level, which an HTTP library server
// cannot be made to do: hang after reading a request, reset in the middle of a body, answer
// with bytes that are not HTTP, stream a body far past any cap, close keep-alive connections.
// Each request read (headers + Content-Length body) gets the next scripted behaviour, or the
// default; a well-formed answer is an OpenAI chat.completion. Real sockets on 127.0.0.1,
// port 0; one thread per connection; thread-safe; the destructor unblocks and joins all.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace llmix::testing {

enum class RawBehavior {
  kAnswer,               // 200 with a chat.completion body, connection kept alive
  kHang,                 // read the request, never answer (until the server is destroyed)
  kResetMidBody,         // headers + part of the body, then a TCP reset
  kGarbage,              // bytes that are not an HTTP response, then close
  kHugeBody,             // 200 with a 50 MB body, sent until the client stops reading
  kAnswerThenClose,      // a keep-alive answer, then the server closes the connection
  kCloseOnReusedSocket,  // answer the first request of a connection; close on the second
                         // one without answering (an idle timeout racing a new request)
};

class RawUpstream {
 public:
  static constexpr uint64_t kHugeBodyBytes = 50ull << 20;

  explicit RawUpstream(RawBehavior default_behavior = RawBehavior::kAnswer);
  ~RawUpstream();
  RawUpstream(const RawUpstream&) = delete;
  RawUpstream& operator=(const RawUpstream&) = delete;

  int port() const { return port_; }
  std::string base_url() const;  // http://127.0.0.1:PORT/v1

  void Enqueue(RawBehavior b);
  void SetDefault(RawBehavior b);

  uint64_t requests() const { return requests_.load(); }        // complete requests read
  uint64_t connections() const { return connections_.load(); }  // accepted
  uint64_t answered() const { return answered_.load(); }        // complete 200 answers sent
  uint64_t body_bytes_sent() const { return body_bytes_.load(); }
  uint64_t hanging() const { return hanging_.load(); }  // requests held by kHang right now

 private:
  void AcceptLoop();
  void Serve(int fd);
  RawBehavior Next();
  void WaitForShutdown();  // blocks a kHang connection until the destructor runs

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<RawBehavior> script_ ABSL_GUARDED_BY(mu_);
  RawBehavior default_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> requests_{0}, connections_{0}, answered_{0}, body_bytes_{0}, hanging_{0};
};

}  // namespace llmix::testing
