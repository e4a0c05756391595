// Per-key RPM/TPM limits: the sliding one-minute window (per-second buckets), reserve/settle
// exactly once, skip order through the pool, every key at its limit, concurrent reservations,
// and the <P>_KEY_RPM / <P>_KEY_TPM variables. Time is a FakeClock; no sleeps.
#include "pipeline/resilience/key_limits.h"

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "common/canonical_json.h"
#include "common/env.h"
#include "gtest/gtest.h"

namespace llmix::resilience {
namespace {

int64_t Requests(KeyRateLimiter& l, const std::string& key) {
  for (const KeyWindowStats& s : l.Stats()) {
    if (s.fingerprint == KeyFingerprint(key)) return s.requests;
  }
  return -1;
}

int64_t Tokens(KeyRateLimiter& l, const std::string& key) {
  for (const KeyWindowStats& s : l.Stats()) {
    if (s.fingerprint == KeyFingerprint(key)) return s.tokens;
  }
  return -1;
}

TEST(KeyLimitsTest, FingerprintIsEightHexOfSha256AndNotTheKey) {
  const std::string fp = KeyFingerprint("sk-secret-123456");
  EXPECT_EQ(fp.size(), 8u);
  EXPECT_EQ(fp, Sha256Hex("sk-secret-123456").substr(0, 8));
  EXPECT_EQ(fp.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(KeyFingerprint("a"), KeyFingerprint("b"));
}

TEST(KeyLimitsTest, RpmWindowSlidesPerSecondBucket) {
  FakeClock clock;
  auto limiter = KeyRateLimiter::Create({2, 0}, clock);
  auto r1 = limiter->TryReserve("A", 10);
  ASSERT_TRUE(r1.has_value());
  clock.Advance(absl::Seconds(30));
  auto r2 = limiter->TryReserve("A", 10);
  ASSERT_TRUE(r2.has_value());
  EXPECT_FALSE(limiter->TryReserve("A", 10).has_value()) << "third request in a minute";
  // The first request leaves the window 60 s after its second: 30 s from now.
  EXPECT_EQ(limiter->TimeUntilFree("A", 10), absl::Seconds(30));
  clock.Advance(absl::Seconds(29) + absl::Milliseconds(999));
  EXPECT_FALSE(limiter->TryReserve("A", 10).has_value());
  EXPECT_EQ(limiter->TimeUntilFree("A", 10), absl::Milliseconds(1));
  clock.Advance(absl::Milliseconds(1));  // t = 60 s: the t = 0 bucket is gone
  EXPECT_EQ(limiter->TimeUntilFree("A", 10), absl::ZeroDuration());
  auto r3 = limiter->TryReserve("A", 10);
  ASSERT_TRUE(r3.has_value());
  EXPECT_FALSE(limiter->TryReserve("A", 10).has_value());
  EXPECT_EQ(limiter->TimeUntilFree("A", 10), absl::Seconds(30)) << "the t = 30 s bucket next";
  EXPECT_EQ(Requests(*limiter, "A"), 2);
  // Other keys have their own windows.
  EXPECT_TRUE(limiter->TryReserve("B", 10).has_value());
}

TEST(KeyLimitsTest, RequestsInTheSameSecondShareABucket) {
  FakeClock clock;
  clock.Advance(absl::Milliseconds(100));
  auto limiter = KeyRateLimiter::Create({3, 0}, clock);
  auto a = limiter->TryReserve("A", 0);
  clock.Advance(absl::Milliseconds(800));  // still second 0
  auto b = limiter->TryReserve("A", 0);
  clock.Advance(absl::Milliseconds(200));  // second 1
  auto c = limiter->TryReserve("A", 0);
  ASSERT_TRUE(a && b && c);
  clock.Advance(absl::Seconds(59));  // t = 60.1 s: second 0 (a and b) has left
  EXPECT_EQ(Requests(*limiter, "A"), 1);
}

TEST(KeyLimitsTest, TpmReservesTheEstimateAndSettlesTheRealUsage) {
  FakeClock clock;
  auto limiter = KeyRateLimiter::Create({0, 1000}, clock);
  auto big = limiter->TryReserve("A", 800);
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(Tokens(*limiter, "A"), 800);
  EXPECT_FALSE(limiter->TryReserve("A", 300).has_value()) << "800 + 300 > 1000";
  big->Settle(150, /*sent=*/true);  // the call used less than estimated
  EXPECT_EQ(Tokens(*limiter, "A"), 150);
  EXPECT_FALSE(big->pending());
  big->Settle(0, /*sent=*/false);  // exactly once: a second settle changes nothing
  EXPECT_EQ(Tokens(*limiter, "A"), 150);
  EXPECT_EQ(Requests(*limiter, "A"), 1);
  auto more = limiter->TryReserve("A", 300);
  ASSERT_TRUE(more.has_value());
  more->Settle(900, /*sent=*/true);  // more than estimated: the window holds the truth
  EXPECT_EQ(Tokens(*limiter, "A"), 1050);
  EXPECT_FALSE(limiter->TryReserve("A", 1).has_value());
}

TEST(KeyLimitsTest, UnsentRequestIsReleasedAndADroppedReservationKeepsItsEstimate) {
  FakeClock clock;
  auto limiter = KeyRateLimiter::Create({1, 1000}, clock);
  {
    auto r = limiter->TryReserve("A", 400);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(limiter->TryReserve("A", 1).has_value());
    r->Settle(0, /*sent=*/false);  // never reached the provider (deadline, cancel, bad config)
  }
  EXPECT_EQ(Requests(*limiter, "A"), 0);
  EXPECT_EQ(Tokens(*limiter, "A"), 0);
  {
    auto r = limiter->TryReserve("A", 400);
    ASSERT_TRUE(r.has_value());
  }  // dropped unsettled: counted as sent with its estimate
  EXPECT_EQ(Requests(*limiter, "A"), 1);
  EXPECT_EQ(Tokens(*limiter, "A"), 400);
  // A moved-from reservation settles nothing; the moved-to one settles once.
  auto r = limiter->TryReserve("B", 100);
  ASSERT_TRUE(r.has_value());
  KeyReservation moved = std::move(*r);
  r.reset();
  EXPECT_EQ(Tokens(*limiter, "B"), 100);
  moved.Settle(40, true);
  EXPECT_EQ(Tokens(*limiter, "B"), 40);
}

TEST(KeyLimitsTest, SettleAfterTheBucketLeftTheWindowChangesNothing) {
  FakeClock clock;
  auto limiter = KeyRateLimiter::Create({5, 1000}, clock);
  auto r = limiter->TryReserve("A", 500);
  ASSERT_TRUE(r.has_value());
  clock.Advance(absl::Seconds(61));
  auto later = limiter->TryReserve("A", 100);
  ASSERT_TRUE(later.has_value());
  r->Settle(0, /*sent=*/false);
  EXPECT_EQ(Requests(*limiter, "A"), 1);
  EXPECT_EQ(Tokens(*limiter, "A"), 100);
}

TEST(KeyLimitsTest, ARequestLargerThanTheTpmFitsOnlyAnEmptyWindow) {
  FakeClock clock;
  auto limiter = KeyRateLimiter::Create({0, 100}, clock);
  auto small = limiter->TryReserve("A", 1);
  ASSERT_TRUE(small.has_value());
  EXPECT_FALSE(limiter->TryReserve("A", 500).has_value());
  EXPECT_EQ(limiter->TimeUntilFree("A", 500), absl::Seconds(60));
  EXPECT_TRUE(limiter->TryReserve("B", 500).has_value()) << "empty window";
  EXPECT_FALSE(limiter->TryReserve("B", 1).has_value());
}

TEST(KeyLimitsTest, SelectionKeepsStickyOrderSkipsKeysAtTheirLimitAndMovesTheCurrentKey) {
  FakeClock clock;
  auto pool = KeyPool::Create({"A", "B", "C"});
  ASSERT_TRUE(pool.ok());
  auto limiter = KeyRateLimiter::Create({2, 0}, clock);
  std::vector<std::string> used;
  std::vector<int> skipped;
  for (int i = 0; i < 6; ++i) {
    absl::Duration free_in;
    auto sel = SelectWithinLimits(**pool, *limiter, 1, &free_in);
    ASSERT_TRUE(sel.ok()) << i << " " << sel.status();
    used.push_back(sel->key);
    skipped.push_back(sel->skipped);
  }
  EXPECT_EQ(used, (std::vector<std::string>{"A", "A", "B", "B", "C", "C"}));
  EXPECT_EQ(skipped, (std::vector<int>{0, 0, 1, 0, 1, 0}));
  EXPECT_EQ((*pool)->Snapshot().index, 2u) << "C is the current key now";
  EXPECT_EQ(limiter->skips(), 2);
  // Every key at its limit: ResourceExhausted and the time until the first frees.
  clock.Advance(absl::Seconds(10));
  absl::Duration free_in;
  auto none = SelectWithinLimits(**pool, *limiter, 1, &free_in);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(free_in, absl::Seconds(50));
  EXPECT_EQ((*pool)->Snapshot().index, 2u) << "a refused selection does not move the pool";
  // A 429 rotates from the key that was really used (C) to the next alive key (A).
  (*pool)->Rotate();
  EXPECT_EQ((*pool)->Snapshot().index, 0u);
  // Dead keys stay skipped; all dead is KeyPool::Select's error.
  clock.Advance(absl::Seconds(50));
  (*pool)->MarkDead("A");
  auto sel = SelectWithinLimits(**pool, *limiter, 1, &free_in);
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->key, "B");
  (*pool)->MarkDead("B");
  (*pool)->MarkDead("C");
  auto dead = SelectWithinLimits(**pool, *limiter, 1, &free_in);
  EXPECT_EQ(dead.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(dead.status().message(),
            "All 3 keys are dead (401/403). Replace keys or wait for provider resolution.");
}

TEST(KeyLimitsTest, TpmSkipsToTheKeyWithRoom) {
  FakeClock clock;
  auto pool = KeyPool::Create({"A", "B"});
  ASSERT_TRUE(pool.ok());
  auto limiter = KeyRateLimiter::Create({0, 1000}, clock);
  absl::Duration free_in;
  auto first = SelectWithinLimits(**pool, *limiter, 700, &free_in);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->key, "A");
  auto small = SelectWithinLimits(**pool, *limiter, 200, &free_in);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->key, "A") << "200 still fits A";
  auto large = SelectWithinLimits(**pool, *limiter, 500, &free_in);
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(large->key, "B");
  EXPECT_EQ(large->skipped, 1);
}

TEST(KeyLimitsTest, ConcurrentReservationsNeverExceedTheLimit) {
  FakeClock clock;
  auto pool = KeyPool::Create({"A", "B", "C"});
  ASSERT_TRUE(pool.ok());
  auto limiter = KeyRateLimiter::Create({50, 0}, clock);
  constexpr int kThreads = 8;
  constexpr int kTries = 200;
  std::atomic<int> granted{0};
  std::atomic<int> refused{0};
  std::vector<std::vector<KeyReservation>> held(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kTries; ++i) {
        absl::Duration free_in;
        auto sel = SelectWithinLimits(**pool, *limiter, 1, &free_in);
        if (sel.ok()) {
          held[t].push_back(std::move(sel->reservation));
          granted.fetch_add(1);
        } else {
          EXPECT_EQ(sel.status().code(), absl::StatusCode::kResourceExhausted);
          refused.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(granted.load(), 150);
  EXPECT_EQ(refused.load(), kThreads * kTries - 150);
  for (const char* k : {"A", "B", "C"}) EXPECT_EQ(Requests(*limiter, k), 50) << k;
}

TEST(KeyLimitsTest, FromEnvReadsEveryProviderAndNamesABadVariable) {
  MapEnv env;
  env.Set("OPENAI_KEY_RPM", "500");
  env.Set("OPENAI_KEY_TPM", " 200000 ");
  env.Set("SNO_GPU_KEY_TPM", "1000");
  env.Set("ANTHROPIC_KEY_RPM", "");  // blank: unset
  env.Set("DEEPSEEK_KEY_RPM", "0");  // 0: no limit
  auto limits = KeyLimitsFromEnv(env);
  ASSERT_TRUE(limits.ok()) << limits.status();
  ASSERT_EQ(limits->size(), 2u);
  EXPECT_EQ(limits->at("openai").rpm, 500);
  EXPECT_EQ(limits->at("openai").tpm, 200000);
  EXPECT_EQ(limits->at("sno-gpu").rpm, 0);
  EXPECT_EQ(limits->at("sno-gpu").tpm, 1000);
  for (const char* bad : {"-1", "1.5", "ten", "1e3", "+5", "2000000000"}) {
    MapEnv e;
    e.Set("ANTHROPIC_KEY_TPM", bad);
    auto r = KeyLimitsFromEnv(e);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("ANTHROPIC_KEY_TPM: expected a whole number", 0), 0u)
        << r.status().message();
  }
}

}  // namespace
}  // namespace llmix::resilience
