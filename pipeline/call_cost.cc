#include "pipeline/call_cost.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/js_json.h"
#include "pipeline/cost_metrics.h"

namespace llmix::pipeline {

namespace {

std::optional<ModelPrice> TablePrice(const PipelineState& state, const std::string& model) {
  if (model.empty()) return std::nullopt;
  if (auto p = LookupModelPrice(state.price_overrides, model)) return p;
  return GetModelPricing(model);
}

}  // namespace

std::optional<ModelPrice> ServingPrice(const PipelineState& state, const CallContext& ctx) {
  if (ctx.preset != nullptr) {
    const registry::SidecarSettings& s = ctx.preset->sidecar;
    const int i = ctx.result.fallback_index;
    if (i == 0 && s.pricing.has_value()) return s.pricing;
    if (i > 0 && static_cast<size_t>(i) <= s.fallback.size() &&
        s.fallback[static_cast<size_t>(i - 1)].pricing.has_value()) {
      return s.fallback[static_cast<size_t>(i - 1)].pricing;
    }
  }
  const std::string configured = ctx.config != nullptr ? ctx.config->model : "";
  if (auto p = TablePrice(state, configured)) return p;
  if (ctx.result.model != configured) return TablePrice(state, ctx.result.model);
  return std::nullopt;
}

std::optional<CostBreakdown> CallCost(const PipelineState& state, const CallContext& ctx) {
  if (!ctx.status.ok() || ctx.config == nullptr) return std::nullopt;
  if (ctx.result.cache_tier != CacheTier::kNone || ctx.upstream.follower) return CostBreakdown{};
  std::optional<ModelPrice> price = ServingPrice(state, ctx);
  if (!price.has_value()) return std::nullopt;
  auto cost = CostOf(*price, static_cast<double>(ctx.result.usage.input_tokens),
                     static_cast<double>(ctx.result.usage.output_tokens));
  if (!cost.ok()) return std::nullopt;
  return *cost;
}

TokenEstimate EstimateTokens(const CallContext& ctx, int64_t default_output_tokens) {
  TokenEstimate e;
  const std::string text =
      ctx.input.messages.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  e.input_tokens = std::ceil(static_cast<double>(text.size()) / 4);
  e.output_tokens = static_cast<double>(default_output_tokens);
  if (ctx.config != nullptr && ctx.config->common.max_output_tokens.has_value() &&
      std::isfinite(*ctx.config->common.max_output_tokens) &&
      *ctx.config->common.max_output_tokens > 0) {
    e.output_tokens = *ctx.config->common.max_output_tokens;
  }
  return e;
}

double EstimateCostUsd(const PipelineState& state, const CallContext& ctx,
                       int64_t default_output_tokens) {
  std::optional<ModelPrice> price = ServingPrice(state, ctx);
  if (!price.has_value()) return 0;
  const TokenEstimate e = EstimateTokens(ctx, default_output_tokens);
  return (e.input_tokens / 1'000'000) * price->input +
         (e.output_tokens / 1'000'000) * price->output;
}

void RecordCallCost(const PipelineState& state, CallContext& ctx) {
  ctx.result.cost = CallCost(state, ctx);
  if (!ctx.result.cost.has_value()) return;
  if (ctx.span != nullptr) ctx.span->SetAttribute("llmix.cost.usd", ctx.result.cost->total_usd);
  if (state.cost_metrics != nullptr && ctx.config != nullptr) {
    const std::string preset = !ctx.preset_id.empty() ? ctx.preset_id : "inline";
    state.cost_metrics->cost_usd.With({preset, ctx.config->provider, ctx.config->model})
        .Add(ctx.result.cost->total_usd);
  }
}

absl::StatusOr<PriceTable> ParsePriceOverrides(const std::string& text) {
  auto parsed = ParseJsJson(text);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return absl::InvalidArgumentError("expected an object mapping model -> {input, output}");
  }
  PriceTable out;
  for (auto it = parsed->begin(); it != parsed->end(); ++it) {
    const std::string at = absl::StrCat("\"", it.key(), "\"");
    const nlohmann::json& v = it.value();
    if (it.key().empty()) return absl::InvalidArgumentError("empty model name");
    if (!v.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": expected {input, output}"));
    }
    ModelPrice price;
    for (const auto& [field, slot] :
         {std::pair<const char*, double*>{"input", &price.input}, {"output", &price.output}}) {
      auto f = v.find(field);
      if (f == v.end() || !f->is_number() || !std::isfinite(f->get<double>()) ||
          f->get<double>() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".", field, ": expected a number >= 0 (USD per 1M tokens)"));
      }
      *slot = f->get<double>();
    }
    for (auto f = v.begin(); f != v.end(); ++f) {
      if (f.key() != "input" && f.key() != "output") {
        return absl::InvalidArgumentError(absl::StrCat(at, ": unknown key \"", f.key(), "\""));
      }
    }
    out[it.key()] = price;
  }
  return out;
}

absl::StatusOr<PriceTable> LoadPriceOverridesFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--pricing-file ", path, ": unreadable"));
  std::ostringstream text;
  text << in.rdbuf();
  auto table = ParsePriceOverrides(text.str());
  if (!table.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--pricing-file ", path, ": ", table.status().message()));
  }
  return table;
}

}  // namespace llmix::pipeline
