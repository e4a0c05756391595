// Runs every case of the `aimd` fixture family (semaphore ops with each acquire's fate and the
// counters checked after every op, and parseOpenAIRatelimitHeaders), plus cancellation,
// re-entrancy and bounded multi-thread tests of the non-blocking semaphore.
#include "pipeline/resilience/aimd_limiter.h"

#include <algorithm>
#include <atomic>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/pipeline/resilience/resilience_test_util.h"
#include "tests/support/fixtures.h"

namespace llmix::resilience {
namespace {

using nlohmann::json;
using testing::Field;
using testing::IsAbsent;
using testing::SameNumber;

// What the fixture records per acquire: "pending", "granted" or "rejected: <message>".
class AcquireLog {
 public:
  size_t Add() {
    absl::MutexLock lock(&mu_);
    fates_.push_back("pending");
    return fates_.size() - 1;
  }
  void Resolve(size_t id, const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(fates_[id], "pending") << "acquire " << id << " resolved twice";
    fates_[id] = status.ok() ? "granted" : "rejected: " + std::string(status.message());
  }
  std::vector<std::string> fates() const {
    absl::MutexLock lock(&mu_);
    return fates_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> fates_;
};

void ExpectAfter(const AdaptiveSemaphore& sem, const AcquireLog& log, const json& after) {
  const AdaptiveSemaphoreSnapshot s = sem.Snapshot();
  EXPECT_EQ(s.window, after.at("window").get<int>());
  EXPECT_EQ(sem.window(), after.at("window").get<int>());
  EXPECT_EQ(s.permits, after.at("permits").get<int>());
  EXPECT_EQ(s.queued, after.at("queued").get<size_t>());
  EXPECT_EQ(s.has_header_signal, after.at("hasHeaderSignal").get<bool>());
  EXPECT_EQ(s.closed, after.at("closed").get<bool>());
  EXPECT_EQ(sem.closed(), after.at("closed").get<bool>());
  std::vector<std::string> want;
  for (const json& f : after.at("acquires")) want.push_back(f.get<std::string>());
  EXPECT_EQ(log.fates(), want);
}

void RunSemaphoreCase(const json& in, const json& want) {
  AimdOptions options;
  if (const json* ctor = Field(in, "ctor")) {
    if (ctor->size() > 0 && !IsAbsent((*ctor)[0])) options.initial = (*ctor)[0].get<int>();
    if (ctor->size() > 1 && !IsAbsent((*ctor)[1])) options.min_concurrency = (*ctor)[1].get<int>();
  }
  AcquireLog log;  // declared first: the semaphore's destructor rejects waiters into it
  absl::StatusOr<std::unique_ptr<AdaptiveSemaphore>> created = AdaptiveSemaphore::Create(options);
  if (const json* error = Field(want, "error")) {
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(error->at("type"), "Error");
    EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(created.status().message(), error->at("message").get<std::string>());
    return;
  }
  ASSERT_TRUE(created.ok()) << created.status();
  AdaptiveSemaphore& sem = **created;
  EXPECT_EQ(sem.max_concurrency(), want.at("max").get<int>());
  EXPECT_EQ(sem.min_concurrency(), want.at("min").get<int>());

  const json& ops = in.at("ops");
  const json& steps = want.at("steps");
  ASSERT_EQ(ops.size(), steps.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i) + " " + ops[i].dump());
    const std::string op = ops[i].at(0).get<std::string>();
    const json& step = steps[i];
    ASSERT_EQ(step.at("op"), op);
    if (op == "acquire") {
      const size_t id = log.Add();
      EXPECT_EQ(id, step.at("acquireId").get<size_t>());
      sem.Acquire([&log, id](absl::Status s) { log.Resolve(id, s); });
    } else if (op == "release") {
      sem.Release();
    } else if (op == "success") {
      sem.OnSuccess();
    } else if (op == "rate_limit") {
      sem.OnRateLimit();
    } else if (op == "header") {
      sem.OnHeaders(ops[i].at(1).get<double>(), ops[i].at(2).get<double>());
    } else if (op == "close") {
      sem.Close();
    } else {
      FAIL() << "unknown op " << op;
    }
    ExpectAfter(sem, log, step.at("after"));
  }
}

void RunHeadersCase(const json& in, const json& want) {
  absl::flat_hash_map<std::string, std::string> headers;
  for (const auto& [name, value] : in.at("headers").items()) {
    if (!IsAbsent(value)) headers[name] = value.get<std::string>();
  }
  const std::optional<RateLimitInfo> got = ParseRateLimitHeaders(headers);
  const json& result = want.at("result");
  if (IsAbsent(result)) {
    EXPECT_FALSE(got.has_value());
    return;
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(SameNumber(got->remaining, result.at("remaining").get<double>()));
  EXPECT_TRUE(SameNumber(got->limit, result.at("limit").get<double>()));
}

TEST(AimdFixturesTest, EveryCase) {
  const auto cases = llmix::testing::LoadFixtureCases("aimd");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.input.contains("fn")) {
      ASSERT_EQ(c.input.at("fn"), "parseOpenAIRatelimitHeaders");
      RunHeadersCase(c.input, c.expected);
    } else {
      RunSemaphoreCase(c.input, c.expected);
    }
  }
}

