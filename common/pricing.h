// Model prices and call costs exactly as LLMix computes them (CONTRACT.md §6, pricing vectors):
// the built-in table (LLMix 2.2.0's data/pricing.json, embedded at build time from
// common/data/llmix_pricing.json), getModelPricing's lookup order (exact key; normalised:
// lowercase, vendor prefix, date suffixes, Anthropic tier order; lowercase) and calculateCost's
// `Number(x.toFixed(6))` rounding. Shared by the pipeline (cost on every response, budgets) and
// the sidecar (the --pricing-file overrides), so it lives in common/. Immutable data and pure
// functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace llmix {

// USD per 1M tokens.
struct ModelPrice {
  double input = 0;
  double output = 0;
  bool operator==(const ModelPrice&) const = default;
};

// LLMix CostBreakdown: each part rounded with Number(x.toFixed(6)); the total is the rounded
// sum of the unrounded parts.
struct CostBreakdown {
  double input_usd = 0;
  double output_usd = 0;
  double total_usd = 0;
};

// Model name -> price. Keys are looked up as LLMix does (LookupModelPrice).
using PriceTable = absl::flat_hash_map<std::string, ModelPrice>;

// LLMix's MODEL_PRICING: the embedded data/pricing.json without '_'-prefixed keys and entries
// whose input/output are not numbers.
const PriceTable& BuiltinPriceTable();

// The same filter over any LLMix-format pricing object (what BuiltinPriceTable applies).
PriceTable PriceTableFromLlmixJson(const nlohmann::json& data);

// LLMix normalizeModelName: lowercase (JS toLowerCase), text after the last '/', then strip
// one `-YYYY-MM-DD`, then `-YYYYMMDD`, then `-NNNN` suffix, then claude-<tier>-A-B ->
// claude-A.B-<tier>.
std::string NormalizeModelName(std::string_view model);

// getModelPricing over `table`: the exact key, else the normalised name, else the lowercase
// name; nullopt when none is in the table.
std::optional<ModelPrice> LookupModelPrice(const PriceTable& table, std::string_view model);
// getModelPricing(model) over the built-in table.
std::optional<ModelPrice> GetModelPricing(std::string_view model);

// calculateCost's arithmetic for a known price: tokens / 1e6 × price per part, rounded.
// InvalidArgument (LLMix's RangeError messages) for non-finite or negative token counts.
absl::StatusOr<CostBreakdown> CostOf(const ModelPrice& price, double input_tokens,
                                     double output_tokens);
// calculateCost(model, input, output): zeros for a model without a price.
absl::StatusOr<CostBreakdown> CalculateCost(std::string_view model, double input_tokens,
                                            double output_tokens);
// calculateRerankCost(model, searchCount): 1000 input tokens per search.
double CalculateRerankCost(std::string_view model, double search_count);

// JavaScript `Number(x.toFixed(digits))` (0 <= digits <= 20): the exact decimal value of `x`
// rounded to `digits` places, halves away from zero; |x| >= 1e21 and NaN are returned as is.
double JsToFixedNumber(double x, int digits);

}  // namespace llmix
