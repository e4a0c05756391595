// OTLP settings from the standard OTEL_* variables, the span -> OTLP protobuf mapping, and the
// Prometheus text rendering of the metric registry.
#include <gtest/gtest.h>

#include "common/env.h"
#include "sidecar/otlp_exporter.h"
#include "sidecar/prometheus_text.h"

namespace llmix::sidecar {
namespace {

namespace otlp = opentelemetry::proto;

absl::StatusOr<std::optional<OtlpSettings>> From(
    std::map<std::string, std::string, std::less<>> vars) {
  MapEnv env(std::move(vars));
  return OtlpSettingsFromEnv(env, "1.2.3");
}

std::string ResourceValue(const OtlpSettings& s, const std::string& key) {
  for (const auto& [k, v] : s.resource) {
    if (k == key) return v;
  }
  return "<unset>";
}

TEST(OtlpSettings, ExportIsOffUnlessAnEndpointIsSetAndNotDisabled) {
  for (const auto& vars : std::vector<std::map<std::string, std::string, std::less<>>>{
           {},
           {{"OTEL_SERVICE_NAME", "svc"}},
           {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, {"OTEL_SDK_DISABLED", "TRUE"}},
           {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, {"OTEL_TRACES_EXPORTER", "none"}},
           {{"OTEL_EXPORTER_OTLP_ENDPOINT", "  "}}}) {
    auto s = From(vars);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_FALSE(s->has_value());
  }
  auto on =
      From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, {"OTEL_SDK_DISABLED", "false"}});
  ASSERT_TRUE(on.ok() && on->has_value());
}

TEST(OtlpSettings, EndpointsFollowTheExporterSpec) {
  // http/protobuf is the default; the generic endpoint is a base, the signal path appended.
  auto s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"}});
  ASSERT_TRUE(s.ok() && s->has_value()) << s.status();
  EXPECT_EQ((*s)->protocol, OtlpProtocol::kHttpProtobuf);
  EXPECT_EQ((*s)->endpoint, "http://collector:4318/v1/traces");
  // The traces-specific endpoint is used as given.
  s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:1"},
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c.example/custom/path"}});
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->endpoint, "https://c.example/custom/path");
  // gRPC takes the URL as the collector address; the signal-specific protocol wins.
  s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"},
            {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
            {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "GRPC"}});
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ((*s)->protocol, OtlpProtocol::kGrpc);
  EXPECT_EQ((*s)->endpoint, "http://collector:4317");
}

TEST(OtlpSettings, HeadersTimeoutBatchAndLimits) {
  auto s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                 {"OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%3D%3D, x-tenant = t1 ,"},
                 {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
                 {"OTEL_BSP_MAX_QUEUE_SIZE", "100"},
                 {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"},
                 {"OTEL_BSP_SCHEDULE_DELAY", "50"},
                 {"OTEL_BSP_EXPORT_TIMEOUT", "700"},
                 {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"},
                 {"OTEL_TRACES_SAMPLER", "traceidratio"},
                 {"OTEL_TRACES_SAMPLER_ARG", "0.5"}});
  ASSERT_TRUE(s.ok() && s->has_value()) << s.status();
  const OtlpSettings& o = **s;
  using KV = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(o.headers, (KV{{"api-key", "abc=="}, {"x-tenant", "t1"}}));
  EXPECT_EQ(o.timeout, absl::Milliseconds(2500));
  EXPECT_EQ(o.batch.max_queue_size, 100u);
  EXPECT_EQ(o.batch.max_export_batch_size, 10u);
  EXPECT_EQ(o.batch.schedule_delay, absl::Milliseconds(50));
  EXPECT_EQ(o.batch.export_timeout, absl::Milliseconds(700));
  EXPECT_EQ(o.tracer.max_attribute_value_bytes, 64u);
  EXPECT_EQ(o.tracer.sampler.root, Sampler::Root::kRatio);
  EXPECT_DOUBLE_EQ(o.tracer.sampler.ratio, 0.5);
  // The span-specific limit wins over the generic one.
  s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
            {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"},
            {"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "32"}});
  EXPECT_EQ((*s)->tracer.max_attribute_value_bytes, 32u);
}

TEST(OtlpSettings, ResourceServiceNameWinsOverResourceAttributes) {
  auto s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
                 {"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,k8s.pod.name=p%2D1"}});
  ASSERT_TRUE(s.ok() && s->has_value());
  EXPECT_EQ(ResourceValue(**s, "service.name"), "from-attrs");
  EXPECT_EQ(ResourceValue(**s, "k8s.pod.name"), "p-1");
  EXPECT_EQ(ResourceValue(**s, "service.version"), "1.2.3");
  EXPECT_EQ(ResourceValue(**s, "telemetry.sdk.language"), "cpp");
  s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"},
            {"OTEL_SERVICE_NAME", "checkout"},
            {"OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"}});
  EXPECT_EQ(ResourceValue(**s, "service.name"), "checkout");
  EXPECT_EQ((*s)->resource.front().first, "service.name");
  s = From({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}});
  EXPECT_EQ(ResourceValue(**s, "service.name"), "llmix-sidecar");
}

