// Innermost stage: builds the provider request (kwargs and API key from the kwargs and key
// stages, messages, tools, remaining time budget, traceparent) and performs the upstream
// exchange through the adapter. This is the only stage that occupies a worker thread while it
// waits (the blocking HTTP exchange).
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class DispatchStage final : public Stage {
 public:
  explicit DispatchStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "dispatch"; }
  bool needs_worker() const override { return true; }
  SpanKind span_kind() const override { return SpanKind::kClient; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  PipelineState& state_;
};

}  // namespace llmix::pipeline
