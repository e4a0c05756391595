// Per-call state of the resilience stages (kill switch .. dispatch): the API key and kwargs
// chosen for the upstream request, the verdict of the whole retry sequence that the circuit
// breaker records, whether the result came from a singleflight leader, and a cancellation
// signal that wakes a call parked in a wait (backoff timer, AIMD queue, singleflight).
// Lives in CallContext; touched by one thread at a time except CancelSignal (thread-safe).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace llmix::pipeline {

// Set once (client cancellation, shutdown); runs the hook installed by whatever wait the call
// is parked in, so the wait ends at once instead of at its timer. Thread-safe.
class CancelSignal {
 public:
  // Marks cancelled and runs (then drops) the installed hook, outside the lock. Idempotent.
  void Cancel() {
    absl::AnyInvocable<void() &&> hook;
    {
      absl::MutexLock l(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
      hook = std::move(hook_);
      hook_ = nullptr;
    }
    if (hook) std::move(hook)();
  }
  bool cancelled() const {
    absl::MutexLock l(&mu_);
    return cancelled_;
  }
  // Installs the hook for the current wait; false (hook dropped) when already cancelled.
  bool SetHook(absl::AnyInvocable<void() &&> hook) {
    absl::MutexLock l(&mu_);
    if (cancelled_) return false;
    hook_ = std::move(hook);
    return true;
  }
  void ClearHook() {
    absl::AnyInvocable<void() &&> old;
    absl::MutexLock l(&mu_);
    old = std::move(hook_);
    hook_ = nullptr;
  }

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::AnyInvocable<void() &&> hook_ ABSL_GUARDED_BY(mu_);
};

// What one whole retry sequence amounts to for the circuit breaker (CONTRACT §9).
enum class SequenceVerdict {
  kNone,     // no upstream attempt finished (short-circuit, deadline, cancellation)
  kSuccess,  // the last attempt succeeded
  kFailure,  // the last attempt failed upstream (HTTP status or network error)
  kLocal,    // a local error (no pool, exhausted pool, bad config): not counted
};

struct UpstreamCall {
  std::string api_key;                               // chosen by the key stage; never logged
  nlohmann::json kwargs = nlohmann::json::object();  // built by the kwargs stage
  SequenceVerdict verdict = SequenceVerdict::kNone;
  std::optional<int> failure_status;  // with kFailure: the HTTP status, if any
  bool failure_network = false;       // with kFailure: no usable HTTP response
  bool follower = false;              // the result was copied from a singleflight leader
  // A fallback target remains after the current one: waits that only postpone this target
  // (every key at its per-key limit) end at once so the chain moves on.
  bool more_targets = false;
  CancelSignal cancel;
};

}  // namespace llmix::pipeline
