// The llmix.sidecar.v1.Llmix gRPC service (callback API). Reactor methods never block. While
// no more calls are in flight than there are cores, a Call starts on the gRPC thread, which
// runs the stages that are plain CPU work (validate, resolve, kill switch, L1 cache) and hands
// the call to the worker pool only when it first needs a worker (the Redis lookup, the miss
// path): an L1 hit then costs no thread switch. Under load a call goes to an idle worker at
// once, so gRPC's threads go back to reading while workers run the stages; with no worker idle
// it starts on the gRPC thread as above, so an L1 hit never waits behind slow upstream calls.
// RESOURCE_EXHAUSTED when the worker queue is full at the hand-off, UNAVAILABLE while
// draining; finished from whichever thread completes the pipeline. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/notification.h"
#include "absl/synchronization/mutex.h"
#include "llmix/sidecar/v1/sidecar.grpc.pb.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_state.h"
#include "sidecar/auth.h"
#include "sidecar/batch_service.h"
#include "sidecar/embed_service.h"
#include "sidecar/chunk_queue.h"
#include "sidecar/worker_pool.h"

namespace llmix::sidecar {

// Outcome of the most recent registry reload, shown by GetConfigInfo. Thread-safe.
class ReloadStatus {
 public:
  void Record(absl::Time at, std::string error) {
    absl::MutexLock l(&mu_);
    at_ = at;
    error_ = std::move(error);
  }
  std::pair<absl::Time, std::string> Get() const {
    absl::MutexLock l(&mu_);
    return {at_, error_};
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string error_ ABSL_GUARDED_BY(mu_);
};

struct ServiceMetrics {
  explicit ServiceMetrics(MetricRegistry& registry);
  CounterFamily& rejected;  // {reason}: queue_full | draining
  Counter& rejected_queue_full;
  Counter& rejected_draining;
  Gauge& in_flight;
  CounterFamily& config_reloads;  // {result}: ok | error
  Gauge& config_presets;
  Gauge& config_last_reload_ok;
  // Streamed calls (CallStream, front-door SSE).
  Histogram& stream_ttft;           // call start -> first delta sent, seconds
  Histogram& stream_tokens_per_s;   // output tokens / (first delta -> end)
  CounterFamily& streams_aborted;   // {reason}: cancelled | slow_client | upstream_error | ...
};

class LlmixService final : public ::llmix::sidecar::v1::Llmix::CallbackService {
 public:
  LlmixService(pipeline::PipelineState& state, const pipeline::Pipeline& pipeline,
               WorkerPool& pool, ServiceMetrics& metrics, const ReloadStatus& reload_status,
               std::string registry_dir);

  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* context,
                                 const ::llmix::sidecar::v1::CallRequest* request,
                                 ::llmix::sidecar::v1::CallResponse* response) override;
  // Streams one BatchCallResult per call as each finishes (sidecar/batch_call.cc).
  grpc::ServerWriteReactor<::llmix::sidecar::v1::BatchCallResult>* BatchCall(
      grpc::CallbackServerContext* context,
      const ::llmix::sidecar::v1::BatchCallRequest* request) override;
  // Call with the answer streamed (sidecar/call_stream.cc): deltas, then one `final`.
  grpc::ServerWriteReactor<::llmix::sidecar::v1::CallStreamChunk>* CallStream(
      grpc::CallbackServerContext* context,
      const ::llmix::sidecar::v1::CallRequest* request) override;
  grpc::ServerUnaryReactor* GetConfigInfo(
      grpc::CallbackServerContext* context,
      const ::llmix::sidecar::v1::GetConfigInfoRequest* request,
      ::llmix::sidecar::v1::ConfigInfo* response) override;

