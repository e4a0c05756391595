// The OpenAI-compatible HTTP front door (README "HTTP front door"): POST
// /v1/chat/completions and GET /v1/models on their own listener. Calls run the same path as
// gRPC Call (LlmixService::RunAndWait: worker pool, pipeline, metrics, drain). Runs its own
// threads. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "pipeline/pipeline_state.h"
#include "sidecar/auth.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace llmix::sidecar {

class LlmixService;

class FrontDoor {
 public:
  // `threads`: concurrent HTTP requests (each waits for its call; size it like the workers).
  FrontDoor(LlmixService& service, pipeline::PipelineState& state, const BearerAuth& auth,
            int threads);
  ~FrontDoor();

  // Binds `address` ("host:port"; port 0 picks a free one) and starts serving; returns the
  // bound "host:port".
  absl::StatusOr<std::string> Start(const std::string& address);
  void Stop();

 private:
  // `stream: true`: the call's chunks as OpenAI SSE (errors before the first byte as JSON).
  void ServeStream(const httplib::Request& req, httplib::Response& res,
                   pipeline::CallInput input, const std::string& model, bool include_usage);

  LlmixService& service_;
  pipeline::PipelineState& state_;
  const BearerAuth& auth_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace llmix::sidecar
