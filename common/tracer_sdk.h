// The recording tracer behind `--otlp` export: a head sampler (OTEL_TRACES_SAMPLER rules), a
// batch span processor with a bounded queue drained by one background thread, and the
// exporter interface it feeds. A full queue drops the span (and counts it) rather than block
// the call that ended it. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/telemetry.h"

namespace llmix {

// OTEL_TRACES_SAMPLER: always_on, always_off, traceidratio, parentbased_always_on (the
// default), parentbased_always_off, parentbased_traceidratio.
struct Sampler {
  enum class Root { kAlwaysOn, kAlwaysOff, kRatio };
  Root root = Root::kAlwaysOn;
  double ratio = 1.0;        // for kRatio, in [0, 1]
  bool parent_based = true;  // a valid parent's sampled flag decides

  // Parses OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG; errors name the variable.
  static absl::StatusOr<Sampler> Parse(std::string_view name, std::string_view arg);
  // Decision for a new span under `parent` (null or invalid: a root span) in `trace_id`.
  bool ShouldSample(const SpanContext* parent, const std::array<uint8_t, 16>& trace_id) const;
};

// Sends a batch of finished spans somewhere (OTLP/gRPC, OTLP/HTTP, tests). Called from the
// processor's one export thread only. Returns false when the batch was not delivered.
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  virtual bool Export(const std::vector<SpanData>& batch, absl::Duration timeout) = 0;
  // Ends an Export in progress as soon as possible (shutdown); called from another thread.
  virtual void Abort() {}
};

struct BatchOptions {
  size_t max_queue_size = 2048;                               // OTEL_BSP_MAX_QUEUE_SIZE
  size_t max_export_batch_size = 512;                         // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
  absl::Duration schedule_delay = absl::Milliseconds(5000);   // OTEL_BSP_SCHEDULE_DELAY
  absl::Duration export_timeout = absl::Milliseconds(30000);  // OTEL_BSP_EXPORT_TIMEOUT
};

// Counts of what happened to finished spans (read by /metrics).
struct SpanCounts {
  uint64_t exported = 0;
  uint64_t dropped_queue_full = 0;  // the queue was full when the span ended
  uint64_t failed = 0;              // the exporter refused or could not deliver the batch
  size_t queued = 0;
};

class BatchSpanProcessor final : public SpanSink {
 public:
  BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter, BatchOptions options);
  ~BatchSpanProcessor() override;  // Shutdown(export_timeout)

  void OnEnd(SpanData&& data) override;
  // Exports what is queued now and waits up to `timeout` for it; true when all went out.
  bool ForceFlush(absl::Duration timeout);
  // Flushes (bounded by `timeout`) and stops the export thread; later spans are dropped.
  void Shutdown(absl::Duration timeout);
  SpanCounts Counts() const;

 private:
  void Loop();

  std::unique_ptr<SpanExporter> exporter_;
  BatchOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;        // the export thread waits here
  std::condition_variable progressed_;  // ForceFlush waits here
  std::deque<SpanData> queue_;
  uint64_t accepted_ = 0;  // spans ever queued
  uint64_t done_ = 0;      // spans exported or failed
  uint64_t flush_target_ = 0;
  SpanCounts counts_;
  bool stopping_ = false;
  std::thread thread_;
};

struct TracerOptions {
  Sampler sampler;
  // String attribute values and error messages are cut to this many bytes (0: no limit).
  size_t max_attribute_value_bytes = 16384;
};

// Starts recording spans for sampled traces and non-recording ones (ids only, so trace ids
// still reach callers and upstreams) for the rest.
class ExportingTracer final : public Tracer {
 public:
  ExportingTracer(TracerOptions options, SpanSink& sink) : options_(options), sink_(sink) {}
  std::unique_ptr<Span> StartSpan(std::string_view name, const SpanContext* parent,
                                  SpanKind kind = SpanKind::kInternal) override;

 private:
  TracerOptions options_;
  SpanSink& sink_;
};

}  // namespace llmix
