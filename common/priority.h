// A call's scheduling class (CallRequest.priority, the front door's x-llmix-priority header)
// and PriorityLanes, the queue every waiting point uses (worker queue, AIMD and global
// concurrency permits): higher classes first, FIFO within a class, and aging so that a lower
// class still moves. Plain values; PriorityLanes is not thread-safe (its owner locks).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string_view>
#include <utility>

namespace llmix {

// Highest first; the numeric order is the service order.
enum class Priority : uint8_t { kCritical = 0, kHigh = 1, kNormal = 2, kLow = 3 };
inline constexpr size_t kPriorityCount = 4;
inline constexpr std::array<Priority, kPriorityCount> kAllPriorities = {
    Priority::kCritical, Priority::kHigh, Priority::kNormal, Priority::kLow};

// "critical" | "high" | "normal" | "low" (metric labels, span attribute, header values).
constexpr std::string_view PriorityName(Priority p) {
  switch (p) {
    case Priority::kCritical:
      return "critical";
    case Priority::kHigh:
      return "high";
    case Priority::kNormal:
      return "normal";
    case Priority::kLow:
      return "low";
  }
  return "normal";
}

// The inverse of PriorityName (exact, lower case); nullopt for anything else.
constexpr std::optional<Priority> ParsePriority(std::string_view name) {
  for (Priority p : kAllPriorities) {
    if (PriorityName(p) == name) return p;
  }
  return std::nullopt;
}

constexpr size_t PriorityIndex(Priority p) { return static_cast<size_t>(p); }

// A grant passes over a waiting lower class at most this many times in a row: then that class
// is served next (aging by count, so no clock is needed). Under sustained higher-class load a
// lower class therefore still gets at least one grant in kPriorityAgingGrants + 1.
inline constexpr int kPriorityAgingGrants = 8;

// FIFO lanes per priority. Pop() serves the highest non-empty class, except that a class
// passed over kPriorityAgingGrants times while it had waiters is served first (the highest
// such class). Critical is never passed over, so it waits at most for one aged grant per
// lower class. Entries can be removed by handle (a cancelled waiter).
template <typename T>
class PriorityLanes {
 public:
  using Lane = std::list<T>;
  struct Handle {
    size_t lane = 0;
    typename Lane::iterator it;
  };

  Handle Push(Priority p, T value) {
    const size_t lane = PriorityIndex(p);
    if (lanes_[lane].empty()) passed_over_[lane] = 0;  // aging restarts with a new waiter
    lanes_[lane].push_back(std::move(value));
    ++size_;
    return Handle{lane, std::prev(lanes_[lane].end())};
  }

  // The entry served next (see the class comment); the queue must not be empty.
  T Pop() {
    size_t pick = kPriorityCount;
    for (size_t l = 0; l < kPriorityCount; ++l) {
      if (!lanes_[l].empty() && passed_over_[l] >= kPriorityAgingGrants) {
        pick = l;
        break;
      }
    }
    if (pick == kPriorityCount) {
      for (size_t l = 0; l < kPriorityCount; ++l) {
        if (!lanes_[l].empty()) {
          pick = l;
          break;
        }
      }
    }
    for (size_t l = 0; l < kPriorityCount; ++l) {
      if (l > pick && !lanes_[l].empty()) ++passed_over_[l];
    }
    passed_over_[pick] = 0;
    T out = std::move(lanes_[pick].front());
    lanes_[pick].pop_front();
    --size_;
    return out;
  }

  void Erase(const Handle& h) {
    lanes_[h.lane].erase(h.it);
    --size_;
  }

  // Removes and returns every entry, highest class first.
  Lane TakeAll() {
    Lane out;
    for (Lane& lane : lanes_) out.splice(out.end(), lane);
    size_ = 0;
    return out;
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t size(Priority p) const { return lanes_[PriorityIndex(p)].size(); }

 private:
  std::array<Lane, kPriorityCount> lanes_;
  std::array<int, kPriorityCount> passed_over_{};
  size_t size_ = 0;
};

}  // namespace llmix
