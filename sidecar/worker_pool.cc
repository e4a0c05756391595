#include "sidecar/worker_pool.h"

namespace llmix::sidecar {

WorkerPool::WorkerPool(int threads, size_t queue_capacity) : capacity_(queue_capacity) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() { Shutdown(); }

bool WorkerPool::TrySubmit(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock l(&mu_);
  if (stopping_ || queue_.size() >= capacity_) return false;
  queue_.push_back(std::move(task));
  return true;
}

void WorkerPool::Submit(Task task) {
  {
    absl::MutexLock l(&mu_);
    if (!joined_) {
      resume_.push_back(std::move(task));
      return;
    }
  }
  std::move(task)();  // no worker left: finish the call here rather than strand it
}

size_t WorkerPool::queue_depth() const {
  absl::MutexLock l(&mu_);
  return queue_.size();
}

void WorkerPool::Shutdown() {
  {
    absl::MutexLock l(&mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
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
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty() || !resume_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (!resume_.empty()) {
        task = std::move(resume_.front());
        resume_.pop_front();
      } else if (!queue_.empty()) {
        task = std::move(queue_.front());
        queue_.pop_front();
      } else {
        return;  // stopping and drained
      }
    }
    std::move(task)();
  }
}

}  // namespace llmix::sidecar
