// Resilience stages beyond the fixture family: provider kwargs / request kwargs / model
// capability vectors, LLM_GLOBAL_CONCURRENCY vectors, the schedulers, and the waits that must
// not park a thread (backoff vs deadline, cancellation, singleflight followers, AIMD queue),
// all on a FakeClock + FakeScheduler.
#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/notification.h"
#include "common/scheduler.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_builder.h"
#include "pipeline/provider_kwargs.h"
#include "pipeline/resilience/global_concurrency.h"
#include "tests/support/fixtures.h"

namespace llmix::pipeline {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Vectors

MapEnv EnvOf(const json& input) {
  MapEnv env;
  if (input.contains("env") && input["env"].is_object()) {
    for (auto it = input["env"].begin(); it != input["env"].end(); ++it) {
      if (it.value().is_string()) env.Set(it.key(), it.value().get<std::string>());
    }
  }
  return env;
}

TEST(ProviderKwargsVectors, EveryCase) {
  for (const auto& c : testing::LoadFixtureCases("provider_kwargs")) {
    SCOPED_TRACE(c.name);
    const json& ctx = c.input["ctx"];
    KwargsContext k;
    k.provider = c.input["provider"].get<std::string>();
    k.model = ctx.value("model", "");
    if (ctx.contains("baseUrl") && ctx["baseUrl"].is_string()) {
      k.base_url = ctx["baseUrl"].get<std::string>();
    }
    if (ctx.contains("enableThinking") && ctx["enableThinking"].is_boolean()) {
      k.enable_thinking = ctx["enableThinking"].get<bool>();
    }
    k.provider_options = ctx.value("providerOptions", json());
    auto got = ApplyProviderTransform(k, c.input["kwargs"], EnvOf(c.input));
    if (c.expected.contains("error")) {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().message(), c.expected["error"]["message"].get<std::string>());
    } else {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, c.expected["kwargs"]);
    }
  }
}

TEST(RequestKwargsVectors, EveryCase) {
  for (const auto& c : testing::LoadFixtureCases("request_kwargs")) {
    SCOPED_TRACE(c.name);
    auto cfg = registry::ParseLlmConfig(c.input["config"], registry::Strictness::kLenient);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    auto got = BuildRequestKwargs(*cfg, EnvOf(c.input));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.expected["kwargs"]);
  }
}

TEST(ModelCapabilityVectors, GetModelCapabilities) {
  int ran = 0;
  for (const auto& c : testing::LoadFixtureCases("model_capabilities")) {
    if (c.input.value("fn", "") != "getModelCapabilities") continue;  // dispatch's functions
    SCOPED_TRACE(c.name);
    ModelCapabilities caps = GetModelCapabilities(c.input["model"].get<std::string>());
    EXPECT_EQ(caps.is_reasoning_model, c.expected["isReasoningModel"].get<bool>());
    EXPECT_EQ(caps.supports_text_verbosity, c.expected["supportsTextVerbosity"].get<bool>());
    EXPECT_EQ(caps.fixed_temperature, c.expected["fixedTemperature"].get<bool>());
    EXPECT_EQ(caps.model_class, c.expected["modelClass"].get<std::string>());
    EXPECT_EQ(caps.normalized_id, c.expected["normalizedId"].get<std::string>());
    ++ran;
  }
  EXPECT_GT(ran, 0);
}

