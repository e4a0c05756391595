// Fallback chains (a preset's `metadata.llmix-sidecar.fallback`): runs the rest of the
// pipeline (cache, breaker, singleflight, retries, dispatch) for the preset's own target and,
// when that fails in a way another provider may not, for each fallback target in turn. Each
// target has its own cache key, breaker, key pool and AIMD limiter. The target that served is
// tried first for `fallback.stickyMs`; after that the chain starts from the preset's own
// target again, so a recovered primary is preferred once more. Skipped (no span) for calls
// whose preset has no fallback targets, and for inline configs.
#pragma once

#include <memory>

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class FallbackStage final : public Stage {
 public:
  explicit FallbackStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "fallback"; }
  bool Skip(const CallContext& ctx) const override;
  void Run(CallContext& ctx, const Next& next, Done done) const override;

  // True when a target's result should send the call on to the next target: a retryable
  // upstream failure (5xx, 429, timeout, unreachable, unusable body), an open breaker, a dead
  // or missing key. Not: success, a request the provider refused (4xx), local config errors.
  static bool ShouldFallBack(const CallContext& ctx);

 private:
  struct Chain;
  void Attempt(std::shared_ptr<Chain> chain) const;
  void AfterAttempt(std::shared_ptr<Chain> chain) const;
  PipelineState& state_;
};

}  // namespace llmix::pipeline
