// Starts the real llmix-sidecar binary on free loopback ports (port 0 + --ready-file) and
// connects a gRPC stub. Used by every e2e test.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmix/sidecar/v1/sidecar.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"

namespace llmix::testing {

namespace v1 = ::llmix::sidecar::v1;

class SidecarProcess {
 public:
  // `extra_args` follow `serve`; `env` overrides the environment (nullopt unsets).
  SidecarProcess(std::vector<std::string> extra_args,
                 std::map<std::string, std::optional<std::string>> env);
  ~SidecarProcess();

  // False (with the log in `error()`) if the sidecar did not become ready in time.
  bool ready() const { return ready_; }
  std::string error() const;

  const std::string& grpc_address() const { return grpc_address_; }  // first TCP address
  const std::vector<std::string>& grpc_addresses() const { return grpc_addresses_; }
  const std::string& admin_address() const { return admin_address_; }
  const std::string& http_address() const { return http_address_; }  // front door; may be empty
  v1::Llmix::Stub& stub() { return *stub_; }
  ChildProcess& process() { return *process_; }
  const TempDir& dir() const { return dir_; }

  // One unary Call with a deadline (default 10 s).
  grpc::Status Call(const v1::CallRequest& req, v1::CallResponse* resp,
                    std::chrono::milliseconds deadline = std::chrono::seconds(10));
  // GET on the admin listener; returns the HTTP status (0 when unreachable).
  int AdminGet(const std::string& path, std::string* body = nullptr);

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  bool ready_ = false;
  std::string grpc_address_;
  std::vector<std::string> grpc_addresses_;
  std::string admin_address_;
  std::string http_address_;
  std::unique_ptr<v1::Llmix::Stub> stub_;
};

// The value of one exposition line "name{labels} value" of /metrics; nullopt when absent.
std::optional<double> MetricValue(const std::string& exposition, const std::string& series);

// A loopback TCP port that was free a moment ago and has no listener.
int ClosedPort();

// A request with an inline config and one user message.
v1::CallRequest InlineRequest(const std::string& config_json, const std::string& user_text);

}  // namespace llmix::testing
