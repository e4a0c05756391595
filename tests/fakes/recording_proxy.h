// A loopback forward proxy that records what it is asked for and answers every request itself
// (it never forwards): the absolute-form targets and the last Proxy-Authorization header. Tests
// use it to see which upstream requests went out through HTTPS_PROXY / HTTP_PROXY, and that
// refused ones never did. Thread-safe.
#pragma once

#include <httplib.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llmix::testing {

class RecordingProxy {
 public:
  // Every request is answered with `status` and the JSON `body`.
  explicit RecordingProxy(int status = 200, std::string body = R"({"ok":true})");
  ~RecordingProxy();
  RecordingProxy(const RecordingProxy&) = delete;
  RecordingProxy& operator=(const RecordingProxy&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> targets() const;
  std::string auth() const;

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::vector<std::string> targets_;
  std::string auth_;
};

}  // namespace llmix::testing
