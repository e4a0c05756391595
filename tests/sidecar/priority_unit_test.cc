// Priority scheduling units (README "Priority"): the PriorityLanes queue (order, aging, no
// starvation either way), the worker pool's lanes and admission limits, the AIMD semaphore's
// priority grants, and the per-target routing admission.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/priority.h"
#include "pipeline/resilience/aimd_limiter.h"
#include "pipeline/routing_stage.h"
#include "sidecar/worker_pool.h"
#include "tests/support/process.h"

namespace llmix {
namespace {

using ::llmix::sidecar::WorkerPool;

TEST(PriorityName, RoundTripsAndRejectsOthers) {
  for (Priority p : kAllPriorities) EXPECT_EQ(ParsePriority(PriorityName(p)), p);
  EXPECT_EQ(ParsePriority("urgent"), std::nullopt);
  EXPECT_EQ(ParsePriority("HIGH"), std::nullopt) << "callers lower-case first";
}

TEST(PriorityLanes, HigherClassesFirstFifoWithinAClass) {
  PriorityLanes<std::string> q;
  q.Push(Priority::kLow, "low1");
  q.Push(Priority::kNormal, "normal1");
  q.Push(Priority::kLow, "low2");
  q.Push(Priority::kCritical, "crit1");
  q.Push(Priority::kHigh, "high1");
  q.Push(Priority::kCritical, "crit2");
  EXPECT_EQ(q.size(), 6u);
  EXPECT_EQ(q.size(Priority::kLow), 2u);
  std::vector<std::string> order;
  while (!q.empty()) order.push_back(q.Pop());
  EXPECT_EQ(order,
            (std::vector<std::string>{"crit1", "crit2", "high1", "normal1", "low1", "low2"}));
}

TEST(PriorityLanes, AgingServesALowerClassAfterItWasPassedOverEnoughTimes) {
  PriorityLanes<std::string> q;
  q.Push(Priority::kLow, "low");
  for (int i = 0; i < 20; ++i) q.Push(Priority::kCritical, "crit" + std::to_string(i));
  std::vector<std::string> order;
  for (int i = 0; i < 10; ++i) order.push_back(q.Pop());
  // Eight critical grants pass the low waiter over; the ninth grant is its.
  for (int i = 0; i < kPriorityAgingGrants; ++i) EXPECT_EQ(order[i], "crit" + std::to_string(i));
  EXPECT_EQ(order[kPriorityAgingGrants], "low");
  EXPECT_EQ(order[kPriorityAgingGrants + 1], "crit8");
}

TEST(PriorityLanes, LowKeepsAShareUnderSustainedCriticalLoadAndCriticalIsNeverStarved) {
  PriorityLanes<Priority> q;
  // A steady supply of both classes: every pop is replaced by a new arrival of its class.
  for (int i = 0; i < 50; ++i) {
    q.Push(Priority::kCritical, Priority::kCritical);
    q.Push(Priority::kLow, Priority::kLow);
  }
  int low = 0, critical = 0, critical_gap = 0, max_critical_gap = 0;
  for (int i = 0; i < 900; ++i) {
    const Priority p = q.Pop();
    q.Push(p, p);
    if (p == Priority::kLow) {
      ++low;
      ++critical_gap;
    } else {
      ++critical;
      critical_gap = 0;
    }
    max_critical_gap = std::max(max_critical_gap, critical_gap);
  }
  EXPECT_EQ(low, 900 / (kPriorityAgingGrants + 1)) << "one grant in nine";
  EXPECT_EQ(critical, 900 - low);
  EXPECT_EQ(max_critical_gap, 1) << "critical waits for at most one aged grant per class";
}

TEST(PriorityLanes, AllFourClassesAgedCriticalWaitsAtMostThreeGrants) {
  PriorityLanes<Priority> q;
  for (int i = 0; i < 40; ++i) {
    for (Priority p : kAllPriorities) q.Push(p, p);
  }
  int gap = 0, max_gap = 0;
  std::array<int, kPriorityCount> served{};
  for (int i = 0; i < 400; ++i) {
    const Priority p = q.Pop();
    q.Push(p, p);
    ++served[PriorityIndex(p)];
    gap = p == Priority::kCritical ? 0 : gap + 1;
    max_gap = std::max(max_gap, gap);
  }
  EXPECT_LE(max_gap, 3);
  for (Priority p : kAllPriorities) EXPECT_GT(served[PriorityIndex(p)], 0) << PriorityName(p);
  EXPECT_GT(served[0], served[3]);
}

TEST(PriorityLanes, EraseAndTakeAll) {
  PriorityLanes<int> q;
  auto h = q.Push(Priority::kNormal, 1);
  q.Push(Priority::kNormal, 2);
  q.Push(Priority::kHigh, 3);
  q.Erase(h);
  EXPECT_EQ(q.size(), 2u);
  auto all = q.TakeAll();
  EXPECT_EQ(std::vector<int>(all.begin(), all.end()), (std::vector<int>{3, 2}));
  EXPECT_TRUE(q.empty());
}

TEST(WorkerPoolPriority, QueuedCallsRunHighestClassFirst) {
  WorkerPool pool(1, 64);
  absl::Notification started, release;
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  std::mutex mu;
  std::vector<std::string> order;
  auto record = [&](std::string name) {
    return [&, name] {
      std::lock_guard<std::mutex> l(mu);
      order.push_back(name);
    };
  };
  ASSERT_TRUE(pool.TrySubmit(record("low1"), Priority::kLow));
  ASSERT_TRUE(pool.TrySubmit(record("normal"), Priority::kNormal));
  ASSERT_TRUE(pool.TrySubmit(record("low2"), Priority::kLow));
  ASSERT_TRUE(pool.TrySubmit(record("high"), Priority::kHigh));
  ASSERT_TRUE(pool.TrySubmit(record("critical"), Priority::kCritical));
  EXPECT_EQ(pool.queue_depth(Priority::kLow), 2u);
  std::vector<std::pair<Priority, double>> waits;
  pool.SetWaitObserver([&](Priority p, double s) {
    std::lock_guard<std::mutex> l(mu);
    waits.emplace_back(p, s);
  });
  release.Notify();
  pool.Shutdown();
  EXPECT_EQ(order, (std::vector<std::string>{"critical", "high", "normal", "low1", "low2"}));
  ASSERT_EQ(waits.size(), 5u);
  EXPECT_EQ(waits[0].first, Priority::kCritical);
  EXPECT_GE(waits[0].second, 0.0);
}

TEST(WorkerPoolPriority, LowIsRefusedAtHalfCapacityCriticalOnlyAtTwiceCapacity) {
  WorkerPool pool(1, 4);
  absl::Notification started, release;
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  ASSERT_TRUE(pool.TrySubmit([] {}, Priority::kLow));
  ASSERT_TRUE(pool.TrySubmit([] {}, Priority::kLow));
  EXPECT_FALSE(pool.TrySubmit([] {}, Priority::kLow)) << "low: half of 4";
  ASSERT_TRUE(pool.TrySubmit([] {}, Priority::kNormal));
  ASSERT_TRUE(pool.TrySubmit([] {}, Priority::kHigh));
  EXPECT_FALSE(pool.TrySubmit([] {}, Priority::kNormal)) << "normal: 4";
  EXPECT_FALSE(pool.TrySubmit([] {}, Priority::kHigh));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(pool.TrySubmit([] {}, Priority::kCritical));
  EXPECT_FALSE(pool.TrySubmit([] {}, Priority::kCritical)) << "critical: twice 4 bounds memory";
  EXPECT_EQ(pool.queue_depth(), 8u);
  release.Notify();
  pool.Shutdown();
}

TEST(AdaptiveSemaphorePriority, ReleasesGrantHigherClassesFirstAndCancelKeepsOrder) {
  auto sem = resilience::AdaptiveSemaphore::Create({1, 1}).value();
  std::vector<std::string> granted;
  auto waiter = [&](std::string name) {
    return [&, name](absl::Status st) {
      if (st.ok()) granted.push_back(name);
    };
  };
  sem->Acquire(waiter("holder"));
  sem->Acquire(waiter("low"), Priority::kLow);
  sem->Acquire(waiter("normal"), Priority::kNormal);
  const auto cancelled = sem->Acquire(waiter("high-cancelled"), Priority::kHigh);
  sem->Acquire(waiter("critical"), Priority::kCritical);
  auto snap = sem->Snapshot();
  EXPECT_EQ(snap.queued, 4u);
  EXPECT_EQ(snap.queued_by_priority[PriorityIndex(Priority::kLow)], 1u);
  EXPECT_TRUE(sem->Cancel(cancelled));
  for (int i = 0; i < 4; ++i) sem->Release();
  EXPECT_EQ(granted, (std::vector<std::string>{"holder", "critical", "normal", "low"}));
}

TEST(AdaptiveSemaphorePriority, OneClassIsLlmixFifo) {
  auto sem = resilience::AdaptiveSemaphore::Create({1, 1}).value();
  std::vector<int> granted;
  for (int i = 0; i < 12; ++i) {
    sem->Acquire([&, i](absl::Status st) {
      if (st.ok()) granted.push_back(i);
    });
  }
  for (int i = 0; i < 12; ++i) sem->Release();
  EXPECT_EQ(granted, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(TargetQueues, BusyTargetShedsBelowTheMinimumButNeverCritical) {
  pipeline::TargetQueues queues;
  registry::RoutingRule rule;
  rule.max_queue_depth = 2;
  rule.min_priority_when_busy = Priority::kHigh;
  int depth = -1;
  auto a = queues.TryEnter("openai", "m", "u", Priority::kLow, rule, &depth);
  auto b = queues.TryEnter("openai", "m", "u", Priority::kNormal, rule, &depth);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(queues.TryEnter("openai", "m", "u", Priority::kNormal, rule, &depth), nullptr);
  EXPECT_EQ(depth, 2);
  EXPECT_EQ(queues.TryEnter("openai", "m", "u", Priority::kLow, rule, &depth), nullptr);
  auto high = queues.TryEnter("openai", "m", "u", Priority::kHigh, rule, &depth);
  ASSERT_NE(high, nullptr) << "not below minPriorityWhenBusy";
  rule.min_priority_when_busy = Priority::kCritical;
  std::vector<std::shared_ptr<pipeline::TargetWait>> critical;
  for (int i = 0; i < 10; ++i) {
    critical.push_back(queues.TryEnter("openai", "m", "u", Priority::kCritical, rule, &depth));
    ASSERT_NE(critical.back(), nullptr) << "critical is always admitted";
  }
  EXPECT_EQ(queues.TryEnter("openai", "m", "u", Priority::kHigh, rule, &depth), nullptr);
  // Another target has its own count.
  EXPECT_NE(queues.TryEnter("openai", "m2", "u", Priority::kLow, rule, &depth), nullptr);
  for (auto& w : critical) w->End();
  high->End();
  a->End();
  a->End();  // idempotent
  b->End();
  auto depths = queues.Depths();
  int total = 0;
  for (const auto& d : depths) total += d.waiting;
  EXPECT_EQ(total, 1) << "only the m2 call still waits";
}

}  // namespace
}  // namespace llmix
