// LlmixService::BatchCall (README "BatchCall"): each CallRequest of the batch runs the path of
// Call (validation, pipeline, worker pool, priority, shared limits), at most max_concurrency at
// once, and its BatchCallResult is streamed as it finishes. One write is in flight at a time;
// finished results wait in a queue, and no new call starts while that queue holds
// max_concurrency results, so a slow reader bounds the memory a batch holds.
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "sidecar/grpc_service.h"
#include "sidecar/proto_mapping.h"

namespace llmix::sidecar {

namespace {

constexpr int kMaxBatchCalls = 10000;
constexpr int kDefaultBatchConcurrency = 16;
constexpr int kMaxBatchConcurrency = 256;
constexpr char kBatchSpanName[] = "llmix.sidecar.v1.Llmix/BatchCall";

// One call of the batch while it runs.
struct BatchItem {
  pipeline::CallContext ctx;
  int index = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

absl::Status CheckBatch(const v1::BatchCallRequest& request) {
  if (request.calls_size() < 1 || request.calls_size() > kMaxBatchCalls) {
    return absl::InvalidArgumentError(
        absl::StrCat("calls: expected 1..", kMaxBatchCalls, " calls, got ", request.calls_size()));
  }
  if (request.has_max_concurrency() &&
      (request.max_concurrency() < 1 || request.max_concurrency() > kMaxBatchConcurrency)) {
    return absl::InvalidArgumentError(absl::StrCat("max_concurrency: expected 1..",
                                                   kMaxBatchConcurrency, ", got ",
                                                   request.max_concurrency()));
  }
  return absl::OkStatus();
}

}  // namespace

// Owns the batch's progress. Deleted when gRPC is done with the stream and no started call can
// still reach it (a reference per running call, one for gRPC).
class LlmixService::BatchReactor final : public grpc::ServerWriteReactor<v1::BatchCallResult> {
 public:
  BatchReactor(LlmixService* service, grpc::CallbackServerContext* context,
               const v1::BatchCallRequest* request)
      : service_(service), context_(context), request_(request) {
    service_->CallStarted();
  }

  // Validates the batch and starts its first calls, or ends the stream at once.
  void Begin(const grpc::Status& refusal) {
    if (!refusal.ok()) {
      {
        absl::MutexLock l(&mu_);
        finished_ = true;
      }
      Finish(refusal);
      return;
    }
    max_ = request_->has_max_concurrency() ? request_->max_concurrency() : kDefaultBatchConcurrency;
    const auto& md = context_->client_metadata();
    if (auto it = md.find("traceparent"); it != md.end()) {
      parent_ =
          SpanContext::FromTraceparent(std::string_view(it->second.data(), it->second.size()));
    }
    Pump(/*enter=*/true);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock l(&mu_);
      writing_ = false;
      if (!ok) CancelLocked();  // the stream broke: the client is gone
    }
    Pump(/*enter=*/true);
  }

  void OnCancel() override {
    {
      absl::MutexLock l(&mu_);
      CancelLocked();
    }
    Pump(/*enter=*/true);
  }

  void OnDone() override {
    service_->CallEnded();
    Unref();
  }

 private:
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  void CancelLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    cancelled_ = true;
    results_.clear();
    for (BatchItem* item : items_) {
      item->ctx.cancelled.store(true);
      item->ctx.upstream.cancel.Cancel();
    }
  }

