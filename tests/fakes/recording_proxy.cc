#include "tests/fakes/recording_proxy.h"

#include "tests/support/process.h"

namespace llmix::testing {

RecordingProxy::RecordingProxy(int status, std::string body) {
  server_.set_pre_routing_handler(
      [this, status, body = std::move(body)](const httplib::Request& req, httplib::Response& res) {
        {
          std::lock_guard<std::mutex> l(mu_);
          targets_.push_back(req.target);
          auth_ = req.get_header_value("Proxy-Authorization");
        }
        res.status = status;
        res.set_content(body, "application/json");
        return httplib::Server::HandlerResponse::Handled;
      });
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  WaitFor([this] { return server_.is_running(); });
}

RecordingProxy::~RecordingProxy() {
  server_.stop();
  thread_.join();
}

std::vector<std::string> RecordingProxy::targets() const {
  std::lock_guard<std::mutex> l(mu_);
  return targets_;
}

std::string RecordingProxy::auth() const {
  std::lock_guard<std::mutex> l(mu_);
  return auth_;
}

}  // namespace llmix::testing
