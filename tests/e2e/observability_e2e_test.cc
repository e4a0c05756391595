// End-to-end observability: the real binary exporting spans over OTLP (gRPC and HTTP) to a
// loopback collector, the span tree of a miss, a cache hit, a retried call and a failure, the
// caller's trace continued, no API key anywhere in the payload; /metrics checked by promtool
// and its counters against what the calls did; a dead collector never costs a call.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/fakes/otlp_receiver.h"

namespace llmix::testing {
namespace {

constexpr char kKey[] = "sk-obs-secret-key-0123456789";
constexpr char kConfig[] =
    R"({"provider":"openai","model":"gpt-4o-mini","caching":{"strategy":"memory"}})";
const std::vector<std::string> kMissChain = {"llmix.sidecar.v1.Llmix/Call",
                                             "llmix.validate",
                                             "llmix.resolve",
                                             "llmix.kill_switch",
                                             "llmix.think",
                                             "llmix.cache",
                                             "llmix.breaker",
                                             "llmix.singleflight",
                                             "llmix.respond",
                                             "llmix.retry",
                                             "llmix.aimd",
                                             "llmix.key",
                                             "llmix.kwargs",
                                             "llmix.dispatch"};

using Span = otlp::trace::v1::Span;

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

const otlp::common::v1::AnyValue* Attr(const Span& s, const std::string& key) {
  for (const auto& kv : s.attributes()) {
    if (kv.key() == key) return &kv.value();
  }
  return nullptr;
}
std::string StrAttr(const Span& s, const std::string& key) {
  const auto* v = Attr(s, key);
  return v != nullptr ? v->string_value() : "<unset>";
}
int64_t IntAttr(const Span& s, const std::string& key) {
  const auto* v = Attr(s, key);
  return v != nullptr ? v->int_value() : -1;
}
std::optional<bool> BoolAttr(const Span& s, const std::string& key) {
  const auto* v = Attr(s, key);
  if (v == nullptr || !v->has_bool_value()) return std::nullopt;
  return v->bool_value();
}

// The spans of one trace, indexed for walking the tree.
struct Trace {
  std::vector<Span> spans;
  const Span* root = nullptr;
  std::vector<const Span*> Children(const Span& parent) const {
    std::vector<const Span*> out;
    for (const Span& s : spans) {
      if (s.parent_span_id() == parent.span_id()) out.push_back(&s);
    }
    std::sort(out.begin(), out.end(), [](const Span* a, const Span* b) {
      return a->start_time_unix_nano() < b->start_time_unix_nano();
    });
    return out;
  }
  const Span* Find(const std::string& name, int nth = 0) const {
    for (const Span& s : spans) {
      if (s.name() == name && nth-- == 0) return &s;
    }
    return nullptr;
  }
  // Names from the root down, following the only child at each level (fails on a fork).
  std::vector<std::string> Chain() const {
    std::vector<std::string> names;
    const Span* s = root;
    while (s != nullptr) {
      names.push_back(s->name());
      auto kids = Children(*s);
      s = kids.size() == 1 ? kids[0] : nullptr;
    }
    return names;
  }
};

std::map<std::string, Trace> ByTrace(const std::vector<OtlpReceiver::ReceivedSpan>& received,
                                     const std::string& root_name) {
  std::map<std::string, Trace> out;
  for (const auto& r : received) out[Hex(r.span.trace_id())].spans.push_back(r.span);
  for (auto& [id, t] : out) {
    for (const Span& s : t.spans) {
      if (s.name() == root_name) t.root = &s;
    }
  }
  return out;
}

std::string CallerTraceparent(int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "00-%032x-%016x-01", 0xabc000 + n, 0x5150 + n);
  return buf;
}

class ObservabilityE2E : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<SidecarProcess> Start(std::map<std::string, std::optional<std::string>> env,
                                        std::vector<std::string> args = {}) {
    env.emplace("OPENAI_BASE_URL", fake_.base_url());
    env.emplace("OPENAI_API_KEY", kKey);
    env.emplace("OTEL_EXPORTER_OTLP_PROTOCOL", GetParam());
    env.emplace("OTEL_EXPORTER_OTLP_ENDPOINT",
                GetParam() == "grpc" ? receiver_.grpc_endpoint() : receiver_.http_endpoint());
    env.emplace("OTEL_BSP_SCHEDULE_DELAY", "20");
    env.emplace("OTEL_SERVICE_NAME", "obs-e2e");
    for (const char* a : {"--max-retries", "1", "--retry-base-ms", "1", "--retry-jitter-ms", "0"}) {
      args.push_back(a);
    }
    auto s = std::make_unique<SidecarProcess>(args, env);
    return s;
  }

