// Request coalescing in continuation form (LLMix Singleflight without awaiting): the first
// caller for a key becomes the leader and does the work; callers that join while it is in
// flight register a callback and cost no thread until the leader publishes the result.
// Thread-safe and non-blocking; callbacks run outside the internal lock, on the thread that
// calls Complete().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace llmix::resilience {

// LLMix Singleflight.makeKey: lower-case hex SHA-256 of `data`.
std::string SingleflightKey(std::string_view data);

// `Result` is what every caller of a key receives, success or failure alike (for example
// absl::StatusOr<Response>), so a leader that fails or gives up still releases its followers.
template <typename Result>
class Singleflight {
 public:
  using Callback = absl::AnyInvocable<void(const Result&)>;

  Singleflight() = default;
  Singleflight(const Singleflight&) = delete;
  Singleflight& operator=(const Singleflight&) = delete;

  // Registers `on_result` for `key`. Returns true when the caller became the leader: it must
  // do the work and then call Complete(key, result) exactly once, whatever happens. Every
  // registered callback, the leader's included (it runs first), is invoked exactly once by
  // that Complete() with the leader's result.
  bool Join(std::string_view key, Callback on_result) {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = flights_.try_emplace(std::string(key));
    it->second.push_back(std::move(on_result));
    return inserted;
  }

  // Publishes the leader's result: ends the flight (a later Join starts a new one) and runs
  // the callbacks in join order outside the lock. Returns how many ran (0 for an unknown key).
  size_t Complete(std::string_view key, const Result& result) {
    std::vector<Callback> callbacks;
    {
      absl::MutexLock lock(&mu_);
      auto it = flights_.find(std::string(key));
      if (it == flights_.end()) return 0;
      callbacks = std::move(it->second);
      flights_.erase(it);
    }
    for (Callback& callback : callbacks) callback(result);
    return callbacks.size();
  }

  // Keys whose leader has not completed yet.
  size_t InFlightCount() const {
    absl::MutexLock lock(&mu_);
    return flights_.size();
  }

  // Callers (leader included) waiting on `key`; 0 when no flight.
  size_t WaiterCount(std::string_view key) const {
    absl::MutexLock lock(&mu_);
    auto it = flights_.find(std::string(key));
    return it == flights_.end() ? 0 : it->second.size();
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<Callback>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::resilience