std::unique_ptr<AdaptiveSemaphore> MakeSemaphore(int initial, int min) {
  return std::move(AdaptiveSemaphore::Create({initial, min})).value();
}

TEST(AdaptiveSemaphoreTest, CancelRemovesOnlyQueuedWaiters) {
  std::vector<absl::Status> results;
  auto sem = MakeSemaphore(1, 1);
  const auto record = [&results](absl::Status s) { results.push_back(std::move(s)); };
  const auto held = sem->Acquire(record);
  const auto waiting = sem->Acquire(record);
  const auto behind = sem->Acquire(record);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(sem->Cancel(held));  // already granted: the holder still owns the permit
  EXPECT_TRUE(sem->Cancel(waiting));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(sem->Cancel(waiting));  // exactly once
  EXPECT_EQ(sem->Snapshot().queued, 1u);
  sem->Release();  // goes to `behind`, skipping the cancelled waiter
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[2].ok());
  EXPECT_FALSE(sem->Cancel(behind));
  EXPECT_TRUE(sem->Cancel(sem->Acquire(record), absl::CancelledError("caller gone")));
  EXPECT_EQ(results.back().code(), absl::StatusCode::kCancelled);
  sem->Release();
  EXPECT_EQ(sem->Snapshot().permits, 1);
}

// Callbacks run outside the lock, so they may call back into the semaphore.
TEST(AdaptiveSemaphoreTest, CallbacksMayReenter) {
  auto sem = MakeSemaphore(1, 1);
  int granted = 0;
  std::function<void(absl::Status)> chain = [&](absl::Status s) {
    ASSERT_TRUE(s.ok());
    ++granted;
    (void)sem->Snapshot();
    sem->Release();  // hands the permit straight to the next queued waiter
  };
  sem->Acquire([&](absl::Status s) { ++granted; });  // holds the only permit
  for (int i = 0; i < 5; ++i) sem->Acquire(chain);
  EXPECT_EQ(sem->Snapshot().queued, 5u);
  sem->Release();
  EXPECT_EQ(granted, 6);
  EXPECT_EQ(sem->Snapshot().permits, 1);
  EXPECT_EQ(sem->Snapshot().queued, 0u);
}

// Header-driven growth is LLMix's: each grown slot is one release() judged against the old
// window, so with every permit free the new slots are absorbed, while queued waiters are woken.
TEST(AdaptiveSemaphoreTest, HeaderGrowthFollowsLlmix) {
  auto sem = MakeSemaphore(16, 2);
  sem->OnHeaders(0, 100);
  EXPECT_EQ(sem->Snapshot().window, 2);
  sem->OnHeaders(5, 100);  // target floor(2 + 0.5 * 14) = 9
  AdaptiveSemaphoreSnapshot s = sem->Snapshot();
  EXPECT_EQ(s.window, 9);
  EXPECT_EQ(s.permits, 2);

  auto busy = MakeSemaphore(16, 2);
  busy->OnHeaders(0, 100);
  int granted = 0;
  for (int i = 0; i < 5; ++i) busy->Acquire([&](absl::Status st) { granted += st.ok(); });
  EXPECT_EQ(granted, 2);
  busy->OnHeaders(5, 100);
  EXPECT_EQ(granted, 5);  // three waiters woken by the growth
  EXPECT_EQ(busy->Snapshot().window, 9);
}

TEST(AdaptiveSemaphoreTest, ParseIntSemantics) {
  EXPECT_EQ(JsParseInt("  42px"), 42);
  EXPECT_EQ(JsParseInt("\xC2\xA0-7"), -7);
  EXPECT_EQ(JsParseInt("+3"), 3);
  EXPECT_TRUE(std::isnan(JsParseInt("abc")));
  EXPECT_TRUE(std::isnan(JsParseInt("-")));
  EXPECT_TRUE(std::signbit(JsParseInt("-0")));
  EXPECT_EQ(JsParseInt("99999999999999999999"), 1e20);
  EXPECT_FALSE(ParseRateLimitHeaders(std::string_view("5"), std::string_view("0")).has_value());
  EXPECT_FALSE(ParseRateLimitHeaders(std::string_view("x"), std::string_view("10")).has_value());
  EXPECT_FALSE(ParseRateLimitHeaders(std::nullopt, std::string_view("10")).has_value());
}

TEST(LimiterRegistryTest, PerProviderAndCloseAll) {
  EXPECT_EQ(LimiterRegistry::Create({0, 1}).status().message(), "initial must be >= 1");
  EXPECT_EQ(LimiterRegistry::Create({4, 0}).status().message(), "minConcurrency must be >= 1");
  auto registry = std::move(LimiterRegistry::Create({2, 1})).value();
  AdaptiveSemaphore& a = registry->Get("openai");
  AdaptiveSemaphore& b = registry->Get("anthropic");
  EXPECT_NE(&a, &b);
  EXPECT_EQ(&registry->Get("openai"), &a);
  EXPECT_EQ(a.max_concurrency(), 2);
  absl::Status last;
  for (int i = 0; i < 3; ++i) a.Acquire([&](absl::Status s) { last = s; });
  registry->CloseAll();
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(last.message(), "AdaptiveSemaphore is closed");
  EXPECT_TRUE(b.closed());
}

