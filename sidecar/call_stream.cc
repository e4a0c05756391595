// CallStream and the streamed-call API of LlmixService (StartStream / RunStream): the pipeline
// runs as for Call with a ChunkQueue as the call's stream sink; the worker that reads the
// provider's stream fills the queue, and the gRPC write reactor (or the front end's thread)
// drains it. The closing items are queued from the pipeline's completion: a replay of an answer
// that was not streamed (cache hit, dummy upstream), then the final CallResponse.
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "sidecar/grpc_service.h"
#include "sidecar/proto_mapping.h"

namespace llmix::sidecar {

struct LlmixService::Stream::Job {
  pipeline::CallContext* ctx = nullptr;           // the caller's, or `owned`
  std::unique_ptr<pipeline::CallContext> owned;  // CallStream's own
  ChunkQueue queue;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  absl::Notification done;  // the pipeline let go of `ctx`

  void Cancel() {
    queue.Close();
    ctx->cancelled.store(true);
    ctx->upstream.cancel.Cancel();
  }
};

namespace {

// A gRPC-level ending after deltas went out cannot be a gRPC status any more: it becomes the
// final message's error.
CallError ErrorAfterFirstDelta(const absl::Status& status, const std::string& provider) {
  CallError e;
  e.provider = provider;
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded: e.code = CallErrorCode::kUpstreamTimeout; break;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnavailable: e.code = CallErrorCode::kUpstreamUnreachable; break;
    default: e.code = CallErrorCode::kInternal;
  }
  e.message = std::string(status.message());
  return e;
}

ChunkQueue::Item Delta(v1::CallStreamChunk chunk) {
  ChunkQueue::Item item;
  item.chunk = std::move(chunk);
  return item;
}

}  // namespace

void LlmixService::ExecuteStream(std::shared_ptr<Stream::Job> job, const std::string& span_name,
                                 absl::AnyInvocable<void() &&> finished) {
  pipeline::CallContext& ctx = *job->ctx;
  ctx.stream = &job->queue;
  Execute(
      ctx, span_name, job->started,
      [job, finished = std::move(finished)](pipeline::CallContext&) mutable {
        job->done.Notify();
        std::move(finished)();
      },
      [this, job](pipeline::CallContext& c) { CloseStream(c, job->queue, job->started); });
}

void LlmixService::CloseStream(pipeline::CallContext& c, ChunkQueue& queue,
                               std::chrono::steady_clock::time_point started) {
  Span* span = c.span.get();
  if (span != nullptr) span->SetAttribute("llmix.stream", true);
  if (!c.status.ok() && !c.stream_started) {  // as Call: a gRPC error, no chunk at all
    ChunkQueue::Item item;
    item.final = true;
    item.status = c.status;
    queue.PushClosing(std::move(item));
    return;
  }
  pipeline::CallResult result = c.result;
  if (!c.status.ok()) {
    result.success = false;
    result.error = ErrorAfterFirstDelta(c.status, result.provider);
  }
  if (!c.stream_started && result.success) {
    // Not streamed (a cache hit, the dummy upstream): replayed as a short stream.
    if (result.thinking_content && !result.thinking_content->empty()) {
      v1::CallStreamChunk chunk;
      chunk.set_thinking_delta(*result.thinking_content);
      queue.PushClosing(Delta(std::move(chunk)));
    }
    if (!result.content.empty()) {
      v1::CallStreamChunk chunk;
      chunk.set_content_delta(result.content);
      queue.PushClosing(Delta(std::move(chunk)));
    }
    for (size_t i = 0; i < result.tool_calls.size(); ++i) {
      v1::CallStreamChunk chunk;
      v1::ToolCallDelta* t = chunk.mutable_tool_call_delta();
      t->set_index(static_cast<int32_t>(i));
      t->set_id(result.tool_calls[i].id);
      t->set_name(result.tool_calls[i].name);
      t->set_arguments_delta(result.tool_calls[i].arguments);
      queue.PushClosing(Delta(std::move(chunk)));
    }
  }
  const auto now = std::chrono::steady_clock::now();
  if (auto first = queue.first_delta_at()) {
    const double ttft = std::chrono::duration<double>(*first - started).count();
    metrics_.stream_ttft.Observe(ttft);
    if (span != nullptr) {
      span->SetAttribute("llmix.stream.time_to_first_token_ms",
                         static_cast<int64_t>(ttft * 1000));
    }
    const double streaming = std::chrono::duration<double>(now - *first).count();
    if (result.success && result.usage.output_tokens > 0 && streaming > 0) {
      const double tps = static_cast<double>(result.usage.output_tokens) / streaming;
      metrics_.stream_tokens_per_s.Observe(tps);
      if (span != nullptr) span->SetAttribute("llmix.stream.tokens_per_second", tps);
    }
  }
  if (c.stream_started && !result.success) {
    std::string reason = c.cancelled.load() ? "cancelled"
                         : queue.slow_consumer()
                             ? "slow_client"
                             : absl::AsciiStrToLower(std::string(CallErrorCodeName(
                                   result.error ? result.error->code : CallErrorCode::kInternal)));
    metrics_.streams_aborted.With({reason}).Add();
    if (span != nullptr) span->SetAttribute("llmix.stream.aborted", reason);
  }
  ChunkQueue::Item last;
  last.final = true;
  ToCallResponse(std::move(result), last.chunk.mutable_final());
  queue.PushClosing(std::move(last));
}

