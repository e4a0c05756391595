#include "sidecar/telemetry_setup.h"

#include "sidecar/otlp_exporter.h"
#include "sidecar/version.h"

namespace llmix::sidecar {

namespace {

// The endpoint without any user:password@ part, for the startup log line.
std::string LoggableEndpoint(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme == std::string::npos || at == std::string::npos || at > slash) return url;
  return url.substr(0, scheme + 3) + url.substr(at + 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TracingSetup>> TracingSetup::Create(const Env& env,
                                                                   MetricRegistry& metrics,
                                                                   Logger& logger) {
  auto settings = OtlpSettingsFromEnv(env, LLMIX_SIDECAR_VERSION);
  if (!settings.ok()) return settings.status();
  std::unique_ptr<TracingSetup> t(new TracingSetup());
  if (!settings->has_value()) {
    t->tracer_ = std::make_unique<NoopTracer>();
  } else {
    const OtlpSettings& s = **settings;
    auto exporter = MakeOtlpExporter(s, LLMIX_SIDECAR_VERSION);
    if (!exporter.ok()) return exporter.status();
    t->processor_ = std::make_unique<BatchSpanProcessor>(*std::move(exporter), s.batch);
    t->tracer_ = std::make_unique<ExportingTracer>(s.tracer, *t->processor_);
    const std::string endpoint = LoggableEndpoint(s.endpoint);
    logger.Info("tracing: exporting spans over OTLP",
                {{"protocol",
                  std::string_view(s.protocol == OtlpProtocol::kGrpc ? "grpc" : "http/protobuf")},
                 {"endpoint", std::string_view(endpoint)}});
  }
  BatchSpanProcessor* p = t->processor_.get();
  metrics.AddCallbackCounter(
      "llmix_trace_spans_total",
      "Finished sampled spans by what became of them: exported, dropped (export queue full) or "
      "failed (the collector refused or was unreachable).",
      {"result"}, [p]() -> std::vector<GaugeSample> {
        const SpanCounts c = p != nullptr ? p->Counts() : SpanCounts{};
        return {{{"exported"}, static_cast<double>(c.exported)},
                {{"dropped"}, static_cast<double>(c.dropped_queue_full)},
                {{"failed"}, static_cast<double>(c.failed)}};
      });
  metrics.AddCallbackGauge(
      "llmix_trace_export_queue_spans", "Finished spans waiting for export.", {},
      [p]() -> std::vector<GaugeSample> {
        return {{{}, p != nullptr ? static_cast<double>(p->Counts().queued) : 0.0}};
      });
  return t;
}

TracingSetup::~TracingSetup() { Shutdown(absl::Seconds(2)); }

void TracingSetup::Shutdown(absl::Duration timeout) {
  if (processor_) processor_->Shutdown(timeout);
}

}  // namespace llmix::sidecar
