#include "pipeline/budget_stage.h"

#include <atomic>
#include <memory>
#include <vector>

#include "pipeline/call_cost.h"

namespace llmix::pipeline {

namespace {

// Holds a reservation until it is settled: by the continuation with the real cost, or, if the
// continuation is destroyed without running, at 0 here.
class Settlement {
 public:
  Settlement(BudgetLedger& ledger, BudgetReservation reservation)
      : ledger_(ledger), reservation_(std::move(reservation)) {}
  ~Settlement() { Settle(0); }
  Settlement(const Settlement&) = delete;
  Settlement& operator=(const Settlement&) = delete;

  void Settle(double cost_usd) {
    if (settled_.exchange(true)) return;
    ledger_.Settle(reservation_, cost_usd);
  }

 private:
  BudgetLedger& ledger_;
  BudgetReservation reservation_;
  std::atomic<bool> settled_{false};
};

}  // namespace

bool BudgetStage::Skip(const CallContext& ctx) const {
  return ctx.preset == nullptr || !ctx.preset->sidecar.budget.has_value();
}

void BudgetStage::Run(CallContext& ctx, const Next& next, Done done) const {
  const registry::BudgetSettings& budget = *ctx.preset->sidecar.budget;
  std::vector<BudgetCheck> checks;
  if (budget.limit_usd.has_value()) {
    checks.push_back({ctx.preset_id, "", *budget.limit_usd, budget.window});
  }
  if (budget.per_tenant_usd.has_value() && ctx.input.tenant.has_value()) {
    checks.push_back({ctx.preset_id, *ctx.input.tenant, *budget.per_tenant_usd, budget.window});
  }
  Span* span = ctx.stage_span;
  if (checks.empty()) {  // only a per-tenant budget, and no tenant on the call
    next(ctx, std::move(done));
    return;
  }
  const double estimate = EstimateCostUsd(state_, ctx, budget.estimate_output_tokens);
  absl::StatusOr<BudgetReservation> reservation = state_.budgets.Reserve(checks, estimate);
  if (span != nullptr) span->SetAttribute("llmix.budget.estimate_usd", estimate);
  if (!reservation.ok()) {
    const bool tenant = reservation.status().message().find("tenant \"") != std::string::npos;
    if (state_.cost_metrics != nullptr) {
      state_.cost_metrics->budget_refusals.With({ctx.preset_id, tenant ? "tenant" : "preset"})
          .Add();
    }
    if (span != nullptr) {
      span->SetAttribute("llmix.budget.exhausted", std::string(tenant ? "tenant" : "preset"));
    }
    ctx.status = reservation.status();
    std::move(done)();
    return;
  }
  auto settlement = std::make_shared<Settlement>(state_.budgets, *std::move(reservation));
  next(ctx, [this, &ctx, span, settlement, done = std::move(done)]() mutable {
    const std::optional<CostBreakdown> cost = CallCost(state_, ctx);
    const double usd = cost.has_value() ? cost->total_usd : 0;
    settlement->Settle(usd);
    if (span != nullptr) span->SetAttribute("llmix.budget.settled_usd", usd);
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
