// Deferred work without parked threads. A Scheduler runs a callback after a delay (retry
// backoffs, deadline timers); an Executor runs a callback soon on a worker (resuming a call
// after a timer, an AIMD release or a singleflight leader). ThreadScheduler is the process
// implementation (one thread, a min-heap of due times); FakeScheduler is driven by a FakeClock
// so tests never sleep. All implementations are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace llmix {

using Task = absl::AnyInvocable<void() &&>;

// Runs tasks soon, on some thread. Never refuses: whatever is submitted was already admitted
// (a call in progress), so it must run even under load or during shutdown.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void Submit(Task task) = 0;
};

// Runs every task at once on the submitting thread (tests, and a fallback).
class InlineExecutor final : public Executor {
 public:
  void Submit(Task task) override { std::move(task)(); }
};

class Scheduler {
 public:
  using TimerId = uint64_t;
  virtual ~Scheduler() = default;
  // Runs `task` once `delay` has passed (at once-ish when delay <= 0), on the scheduler's
  // thread: keep it short (typically a hand-off to an Executor). Ids are never 0.
  virtual TimerId RunAfter(absl::Duration delay, Task task) = 0;
  // Removes a timer that has not started; true when it was removed (its task will never run).
  virtual bool Cancel(TimerId id) = 0;
};

// One thread and a min-heap of due times on the monotonic clock.
class ThreadScheduler final : public Scheduler {
 public:
  explicit ThreadScheduler(const Clock& clock);
  ~ThreadScheduler() override;  // Shutdown()
  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;

  TimerId RunAfter(absl::Duration delay, Task task) override;
  bool Cancel(TimerId id) override;
  // Runs every pending timer now (early), in due order; timers added later also run at once.
  // Used on shutdown so no call stays parked behind a long backoff.
  void FireAllNow();
  // FireAllNow(), then stops the thread. Idempotent.
  void Shutdown();
  size_t pending() const;

 private:
  void Loop();

  const Clock& clock_;
  mutable absl::Mutex mu_;
  // (due, id) -> task; the map is the min-heap (ordered by due time, then id).
  std::map<std::pair<absl::Duration, TimerId>, Task> timers_ ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Duration> due_of_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool fire_now_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Timers on a FakeClock: nothing runs until the test advances time. Records every requested
// delay (retry sleeps show up there).
class FakeScheduler final : public Scheduler {
 public:
  explicit FakeScheduler(FakeClock& clock) : clock_(clock) {}

  TimerId RunAfter(absl::Duration delay, Task task) override;
  bool Cancel(TimerId id) override;

  // Advances the clock to the earliest pending timer (if it is in the future) and runs it.
  // False when nothing is pending.
  bool RunNext();
  // Advances the clock by `d`, running every timer that falls due on the way, in order.
  void Advance(absl::Duration d);
  size_t pending() const;
  // Every delay passed to RunAfter, in call order; cleared by ClearRequested().
  std::vector<absl::Duration> requested() const;
  void ClearRequested();

 private:
  FakeClock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::pair<absl::Duration, TimerId>, Task> timers_ ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Duration> due_of_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> requested_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace llmix
