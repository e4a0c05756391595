#include "common/provider_catalog.h"

#include <array>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/canonical_json.h"

namespace llmix {

namespace {

constexpr std::array<ProviderInfo, 10> kProviders = {{
    {"openai", WireProtocol::kOpenAiChat, "https://api.openai.com/v1", "OPENAI_BASE_URL", ""},
    {"anthropic", WireProtocol::kAnthropicMessages, "https://api.anthropic.com/v1",
     "ANTHROPIC_BASE_URL", ""},
    {"google", WireProtocol::kGeminiGenerateContent,
     "https://generativelanguage.googleapis.com/v1beta", "GOOGLE_BASE_URL", "GEMINI_API_KEY"},
    {"gemini", WireProtocol::kGeminiGenerateContent,
     "https://generativelanguage.googleapis.com/v1beta", "GEMINI_BASE_URL", "GEMINI_API_KEY"},
    {"openrouter", WireProtocol::kOpenAiChat, "https://openrouter.ai/api/v1",
     "OPENROUTER_BASE_URL", ""},
    {"deepseek", WireProtocol::kOpenAiChat, "https://openrouter.ai/api/v1", "DEEPSEEK_BASE_URL",
     ""},
    {"deepinfra", WireProtocol::kOpenAiChat, "https://api.deepinfra.com/v1/openai",
     "DEEPINFRA_BASE_URL", ""},
    {"novita", WireProtocol::kOpenAiChat, "https://api.novita.ai/v3/openai", "NOVITA_BASE_URL",
     ""},
    {"together", WireProtocol::kOpenAiChat, "https://api.together.xyz/v1", "TOGETHER_BASE_URL",
     ""},
    {"sno-gpu", WireProtocol::kOpenAiChat, "", "GPU_BASE_URL", "SNO_LLM_API_KEY"},
}};

constexpr std::string_view kSnoGpu = "sno-gpu";
constexpr size_t kMaxGpuPathLength = 256;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// JS `/\/+$/` replacement with "".
std::string_view StripTrailingSlashes(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

bool IsGpuPathChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// ^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$ : non-empty segments of safe characters joined by '/'.
bool MatchesGpuPathPattern(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  char prev = '/';
  for (char c : path) {
    if (c == '/') {
      if (prev == '/') return false;
    } else if (!IsGpuPathChar(c)) {
      return false;
    }
    prev = c;
  }
  return true;
}

absl::Status InvalidGpuPath(std::string_view quoted) {
  return absl::InvalidArgumentError(absl::StrCat(
      "Invalid gpu_path: ", AV(quoted),
      ". Must be a safe relative path using letters, digits, \"_\", \"-\", or \"/\"."));
}

const nlohmann::json* Member(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_discarded()) return nullptr;
  return &*it;
}

// JS truthiness of a JSON value (`undefined` is falsy).
bool IsJsTruthy(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return false;
    case nlohmann::json::value_t::boolean:
      return v.get<bool>();
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: {
      double d = v.get<double>();
      return d != 0 && !std::isnan(d);
    }
    case nlohmann::json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    default:
      return true;  // objects, arrays, binary
  }
}

// providerOptions["sno-gpu"].gpuPath: nullopt when JS-falsy; non-string truthy values are
// rejected (LLMix would fail on them with a TypeError or build a URL from String(value)).
absl::StatusOr<std::optional<std::string>> GpuPathFromOptions(const nlohmann::json& options) {
  const nlohmann::json* sno = Member(options, kSnoGpu);
  const nlohmann::json* gpu_path = sno != nullptr ? Member(*sno, "gpuPath") : nullptr;
  if (gpu_path == nullptr || !IsJsTruthy(*gpu_path)) return std::optional<std::string>();
  if (!gpu_path->is_string()) return InvalidGpuPath(CacheCanonicalJson(*gpu_path));
  return std::optional<std::string>(gpu_path->get<std::string>());
}

}  // namespace

std::string_view WireProtocolName(WireProtocol p) {
  switch (p) {
    case WireProtocol::kOpenAiChat:
      return "openai_chat";
    case WireProtocol::kAnthropicMessages:
      return "anthropic_messages";
    case WireProtocol::kGeminiGenerateContent:
      return "gemini_generate_content";
  }
  return "unknown";
}

