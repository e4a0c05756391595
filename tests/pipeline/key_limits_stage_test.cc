// The key stage with per-key limits, through the real pipeline on a FakeClock + FakeScheduler:
// skip order, the wait for a key (a timer, no parked thread), RATE_LIMITED when no key frees
// before the deadline, cancellation during the wait, settling with the real usage on success,
// failure and retries, the token estimate, and LLMix's behaviour when no limit is configured.
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "common/scheduler.h"
#include "pipeline/key_limits_path.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_builder.h"

namespace llmix::pipeline {
namespace {

using nlohmann::json;

// Scripted replies (status, usage); records the API key of every request.
class KeyRecordingAdapter final : public adapters::Adapter {
 public:
  struct Reply {
    int status = 200;
    int64_t input_tokens = 0;
    int64_t output_tokens = 0;
  };
  void Enqueue(Reply r) {
    absl::MutexLock l(&mu_);
    script_.push_back(r);
  }
  void SetDefault(Reply r) {
    absl::MutexLock l(&mu_);
    default_ = r;
  }
  adapters::ProviderOutcome Send(const adapters::ProviderRequest& req) override {
    Reply r;
    {
      absl::MutexLock l(&mu_);
      keys_.push_back(req.api_key);
      r = default_;
      if (!script_.empty()) {
        r = script_.front();
        script_.erase(script_.begin());
      }
    }
    adapters::ProviderOutcome out;
    out.http_status = r.status;
    if (r.status == 200) {
      out.response.content = "ok";
      out.response.usage.input_tokens = r.input_tokens;
      out.response.usage.output_tokens = r.output_tokens;
      out.response.usage.total_tokens = r.input_tokens + r.output_tokens;
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
  std::vector<std::string> keys() const {
    absl::MutexLock l(&mu_);
    return keys_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Reply> script_;
  Reply default_{200, 10, 5};
  std::vector<std::string> keys_;
};

class KeyLimitsStageTest : public ::testing::Test {
 protected:
  void Build(resilience::KeyLimits limits, std::string keys = "key-A,key-B", int max_retries = 3) {
    env_.Set("OPENAI_KEYS", keys);
    ResilienceOptions o;
    o.retry.max_retries = max_retries;
    o.retry.jitter_ms = 0;
    if (limits.active()) o.key_limits["openai"] = limits;
    auto r = ResilienceState::Create(o, clock_, env_, &scheduler_, &executor_);
    ASSERT_TRUE(r.ok()) << r.status();
    state_.resilience = std::move(*r);
    state_.resilience->set_random([] { return 0.0; });
    pipeline_ = BuildPipeline(state_);
  }
  resilience::KeyRateLimiter& limiter() { return *state_.resilience->key_limiter("openai"); }

  struct Call {
    CallContext ctx;
    bool done = false;
  };
  std::unique_ptr<Call> Start(const std::string& user, absl::Duration timeout,
                              const std::string& common = "") {
    auto call = std::make_unique<Call>();
    call->ctx.input.config_json = R"({"provider":"openai","model":"gpt-4o")" +
                                  (common.empty() ? std::string() : R"(,"common":)" + common) + "}";
    call->ctx.input.messages = json::array({{{"role", "user"}, {"content", user}}});
    call->ctx.input.timeout = timeout;
    call->ctx.input.cache_mode = CacheMode::kBypass;
    call->ctx.result.trace_id = "trace-" + std::to_string(calls_++);
    Call* c = call.get();
    pipeline_->Run(c->ctx, [c] { c->done = true; });
    return call;
  }
  int64_t WindowRequests() {
    int64_t n = 0;
    for (const auto& s : limiter().Stats()) n += s.requests;
    return n;
  }
  int64_t WindowTokens() {
    int64_t n = 0;
    for (const auto& s : limiter().Stats()) n += s.tokens;
    return n;
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
  KeyRecordingAdapter adapter_;
  PipelineState state_{PipelineOptions{}, clock_, env_, logger_, tracer_, metrics_, adapter_, {}};
  std::unique_ptr<Pipeline> pipeline_;
};

// True when a finished span `name` carries `attribute`.
bool HasSpanAttribute(const InMemoryTracer& tracer, const std::string& name,
                      const std::string& attribute) {
  for (const SpanData& s : tracer.Finished()) {
    if (s.name != name) continue;
    for (const auto& [k, v] : s.attributes) {
      if (k == attribute) return true;
    }
  }
  return false;
}

TEST_F(KeyLimitsStageTest, TwoKeysAtRpmTwoServeFourCallsThenTheFifthWaitsForAKey) {
  Build({2, 0});
  for (int i = 0; i < 4; ++i) {
    auto c = Start("call " + std::to_string(i), absl::Seconds(120));
    ASSERT_TRUE(c->done) << i;
    EXPECT_TRUE(c->ctx.result.success) << i;
  }
  EXPECT_EQ(adapter_.keys(), (std::vector<std::string>{"key-A", "key-A", "key-B", "key-B"}));
  clock_.Advance(absl::Seconds(15));
  auto fifth = Start("fifth", absl::Seconds(120));
  EXPECT_FALSE(fifth->done) << "parked on a timer until a key frees";
  ASSERT_EQ(scheduler_.requested(), (std::vector<absl::Duration>{absl::Seconds(45)}));
  EXPECT_EQ(adapter_.keys().size(), 4u) << "no request while every key is at its limit";
  EXPECT_EQ(limiter().waits(), 1);
  ASSERT_TRUE(scheduler_.RunNext());
  ASSERT_TRUE(fifth->done);
  EXPECT_TRUE(fifth->ctx.result.success) << fifth->ctx.result.error->message;
  EXPECT_EQ(adapter_.keys().back(), "key-B") << "B is the current key and freed first too";
  EXPECT_TRUE(HasSpanAttribute(tracer_, "llmix.key", "llmix.key.limit_wait_ms"));
  EXPECT_EQ(limiter().rejects(), 0);
}

TEST_F(KeyLimitsStageTest, NoKeyFreesBeforeTheDeadlineIsRateLimitedWithRetryAfter) {
  Build({2, 0});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Start("c" + std::to_string(i), absl::Seconds(5))->done);
  clock_.Advance(absl::Milliseconds(20500));
  auto fifth = Start("fifth", absl::Seconds(5));
  ASSERT_TRUE(fifth->done) << "fails fast, no timer";
  EXPECT_TRUE(scheduler_.requested().empty());
  ASSERT_TRUE(fifth->ctx.status.ok());
  ASSERT_TRUE(fifth->ctx.result.error.has_value());
  const CallError& e = *fifth->ctx.result.error;
  EXPECT_EQ(e.code, CallErrorCode::kRateLimited);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.retry_after_ms, 39500);
  EXPECT_EQ(e.http_status, 0);
  EXPECT_EQ(e.message,
            "every API key of provider \"openai\" is at its per-key limit (RPM 2); the first "
            "frees in 39500 ms");
  EXPECT_EQ(adapter_.keys().size(), 4u);
  EXPECT_EQ(fifth->ctx.upstream.verdict, SequenceVerdict::kLocal) << "not a breaker failure";
  EXPECT_EQ(limiter().rejects(), 1);
  EXPECT_EQ(limiter().skips(), 3) << "A on call 3, B then A on call 5";
}

TEST_F(KeyLimitsStageTest, CancellationDuringTheWaitEndsTheCallAtOnce) {
  Build({1, 0}, "key-A");
  ASSERT_TRUE(Start("one", absl::Seconds(120))->done);
  auto second = Start("two", absl::Seconds(120));
  ASSERT_FALSE(second->done);
  EXPECT_EQ(scheduler_.pending(), 1u);
  second->ctx.cancelled = true;
  second->ctx.upstream.cancel.Cancel();
  ASSERT_TRUE(second->done);
  EXPECT_EQ(second->ctx.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(scheduler_.pending(), 0u);
  EXPECT_EQ(adapter_.keys().size(), 1u);
  EXPECT_EQ(WindowRequests(), 1) << "the cancelled call reserved nothing";
}

TEST_F(KeyLimitsStageTest, EachAttemptSettlesOnceWithTheRealUsage) {
  Build({100, 100000});
  adapter_.Enqueue({200, 40, 2});
  auto ok = Start("hello", absl::Seconds(60), R"({"maxOutputTokens":500})");
  ASSERT_TRUE(ok->done);
  ASSERT_TRUE(ok->ctx.result.success);
  EXPECT_EQ(WindowRequests(), 1);
  EXPECT_EQ(WindowTokens(), 42) << "the estimate (2 + 500) was replaced by the usage";
  // Two 500s then success: three requests; the failures used no tokens.
  adapter_.Enqueue({500});
  adapter_.Enqueue({500});
  adapter_.Enqueue({200, 7, 3});
  auto retried = Start("retry me", absl::Seconds(60));
  while (!retried->done && scheduler_.RunNext()) {
  }
  ASSERT_TRUE(retried->done);
  EXPECT_TRUE(retried->ctx.result.success);
  EXPECT_EQ(retried->ctx.result.attempts, 3);
  EXPECT_EQ(WindowRequests(), 4);
  EXPECT_EQ(WindowTokens(), 52);
}

TEST_F(KeyLimitsStageTest, ALargeRequestSkipsToTheKeyWithRoom) {
  Build({0, 2000});
  adapter_.SetDefault({200, 1000, 500});  // key-A: 1500 of 2000 used
  ASSERT_TRUE(Start("first", absl::Seconds(60), R"({"maxOutputTokens":100})")->done);
  adapter_.SetDefault({200, 10, 10});
  auto small = Start("small", absl::Seconds(60), R"({"maxOutputTokens":100})");
  ASSERT_TRUE(small->done);
  auto large = Start(std::string(2000, 'x'), absl::Seconds(60), R"({"maxOutputTokens":100})");
  ASSERT_TRUE(large->done);
  EXPECT_TRUE(large->ctx.result.success);
  EXPECT_EQ(adapter_.keys(), (std::vector<std::string>{"key-A", "key-A", "key-B"}));
  EXPECT_TRUE(HasSpanAttribute(tracer_, "llmix.key", "llmix.key.limit_skips"));
}

TEST_F(KeyLimitsStageTest, A429StillRotatesFromTheKeyThatWasUsed) {
  Build({100, 0}, "key-A,key-B,key-C");
  adapter_.Enqueue({429});
  auto c = Start("x", absl::Seconds(60));
  while (!c->done && scheduler_.RunNext()) {
  }
  ASSERT_TRUE(c->done);
  EXPECT_TRUE(c->ctx.result.success);
  EXPECT_EQ(adapter_.keys(), (std::vector<std::string>{"key-A", "key-B"}));
  EXPECT_EQ(WindowRequests(), 2) << "the 429 counts: the provider saw the request";
}

TEST_F(KeyLimitsStageTest, WithoutLimitsTheKeyStageIsLlmixs) {
  Build({});
  EXPECT_EQ(state_.resilience->key_limiter("openai"), nullptr);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Start("c" + std::to_string(i), absl::Seconds(5))->done);
  EXPECT_EQ(adapter_.keys(), std::vector<std::string>(5, "key-A"));
  EXPECT_TRUE(scheduler_.requested().empty());
}

TEST(EstimateCallTokensTest, TextBytesOverFourPlusImagesPlusTheOutputBudget) {
  CallContext ctx;
  ctx.input.messages = json::array(
      {{{"role", "system"}, {"content", std::string(10, 's')}},
       {{"role", "user"},
        {"content", json::array({{{"type", "text"}, {"text", std::string(7, 't')}},
                                 {{"type", "image_url"}, {"image_url", {{"url", "data:..."}}}}})}},
       {{"role", "assistant"},
        {"content", nullptr},
        {"tool_calls", json::array({{{"id", "1"},
                                     {"type", "function"},
                                     {"function", {{"name", "f"}, {"arguments", "{}"}}}}})}}});
  // 10 + 7 + 1 + 2 = 20 bytes -> 5 tokens; one image; no config -> default output.
  EXPECT_EQ(EstimateCallTokens(ctx), 5 + kImageTokenEstimate + kDefaultOutputTokenEstimate);
  registry::LlmConfig cfg;
  cfg.common.max_output_tokens = 256;
  ctx.config = &cfg;
  ctx.input.messages[0]["content"] = std::string(11, 's');  // 21 bytes -> 6 tokens (ceil)
  EXPECT_EQ(EstimateCallTokens(ctx), 6 + kImageTokenEstimate + 256);
}

TEST(ActualCallTokensTest, UsageElseTotalElseTheEstimate) {
  adapters::ProviderOutcome o;
  o.response.usage.input_tokens = 30;
  o.response.usage.output_tokens = 12;
  EXPECT_EQ(ActualCallTokens(o, 999), 42);
  o.response.usage = {};
  o.response.usage.total_tokens = 17;
  EXPECT_EQ(ActualCallTokens(o, 999), 17);
  o.response.usage = {};
  EXPECT_EQ(ActualCallTokens(o, 999), 999);
}

}  // namespace
}  // namespace llmix::pipeline