TEST(ModelCapabilityVectors, FilterOpenAiProviderOptionsAndAdjustTemperature) {
  int ran = 0;
  for (const auto& c : testing::LoadFixtureCases("model_capabilities")) {
    const std::string fn = c.input.value("fn", "");
    SCOPED_TRACE(c.name);
    const std::string model = c.input["model"].get<std::string>();
    if (fn == "filterOpenAIProviderOptions") {
      FilteredOptions got = FilterOpenAiProviderOptions(model, c.input["options"]);
      EXPECT_EQ(got.options, c.expected["filteredOptions"]);
      EXPECT_EQ(got.filtered_params, c.expected["filteredParams"]);
      ++ran;
    } else if (fn == "adjustTemperatureForModel") {
      const json& t = c.input["temperature"];
      AdjustedTemperature got =
          AdjustTemperatureForModel(model, t.is_number() ? std::optional<double>(t.get<double>()) : std::nullopt);
      const json& want = c.expected;
      EXPECT_EQ(got.temperature.has_value(), want["adjustedTemperature"].is_number());
      if (got.temperature) EXPECT_EQ(*got.temperature, want["adjustedTemperature"].get<double>());
      EXPECT_EQ(got.was_adjusted, want["wasAdjusted"].get<bool>());
      EXPECT_EQ(got.original.has_value(), want["originalTemperature"].is_number());
      if (got.original) EXPECT_EQ(*got.original, want["originalTemperature"].get<double>());
      ++ran;
    }
  }
  EXPECT_EQ(ran, 10);
}

TEST(GlobalConcurrencyVectors, CreateFileLockCases) {
  int ran = 0;
  for (const auto& c : testing::LoadFixtureCases("config_validation")) {
    if (c.input.value("fn", "") != "createFileLock") continue;
    SCOPED_TRACE(c.name);
    std::optional<std::string> value;
    const json& v = c.input["env"]["LLM_GLOBAL_CONCURRENCY"];
    if (v.is_string()) value = v.get<std::string>();
    auto got = resilience::ParseGlobalConcurrency(value);
    if (c.expected.contains("error")) {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().message(), c.expected["error"]["message"].get<std::string>());
    } else {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->has_value(), c.expected["enabled"].get<bool>());
    }
    ++ran;
  }
  EXPECT_GT(ran, 0);
  EXPECT_EQ(**resilience::ParseGlobalConcurrency(" 8 "), 8);
  EXPECT_FALSE(resilience::ParseGlobalConcurrency(std::nullopt)->has_value());
  EXPECT_FALSE(resilience::ParseGlobalConcurrency("1.5").ok());
  EXPECT_FALSE(resilience::ParseGlobalConcurrency("-2").ok());
}

// ---------------------------------------------------------------------------------------------
// Schedulers

TEST(FakeSchedulerTest, RunsTimersInDueOrderAndCancels) {
  FakeClock clock;
  FakeScheduler s(clock);
  std::vector<int> ran;
  s.RunAfter(absl::Milliseconds(30), [&] { ran.push_back(30); });
  auto id = s.RunAfter(absl::Milliseconds(10), [&] { ran.push_back(10); });
  s.RunAfter(absl::Milliseconds(20), [&] { ran.push_back(20); });
  EXPECT_TRUE(s.Cancel(id));
  EXPECT_FALSE(s.Cancel(id));
  s.Advance(absl::Milliseconds(25));
  EXPECT_EQ(ran, (std::vector<int>{20}));
  EXPECT_EQ(clock.Monotonic(), absl::Milliseconds(25));
  EXPECT_TRUE(s.RunNext());
  EXPECT_EQ(ran, (std::vector<int>{20, 30}));
  EXPECT_EQ(clock.Monotonic(), absl::Milliseconds(30));
  EXPECT_FALSE(s.RunNext());
  EXPECT_EQ(s.requested().size(), 3u);
}

TEST(ThreadSchedulerTest, FiresAfterTheDelayAndFireAllNowFlushes) {
  SystemClock clock;
  ThreadScheduler s(clock);
  absl::Notification soon, later;
  const absl::Time start = absl::Now();
  s.RunAfter(absl::Milliseconds(20), [&] { soon.Notify(); });
  s.RunAfter(absl::Hours(1), [&] { later.Notify(); });
  ASSERT_TRUE(soon.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(19));
  EXPECT_FALSE(later.HasBeenNotified());
  EXPECT_EQ(s.pending(), 1u);
  s.FireAllNow();  // shutdown: nothing stays parked behind a long timer
  EXPECT_TRUE(later.WaitForNotificationWithTimeout(absl::Seconds(10)));
  s.Shutdown();
  bool inline_run = false;
  s.RunAfter(absl::Hours(1), [&] { inline_run = true; });  // after shutdown: runs at once
  EXPECT_TRUE(inline_run);
}

