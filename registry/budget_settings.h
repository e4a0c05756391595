// The cost settings of a preset's `metadata.llmix-sidecar` namespace: `pricing` (a price that
// replaces LLMix's table for the preset's model, or for one fallback target's) and `budget`
// (spend limits per window for the preset and per tenant). Typed once at load; immutable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pricing.h"
#include "nlohmann/json.hpp"

namespace llmix::registry {

// A budget window: fixed calendar periods in UTC ("hour", "day", "month") or fixed spans of
// `<n>s` aligned to the Unix epoch. Windows never overlap; spend starts at 0 in each.
struct BudgetWindow {
  enum class Kind { kHour, kDay, kMonth, kSeconds };
  Kind kind = Kind::kDay;
  int64_t seconds = 86400;   // kSeconds: the span (1 .. 31536000)
  std::string text = "day";  // as written, for messages

  // The window [start, end) that holds `now`.
  absl::Time Start(absl::Time now) const;
  absl::Time End(absl::Time now) const;
};

// "hour" | "day" | "month" | "<n>s" with 1 <= n <= 31536000 (a year). InvalidArgument
// saying what is accepted otherwise.
absl::StatusOr<BudgetWindow> ParseBudgetWindow(std::string_view text);

// Output tokens assumed for a budget reservation when the call sets no maxOutputTokens.
inline constexpr int64_t kDefaultEstimateOutputTokens = 1024;

struct BudgetSettings {
  std::optional<double> limit_usd;       // `limitUsd`: the preset's spend per window
  std::optional<double> per_tenant_usd;  // `perTenantUsd`: each tenant's spend per window
  BudgetWindow window;                   // `window` (default "day")
  // `estimateOutputTokens`: output tokens reserved when the call has no maxOutputTokens.
  int64_t estimate_output_tokens = kDefaultEstimateOutputTokens;
};

// `pricing` of a schema-checked namespace (or fallback target) object; nullopt when absent.
std::optional<ModelPrice> PricingOf(const nlohmann::json& object);
// `budget` of a schema-checked namespace; nullopt when absent.
std::optional<BudgetSettings> BudgetOf(const nlohmann::json& ns);

}  // namespace llmix::registry
