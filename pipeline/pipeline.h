// An ordered list of stages and the runner that threads a call through them, wrapping each
// stage in a span named "llmix.<stage>" (child of the enclosing stage's span) and recording
// per-stage latency. Built once by pipeline_builder; immutable and shared by all calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/telemetry.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class Pipeline {
 public:
  Pipeline(std::vector<std::unique_ptr<Stage>> stages, Tracer& tracer,
           HistogramFamily* stage_latency);

  // Runs `ctx` through every stage; `on_complete` is called exactly once at the end
  // (possibly on another thread). `ctx` must outlive that call.
  void Run(CallContext& ctx, Done on_complete) const;

  std::vector<std::string> StageNames() const;

 private:
  friend class Next;
  void RunFrom(size_t index, CallContext& ctx, const SpanContext* parent, Done then) const;

  std::vector<std::unique_ptr<Stage>> stages_;
  std::vector<std::string> span_names_;
  std::vector<Histogram*> latency_;  // per stage, may hold nulls
  Tracer& tracer_;
};

}  // namespace llmix::pipeline
