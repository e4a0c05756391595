// RedisL2 against a real redis-server started by the test (tests/support/redis_server.h).
#include "pipeline/cache/redis_l2.h"

#include <gtest/gtest.h>

#include <chrono>

#include "common/clock.h"
#include "common/telemetry.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace llmix::cache {
namespace {

using llmix::testing::RedisServer;
using llmix::testing::WaitFor;

// --- URL -----------------------------------------------------------------------------------

TEST(RedisUrl, ParsesTheSupportedForms) {
  auto a = ParseRedisUrl("redis://cache.internal:6380");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->is_unix);
  EXPECT_EQ(a->host, "cache.internal");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 0);
  EXPECT_EQ(a->password, "");

  auto b = ParseRedisUrl("redis://:p%40ss:w@10.0.0.1:6379/3");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->username, "");
  EXPECT_EQ(b->password, "p@ss:w");
  EXPECT_EQ(b->host, "10.0.0.1");
  EXPECT_EQ(b->db, 3);

  auto c = ParseRedisUrl("redis://app:secret@localhost");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->username, "app");
  EXPECT_EQ(c->password, "secret");
  EXPECT_EQ(c->port, 6379);

  auto d = ParseRedisUrl("unix:///var/run/redis/redis.sock?db=2");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->is_unix);
  EXPECT_EQ(d->path, "/var/run/redis/redis.sock");
  EXPECT_EQ(d->db, 2);

  auto e = ParseRedisUrl("redis://[::1]:7000");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 7000);
}

TEST(RedisUrl, RejectsWhatItCannotUseWithAClearMessage) {
  for (const char* bad :
       {"", "localhost:6379", "http://x", "redis://", "redis://h:0", "redis://h:99999",
        "redis://h:6379/x", "unix://relative.sock", "redis://:%zz@h"}) {
    auto r = ParseRedisUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().rfind("REDIS_URL: ", 0), 0u) << r.status();
  }
  auto tls = ParseRedisUrl("rediss://h:6380");
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.status().message().find("stunnel"), std::string::npos);
}

TEST(RedisUrl, RedactsThePassword) {
  EXPECT_EQ(RedactRedisUrl("redis://:hunter2@h:1/0"), "redis://:***@h:1/0");
  EXPECT_EQ(RedactRedisUrl("redis://u:hunter2@h"), "redis://u:***@h");
  EXPECT_EQ(RedactRedisUrl("redis://h:1"), "redis://h:1");
}

// --- Value format (CONTRACT §12) -----------------------------------------------------------

TEST(L2Value, EncodesExactlyAsJsonStringify) {
  EXPECT_EQ(EncodeL2Value("Hello", 1700000000), R"({"data":"Hello","cached_at":1700000000})");
  EXPECT_EQ(EncodeL2Value("a\"b\\c\n\t\x01 é 😀 \u2028", 1),
            "{\"data\":\"a\\\"b\\\\c\\n\\t\\u0001 é 😀 \u2028\",\"cached_at\":1}");
}

TEST(L2Value, DecodesLikeLlmix) {
  const absl::Time now = absl::FromUnixSeconds(1700000100);
  auto fresh = DecodeL2Value(R"({"data":"x","cached_at":1700000000})", absl::Seconds(3600), now);
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->data, "x");
  EXPECT_EQ(fresh->remaining_ttl, absl::Seconds(3500));
  auto camel = DecodeL2Value(R"({"cachedAt":1700000090,"data":"y"})", absl::Seconds(60), now);
  ASSERT_TRUE(camel.has_value());
  EXPECT_EQ(camel->remaining_ttl, absl::Seconds(50));
  EXPECT_FALSE(DecodeL2Value(R"({"data":"x","cached_at":1700000000})", absl::Seconds(100), now));
  EXPECT_FALSE(
      DecodeL2Value(R"({"data":{"content":"x"},"cached_at":1700000090})", absl::Seconds(60), now));
  EXPECT_FALSE(DecodeL2Value(R"({"cached_at":1700000090})", absl::Seconds(60), now));
  EXPECT_FALSE(DecodeL2Value("not json", absl::Seconds(60), now));
  EXPECT_FALSE(DecodeL2Value(R"("just a string")", absl::Seconds(60), now));
  auto no_ts = DecodeL2Value(R"({"data":""})", absl::Seconds(60), now);
  ASSERT_TRUE(no_ts.has_value());
  EXPECT_EQ(no_ts->data, "");
  EXPECT_EQ(no_ts->remaining_ttl, absl::Seconds(60));
}

// --- Against a real Redis ------------------------------------------------------------------

