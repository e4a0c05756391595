// The json stage through the real pipeline against a loopback fake provider: no span (and no
// cost) without a task; with one, its span and the call span say how many repairs it took and
// whether the reply was valid, and the totals cover every attempt.
#include <gtest/gtest.h>

#include "pipeline/pipeline.h"
#include "pipeline/pipeline_builder.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::pipeline {
namespace {

std::optional<AttributeValue> Attribute(const SpanData& span, const std::string& key) {
  for (const auto& [k, v] : span.attributes) {
    if (k == key) return v;
  }
  return std::nullopt;
}

class JsonStageTest : public ::testing::Test {
 protected:
  JsonStageTest() {
    env_.Set("OPENAI_BASE_URL", fake_.base_url());
    env_.Set("OPENAI_API_KEY", "sk-json-stage-test");
  }

  CallContext& Run(std::optional<JsonTaskInput> task) {
    ctx_ = std::make_unique<CallContext>();
    ctx_->input.config_json = R"({"provider":"openai","model":"gpt-4o"})";
    ctx_->input.messages = nlohmann::json::parse(R"([{"role":"user","content":"hi"}])");
    ctx_->input.json_task = std::move(task);
    ctx_->span = tracer_.StartSpan("call", nullptr, SpanKind::kServer);
    bool completed = false;
    pipeline_->Run(*ctx_, [&] { completed = true; });
    EXPECT_TRUE(completed);
    ctx_->span->End();
    return *ctx_;
  }

  std::vector<SpanData> Spans(const std::string& name) {
    std::vector<SpanData> out;
    for (auto& s : tracer_.Finished()) {
      if (s.name == name) out.push_back(s);
    }
    return out;
  }

  testing::FakeOpenAi fake_;
  FakeClock clock_;
  MapEnv env_;
  Logger logger_{LogLevel::kError};
  InMemoryTracer tracer_;
  MetricRegistry registry_;
  PipelineMetrics metrics_{registry_};
  adapters::Dispatcher dispatcher_{adapters::DispatcherOptions{}};
  PipelineState state_{PipelineOptions{}, clock_,   env_,        logger_,
                       tracer_,           metrics_, dispatcher_, {}};
  std::unique_ptr<Pipeline> pipeline_ = BuildPipeline(state_);
  std::unique_ptr<CallContext> ctx_;
};

TEST_F(JsonStageTest, NoTaskNoSpan) {
  CallContext& ctx = Run(std::nullopt);
  ASSERT_TRUE(ctx.result.success);
  EXPECT_FALSE(ctx.result.json.has_value());
  EXPECT_TRUE(Spans("llmix.json").empty());
  EXPECT_FALSE(Attribute(Spans("call").at(0), "llmix.json.valid").has_value());
}

TEST_F(JsonStageTest, SpansCarryRepairsAndValidityAndTotalsCoverEveryAttempt) {
  testing::FakeReply bad;
  bad.content = "{\"n\": \"one\"}";
  testing::FakeReply good;
  good.content = "{\"n\": 1}";
  fake_.Enqueue(bad);
  fake_.Enqueue(good);
  CallContext& ctx = Run(JsonTaskInput{R"({"properties":{"n":{"type":"number"}}})", 1});
  ASSERT_TRUE(ctx.status.ok()) << ctx.status;
  ASSERT_TRUE(ctx.result.success);
  EXPECT_EQ(ctx.result.json, "{\"n\":1}");
  EXPECT_EQ(ctx.result.json_repairs, 1);
  EXPECT_EQ(ctx.result.attempts, 2);
  EXPECT_EQ(ctx.result.usage.output_tokens, 6);
  ASSERT_EQ(Spans("llmix.json").size(), 1u);
  EXPECT_EQ(Spans("llmix.think").size(), 2u) << "think runs inside json, once per attempt";
  for (const SpanData& s : {Spans("llmix.json").at(0), Spans("call").at(0)}) {
    EXPECT_EQ(Attribute(s, "llmix.json.repairs"), AttributeValue(int64_t{1})) << s.name;
    EXPECT_EQ(Attribute(s, "llmix.json.valid"), AttributeValue(true)) << s.name;
  }
  EXPECT_EQ(metrics_.json_tasks.With({"inline", "valid"}).value(), 1u);
  EXPECT_EQ(metrics_.json_repairs.With({"inline"}).value(), 1u);

  // max_repairs 0 and an invalid reply: one attempt, not valid.
  fake_.Enqueue(bad);
  CallContext& failed = Run(JsonTaskInput{R"({"properties":{"n":{"type":"number"}}})", 0});
  EXPECT_FALSE(failed.result.success);
  EXPECT_EQ(failed.result.error->code, CallErrorCode::kJsonInvalid);
  EXPECT_EQ(failed.result.error->message,
            "JSON task failed after 0 repairs: the reply does not match the schema: "
            "/n: expected number, got string");
  EXPECT_EQ(failed.result.content, "{\"n\": \"one\"}");
  EXPECT_EQ(Attribute(Spans("llmix.json").back(), "llmix.json.valid"), AttributeValue(false));
  EXPECT_EQ(metrics_.json_tasks.With({"inline", "invalid"}).value(), 1u);
}

}  // namespace
}  // namespace llmix::pipeline