TEST(OtlpSettings, MalformedValuesNameTheVariableButNeverEchoAHeaderValue) {
  struct Case {
    std::string var, value;
  } cases[] = {
      {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"},
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://user:secret-token@c:4318/v1/traces"},
      {"OTEL_EXPORTER_OTLP_TIMEOUT", "10s"},
      {"OTEL_BSP_MAX_QUEUE_SIZE", "0"},
      {"OTEL_BSP_SCHEDULE_DELAY", "-5"},
      {"OTEL_TRACES_EXPORTER", "zipkin"},
      {"OTEL_TRACES_SAMPLER", "half"},
      {"OTEL_RESOURCE_ATTRIBUTES", "=v"},
      {"OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%ZZsecret-token"},
  };
  for (const Case& c : cases) {
    std::map<std::string, std::string, std::less<>> vars = {
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}};
    vars[c.var] = c.value;
    auto s = From(vars);
    ASSERT_FALSE(s.ok()) << c.var;
    EXPECT_NE(s.status().message().find(c.var), std::string::npos) << s.status();
    EXPECT_EQ(s.status().message().find("secret-token"), std::string::npos) << s.status();
    if (c.var == "OTEL_EXPORTER_OTLP_HEADERS") {
      EXPECT_NE(s.status().message().find("authorization"), std::string::npos) << s.status();
    }
  }
}