class RedisL2Test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.ok()) << redis_.error(); }

  RedisL2Options Options(std::string url) {
    RedisL2Options o;
    o.url = std::move(url);
    o.command_timeout = absl::Milliseconds(200);
    o.connect_timeout = absl::Milliseconds(500);
    o.write_timeout = absl::Milliseconds(500);
    o.reconnect_min = absl::Milliseconds(20);
    o.reconnect_max = absl::Milliseconds(200);
    o.health_interval = absl::Milliseconds(100);
    o.pool_size = 2;
    return o;
  }

  std::unique_ptr<RedisL2> Make(RedisL2Options o) {
    auto l2 = RedisL2::Create(std::move(o), clock_, logger_, metrics_);
    EXPECT_TRUE(l2.ok()) << l2.status();
    return l2.ok() ? std::move(*l2) : nullptr;
  }

  RedisServer redis_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  Logger logger_{LogLevel::kError};
  MetricRegistry registry_;
  CounterFamily& errors_ = registry_.AddCounter("errors", "", {"op"});
  Gauge& up_ = registry_.AddGauge("up", "", {}).With({});
  Counter& drops_ = registry_.AddCounter("drops", "", {}).With({});
  Counter& writes_ = registry_.AddCounter("writes", "", {}).With({});
  RedisL2Metrics metrics_{&errors_.With({"get"}),
                          &errors_.With({"set"}),
                          &errors_.With({"connect"}),
                          &drops_,
                          &writes_,
                          &up_};
};

TEST_F(RedisL2Test, WritesTheLlmixFormatWithTtlAndReadsItBack) {
  auto l2 = Make(Options(redis_.url()));
  ASSERT_TRUE(l2->up());
  EXPECT_EQ(up_.value(), 1);
  ASSERT_TRUE(l2->Put("llmix:resp:abc", "raw <think>t</think> text", absl::Seconds(120)));
  ASSERT_TRUE(l2->WaitWritesIdle(absl::Seconds(5)));
  EXPECT_EQ(redis_.Get("llmix:resp:abc"),
            R"({"data":"raw <think>t</think> text","cached_at":1700000000})");
  auto ttl = redis_.Ttl("llmix:resp:abc");
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(*ttl, 110);
  EXPECT_LE(*ttl, 120);
  EXPECT_EQ(writes_.value(), 1u);

  clock_.Advance(absl::Seconds(20));
  auto e = l2->Get("llmix:resp:abc", absl::Seconds(120));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->data, "raw <think>t</think> text");
  EXPECT_EQ(e->remaining_ttl, absl::Seconds(100));
  EXPECT_FALSE(l2->Get("llmix:resp:missing", absl::Seconds(120)).has_value());
  // Older than the reader's ttl: a miss even though Redis still holds it.
  clock_.Advance(absl::Seconds(100));
  EXPECT_FALSE(l2->Get("llmix:resp:abc", absl::Seconds(120)).has_value());
}

TEST_F(RedisL2Test, ReadsEntriesWrittenByTheTypeScriptLibrary) {
  auto l2 = Make(Options(redis_.url()));
  // JSON.stringify({ data, cachedAt }) from an older LLMix, and a non-string data entry.
  ASSERT_TRUE(redis_.SetEx("llmix:resp:ts", 3600, R"({"data":"from node","cachedAt":1699999990})"));
  ASSERT_TRUE(redis_.SetEx("llmix:resp:obj", 3600, R"({"data":{"x":1},"cached_at":1699999990})"));
  ASSERT_TRUE(redis_.Command({"RPUSH", "llmix:resp:list", "x"}).has_value());
  auto e = l2->Get("llmix:resp:ts", absl::Seconds(3600));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->data, "from node");
  EXPECT_EQ(e->remaining_ttl, absl::Seconds(3590));
  EXPECT_FALSE(l2->Get("llmix:resp:obj", absl::Seconds(3600)).has_value());
  EXPECT_FALSE(l2->Get("llmix:resp:list", absl::Seconds(3600)).has_value());  // WRONGTYPE
  EXPECT_TRUE(l2->up());  // an error reply is not a connection problem
}

