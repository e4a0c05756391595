#include "tests/fakes/otlp_receiver.h"

#include <httplib.h>

namespace llmix::testing {

using otlp::collector::trace::v1::ExportTraceServiceRequest;
using otlp::collector::trace::v1::ExportTraceServiceResponse;

class OtlpReceiver::Service final : public otlp::collector::trace::v1::TraceService::Service {
 public:
  explicit Service(OtlpReceiver* owner) : owner_(owner) {}
  grpc::Status Export(grpc::ServerContext*, const ExportTraceServiceRequest* req,
                      ExportTraceServiceResponse*) override {
    owner_->Record(*req, req->SerializeAsString());
    if (owner_->refusing()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "refusing");
    return grpc::Status::OK;
  }

 private:
  OtlpReceiver* owner_;
};

OtlpReceiver::OtlpReceiver() : service_(std::make_unique<Service>(this)) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port_);
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();

  http_ = std::make_unique<httplib::Server>();
  http_->set_tcp_nodelay(true);
  http_->Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
    {
      absl::MutexLock l(&mu_);
      content_types_.push_back(req.get_header_value("Content-Type"));
    }
    ExportTraceServiceRequest parsed;
    if (!parsed.ParseFromString(req.body)) {
      res.status = 400;
      return;
    }
    Record(parsed, req.body);
    res.status = refusing() ? 503 : 200;
    res.set_content(ExportTraceServiceResponse().SerializeAsString(), "application/x-protobuf");
  });
  http_port_ = http_->bind_to_any_port("127.0.0.1");
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!http_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
}

OtlpReceiver::~OtlpReceiver() {
  http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now());
}

std::string OtlpReceiver::grpc_endpoint() const {
  return "http://127.0.0.1:" + std::to_string(grpc_port_);
}
std::string OtlpReceiver::http_endpoint() const {
  return "http://127.0.0.1:" + std::to_string(http_port_);
}

void OtlpReceiver::Record(const ExportTraceServiceRequest& req, const std::string& raw) {
  absl::MutexLock l(&mu_);
  ++requests_;
  raw_ += raw;
  for (const auto& rs : req.resource_spans()) {
    std::string service;
    for (const auto& kv : rs.resource().attributes()) {
      if (kv.key() == "service.name") service = kv.value().string_value();
    }
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& s : ss.spans()) spans_.push_back({s, service});
    }
  }
}

std::vector<OtlpReceiver::ReceivedSpan> OtlpReceiver::Spans() const {
  absl::MutexLock l(&mu_);
  return spans_;
}
std::string OtlpReceiver::RawPayload() const {
  absl::MutexLock l(&mu_);
  return raw_;
}
size_t OtlpReceiver::RequestCount() const {
  absl::MutexLock l(&mu_);
  return requests_;
}
std::vector<std::string> OtlpReceiver::HttpContentTypes() const {
  absl::MutexLock l(&mu_);
  return content_types_;
}
bool OtlpReceiver::WaitForSpans(size_t n, std::chrono::milliseconds timeout) const {
  absl::MutexLock l(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return spans_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), absl::FromChrono(timeout));
}
void OtlpReceiver::SetRefuse(bool refuse) {
  absl::MutexLock l(&mu_);
  refuse_ = refuse;
}
bool OtlpReceiver::refusing() const {
  absl::MutexLock l(&mu_);
  return refuse_;
}

}  // namespace llmix::testing
