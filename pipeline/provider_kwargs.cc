#include "pipeline/provider_kwargs.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/provider_catalog.h"

namespace llmix::pipeline {

namespace {

using nlohmann::json;

// obj[key] when obj is an object holding a non-null value there, else nullptr.
const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool Has(const json& obj, const char* key) { return Member(obj, key) != nullptr; }

bool StartsWithODigit(std::string_view id) {
  return id.size() >= 2 && id[0] == 'o' && absl::ascii_isdigit(static_cast<unsigned char>(id[1]));
}

void OpenAiTransform(const KwargsContext& ctx, json& kw) {
  if (!GetModelCapabilities(ctx.model).is_reasoning_model) return;
  kw.erase("temperature");
  kw.erase("top_p");
  if (Has(kw, "max_tokens") && !Has(kw, "max_completion_tokens")) {
    kw["max_completion_tokens"] = kw["max_tokens"];
    kw.erase("max_tokens");
  }
}

void OpenRouterTransform(const KwargsContext& ctx, json& kw) {
  json extra =
      kw.contains("extra_body") && kw["extra_body"].is_object() ? kw["extra_body"] : json::object();
  const json* options = Member(ctx.provider_options, "openrouter");
  if (!Has(extra, "provider")) {
    const json* p = options ? Member(*options, "provider") : nullptr;
    extra["provider"] = p ? *p : json{{"sort", "price"}};
  }
  if (const json* r = options ? Member(*options, "reasoning") : nullptr;
      r != nullptr && !Has(extra, "reasoning")) {
    extra["reasoning"] = *r;
  }
  kw["extra_body"] = std::move(extra);
}

void GoogleTransform(const KwargsContext& ctx, json& kw) {
  json* existing = kw.contains("thinkingConfig") && kw["thinkingConfig"].is_object()
                       ? &kw["thinkingConfig"]
                       : nullptr;
  if (existing != nullptr && Has(*existing, "thinkingBudget")) return;
  const json* google = Member(ctx.provider_options, "google");
  const json* tc = google ? Member(*google, "thinkingConfig") : nullptr;
  const json* budget = tc ? Member(*tc, "thinkingBudget") : nullptr;
  json value;
  if (budget != nullptr) {
    value = *budget;
  } else if (ctx.enable_thinking != true) {
    value = 0;
  } else {
    return;
  }
  if (existing == nullptr) {
    kw["thinkingConfig"] = json::object();
    existing = &kw["thinkingConfig"];
  }
  (*existing)["thinkingBudget"] = std::move(value);
}

absl::Status SnoGpuTransform(const KwargsContext& ctx, json& kw, const Env& env) {
  auto url = EffectiveBaseUrl("sno-gpu", ctx.base_url, ctx.provider_options, env);
  if (!url.ok()) return url.status();
  kw["baseUrl"] = *url;
  const json* options = Member(ctx.provider_options, "sno-gpu");
  if (!kw.contains("enableThinking") && !kw.contains("enable_thinking")) {
    if (const json* v = options ? Member(*options, "enableThinking") : nullptr) {
      kw["enableThinking"] = *v;
    } else if (ctx.enable_thinking.has_value()) {
      kw["enableThinking"] = *ctx.enable_thinking;
    }
  }
  if (!kw.contains("thinkingBudget") && !kw.contains("thinking_budget")) {
    if (const json* v = options ? Member(*options, "thinkingBudget") : nullptr) {
      kw["thinkingBudget"] = *v;
    }
  }
  return absl::OkStatus();
}

}  // namespace

ModelCapabilities GetModelCapabilities(std::string_view model) {
  ModelCapabilities caps;
  std::string id(model);
  absl::AsciiStrToLower(&id);
  if (auto slash = id.rfind('/'); slash != std::string::npos) id = id.substr(slash + 1);
  const bool gpt5 = absl::StartsWith(id, "gpt-5");
  const bool o_series = StartsWithODigit(id);
  const bool codex = absl::StartsWith(id, "codex-") || absl::StartsWith(id, "computer-use");
  const bool glm = absl::StartsWith(id, "glm-");
  caps.is_reasoning_model = gpt5 || o_series || codex || glm;
  caps.fixed_temperature = gpt5 || o_series || codex;
  caps.supports_text_verbosity = gpt5;
  caps.model_class = gpt5 ? "gpt5" : o_series ? "o-series" : codex ? "codex" : "standard";
  caps.normalized_id = std::move(id);
  return caps;
}

FilteredOptions FilterOpenAiProviderOptions(std::string_view model, const json& options) {
  FilteredOptions out;
  if (!options.is_object() || options.empty()) return out;
  const bool verbosity = GetModelCapabilities(model).supports_text_verbosity;
  json kept = json::object();
  for (const auto& [k, v] : options.items()) {
    if (k == "textVerbosity" && !verbosity) {
      out.filtered_params[k] = v;
    } else {
      kept[k] = v;
    }
  }
  if (!kept.empty()) out.options = std::move(kept);
  return out;
}

AdjustedTemperature AdjustTemperatureForModel(std::string_view model, std::optional<double> temperature) {
  AdjustedTemperature out;
  out.temperature = temperature;
  if (!temperature.has_value() || !GetModelCapabilities(model).fixed_temperature) return out;
  out.temperature = 1.0;
  if (*temperature != 1.0) {
    out.was_adjusted = true;
    out.original = temperature;
  }
  return out;
}

KwargsContext KwargsContextOf(const registry::LlmConfig& config) {
  KwargsContext ctx;
  ctx.provider = config.provider;
  ctx.model = config.model;
  ctx.base_url = config.base_url;
  ctx.enable_thinking = config.common.enable_thinking;
  ctx.provider_options = config.provider_options;
  return ctx;
}

json PipelineKwargs(const registry::LlmConfig& config) {
  json kw = json::object();
  const registry::CommonParams& c = config.common;
  if (c.temperature) kw["temperature"] = *c.temperature;
  if (c.top_p) kw["top_p"] = *c.top_p;
  if (c.max_output_tokens) kw["max_tokens"] = *c.max_output_tokens;
  if (c.top_k) kw["top_k"] = *c.top_k;
  if (c.presence_penalty) kw["presence_penalty"] = *c.presence_penalty;
  if (c.frequency_penalty) kw["frequency_penalty"] = *c.frequency_penalty;
  if (c.stop_sequences) kw["stop"] = *c.stop_sequences;
  if (c.seed) kw["seed"] = *c.seed;
  if (!config.response_format.is_null()) kw["response_format"] = config.response_format;
  return kw;
}

absl::StatusOr<json> ApplyProviderTransform(const KwargsContext& ctx, json kwargs, const Env& env) {
  if (!kwargs.is_object()) kwargs = json::object();
  if (ctx.provider == "openai") {
    OpenAiTransform(ctx, kwargs);
  } else if (ctx.provider == "openrouter" || ctx.provider == "deepseek") {
    OpenRouterTransform(ctx, kwargs);
  } else if (ctx.provider == "google" || ctx.provider == "gemini") {
    GoogleTransform(ctx, kwargs);
  } else if (ctx.provider == "sno-gpu") {
    if (absl::Status st = SnoGpuTransform(ctx, kwargs, env); !st.ok()) return st;
  }
  return kwargs;
}

absl::StatusOr<json> BuildRequestKwargs(const registry::LlmConfig& config, const Env& env) {
  return ApplyProviderTransform(KwargsContextOf(config), PipelineKwargs(config), env);
}

}  // namespace llmix::pipeline
