// The think and cache stages inside the real pipeline, against a loopback fake provider (and
// a real redis-server for the L2 cases). Time is a FakeClock: TTLs expire without sleeping.
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "pipeline/cache/cache_key.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_builder.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace llmix::pipeline {
namespace {

class CacheStageTest : public ::testing::Test {
 protected:
  CacheStageTest() {
    env_.Set("OPENAI_BASE_URL", fake_.base_url());
    env_.Set("OPENAI_API_KEY", "sk-cache-stage-test");
    state_.l1_cache = std::make_unique<cache::L1Cache>(clock_, cache::L1Options{});
  }

  CallContext& Run(const std::string& config, CacheMode mode = CacheMode::kDefault,
                   const std::string& user = "hi") {
    ctxs_.push_back(std::make_unique<CallContext>());
    CallContext& ctx = *ctxs_.back();
    ctx.input.config_json = config;
    ctx.input.messages = nlohmann::json::array({{{"role", "user"}, {"content", user}}});
    ctx.input.cache_mode = mode;
    absl::Notification completed;
    pipeline_->Run(ctx, [&] { completed.Notify(); });
    EXPECT_TRUE(completed.WaitForNotificationWithTimeout(absl::Seconds(20)));
    return ctx;
  }

  static std::string Config(const std::string& caching, const std::string& common = "") {
    std::string c = R"({"provider":"openai","model":"gpt-4o")";
    if (!caching.empty()) c += R"(,"caching":)" + caching;
    if (!common.empty()) c += R"(,"common":)" + common;
    return c + "}";
  }

