// The cost and budget metrics: llmix_cost_usd_total{preset,provider,model} (a counter of
// dollars, so kept as a double and rendered at scrape time), llmix_budget_refusals_total, and
// the budget gauges read from the ledger (spent / reserved / limit per preset and tenant).
// Created once on the process registry. Thread-safe.
#pragma once

#include "common/telemetry.h"
#include "pipeline/budget_ledger.h"

namespace llmix::pipeline {

struct CostMetrics {
  // `ledger` must outlive the registry's use of these families.
  CostMetrics(MetricRegistry& registry, const BudgetLedger& ledger);

  // {preset, provider, model}: USD of priced calls; read by the llmix_cost_usd_total family.
  GaugeFamily cost_usd;
  CounterFamily& budget_refusals;  // {preset, scope}: scope "preset" | "tenant"
};

// The budget gauge samples for one field of the ledger's accounts, labelled {preset, tenant}
// (tenant "" for the preset-wide budget). Tenant samples beyond Family::kMaxChildren are
// summed into tenant "_other" (the label-cardinality backstop of the other families).
enum class BudgetField { kSpent, kReserved, kLimit };
std::vector<GaugeSample> BudgetSamples(const BudgetLedger& ledger, BudgetField field);

}  // namespace llmix::pipeline
