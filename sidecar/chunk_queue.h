// The bounded queue of one streamed call between the worker that reads the provider's stream
// (producer: the pipeline's CallStreamSink) and whoever writes to the caller (consumer: the
// gRPC write reactor, or the HTTP thread of a front door). At most `max_chunks` deltas /
// `max_bytes` wait in it; a producer that finds it full waits up to `stall_timeout` for the
// consumer and then gives up (the call is cancelled, so a slow reader never holds a worker
// forever). The closing items (replayed cache hit, final message, error) never wait. After
// Close (the consumer went away) deltas are refused. Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "llmix/sidecar/v1/sidecar.pb.h"
#include "pipeline/call_stream.h"

namespace llmix::sidecar {

struct ChunkQueueLimits {
  size_t max_chunks = 64;
  size_t max_bytes = 1 << 20;
  absl::Duration stall_timeout = absl::Seconds(30);
};

class ChunkQueue final : public pipeline::CallStreamSink {
 public:
  struct Item {
    ::llmix::sidecar::v1::CallStreamChunk chunk;
    bool final = false;   // the last item: `chunk.final`, or a gRPC-level error in `status`
    absl::Status status;  // non-OK: the call ended before any chunk (no `chunk`)
  };

  explicit ChunkQueue(ChunkQueueLimits limits = {}) : limits_(limits) {}

  // Producer side. A delta, converted to a chunk; waits while the queue is full.
  bool OnDelta(pipeline::StreamDelta delta) override;
  // Queues without waiting (replay of a finished answer, the final item).
  void PushClosing(Item item);

  // Consumer side. Waits for the next item.
  Item Pop();
  // The next item, or nullopt, after which `on_ready` runs (on the producer's thread) once
  // the next item arrives.
  std::optional<Item> TryPop();
  void SetOnReady(std::function<void()> on_ready);
  // The consumer is gone: deltas are refused from now on.
  void Close();

  // Stream facts for metrics (read after the final item was queued).
  bool slow_consumer() const;  // a delta was refused because the consumer did not read
  std::optional<std::chrono::steady_clock::time_point> first_delta_at() const;

 private:
  struct Entry {
    Item item;
    size_t bytes = 0;
    bool delta = false;  // counts against the limits (closing items do not)
  };
  Item TakeFront() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ChunkQueueLimits limits_;
  mutable absl::Mutex mu_;
  std::deque<Entry> items_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t deltas_ ABSL_GUARDED_BY(mu_) = 0;  // deltas (not closing items) in `items_`
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool slow_ ABSL_GUARDED_BY(mu_) = false;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;  // TryPop found nothing: call on_ready_ next
  std::function<void()> on_ready_ ABSL_GUARDED_BY(mu_);
  std::optional<std::chrono::steady_clock::time_point> first_delta_at_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::sidecar
