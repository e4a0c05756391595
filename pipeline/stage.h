// The pipeline's one extension point. A stage does its part of a call and continues in
// continuation-passing style: it may run the rest of the pipeline (`next`) zero times
// (short-circuit: cache hit, error), once, or several times in sequence (retries), possibly
// later and from another thread (timers, singleflight, limiter release), and must call
// `done` exactly once when it and everything it started are finished.
// Stages are shared by all calls: they keep no per-call state and must be thread-safe.
#pragma once

#include <string_view>

#include "absl/functional/any_invocable.h"
#include "pipeline/call_context.h"

namespace llmix::pipeline {

using Done = absl::AnyInvocable<void() &&>;

class Pipeline;

// Runs the stages after the current one; `then` is called once they are finished.
class Next {
 public:
  Next(const Pipeline* pipeline, size_t index, const SpanContext* parent_span)
      : pipeline_(pipeline), index_(index), parent_span_(parent_span) {}
  void operator()(CallContext& ctx, Done then) const;

 private:
  const Pipeline* pipeline_;
  size_t index_;
  const SpanContext* parent_span_;
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Short lower_snake name; the span is "llmix.<name>".
  virtual std::string_view name() const = 0;
  // The kind of the stage's span: kClient for the stage that talks to the provider.
  virtual SpanKind span_kind() const { return SpanKind::kInternal; }
  // True for a stage that must run on a worker thread: it may block (a provider exchange, a
  // Redis round trip) or parks the call and resumes it on workers (timers, limiter queues,
  // singleflight). The runner hands the call to a worker before the first such stage; the
  // stages before it run on the thread that started the call.
  virtual bool needs_worker() const { return false; }
  // True when the stage has nothing to do for this call: the runner goes straight to the next
  // stage, with no span. For stages that only some presets use (fallback chains).
  virtual bool Skip(const CallContext& ctx) const { return false; }
  virtual void Run(CallContext& ctx, const Next& next, Done done) const = 0;
};

}  // namespace llmix::pipeline
