#include "pipeline/cost_metrics.h"

#include <map>

namespace llmix::pipeline {

CostMetrics::CostMetrics(MetricRegistry& registry, const BudgetLedger& ledger)
    : cost_usd("llmix_cost_usd_total", "", {"preset", "provider", "model"}),
      budget_refusals(registry.AddCounter(
          "llmix_budget_refusals_total",
          "Calls refused before going upstream because a budget was spent, by preset and "
          "scope (preset | tenant).",
          {"preset", "scope"})) {
  registry.AddCallbackCounter(
      "llmix_cost_usd_total",
      "USD spent on calls (LLMix prices or config overrides; cache hits cost 0), by preset, "
      "provider and model.",
      {"preset", "provider", "model"}, [this]() {
        std::vector<GaugeSample> out;
        for (const auto& [labels, gauge] : cost_usd.Children()) {
          out.push_back({labels, gauge->value()});
        }
        return out;
      });
  const std::pair<const char*, BudgetField> gauges[] = {
      {"llmix_budget_spent_usd", BudgetField::kSpent},
      {"llmix_budget_reserved_usd", BudgetField::kReserved},
      {"llmix_budget_limit_usd", BudgetField::kLimit},
  };
  const char* helps[] = {
      "USD spent in the current budget window, by preset and tenant (\"\" = the preset's "
      "budget).",
      "USD reserved by calls in flight against a budget, by preset and tenant.",
      "Budget limit per window in USD, by preset and tenant.",
  };
  for (size_t i = 0; i < 3; ++i) {
    const BudgetField field = gauges[i].second;
    registry.AddCallbackGauge(gauges[i].first, helps[i], {"preset", "tenant"},
                              [&ledger, field]() { return BudgetSamples(ledger, field); });
  }
}

std::vector<GaugeSample> BudgetSamples(const BudgetLedger& ledger, BudgetField field) {
  std::vector<GaugeSample> out;
  std::map<std::string, double> other;  // preset -> sum over tenants past the cap
  size_t tenants = 0;
  for (const BudgetAccountView& a : ledger.Accounts()) {
    const double v = field == BudgetField::kSpent      ? a.spent_usd
                     : field == BudgetField::kReserved ? a.reserved_usd
                                                       : a.limit_usd;
    if (!a.tenant.empty() && ++tenants > GaugeFamily::kMaxChildren) {
      other[a.preset] += v;
      continue;
    }
    out.push_back({{a.preset, a.tenant}, v});
  }
  for (const auto& [preset, v] : other) out.push_back({{preset, "_other"}, v});
  return out;
}

}  // namespace llmix::pipeline
