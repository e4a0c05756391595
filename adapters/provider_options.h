// providerOptions.<provider> in a preset uses the AI SDK's option names (camelCase, e.g.
// `reasoningEffort`, `thinking.budgetTokens`); each wire protocol has one table mapping them
// to its request fields (`reasoning_effort`, `thinking.budget_tokens`,
// `generationConfig.thinkingConfig`). Options a table does not know are passed through
// unchanged at the top level of the body and reported so the caller can warn once.
// Options the pipeline already consumed (sno-gpu `gpuPath`, openrouter `provider`) are
// dropped. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/container/flat_hash_set.h"
#include "common/logging.h"
#include "nlohmann/json.hpp"

namespace llmix::adapters {

// Writes the wire form of `options` (providerOptions[provider]; ignored unless an object)
// into `body`. Names passed through unmapped are appended to `unknown`.
void ApplyProviderOptions(std::string_view provider, const nlohmann::json& options,
                          nlohmann::json& body, std::vector<std::string>* unknown);

// Logs "unknown provider option passed through" once per (provider, option). Thread-safe.
class UnknownOptionWarner {
 public:
  explicit UnknownOptionWarner(Logger* logger) : logger_(logger) {}
  void Warn(std::string_view provider, const std::vector<std::string>& names);

 private:
  Logger* logger_;
  absl::Mutex mu_;
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::adapters
