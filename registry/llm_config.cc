#include "registry/llm_config.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/provider_catalog.h"
#include "registry/preset_schema.h"

namespace llmix::registry {

namespace {

using nlohmann::json;

absl::Status FieldError(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(absl::string_view(path.data(), path.size()), ": ",
                                                 absl::string_view(what.data(), what.size())));
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
  if (!v.is_number())
    return FieldError(absl::StrCat(std::string(path), ".", key), "expected a number");
  out = v.get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const json& obj, const char* key, std::string_view path,
                      std::optional<bool>& out) {
  if (!Present(obj, key)) return absl::OkStatus();
  const json& v = obj.at(key);
  if (!v.is_boolean())
    return FieldError(absl::StrCat(std::string(path), ".", key), "expected a boolean");
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
    if (auto st = ReadBool(m, "enableThinking", "config.common", p.enable_thinking); !st.ok())
      return st;
    if (auto st = ReadBool(m, "keepThinkingOutput", "config.common", p.keep_thinking_output);
        !st.ok())
      return st;
    std::optional<double> retries;
    if (auto st = ReadNumber(m, "maxRetries", "config.common", retries); !st.ok()) return st;
    if (retries) {
      // Clamp before converting: a JS number may be far outside int's range.
      double r = std::clamp(*retries, 0.0, static_cast<double>(std::numeric_limits<int>::max()));
      p.max_retries = static_cast<int>(r);
    }
    if (Present(m, "stopSequences")) {
      const json& s = m["stopSequences"];
      if (!s.is_array()) return FieldError("config.common.stopSequences", "expected an array");
      p.stop_sequences.emplace();
      for (size_t i = 0; i < s.size(); ++i) {
        if (!s[i].is_string()) {
          return FieldError(absl::StrCat("config.common.stopSequences[", i, "]"),
                            "expected a string");
        }
        p.stop_sequences->push_back(s[i].get<std::string>());
      }
    }
  }
  if (Present(c, "providerOptions")) {
    if (!c["providerOptions"].is_object())
      return FieldError("config.providerOptions", "expected an object");
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
      if (!k["strategy"].is_string())
        return FieldError("config.caching.strategy", "expected a string");
      caching.strategy = k["strategy"].get<std::string>();
    }
    if (auto st = ReadNumber(k, "ttl", "config.caching", caching.ttl_seconds); !st.ok()) return st;
    if (auto st = ReadNumber(k, "maxItems", "config.caching", caching.max_items); !st.ok())
      return st;
    if (Present(k, "key") && k["key"].is_string()) caching.key = k["key"].get<std::string>();
    cfg.caching = std::move(caching);
  }
  if (Present(c, "timeout")) {
    const json& t = c["timeout"];
    if (!t.is_object()) return FieldError("config.timeout", "expected an object");
    TimeoutConfig timeout;
    if (auto st = ReadNumber(t, "totalTime", "config.timeout", timeout.total_time_s); !st.ok())
      return st;
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
  // Metadata the sidecar never interprets: read when well-typed, otherwise ignored.
  if (Present(c, "tags") && c["tags"].is_array()) {
    bool all_strings = true;
    for (const json& t : c["tags"]) all_strings = all_strings && t.is_string();
    if (all_strings) {
      cfg.has_tags = true;
      for (const json& t : c["tags"]) cfg.tags.push_back(t.get<std::string>());
    }
  }
  if (Present(c, "deprecated") && c["deprecated"].is_boolean()) {
    cfg.has_deprecated = true;
    cfg.deprecated = c["deprecated"].get<bool>();
  }
  if (Present(c, "bypassGateway") && c["bypassGateway"].is_boolean()) {
    cfg.has_bypass_gateway = true;
    cfg.bypass_gateway = c["bypassGateway"].get<bool>();
  }
  return cfg;
}

absl::StatusOr<LlmConfig> ParseStrict(const json& c) {
  std::vector<SchemaIssue> issues = CheckLlmConfigSchema(c);
  if (!issues.empty()) return absl::InvalidArgumentError(FormatIssues(issues));
  json parsed = StripUndefined(c);
  absl::StatusOr<LlmConfig> cfg = ParseLenient(parsed);
  if (!cfg.ok()) return cfg.status();  // unreachable: the schema is stricter
  return cfg;
}

// A number as JSON: integral values in the exact-integer range as integers, others as doubles.
json NumberJson(double v) {
  if (std::trunc(v) == v && std::fabs(v) <= 9007199254740992.0 && !(v == 0 && std::signbit(v))) {
    return json(static_cast<int64_t>(v));
  }
  return json(v);
}

}  // namespace

absl::StatusOr<LlmConfig> ParseLlmConfig(const nlohmann::json& config, Strictness strictness) {
  if (strictness == Strictness::kStrict) return ParseStrict(config);
  if (!config.is_object()) return FieldError("config", "expected a JSON object");
  return ParseLenient(config);
}

nlohmann::json RenderLlmConfig(const LlmConfig& config) {
  json out = json::object();
  out["provider"] = config.provider;
  out["model"] = config.model;
  const CommonParams& p = config.common;
  json common = json::object();
  for (auto [key, slot] :
       std::initializer_list<std::pair<const char*, const std::optional<double>*>>{
           {"maxOutputTokens", &p.max_output_tokens},
           {"temperature", &p.temperature},
           {"topP", &p.top_p},
           {"topK", &p.top_k},
           {"presencePenalty", &p.presence_penalty},
           {"frequencyPenalty", &p.frequency_penalty},
           {"seed", &p.seed}}) {
    if (slot->has_value()) common[key] = NumberJson(**slot);
  }
  if (p.stop_sequences) common["stopSequences"] = *p.stop_sequences;
  if (p.max_retries) common["maxRetries"] = *p.max_retries;
  if (p.enable_thinking) common["enableThinking"] = *p.enable_thinking;
  if (p.keep_thinking_output) common["keepThinkingOutput"] = *p.keep_thinking_output;
  if (config.raw.is_object() && config.raw.contains("common") && config.raw["common"].is_object()) {
    out["common"] = common;  // present (possibly `{}`) exactly when the input had it
  } else if (!common.empty()) {
    out["common"] = common;
  }
  if (!config.provider_options.is_null()) out["providerOptions"] = config.provider_options;
  if (!config.response_format.is_null()) out["responseFormat"] = config.response_format;
  if (config.base_url) out["baseUrl"] = *config.base_url;
  if (config.timeout) {
    json t = json::object();
    if (config.timeout->total_time_s) t["totalTime"] = NumberJson(*config.timeout->total_time_s);
    if (config.timeout->stream_first_chunk_time_s) {
      t["streamFirstChunkTime"] = NumberJson(*config.timeout->stream_first_chunk_time_s);
    }
    out["timeout"] = t;
  }
  if (config.description) out["description"] = *config.description;
  if (config.has_deprecated) out["deprecated"] = config.deprecated;
  if (config.has_tags) out["tags"] = config.tags;
  if (config.caching) {
    json k = json::object();
    if (!config.caching->strategy.empty()) k["strategy"] = config.caching->strategy;
    if (config.caching->key) k["key"] = *config.caching->key;
    if (config.caching->ttl_seconds) k["ttl"] = NumberJson(*config.caching->ttl_seconds);
    if (config.caching->max_items) k["maxItems"] = NumberJson(*config.caching->max_items);
    out["caching"] = k;
  }
  if (config.has_bypass_gateway) out["bypassGateway"] = config.bypass_gateway;
  return out;
}

}  // namespace llmix::registry
