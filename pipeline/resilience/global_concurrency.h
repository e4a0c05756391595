// LLMix's process-wide cap on concurrent upstream calls, `LLM_GLOBAL_CONCURRENCY`
// (createFileLock in LLMix; config_validation vectors global_concurrency_*). Pure function.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"

namespace llmix::resilience {

// Unset, empty or whitespace-only: nullopt (no cap). Otherwise the JS-trimmed text must be a
// positive integer (JS Number semantics: " 8 " and "8.0" are 8); anything else is
// kInvalidArgument `LLM_GLOBAL_CONCURRENCY must be a positive integer, got "<trimmed value>"`.
absl::StatusOr<std::optional<int>> ParseGlobalConcurrency(std::optional<std::string_view> value);

}  // namespace llmix::resilience
