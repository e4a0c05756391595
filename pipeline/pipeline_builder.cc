#include "pipeline/pipeline_builder.h"

#include "pipeline/budget_stage.h"
#include "pipeline/cache_stage.h"
#include "pipeline/dispatch_stage.h"
#include "pipeline/fallback_stage.h"
#include "pipeline/json_stage.h"
#include "pipeline/resilience_stages.h"
#include "pipeline/resolve_stage.h"
#include "pipeline/respond_stage.h"
#include "pipeline/routing_stage.h"
#include "pipeline/think_stage.h"
#include "pipeline/validate_stage.h"

namespace llmix::pipeline {

std::unique_ptr<Pipeline> BuildPipeline(PipelineState& state) {
  if (!state.resilience) {
    // Tools and tests that build a bare PipelineState get LLMix's defaults.
    auto resilience = ResilienceState::Create(ResilienceOptions{}, state.clock, state.env);
    if (resilience.ok()) state.resilience = std::move(*resilience);
  }
  if (!state.routing) state.routing = std::make_shared<RoutingState>();
  if (!state.semantic_index) {
    state.semantic_index =
        std::make_unique<cache::SemanticIndex>(state.clock, cache::SemanticIndexOptions{});
  }
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<ValidateStage>(state));
  stages.push_back(std::make_unique<ResolveStage>(state));
  stages.push_back(std::make_unique<KillSwitchStage>(state));
  stages.push_back(std::make_unique<JsonStage>(state));  // only JSON tasks; outside think
  stages.push_back(std::make_unique<ThinkStage>(state));
  stages.push_back(std::make_unique<FallbackStage>(state));  // only presets with a fallback
  stages.push_back(std::make_unique<CacheStage>(state));
  stages.push_back(std::make_unique<BudgetStage>(state));  // only presets with a budget
  stages.push_back(std::make_unique<BreakerStage>(state));
  stages.push_back(std::make_unique<SingleflightStage>(state));
  stages.push_back(std::make_unique<RoutingStage>(state));  // leaders of targets with a rule
  stages.push_back(std::make_unique<RespondStage>(state));
  stages.push_back(std::make_unique<RetryStage>(state));
  stages.push_back(std::make_unique<AimdStage>(state));
  stages.push_back(std::make_unique<KeyStage>(state));
  stages.push_back(std::make_unique<KwargsStage>(state));
  stages.push_back(std::make_unique<DispatchStage>(state));
  return std::make_unique<Pipeline>(std::move(stages), state.tracer,
                                    &state.metrics.stage_seconds);
}

}  // namespace llmix::pipeline
