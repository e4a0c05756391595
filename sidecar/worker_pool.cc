#include "sidecar/worker_pool.h"

#include <algorithm>
#include <optional>

namespace llmix::sidecar {

WorkerPool::WorkerPool(int threads, size_t queue_capacity)
    : max_threads_(static_cast<size_t>(std::max(threads, 1))), capacity_(queue_capacity) {}

WorkerPool::~WorkerPool() { Shutdown(); }

size_t WorkerPool::AdmitLimit(Priority priority) const {
  switch (priority) {
    case Priority::kCritical: return capacity_ * 2;
    case Priority::kLow: return std::max<size_t>(1, capacity_ / 2);
    default: return capacity_;
  }
}

bool WorkerPool::Admit(absl::AnyInvocable<void() &&>& task, Priority priority) {
  if (stopping_ || queue_.size() >= AdmitLimit(priority)) return false;
  queue_.Push(priority, Queued{std::move(task), priority, std::chrono::steady_clock::now()});
  MaybeGrow();
  return true;
}

bool WorkerPool::TrySubmit(absl::AnyInvocable<void() &&> task, Priority priority) {
  absl::MutexLock l(&mu_);
  return Admit(task, priority);
}

bool WorkerPool::TrySubmitToIdle(absl::AnyInvocable<void() &&> task, Priority priority) {
  absl::MutexLock l(&mu_);
  if (queue_.size() + resume_.size() >= idle_ && threads_.size() >= max_threads_) return false;
  return Admit(task, priority);
}

void WorkerPool::MaybeGrow() {
  if (stopping_ || threads_.size() >= max_threads_) return;
  if (queue_.size() + resume_.size() <= idle_) return;  // an idle thread will take it
  threads_.emplace_back([this] { Loop(); });
}

size_t WorkerPool::threads() const {
  absl::MutexLock l(&mu_);
  return threads_.size();
}

size_t WorkerPool::idle_threads() const {
  absl::MutexLock l(&mu_);
  return idle_;
}

void WorkerPool::Submit(Task task) {
  {
    absl::MutexLock l(&mu_);
    if (!joined_) {
      resume_.push_back(std::move(task));
      MaybeGrow();
      return;
    }
  }
  std::move(task)();  // no worker left: finish the call here rather than strand it
}

size_t WorkerPool::queue_depth() const {
  absl::MutexLock l(&mu_);
  return queue_.size();
}

size_t WorkerPool::queue_depth(Priority priority) const {
  absl::MutexLock l(&mu_);
  return queue_.size(priority);
}

void WorkerPool::Shutdown() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;  // no thread starts after this; the started ones drain both lanes
    threads.swap(threads_);
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
  std::deque<Task> left;
  {
    absl::MutexLock l(&mu_);
    joined_ = true;
    left.swap(resume_);
  }
  for (Task& t : left) std::move(t)();
}

void WorkerPool::Loop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    std::optional<Queued> fresh;  // a new call, whose queue wait is observed
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty() || !resume_.empty();
      };
      ++idle_;
      mu_.Await(absl::Condition(&ready));
      --idle_;
      if (!resume_.empty()) {
        task = std::move(resume_.front());
        resume_.pop_front();
      } else if (!queue_.empty()) {
        fresh.emplace(queue_.Pop());
      } else {
        return;  // stopping and drained
      }
    }
    if (fresh.has_value()) {
      if (wait_observer_) {
        wait_observer_(fresh->priority, std::chrono::duration<double>(
                                            std::chrono::steady_clock::now() - fresh->since)
                                            .count());
      }
      task = std::move(fresh->task);
      fresh.reset();
    }
    std::move(task)();
  }
}

}  // namespace llmix::sidecar
