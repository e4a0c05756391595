// LlmixService's blocking unary RPCs (provider batches, Embed): authorization and drain as for
// Call, then the blocking service method on a worker (RESOURCE_EXHAUSTED when the worker queue
// is full).
#include "sidecar/grpc_service.h"

namespace llmix::sidecar {

grpc::ServerUnaryReactor* LlmixService::RunBatchRpc(
    grpc::CallbackServerContext* context,
    absl::AnyInvocable<grpc::Status(absl::Time, const SpanContext*) &&> rpc) {
  return RunBlockingRpc(context, batches_ != nullptr, "provider batches are off",
                        batches_ != nullptr ? batches_->options().default_timeout
                                            : absl::ZeroDuration(),
                        std::move(rpc));
}

grpc::ServerUnaryReactor* LlmixService::RunBlockingRpc(
    grpc::CallbackServerContext* context, bool available, const char* unavailable_message,
    absl::Duration default_timeout,
    absl::AnyInvocable<grpc::Status(absl::Time, const SpanContext*) &&> rpc) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (std::optional<grpc::Status> refused = Refusal(*context)) {
    reactor->Finish(*refused);
    return reactor;
  }
  if (!available) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, unavailable_message));
    return reactor;
  }
  absl::Time deadline = absl::Now() + default_timeout;
  if (context->deadline() != std::chrono::system_clock::time_point::max()) {
    deadline = absl::FromChrono(context->deadline());
  }
  SpanContext parent;
  const auto& md = context->client_metadata();
  if (auto it = md.find("traceparent"); it != md.end()) {
    parent = SpanContext::FromTraceparent(std::string_view(it->second.data(), it->second.size()));
  }
  CallStarted();  // counted in flight until finished, so a drain waits for it
  if (!pool_.TrySubmit([this, reactor, deadline, parent, rpc = std::move(rpc)]() mutable {
        grpc::Status status = std::move(rpc)(deadline, &parent);
        reactor->Finish(status);
        CallEnded();
      })) {
    metrics_.rejected_queue_full.Add();
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "worker queue is full"));
    CallEnded();
  }
  return reactor;
}

grpc::ServerUnaryReactor* LlmixService::SubmitBatch(grpc::CallbackServerContext* context,
                                                    const v1::SubmitBatchRequest* request,
                                                    v1::SubmitBatchResponse* response) {
  return RunBatchRpc(context,
                     [this, request, response](absl::Time deadline, const SpanContext* parent) {
                       return batches_->Submit(*request, response, deadline, parent);
                     });
}

grpc::ServerUnaryReactor* LlmixService::GetBatch(grpc::CallbackServerContext* context,
                                                 const v1::GetBatchRequest* request,
                                                 v1::BatchStatus* response) {
  return RunBatchRpc(context,
                     [this, request, response](absl::Time deadline, const SpanContext* parent) {
                       return batches_->Get(*request, response, deadline, parent);
                     });
}

grpc::ServerUnaryReactor* LlmixService::GetBatchResults(grpc::CallbackServerContext* context,
                                                        const v1::GetBatchResultsRequest* request,
                                                        v1::BatchResults* response) {
  return RunBatchRpc(context,
                     [this, request, response](absl::Time deadline, const SpanContext* parent) {
                       return batches_->Results(*request, response, deadline, parent);
                     });
}

grpc::ServerUnaryReactor* LlmixService::Embed(grpc::CallbackServerContext* context,
                                              const v1::EmbedRequest* request,
                                              v1::EmbedResponse* response) {
  return RunBlockingRpc(
      context, embeddings_ != nullptr, "embeddings are off",
      embeddings_ != nullptr ? embeddings_->options().default_timeout : absl::ZeroDuration(),
      [this, request, response](absl::Time deadline, const SpanContext* parent) {
        return embeddings_->Embed(*request, response, deadline, parent);
      });
}

absl::Status LlmixService::RunCounted(absl::AnyInvocable<void() &&> work) {
  if (draining_.load()) {
    metrics_.rejected_draining.Add();
    return absl::UnavailableError("sidecar is draining");
  }
  CallStarted();
  std::move(work)();
  CallEnded();
  return absl::OkStatus();
}

}  // namespace llmix::sidecar
