#include "pipeline/resilience/global_concurrency.h"

#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/js_text.h"

namespace llmix::resilience {

absl::StatusOr<std::optional<int>> ParseGlobalConcurrency(std::optional<std::string_view> value) {
  if (!value.has_value()) return std::optional<int>();
  const std::string_view trimmed = TrimJsWhitespace(*value);
  if (trimmed.empty()) return std::optional<int>();
  auto error = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("LLM_GLOBAL_CONCURRENCY must be a positive integer, got \"",
                     absl::string_view(trimmed.data(), trimmed.size()), "\""));
  };
  // JS Number(): decimal text only here (no hex, no Infinity); SimpleAtod alone would accept
  // "inf"/"nan" and hex floats.
  for (char c : trimmed) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return error();
    }
  }
  double d = 0;
  if (!absl::SimpleAtod(absl::string_view(trimmed.data(), trimmed.size()), &d) ||
      !std::isfinite(d) || d < 1 || d != std::floor(d) || d > 1e6) {
    return error();
  }
  return std::optional<int>(static_cast<int>(d));
}

}  // namespace llmix::resilience
