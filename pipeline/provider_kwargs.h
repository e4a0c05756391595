// The kwargs LLMix's CallPipeline hands to a provider (CONTRACT.md §5, provider_kwargs and
// request_kwargs vectors): snake_case request params from the config, then the provider's
// transform (OpenAI reasoning models, OpenRouter/DeepSeek extra_body, Google thinkingBudget,
// sno-gpu base URL and thinking settings), and the model classification those transforms use
// (§6, model_capabilities vectors). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/env.h"
#include "nlohmann/json.hpp"
#include "registry/llm_config.h"

namespace llmix::pipeline {

struct ModelCapabilities {
  bool is_reasoning_model = false;
  bool supports_text_verbosity = false;
  bool fixed_temperature = false;
  std::string model_class;    // "gpt5" | "o-series" | "codex" | "standard"
  std::string normalized_id;  // lower-cased, text after the last '/'
};

// LLMix getModelCapabilities: reasoning = ^o\d | ^gpt-5 | ^codex- | ^computer-use | ^glm-;
// fixed temperature = the same minus glm; text verbosity = ^gpt-5.
ModelCapabilities GetModelCapabilities(std::string_view model);

// LLMix filterOpenAIProviderOptions: `textVerbosity` is kept only for models that support it
// (moved to `filtered_params` otherwise); null/empty options give null.
struct FilteredOptions {
  nlohmann::json options;  // object, or null
  nlohmann::json filtered_params = nlohmann::json::object();
};
FilteredOptions FilterOpenAiProviderOptions(std::string_view model, const nlohmann::json& options);

// LLMix adjustTemperatureForModel: fixed-temperature models get 1.
struct AdjustedTemperature {
  std::optional<double> temperature;
  bool was_adjusted = false;
  std::optional<double> original;  // set when adjusted
};
AdjustedTemperature AdjustTemperatureForModel(std::string_view model, std::optional<double> temperature);

// The part of the call a transform sees (LLMix's transform ctx).
struct KwargsContext {
  std::string provider;
  std::string model;
  std::optional<std::string> base_url;  // config baseUrl (inline configs)
  std::optional<bool> enable_thinking;  // common.enableThinking
  nlohmann::json provider_options;      // object or null
};

KwargsContext KwargsContextOf(const registry::LlmConfig& config);

// temperature, top_p, max_tokens, top_k, presence_penalty, frequency_penalty, stop, seed,
// response_format from `common` / `responseFormat`; absent values are left out.
nlohmann::json PipelineKwargs(const registry::LlmConfig& config);

// Applies the provider's transform to `kwargs` (providers without one return it unchanged).
// sno-gpu base URL errors are kInvalidArgument with LLMix's message.
absl::StatusOr<nlohmann::json> ApplyProviderTransform(const KwargsContext& ctx,
                                                      nlohmann::json kwargs, const Env& env);

// PipelineKwargs then ApplyProviderTransform: what the dispatch receives.
absl::StatusOr<nlohmann::json> BuildRequestKwargs(const registry::LlmConfig& config,
                                                  const Env& env);

}  // namespace llmix::pipeline
