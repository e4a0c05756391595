// Up to `threads` worker threads fed by a bounded queue of new calls, served by priority
// (common/priority.h: highest class first, FIFO within a class, aging so lower classes still
// move). `TrySubmit` never blocks: when the queue is full for the call's class it returns
// false and the caller answers RESOURCE_EXHAUSTED (that is the sidecar's backpressure). A low
// call is refused once the queue holds half its capacity, normal and high calls at capacity,
// critical calls only at twice the capacity (headroom that keeps memory bounded). Threads start on demand — one more whenever queued work outnumbers
// the idle threads, up to the limit — and then stay, so an idle sidecar holds no more threads
// (stacks, allocator arenas) than its busiest moment needed. Thread-safe.
#pragma once

#include <cstddef>
#include <chrono>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "common/priority.h"
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

  // Queues `task` in `priority`'s lane; false (and `task` dropped) when the queue is full for
  // that class (see the class comment) or shutting down.
  bool TrySubmit(absl::AnyInvocable<void() &&> task, Priority priority = Priority::kNormal);
  // Queues `task` only when a thread will take it at once (one is idle, or one more may
  // start); false (and `task` dropped) otherwise.
  bool TrySubmitToIdle(absl::AnyInvocable<void() &&> task,
                       Priority priority = Priority::kNormal);
  // Called (on the worker, outside the lock) with the class and the seconds a new call waited
  // in the queue. Set before the pool is used.
  void SetWaitObserver(std::function<void(Priority, double)> observer) {
    wait_observer_ = std::move(observer);
  }
  // Calls of the class `priority` may be queued while fewer than this are waiting.
  size_t AdmitLimit(Priority priority) const;
  // Executor: queues on the resume lane (no capacity limit); after Shutdown() it runs inline.
  void Submit(Task task) override;
  // Stops accepting, runs what is queued, joins the threads. Idempotent.
  void Shutdown();

  size_t queue_depth() const;
  size_t queue_depth(Priority priority) const;
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
  struct Queued {
    absl::AnyInvocable<void() &&> task;
    Priority priority;
    std::chrono::steady_clock::time_point since;
  };
  bool Admit(absl::AnyInvocable<void() &&>& task, Priority priority)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::function<void(Priority, double)> wait_observer_;
  PriorityLanes<Queued> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<Task> resume_ ABSL_GUARDED_BY(mu_);  // served first
  bool joined_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;  // threads waiting for work
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::sidecar
