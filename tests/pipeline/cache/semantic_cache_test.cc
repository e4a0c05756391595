// The semantic cache's index: cosine over unit vectors, threshold, scopes, LRU, TTL on fake
// time, the byte budget, and the Redis element format.
#include "pipeline/cache/semantic_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace llmix::cache {
namespace {

class SemanticIndexTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  SemanticIndex index_{clock_, SemanticIndexOptions{}};
};

TEST(SemanticVectors, NormalizedIsUnitLengthAndRejectsZeroAndNonFinite) {
  std::vector<float> u = Normalized({3, 4});
  ASSERT_EQ(u.size(), 2u);
  EXPECT_FLOAT_EQ(u[0], 0.6f);
  EXPECT_FLOAT_EQ(u[1], 0.8f);
  EXPECT_FLOAT_EQ(Dot(u, u), 1.0f);
  EXPECT_TRUE(Normalized({0, 0}).empty());
  EXPECT_TRUE(Normalized({}).empty());
  EXPECT_TRUE(Normalized({1, NAN}).empty());
  EXPECT_TRUE(Normalized({1, INFINITY}).empty());
  EXPECT_EQ(Dot({1, 0}, {1, 0, 0}), 0.0f);  // dimensions differ: no match
}

TEST(SemanticVectors, RedisElementRoundTripsAndRejectsGarbage) {
  std::vector<float> u = Normalized({1, 2, 3});
  std::string e = EncodeSemanticEntry("llmix:resp:abc", u);
  EXPECT_EQ(e.size(), std::string("llmix:resp:abc").size() + 1 + 12);
  std::optional<DecodedSemanticEntry> d = DecodeSemanticEntry(e);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->response_key, "llmix:resp:abc");
  ASSERT_EQ(d->unit.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(d->unit[i], u[i]);
  EXPECT_FALSE(DecodeSemanticEntry("no separator").has_value());
  EXPECT_FALSE(DecodeSemanticEntry(std::string("k\0abc", 5)).has_value());  // not 4n bytes
  EXPECT_FALSE(DecodeSemanticEntry(std::string("\0abcd", 5)).has_value());  // no key
  // A foreign vector that is not unit length is normalised, so it never scores above 1.
  std::string big = EncodeSemanticEntry("k", {2, 0});
  EXPECT_FLOAT_EQ(DecodeSemanticEntry(big)->unit[0], 1.0f);
}

TEST_F(SemanticIndexTest, BestMatchAboveTheThresholdWithItsSimilarity) {
  index_.Insert("s", Normalized({1, 0, 0}), "k1", "paris", absl::Hours(1), 10);
  index_.Insert("s", Normalized({0, 1, 0}), "k2", "berlin", absl::Hours(1), 10);
  float best = 0;
  std::optional<SemanticMatch> m = index_.Lookup("s", Normalized({1, 0.1f, 0}), 0.95f, &best);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->response_key, "k1");
  EXPECT_EQ(m->text, "paris");
  EXPECT_NEAR(m->similarity, 1 / std::sqrt(1.01), 1e-6);
  EXPECT_FLOAT_EQ(best, m->similarity);

  // Below the threshold: a miss that still reports the best similarity.
  EXPECT_FALSE(index_.Lookup("s", Normalized({1, 1, 0}), 0.95f, &best).has_value());
  EXPECT_NEAR(best, std::sqrt(0.5), 1e-6);
  // Exactly at the threshold is a hit (t <= similarity).
  EXPECT_TRUE(index_.Lookup("s", Normalized({1, 0, 0}), 1.0f).has_value());
}

TEST_F(SemanticIndexTest, ScopesAreIsolated) {
  index_.Insert("a", Normalized({1, 0}), "k1", "from a", absl::Hours(1), 10);
  float best = 0;
  EXPECT_FALSE(index_.Lookup("b", Normalized({1, 0}), 0.5f, &best).has_value());
  EXPECT_EQ(best, -1.0f);
  EXPECT_TRUE(index_.Lookup("a", Normalized({1, 0}), 0.5f).has_value());
  EXPECT_TRUE(index_.Contains("a", "k1"));
  EXPECT_FALSE(index_.Contains("b", "k1"));
}

