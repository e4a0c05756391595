// A fixed set of worker threads fed by a bounded FIFO queue. `TrySubmit` never blocks: when
// the queue is full it returns false and the caller answers RESOURCE_EXHAUSTED (that is the
// sidecar's backpressure). Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace llmix::sidecar {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t queue_capacity);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and `task` dropped) when the queue is full or shutting down.
  bool TrySubmit(absl::AnyInvocable<void() &&> task);
  // Stops accepting, runs what is queued, joins the threads. Idempotent.
  void Shutdown();

  size_t queue_depth() const;
  size_t capacity() const { return capacity_; }

 private:
  void Loop();

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace llmix::sidecar
