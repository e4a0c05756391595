#include "adapters/provider_options.h"

#include <span>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/provider_catalog.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

struct Rename {
  std::string_view sdk;
  std::string_view wire;
};

// One option: its AI SDK name, the dotted wire path it lands at ("" = consumed by the
// pipeline or meaningful only to the AI SDK, so dropped), and renames of its own keys.
struct OptionRule {
  std::string_view sdk;
  std::string_view wire;
  std::span<const Rename> nested = {};
};

constexpr Rename kAnthropicThinking[] = {{"type", "type"}, {"budgetTokens", "budget_tokens"}};

// OpenAI Chat Completions (and every OpenAI-compatible provider).
constexpr OptionRule kOpenAiChat[] = {
    {"reasoningEffort", "reasoning_effort"},
    {"user", "user"},
    {"store", "store"},
    {"parallelToolCalls", "parallel_tool_calls"},
    {"logitBias", "logit_bias"},
    {"logprobs", "logprobs"},
    {"topLogprobs", "top_logprobs"},
    {"serviceTier", "service_tier"},
    {"metadata", "metadata"},
    {"maxCompletionTokens", "max_completion_tokens"},
    {"textVerbosity", "verbosity"},
    {"prediction", "prediction"},
    {"promptCacheKey", "prompt_cache_key"},
    {"safetyIdentifier", "safety_identifier"},
    {"structuredOutputs", ""},
    {"strictJsonSchema", ""},
    // Consumed by the kwargs transforms (extra_body, base URL, thinking settings).
    {"provider", ""},
    {"reasoning", ""},
    {"gpuPath", ""},
    {"enableThinking", ""},
    {"thinkingBudget", ""},
};

constexpr OptionRule kAnthropic[] = {
    {"thinking", "thinking", kAnthropicThinking},
    {"sendReasoning", ""},
    {"disableParallelToolUse", ""},  // applied to tool_choice by the adapter
    {"cacheControl", ""},
    {"structuredOutputs", ""},
};

constexpr OptionRule kGemini[] = {
    {"thinkingConfig", "generationConfig.thinkingConfig"},
    {"responseModalities", "generationConfig.responseModalities"},
    {"mediaResolution", "generationConfig.mediaResolution"},
    {"audioTimestamp", "generationConfig.audioTimestamp"},
    {"safetySettings", "safetySettings"},
    {"cachedContent", "cachedContent"},
    {"labels", "labels"},
    {"structuredOutputs", ""},
};

std::span<const OptionRule> TableFor(std::string_view provider) {
  const ProviderInfo* info = FindProvider(provider);
  if (info == nullptr) return kOpenAiChat;
  switch (info->protocol) {
    case WireProtocol::kAnthropicMessages:
      return kAnthropic;
    case WireProtocol::kGeminiGenerateContent:
      return kGemini;
    default:
      return kOpenAiChat;
  }
}

json Renamed(const json& value, std::span<const Rename> renames) {
  if (renames.empty() || !value.is_object()) return value;
  json out = json::object();
  for (const auto& [k, v] : value.items()) {
    std::string name = k;
    for (const Rename& r : renames) {
      if (k == r.sdk) name = std::string(r.wire);
    }
    out[name] = v;
  }
  return out;
}

void SetPath(json& body, std::string_view dotted, json value) {
  json* at = &body;
  std::vector<std::string> parts = absl::StrSplit(std::string(dotted), '.');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    json& next = (*at)[parts[i]];
    if (!next.is_object()) next = json::object();
    at = &next;
  }
  (*at)[parts.back()] = std::move(value);
}

}  // namespace

void ApplyProviderOptions(std::string_view provider, const json& options, json& body,
                          std::vector<std::string>* unknown) {
  if (!options.is_object()) return;
  const std::span<const OptionRule> table = TableFor(provider);
  for (const auto& [name, value] : options.items()) {
    if (value.is_null()) continue;
    const OptionRule* rule = nullptr;
    for (const OptionRule& r : table) {
      if (r.sdk == name) rule = &r;
    }
    if (rule == nullptr) {
      body[name] = value;
      if (unknown != nullptr) unknown->push_back(name);
      continue;
    }
    if (rule->wire.empty()) continue;
    SetPath(body, rule->wire, Renamed(value, rule->nested));
  }
}

void UnknownOptionWarner::Warn(std::string_view provider, const std::vector<std::string>& names) {
  if (names.empty() || logger_ == nullptr) return;
  for (const std::string& name : names) {
    std::string key = std::string(provider) + "\n" + name;
    {
      absl::MutexLock l(&mu_);
      if (!seen_.insert(key).second) continue;
    }
    logger_->Warn("unknown provider option passed through unchanged",
                  {{"provider", provider}, {"option", std::string_view(name)}});
  }
}

}  // namespace llmix::adapters
