// A loopback OTLP trace collector for tests: OTLP/gRPC (TraceService/Export) and OTLP/HTTP
// (POST /v1/traces, application/x-protobuf) on free ports. Records every request, decoded and
// as the raw bytes it received (so tests can search the wire payload for secrets). Can be told
// to refuse exports. Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace httplib {
class Server;
}

namespace llmix::testing {

namespace otlp = ::opentelemetry::proto;

class OtlpReceiver {
 public:
  OtlpReceiver();
  ~OtlpReceiver();

  std::string grpc_endpoint() const;  // "http://127.0.0.1:PORT"
  std::string http_endpoint() const;  // "http://127.0.0.1:PORT" (POST /v1/traces)

  // Every span received so far, flattened, with its resource's service.name.
  struct ReceivedSpan {
    otlp::trace::v1::Span span;
    std::string service_name;
  };
  std::vector<ReceivedSpan> Spans() const;
  // Raw request bodies as received (protobuf bytes), concatenated.
  std::string RawPayload() const;
  size_t RequestCount() const;
  std::vector<std::string> HttpContentTypes() const;
  // Waits until at least `n` spans arrived; false at the deadline.
  bool WaitForSpans(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // While set, exports are answered with UNAVAILABLE / HTTP 503 (and still counted).
  void SetRefuse(bool refuse);

  void Record(const otlp::collector::trace::v1::ExportTraceServiceRequest& req,
              const std::string& raw);
  bool refusing() const;

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  int http_port_ = 0;

  mutable absl::Mutex mu_;
  std::vector<ReceivedSpan> spans_ ABSL_GUARDED_BY(mu_);
  std::string raw_ ABSL_GUARDED_BY(mu_);
  size_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> content_types_ ABSL_GUARDED_BY(mu_);
  bool refuse_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace llmix::testing
