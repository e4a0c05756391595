// Budgets (a preset's `metadata.llmix-sidecar.budget`): before a target is called, reserve the
// call's estimated cost against the preset's budget and, for calls with a tenant, the tenant's
// (pipeline/budget_ledger.h); a call that does not fit ends with RESOURCE_EXHAUSTED naming the
// budget, without going upstream. When the inner stages are done the reservation is settled
// exactly once with the real cost (0 for a failure without usage, a singleflight follower, or
// a call cancelled or past its deadline); a continuation dropped without running settles at 0.
// Runs after the cache (hits cost nothing and are served from a spent budget) and before the
// breaker, so a refusal is never a provider failure (no breaker, retry or fallback outcome).
// Skipped (no span) for presets without a budget and for inline configs.
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class BudgetStage final : public Stage {
 public:
  explicit BudgetStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "budget"; }
  bool Skip(const CallContext& ctx) const override;
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  PipelineState& state_;
};

}  // namespace llmix::pipeline
