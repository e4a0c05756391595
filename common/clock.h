// Time sources. Every component that reads time takes a `Clock&` so tests can drive
// time with `FakeClock` instead of sleeping. Implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace llmix {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time since an arbitrary epoch; use for durations, deadlines, cooldowns.
  virtual absl::Duration Monotonic() const = 0;
  // Wall-clock time; use for timestamps shown to people and for HTTP dates.
  virtual absl::Time Wall() const = 0;

  int64_t MonotonicMs() const { return absl::ToInt64Milliseconds(Monotonic()); }
  int64_t WallMs() const { return absl::ToUnixMillis(Wall()); }
};

// The process clock: steady_clock for Monotonic(), system_clock for Wall().
class SystemClock final : public Clock {
 public:
  absl::Duration Monotonic() const override;
  absl::Time Wall() const override;
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time wall_start = absl::FromUnixMillis(1'700'000'000'000))
      : wall_start_(wall_start) {}

  absl::Duration Monotonic() const override {
    return absl::Nanoseconds(elapsed_ns_.load(std::memory_order_acquire));
  }
  absl::Time Wall() const override { return wall_start_ + Monotonic(); }
  void Advance(absl::Duration d) {
    elapsed_ns_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }

 private:
  absl::Time wall_start_;
  std::atomic<int64_t> elapsed_ns_{0};
};

}  // namespace llmix