TEST_F(RedisL2Test, PasswordDatabaseAndUnixSocket) {
  RedisServer secured(RedisServer::Options{"s3cret"});
  ASSERT_TRUE(secured.ok()) << secured.error();
  auto l2 = Make(Options(secured.url(/*db=*/5)));
  ASSERT_TRUE(l2->up());
  ASSERT_TRUE(l2->Put("k", "in db 5", absl::Seconds(60)));
  ASSERT_TRUE(l2->WaitWritesIdle(absl::Seconds(5)));
  EXPECT_TRUE(secured.Get("k", 5).has_value());
  EXPECT_FALSE(secured.Get("k", 0).has_value());

  RedisL2Options wrong = Options("redis://:nope@127.0.0.1:" + std::to_string(secured.port()));
  auto denied = Make(wrong);
  EXPECT_FALSE(denied->up());

  auto unix_l2 = Make(Options(redis_.unix_url()));
  ASSERT_TRUE(unix_l2->up());
  ASSERT_TRUE(unix_l2->Put("over-unix", "u", absl::Seconds(60)));
  ASSERT_TRUE(unix_l2->WaitWritesIdle(absl::Seconds(5)));
  EXPECT_TRUE(redis_.Get("over-unix").has_value());
}

TEST_F(RedisL2Test, DownAtStartupThenComesUpInTheBackground) {
  redis_.Kill();
  auto l2 = Make(Options(redis_.url()));
  ASSERT_NE(l2, nullptr);
  EXPECT_FALSE(l2->up());
  EXPECT_EQ(up_.value(), 0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(l2->Get("k", absl::Seconds(60)).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  EXPECT_FALSE(l2->Put("k", "v", absl::Seconds(60)));  // dropped, not queued
  EXPECT_EQ(l2->write_drops(), 1u);
  ASSERT_TRUE(redis_.Restart());
  ASSERT_TRUE(WaitFor([&] { return l2->up(); }));
  EXPECT_EQ(up_.value(), 1);
  ASSERT_TRUE(l2->Put("k", "v", absl::Seconds(60)));
  ASSERT_TRUE(l2->WaitWritesIdle(absl::Seconds(5)));
  EXPECT_EQ(l2->Get("k", absl::Seconds(60))->data, "v");
}

TEST_F(RedisL2Test, KilledWhileUpGetsMissQuicklyAndReconnectsAfterRestart) {
  auto l2 = Make(Options(redis_.url()));
  ASSERT_TRUE(l2->up());
  redis_.Kill();
  // The first call after the crash may find out the hard way (bounded by the timeouts);
  // after that L2 is down and reads do not touch the network.
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(l2->Get("k", absl::Seconds(60)).has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
  }
  ASSERT_TRUE(WaitFor([&] { return !l2->up(); }));
  EXPECT_GE(errors_.With({"connect"}).value() + errors_.With({"get"}).value(), 1u);
  ASSERT_TRUE(redis_.Restart());
  ASSERT_TRUE(WaitFor([&] { return l2->up(); }));
  ASSERT_TRUE(l2->Put("k2", "back", absl::Seconds(60)));
  ASSERT_TRUE(l2->WaitWritesIdle(absl::Seconds(5)));
  auto e = l2->Get("k2", absl::Seconds(60));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->data, "back");
}

TEST_F(RedisL2Test, ASlowRedisCostsAtMostTheCommandTimeout) {
  auto l2 = Make(Options(redis_.url()));
  ASSERT_TRUE(l2->up());
  ASSERT_TRUE(redis_.Command({"CLIENT", "PAUSE", "1500", "ALL"}).has_value());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(l2->Get("k", absl::Seconds(60)).has_value());
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::milliseconds(900));  // command timeout is 200 ms
  EXPECT_FALSE(l2->up());
  // Once the pause is over the background thread brings it back.
  ASSERT_TRUE(WaitFor([&] { return l2->up(); }));
}

TEST_F(RedisL2Test, AFullWriteQueueDropsAndCountsInsteadOfBlocking) {
  RedisL2Options o = Options(redis_.url());
  o.write_queue = 2;
  o.write_timeout = absl::Seconds(3);
  auto l2 = Make(o);
  ASSERT_TRUE(l2->up());
  // Stall the writer: Redis accepts no commands for a while.
  ASSERT_TRUE(redis_.Command({"CLIENT", "PAUSE", "1000", "WRITE"}).has_value());
  int accepted = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) accepted += l2->Put("k" + std::to_string(i), "v", absl::Seconds(60));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  EXPECT_LE(accepted, 3);  // the queue (2) plus the one the writer may hold
  EXPECT_EQ(l2->write_drops(), static_cast<uint64_t>(20 - accepted));
  EXPECT_EQ(drops_.value(), static_cast<uint64_t>(20 - accepted));
  ASSERT_TRUE(l2->WaitWritesIdle(absl::Seconds(10)));
  EXPECT_EQ(redis_.Keys("k*").size(), static_cast<size_t>(accepted));
}

}  // namespace
}  // namespace llmix::cache
