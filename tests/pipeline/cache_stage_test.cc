// The think and cache stages inside the real pipeline, against a loopback fake provider (and
// a real redis-server for the L2 cases). Time is a FakeClock: TTLs expire without sleeping.
#include <gtest/gtest.h>

#include <deque>

#include "absl/synchronization/notification.h"
#include "pipeline/cache/cache_key.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_builder.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace llmix::pipeline {
namespace {

// A worker pool stand-in: keeps handed-off calls until the test runs them, or refuses them
// all (a full queue).
class RecordingHandoff final : public WorkerHandoff {
 public:
  explicit RecordingHandoff(bool refuse = false) : refuse_(refuse) {}
  bool TryHandOff(absl::AnyInvocable<void() &&> task) override {
    ++offered;
    if (refuse_) return false;
    tasks.push_back(std::move(task));
    return true;
  }
  void RunAll() {
    while (!tasks.empty()) {
      absl::AnyInvocable<void() &&> task = std::move(tasks.front());
      tasks.pop_front();
      std::move(task)();
    }
  }
  int offered = 0;
  std::deque<absl::AnyInvocable<void() &&>> tasks;

 private:
  bool refuse_;
};

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

  // Starts a call as a transport thread does (with a hand-off to a worker); `completed` is
  // set when it finishes, here or inside a handed-off task.
  CallContext& Start(const std::string& config, WorkerHandoff& handoff, bool& completed,
                     const std::string& user = "hi") {
    ctxs_.push_back(std::make_unique<CallContext>());
    CallContext& ctx = *ctxs_.back();
    ctx.input.config_json = config;
    ctx.input.messages = nlohmann::json::array({{{"role", "user"}, {"content", user}}});
    ctx.handoff = &handoff;
    completed = false;
    pipeline_->Run(ctx, [&completed] { completed = true; });
    return ctx;
  }

  // Installs an L2 cache on `redis` (a real redis-server).
  void UseRedis(const testing::RedisServer& redis) {
    cache::RedisL2Options o;
    o.url = redis.url();
    auto l2 = cache::RedisL2::Create(o, clock_, logger_);
    ASSERT_TRUE(l2.ok()) << l2.status();
    state_.l2_cache = std::move(*l2);
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
  UseRedis(redis);
  ASSERT_NE(state_.l2_cache, nullptr);
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

TEST_F(CacheStageTest, AnL1HitStaysOnTheStartingThreadAndAMissIsHandedOffOnce) {
  RecordingHandoff miss_handoff;
  bool completed = false;
  CallContext& miss = Start(memory_, miss_handoff, completed);
  // The call stopped at the first stage that needs a worker, before anything went upstream.
  EXPECT_FALSE(completed);
  EXPECT_EQ(miss_handoff.offered, 1);
  EXPECT_EQ(fake_.RequestCount(), 0u);
  miss_handoff.RunAll();
  ASSERT_TRUE(completed);
  EXPECT_EQ(miss_handoff.offered, 1) << "once on a worker, a call stays there";
  EXPECT_EQ(miss.handoff, nullptr);
  ASSERT_TRUE(miss.status.ok()) << miss.status;
  EXPECT_TRUE(miss.result.success);
  EXPECT_EQ(miss.result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 1u);

  RecordingHandoff hit_handoff;
  CallContext& hit = Start(memory_, hit_handoff, completed);
  EXPECT_TRUE(completed) << "an L1 hit finishes on the thread that started it";
  EXPECT_EQ(hit_handoff.offered, 0);
  EXPECT_EQ(hit.result.cache_tier, CacheTier::kL1);
  EXPECT_EQ(hit.result.content, miss.result.content);
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(CacheStageTest, AFullWorkerQueueRefusesAMissButNotAnL1Hit) {
  Run(memory_);  // cached
  RecordingHandoff full(/*refuse=*/true);
  bool completed = false;
  CallContext& hit = Start(memory_, full, completed);
  EXPECT_TRUE(completed);
  EXPECT_TRUE(hit.status.ok());
  EXPECT_EQ(hit.result.cache_tier, CacheTier::kL1);

  CallContext& miss = Start(memory_, full, completed, "not cached");
  EXPECT_TRUE(completed) << "a refused call ends at once";
  EXPECT_EQ(full.offered, 1);
  EXPECT_EQ(miss.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(miss.status.message().find("worker queue is full"), std::string::npos);
  EXPECT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(state_.l1_cache->size(), 1u) << "nothing cached for the refused call";
}

TEST_F(CacheStageTest, TheRedisLookupRunsOnAWorkerAndTheCallStaysThere) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  UseRedis(redis);
  ASSERT_NE(state_.l2_cache, nullptr);
  ASSERT_TRUE(state_.l2_cache->up());
  const std::string cfg = Config(R"({"strategy":"redis","ttl":300})");

  RecordingHandoff miss_handoff;
  bool completed = false;
  CallContext& miss = Start(cfg, miss_handoff, completed);
  EXPECT_FALSE(completed);
  EXPECT_EQ(miss_handoff.offered, 1);
  EXPECT_EQ(metrics_.cache_misses.value(), 0u) << "L2 is read on the worker, not before";
  miss_handoff.RunAll();
  ASSERT_TRUE(completed);
  EXPECT_EQ(miss_handoff.offered, 1);
  EXPECT_EQ(miss.result.cache_tier, CacheTier::kNone);
  ASSERT_TRUE(state_.l2_cache->WaitWritesIdle(absl::Seconds(5)));

  state_.l1_cache = std::make_unique<cache::L1Cache>(clock_, cache::L1Options{});
  RecordingHandoff l2_handoff;
  CallContext& l2_hit = Start(cfg, l2_handoff, completed);
  EXPECT_FALSE(completed);
  l2_handoff.RunAll();
  ASSERT_TRUE(completed);
  EXPECT_EQ(l2_handoff.offered, 1);
  EXPECT_EQ(l2_hit.result.cache_tier, CacheTier::kL2);

  RecordingHandoff l1_handoff;
  CallContext& l1_hit = Start(cfg, l1_handoff, completed);
  EXPECT_TRUE(completed);
  EXPECT_EQ(l1_handoff.offered, 0);
  EXPECT_EQ(l1_hit.result.cache_tier, CacheTier::kL1);
}

}  // namespace
}  // namespace llmix::pipeline