TEST(OtlpRequest, MapsIdsKindsAttributesAndStatus) {
  SpanData parent;
  parent.name = "llmix.sidecar.v1.Llmix/Call";
  parent.kind = SpanKind::kServer;
  parent.context =
      SpanContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  parent.start_unix_nanos = 1000;
  parent.end_unix_nanos = 5000;
  parent.attributes = {{"s", std::string("v")},
                       {"i", int64_t{42}},
                       {"d", 0.5},
                       {"b", true},
                       {"a", std::vector<std::string>{"stop", "length"}},
                       {"bad", std::string("caf\xc3")}};  // torn UTF-8 from an upstream
  SpanData child;
  child.name = "llmix.dispatch";
  child.kind = SpanKind::kClient;
  child.context = ChildSpanContext(&parent.context);
  child.parent_span_id = parent.context.span_id;
  child.error = true;
  child.error_message = "HTTP 500";

  otlp::collector::trace::v1::ExportTraceServiceRequest req;
  FillOtlpRequest({parent, child}, {{"service.name", "svc"}}, "9.9", &req);
  ASSERT_EQ(req.resource_spans_size(), 1);
  const auto& rs = req.resource_spans(0);
  ASSERT_EQ(rs.resource().attributes_size(), 1);
  EXPECT_EQ(rs.resource().attributes(0).value().string_value(), "svc");
  ASSERT_EQ(rs.scope_spans_size(), 1);
  EXPECT_EQ(rs.scope_spans(0).scope().name(), "llmix-sidecar");
  EXPECT_EQ(rs.scope_spans(0).scope().version(), "9.9");
  ASSERT_EQ(rs.scope_spans(0).spans_size(), 2);
  const auto& p = rs.scope_spans(0).spans(0);
  const auto& c = rs.scope_spans(0).spans(1);
  EXPECT_EQ(p.trace_id().size(), 16u);
  EXPECT_EQ(p.span_id().size(), 8u);
  EXPECT_TRUE(p.parent_span_id().empty()) << "a root has no parent id on the wire";
  EXPECT_EQ(c.trace_id(), p.trace_id());
  EXPECT_EQ(c.parent_span_id(), p.span_id());
  EXPECT_EQ(p.kind(), otlp::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(c.kind(), otlp::trace::v1::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(p.start_time_unix_nano(), 1000u);
  EXPECT_EQ(p.end_time_unix_nano(), 5000u);
  ASSERT_EQ(p.attributes_size(), 6);
  EXPECT_EQ(p.attributes(0).value().string_value(), "v");
  EXPECT_EQ(p.attributes(1).value().int_value(), 42);
  EXPECT_DOUBLE_EQ(p.attributes(2).value().double_value(), 0.5);
  EXPECT_TRUE(p.attributes(3).value().bool_value());
  ASSERT_EQ(p.attributes(4).value().array_value().values_size(), 2);
  EXPECT_EQ(p.attributes(4).value().array_value().values(1).string_value(), "length");
  EXPECT_EQ(p.attributes(5).value().string_value(), "caf\xef\xbf\xbd");  // U+FFFD
  EXPECT_EQ(p.status().code(), otlp::trace::v1::Status::STATUS_CODE_UNSET);
  EXPECT_EQ(c.status().code(), otlp::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(c.status().message(), "HTTP 500");
  // The request serialises (proto3 string fields must be valid UTF-8).
  std::string bytes;
  EXPECT_TRUE(req.SerializeToString(&bytes));
  otlp::collector::trace::v1::ExportTraceServiceRequest back;
  EXPECT_TRUE(back.ParseFromString(bytes));
}

TEST(PrometheusText, RendersEveryFamilyKindWithEscapedLabels) {
  MetricRegistry reg;
  auto& calls = reg.AddCounter("llmix_calls_total", "Calls by outcome.", {"preset", "outcome"});
  calls.With({"b", "success"}).Add(2);
  calls.With({"a\"q\\x\ny", "failure"}).Add();
  auto& g = reg.AddGauge("llmix_gauge", "A gauge\nwith a newline in its help.", {});
  g.With({}).Set(1.5);
  auto& h = reg.AddHistogram("llmix_seconds", "Latency.", {"stage"}, {0.3, 1});
  h.With({"cache"}).Observe(0.25);
  h.With({"cache"}).Observe(0.5);
  h.With({"cache"}).Observe(4);
  reg.AddCallbackGauge("llmix_live", "Live keys.", {"state"}, [] {
    return std::vector<GaugeSample>{{{"dead"}, 0}, {{"alive"}, 3}};
  });
  reg.AddCallbackCounter("llmix_spans_total", "Spans.", {}, [] {
    return std::vector<GaugeSample>{{{}, 7}};
  });
  const std::string text = RenderPrometheusText(reg);
  const char* expected[] = {
      "# HELP llmix_calls_total Calls by outcome.\n# TYPE llmix_calls_total counter\n",
      "llmix_calls_total{preset=\"a\\\"q\\\\x\\ny\",outcome=\"failure\"} 1\n"
      "llmix_calls_total{preset=\"b\",outcome=\"success\"} 2\n",
      "# HELP llmix_gauge A gauge\\nwith a newline in its help.\n# TYPE llmix_gauge gauge\n"
      "llmix_gauge 1.5\n",
      "# TYPE llmix_seconds histogram\n"
      "llmix_seconds_bucket{stage=\"cache\",le=\"0.3\"} 1\n"
      "llmix_seconds_bucket{stage=\"cache\",le=\"1\"} 2\n"
      "llmix_seconds_bucket{stage=\"cache\",le=\"+Inf\"} 3\n"
      "llmix_seconds_sum{stage=\"cache\"} 4.75\n"
      "llmix_seconds_count{stage=\"cache\"} 3\n",
      "# TYPE llmix_live gauge\nllmix_live{state=\"alive\"} 3\nllmix_live{state=\"dead\"} 0\n",
      "# TYPE llmix_spans_total counter\nllmix_spans_total 7\n",
  };
  for (const char* e : expected)
    EXPECT_NE(text.find(e), std::string::npos) << e << "\n---\n" << text;
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace llmix::sidecar