  grpc::Status CallTraced(SidecarProcess& s, const std::string& text, int n,
                          v1::CallResponse* resp) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("traceparent", CallerTraceparent(n));
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return s.stub().Call(&ctx, InlineRequest(kConfig, text), resp);
  }

  FakeOpenAi fake_;
  OtlpReceiver receiver_;
};

TEST_P(ObservabilityE2E, SpanTreePerCallMetricsAndNoKeyInThePayload) {
  auto sidecar = Start({});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();

  v1::CallResponse miss, hit, retried, failed;
  ASSERT_TRUE(CallTraced(*sidecar, "one", 1, &miss).ok());
  ASSERT_TRUE(CallTraced(*sidecar, "one", 2, &hit).ok());
  FakeReply limited;
  limited.status = 429;
  limited.headers = {{"retry-after", "0"}};
  fake_.Enqueue(limited);
  fake_.Enqueue(FakeReply{});
  ASSERT_TRUE(CallTraced(*sidecar, "two", 3, &retried).ok());
  FakeReply broken;
  broken.status = 500;
  broken.raw_body = std::string(R"({"error":{"message":"bad key )") + kKey + R"("}})";
  fake_.Enqueue(broken);
  fake_.Enqueue(broken);
  ASSERT_TRUE(CallTraced(*sidecar, "three", 4, &failed).ok());

  EXPECT_TRUE(miss.success());
  EXPECT_EQ(hit.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_TRUE(retried.success());
  EXPECT_EQ(retried.attempts(), 2);
  EXPECT_FALSE(failed.success());
  for (int n = 1; n <= 4; ++n) {
    const v1::CallResponse& r = n == 1 ? miss : n == 2 ? hit : n == 3 ? retried : failed;
    EXPECT_EQ(r.trace_id(), CallerTraceparent(n).substr(3, 32)) << "call " << n;
  }

  // miss 14 spans, hit 6 (to the cache stage), retried and failed 10 + 2 x 4 each.
  constexpr size_t kSpans = 14 + 6 + 18 + 18;
  ASSERT_TRUE(receiver_.WaitForSpans(kSpans)) << receiver_.Spans().size();
  const auto received = receiver_.Spans();
  ASSERT_EQ(received.size(), kSpans) << [&] {
    std::string names;
    for (const auto& r : received)
      names += Hex(r.span.trace_id()).substr(26) + ":" + r.span.name() + " ";
    return names;
  }();
  for (const auto& r : received) EXPECT_EQ(r.service_name, "obs-e2e");
  auto traces = ByTrace(received, kMissChain[0]);
  ASSERT_EQ(traces.size(), 4u) << "one trace per call";

  auto trace_of = [&](int n) -> const Trace& { return traces[CallerTraceparent(n).substr(3, 32)]; };
  for (int n = 1; n <= 4; ++n) {
    const Trace& t = trace_of(n);
    ASSERT_NE(t.root, nullptr) << "call " << n;
    size_t roots = 0;
    for (const Span& s : t.spans) roots += s.name() == kMissChain[0];
    EXPECT_EQ(roots, 1u);
    // The server span continues the caller's span.
    EXPECT_EQ(Hex(t.root->parent_span_id()), CallerTraceparent(n).substr(36, 16));
    EXPECT_EQ(t.root->kind(), Span::SPAN_KIND_SERVER);
    EXPECT_EQ(StrAttr(*t.root, "rpc.system"), "grpc");
    EXPECT_EQ(StrAttr(*t.root, "gen_ai.system"), "openai");
    EXPECT_EQ(StrAttr(*t.root, "gen_ai.request.model"), "gpt-4o-mini");
    EXPECT_EQ(StrAttr(*t.root, "llmix.preset"), "inline");
    EXPECT_EQ(StrAttr(*t.root, "gen_ai.operation.name"), "chat");
    // Every parent is in the trace, and children lie within their parent's time.
    for (const Span& s : t.spans) {
      if (&s == t.root) continue;
      const Span* parent = nullptr;
      for (const Span& p : t.spans) {
        if (p.span_id() == s.parent_span_id()) parent = &p;
      }
      ASSERT_NE(parent, nullptr) << s.name();
      EXPECT_GE(s.start_time_unix_nano(), parent->start_time_unix_nano()) << s.name();
      EXPECT_LE(s.end_time_unix_nano(), parent->end_time_unix_nano()) << s.name();
    }
  }

  // Miss: one child per stage, in pipeline order.
  const Trace& m = trace_of(1);
  EXPECT_EQ(m.Chain(), kMissChain);
  EXPECT_EQ(BoolAttr(*m.root, "llmix.cache.hit"), false);
  EXPECT_EQ(IntAttr(*m.root, "llmix.attempts"), 1);
  EXPECT_EQ(StrAttr(*m.root, "gen_ai.response.model"), "gpt-4o-mini");
  EXPECT_EQ(IntAttr(*m.root, "gen_ai.usage.input_tokens"), 7);
  EXPECT_EQ(IntAttr(*m.root, "gen_ai.usage.output_tokens"), 3);
  EXPECT_EQ(BoolAttr(*m.Find("llmix.cache"), "llmix.cache.hit"), false);
  EXPECT_EQ(StrAttr(*m.Find("llmix.breaker"), "llmix.breaker.state"), "closed");
  EXPECT_EQ(StrAttr(*m.Find("llmix.singleflight"), "llmix.singleflight.role"), "leader");
  const Span& dispatch = *m.Find("llmix.dispatch");
  EXPECT_EQ(dispatch.kind(), Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(IntAttr(dispatch, "llmix.attempt"), 1);
  EXPECT_EQ(IntAttr(dispatch, "http.response.status_code"), 200);
  EXPECT_EQ(StrAttr(dispatch, "server.address"), "127.0.0.1");
  // The provider request carries the dispatch span as its parent.
  auto upstream = fake_.Requests();
  ASSERT_EQ(upstream.size(), 5u);
  EXPECT_EQ(upstream[0].headers["traceparent"],
            "00-" + Hex(dispatch.trace_id()) + "-" + Hex(dispatch.span_id()) + "-01");

  // Hit: the pipeline stops at the cache stage.
  const Trace& h = trace_of(2);
  EXPECT_EQ(h.Chain(), std::vector<std::string>(kMissChain.begin(), kMissChain.begin() + 6));
  EXPECT_EQ(BoolAttr(*h.Find("llmix.cache"), "llmix.cache.hit"), true);
  EXPECT_EQ(StrAttr(*h.Find("llmix.cache"), "llmix.cache.tier"), "l1");
  EXPECT_EQ(BoolAttr(*h.root, "llmix.cache.hit"), true);
  EXPECT_EQ(IntAttr(*h.root, "llmix.attempts"), 0);

  // Retried: the retry stage runs the attempt stages twice, each a child of the retry span.
  const Trace& r = trace_of(3);
  const Span* retry = r.Find("llmix.retry");
  ASSERT_NE(retry, nullptr);
  auto attempts = r.Children(*retry);
  ASSERT_EQ(attempts.size(), 2u);
  for (const Span* a : attempts) EXPECT_EQ(a->name(), "llmix.aimd");
  const Span* d1 = r.Find("llmix.dispatch", 0);
  const Span* d2 = r.Find("llmix.dispatch", 1);
  ASSERT_TRUE(d1 && d2);
  if (d1->start_time_unix_nano() > d2->start_time_unix_nano()) std::swap(d1, d2);
  EXPECT_EQ(IntAttr(*d1, "llmix.attempt"), 1);
  EXPECT_EQ(IntAttr(*d1, "http.response.status_code"), 429);
  EXPECT_EQ(d1->status().code(), otlp::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(IntAttr(*d2, "llmix.attempt"), 2);
  EXPECT_EQ(IntAttr(*d2, "http.response.status_code"), 200);
  EXPECT_EQ(IntAttr(*r.root, "llmix.attempts"), 2);
  EXPECT_NE(r.root->status().code(), otlp::trace::v1::Status::STATUS_CODE_ERROR);

  // Failed: the call span says why, in words without the key.
  const Trace& f = trace_of(4);
  EXPECT_EQ(f.root->status().code(), otlp::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(StrAttr(*f.root, "error.type"), "UPSTREAM_ERROR");
  EXPECT_EQ(StrAttr(*f.root, "llmix.outcome"), "failure");

  // No key anywhere on the wire to the collector (the provider echoed it in an error body).
  const std::string raw = receiver_.RawPayload();
  EXPECT_EQ(raw.find(kKey), std::string::npos);
  EXPECT_EQ(raw.find("sk-obs-secret"), std::string::npos);
  // Content is opt-in: nothing of the prompts by default.
  EXPECT_EQ(Attr(*m.root, "gen_ai.prompt"), nullptr);
  if (GetParam() == "http/protobuf") {
    for (const std::string& ct : receiver_.HttpContentTypes()) {
      EXPECT_EQ(ct, "application/x-protobuf");
    }
  }

  // /metrics: valid exposition format, and counters that match the calls.
  std::string metrics;
  ASSERT_EQ(sidecar->AdminGet("/metrics", &metrics), 200);
  EXPECT_EQ(metrics.find(kKey), std::string::npos);
  CommandResult check = RunCommand({"promtool", "check", "metrics"}, metrics);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  const std::string calls = R"(llmix_calls_total{preset="inline",provider="openai",outcome=)";
  EXPECT_EQ(MetricValue(metrics, calls + R"("success"})"), 3);
  EXPECT_EQ(MetricValue(metrics, calls + R"("failure"})"), 1);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_cache_hits_total{tier="l1"})"), 1);
  EXPECT_EQ(MetricValue(metrics, "llmix_cache_misses_total"), 3);
  const std::string up = R"(llmix_upstream_requests_total{provider="openai",status=)";
  EXPECT_EQ(MetricValue(metrics, up + R"("200"})"), 2);
  EXPECT_EQ(MetricValue(metrics, up + R"("429"})"), 1);
  EXPECT_EQ(MetricValue(metrics, up + R"("500"})"), 2);
  EXPECT_EQ(
      MetricValue(metrics, R"(llmix_upstream_request_duration_seconds_count{provider="openai"})"),
      5);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_stage_duration_seconds_count{stage="dispatch"})"), 5);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_call_duration_seconds_count{outcome="success"})"), 3);
  // The provider's own base URL (here OPENAI_BASE_URL) is the breaker's "default" upstream.
  EXPECT_EQ(MetricValue(metrics, R"(llmix_breaker_state{provider="openai",upstream="default"})"),
            0);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_key_pool_keys{provider="openai",state="alive"})"), 1);
  EXPECT_TRUE(MetricValue(metrics, R"(llmix_aimd_limit{provider="openai"})").has_value());
  EXPECT_EQ(MetricValue(metrics, "llmix_worker_queue_depth"), 0);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_config_info{revision=""})"), 1);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_trace_spans_total{result="dropped"})"), 0);
  EXPECT_TRUE(WaitFor([&] {
    std::string m2;
    sidecar->AdminGet("/metrics", &m2);
    return MetricValue(m2, R"(llmix_trace_spans_total{result="exported"})") == kSpans;
  }));
}

