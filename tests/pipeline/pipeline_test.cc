#include <gtest/gtest.h>

#include <thread>

#include "pipeline/dispatch_stage.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_builder.h"
#include "pipeline/provider_kwargs.h"
#include "pipeline/validate_stage.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::pipeline {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() {
    env_.Set("OPENAI_BASE_URL", fake_.base_url());
    env_.Set("OPENAI_API_KEY", "sk-pipeline-test-key");
  }

  // Runs one call synchronously (the skeleton's stages complete on the calling thread).
  CallContext& Run(CallInput input) {
    ctx_ = std::make_unique<CallContext>();
    ctx_->input = std::move(input);
    ctx_->span = tracer_.StartSpan("call", nullptr, SpanKind::kServer);
    bool completed = false;
    pipeline_->Run(*ctx_, [&] { completed = true; });
    EXPECT_TRUE(completed);
    ctx_->span->End();
    return *ctx_;
  }

  static CallInput Inline(std::string config) {
    CallInput in;
    in.config_json = std::move(config);
    in.messages = nlohmann::json::parse(R"([{"role":"user","content":"hi"}])");
    return in;
  }

  testing::FakeOpenAi fake_;
  FakeClock clock_;
  MapEnv env_;
  Logger logger_{LogLevel::kError};
  InMemoryTracer tracer_;
  MetricRegistry registry_;
  PipelineMetrics metrics_{registry_};
  adapters::Dispatcher dispatcher_{adapters::DispatcherOptions{}};
  PipelineState state_{PipelineOptions{}, clock_, env_, logger_, tracer_, metrics_, dispatcher_, {}};
  std::unique_ptr<Pipeline> pipeline_ = BuildPipeline(state_);
  std::unique_ptr<CallContext> ctx_;
};

TEST_F(PipelineTest, StageOrderLivesInTheBuilder) {
  EXPECT_EQ(pipeline_->StageNames(),
            (std::vector<std::string>{"validate", "resolve", "kill_switch", "json", "think",
                                      "fallback", "cache", "budget", "breaker", "singleflight",
                                      "routing", "respond", "retry", "aimd", "key", "kwargs",
                                      "dispatch"}));
}

TEST_F(PipelineTest, InlineConfigCallSucceedsAndEveryStageHasASpan) {
  CallContext& ctx = Run(Inline(R"({"provider":"openai","model":"gpt-4o"})"));
  ASSERT_TRUE(ctx.status.ok()) << ctx.status;
  ASSERT_TRUE(ctx.result.success) << ctx.result.error->message;
  EXPECT_EQ(ctx.result.content, "fake reply");
  EXPECT_EQ(ctx.result.provider, "openai");
  EXPECT_EQ(ctx.result.model, "gpt-4o");
  EXPECT_EQ(ctx.result.attempts, 1);

  auto spans = tracer_.Finished();
  // Innermost ends first: dispatch, respond, resolve, validate, then the call span.
  std::vector<std::string> names;
  for (const auto& s : spans) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "llmix.dispatch", "llmix.kwargs", "llmix.key", "llmix.aimd",
                       "llmix.retry", "llmix.respond", "llmix.singleflight", "llmix.breaker",
                       "llmix.cache", "llmix.think", "llmix.kill_switch", "llmix.resolve",
                       "llmix.validate", "call"}));
  for (size_t i = 0; i + 1 < spans.size(); ++i) {
    EXPECT_EQ(spans[i].parent_span_id, spans[i + 1].context.span_id) << spans[i].name;
    EXPECT_EQ(spans[i].context.trace_id, spans.back().context.trace_id);
  }
  // The upstream request carries the dispatch span as its parent.
  EXPECT_EQ(fake_.Requests().at(0).headers["traceparent"], spans[0].context.ToTraceparent());
  EXPECT_EQ(metrics_.upstream_requests.With({"openai", "200"}).value(), 1u);
}

TEST_F(PipelineTest, ValidationFailureStopsBeforeUpstream) {
  CallInput in = Inline(R"({"provider":"openai","model":"gpt-4o"})");
  in.messages = nlohmann::json::array();
  CallContext& ctx = Run(std::move(in));
  EXPECT_EQ(ctx.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fake_.RequestCount(), 0u);
}

TEST_F(PipelineTest, UnknownPresetIsNotFound) {
  CallInput in = Inline("");
  in.config_json.reset();
  in.preset = "demo/none";
  CallContext& ctx = Run(std::move(in));
  EXPECT_EQ(ctx.status.code(), absl::StatusCode::kNotFound);
}

