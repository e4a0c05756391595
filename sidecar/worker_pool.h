// Up to `threads` worker threads fed by a bounded FIFO queue. `TrySubmit` never blocks: when
// the queue is full it returns false and the caller answers RESOURCE_EXHAUSTED (that is the
// sidecar's backpressure). Threads start on demand — one more whenever queued work outnumbers
// the idle threads, up to the limit — and then stay, so an idle sidecar holds no more threads
// (stacks, allocator arenas) than its busiest moment needed. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/scheduler.h"

namespace llmix::sidecar {

// Also the pipeline's Executor: Submit() queues a resumed call (after a backoff timer, an
// AIMD release, a singleflight result) on a separate resume lane that is never refused and is
// served before new calls, so admitted work finishes first.
class WorkerPool final : public Executor {
 public:
  WorkerPool(int threads, size_t queue_capacity);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and `task` dropped) when the queue is full or shutting down.
  bool TrySubmit(absl::AnyInvocable<void() &&> task);
  // Queues `task` only when a thread will take it at once (one is idle, or one more may
  // start); false (and `task` dropped) otherwise.
  bool TrySubmitToIdle(absl::AnyInvocable<void() &&> task);
  // Executor: queues on the resume lane (no capacity limit); after Shutdown() it runs inline.
  void Submit(Task task) override;
  // Stops accepting, runs what is queued, joins the threads. Idempotent.
  void Shutdown();

  size_t queue_depth() const;
  size_t capacity() const { return capacity_; }
  size_t threads() const;       // started so far
  size_t idle_threads() const;  // waiting for work

 private:
  void Loop();
  // Starts a thread when queued work outnumbers the idle threads (and the limit allows).
  void MaybeGrow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_threads_;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<Task> resume_ ABSL_GUARDED_BY(mu_);  // served first
  bool joined_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;  // threads waiting for work
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::sidecar