  // Starts calls, writes results and finishes the stream, whichever is due, on one thread at a
  // time: a caller that finds another thread pumping leaves the work to it. `enter` is false
  // when the caller already became the pumping thread under the lock.
  void Pump(bool enter) {
    if (enter) {
      absl::MutexLock l(&mu_);
      if (pumping_) return;
      pumping_ = true;
    }
    while (true) {
      int start = -1;
      bool write = false;
      std::optional<grpc::Status> finish;
      {
        absl::MutexLock l(&mu_);
        const bool stopped = cancelled_ || service_->draining();
        const int total = request_->calls_size();
        if (!stopped && next_ < total && in_flight_ < max_ &&
            results_.size() < static_cast<size_t>(max_)) {
          start = next_++;
          ++in_flight_;
        } else if (!writing_ && !results_.empty()) {
          current_ = std::move(results_.front());
          results_.pop_front();
          writing_ = true;
          write = true;
        } else if (!finished_ && !writing_ && in_flight_ == 0 && results_.empty() &&
                   (next_ >= total || stopped)) {
          finished_ = true;
          if (cancelled_) {
            finish = grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the batch");
          } else if (next_ < total) {
            finish = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  absl::StrCat("sidecar is draining: ", total - next_, " of ",
                                               total, " calls were not started"));
          } else {
            finish = grpc::Status::OK;
          }
        } else {
          pumping_ = false;
          return;
        }
      }
      if (start >= 0) {
        StartItem(start);
      } else if (write) {
        StartWrite(&current_);
      } else {
        Finish(*finish);
        return;  // pumping_ stays set: nothing else may start
      }
    }
  }

  void StartItem(int index) {
    auto* item = new BatchItem;
    item->index = index;
    pipeline::CallContext& ctx = item->ctx;
    ctx.input.parent = parent_;
    const auto deadline = context_->deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      ctx.input.timeout = absl::FromChrono(deadline - std::chrono::system_clock::now());
    }
    ctx.status = ToCallInput(request_->calls(index), &ctx.input);
    ctx.handoff = &service_->handoff_;
    refs_.fetch_add(1);
    {
      absl::MutexLock l(&mu_);
      items_.insert(item);
      if (cancelled_) {
        ctx.cancelled.store(true);
        ctx.upstream.cancel.Cancel();
      }
    }
    service_->CallStarted();
    service_->Execute(ctx, kBatchSpanName, item->started,
                      [this, item](pipeline::CallContext& c) { ItemDone(item, c); });
  }

  void ItemDone(BatchItem* item, pipeline::CallContext& c) {
    v1::BatchCallResult result;
    result.set_index(item->index);
    if (c.status.ok()) {
      ToCallResponse(std::move(c.result), result.mutable_response());
    } else {
      grpc::Status st = ToGrpcStatus(c.status);
      result.set_status_code(static_cast<int>(st.error_code()));
      result.set_status_message(st.error_message());
    }
    bool pump = false;
    {
      absl::MutexLock l(&mu_);
      items_.erase(item);
      --in_flight_;
      if (!cancelled_) results_.push_back(std::move(result));
      if (!pumping_) pumping_ = pump = true;
    }
    delete item;
    service_->CallEnded();
    if (pump) Pump(/*enter=*/false);
    Unref();
  }

  LlmixService* service_;
  grpc::CallbackServerContext* context_;
  const v1::BatchCallRequest* request_;
  SpanContext parent_;
  int max_ = kDefaultBatchConcurrency;
  std::atomic<int> refs_{1};     // gRPC's, until OnDone; plus one per running call
  v1::BatchCallResult current_;  // the write in flight
  absl::Mutex mu_;
  int next_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool pumping_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<v1::BatchCallResult> results_ ABSL_GUARDED_BY(mu_);
  std::set<BatchItem*> items_ ABSL_GUARDED_BY(mu_);
};

grpc::ServerWriteReactor<v1::BatchCallResult>* LlmixService::BatchCall(
    grpc::CallbackServerContext* context, const v1::BatchCallRequest* request) {
  auto* reactor = new BatchReactor(this, context, request);
  grpc::Status refusal;
  if (std::optional<grpc::Status> refused = Refusal(*context)) {
    refusal = *refused;
  } else if (absl::Status st = CheckBatch(*request); !st.ok()) {
    refusal = ToGrpcStatus(st);
  }
  reactor->Begin(refusal);
  return reactor;
}

}  // namespace llmix::sidecar