// ---------------------------------------------------------------------------------------------
// Stage behaviour with fake time

// An adapter whose replies are scripted per call; a reply may block on a gate (to hold a leader
// or a permit mid-flight on another thread).
class GatedAdapter final : public adapters::Adapter {
 public:
  struct Reply {
    int status = 200;
    std::string content = "ok";
    adapters::ResponseHeaders headers;
    absl::Notification* gate = nullptr;
  };
  static Reply R(int status, adapters::ResponseHeaders headers = {},
                 absl::Notification* gate = nullptr, std::string content = "ok") {
    Reply r;
    r.status = status;
    r.headers = std::move(headers);
    r.gate = gate;
    r.content = std::move(content);
    return r;
  }
  void Enqueue(Reply r) {
    absl::MutexLock l(&mu_);
    script_.push_back(std::move(r));
  }
  adapters::ProviderOutcome Send(const adapters::ProviderRequest& req) override {
    Reply r;
    {
      absl::MutexLock l(&mu_);
      ++sent_;
      if (!script_.empty()) {
        r = std::move(script_.front());
        script_.erase(script_.begin());
      }
    }
    if (r.gate != nullptr) r.gate->WaitForNotificationWithTimeout(absl::Seconds(30));
    adapters::ProviderOutcome out;
    out.http_status = r.status;
    out.headers = r.headers;
    if (r.status == 200) {
      out.response.content = r.content;
      return out;
    }
    CallError e;
    const HttpStatusClass cls = ClassifyHttpStatus(r.status);
    e.code = cls.code;
    e.retryable = cls.retryable;
    e.http_status = r.status;
    e.provider = req.provider;
    e.message = "HTTP " + std::to_string(r.status);
    out.error = std::move(e);
    return out;
  }
  int sent() const {
    absl::MutexLock l(&mu_);
    return sent_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Reply> script_;
  int sent_ = 0;
};

class StagesTest : public ::testing::Test {
 protected:
  void Build(ResilienceOptions options = {}) {
    env_.Set("OPENAI_API_KEY", "k1");
    auto r = ResilienceState::Create(options, clock_, env_, &scheduler_, &executor_);
    ASSERT_TRUE(r.ok()) << r.status();
    state_.resilience = std::move(*r);
    state_.resilience->set_random([] { return 0.0; });
    pipeline_ = BuildPipeline(state_);
  }

  // Starts a call; `done` is notified when it finishes (on whatever thread finishes it).
  struct Call {
    CallContext ctx;
    absl::Notification done;
  };
  std::unique_ptr<Call> Start(const std::string& user, std::optional<absl::Duration> timeout) {
    auto call = std::make_unique<Call>();
    call->ctx.input.config_json = R"({"provider":"openai","model":"gpt-4o"})";
    call->ctx.input.messages = json::array({{{"role", "user"}, {"content", user}}});
    call->ctx.input.timeout = timeout;
    call->ctx.result.trace_id = "trace-" + user + std::to_string(calls_++);
    Call* c = call.get();
    pipeline_->Run(c->ctx, [c] { c->done.Notify(); });
    return call;
  }

