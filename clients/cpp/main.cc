// A minimal llmix-sidecar client in C++ (gRPC sync API):
//   llmix-client-example <target> <preset> <text> [traceparent]
// <target> is "127.0.0.1:7070" or "unix:/path/llmix.sock". With LLMIX_TOKEN set it sends
// `authorization: Bearer $LLMIX_TOKEN`. Prints the answer (and the trace id to stderr); exit 1
// with "<CODE>: <message>" on a gRPC error or a failed call.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "llmix/sidecar/v1/sidecar.grpc.pb.h"

namespace v1 = ::llmix::sidecar::v1;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: llmix-client-example <target> <preset> <text> [traceparent]\n";
    return 2;
  }
  auto stub = v1::Llmix::NewStub(grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));

  v1::CallRequest request;
  request.set_preset(argv[2]);
  v1::Message* message = request.add_messages();
  message->set_role("user");
  message->set_text(argv[3]);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (argc > 4) context.AddMetadata("traceparent", argv[4]);
  if (const char* token = std::getenv("LLMIX_TOKEN"); token != nullptr && *token != '\0') {
    context.AddMetadata("authorization", std::string("Bearer ") + token);
  }

  v1::CallResponse response;
  grpc::Status status = stub->Call(&context, request, &response);
  if (!status.ok()) {
    std::cerr << status.error_code() << ": " << status.error_message() << "\n";
    return 1;
  }
  if (!response.success()) {
    std::cerr << v1::ErrorCode_Name(response.error().code()) << ": " << response.error().message()
              << "\n";
    return 1;
  }
  std::cout << response.content() << "\n";
  std::cerr << "trace_id=" << response.trace_id() << " cache=" << v1::CacheTier_Name(response.cache_hit())
            << "\n";
  return 0;
}
