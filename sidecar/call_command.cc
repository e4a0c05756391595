#include "sidecar/call_command.h"

#include <grpcpp/grpcpp.h>

#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "google/protobuf/util/json_util.h"
#include "llmix/sidecar/v1/sidecar.grpc.pb.h"

namespace llmix::sidecar {

namespace {

namespace v1 = ::llmix::sidecar::v1;

constexpr const char* kUsage =
    "usage: llmix-sidecar call [--addr TARGET] (--preset ID | --config-json JSON)\n"
    "                          [--system TEXT] [--metadata KEY=VALUE]... [--deadline-ms N]\n"
    "                          [--traceparent VALUE] MESSAGE...\n"
    "Each MESSAGE is a user message. TARGET defaults to $LLMIX_SIDECAR_ADDR, else\n"
    "unix://<state-dir>/llmix.sock.\n";

int Usage(const std::string& error) {
  std::cerr << "llmix-sidecar call: " << error << "\n" << kUsage;
  return 2;
}

}  // namespace

int RunCallCommand(const std::vector<std::string>& args, const Env& env) {
  v1::CallRequest req;
  std::string addr = env.Get("LLMIX_SIDECAR_ADDR").value_or("");
  if (addr.empty()) addr = "unix://" + ResolveStateDir(env) + "/llmix.sock";
  int64_t deadline_ms = 0;
  std::string traceparent;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--addr") {
      if (!value(&addr)) return Usage("--addr: missing value");
    } else if (a == "--preset") {
      if (!value(&v)) return Usage("--preset: missing value");
      req.set_preset(v);
    } else if (a == "--config-json") {
      if (!value(&v)) return Usage("--config-json: missing value");
      req.set_config_json(v);
    } else if (a == "--system") {
      if (!value(&v)) return Usage("--system: missing value");
      v1::Message* m = req.add_messages();
      m->set_role("system");
      m->set_text(v);
    } else if (a == "--metadata") {
      if (!value(&v) || v.find('=') == std::string::npos) {
        return Usage("--metadata: expected KEY=VALUE");
      }
      (*req.mutable_metadata())[v.substr(0, v.find('='))] = v.substr(v.find('=') + 1);
    } else if (a == "--deadline-ms") {
      if (!value(&v) || !absl::SimpleAtoi(v, &deadline_ms) || deadline_ms <= 0) {
        return Usage("--deadline-ms: expected a positive integer");
      }
    } else if (a == "--traceparent") {
      if (!value(&traceparent)) return Usage("--traceparent: missing value");
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown flag " + a);
    } else {
      v1::Message* m = req.add_messages();
      m->set_role("user");
      m->set_text(a);
    }
  }

  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto stub = v1::Llmix::NewStub(channel);
  grpc::ClientContext ctx;
  if (deadline_ms > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
  }
  if (!traceparent.empty()) ctx.AddMetadata("traceparent", traceparent);
  v1::CallResponse resp;
  grpc::Status status = stub->Call(&ctx, req, &resp);
  if (!status.ok()) {
    // absl and gRPC share the canonical code numbering, so absl names gRPC codes too.
    std::cerr << "error: "
              << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))
              << ": " << status.error_message() << "\n";
    return 2;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(resp, &json, opts);
  std::cout << json;
  return resp.success() ? 0 : 1;
}

}  // namespace llmix::sidecar
