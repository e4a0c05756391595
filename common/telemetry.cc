#include "common/telemetry.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"

namespace llmix {

namespace {

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& a) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(a.data()), a.size()));
}

template <size_t N>
bool ParseHex(std::string_view s, std::array<uint8_t, N>& out) {
  if (s.size() != 2 * N) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  std::string bytes = absl::HexStringToBytes(absl::string_view(s.data(), s.size()));
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return true;
}

// Per-thread generator: id generation must not contend on a lock.
std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

template <size_t N>
std::array<uint8_t, N> RandomId() {
  std::array<uint8_t, N> id{};
  do {
    for (size_t i = 0; i < N; i += 8) {
      uint64_t r = Rng()();
      for (size_t j = 0; j < 8 && i + j < N; ++j) id[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
  } while (AllZero(id));
  return id;
}

class NoopSpan final : public Span {
 public:
  explicit NoopSpan(SpanContext ctx) : ctx_(ctx) {}
  const SpanContext& context() const override { return ctx_; }
  void SetAttribute(std::string_view, AttributeValue) override {}
  void SetError(std::string_view) override {}
  void End() override {}

 private:
  SpanContext ctx_;
};

// Longest prefix of `s` of at most `max` bytes that does not split a UTF-8 sequence.
void TruncateUtf8(std::string& s, size_t max) {
  if (max == 0 || s.size() <= max) return;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
}

class RecordingSpan final : public Span {
 public:
  RecordingSpan(SpanSink* sink, SpanData data, size_t max_value_bytes)
      : sink_(sink), data_(std::move(data)), max_value_bytes_(max_value_bytes) {}
  ~RecordingSpan() override { End(); }
  const SpanContext& context() const override { return data_.context; }
  void SetAttribute(std::string_view key, AttributeValue value) override {
    if (ended_) return;
    if (auto* s = std::get_if<std::string>(&value)) TruncateUtf8(*s, max_value_bytes_);
    for (auto& [k, v] : data_.attributes) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    data_.attributes.emplace_back(std::string(key), std::move(value));
  }
  void SetError(std::string_view message) override {
    if (ended_) return;
    data_.error = true;
    data_.error_message = std::string(message);
    TruncateUtf8(data_.error_message, max_value_bytes_);
  }
  void End() override {
    if (ended_) return;
    ended_ = true;
    data_.end_unix_nanos = absl::GetCurrentTimeNanos();
    sink_->OnEnd(std::move(data_));
  }

 private:
  SpanSink* sink_;
  SpanData data_;
  size_t max_value_bytes_;
  bool ended_ = false;
};

}  // namespace

bool SpanContext::valid() const { return !AllZero(trace_id) && !AllZero(span_id); }
std::string SpanContext::TraceIdHex() const { return Hex(trace_id); }
std::string SpanContext::SpanIdHex() const { return Hex(span_id); }

std::string SpanContext::ToTraceparent() const {
  return "00-" + TraceIdHex() + "-" + SpanIdHex() + (sampled ? "-01" : "-00");
}

SpanContext SpanContext::FromTraceparent(std::string_view h) {
  SpanContext ctx;
  // version(2) - trace(32) - span(16) - flags(2); future versions may append fields.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return {};
  if (h.substr(0, 2) == "ff" || (h.substr(0, 2) == "00" && h.size() != 55)) return {};
  if (h.size() > 55 && h[55] != '-') return {};
  std::array<uint8_t, 1> flags{};
  std::array<uint8_t, 1> version{};
  if (!ParseHex(h.substr(0, 2), version) || !ParseHex(h.substr(3, 32), ctx.trace_id) ||
      !ParseHex(h.substr(36, 16), ctx.span_id) || !ParseHex(h.substr(53, 2), flags)) {
    return {};
  }
  if (!ctx.valid()) return {};
  ctx.sampled = (flags[0] & 1) != 0;
  return ctx;
}

SpanContext ChildSpanContext(const SpanContext* parent, bool sampled_if_root) {
  SpanContext ctx;
  if (parent != nullptr && parent->valid()) {
    ctx.trace_id = parent->trace_id;
    ctx.sampled = parent->sampled;
  } else {
    ctx.trace_id = NewTraceId();
    ctx.sampled = sampled_if_root;
  }
  ctx.span_id = NewSpanId();
  return ctx;
}

std::unique_ptr<Span> StartRecordingSpan(SpanSink& sink, std::string_view name,
                                         const SpanContext& context, const SpanContext* parent,
                                         SpanKind kind, size_t max_value_bytes) {
  SpanData d;
  d.name = std::string(name);
  d.kind = kind;
  d.context = context;
  if (parent != nullptr && parent->valid()) d.parent_span_id = parent->span_id;
  d.start_unix_nanos = absl::GetCurrentTimeNanos();
  return std::make_unique<RecordingSpan>(&sink, std::move(d), max_value_bytes);
}

std::unique_ptr<Span> NonRecordingSpan(const SpanContext& context) {
  return std::make_unique<NoopSpan>(context);
}

std::array<uint8_t, 16> NewTraceId() { return RandomId<16>(); }
std::array<uint8_t, 8> NewSpanId() { return RandomId<8>(); }

std::unique_ptr<Span> NoopTracer::StartSpan(std::string_view, const SpanContext* parent,
                                            SpanKind) {
  return std::make_unique<NoopSpan>(ChildSpanContext(parent));
}

std::unique_ptr<Span> InMemoryTracer::StartSpan(std::string_view name, const SpanContext* parent,
                                                SpanKind kind) {
  return StartRecordingSpan(*this, name, ChildSpanContext(parent), parent, kind);
}

void InMemoryTracer::Record(SpanData data) {
  absl::MutexLock l(&mu_);
  if (finished_.size() < max_spans_) finished_.push_back(std::move(data));
}

std::vector<SpanData> InMemoryTracer::Finished() const {
  absl::MutexLock l(&mu_);
  return finished_;
}

void Gauge::Add(double d) {
  double cur = v_.load(std::memory_order_relaxed);
  while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) s.counts[i] = buckets_[i].load();
  s.count = count_.load();
  s.sum = sum_.load();
  return s;
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60,   120};
}

