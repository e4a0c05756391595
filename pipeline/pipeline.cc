#include "pipeline/pipeline.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmix::pipeline {

void CallContext::Fail(CallError error) {
  result.success = false;
  result.content.clear();
  result.thinking_content.reset();
  result.usage = {};
  result.tool_calls.clear();
  result.error = std::move(error);
}

void ContinueOnWorker(CallContext& ctx, absl::AnyInvocable<void(bool admitted) &&> then) {
  WorkerHandoff* handoff = std::exchange(ctx.handoff, nullptr);
  if (handoff == nullptr) {
    std::move(then)(true);
    return;
  }
  // Shared so that a refused task (dropped by the queue) leaves `then` here to report it.
  auto shared = std::make_shared<absl::AnyInvocable<void(bool) &&>>(std::move(then));
  if (handoff->TryHandOff([shared]() mutable { std::move (*shared)(true); }, ctx.input.priority)) {
    return;
  }
  ctx.status = absl::ResourceExhaustedError(
      absl::StrCat("sidecar overloaded: worker queue is full (",
                   std::string(PriorityName(ctx.input.priority)), " priority)"));
  std::move (*shared)(false);
}

void Next::operator()(CallContext& ctx, Done then) const {
  pipeline_->RunFrom(index_, ctx, parent_span_, std::move(then));
}

Pipeline::Pipeline(std::vector<std::unique_ptr<Stage>> stages, Tracer& tracer,
                   HistogramFamily* stage_latency)
    : stages_(std::move(stages)), tracer_(tracer) {
  for (const auto& s : stages_) {
    span_names_.push_back("llmix." + std::string(s->name()));
    latency_.push_back(stage_latency ? &stage_latency->With({std::string(s->name())}) : nullptr);
  }
}

std::vector<std::string> Pipeline::StageNames() const {
  std::vector<std::string> out;
  for (const auto& s : stages_) out.emplace_back(s->name());
  return out;
}

void Pipeline::Run(CallContext& ctx, Done on_complete) const {
  RunFrom(0, ctx, ctx.span ? &ctx.span->context() : nullptr, std::move(on_complete));
}

void Pipeline::RunFrom(size_t index, CallContext& ctx, const SpanContext* parent, Done then) const {
  while (index < stages_.size() && stages_[index]->Skip(ctx)) ++index;
  if (index >= stages_.size()) {
    std::move(then)();
    return;
  }
  if (ctx.handoff != nullptr && stages_[index]->needs_worker()) {
    ContinueOnWorker(ctx,
                     [this, index, &ctx, parent, then = std::move(then)](bool admitted) mutable {
                       if (!admitted) {
                         std::move(then)();  // refused: ctx.status says RESOURCE_EXHAUSTED
                         return;
                       }
                       RunFrom(index, ctx, parent, std::move(then));
                     });
    return;
  }
  // The span and start time live in the `done` continuation, which the stage calls once.
  std::shared_ptr<Span> span =
      tracer_.StartSpan(span_names_[index], parent, stages_[index]->span_kind());
  Span* stage_span = span.get();
  const SpanContext* span_ctx = &span->context();
  const auto started = std::chrono::steady_clock::now();
  Histogram* latency = latency_[index];
  Done done = [span = std::move(span), started, latency, then = std::move(then)]() mutable {
    if (latency != nullptr) {
      latency->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    span->End();
    std::move(then)();
  };
  ctx.stage_span = stage_span;
  stages_[index]->Run(ctx, Next(this, index + 1, span_ctx), std::move(done));
}

}  // namespace llmix::pipeline