std::span<const ProviderInfo> AllProviders() { return kProviders; }

const ProviderInfo* FindProvider(std::string_view name) {
  for (const auto& p : kProviders) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string ProviderEnvPrefix(std::string_view provider) {
  std::string out(provider);
  for (char& c : out) c = (c == '-') ? '_' : absl::ascii_toupper(static_cast<unsigned char>(c));
  return out;
}

std::vector<std::string> ProviderKeyEnvNames(std::string_view provider) {
  std::string prefix = ProviderEnvPrefix(provider);
  std::vector<std::string> names = {prefix + "_KEYS", prefix + "_API_KEY"};
  if (const ProviderInfo* p = FindProvider(provider); p && !p->key_alias_env.empty()) {
    names.emplace_back(p->key_alias_env);
  }
  return names;
}

std::string DefaultBaseUrl(const ProviderInfo& provider, const Env& env) {
  if (!provider.base_url_env.empty()) {
    if (auto v = env.Get(provider.base_url_env); v && !v->empty()) return *v;
  }
  return std::string(provider.default_base_url);
}

absl::StatusOr<std::string> SnoGpuBaseUrl(std::optional<std::string_view> config_base_url,
                                          std::optional<std::string_view> gpu_path,
                                          const Env& env) {
  std::string base(StripTrailingSlashes(config_base_url.value_or("")));
  if (base.empty()) {
    std::optional<std::string> from_env = env.Get("GPU_BASE_URL");
    base = std::string(StripTrailingSlashes(from_env.value_or("")));
  }
  if (absl::EndsWith(base, "/v1")) base.resize(base.size() - 3);
  if (base.empty()) {
    return absl::InvalidArgumentError(
        "sno-gpu provider requires a non-empty base_url in config or GPU_BASE_URL env var");
  }
  if (!gpu_path.has_value() || gpu_path->empty()) return absl::StrCat(base, "/v1");
  if (gpu_path->size() > kMaxGpuPathLength || absl::StrContains(AV(*gpu_path), "..") ||
      !MatchesGpuPathPattern(*gpu_path)) {
    return InvalidGpuPath(JsJsonQuote(*gpu_path));
  }
  return absl::StrCat(base, "/", AV(*gpu_path), "/v1");
}

absl::StatusOr<std::string> EffectiveBaseUrl(std::string_view provider,
                                             const std::optional<std::string>& config_base_url,
                                             const nlohmann::json& provider_options,
                                             const Env& env) {
  if (provider != kSnoGpu) return config_base_url.value_or("");
  absl::StatusOr<std::optional<std::string>> gpu_path = GpuPathFromOptions(provider_options);
  if (!gpu_path.ok()) return gpu_path.status();
  std::optional<std::string_view> base;
  if (config_base_url.has_value()) base = *config_base_url;
  std::optional<std::string_view> path;
  if (gpu_path->has_value()) path = **gpu_path;
  return SnoGpuBaseUrl(base, path, env);
}

absl::StatusOr<std::optional<nlohmann::json>> EffectiveBaseUrlForKey(const nlohmann::json& config,
                                                                     const Env& env) {
  const nlohmann::json* base_url = Member(config, "baseUrl");
  const nlohmann::json* provider = Member(config, "provider");
  if (provider != nullptr && provider->is_string() &&
      provider->get_ref<const std::string&>() == kSnoGpu) {
    std::optional<std::string> config_base;
    if (base_url != nullptr && !base_url->is_null()) {
      if (!base_url->is_string()) {
        return absl::InvalidArgumentError("sno-gpu provider requires baseUrl to be a string");
      }
      config_base = base_url->get<std::string>();
    }
    const nlohmann::json* options = Member(config, "providerOptions");
    absl::StatusOr<std::string> url = EffectiveBaseUrl(
        kSnoGpu, config_base, options != nullptr ? *options : nlohmann::json(), env);
    if (!url.ok()) return url.status();
    return std::optional<nlohmann::json>(nlohmann::json(*std::move(url)));
  }
  if (base_url == nullptr || !IsJsTruthy(*base_url)) return std::optional<nlohmann::json>();
  return std::optional<nlohmann::json>(*base_url);
}

}  // namespace llmix
