#include "tests/faults/raw_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool SendAll(int fd, const std::string& s) { return SendAll(fd, s.data(), s.size()); }

// Reads one request (head + Content-Length body) into `buffered`'s front and removes it.
// False on EOF, error or a request over 4 MiB.
bool ReadRequest(int fd, std::string& buffered) {
  constexpr size_t kMax = 4 << 20;
  char chunk[16384];
  size_t head_end = std::string::npos;
  while ((head_end = buffered.find("\r\n\r\n")) == std::string::npos) {
    if (buffered.size() > kMax) return false;
    const ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
    if (r <= 0) return false;
    buffered.append(chunk, static_cast<size_t>(r));
  }
  size_t length = 0;
  const std::string head = absl::AsciiStrToLower(buffered.substr(0, head_end));
  if (size_t p = head.find("\r\ncontent-length:"); p != std::string::npos) {
    const size_t start = p + 17, end = head.find("\r\n", start);
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(head.substr(start, end - start)), &length) ||
        length > kMax) {
      return false;
    }
  }
  const size_t total = head_end + 4 + length;
  while (buffered.size() < total) {
    const ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
    if (r <= 0) return false;
    buffered.append(chunk, static_cast<size_t>(r));
  }
  buffered.erase(0, total);
  return true;
}

std::string Answer() {
  FakeReply reply;
  reply.content = "raw reply";
  const std::string body = FakeOpenAi::CompletionBody(reply, "gpt-4o");
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\nConnection: keep-alive\r\n\r\n", body);
}

void Reset(int fd) {
  linger l{1, 0};  // close() then sends RST instead of FIN
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

}  // namespace

RawUpstream::RawUpstream(RawBehavior default_behavior) : default_(default_behavior) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    return;  // port_ stays 0: the test's calls fail, which it reports
  }
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

RawUpstream::~RawUpstream() {
  std::vector<std::thread> workers;
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  {
    absl::MutexLock l(&mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  ::close(listen_fd_);
}

std::string RawUpstream::base_url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/v1");
}

void RawUpstream::Enqueue(RawBehavior b) {
  absl::MutexLock l(&mu_);
  script_.push_back(b);
}

void RawUpstream::SetDefault(RawBehavior b) {
  absl::MutexLock l(&mu_);
  default_ = b;
}

RawBehavior RawUpstream::Next() {
  absl::MutexLock l(&mu_);
  if (script_.empty()) return default_;
  const RawBehavior b = script_.front();
  script_.pop_front();
  return b;
}

void RawUpstream::WaitForShutdown() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(&stopping_));
}

void RawUpstream::AcceptLoop() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    absl::MutexLock l(&mu_);
    if (fd < 0 || stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    connections_.fetch_add(1);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void RawUpstream::Serve(int fd) {
  std::string buffered;
  bool reset = false;
  for (int on_connection = 0; ReadRequest(fd, buffered); ++on_connection) {
    requests_.fetch_add(1);
    RawBehavior b = Next();
    if (b == RawBehavior::kCloseOnReusedSocket && on_connection == 0) b = RawBehavior::kAnswer;
    if (b == RawBehavior::kAnswer || b == RawBehavior::kAnswerThenClose) {
      if (!SendAll(fd, Answer())) break;
      answered_.fetch_add(1);
      if (b == RawBehavior::kAnswer) continue;
      break;
    }
    if (b == RawBehavior::kHang) {
      hanging_.fetch_add(1);
      WaitForShutdown();
      hanging_.fetch_sub(1);
      break;
    }
    if (b == RawBehavior::kResetMidBody) {
      const std::string full = Answer();
      SendAll(fd, full.substr(0, full.find("\r\n\r\n") + 4 + 40));
      reset = true;
      break;
    }
    if (b == RawBehavior::kGarbage) {
      std::string junk = "\x16\x03\x01 this is not HTTP \xff\xfe\r\n\r\n";
      for (int i = 0; i < 200; ++i) junk += static_cast<char>((i * 37) & 0xff);
      SendAll(fd, junk);
      break;
    }
    if (b == RawBehavior::kHugeBody) {
      SendAll(fd, absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: ",
                               kHugeBodyBytes, "\r\n\r\n"));
      const std::string block(64 << 10, ' ');  // JSON whitespace: a parser would keep going
      for (uint64_t sent = 0; sent < kHugeBodyBytes; sent += block.size()) {
        if (!SendAll(fd, block)) break;
        body_bytes_.fetch_add(block.size());
      }
      break;
    }
    break;  // kCloseOnReusedSocket on a reused connection: close without an answer
  }
  if (reset) Reset(fd);
  {
    absl::MutexLock l(&mu_);
    fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
  }
  ::close(fd);
}

}  // namespace llmix::testing
