// What a call costs: the price of the target that served it (the preset's or the fallback
// target's `metadata.llmix-sidecar.pricing`, else the sidecar's --pricing-file, else LLMix's
// table; by the configured model, then by the model the provider reported), applied to the
// call's usage with LLMix's calculateCost arithmetic. Cache hits and singleflight followers
// made no upstream call and cost 0. Also the estimate a budget reserves before dispatch.
// Pure functions over the call state; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/pricing.h"
#include "pipeline/call_context.h"
#include "pipeline/pipeline_state.h"

namespace llmix::pipeline {

// The price of the call's current target; nullopt when nothing prices its model.
std::optional<ModelPrice> ServingPrice(const PipelineState& state, const CallContext& ctx);

// The cost of the finished call (its result's usage); nullopt when the model has no price or
// the call ended with a gRPC-level status. Zeros for cache hits and singleflight followers.
std::optional<CostBreakdown> CallCost(const PipelineState& state, const CallContext& ctx);

// Tokens a budget reserves for the call before it is sent: input = bytes of the messages as
// JSON / 4 (rounded up); output = the config's maxOutputTokens, else `default_output_tokens`.
struct TokenEstimate {
  double input_tokens = 0;
  double output_tokens = 0;
};
TokenEstimate EstimateTokens(const CallContext& ctx, int64_t default_output_tokens);
// The estimate priced with ServingPrice (unrounded); 0 when the model has no price.
double EstimateCostUsd(const PipelineState& state, const CallContext& ctx,
                       int64_t default_output_tokens);

// Sets ctx.result.cost, the call span's `llmix.cost.usd` and llmix_cost_usd_total. Called once
// per call when the pipeline is done (RecordCallTelemetry).
void RecordCallCost(const PipelineState& state, CallContext& ctx);

// A --pricing-file: a JSON object mapping model -> {"input": USD per 1M, "output": USD per 1M}
// (numbers >= 0, no other keys). InvalidArgument naming the file and the entry otherwise.
absl::StatusOr<PriceTable> ParsePriceOverrides(const std::string& text);
absl::StatusOr<PriceTable> LoadPriceOverridesFile(const std::string& path);

}  // namespace llmix::pipeline
