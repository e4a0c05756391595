// The providers LLMix knows: name, wire protocol, default base URL, and the environment
// variables that hold their keys and base-URL overrides. Immutable static data; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"

namespace llmix {

enum class WireProtocol { kOpenAiChat, kAnthropicMessages, kGeminiGenerateContent };

std::string_view WireProtocolName(WireProtocol p);

struct ProviderInfo {
  std::string_view name;            // as written in presets: "openai", "sno-gpu", ...
  WireProtocol protocol;
  std::string_view default_base_url;  // empty: must come from env or config (sno-gpu)
  std::string_view base_url_env;      // e.g. "OPENAI_BASE_URL"; "GPU_BASE_URL" for sno-gpu
  std::string_view key_alias_env;     // extra key variable LLMix documents, or empty
};

// Every provider name LLMix's preset schema accepts, in catalog order.
std::span<const ProviderInfo> AllProviders();

// The provider's entry, or nullptr when the name is unknown.
const ProviderInfo* FindProvider(std::string_view name);

// "<PROVIDER>" prefix for env vars: upper-cased, '-' -> '_' ("sno-gpu" -> "SNO_GPU").
std::string ProviderEnvPrefix(std::string_view provider);

// Candidate key variables in lookup order: <P>_KEYS (comma list), <P>_API_KEY, then the alias.
std::vector<std::string> ProviderKeyEnvNames(std::string_view provider);

// Base URL for a provider when the request/preset sets none: the base-URL env var when set
// and non-empty, else the catalog default. Empty when neither exists.
std::string DefaultBaseUrl(const ProviderInfo& provider, const Env& env);

}  // namespace llmix
