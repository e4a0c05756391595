#include "common/provider_catalog.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

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

}  // namespace llmix