  testing::FakeOpenAi fake_;
  FakeClock clock_;
  MapEnv env_;
  Logger logger_{LogLevel::kError};
  NoopTracer tracer_;
  MetricRegistry registry_;
  PipelineMetrics metrics_{registry_};
  adapters::Dispatcher dispatcher_{adapters::DispatcherOptions{}};
  PipelineState state_{PipelineOptions{}, clock_,   env_,        logger_,
                       tracer_,           metrics_, dispatcher_, {}};
  std::unique_ptr<Pipeline> pipeline_ = BuildPipeline(state_);
  std::vector<std::unique_ptr<CallContext>> ctxs_;
  const std::string memory_ = Config(R"({"strategy":"memory"})");
};

TEST_F(CacheStageTest, SecondIdenticalCallIsAnL1HitWithZeroUsageAndNoUpstreamRequest) {
  CallContext& miss = Run(memory_);
  ASSERT_TRUE(miss.result.success) << miss.result.error->message;
  EXPECT_EQ(miss.result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(miss.result.attempts, 1);
  EXPECT_GT(miss.result.usage.input_tokens, 0);

  CallContext& hit = Run(memory_);
  ASSERT_TRUE(hit.result.success);
  EXPECT_EQ(hit.result.cache_tier, CacheTier::kL1);
  EXPECT_EQ(hit.result.content, "fake reply");
  EXPECT_EQ(hit.result.attempts, 0);
  EXPECT_EQ(hit.result.usage.input_tokens, 0);
  EXPECT_EQ(hit.result.usage.output_tokens, 0);
  EXPECT_EQ(hit.result.model, "gpt-4o");
  EXPECT_EQ(hit.request_key, miss.request_key);
  EXPECT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(metrics_.cache_hits.With({"l1"}).value(), 1u);
  EXPECT_EQ(metrics_.cache_misses.value(), 1u);

  // A different message is a different key.
  EXPECT_EQ(Run(memory_, CacheMode::kDefault, "other").result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_F(CacheStageTest, CachesRawTextAndStripsThinkingOnMissAndOnHit) {
  testing::FakeReply reply;
  reply.content = "<think>plan</think>\n Answer";
  fake_.SetDefault(reply);
  CallContext& miss = Run(memory_);
  EXPECT_EQ(miss.result.content, "Answer");
  EXPECT_EQ(miss.result.thinking_content, "plan");
  EXPECT_EQ(state_.l1_cache->Get(miss.request_key), "<think>plan</think>\n Answer");
  CallContext& hit = Run(memory_);
  EXPECT_EQ(hit.result.cache_tier, CacheTier::kL1);
  EXPECT_EQ(hit.result.content, "Answer");
  EXPECT_EQ(hit.result.thinking_content, "plan");

  // keepThinkingOutput does not change the key, and returns the raw text from the same entry.
  const std::string keep = Config(R"({"strategy":"memory"})", R"({"keepThinkingOutput":true})");
  CallContext& kept = Run(keep);
  EXPECT_EQ(kept.result.cache_tier, CacheTier::kL1);
  EXPECT_EQ(kept.result.content, "<think>plan</think>\n Answer");
  EXPECT_FALSE(kept.result.thinking_content.has_value());
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(CacheStageTest, FailuresAndToolCallResultsAreNeverCached) {
  testing::FakeReply error;
  error.status = 400;  // not retried
  fake_.Enqueue(error);
  EXPECT_FALSE(Run(memory_).result.success);
  EXPECT_TRUE(Run(memory_).result.success);  // went upstream again
  EXPECT_EQ(fake_.RequestCount(), 2u);

  testing::FakeReply tool;
  tool.content = "";
  tool.tool_calls = nlohmann::json::parse(
      R"([{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}])");
  fake_.Enqueue(tool);
  const std::string other = Config(R"({"strategy":"memory","ttl":30})", R"({"seed":1})");
  CallContext& first = Run(other);
  ASSERT_TRUE(first.result.success);
  ASSERT_EQ(first.result.tool_calls.size(), 1u);
  CallContext& second = Run(other);
  EXPECT_EQ(second.result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 4u);
}

TEST_F(CacheStageTest, BypassNeitherReadsNorWritesRefreshSkipsTheReadAndWrites) {
  Run(memory_, CacheMode::kBypass);
  EXPECT_EQ(state_.l1_cache->size(), 0u);
  Run(memory_);  // miss, stores
  EXPECT_EQ(Run(memory_, CacheMode::kBypass).result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 3u);

  testing::FakeReply fresh;
  fresh.content = "fresh";
  fake_.Enqueue(fresh);
  CallContext& refreshed = Run(memory_, CacheMode::kRefresh);
  EXPECT_EQ(refreshed.result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(refreshed.result.content, "fresh");
  CallContext& hit = Run(memory_);
  EXPECT_EQ(hit.result.cache_tier, CacheTier::kL1);
  EXPECT_EQ(hit.result.content, "fresh");
  EXPECT_EQ(fake_.RequestCount(), 4u);
}

TEST_F(CacheStageTest, StrategiesThatSkipTheCache) {
  for (const std::string& caching :
       {std::string(), std::string(R"({"strategy":"disabled"})"),
        std::string(R"({"strategy":"native"})"), std::string(R"({"strategy":"gateway"})")}) {
    const size_t before = fake_.RequestCount();
    Run(Config(caching));
    EXPECT_EQ(Run(Config(caching)).result.cache_tier, CacheTier::kNone) << caching;
    EXPECT_EQ(fake_.RequestCount(), before + 2) << caching;
  }
  EXPECT_EQ(state_.l1_cache->size(), 0u);
  // Unknown strategy strings cache in memory (LLMix computes a key for them).
  Run(Config(R"({"strategy":"bogus"})"));
  EXPECT_EQ(Run(Config(R"({"strategy":"bogus"})")).result.cache_tier, CacheTier::kL1);
}

TEST_F(CacheStageTest, EntriesExpireAfterThePresetTtl) {
  const std::string short_ttl = Config(R"({"strategy":"memory","ttl":60})");
  Run(short_ttl);
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(Run(short_ttl).result.cache_tier, CacheTier::kL1);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Run(short_ttl).result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_F(CacheStageTest, StrictRedisWithoutRedisUrlFailsAnInlineCallRedisOrMemoryFallsBack) {
  CallContext& strict = Run(Config(R"({"strategy":"redis"})"));
  EXPECT_TRUE(strict.status.ok());
  ASSERT_FALSE(strict.result.success);
  EXPECT_EQ(strict.result.error->code, CallErrorCode::kConfig);
  EXPECT_NE(strict.result.error->message.find("REDIS_URL"), std::string::npos);
  EXPECT_EQ(fake_.RequestCount(), 0u);

  const std::string best_effort = Config(R"({"strategy":"redis-or-memory"})");
  Run(best_effort);
  EXPECT_EQ(Run(best_effort).result.cache_tier, CacheTier::kL1);
}

TEST_F(CacheStageTest, RedisStrategyWritesL2AndAFreshL1IsBackfilledFromIt) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  cache::RedisL2Options o;
  o.url = redis.url();
  auto l2 = cache::RedisL2::Create(o, clock_, logger_);
  ASSERT_TRUE(l2.ok()) << l2.status();
  state_.l2_cache = std::move(*l2);
  const std::string cfg = Config(R"({"strategy":"redis","ttl":300})");

  testing::FakeReply reply;
  reply.content = "<think>x</think>shared";
  fake_.Enqueue(reply);
  CallContext& miss = Run(cfg);
  EXPECT_EQ(miss.result.content, "shared");
  ASSERT_TRUE(state_.l2_cache->WaitWritesIdle(absl::Seconds(5)));
  auto stored = redis.Get(miss.request_key);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(*stored, R"({"data":"<think>x</think>shared","cached_at":)" +
                         std::to_string(absl::ToUnixSeconds(clock_.Wall())) + "}");

  state_.l1_cache = std::make_unique<cache::L1Cache>(clock_, cache::L1Options{});  // "restart"
  clock_.Advance(absl::Seconds(100));
  CallContext& l2_hit = Run(cfg);
  EXPECT_EQ(l2_hit.result.cache_tier, CacheTier::kL2);
  EXPECT_EQ(l2_hit.result.content, "shared");
  EXPECT_EQ(l2_hit.result.thinking_content, "x");
  EXPECT_EQ(Run(cfg).result.cache_tier, CacheTier::kL1);
  // The backfilled L1 entry lives for the remaining 200 s, not a fresh 300 s.
  clock_.Advance(absl::Seconds(200));
  EXPECT_FALSE(state_.l1_cache->Get(miss.request_key).has_value());
  EXPECT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(metrics_.cache_hits.With({"l2"}).value(), 1u);

  // A memory-strategy call with the same key never touches L2.
  redis.Kill();
  EXPECT_EQ(Run(memory_).result.cache_tier, CacheTier::kNone);
}

}  // namespace
}  // namespace llmix::pipeline
