// Converts between the public proto (llmix.sidecar.v1) and the pipeline's LLMix-JSON types,
// exactly as the proto's header comment documents (what the cache key sees), and maps
// absl::Status to gRPC status at the edge. Pure functions; thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "llmix/sidecar/v1/sidecar.pb.h"
#include "pipeline/call_context.h"

namespace llmix::sidecar {

namespace v1 = ::llmix::sidecar::v1;

// Limits on caller metadata (it is never sent upstream, but it is held per call).
inline constexpr size_t kMaxMetadataEntries = 64;
inline constexpr size_t kMaxMetadataKeyBytes = 128;
inline constexpr size_t kMaxMetadataValueBytes = 1024;

// Fills `out` from the request; INVALID_ARGUMENT naming the field on malformed input
// (message_json mixed with typed fields, invalid JSON in *_json fields, ...).
absl::Status ToCallInput(const v1::CallRequest& request, pipeline::CallInput* out);

// The LLMix JSON object for one typed message (exposed for tests).
absl::StatusOr<nlohmann::json> MessageToJson(const v1::Message& message, size_t index);

void ToCallResponse(pipeline::CallResult&& result, v1::CallResponse* out);

// The one status conversion at the edge.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace llmix::sidecar
