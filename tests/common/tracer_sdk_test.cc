// The recording tracer: sampler rules, the batch processor's bounded queue (drops and counts,
// never blocks), flush and shutdown against slow and failing exporters, attribute truncation,
// and the label-cardinality backstop of metric families.
#include "common/tracer_sdk.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

namespace llmix {
namespace {

std::array<uint8_t, 16> TraceIdWithLow64(uint64_t low) {
  std::array<uint8_t, 16> id{};
  id[0] = 1;
  for (int i = 15; i >= 8; --i, low >>= 8) id[i] = static_cast<uint8_t>(low & 0xff);
  return id;
}

TEST(Sampler, ParsesEveryStandardNameAndNamesTheVariableOnErrors) {
  struct Case {
    const char* name;
    const char* arg;
    Sampler::Root root;
    bool parent_based;
    double ratio;
  } cases[] = {
      {"", "", Sampler::Root::kAlwaysOn, true, 1.0},
      {"parentbased_always_on", "", Sampler::Root::kAlwaysOn, true, 1.0},
      {"always_on", "", Sampler::Root::kAlwaysOn, false, 1.0},
      {" Always_Off ", "", Sampler::Root::kAlwaysOff, false, 0.0},
      {"parentbased_always_off", "", Sampler::Root::kAlwaysOff, true, 0.0},
      {"traceidratio", "0.25", Sampler::Root::kRatio, false, 0.25},
      {"parentbased_traceidratio", "", Sampler::Root::kRatio, true, 1.0},
  };
  for (const Case& c : cases) {
    auto s = Sampler::Parse(c.name, c.arg);
    ASSERT_TRUE(s.ok()) << c.name << ": " << s.status();
    EXPECT_EQ(s->root, c.root) << c.name;
    EXPECT_EQ(s->parent_based, c.parent_based) << c.name;
    EXPECT_DOUBLE_EQ(s->ratio, c.ratio) << c.name;
  }
  auto unknown = Sampler::Parse("sometimes", "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("OTEL_TRACES_SAMPLER:"), std::string::npos);
  for (const char* bad : {"1.5", "-0.1", "half", "nan"}) {
    auto s = Sampler::Parse("traceidratio", bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("OTEL_TRACES_SAMPLER_ARG"), std::string::npos) << bad;
  }
}

TEST(Sampler, RatioDecidesOnTheLow64BitsOfTheTraceId) {
  auto s = Sampler::Parse("traceidratio", "0.25");
  ASSERT_TRUE(s.ok());
  constexpr uint64_t kStep = ~uint64_t{0} / 1000;
  int sampled = 0;
  for (uint64_t k = 0; k < 1000; ++k)
    sampled += s->ShouldSample(nullptr, TraceIdWithLow64(k * kStep + kStep / 2));
  EXPECT_EQ(sampled, 250);  // exactly the ids below a quarter of the range
  // The same id gets the same answer everywhere (a pure function of the id).
  EXPECT_TRUE(s->ShouldSample(nullptr, TraceIdWithLow64(0)));
  EXPECT_FALSE(s->ShouldSample(nullptr, TraceIdWithLow64(~uint64_t{0})));
  auto none = Sampler::Parse("traceidratio", "0");
  EXPECT_FALSE(none->ShouldSample(nullptr, TraceIdWithLow64(0)));
}

TEST(Sampler, ParentBasedFollowsTheCallersFlag) {
  SpanContext sampled_parent = ChildSpanContext(nullptr, true);
  SpanContext unsampled_parent = ChildSpanContext(nullptr, false);
  ASSERT_TRUE(sampled_parent.valid() && unsampled_parent.valid());
  auto off = *Sampler::Parse("parentbased_always_off", "");
  auto on = *Sampler::Parse("parentbased_always_on", "");
  auto always_on = *Sampler::Parse("always_on", "");
  const auto id = TraceIdWithLow64(42);
  EXPECT_TRUE(off.ShouldSample(&sampled_parent, id));
  EXPECT_FALSE(off.ShouldSample(nullptr, id));
  EXPECT_FALSE(on.ShouldSample(&unsampled_parent, id));
  EXPECT_TRUE(on.ShouldSample(nullptr, id));
  EXPECT_TRUE(always_on.ShouldSample(&unsampled_parent, id));
  SpanContext invalid;
  EXPECT_TRUE(on.ShouldSample(&invalid, id));  // an invalid parent is no parent
}

SpanData NamedSpan(const std::string& name) {
  SpanData d;
  d.name = name;
  d.context = ChildSpanContext(nullptr);
  return d;
}

// Blocks inside Export until released; records what it was given.
class GatedExporter final : public SpanExporter {
 public:
  bool Export(const std::vector<SpanData>& batch, absl::Duration) override {
    std::unique_lock<std::mutex> l(mu_);
    ++calls_;
    entered_.notify_all();
    cv_.wait(l, [&] { return open_ || aborted_; });
    if (aborted_) return false;
    for (const SpanData& d : batch) names_.push_back(d.name);
    batch_sizes_.push_back(batch.size());
    return succeed_;
  }
  void Abort() override {
    std::lock_guard<std::mutex> l(mu_);
    aborted_ = true;
    cv_.notify_all();
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitEntered(int calls) {
    std::unique_lock<std::mutex> l(mu_);
    return entered_.wait_for(l, std::chrono::seconds(10), [&] { return calls_ >= calls; });
  }
  void set_succeed(bool v) {
    std::lock_guard<std::mutex> l(mu_);
    succeed_ = v;
  }
  std::vector<std::string> names() {
    std::lock_guard<std::mutex> l(mu_);
    return names_;
  }
  std::vector<size_t> batch_sizes() {
    std::lock_guard<std::mutex> l(mu_);
    return batch_sizes_;
  }
  bool aborted() {
    std::lock_guard<std::mutex> l(mu_);
    return aborted_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_, entered_;
  bool open_ = false, aborted_ = false, succeed_ = true;
  int calls_ = 0;
  std::vector<std::string> names_;
  std::vector<size_t> batch_sizes_;
};

BatchOptions SlowSchedule(size_t queue, size_t batch) {
  BatchOptions o;
  o.max_queue_size = queue;
  o.max_export_batch_size = batch;
  o.schedule_delay = absl::Hours(1);  // only a full batch or a flush wakes the exporter
  o.export_timeout = absl::Seconds(5);
  return o;
}

TEST(BatchSpanProcessor, FullQueueDropsAndCountsInsteadOfBlocking) {
  auto owned = std::make_unique<GatedExporter>();
  GatedExporter& exporter = *owned;
  BatchSpanProcessor p(std::move(owned), SlowSchedule(4, 2));
  p.OnEnd(NamedSpan("a"));
  p.OnEnd(NamedSpan("b"));  // a full batch: the exporter takes it and blocks
  ASSERT_TRUE(exporter.WaitEntered(1));
  for (const char* n : {"c", "d", "e", "f"}) p.OnEnd(NamedSpan(n));  // fills the queue
  for (const char* n : {"g", "h", "i"}) p.OnEnd(NamedSpan(n));       // dropped at once
  SpanCounts c = p.Counts();
  EXPECT_EQ(c.dropped_queue_full, 3u);
  EXPECT_EQ(c.queued, 4u);
  EXPECT_EQ(c.exported, 0u);

  exporter.Open();
  EXPECT_TRUE(p.ForceFlush(absl::Seconds(10)));
  c = p.Counts();
  EXPECT_EQ(c.exported, 6u);
  EXPECT_EQ(c.queued, 0u);
  EXPECT_EQ(exporter.names(), (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
  for (size_t n : exporter.batch_sizes()) EXPECT_LE(n, 2u);  // max_export_batch_size holds
}

TEST(BatchSpanProcessor, ScheduleDelayExportsAPartialBatch) {
  auto owned = std::make_unique<GatedExporter>();
  GatedExporter& exporter = *owned;
  exporter.Open();
  BatchOptions o = SlowSchedule(16, 8);
  o.schedule_delay = absl::Milliseconds(10);
  BatchSpanProcessor p(std::move(owned), o);
  p.OnEnd(NamedSpan("lonely"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (p.Counts().exported == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(p.Counts().exported, 1u);
  EXPECT_EQ(exporter.names(), std::vector<std::string>{"lonely"});
}

TEST(BatchSpanProcessor, FailedExportsAreCountedAndFlushSaysSo) {
  auto owned = std::make_unique<GatedExporter>();
  GatedExporter& exporter = *owned;
  exporter.set_succeed(false);
  exporter.Open();
  BatchSpanProcessor p(std::move(owned), SlowSchedule(16, 8));
  for (int i = 0; i < 5; ++i) p.OnEnd(NamedSpan("x"));
  EXPECT_FALSE(p.ForceFlush(absl::Seconds(10)));
  SpanCounts c = p.Counts();
  EXPECT_EQ(c.failed, 5u);
  EXPECT_EQ(c.exported, 0u);
  exporter.set_succeed(true);
  p.OnEnd(NamedSpan("y"));
  EXPECT_TRUE(p.ForceFlush(absl::Seconds(10)));
  EXPECT_EQ(p.Counts().exported, 1u);
}

TEST(BatchSpanProcessor, ShutdownAbortsAHungExportAndDropsLaterSpans) {
  auto owned = std::make_unique<GatedExporter>();
  GatedExporter& exporter = *owned;
  BatchSpanProcessor p(std::move(owned), SlowSchedule(16, 1));
  p.OnEnd(NamedSpan("stuck"));
  ASSERT_TRUE(exporter.WaitEntered(1));  // never opened: hangs until aborted
  const auto start = std::chrono::steady_clock::now();
  p.Shutdown(absl::Milliseconds(50));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(exporter.aborted());
  p.OnEnd(NamedSpan("late"));
  SpanCounts c = p.Counts();
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(c.dropped_queue_full, 1u);
  EXPECT_EQ(c.exported, 0u);
}

TEST(ExportingTracer, UnsampledSpansCarryIdsButRecordNothing) {
  InMemoryTracer sink;
  TracerOptions o;
  o.sampler = *Sampler::Parse("always_off", "");
  ExportingTracer tracer(o, sink);
  auto root = tracer.StartSpan("root", nullptr, SpanKind::kServer);
  EXPECT_TRUE(root->context().valid());
  EXPECT_FALSE(root->context().sampled);
  auto child = tracer.StartSpan("child", &root->context());
  EXPECT_EQ(child->context().trace_id, root->context().trace_id);
  EXPECT_NE(child->context().span_id, root->context().span_id);
  child->End();
  root->End();
  EXPECT_TRUE(sink.Finished().empty());
}

TEST(ExportingTracer, ContinuesTheCallersTraceAndCutsLongValuesAtACharacter) {
  InMemoryTracer sink;
  TracerOptions o;
  o.max_attribute_value_bytes = 5;
  ExportingTracer tracer(o, sink);
  const SpanContext caller =
      SpanContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  auto span = tracer.StartSpan("call", &caller, SpanKind::kServer);
  span->SetAttribute("ascii", std::string("abcdefgh"));
  span->SetAttribute("utf8", std::string("abcd\xc3\xa9"));  // "abcdé": é would straddle byte 5
  span->SetAttribute("short", std::string("ok"));
  span->SetAttribute("n", int64_t{7});
  span->End();
  auto spans = sink.Finished();
  ASSERT_EQ(spans.size(), 1u);
  const SpanData& d = spans[0];
  EXPECT_EQ(d.context.trace_id, caller.trace_id);
  EXPECT_EQ(d.parent_span_id, caller.span_id);
  EXPECT_EQ(d.kind, SpanKind::kServer);
  std::map<std::string, AttributeValue> attrs(d.attributes.begin(), d.attributes.end());
  EXPECT_EQ(std::get<std::string>(attrs["ascii"]), "abcde");
  EXPECT_EQ(std::get<std::string>(attrs["utf8"]), "abcd");
  EXPECT_EQ(std::get<std::string>(attrs["short"]), "ok");
  EXPECT_EQ(std::get<int64_t>(attrs["n"]), 7);
  EXPECT_LE(d.start_unix_nanos, d.end_unix_nanos);
}

TEST(Metrics, FamiliesCapTheirChildrenUnderOneOtherLabel) {
  MetricRegistry reg;
  auto& f = reg.AddCounter("llmix_test_total", "Test", {"preset"});
  const size_t extra = 10;
  for (size_t i = 0; i < CounterFamily::kMaxChildren + extra; ++i) {
    f.With({"p" + std::to_string(i)}).Add();
  }
  auto children = f.Children();
  EXPECT_EQ(children.size(), CounterFamily::kMaxChildren + 1);
  uint64_t other = 0;
  for (const auto& [labels, c] : children) {
    if (labels == std::vector<std::string>{"_other"}) other = c->value();
  }
  EXPECT_EQ(other, extra);
  EXPECT_EQ(f.With({"p0"}).value(), 1u);  // existing children keep their own series
}

}  // namespace
}  // namespace llmix
