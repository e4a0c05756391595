// Fault matrix, Redis rows: down at start, killed mid-load and restarted, slow (DEBUG SLEEP).
// The L2 cache is an optimisation: no Redis fault may fail a call or hold it past the Redis
// timeout, and the sidecar uses Redis again once it is back.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/fakes/fake_openai.h"
#include "tests/faults/fault_support.h"
#include "tests/support/redis_server.h"

namespace llmix::testing {
namespace {

using std::chrono::milliseconds;

const std::string kConfig = OpenAiConfig(R"({"strategy":"redis","ttl":600})");

std::unique_ptr<SidecarProcess> Start(FakeOpenAi& fake, const RedisServer& redis) {
  auto s = std::make_unique<SidecarProcess>(
      std::vector<std::string>{"--redis-timeout-ms", "100", "--workers", "8"},
      std::map<std::string, std::optional<std::string>>{{"OPENAI_BASE_URL", fake.base_url()},
                                                        {"OPENAI_API_KEY", "sk-fault-redis"},
                                                        {"REDIS_URL", redis.url()}});
  EXPECT_TRUE(s->ready()) << s->error();
  return s;
}

// True when a PING to 127.0.0.1:port is answered within `within` (Redis is not stalled).
bool Answers(int port, milliseconds within) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool answered = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
    pollfd p{fd, POLLIN, 0};
    answered = ::poll(&p, 1, static_cast<int>(within.count())) == 1;
  }
  ::close(fd);
  return answered;
}

std::function<v1::CallRequest(int, int)> Unique(const std::string& tag) {
  return [tag](int t, int i) { return InlineRequest(kConfig, absl::StrCat(tag, t, "-", i)); };
}

TEST(FaultMatrix, RedisDownAtStartCostsNoCallAndIsUsedOnceItComesUp) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  redis.Kill();
  FakeOpenAi fake;
  auto s = Start(fake, redis);
  const Tally t = RunCalls(*s, 4, 5, Unique("down-"), std::chrono::seconds(10));
  EXPECT_EQ(t.Count("success"), 20) << t.ToString();
  EXPECT_LT(t.slowest, milliseconds(2000)) << t.ToString();
  EXPECT_EQ(Metric(*s, "llmix_cache_l2_up"), 0);

  ASSERT_TRUE(redis.Restart());
  EXPECT_TRUE(WaitFor([&] { return Metric(*s, "llmix_cache_l2_up") == 1; }, milliseconds(20000)));
  v1::CallResponse r;
  ASSERT_TRUE(s->Call(InlineRequest(kConfig, "after redis came up"), &r).ok());
  EXPECT_TRUE(r.success());
  EXPECT_TRUE(WaitFor([&] { return !redis.Keys("*").empty(); })) << "the entry reached Redis";
}

TEST(FaultMatrix, RedisKilledMidLoadAndRestartedCostsNoCall) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  FakeOpenAi fake;
  auto s = Start(fake, redis);
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  Tally t;
  std::thread load([&] {
    // Bounded: at most 40 rounds of 4 x 5 calls, until the main thread has seen Redis back.
    for (int round = 0; round < 40 && !stop.load(); ++round) {
      const Tally part =
          RunCalls(*s, 4, 5, Unique(absl::StrCat("mid-", round, "-")), std::chrono::seconds(10));
      for (const auto& [k, v] : part.outcomes) t.outcomes[k] += v;
      t.calls += part.calls;
      t.slowest = std::max(t.slowest, part.slowest);
      started.fetch_add(1);
    }
  });
  ASSERT_TRUE(WaitFor([&] { return started.load() >= 2; }));
  redis.Kill();
  const int at_kill = started.load();
  EXPECT_TRUE(WaitFor([&] { return started.load() >= at_kill + 2; }));
  EXPECT_TRUE(redis.Restart());
  EXPECT_TRUE(WaitFor([&] { return Metric(*s, "llmix_cache_l2_up") == 1; }, milliseconds(20000)));
  const double writes = Metric(*s, "llmix_cache_l2_writes_total");
  EXPECT_TRUE(WaitFor([&] { return Metric(*s, "llmix_cache_l2_writes_total") > writes; }))
      << "writes resume after the restart";
  stop = true;
  load.join();
  EXPECT_EQ(t.Count("success"), t.calls) << t.ToString();
  EXPECT_LT(t.slowest, milliseconds(2000)) << t.ToString();
  EXPECT_GT(Metric(*s, "llmix_cache_l2_write_drops_total") +
                Metric(*s, R"(llmix_cache_l2_errors_total{op="get"})") +
                Metric(*s, R"(llmix_cache_l2_errors_total{op="set"})"),
            0)
      << "the outage is visible in the counters";
}

TEST(FaultMatrix, RedisSlowDoesNotHoldCallsPastTheRedisTimeout) {
  RedisServer::Options options;
  options.debug_command = true;
  RedisServer redis(options);
  ASSERT_TRUE(redis.ok()) << redis.error();
  FakeOpenAi fake;
  auto s = Start(fake, redis);
  ASSERT_TRUE(WaitFor([&] { return Metric(*s, "llmix_cache_l2_up") == 1; }));
  std::thread sleeper([&] { redis.Command({"DEBUG", "SLEEP", "3"}); });
  ASSERT_TRUE(WaitFor([&] { return !Answers(redis.port(), milliseconds(200)); }))
      << "Redis never went into DEBUG SLEEP";
  const Tally t = RunCalls(*s, 4, 2, Unique("slow-redis-"), std::chrono::seconds(10));
  sleeper.join();
  EXPECT_EQ(t.Count("success"), 8) << t.ToString();
  EXPECT_LT(t.slowest, milliseconds(1000)) << "calls do not wait for a stalled Redis";
  EXPECT_GT(Metric(*s, R"(llmix_cache_l2_errors_total{op="get"})"), 0);
}

}  // namespace
}  // namespace llmix::testing