TEST_F(SemanticIndexTest, EntriesExpireOnTheClock) {
  index_.Insert("s", Normalized({1, 0}), "k1", "old", absl::Seconds(10), 10);
  clock_.Advance(absl::Seconds(9));
  EXPECT_TRUE(index_.Lookup("s", Normalized({1, 0}), 0.9f).has_value());
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(index_.Lookup("s", Normalized({1, 0}), 0.9f).has_value());
  EXPECT_EQ(index_.size(), 0u);  // collected by the lookup that met it
  EXPECT_EQ(index_.bytes(), 0u);
  index_.Insert("s", Normalized({1, 0}), "k1", "v", absl::ZeroDuration(), 10);  // not stored
  EXPECT_EQ(index_.size(), 0u);
}

TEST_F(SemanticIndexTest, MaxEntriesPerScopeEvictsTheLeastRecentlyUsed) {
  index_.Insert("s", Normalized({1, 0, 0}), "k1", "1", absl::Hours(1), 2);
  index_.Insert("s", Normalized({0, 1, 0}), "k2", "2", absl::Hours(1), 2);
  ASSERT_TRUE(index_.Lookup("s", Normalized({1, 0, 0}), 0.9f).has_value());  // k1 now recent
  index_.Insert("s", Normalized({0, 0, 1}), "k3", "3", absl::Hours(1), 2);
  EXPECT_EQ(index_.size(), 2u);
  EXPECT_TRUE(index_.Contains("s", "k1"));
  EXPECT_FALSE(index_.Contains("s", "k2"));
  EXPECT_TRUE(index_.Contains("s", "k3"));
  EXPECT_EQ(index_.evictions(), 1u);
  // Another scope has its own count.
  index_.Insert("t", Normalized({0, 1, 0}), "k2", "2", absl::Hours(1), 2);
  EXPECT_EQ(index_.size(), 3u);
}

TEST_F(SemanticIndexTest, SameResponseKeyReplacesAndEraseForgets) {
  index_.Insert("s", Normalized({1, 0}), "k1", "first", absl::Hours(1), 10);
  index_.Insert("s", Normalized({1, 0}), "k1", "second", absl::Hours(1), 10);
  EXPECT_EQ(index_.size(), 1u);
  EXPECT_EQ(index_.Lookup("s", Normalized({1, 0}), 0.9f)->text, "second");
  index_.Erase("s", "k1");
  EXPECT_EQ(index_.size(), 0u);
  EXPECT_EQ(index_.bytes(), 0u);
}

TEST(SemanticIndexBudget, BytesStayBoundedAndTheLeastRecentScopeLosesEntriesFirst) {
  FakeClock clock;
  // One shard of 64 KiB; each entry charges ~128 + 1024*4 + keys: about 15 fit.
  SemanticIndex index(clock, SemanticIndexOptions{64 << 10, 1});
  std::vector<float> v(1024, 1.0f);
  const std::vector<float> unit = Normalized(v);
  index.Insert("old", unit, "keep-me-not", "x", absl::Hours(1), 100000);
  for (int i = 0; i < 1000; ++i) {  // bounded load
    index.Insert("hot", unit, "k" + std::to_string(i), "text", absl::Hours(1), 100000);
    ASSERT_LE(index.bytes(), size_t{64 << 10});
  }
  EXPECT_FALSE(index.Contains("old", "keep-me-not"));
  EXPECT_TRUE(index.Contains("hot", "k999"));
  EXPECT_FALSE(index.Contains("hot", "k0"));
  EXPECT_GT(index.evictions(), 900u);
  EXPECT_GE(index.size(), 10u);
  // An entry larger than a shard's budget is not stored at all.
  index.Insert("huge", std::vector<float>(100000, 0.1f), "k", "", absl::Hours(1), 10);
  EXPECT_FALSE(index.Contains("huge", "k"));
}

TEST_F(SemanticIndexTest, TenThousandEntriesOfAScopeAreSearchedBruteForce) {
  // 10k 64-d entries (the documented default maxEntries), then the one that matches.
  for (int i = 0; i < 10000; ++i) {
    std::vector<float> v(64, 0.0f);
    v[i % 63] = 1.0f;
    v[63] = static_cast<float>(i % 2);
    index_.Insert("s", Normalized(v), "k" + std::to_string(i), "t", absl::Hours(1), 10000);
  }
  EXPECT_EQ(index_.size(), 10000u);
  std::vector<float> q(64, 0.0f);
  q[5] = 1.0f;  // entries with i%63 == 5 and even i are exactly q
  std::optional<SemanticMatch> m = index_.Lookup("s", Normalized(q), 0.999f);
  ASSERT_TRUE(m.has_value());
  EXPECT_FLOAT_EQ(m->similarity, 1.0f);
}

}  // namespace
}  // namespace llmix::cache