// Shared bookkeeping for the multi-thread tests: every waiter must resolve exactly once.
struct StressState {
  explicit StressState(size_t n) : resolved(n) {}
  std::vector<std::atomic<int>> resolved;
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  absl::Mutex mu;
  std::vector<int> held ABSL_GUARDED_BY(mu);  // ids holding a permit
};

// 8 threads x 300 acquires (some cancelled as if their deadline passed) on a window of 4 with
// no feedback: at most 4 holders at any time, every waiter resolved exactly once, and all
// permits back at the end.
TEST(AdaptiveSemaphoreTest, ConcurrentAcquireReleaseCancel) {
  constexpr int kThreads = 8, kPerThread = 300, kWindow = 4;
  StressState st(kThreads * kPerThread);
  auto sem = MakeSemaphore(kWindow, 1);
  std::atomic<int> cancelled{0};
  const auto on_grant = [&](int id) {
    return [&, id](absl::Status s) {
      st.resolved[id].fetch_add(1);
      if (!s.ok()) return;
      const int now = st.in_flight.fetch_add(1) + 1;
      int prev = st.max_in_flight.load();
      while (now > prev && !st.max_in_flight.compare_exchange_weak(prev, now)) {
      }
      absl::MutexLock lock(&st.mu);
      st.held.push_back(id);
    };
  };
  const auto release_one = [&]() {
    {
      absl::MutexLock lock(&st.mu);
      if (st.held.empty()) return false;
      st.held.pop_back();
    }
    st.in_flight.fetch_sub(1);
    sem->Release();
    return true;
  };
  std::latch start(8);  // release all 8 threads at once for maximum overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        const AdaptiveSemaphore::Ticket ticket = sem->Acquire(on_grant(id));
        if (i % 7 == 3 && sem->Cancel(ticket)) cancelled.fetch_add(1);
        if (i % 2 == 1) release_one();
        const AdaptiveSemaphoreSnapshot s = sem->Snapshot();
        EXPECT_LE(s.permits, s.window);
        EXPECT_EQ(s.window, kWindow);
      }
    });
  }
  for (auto& th : threads) th.join();
  // Drain: every release hands the permit to a queued waiter or frees it.
  for (int guard = 0; guard < kThreads * kPerThread * 2 && release_one(); ++guard) {
  }
  for (size_t id = 0; id < st.resolved.size(); ++id) {
    ASSERT_EQ(st.resolved[id].load(), 1) << "waiter " << id;
  }
  EXPECT_LE(st.max_in_flight.load(), kWindow);
  EXPECT_EQ(st.in_flight.load(), 0);
  const AdaptiveSemaphoreSnapshot s = sem->Snapshot();
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.permits, kWindow);
  EXPECT_GT(cancelled.load(), 0);
}

// Same shape with window feedback from every thread: the counters stay within bounds, nothing
// deadlocks, and Close() resolves whatever is still queued.
TEST(AdaptiveSemaphoreTest, ConcurrentFeedbackKeepsBounds) {
  constexpr int kThreads = 8, kPerThread = 250;
  StressState st(kThreads * kPerThread);
  auto sem = MakeSemaphore(8, 2);
  const auto on_grant = [&](int id) {
    return [&, id](absl::Status s) {
      st.resolved[id].fetch_add(1);
      if (!s.ok()) return;
      absl::MutexLock lock(&st.mu);
      st.held.push_back(id);
    };
  };
  const auto release_one = [&]() {
    {
      absl::MutexLock lock(&st.mu);
      if (st.held.empty()) return false;
      st.held.pop_back();
    }
    sem->Release();
    return true;
  };
  std::latch start(8);  // release all 8 threads at once for maximum overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        sem->Acquire(on_grant(t * kPerThread + i));
        switch ((i + t) % 5) {
          case 0:
            sem->OnSuccess();
            break;
          case 1:
            sem->OnRateLimit();
            break;
          case 2:
            sem->OnHeaders((i * 7) % 100, 100);
            break;
          default:
            release_one();
        }
        const AdaptiveSemaphoreSnapshot s = sem->Snapshot();
        EXPECT_LE(s.permits, s.window);
        EXPECT_GE(s.window, 2);
        EXPECT_LE(s.window, 8);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int guard = 0; guard < kThreads * kPerThread * 2 && release_one(); ++guard) {
  }
  sem->Close();
  for (size_t id = 0; id < st.resolved.size(); ++id) {
    ASSERT_EQ(st.resolved[id].load(), 1) << "waiter " << id;
  }
  EXPECT_EQ(sem->Snapshot().queued, 0u);
}

}  // namespace
}  // namespace llmix::resilience
