#include "common/scheduler.h"

namespace llmix {

ThreadScheduler::ThreadScheduler(const Clock& clock) : clock_(clock) {
  thread_ = std::thread([this] { Loop(); });
}

ThreadScheduler::~ThreadScheduler() { Shutdown(); }

Scheduler::TimerId ThreadScheduler::RunAfter(absl::Duration delay, Task task) {
  TimerId id = 0;
  {
    absl::MutexLock l(&mu_);
    id = next_id_++;
    if (!stopping_) {
      const absl::Duration due = fire_now_
                                     ? absl::ZeroDuration()
                                     : clock_.Monotonic() + std::max(delay, absl::ZeroDuration());
      timers_.emplace(std::make_pair(due, id), std::move(task));
      due_of_.emplace(id, due);
      return id;
    }
  }
  // Shut down: nothing may stay parked, so it runs now on the caller's thread.
  std::move(task)();
  return id;
}

bool ThreadScheduler::Cancel(TimerId id) {
  absl::MutexLock l(&mu_);
  auto it = due_of_.find(id);
  if (it == due_of_.end()) return false;
  timers_.erase(std::make_pair(it->second, id));
  due_of_.erase(it);
  return true;
}

void ThreadScheduler::FireAllNow() {
  absl::MutexLock l(&mu_);
  fire_now_ = true;
}

size_t ThreadScheduler::pending() const {
  absl::MutexLock l(&mu_);
  return timers_.size();
}

void ThreadScheduler::Shutdown() {
  {
    absl::MutexLock l(&mu_);
    fire_now_ = true;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ThreadScheduler::Loop() {
  absl::MutexLock l(&mu_);
  while (true) {
    if (timers_.empty()) {
      if (stopping_) return;
      // Wake periodically as well so FireAllNow()/Shutdown() are seen promptly.
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !timers_.empty(); };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
      continue;
    }
    auto first = timers_.begin();
    const absl::Duration now = clock_.Monotonic();
    if (!fire_now_ && first->first.first > now) {
      // Sleep until the earliest timer, an earlier new timer, or FireAllNow().
      const absl::Duration due = first->first.first;
      const size_t n = timers_.size();
      auto changed = [this, due, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return fire_now_ || timers_.size() != n ||
               (!timers_.empty() && timers_.begin()->first.first != due);
      };
      mu_.AwaitWithTimeout(absl::Condition(&changed), std::min(due - now, absl::Milliseconds(100)));
      continue;
    }
    Task task = std::move(first->second);
    due_of_.erase(first->first.second);
    timers_.erase(first);
    mu_.Unlock();
    std::move(task)();
    mu_.Lock();
  }
}

Scheduler::TimerId FakeScheduler::RunAfter(absl::Duration delay, Task task) {
  absl::MutexLock l(&mu_);
  const TimerId id = next_id_++;
  requested_.push_back(delay);
  const absl::Duration due = clock_.Monotonic() + std::max(delay, absl::ZeroDuration());
  timers_.emplace(std::make_pair(due, id), std::move(task));
  due_of_.emplace(id, due);
  return id;
}

bool FakeScheduler::Cancel(TimerId id) {
  absl::MutexLock l(&mu_);
  auto it = due_of_.find(id);
  if (it == due_of_.end()) return false;
  timers_.erase(std::make_pair(it->second, id));
  due_of_.erase(it);
  return true;
}

bool FakeScheduler::RunNext() {
  Task task;
  {
    absl::MutexLock l(&mu_);
    if (timers_.empty()) return false;
    auto first = timers_.begin();
    const absl::Duration now = clock_.Monotonic();
    if (first->first.first > now) clock_.Advance(first->first.first - now);
    task = std::move(first->second);
    due_of_.erase(first->first.second);
    timers_.erase(first);
  }
  std::move(task)();
  return true;
}

void FakeScheduler::Advance(absl::Duration d) {
  const absl::Duration target = clock_.Monotonic() + d;
  while (true) {
    Task task;
    {
      absl::MutexLock l(&mu_);
      if (timers_.empty() || timers_.begin()->first.first > target) break;
      auto first = timers_.begin();
      const absl::Duration now = clock_.Monotonic();
      if (first->first.first > now) clock_.Advance(first->first.first - now);
      task = std::move(first->second);
      due_of_.erase(first->first.second);
      timers_.erase(first);
    }
    std::move(task)();
  }
  const absl::Duration now = clock_.Monotonic();
  if (target > now) clock_.Advance(target - now);
}

size_t FakeScheduler::pending() const {
  absl::MutexLock l(&mu_);
  return timers_.size();
}

std::vector<absl::Duration> FakeScheduler::requested() const {
  absl::MutexLock l(&mu_);
  return requested_;
}

void FakeScheduler::ClearRequested() {
  absl::MutexLock l(&mu_);
  requested_.clear();
}

}  // namespace llmix
