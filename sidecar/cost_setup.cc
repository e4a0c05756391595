#include "sidecar/cost_setup.h"

#include "pipeline/call_cost.h"

namespace llmix::sidecar {

absl::Status InstallCostAccounting(const ServeOptions& options, MetricRegistry& metrics,
                                   pipeline::PipelineState& state) {
  if (!options.pricing_file.empty()) {
    auto table = pipeline::LoadPriceOverridesFile(options.pricing_file);
    if (!table.ok()) return table.status();
    state.price_overrides = *std::move(table);
    state.logger.Info("pricing overrides loaded",
                      {{"models", static_cast<int64_t>(state.price_overrides.size())}});
  }
  state.cost_metrics = std::make_unique<pipeline::CostMetrics>(metrics, state.budgets);
  return absl::OkStatus();
}

}  // namespace llmix::sidecar
