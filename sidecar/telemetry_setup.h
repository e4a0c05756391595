// The process's tracer, chosen from the OTEL_* environment: an exporting tracer feeding a
// batch processor and an OTLP exporter when an endpoint is configured, else a no-op tracer
// (spans still carry ids, so trace ids reach callers and upstreams). Registers the span
// export counters on the metric registry. Owned by the Sidecar; thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "common/logging.h"
#include "common/telemetry.h"
#include "common/tracer_sdk.h"

namespace llmix::sidecar {

class TracingSetup {
 public:
  // Errors (malformed OTEL_* values) name the variable.
  static absl::StatusOr<std::unique_ptr<TracingSetup>> Create(const Env& env,
                                                              MetricRegistry& metrics,
                                                              Logger& logger);
  ~TracingSetup();

  Tracer& tracer() { return *tracer_; }
  bool exporting() const { return processor_ != nullptr; }
  // Exports what is queued (bounded by `timeout`) and stops the export thread.
  void Shutdown(absl::Duration timeout);

 private:
  TracingSetup() = default;

  std::unique_ptr<BatchSpanProcessor> processor_;
  std::unique_ptr<Tracer> tracer_;
};

}  // namespace llmix::sidecar
