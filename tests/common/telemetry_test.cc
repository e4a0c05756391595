#include "common/telemetry.h"

#include <gtest/gtest.h>

namespace llmix {
namespace {

TEST(SpanContext, TraceparentRoundTrip) {
  auto ctx = SpanContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(ctx.valid());
  EXPECT_TRUE(ctx.sampled);
  EXPECT_EQ(ctx.TraceIdHex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ctx.SpanIdHex(), "00f067aa0ba902b7");
  EXPECT_EQ(ctx.ToTraceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

TEST(SpanContext, RejectsMalformedTraceparent) {
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"}) {
    EXPECT_FALSE(SpanContext::FromTraceparent(bad).valid()) << bad;
  }
}

TEST(InMemoryTracer, ChildSpansShareTraceAndLinkParent) {
  InMemoryTracer tracer;
  auto root = tracer.StartSpan("root", nullptr, SpanKind::kServer);
  auto child = tracer.StartSpan("child", &root->context());
  child->SetAttribute("llmix.attempt", int64_t{2});
  child->End();
  root->End();
  auto spans = tracer.Finished();
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].name, "child");
  EXPECT_EQ(spans[0].context.trace_id, spans[1].context.trace_id);
  EXPECT_EQ(spans[0].parent_span_id, spans[1].context.span_id);
  ASSERT_EQ(spans[0].attributes.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(spans[0].attributes[0].second), 2);
}

TEST(Metrics, CounterFamilyChildrenAreStable) {
  MetricRegistry reg;
  auto& calls = reg.AddCounter("llmix_calls_total", "Calls", {"outcome"});
  Counter& ok = calls.With({"ok"});
  ok.Add();
  calls.With({"ok"}).Add(2);
  calls.With({"error"}).Add();
  EXPECT_EQ(&ok, &calls.With({"ok"}));
  EXPECT_EQ(ok.value(), 3u);
  EXPECT_EQ(calls.Children().size(), 2u);
}

TEST(Metrics, HistogramBuckets) {
  Histogram h({0.1, 1, 10});
  h.Observe(0.05);
  h.Observe(0.1);  // le=0.1 is inclusive
  h.Observe(5);
  h.Observe(50);
  auto s = h.Read();
  EXPECT_EQ(s.counts, (std::vector<uint64_t>{2, 0, 1, 1}));
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.sum, 55.15);
}

}  // namespace
}  // namespace llmix
