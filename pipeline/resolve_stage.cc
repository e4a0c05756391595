#include "pipeline/resolve_stage.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/env_refs.h"
#include "common/js_json.h"
#include "common/provider_catalog.h"
#include "pipeline/cache/cache_key.h"

namespace llmix::pipeline {

namespace {

// "config.common.x: ..." -> "config_json.common.x: ..." so the caller sees its own field name.
absl::Status RenameConfigField(const absl::Status& st) {
  std::string msg(st.message());
  if (absl::StartsWith(msg, "config")) msg = "config_json" + msg.substr(6);
  return absl::InvalidArgumentError(msg);
}

// JSON text from the caller, read with JavaScript's JSON.parse semantics (numbers are
// doubles, lone surrogates kept) so the cache key matches what an LLMix caller hashes.
absl::StatusOr<nlohmann::json> ParseJsonField(std::string_view field, const std::string& text) {
  auto j = ParseJsJson(text);
  if (!j.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(absl::string_view(field.data(), field.size()), ": ", j.status().message()));
  }
  return j;
}

}  // namespace

absl::Status ResolveStage::Resolve(CallContext& ctx) const {
  ctx.snapshot = state_.snapshots.Get();
  ctx.result.config_revision = ctx.snapshot->revision;
  if (ctx.input.preset.has_value()) {
    const registry::Preset* preset = ctx.snapshot->Find(*ctx.input.preset);
    if (preset == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "preset \"", *ctx.input.preset, "\" not found",
          ctx.snapshot->revision.empty() ? " (no registry loaded)"
                                         : absl::StrCat(" in revision ", ctx.snapshot->revision)));
    }
    ctx.preset_id = preset->id;
    ctx.preset = preset;
    ctx.config = &preset->config;
  } else {
    auto parsed = ParseJsonField("config_json", *ctx.input.config_json);
    if (!parsed.ok()) return parsed.status();
    auto config = registry::ParseLlmConfig(*parsed, registry::Strictness::kLenient);
    if (!config.ok()) return RenameConfigField(config.status());
    ctx.inline_config = std::move(*config);
    ctx.config = &*ctx.inline_config;
  }
  if (absl::Status st = SelectTarget(state_, ctx, *ctx.config,
                                     ctx.preset != nullptr ? ctx.preset->base_url : std::nullopt);
      !st.ok()) {
    return st;
  }

  const registry::LlmConfig& cfg = *ctx.config;
  absl::Duration timeout = state_.options.default_timeout;
  if (cfg.timeout && cfg.timeout->total_time_s && *cfg.timeout->total_time_s > 0) {
    timeout = absl::Seconds(*cfg.timeout->total_time_s);
  }
  if (ctx.input.timeout.has_value()) {
    ctx.caller_deadline_shorter = *ctx.input.timeout < timeout;
    timeout = *ctx.input.timeout;
  }
  ctx.deadline = state_.clock.Monotonic() + timeout;
  return absl::OkStatus();
}

absl::Status SelectTarget(const PipelineState& state, CallContext& ctx,
                          const registry::LlmConfig& base,
                          const std::optional<std::string>& preset_base_url) {
  if (ctx.preset != nullptr) {
    // A preset or one of its fallback targets (immutable, in the snapshot): the call's own
    // overrides go on a fresh copy. An inline config is `base` itself and changed in place.
    ctx.inline_config.reset();
    ctx.config = &base;
  }
  if (ctx.input.response_format_json.has_value()) {
    auto rf = ParseJsonField("response_format_json", *ctx.input.response_format_json);
    if (!rf.ok()) return rf.status();
    if (!ctx.inline_config.has_value()) ctx.inline_config = *ctx.config;  // copy the preset
    ctx.inline_config->response_format = *rf;
    ctx.inline_config->raw["responseFormat"] = *rf;
    ctx.config = &*ctx.inline_config;
  }

  if (ctx.input.common_overrides.is_object() && !ctx.input.common_overrides.empty()) {
    nlohmann::json raw = ctx.config->raw;
    if (!raw["common"].is_object()) raw["common"] = nlohmann::json::object();
    for (const auto& [k, v] : ctx.input.common_overrides.items()) raw["common"][k] = v;
    auto config = registry::ParseLlmConfig(raw, registry::Strictness::kLenient);
    if (!config.ok()) return config.status();
    ctx.inline_config = std::move(*config);
    ctx.config = &*ctx.inline_config;
  }

  const registry::LlmConfig& cfg = *ctx.config;
  ctx.result.provider = cfg.provider;
  ctx.result.model = cfg.model;
  // The request's identity as LLMix hashes it: the response-cache key and the singleflight
  // key. It also resolves the sno-gpu base URL, whose errors fail the call here, as in LLMix.
  auto key = cache::CacheKeyOf(cfg.raw, ctx.input.messages, state.env);
  if (!key.ok()) {
    CallError e;
    e.code = CallErrorCode::kConfig;
    e.provider = cfg.provider;
    e.message = std::string(key.status().message());
    ctx.Fail(std::move(e));
    return absl::OkStatus();
  }
  ctx.request_key = *std::move(key);

  // Upstream base URL: the inline config's baseUrl (sno-gpu: its rewritten URL), else the
  // preset's llmix-sidecar baseUrl, else the provider's env override or catalog default.
  absl::StatusOr<std::string> base_url = UpstreamBaseUrl(cfg, preset_base_url, state.env);
  if (!base_url.ok()) {
    CallError e;
    e.code = CallErrorCode::kConfig;
    e.provider = cfg.provider;
    e.message = std::string(base_url.status().message());
    ctx.Fail(std::move(e));
    ctx.base_url.clear();
    return absl::OkStatus();
  }
  ctx.base_url = *std::move(base_url);
  return absl::OkStatus();
}

absl::StatusOr<std::string> UpstreamBaseUrl(const registry::LlmConfig& cfg,
                                            const std::optional<std::string>& preset_base_url,
                                            const Env& env) {
  auto effective = EffectiveBaseUrl(cfg.provider, cfg.base_url, cfg.provider_options, env);
  if (effective.ok() && !effective->empty()) return *std::move(effective);
  if (preset_base_url.has_value() && !preset_base_url->empty()) {
    if (preset_base_url->find("${") == std::string::npos) return *preset_base_url;
    // ${VAR} / ${VAR:-default} references (checked at publish) take the sidecar's environment.
    std::string url;
    std::string error;
    if (!ExpandEnvRefs(*preset_base_url, env, &url, &error) ||
        !(absl::StartsWith(url, "http://") || absl::StartsWith(url, "https://"))) {
      return absl::FailedPreconditionError(
          absl::StrCat("metadata.llmix-sidecar baseUrl: ",
                       error.empty() ? "does not expand to an http(s) URL" : error));
    }
    return url;
  }
  if (const ProviderInfo* provider = FindProvider(cfg.provider); provider != nullptr) {
    return DefaultBaseUrl(*provider, env);
  }
  return std::string();
}

void ResolveStage::Run(CallContext& ctx, const Next& next, Done done) const {
  ctx.status = Resolve(ctx);
  if (!ctx.status.ok() || ctx.result.error.has_value()) {
    std::move(done)();
    return;
  }
  if (ctx.stage_span != nullptr) {
    ctx.stage_span->SetAttribute("llmix.preset", ctx.preset_id.empty() ? "inline" : ctx.preset_id);
    ctx.stage_span->SetAttribute("llmix.config_revision", ctx.result.config_revision);
  }
  next(ctx, std::move(done));
}

}  // namespace llmix::pipeline