TEST_P(ObservabilityE2E, FrontDoorContinuesTheCallersTraceparent) {
  auto sidecar = Start({});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  httplib::Client c("http://" + sidecar->http_address());
  const std::string tp = CallerTraceparent(9);
  auto res = c.Post("/v1/chat/completions", {{"traceparent", tp}},
                    R"({"model":"openai:gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})",
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("x-llmix-trace-id"), tp.substr(3, 32));
  ASSERT_TRUE(receiver_.WaitForSpans(kMissChain.size()));
  auto traces = ByTrace(receiver_.Spans(), "POST /v1/chat/completions");
  ASSERT_EQ(traces.size(), 1u);
  const Trace& t = traces.begin()->second;
  ASSERT_NE(t.root, nullptr);
  EXPECT_EQ(traces.begin()->first, tp.substr(3, 32));
  EXPECT_EQ(Hex(t.root->parent_span_id()), tp.substr(36, 16));
  EXPECT_EQ(StrAttr(*t.root, "http.request.method"), "POST");
  EXPECT_EQ(StrAttr(*t.root, "http.route"), "/v1/chat/completions");
}

TEST_P(ObservabilityE2E, ContentOnlyWhenOptedInAndSamplerOffSendsNothing) {
  {
    auto sidecar = Start({}, {"--trace-content"});
    ASSERT_TRUE(sidecar->ready()) << sidecar->error();
    v1::CallResponse resp;
    ASSERT_TRUE(CallTraced(*sidecar, "what is two plus two", 1, &resp).ok());
    ASSERT_TRUE(receiver_.WaitForSpans(kMissChain.size()));
    auto traces = ByTrace(receiver_.Spans(), kMissChain[0]);
    const Span& root = *traces.begin()->second.root;
    EXPECT_NE(StrAttr(root, "gen_ai.prompt").find("what is two plus two"), std::string::npos);
    EXPECT_EQ(StrAttr(root, "gen_ai.completion"), "fake reply");
  }
  const size_t before = receiver_.Spans().size();
  auto sidecar = Start({{"OTEL_TRACES_SAMPLER", "always_off"}});
  ASSERT_TRUE(sidecar->ready()) << sidecar->error();
  v1::CallResponse resp;
  ASSERT_TRUE(sidecar->Call(InlineRequest(kConfig, "unsampled"), &resp).ok());
  EXPECT_EQ(resp.trace_id().size(), 32u);  // ids still flow to the caller and the upstream
  auto upstream = fake_.Requests();
  EXPECT_EQ(upstream.back().headers["traceparent"].substr(3, 32), resp.trace_id());
  EXPECT_EQ(upstream.back().headers["traceparent"].substr(53), "00");
  sidecar->process().Signal(SIGTERM);  // drains and flushes whatever was queued
  ASSERT_TRUE(sidecar->process().Wait(std::chrono::seconds(15)).has_value());
  EXPECT_EQ(receiver_.Spans().size(), before);
}