CounterFamily& MetricRegistry::AddCounter(std::string name, std::string help,
                                          std::vector<std::string> labels) {
  absl::MutexLock l(&mu_);
  counters_.push_back(
      std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(labels)));
  return *counters_.back();
}

GaugeFamily& MetricRegistry::AddGauge(std::string name, std::string help,
                                      std::vector<std::string> labels) {
  absl::MutexLock l(&mu_);
  gauges_.push_back(
      std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(labels)));
  return *gauges_.back();
}

HistogramFamily& MetricRegistry::AddHistogram(std::string name, std::string help,
                                              std::vector<std::string> labels,
                                              std::vector<double> bounds) {
  absl::MutexLock l(&mu_);
  histograms_.push_back(std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                                          std::move(labels), std::move(bounds)));
  return *histograms_.back();
}

void MetricRegistry::AddCallbackGauge(std::string name, std::string help,
                                      std::vector<std::string> labels,
                                      CallbackGaugeFamily::ReadFn read) {
  absl::MutexLock l(&mu_);
  callback_gauges_.push_back(std::make_unique<CallbackGaugeFamily>(
      std::move(name), std::move(help), std::move(labels), std::move(read)));
}

void MetricRegistry::AddCallbackCounter(std::string name, std::string help,
                                        std::vector<std::string> labels,
                                        CallbackGaugeFamily::ReadFn read) {
  absl::MutexLock l(&mu_);
  callback_gauges_.push_back(std::make_unique<CallbackGaugeFamily>(
      std::move(name), std::move(help), std::move(labels), std::move(read), /*counter=*/true));
}

}  // namespace llmix
