// Telemetry interfaces shared by every layer: a minimal tracer (W3C trace context ids, spans
// with attributes) and typed metrics (counters, gauges, histograms) held by a registry that
// exporters later walk. Defaults are no-op (tracing) and in-memory (metrics, tests).
// All types here are thread-safe unless noted.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace llmix {

// ---------------------------------------------------------------- tracing

struct SpanContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  bool sampled = false;

  bool valid() const;
  std::string TraceIdHex() const;
  std::string SpanIdHex() const;
  // W3C `traceparent` header value ("00-<trace>-<span>-<flags>").
  std::string ToTraceparent() const;
  // Parses a `traceparent` value; returns an invalid context on any malformed input.
  static SpanContext FromTraceparent(std::string_view header);
};

// OTel attribute values: string, int, double, bool, or an array of strings
// (e.g. gen_ai.response.finish_reasons).
using AttributeValue = std::variant<std::string, int64_t, double, bool, std::vector<std::string>>;

enum class SpanKind { kInternal, kServer, kClient };

// One unit of work. Not thread-safe: a span is owned and ended by one logical flow.
class Span {
 public:
  virtual ~Span() = default;
  virtual const SpanContext& context() const = 0;
  virtual void SetAttribute(std::string_view key, AttributeValue value) = 0;
  // Marks the span as failed (OTel status ERROR) with a message that must not contain secrets.
  virtual void SetError(std::string_view message) = 0;
  // Ends the span; later calls are ignored. Destroying an un-ended span ends it.
  virtual void End() = 0;
};

class Tracer {
 public:
  virtual ~Tracer() = default;
  // Starts a span. `parent` may be null or invalid: then a new trace starts.
  virtual std::unique_ptr<Span> StartSpan(std::string_view name, const SpanContext* parent,
                                          SpanKind kind = SpanKind::kInternal) = 0;
};

// Records nothing; spans still carry fresh ids so trace ids can be returned to callers.
class NoopTracer final : public Tracer {
 public:
  std::unique_ptr<Span> StartSpan(std::string_view name, const SpanContext* parent,
                                  SpanKind kind = SpanKind::kInternal) override;
};

// A finished span as recorded by InMemoryTracer (and later handed to exporters).
struct SpanData {
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  SpanContext context;
  std::array<uint8_t, 8> parent_span_id{};
  int64_t start_unix_nanos = 0;
  int64_t end_unix_nanos = 0;
  bool error = false;
  std::string error_message;
  std::vector<std::pair<std::string, AttributeValue>> attributes;
};

// Where recording spans go when they end (an in-memory list, a batch exporter).
// Implementations are thread-safe: spans end on any thread.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void OnEnd(SpanData&& data) = 0;
};

// A span with `context` (under `parent`, which may be null) that records its data and hands
// it to `sink` when it ends. String attribute values longer than `max_value_bytes` are cut at
// a UTF-8 boundary (0: no limit).
std::unique_ptr<Span> StartRecordingSpan(SpanSink& sink, std::string_view name,
                                         const SpanContext& context, const SpanContext* parent,
                                         SpanKind kind, size_t max_value_bytes = 0);
// A span that records nothing but carries `context` (unsampled traces, disabled tracing).
std::unique_ptr<Span> NonRecordingSpan(const SpanContext& context);
// A fresh context for a span under `parent` (same trace, new span id), or a new root
// context (new trace id, `sampled` as given) when the parent is null or invalid.
SpanContext ChildSpanContext(const SpanContext* parent, bool sampled_if_root = true);

// Keeps finished spans in memory (bounded); for tests.
class InMemoryTracer final : public Tracer, public SpanSink {
 public:
  explicit InMemoryTracer(size_t max_spans = 100000) : max_spans_(max_spans) {}
  std::unique_ptr<Span> StartSpan(std::string_view name, const SpanContext* parent,
                                  SpanKind kind = SpanKind::kInternal) override;
  std::vector<SpanData> Finished() const;
  void Record(SpanData data);
  void OnEnd(SpanData&& data) override { Record(std::move(data)); }

