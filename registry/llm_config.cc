#include "registry/llm_config.h"

#include "absl/strings/str_cat.h"
#include "common/provider_catalog.h"

namespace llmix::registry {

namespace {

using nlohmann::json;

absl::Status FieldError(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      absl::string_view(path.data(), path.size()), ": ", absl::string_view(what.data(), what.size())));
}

bool Present(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null() && !it->is_discarded();
}

// Reads an optional number field; a non-number is an error for fields the sidecar uses.
absl::Status ReadNumber(const json& obj, const char* key, std::string_view path,
                        std::optional<double>& out) {
  if (!Present(obj, key)) return absl::OkStatus();
  const json& v = obj.at(key);
  if (!v.is_number()) return FieldError(absl::StrCat(std::string(path), ".", key), "expected a number");
  out = v.get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& obj, const char* key, std::string_view path,
                      std::optional<bool>& out) {
  if (!Present(obj, key)) return absl::OkStatus();
  const json& v = obj.at(key);
  if (!v.is_boolean()) return FieldError(absl::StrCat(std::string(path), ".", key), "expected a boolean");
  out = v.get<bool>();
  return absl::OkStatus();
}

absl::StatusOr<LlmConfig> ParseLenient(const json& c) {
  LlmConfig cfg;
  cfg.raw = c;
  if (!c.contains("provider") || !c["provider"].is_string()) {
    return FieldError("config.provider", "required string");
  }
  cfg.provider = c["provider"].get<std::string>();
  if (FindProvider(cfg.provider) == nullptr) {
    return FieldError("config.provider", absl::StrCat("unknown provider \"", cfg.provider, "\""));
  }
  if (!c.contains("model") || !c["model"].is_string() || c["model"].get<std::string>().empty()) {
    return FieldError("config.model", "required non-empty string");
  }
  cfg.model = c["model"].get<std::string>();

  if (Present(c, "common")) {
    const json& m = c["common"];
    if (!m.is_object()) return FieldError("config.common", "expected an object");
    CommonParams& p = cfg.common;
    for (auto [key, slot] : std::initializer_list<std::pair<const char*, std::optional<double>*>>{
             {"maxOutputTokens", &p.max_output_tokens},
             {"temperature", &p.temperature},
             {"topP", &p.top_p},
             {"topK", &p.top_k},
             {"presencePenalty", &p.presence_penalty},
             {"frequencyPenalty", &p.frequency_penalty},
             {"seed", &p.seed}}) {
      if (auto st = ReadNumber(m, key, "config.common", *slot); !st.ok()) return st;
    }
    if (auto st = ReadBool(m, "enableThinking", "config.common", p.enable_thinking); !st.ok()) return st;
    if (auto st = ReadBool(m, "keepThinkingOutput", "config.common", p.keep_thinking_output); !st.ok()) return st;
    std::optional<double> retries;
    if (auto st = ReadNumber(m, "maxRetries", "config.common", retries); !st.ok()) return st;
    if (retries) p.max_retries = static_cast<int>(*retries);
    if (Present(m, "stopSequences")) {
      const json& s = m["stopSequences"];
      if (!s.is_array()) return FieldError("config.common.stopSequences", "expected an array");
      p.stop_sequences.emplace();
      for (size_t i = 0; i < s.size(); ++i) {
        if (!s[i].is_string()) {
          return FieldError(absl::StrCat("config.common.stopSequences[", i, "]"), "expected a string");
        }
        p.stop_sequences->push_back(s[i].get<std::string>());
      }
    }
  }
  if (Present(c, "providerOptions")) {
    if (!c["providerOptions"].is_object()) return FieldError("config.providerOptions", "expected an object");
    cfg.provider_options = c["providerOptions"];
  }
  if (Present(c, "responseFormat")) cfg.response_format = c["responseFormat"];
  if (Present(c, "baseUrl")) {
    if (!c["baseUrl"].is_string()) return FieldError("config.baseUrl", "expected a string");
    cfg.base_url = c["baseUrl"].get<std::string>();
  }
  if (Present(c, "caching")) {
    const json& k = c["caching"];
    if (!k.is_object()) return FieldError("config.caching", "expected an object");
    CachingConfig caching;
    if (Present(k, "strategy")) {
      if (!k["strategy"].is_string()) return FieldError("config.caching.strategy", "expected a string");
      caching.strategy = k["strategy"].get<std::string>();
    }
    if (auto st = ReadNumber(k, "ttl", "config.caching", caching.ttl_seconds); !st.ok()) return st;
    if (auto st = ReadNumber(k, "maxItems", "config.caching", caching.max_items); !st.ok()) return st;
    if (Present(k, "key") && k["key"].is_string()) caching.key = k["key"].get<std::string>();
    cfg.caching = std::move(caching);
  }
  if (Present(c, "timeout")) {
    const json& t = c["timeout"];
    if (!t.is_object()) return FieldError("config.timeout", "expected an object");
    TimeoutConfig timeout;
    if (auto st = ReadNumber(t, "totalTime", "config.timeout", timeout.total_time_s); !st.ok()) return st;
    if (auto st = ReadNumber(t, "streamFirstChunkTime", "config.timeout",
                             timeout.stream_first_chunk_time_s);
        !st.ok()) {
      return st;
    }
    cfg.timeout = timeout;
  }
  if (Present(c, "description") && c["description"].is_string()) {
    cfg.description = c["description"].get<std::string>();
  }
  return cfg;
}

}  // namespace

absl::StatusOr<LlmConfig> ParseLlmConfig(const nlohmann::json& config, Strictness strictness) {
  if (!config.is_object()) return FieldError("config", "expected a JSON object");
  // Strict (preset schema) validation arrives with the registry; until then both modes
  // apply the lenient rules.
  (void)strictness;
  return ParseLenient(config);
}

}  // namespace llmix::registry