  int calls_ = 0;
  FakeClock clock_;
  FakeScheduler scheduler_{clock_};
  InlineExecutor executor_;
  MapEnv env_;
  Logger logger_{LogLevel::kError};
  InMemoryTracer tracer_;
  MetricRegistry registry_;
  PipelineMetrics metrics_{registry_};
  GatedAdapter adapter_;
  PipelineState state_{PipelineOptions{}, clock_, env_, logger_, tracer_, metrics_, adapter_, {}};
  std::unique_ptr<Pipeline> pipeline_;
};

TEST_F(StagesTest, BackoffLongerThanTheDeadlineEndsTheCallAtOnce) {
  Build();
  adapter_.Enqueue(GatedAdapter::R(429, {{"retry-after", "30"}}));
  auto call = Start("a", absl::Seconds(5));
  // No timer was set and no time passed: the call ended as soon as the 429 came back.
  ASSERT_TRUE(call->done.HasBeenNotified());
  EXPECT_EQ(call->ctx.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(scheduler_.requested().empty());
  EXPECT_EQ(clock_.Monotonic(), absl::ZeroDuration());
  EXPECT_EQ(adapter_.sent(), 1);
}

TEST_F(StagesTest, RetryAfterIsReportedAndHonouredAsATimer) {
  Build();
  adapter_.Enqueue(GatedAdapter::R(503, {{"retry-after", "2"}}));
  auto call = Start("a", absl::Seconds(60));
  EXPECT_FALSE(call->done.HasBeenNotified());  // parked on a timer, no thread held
  ASSERT_EQ(scheduler_.requested(), (std::vector<absl::Duration>{absl::Seconds(2)}));
  EXPECT_TRUE(scheduler_.RunNext());
  ASSERT_TRUE(call->done.HasBeenNotified());
  EXPECT_TRUE(call->ctx.result.success);
  EXPECT_EQ(call->ctx.result.attempts, 2);
}

TEST_F(StagesTest, FailureCarriesRetryAfterMs) {
  ResilienceOptions o;
  o.retry.max_retries = 0;
  Build(o);
  adapter_.Enqueue(GatedAdapter::R(429, {{"retry-after", "7"}}));
  auto call = Start("a", absl::Seconds(60));
  ASSERT_TRUE(call->done.HasBeenNotified());
  ASSERT_TRUE(call->ctx.result.error.has_value());
  EXPECT_EQ(call->ctx.result.error->code, CallErrorCode::kRateLimited);
  EXPECT_EQ(call->ctx.result.error->retry_after_ms, 7000);
}

TEST_F(StagesTest, CancellationDuringABackoffEndsTheCallWithoutWaiting) {
  Build();
  adapter_.Enqueue(GatedAdapter::R(500));
  auto call = Start("a", absl::Seconds(60));
  ASSERT_FALSE(call->done.HasBeenNotified());
  call->ctx.cancelled = true;
  call->ctx.upstream.cancel.Cancel();
  ASSERT_TRUE(call->done.HasBeenNotified());
  EXPECT_EQ(call->ctx.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(scheduler_.pending(), 0u);
  EXPECT_EQ(adapter_.sent(), 1);
}

TEST_F(StagesTest, IdenticalConcurrentCallsShareOneUpstreamRequest) {
  Build();
  absl::Notification gate;
  adapter_.Enqueue(GatedAdapter::R(200, {}, &gate, "shared"));
  std::unique_ptr<Call> leader;
  std::thread t([&] { leader = Start("same", absl::Seconds(60)); });
  while (adapter_.sent() == 0) std::this_thread::yield();  // the leader is in flight
  std::vector<std::unique_ptr<Call>> followers;
  for (int i = 0; i < 20; ++i) followers.push_back(Start("same", absl::Seconds(60)));
  for (auto& f : followers) EXPECT_FALSE(f->done.HasBeenNotified());
  gate.Notify();
  t.join();
  ASSERT_TRUE(leader->done.HasBeenNotified());
  EXPECT_EQ(adapter_.sent(), 1);
  for (auto& f : followers) {
    ASSERT_TRUE(f->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_TRUE(f->ctx.result.success);
    EXPECT_EQ(f->ctx.result.content, "shared");
    EXPECT_NE(f->ctx.result.trace_id, leader->ctx.result.trace_id);  // their own trace
    EXPECT_TRUE(f->ctx.upstream.follower);
  }
  // One sequence, one breaker outcome: the breaker saw one success, not 21.
  EXPECT_EQ(state_.resilience->breakers().All().size(), 1u);
}

TEST_F(StagesTest, AFollowerStillEndsAtItsOwnDeadline) {
  Build();
  absl::Notification gate;
  adapter_.Enqueue(GatedAdapter::R(200, {}, &gate));
  std::unique_ptr<Call> leader;
  std::thread t([&] { leader = Start("same", absl::Seconds(60)); });
  while (adapter_.sent() == 0) std::this_thread::yield();
  auto follower = Start("same", absl::Seconds(1));
  scheduler_.Advance(absl::Seconds(1));
  ASSERT_TRUE(follower->done.HasBeenNotified());
  EXPECT_EQ(follower->ctx.status.code(), absl::StatusCode::kDeadlineExceeded);
  gate.Notify();
  t.join();
  EXPECT_TRUE(leader->ctx.result.success);
}

TEST_F(StagesTest, AnAimdWaiterIsQueuedNotParkedAndGivesUpAtItsDeadline) {
  ResilienceOptions o;
  o.aimd.initial = 1;
  o.aimd.min_concurrency = 1;
  Build(o);
  absl::Notification gate;
  adapter_.Enqueue(GatedAdapter::R(200, {}, &gate));
  std::unique_ptr<Call> holder;
  std::thread t([&] { holder = Start("one", absl::Seconds(60)); });
  while (adapter_.sent() == 0) std::this_thread::yield();
  // A different request (no singleflight) needs a permit: it waits without a thread.
  auto waiter = Start("two", absl::Seconds(2));
  auto patient = Start("three", absl::Seconds(60));
  EXPECT_FALSE(waiter->done.HasBeenNotified());
  scheduler_.Advance(absl::Seconds(2));
  ASSERT_TRUE(waiter->done.HasBeenNotified());
  EXPECT_EQ(waiter->ctx.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(adapter_.sent(), 1);
  // The holder's release resumes the patient waiter.
  gate.Notify();
  t.join();
  ASSERT_TRUE(patient->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(patient->ctx.result.success);
  EXPECT_EQ(adapter_.sent(), 2);
}

TEST_F(StagesTest, GlobalConcurrencyCapsAllProviders) {
  ResilienceOptions o;
  o.global_concurrency = 1;
  Build(o);
  absl::Notification gate;
  adapter_.Enqueue(GatedAdapter::R(200, {}, &gate));
  std::unique_ptr<Call> holder;
  std::thread t([&] { holder = Start("one", absl::Seconds(60)); });
  while (adapter_.sent() == 0) std::this_thread::yield();
  auto waiter = Start("two", absl::Seconds(60));
  EXPECT_FALSE(waiter->done.HasBeenNotified());
  EXPECT_EQ(adapter_.sent(), 1);
  gate.Notify();
  t.join();
  ASSERT_TRUE(waiter->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(waiter->ctx.result.success);
}

TEST_F(StagesTest, StateSurvivesARebuiltPipeline) {
  ResilienceOptions o;
  o.retry.max_retries = 0;
  o.breaker.failure_threshold = 1;
  Build(o);
  adapter_.Enqueue(GatedAdapter::R(500));
  auto first = Start("a", absl::Seconds(60));
  ASSERT_TRUE(first->done.HasBeenNotified());
  pipeline_ = BuildPipeline(state_);  // a config reload never resets breakers/pools/limits
  auto second = Start("b", absl::Seconds(60));
  ASSERT_TRUE(second->done.HasBeenNotified());
  ASSERT_TRUE(second->ctx.result.error.has_value());
  EXPECT_EQ(second->ctx.result.error->code, CallErrorCode::kCircuitOpen);
  EXPECT_EQ(adapter_.sent(), 1);
}

}  // namespace
}  // namespace llmix::pipeline
