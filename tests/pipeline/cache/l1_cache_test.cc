#include "pipeline/cache/l1_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace llmix::cache {
namespace {

L1Options OneShard(size_t entries, size_t bytes) {
  L1Options o;
  o.max_entries = entries;
  o.max_bytes = bytes;
  o.shards = 1;
  return o;
}

TEST(L1Cache, GetReturnsWhatWasPut) {
  FakeClock clock;
  L1Cache c(clock, L1Options{});
  EXPECT_FALSE(c.Get("k").has_value());
  c.Put("k", "v", absl::Seconds(10));
  EXPECT_EQ(c.Get("k"), "v");
  c.Put("k", "v2", absl::Seconds(10));
  EXPECT_EQ(c.Get("k"), "v2");
  EXPECT_EQ(c.size(), 1u);
  c.Erase("k");
  EXPECT_FALSE(c.Get("k").has_value());
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(L1Cache, EntriesExpireAfterTheirOwnTtl) {
  FakeClock clock;
  L1Cache c(clock, L1Options{});
  c.Put("short", "a", absl::Seconds(5));
  c.Put("long", "b", absl::Seconds(60));
  clock.Advance(absl::Seconds(5) - absl::Nanoseconds(1));
  EXPECT_EQ(c.Get("short"), "a");
  clock.Advance(absl::Nanoseconds(1));
  EXPECT_FALSE(c.Get("short").has_value());
  EXPECT_EQ(c.size(), 1u);  // collected on read
  EXPECT_EQ(c.Get("long"), "b");
  clock.Advance(absl::Seconds(55));
  EXPECT_FALSE(c.Get("long").has_value());
}

TEST(L1Cache, NonPositiveTtlIsNotStored) {
  FakeClock clock;
  L1Cache c(clock, L1Options{});
  c.Put("k", "v", absl::ZeroDuration());
  c.Put("n", "v", -absl::Seconds(1));
  EXPECT_EQ(c.size(), 0u);
}

TEST(L1Cache, EvictsLeastRecentlyUsedByEntryCount) {
  FakeClock clock;
  L1Cache c(clock, OneShard(3, 1 << 20));
  c.Put("a", "1", absl::Hours(1));
  c.Put("b", "2", absl::Hours(1));
  c.Put("c", "3", absl::Hours(1));
  EXPECT_EQ(c.Get("a"), "1");  // a is now most recent; b is the LRU
  c.Put("d", "4", absl::Hours(1));
  EXPECT_FALSE(c.Get("b").has_value());
  EXPECT_EQ(c.Get("a"), "1");
  EXPECT_EQ(c.Get("c"), "3");
  EXPECT_EQ(c.Get("d"), "4");
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.evictions(), 1u);
}

TEST(L1Cache, EvictsByBytesAndRefusesValuesLargerThanTheBudget) {
  FakeClock clock;
  const size_t entry = L1Cache::kEntryOverhead + 1 + 100;  // key "x" + 100-byte value
  L1Cache c(clock, OneShard(1000, 2 * entry + 10));
  c.Put("a", std::string(100, 'a'), absl::Hours(1));
  c.Put("b", std::string(100, 'b'), absl::Hours(1));
  EXPECT_EQ(c.bytes(), 2 * entry);
  c.Put("c", std::string(100, 'c'), absl::Hours(1));  // evicts a
  EXPECT_FALSE(c.Get("a").has_value());
  EXPECT_TRUE(c.Get("b").has_value());
  EXPECT_TRUE(c.Get("c").has_value());
  EXPECT_LE(c.bytes(), 2 * entry + 10);
  c.Put("huge", std::string(10 * entry, 'h'), absl::Hours(1));
  EXPECT_FALSE(c.Get("huge").has_value());
  EXPECT_TRUE(c.Get("b").has_value());  // a refused value evicts nothing
  // Replacing a value re-charges its bytes.
  c.Put("b", "", absl::Hours(1));
  EXPECT_EQ(c.bytes(), entry + L1Cache::kEntryOverhead + 1);
}

TEST(L1Cache, ShardBudgetsAddUpToTheConfiguredTotals) {
  FakeClock clock;
  L1Options o;
  o.max_entries = 10;
  o.shards = 4;
  L1Cache c(clock, o);
  for (int i = 0; i < 1000; ++i) c.Put("k" + std::to_string(i), "v", absl::Hours(1));
  EXPECT_LE(c.size(), 10u);
  EXPECT_GE(c.size(), 4u);  // every shard keeps at least its own entries
  L1Options tiny;
  tiny.max_entries = 2;  // fewer entries than shards: shards shrink to 2
  L1Cache t(clock, tiny);
  for (int i = 0; i < 100; ++i) t.Put("k" + std::to_string(i), "v", absl::Hours(1));
  EXPECT_LE(t.size(), 2u);
}

TEST(L1Cache, ConcurrentReadersAndWritersStayWithinBounds) {
  FakeClock clock;
  L1Options o;
  o.max_entries = 256;
  o.max_bytes = 64 << 10;
  L1Cache c(clock, o);
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + t) % 512);
        if (auto v = c.Get(key); v.has_value()) {
          EXPECT_EQ(*v, "value-of-" + key);
          hits.fetch_add(1);
        } else {
          c.Put(key, "value-of-" + key, absl::Minutes(1));
        }
        if (i % 1000 == 0) clock.Advance(absl::Seconds(1));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(c.size(), 256u);
  EXPECT_LE(c.bytes(), size_t{64 << 10});
  EXPECT_GT(hits.load(), 0);
}

}  // namespace
}  // namespace llmix::cache