 private:
  size_t max_spans_;
  mutable absl::Mutex mu_;
  std::vector<SpanData> finished_ ABSL_GUARDED_BY(mu_);
};

// Fresh random ids (never all-zero).
std::array<uint8_t, 16> NewTraceId();
std::array<uint8_t, 8> NewSpanId();

// ---------------------------------------------------------------- metrics

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Cumulative histogram with fixed upper bounds (Prometheus `le` semantics).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (not cumulative); last is +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Default latency buckets in seconds: 100 µs .. 120 s.
std::vector<double> LatencyBucketsSeconds();

// A metric family: one name, fixed label names, one child per label-value tuple.
// Callers keep label cardinality bounded (presets, providers, outcomes - never free text);
// as a backstop, tuples beyond `kMaxChildren` share one child labelled "_other".
template <typename M>
class Family {
 public:
  static constexpr size_t kMaxChildren = 4096;

  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // The child for these label values (created on first use). The reference stays valid
  // for the family's lifetime, so hot paths may look it up once and keep it.
  M& With(const std::vector<std::string>& values) {
    absl::MutexLock l(&mu_);
    if (auto it = children_.find(values); it != children_.end()) return *it->second;
    auto& slot = children_.size() < kMaxChildren
                     ? children_[values]
                     : children_[std::vector<std::string>(values.size(), "_other")];
    if (!slot) slot = Make();
    return *slot;
  }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  std::vector<std::pair<std::vector<std::string>, const M*>> Children() const {
    absl::MutexLock l(&mu_);
    std::vector<std::pair<std::vector<std::string>, const M*>> out;
    for (const auto& [k, v] : children_) out.emplace_back(k, v.get());
    return out;
  }

 private:
  std::unique_ptr<M> Make() {
    if constexpr (std::is_same_v<M, Histogram>) {
      return std::make_unique<Histogram>(bounds_);
    } else {
      return std::make_unique<M>();
    }
  }
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::vector<std::string>, std::unique_ptr<M>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// A gauge (or counter) family read at scrape time from live state (breaker states, queue
// depth, the active revision, counts kept elsewhere) rather than stored: `read` returns the
// current samples. `read` runs on the
// scraping thread and must be thread-safe and cheap; what it reads must outlive the registry's
// use (the owner stops the admin listener before destroying it).
struct GaugeSample {
  std::vector<std::string> label_values;
  double value = 0;
};
class CallbackGaugeFamily {
 public:
  using ReadFn = std::function<std::vector<GaugeSample>()>;
  CallbackGaugeFamily(std::string name, std::string help, std::vector<std::string> label_names,
                      ReadFn read, bool counter = false)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        read_(std::move(read)),
        counter_(counter) {}
  // Monotonic values rendered as a counter (name ends in _total).
  bool counter() const { return counter_; }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  std::vector<GaugeSample> Read() const { return read_(); }

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  ReadFn read_;
  bool counter_;
};

// Owns every metric family of a process; exporters render from it. Families are created at
// startup (by the typed metric structs of each layer) and live as long as the registry.
class MetricRegistry {
 public:
  CounterFamily& AddCounter(std::string name, std::string help, std::vector<std::string> labels);
  GaugeFamily& AddGauge(std::string name, std::string help, std::vector<std::string> labels);
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> labels, std::vector<double> bounds);
  void AddCallbackGauge(std::string name, std::string help, std::vector<std::string> labels,
                        CallbackGaugeFamily::ReadFn read);
  void AddCallbackCounter(std::string name, std::string help, std::vector<std::string> labels,
                          CallbackGaugeFamily::ReadFn read);

  // Calls `fn` with every family (CounterFamily, GaugeFamily, HistogramFamily,
  // CallbackGaugeFamily), in registration order within each kind.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    absl::MutexLock l(&mu_);
    for (const auto& f : counters_) fn(*f);
    for (const auto& f : gauges_) fn(*f);
    for (const auto& f : callback_gauges_) fn(*f);
    for (const auto& f : histograms_) fn(*f);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<CounterFamily>> counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<GaugeFamily>> gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<HistogramFamily>> histograms_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<CallbackGaugeFamily>> callback_gauges_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix
