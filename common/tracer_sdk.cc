#include "common/tracer_sdk.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace llmix {

absl::StatusOr<Sampler> Sampler::Parse(std::string_view name_in, std::string_view arg_in) {
  const std::string name = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(name_in.data(), name_in.size())));
  const std::string arg(
      absl::StripAsciiWhitespace(absl::string_view(arg_in.data(), arg_in.size())));
  Sampler s;
  if (name.empty() || name == "parentbased_always_on") {
    s = {Root::kAlwaysOn, 1.0, true};
  } else if (name == "always_on") {
    s = {Root::kAlwaysOn, 1.0, false};
  } else if (name == "always_off") {
    s = {Root::kAlwaysOff, 0.0, false};
  } else if (name == "parentbased_always_off") {
    s = {Root::kAlwaysOff, 0.0, true};
  } else if (name == "traceidratio" || name == "parentbased_traceidratio") {
    s = {Root::kRatio, 1.0, name != "traceidratio"};
    if (!arg.empty()) {
      double r = 0;
      if (!absl::SimpleAtod(arg, &r) || !(r >= 0.0 && r <= 1.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("OTEL_TRACES_SAMPLER_ARG: expected a ratio in [0, 1], got \"", arg, "\""));
      }
      s.ratio = r;
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("OTEL_TRACES_SAMPLER: unknown sampler \"", name,
                     "\" (always_on, always_off, traceidratio, parentbased_always_on, "
                     "parentbased_always_off, parentbased_traceidratio)"));
  }
  return s;
}

bool Sampler::ShouldSample(const SpanContext* parent,
                           const std::array<uint8_t, 16>& trace_id) const {
  if (parent_based && parent != nullptr && parent->valid()) return parent->sampled;
  switch (root) {
    case Root::kAlwaysOn:
      return true;
    case Root::kAlwaysOff:
      return false;
    case Root::kRatio: {
      // As the Go and Java SDKs do: the low 8 bytes of the trace id, as a 63-bit number,
      // against ratio * 2^63 — so every service sampling at the same ratio agrees.
      if (ratio >= 1.0) return true;
      uint64_t x = 0;
      for (int i = 8; i < 16; ++i) x = (x << 8) | trace_id[i];
      const auto bound = static_cast<uint64_t>(ratio * 9223372036854775808.0);  // 2^63
      return (x >> 1) < bound;
    }
  }
  return true;
}

BatchSpanProcessor::BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter, BatchOptions options)
    : exporter_(std::move(exporter)), options_(options) {
  options_.max_queue_size = std::max<size_t>(options_.max_queue_size, 1);
  options_.max_export_batch_size =
      std::clamp<size_t>(options_.max_export_batch_size, 1, options_.max_queue_size);
  thread_ = std::thread([this] { Loop(); });
}

BatchSpanProcessor::~BatchSpanProcessor() { Shutdown(options_.export_timeout); }

void BatchSpanProcessor::OnEnd(SpanData&& data) {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_ || queue_.size() >= options_.max_queue_size) {
    ++counts_.dropped_queue_full;
    return;
  }
  queue_.push_back(std::move(data));
  ++accepted_;
  // Wake the exporter early once a full batch is waiting (spec: maxExportBatchSize).
  if (queue_.size() >= options_.max_export_batch_size) wake_.notify_one();
}

void BatchSpanProcessor::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    const auto delay = absl::ToChronoMilliseconds(options_.schedule_delay);
    wake_.wait_for(l, delay, [this] {
      return stopping_ || queue_.size() >= options_.max_export_batch_size || flush_target_ > done_;
    });
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::vector<SpanData> batch;
    const size_t n = std::min(queue_.size(), options_.max_export_batch_size);
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    l.unlock();
    const bool ok = exporter_->Export(batch, options_.export_timeout);
    l.lock();
    (ok ? counts_.exported : counts_.failed) += batch.size();
    done_ += batch.size();
    progressed_.notify_all();
  }
}

bool BatchSpanProcessor::ForceFlush(absl::Duration timeout) {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t target = accepted_;
  const uint64_t failed_before = counts_.failed;
  flush_target_ = std::max(flush_target_, target);
  wake_.notify_one();
  const bool reached =
      progressed_.wait_for(l, absl::ToChronoMilliseconds(timeout), [&] { return done_ >= target; });
  return reached && counts_.failed == failed_before;
}

void BatchSpanProcessor::Shutdown(absl::Duration timeout) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!thread_.joinable()) return;
  }
  ForceFlush(timeout);
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    // Whatever could not go out within the timeout is dropped, not waited for.
    counts_.dropped_queue_full += queue_.size();
    queue_.clear();
  }
  exporter_->Abort();  // an export stuck on a dead collector must not hold the exit
  wake_.notify_one();
  thread_.join();
}

SpanCounts BatchSpanProcessor::Counts() const {
  std::lock_guard<std::mutex> l(mu_);
  SpanCounts c = counts_;
  c.queued = queue_.size();
  return c;
}

std::unique_ptr<Span> ExportingTracer::StartSpan(std::string_view name, const SpanContext* parent,
                                                 SpanKind kind) {
  SpanContext ctx = ChildSpanContext(parent);
  ctx.sampled = options_.sampler.ShouldSample(parent, ctx.trace_id);
  if (!ctx.sampled) return NonRecordingSpan(ctx);
  return StartRecordingSpan(sink_, name, ctx, parent, kind, options_.max_attribute_value_bytes);
}

}  // namespace llmix