  // Provider batch RPCs (sidecar/batch_rpcs.cc): run on a worker, UNIMPLEMENTED until
  // SetBatchService is called.
  grpc::ServerUnaryReactor* SubmitBatch(grpc::CallbackServerContext* context,
                                        const ::llmix::sidecar::v1::SubmitBatchRequest* request,
                                        ::llmix::sidecar::v1::SubmitBatchResponse* response) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* context,
                                     const ::llmix::sidecar::v1::GetBatchRequest* request,
                                     ::llmix::sidecar::v1::BatchStatus* response) override;
  grpc::ServerUnaryReactor* GetBatchResults(
      grpc::CallbackServerContext* context,
      const ::llmix::sidecar::v1::GetBatchResultsRequest* request,
      ::llmix::sidecar::v1::BatchResults* response) override;
  // `batches` must outlive the service.
  void SetBatchService(BatchService* batches) { batches_ = batches; }
  // Embeddings (sidecar/embed_service.h): runs on a worker, UNIMPLEMENTED until
  // SetEmbedService is called. `embeddings` must outlive the service.
  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* context,
                                  const ::llmix::sidecar::v1::EmbedRequest* request,
                                  ::llmix::sidecar::v1::EmbedResponse* response) override;
  void SetEmbedService(EmbedService* embeddings) { embeddings_ = embeddings; }
  EmbedService* embed_service() const { return embeddings_; }
  // For other front ends' blocking work (POST /v1/embeddings, /v1/rerank): refused with
  // UNAVAILABLE while draining, otherwise runs `work` on the calling thread counted in flight,
  // so a drain waits for it.
  absl::Status RunCounted(absl::AnyInvocable<void() &&> work);

  // The path of Call for other front ends (the HTTP front door): runs `ctx` (input filled,
  // `input.parent` the caller's trace context) through the pipeline, with the same span,
  // metrics, in-flight count and drain refusal, blocking the calling thread until it
  // finishes. As for Call, the stages before the first one that needs a worker run on the
  // calling thread. Non-OK (UNAVAILABLE) when refused while draining; otherwise `ctx.status`
  // (RESOURCE_EXHAUSTED when the worker queue was full) / `ctx.result` hold the outcome.
  absl::Status RunAndWait(pipeline::CallContext& ctx, const std::string& span_name);

  // A streamed call started by StartStream; its chunks are read on the caller's thread.
  // Destroying it before the final chunk was read cancels the call (the upstream request is
  // closed) and waits until the pipeline let go of the context. Not thread-safe except Cancel.
  class Stream {
   public:
    ~Stream();
    // Waits for the next item: a delta, then a closing `final` chunk (item.final), or, as the
    // only item, a gRPC-level error before any chunk (item.status non-OK, item.final). False
    // once the final item was returned.
    bool Next(ChunkQueue::Item* item);
    // Cancels the call (thread-safe); Next still ends with a final item.
    void Cancel();

    struct Job;  // sidecar/call_stream.cc

   private:
    friend class LlmixService;
    explicit Stream(LlmixService& service, std::shared_ptr<Job> job)
        : service_(service), job_(std::move(job)) {}
    LlmixService& service_;
    std::shared_ptr<Job> job_;
    bool finished_ = false;
  };

  // The path of CallStream for other front ends: starts `ctx` (input filled, as for
  // RunAndWait) as a streamed call and returns at once (the stages before the first one that
  // needs a worker have run on the calling thread). UNAVAILABLE while draining. `ctx` must
  // outlive the returned Stream. The pipeline's worker hands chunks over through a bounded
  // queue (ChunkQueueLimits): a reader that stops reading for its stall timeout cancels the
  // call rather than holding the worker.
  absl::StatusOr<std::unique_ptr<Stream>> StartStream(pipeline::CallContext& ctx,
                                                      const std::string& span_name);
  // StartStream, then every chunk to `on_chunk` ON THE CALLING THREAD, in order, the final one
  // included; returning false cancels the call (closes the upstream request) and RunStream
  // returns once the pipeline finished. Blocks like RunAndWait. Non-OK (and no chunk) when the
  // call was refused (draining) or ended with a gRPC-level error before any chunk
  // (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, ...; also in `ctx.status`).
  absl::Status RunStream(
      pipeline::CallContext& ctx, const std::string& span_name,
      absl::FunctionRef<bool(const ::llmix::sidecar::v1::CallStreamChunk&)> on_chunk);

  // Calls must carry `authorization: Bearer <token>` metadata when `auth` is enabled
  // (UNAUTHENTICATED otherwise). `auth` must outlive the service.
  void RequireAuth(const BearerAuth& auth) { auth_ = &auth; }

  // Cancels the calls RunAndWait is running (end of the drain grace period), as gRPC
  // cancels its own calls at shutdown.
  void CancelWaiting();

  // New calls are refused with UNAVAILABLE from now on.
  void BeginDrain() { draining_.store(true); }
  bool draining() const { return draining_.load(); }
  // Waits until no call is in flight or `timeout` passes; true when idle.
  bool WaitIdle(absl::Duration timeout);

 private:
  void RunCall(grpc::CallbackServerContext* context,
               const ::llmix::sidecar::v1::CallRequest* request,
               ::llmix::sidecar::v1::CallResponse* response, grpc::ServerUnaryReactor* reactor,
               bool on_worker);

  // Hands calls to the worker pool in their priority's lane, counting refusals (queue full).
  class PoolHandoff final : public pipeline::WorkerHandoff {
   public:
    PoolHandoff(WorkerPool& pool, Counter& rejected, pipeline::PipelineState& state)
        : pool_(pool), rejected_(rejected), state_(state) {}
    bool TryHandOff(absl::AnyInvocable<void() &&> task) override {
      return TryHandOff(std::move(task), Priority::kNormal);
    }
    bool TryHandOff(absl::AnyInvocable<void() &&> task, Priority priority) override;

   private:
    WorkerPool& pool_;
    Counter& rejected_;
    pipeline::PipelineState& state_;
  };

  pipeline::PipelineState& state_;
  const pipeline::Pipeline& pipeline_;
  WorkerPool& pool_;
  ServiceMetrics& metrics_;
  PoolHandoff handoff_;
  const ReloadStatus& reload_status_;
  std::string registry_dir_;
  const BearerAuth* auth_ = nullptr;
  bool Authorized(const grpc::CallbackServerContext& context) const;
  // Why a new RPC is refused before it starts: UNAUTHENTICATED (wrong or missing bearer
  // token) or UNAVAILABLE (draining, counted); nullopt when it may run.
  std::optional<grpc::Status> Refusal(const grpc::CallbackServerContext& context);
  // The request as pipeline input, with the caller's traceparent and deadline (Call and
  // CallStream); INVALID_ARGUMENT naming the field when the request is malformed.
  static absl::Status CallInputOf(const grpc::CallbackServerContext& context,
                                  const ::llmix::sidecar::v1::CallRequest& request,
                                  pipeline::CallInput* in);
  std::atomic<bool> draining_{false};
  absl::Mutex in_flight_mu_;
  int64_t in_flight_ ABSL_GUARDED_BY(in_flight_mu_) = 0;
  std::atomic<int64_t> in_flight_now_{0};  // in_flight_, readable without the lock
  // Up to this many calls in flight, a call starts on the thread that received it.
  const int64_t inline_max_in_flight_;
  std::set<pipeline::CallContext*> waiting_ ABSL_GUARDED_BY(in_flight_mu_);

  // Starts the span, runs the pipeline and records the call metrics; `finish` runs with the
  // finished context (from whichever thread completes it), before the span ends.
  // `before_end` (may be null) runs first, before the call metrics and the span end.
  void Execute(pipeline::CallContext& ctx, const std::string& span_name,
               std::chrono::steady_clock::time_point started,
               absl::AnyInvocable<void(pipeline::CallContext&) &&> finish,
               absl::AnyInvocable<void(pipeline::CallContext&) &&> before_end = nullptr);
  // Queues a finished streamed call's closing items (replay, final) and records its stream
  // metrics and span attributes.
  void CloseStream(pipeline::CallContext& ctx, ChunkQueue& queue,
                   std::chrono::steady_clock::time_point started);

  class CallReactor;
  class BatchReactor;
  class StreamReactor;
  // Runs ctx (a Stream::Job's) through the pipeline as a streamed call; `finished` runs after
  // the final item was queued and the span ended.
  void ExecuteStream(std::shared_ptr<Stream::Job> job, const std::string& span_name,
                     absl::AnyInvocable<void() &&> finished);
  // Runs `rpc` (a batch RPC, given its deadline) on a worker and finishes with its status.
  grpc::ServerUnaryReactor* RunBatchRpc(grpc::CallbackServerContext* context,
                                        absl::AnyInvocable<grpc::Status(absl::Time, const SpanContext*) &&> rpc);
  // Runs `rpc` on a worker when `available` (else UNIMPLEMENTED `unavailable_message`), with
  // the caller's deadline or `default_timeout`.
  grpc::ServerUnaryReactor* RunBlockingRpc(
      grpc::CallbackServerContext* context, bool available, const char* unavailable_message,
      absl::Duration default_timeout,
      absl::AnyInvocable<grpc::Status(absl::Time, const SpanContext*) &&> rpc);
  BatchService* batches_ = nullptr;
  EmbedService* embeddings_ = nullptr;
  void CallStarted();
  void CallEnded();
};

}  // namespace llmix::sidecar
