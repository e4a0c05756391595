// Response-cache latency and throughput on loopback, through real llmix-sidecar processes:
// a miss (fake OpenAI upstream, then L1 + Redis writes), an L1 hit, and an L2 hit (a second
// sidecar with an empty L1 reading what the first wrote to a local redis-server). Prints
// p50/p99/mean per path and the throughput of L1 hits and of misses from concurrent clients.
//   cache_latency [N]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/redis_server.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = llmix::sidecar::v1;

const char* kConfig =
    R"({"provider":"openai","model":"gpt-4o-mini","caching":{"strategy":"redis","ttl":600}})";

struct Stats {
  double p50_us, p99_us, mean_us;
};

Stats Summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], sum / us.size()};
}

// Sequential calls; `user(i)` picks the message; -1 tier means "any".
bool Measure(llmix::testing::SidecarProcess& s, int n, const std::function<std::string(int)>& user,
             v1::CacheTier want, std::vector<double>* out) {
  for (int i = 0; i < n; ++i) {
    v1::CallResponse r;
    auto t0 = Clock::now();
    auto st = s.Call(llmix::testing::InlineRequest(kConfig, user(i)), &r);
    auto t1 = Clock::now();
    if (!st.ok() || !r.success() || r.cache_hit() != want) {
      std::fprintf(stderr, "call %d: %s tier=%d\n", i, st.error_message().c_str(), r.cache_hit());
      return false;
    }
    out->push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  return true;
}

// Calls per second from `threads` concurrent clients for ~`seconds`.
double Throughput(llmix::testing::SidecarProcess& s, int threads, double seconds,
                  const std::function<std::string(int, int)>& user) {
  std::atomic<long> calls{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        v1::CallResponse r;
        if (s.Call(llmix::testing::InlineRequest(kConfig, user(t, i)), &r).ok() && r.success()) {
          calls.fetch_add(1);
        }
      }
    });
  }
  auto t0 = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a benchmark timer, not a test
  }
  stop = true;
  for (auto& t : ts) t.join();
  return calls.load() / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  llmix::testing::RedisServer redis;
  if (!redis.ok()) {
    std::fprintf(stderr, "%s\n", redis.error().c_str());
    return 1;
  }
  llmix::testing::FakeOpenAi fake;
  std::map<std::string, std::optional<std::string>> env = {{"OPENAI_BASE_URL", fake.base_url()},
                                                           {"OPENAI_API_KEY", "bench-key"},
                                                           {"REDIS_URL", redis.url()}};
  // L1 large enough for the whole run, so every repeat is an L1 hit (no eviction).
  const std::vector<std::string> args = {"--cache-max-entries", "100000"};
  llmix::testing::SidecarProcess a(args, env);
  if (!a.ready()) {
    std::fprintf(stderr, "%s\n", a.error().c_str());
    return 1;
  }
  auto key = [](int i) { return "question " + std::to_string(i); };
  std::vector<double> miss, l1, l2;
  if (!Measure(
          a, 50, [](int i) { return "warmup " + std::to_string(i); }, v1::CACHE_TIER_NONE, &miss)) {
    return 1;
  }
  miss.clear();
  if (!Measure(a, n, key, v1::CACHE_TIER_NONE, &miss)) return 1;
  if (!Measure(a, n, key, v1::CACHE_TIER_L1, &l1)) return 1;
  llmix::testing::SidecarProcess b(args, env);  // empty L1: every first read comes from Redis
  if (!b.ready() || !Measure(b, n, key, v1::CACHE_TIER_L2, &l2)) return 1;

  Stats m = Summarize(miss), h1 = Summarize(l1), h2 = Summarize(l2);
  std::printf("| path (n=%d, sequential, 1 connection) | p50 µs | p99 µs | mean µs |\n", n);
  std::printf("|---|---|---|---|\n");
  std::printf("| miss (fake upstream + cache writes) | %.0f | %.0f | %.0f |\n", m.p50_us, m.p99_us,
              m.mean_us);
  std::printf("| L1 hit | %.0f | %.0f | %.0f |\n", h1.p50_us, h1.p99_us, h1.mean_us);
  std::printf("| L2 hit (Redis GET + L1 backfill) | %.0f | %.0f | %.0f |\n", h2.p50_us, h2.p99_us,
              h2.mean_us);
  const double hit_qps =
      Throughput(a, 8, 2.0, [](int, int i) { return "question " + std::to_string(i % 100); });
  std::atomic<long> seq{0};
  const double miss_qps = Throughput(a, 8, 2.0, [&](int t, int i) {
    return "fresh " + std::to_string(t) + "-" + std::to_string(i) + "-" + std::to_string(seq++);
  });
  std::printf("\nthroughput, 8 concurrent clients: L1 hits %.0f calls/s, misses %.0f calls/s\n",
              hit_qps, miss_qps);
  return 0;
}
