// OTLP trace export without an OpenTelemetry SDK (Debian 12 has none): the settings read from
// the standard OTEL_* variables, the conversion of finished spans to an OTLP
// ExportTraceServiceRequest, and exporters for OTLP/gRPC and OTLP/HTTP (protobuf). Exporters
// run on the batch processor's single export thread; Abort() may come from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "common/telemetry.h"
#include "common/tracer_sdk.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace llmix::sidecar {

enum class OtlpProtocol { kGrpc, kHttpProtobuf };

struct OtlpSettings {
  OtlpProtocol protocol = OtlpProtocol::kHttpProtobuf;
  // http/protobuf: the full URL spans are POSTed to (".../v1/traces"); grpc: the collector's
  // URL ("http://host:4317"; https uses TLS).
  std::string endpoint;
  std::vector<std::pair<std::string, std::string>> headers;  // may hold tokens: never logged
  absl::Duration timeout = absl::Seconds(10);
  std::string ca_file;  // OTEL_EXPORTER_OTLP_CERTIFICATE (https endpoints)
  std::vector<std::pair<std::string, std::string>> resource;  // service.name, ... (ordered)
  BatchOptions batch;
  TracerOptions tracer;
};

// Reads OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP[_TRACES]_{ENDPOINT,
// PROTOCOL, HEADERS, TIMEOUT, CERTIFICATE}, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, OTEL_[SPAN_]ATTRIBUTE_VALUE_LENGTH_LIMIT.
// nullopt: export is off (disabled, exporter "none", or no endpoint set — a sidecar exports
// only when told where). Malformed values are errors naming the variable.
absl::StatusOr<std::optional<OtlpSettings>> OtlpSettingsFromEnv(const Env& env,
                                                                std::string_view service_version);

// The OTLP request for one batch: one ResourceSpans with `resource`, one ScopeSpans, written
// into `out` (the exporters allocate it on a protobuf Arena: building and freeing a batch's
// thousands of small messages is then a few large allocations).
void FillOtlpRequest(const std::vector<SpanData>& batch,
                     const std::vector<std::pair<std::string, std::string>>& resource,
                     std::string_view scope_version,
                     opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* out);

// An exporter for `settings.protocol` (its endpoint must already be valid).
absl::StatusOr<std::unique_ptr<SpanExporter>> MakeOtlpExporter(const OtlpSettings& settings,
                                                               std::string_view scope_version);

}  // namespace llmix::sidecar
