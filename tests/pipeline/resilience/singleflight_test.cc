// Singleflight: one leader per key, every joiner's callback runs exactly once with the
// leader's result (failures included), callbacks run outside the lock, and concurrent joiners
// from several threads still produce exactly one leader.
#include "pipeline/resilience/singleflight.h"

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace llmix::resilience {
namespace {

using Result = absl::StatusOr<std::string>;

TEST(SingleflightTest, HundredJoinersOneLeaderAllGetTheResult) {
  Singleflight<Result> flights;
  int leaders = 0;
  std::vector<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    if (flights.Join("k", [&seen](const Result& r) { seen.push_back(r.value()); })) ++leaders;
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_EQ(flights.InFlightCount(), 1u);
  EXPECT_EQ(flights.WaiterCount("k"), 100u);
  EXPECT_TRUE(seen.empty());  // nobody is called before the leader completes
  EXPECT_EQ(flights.Complete("k", Result("answer")), 100u);
  EXPECT_EQ(seen, std::vector<std::string>(100, "answer"));
  EXPECT_EQ(flights.InFlightCount(), 0u);
  EXPECT_EQ(flights.Complete("k", Result("again")), 0u);  // the flight is over
}

TEST(SingleflightTest, LeaderFailureReachesFollowers) {
  Singleflight<Result> flights;
  std::vector<absl::Status> statuses;
  const auto record = [&statuses](const Result& r) { statuses.push_back(r.status()); };
  ASSERT_TRUE(flights.Join("k", record));
  ASSERT_FALSE(flights.Join("k", record));
  ASSERT_FALSE(flights.Join("k", record));
  flights.Complete("k", Result(absl::DeadlineExceededError("leader gave up")));
  ASSERT_EQ(statuses.size(), 3u);
  for (const absl::Status& s : statuses) {
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(s.message(), "leader gave up");
  }
  // A new call after the failure starts a fresh flight with a new leader.
  EXPECT_TRUE(flights.Join("k", record));
}

TEST(SingleflightTest, KeysAreIndependent) {
  Singleflight<int> flights;
  int a = 0, b = 0;
  EXPECT_TRUE(flights.Join("a", [&a](const int& v) { a = v; }));
  EXPECT_TRUE(flights.Join("b", [&b](const int& v) { b = v; }));
  EXPECT_EQ(flights.InFlightCount(), 2u);
  flights.Complete("b", 2);
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 2);
  flights.Complete("a", 1);
  EXPECT_EQ(a, 1);
}

// Callbacks run after the flight is removed and outside the lock: one may start the next
// flight for the same key (it becomes the new leader) without deadlocking.
TEST(SingleflightTest, CallbackMayJoinAgain) {
  Singleflight<int> flights;
  bool rejoined_as_leader = false;
  ASSERT_TRUE(flights.Join(
      "k", [&](const int&) { rejoined_as_leader = flights.Join("k", [](const int&) {}); }));
  flights.Complete("k", 7);
  EXPECT_TRUE(rejoined_as_leader);
  EXPECT_EQ(flights.WaiterCount("k"), 1u);
  EXPECT_EQ(flights.Complete("k", 8), 1u);
}

// 8 threads x 100 joins on one key while the leader is held back: exactly one leader, and
// all 800 callbacks run exactly once when it completes.
TEST(SingleflightTest, ConcurrentJoinersOneLeader) {
  constexpr int kThreads = 8, kPerThread = 100;
  Singleflight<Result> flights;
  std::atomic<int> leaders{0};
  std::vector<std::atomic<int>> calls(kThreads * kPerThread);
  std::atomic<int> wrong{0};
  std::latch joined(kThreads);
  std::latch start(8);  // release all 8 threads at once for maximum overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        const bool leader = flights.Join("same", [&, id](const Result& r) {
          calls[id].fetch_add(1);
          if (!r.ok() || *r != "done") wrong.fetch_add(1);
        });
        if (leader) leaders.fetch_add(1);
      }
      joined.count_down();
    });
  }
  joined.wait();
  EXPECT_EQ(leaders.load(), 1);
  EXPECT_EQ(flights.WaiterCount("same"), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(flights.Complete("same", Result("done")), static_cast<size_t>(kThreads * kPerThread));
  for (auto& th : threads) th.join();
  for (auto& c : calls) EXPECT_EQ(c.load(), 1);
  EXPECT_EQ(wrong.load(), 0);
}

// Many keys, leaders completing from other threads while joins continue: every callback runs
// exactly once and no flight is left behind.
TEST(SingleflightTest, ConcurrentFlightsAcrossKeys) {
  constexpr int kThreads = 8, kPerThread = 400;
  Singleflight<int> flights;
  std::atomic<int> callbacks{0};
  std::atomic<int> joins{0};
  std::latch start(8);  // release all 8 threads at once for maximum overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = "k" + std::to_string((i + t) % 16);
        joins.fetch_add(1);
        if (flights.Join(key, [&](const int&) { callbacks.fetch_add(1); })) {
          flights.Complete(key, i);  // the leader finishes at once, from its own thread
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(flights.InFlightCount(), 0u);
  EXPECT_EQ(callbacks.load(), joins.load());
}

TEST(SingleflightTest, KeyIsSha256Hex) {
  EXPECT_EQ(SingleflightKey(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(SingleflightKey("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace llmix::resilience