// CallStream's reactor: writes the queue's items one at a time (the next write starts from
// OnWriteDone, or from the producer when the queue was empty). Freed when gRPC is done with
// the RPC and the pipeline let go of the call, whichever is later.
class LlmixService::StreamReactor final : public grpc::ServerWriteReactor<v1::CallStreamChunk> {
 public:
  explicit StreamReactor(LlmixService* service) : service_(service) { service_->CallStarted(); }

  void Start(std::shared_ptr<Stream::Job> job) {
    refs_.fetch_add(1);
    {
      absl::MutexLock l(&mu_);
      job_ = job;
      if (cancelled_) job_->Cancel();
    }
    job->queue.SetOnReady([this] { Pump(); });
    Pump();  // arms the queue
  }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) {
      service_->CallEnded();
      delete this;
    }
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {  // the client is gone: stop the call, then drain to the final item
      broken_ = true;
      CancelJob();
    }
    Pump();
  }
  void OnCancel() override { CancelJob(); }
  void OnDone() override { Unref(); }

 private:
  void CancelJob() {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
    if (job_ != nullptr) job_->Cancel();
  }
  // Runs while no write is in flight (one caller at a time, see ChunkQueue::TryPop).
  void Pump() {
    while (std::optional<ChunkQueue::Item> item = job_->queue.TryPop()) {
      if (!item->status.ok()) {
        Finish(ToGrpcStatus(item->status));
        return;
      }
      if (broken_) {
        if (item->final) {
          Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
          return;
        }
        continue;
      }
      current_ = std::move(item->chunk);
      if (item->final) {
        StartWriteAndFinish(&current_, grpc::WriteOptions(), grpc::Status::OK);
      } else {
        StartWrite(&current_);
      }
      return;
    }
  }

  LlmixService* service_;
  std::atomic<int> refs_{1};  // gRPC's (OnDone) + the pipeline's while it runs
  absl::Mutex mu_;
  std::shared_ptr<Stream::Job> job_;  // set once by Start (under mu_ for CancelJob)
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ = false;  // a write failed (touched by Pump's callers only)
  v1::CallStreamChunk current_;
};

grpc::ServerWriteReactor<v1::CallStreamChunk>* LlmixService::CallStream(
    grpc::CallbackServerContext* context, const v1::CallRequest* request) {
  auto* reactor = new StreamReactor(this);
  if (std::optional<grpc::Status> refused = Refusal(*context)) {
    reactor->Finish(*refused);
    return reactor;
  }
  auto job = std::make_shared<Stream::Job>();
  job->owned = std::make_unique<pipeline::CallContext>();
  job->ctx = job->owned.get();
  pipeline::CallContext& ctx = *job->ctx;
  ctx.status = CallInputOf(*context, *request, &ctx.input);
  ctx.handoff = &handoff_;
  reactor->Start(job);
  ExecuteStream(job, "llmix.sidecar.v1.Llmix/CallStream", [reactor] { reactor->Unref(); });
  return reactor;
}

LlmixService::Stream::~Stream() {
  if (!finished_) {
    Cancel();
    ChunkQueue::Item item;
    while (Next(&item)) {
    }
  }
  job_->done.WaitForNotification();
  {
    absl::MutexLock l(&service_.in_flight_mu_);
    service_.waiting_.erase(job_->ctx);
  }
  service_.CallEnded();
}

bool LlmixService::Stream::Next(ChunkQueue::Item* item) {
  if (finished_) return false;
  *item = job_->queue.Pop();
  if (item->final) finished_ = true;
  return true;
}

void LlmixService::Stream::Cancel() { job_->Cancel(); }

absl::StatusOr<std::unique_ptr<LlmixService::Stream>> LlmixService::StartStream(
    pipeline::CallContext& ctx, const std::string& span_name) {
  if (draining_.load()) {
    metrics_.rejected_draining.Add();
    return absl::UnavailableError("sidecar is draining");
  }
  CallStarted();
  {
    absl::MutexLock l(&in_flight_mu_);
    waiting_.insert(&ctx);
  }
  auto job = std::make_shared<Stream::Job>();
  job->ctx = &ctx;
  ctx.handoff = &handoff_;
  std::unique_ptr<Stream> stream(new Stream(*this, job));
  ExecuteStream(job, span_name, [] {});
  return stream;
}

absl::Status LlmixService::RunStream(
    pipeline::CallContext& ctx, const std::string& span_name,
    absl::FunctionRef<bool(const v1::CallStreamChunk&)> on_chunk) {
  auto stream = StartStream(ctx, span_name);
  if (!stream.ok()) return stream.status();
  ChunkQueue::Item item;
  bool reading = true;
  while ((*stream)->Next(&item)) {
    if (!item.status.ok()) return item.status;
    if (reading && !on_chunk(item.chunk)) {
      reading = false;
      (*stream)->Cancel();
    }
  }
  return absl::OkStatus();
}

}  // namespace llmix::sidecar