TEST_F(PipelineTest, PresetResolvesFromTheSnapshotWithItsBaseUrlAndTimeout) {
  auto snap = std::make_shared<registry::Snapshot>();
  snap->revision = "r1";
  auto preset = std::make_shared<registry::Preset>();
  preset->id = "demo/hello";
  preset->config =
      *registry::ParseLlmConfig(nlohmann::json::parse(
                                    R"({"provider":"openai","model":"gpt-x","timeout":{"totalTime":2}})"),
                                registry::Strictness::kLenient);
  preset->base_url = fake_.base_url();
  snap->presets["demo/hello"] = preset;
  env_.Set("OPENAI_BASE_URL", "http://127.0.0.1:1/unused");
  state_.snapshots.Set(snap);
  CallInput in = Inline("");
  in.config_json.reset();
  in.preset = "demo/hello";
  CallContext& ctx = Run(std::move(in));
  ASSERT_TRUE(ctx.result.success) << ctx.result.error->message;
  EXPECT_EQ(ctx.result.config_revision, "r1");
  EXPECT_EQ(ctx.result.model, "gpt-x");
  EXPECT_EQ(ctx.deadline - clock_.Monotonic(), absl::Seconds(2));
}

TEST_F(PipelineTest, CallerDeadlineWinsAndAnExpiredOneNeverReachesUpstream) {
  CallInput in = Inline(R"({"provider":"openai","model":"m"})");
  in.timeout = absl::ZeroDuration();
  CallContext& ctx = Run(std::move(in));
  EXPECT_EQ(ctx.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(fake_.RequestCount(), 0u);
}

TEST_F(PipelineTest, ResponseFormatFromTheRequestReachesTheProvider) {
  CallInput in = Inline(R"({"provider":"openai","model":"m"})");
  in.response_format_json = R"({"type":"json_object"})";
  Run(std::move(in));
  EXPECT_EQ(fake_.Requests().at(0).json["response_format"]["type"], "json_object");
}

TEST(PipelineKwargs, MapsCommonParamsToSnakeCase) {
  auto cfg = *registry::ParseLlmConfig(nlohmann::json::parse(R"({
      "provider":"openai","model":"m","responseFormat":{"type":"json_object"},
      "common":{"temperature":0.3,"topP":0.8,"maxOutputTokens":64,"seed":5,
                "stopSequences":["END"],"presencePenalty":0.1,"frequencyPenalty":0.2,"topK":4}})"),
                                       registry::Strictness::kLenient);
  EXPECT_EQ(PipelineKwargs(cfg), nlohmann::json::parse(R"({
      "temperature":0.3,"top_p":0.8,"max_tokens":64,"seed":5,"stop":["END"],
      "presence_penalty":0.1,"frequency_penalty":0.2,"top_k":4,
      "response_format":{"type":"json_object"}})"));
  auto bare = *registry::ParseLlmConfig(nlohmann::json::parse(R"({"provider":"openai","model":"m"})"),
                                        registry::Strictness::kLenient);
  EXPECT_EQ(PipelineKwargs(bare), nlohmann::json::object());
}

// Stages may continue later from another thread; the runner must not care.
class DeferToThreadStage final : public Stage {
 public:
  std::string_view name() const override { return "defer"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override {
    std::thread([&ctx, next, done = std::move(done)]() mutable {
      next(ctx, std::move(done));
    }).detach();
  }
};

class MarkStage final : public Stage {
 public:
  std::string_view name() const override { return "mark"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override {
    ctx.result.content = "ran";
    next(ctx, std::move(done));
  }
};

TEST(PipelineRunner, ContinuationsMayResumeOnAnotherThread) {
  InMemoryTracer tracer;
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<DeferToThreadStage>());
  stages.push_back(std::make_unique<MarkStage>());
  Pipeline p(std::move(stages), tracer, nullptr);
  CallContext ctx;
  absl::Mutex mu;
  bool done = false;
  p.Run(ctx, [&] {
    absl::MutexLock l(&mu);
    done = true;
  });
  absl::MutexLock l(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10)));
  EXPECT_EQ(ctx.result.content, "ran");
  EXPECT_EQ(tracer.Finished().size(), 2u);
}

TEST(ValidateStage, ChecksEveryMessage) {
  PipelineOptions opts;
  opts.max_messages = 2;
  CallInput in;
  in.config_json = "{}";
  in.messages = nlohmann::json::parse(R"([{"role":"user","content":"a"},{"role":"user","content":5}])");
  EXPECT_EQ(ValidateStage::Check(in, opts).message(),
            "messages[1].content: expected a string or an array of parts");
  in.messages = nlohmann::json::parse(R"([{"role":"user"},{"role":"user"},{"role":"user"}])");
  EXPECT_EQ(ValidateStage::Check(in, opts).message(), "messages: 3 messages exceed the limit of 2");
  in.messages = nlohmann::json::parse(R"([{"content":"x"}])");
  EXPECT_EQ(ValidateStage::Check(in, opts).message(), "messages[0].role: required");
  in.messages = nlohmann::json::parse(R"([{"role":"user","content":[1]}])");
  EXPECT_EQ(ValidateStage::Check(in, opts).message(), "messages[0].content[0]: expected a part object");
  in.messages = nlohmann::json::parse(R"([{"role":"tool","content":null,"tool_call_id":"x"}])");
  EXPECT_TRUE(ValidateStage::Check(in, opts).ok());
  in.preset = "bad";
  in.config_json.reset();
  EXPECT_EQ(ValidateStage::Check(in, opts).message(),
            "preset: expected \"module/preset\", got \"bad\"");
}

}  // namespace
}  // namespace llmix::pipeline
