#include "pipeline/cache/cache_policy.h"

#include <gtest/gtest.h>

namespace llmix::cache {
namespace {

registry::LlmConfig Config(const std::string& json) {
  auto c = registry::ParseLlmConfig(nlohmann::json::parse(json), registry::Strictness::kLenient);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(CachePolicy, StrategiesAsInLlmix) {
  auto s = [](const std::string& caching) {
    return StrategyOf(Config(R"({"provider":"openai","model":"m")" +
                             (caching.empty() ? "" : ",\"caching\":" + caching) + "}"));
  };
  EXPECT_EQ(s(""), CacheStrategy::kNone);
  EXPECT_EQ(s(R"({"strategy":"disabled"})"), CacheStrategy::kNone);
  EXPECT_EQ(s(R"({"strategy":"native"})"), CacheStrategy::kNone);
  EXPECT_EQ(s(R"({"strategy":"gateway"})"), CacheStrategy::kNone);
  EXPECT_EQ(s(R"({"strategy":"memory"})"), CacheStrategy::kMemory);
  EXPECT_EQ(s(R"({"strategy":"redis"})"), CacheStrategy::kRedis);
  EXPECT_EQ(s(R"({"strategy":"redis-or-memory"})"), CacheStrategy::kRedisOrMemory);
  EXPECT_EQ(s(R"({"strategy":"bogus"})"), CacheStrategy::kMemory);  // computes a key too
}

TEST(CachePolicy, TtlFromCachingElseDefault) {
  EXPECT_EQ(CacheTtl(Config(R"({"provider":"openai","model":"m"})")), absl::Seconds(3600));
  EXPECT_EQ(CacheTtl(Config(
                R"({"provider":"openai","model":"m","caching":{"strategy":"memory","ttl":60}})")),
            absl::Seconds(60));
  EXPECT_EQ(CacheTtl(Config(
                R"({"provider":"openai","model":"m","caching":{"strategy":"memory","ttl":0}})")),
            absl::Seconds(3600));
}

TEST(CachePolicy, StrictRedisPresetsNeedRedisUrlAndAreNamed) {
  registry::Snapshot snap;
  auto add = [&](const std::string& id, const std::string& strategy) {
    auto p = std::make_shared<registry::Preset>();
    p->id = id;
    p->config =
        Config(R"({"provider":"openai","model":"m","caching":{"strategy":")" + strategy + "\"}}");
    snap.presets[id] = p;
  };
  add("chat/fast", "memory");
  add("chat/shared", "redis-or-memory");
  EXPECT_TRUE(CheckCacheRequirements(snap, false).ok());
  add("chat/strict", "redis");
  add("aa/strict", "redis");
  absl::Status st = CheckCacheRequirements(snap, false);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("aa/strict, chat/strict"), std::string::npos) << st;
  EXPECT_NE(st.message().find("REDIS_URL"), std::string::npos) << st;
  EXPECT_TRUE(CheckCacheRequirements(snap, true).ok());
}

}  // namespace
}  // namespace llmix::cache
