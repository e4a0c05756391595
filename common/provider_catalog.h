// The providers LLMix knows: name, wire protocol, default base URL, and the environment
// variables that hold their keys and base-URL overrides; plus the base-URL rules that depend on
// the provider (sno-gpu rewriting). Immutable static data and pure functions; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/env.h"
#include "nlohmann/json.hpp"

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

// --- sno-gpu base URL and the effective base URL (CONTRACT.md §1, §5) ------------------------

// The sno-gpu endpoint: base = `config_base_url` with trailing '/' removed, or (when that is
// absent or empty) GPU_BASE_URL likewise; then one trailing "/v1" removed. Result
// `<base>/<gpu_path>/v1`, or `<base>/v1` when gpu_path is absent or empty. Errors
// (InvalidArgument, LLMix's messages): empty base -> "sno-gpu provider requires a non-empty
// base_url in config or GPU_BASE_URL env var"; gpu_path longer than 256, containing "..", or
// not matching ^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$ -> "Invalid gpu_path: <JSON string>. Must be a
// safe relative path using letters, digits, "_", "-", or "/"."
absl::StatusOr<std::string> SnoGpuBaseUrl(std::optional<std::string_view> config_base_url,
                                          std::optional<std::string_view> gpu_path, const Env& env);

// The base URL a call runs against (circuit-breaker key, dispatch): for provider "sno-gpu" the
// SnoGpuBaseUrl built from `config_base_url` and provider_options["sno-gpu"].gpuPath, otherwise
// `config_base_url` or "" when absent. A gpuPath that is JS-falsy (absent, null, false, 0, "")
// means no path; any other non-string gpuPath is an "Invalid gpu_path" error.
absl::StatusOr<std::string> EffectiveBaseUrl(std::string_view provider,
                                             const std::optional<std::string>& config_base_url,
                                             const nlohmann::json& provider_options,
                                             const Env& env);

// The `baseUrl` member of the response-cache key for a raw config object (values as given, not
// type-checked): sno-gpu -> the rewritten URL (a non-string config baseUrl is an error there);
// otherwise config.baseUrl itself. JS-falsy values (absent, undefined, null, false, 0, NaN, "")
// give nullopt; a whitespace-only string is kept.
absl::StatusOr<std::optional<nlohmann::json>> EffectiveBaseUrlForKey(const nlohmann::json& config,
                                                                     const Env& env);

}  // namespace llmix