INSTANTIATE_TEST_SUITE_P(Protocols, ObservabilityE2E, ::testing::Values("grpc", "http/protobuf"),
                         [](const auto& p) {
                           return p.param == "grpc" ? std::string("grpc")
                                                    : std::string("http_protobuf");
                         });

// A dead collector: every call still succeeds at once, the failures are counted, and SIGTERM
// is not held up by the export.
TEST(ObservabilityFaults, CollectorDownNeverCostsACall) {
  FakeOpenAi fake;
  const std::string dead = "http://127.0.0.1:" + std::to_string(ClosedPort());
  for (const char* protocol : {"grpc", "http/protobuf"}) {
    SCOPED_TRACE(protocol);
    SidecarProcess sidecar({}, {{"OPENAI_BASE_URL", fake.base_url()},
                                {"OPENAI_API_KEY", kKey},
                                {"OTEL_EXPORTER_OTLP_ENDPOINT", dead},
                                {"OTEL_EXPORTER_OTLP_PROTOCOL", protocol},
                                {"OTEL_EXPORTER_OTLP_TIMEOUT", "200"},
                                {"OTEL_BSP_SCHEDULE_DELAY", "10"},
                                {"OTEL_BSP_MAX_QUEUE_SIZE", "64"}});
    ASSERT_TRUE(sidecar.ready()) << sidecar.error();
    constexpr int kCalls = 40;
    for (int i = 0; i < kCalls; ++i) {
      v1::CallResponse resp;
      v1::CallRequest req = InlineRequest(kConfig, "call " + std::to_string(i));
      ASSERT_TRUE(sidecar.Call(req, &resp).ok());
      ASSERT_TRUE(resp.success()) << resp.error().message();
    }
    std::string metrics;
    EXPECT_TRUE(WaitFor([&] {
      sidecar.AdminGet("/metrics", &metrics);
      auto failed = MetricValue(metrics, R"(llmix_trace_spans_total{result="failed"})");
      auto dropped = MetricValue(metrics, R"(llmix_trace_spans_total{result="dropped"})");
      return failed.value_or(0) > 0 &&
             failed.value_or(0) + dropped.value_or(0) +
                     MetricValue(metrics, "llmix_trace_export_queue_spans").value_or(0) ==
                 kCalls * kMissChain.size();
    })) << metrics;
    EXPECT_EQ(MetricValue(metrics, R"(llmix_trace_spans_total{result="exported"})"), 0);
    sidecar.process().Signal(SIGTERM);
    auto status = sidecar.process().Wait(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value()) << "SIGTERM held up by a dead collector";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  }
}

// Malformed OTEL_* settings stop the sidecar at startup with the variable named.
TEST(ObservabilityConfig, MalformedSettingsFailAtStartupNamingTheVariable) {
  for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
           {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
           {"OTEL_TRACES_SAMPLER", "sometimes"},
           {"OTEL_TRACES_SAMPLER_ARG", "2"},
           {"OTEL_BSP_MAX_QUEUE_SIZE", "-1"},
           {"OTEL_EXPORTER_OTLP_HEADERS", "novalue"}}) {
    std::map<std::string, std::optional<std::string>> env = {
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"}, {var, value}};
    if (var == "OTEL_TRACES_SAMPLER_ARG") env["OTEL_TRACES_SAMPLER"] = "traceidratio";
    SidecarProcess sidecar({}, env);
    EXPECT_FALSE(sidecar.ready()) << var;
    auto status = sidecar.process().Wait(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value()) << var;
    EXPECT_NE(WEXITSTATUS(*status), 0) << var;
    EXPECT_NE(sidecar.process().Stderr().find(var), std::string::npos)
        << var << ": " << sidecar.process().Stderr();
  }
}

}  // namespace
}  // namespace llmix::testing
