#include "sidecar/batch_service.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/anthropic_messages_adapter.h"
#include "adapters/gemini_adapter.h"
#include "adapters/openai_chat_adapter.h"
#include "common/env_refs.h"
#include "common/js_json.h"
#include "common/provider_catalog.h"
#include "pipeline/provider_kwargs.h"
#include "pipeline/resolve_stage.h"
#include "registry/llm_config.h"

namespace llmix::sidecar {

namespace {

using adapters::BatchErrorKind;
using nlohmann::json;

constexpr size_t kMaxBatchIdBytes = 1024;

grpc::Status Invalid(std::string_view field, std::string_view message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat(absl::string_view(field.data(), field.size()), ": ",
                                   absl::string_view(message.data(), message.size())));
}

// The LLMix batch provider of a catalog provider ("google" and "gemini" speak the same API).
std::string BatchProviderOf(const std::string& provider) {
  if (provider == "openai" || provider == "anthropic") return provider;
  if (provider == "google" || provider == "gemini") return "gemini";
  return "";
}

// Key pools that may hold a batch provider's key.
std::vector<std::string> PoolsOf(const std::string& batch_provider) {
  if (batch_provider == "gemini") return {"gemini", "google"};
  return {batch_provider};
}

grpc::Status FromBatchError(const adapters::BatchError& e) {
  switch (e.kind) {
    case BatchErrorKind::kInvalid:
      return absl::StartsWith(e.message, "prompts:")
                 ? grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.message)
                 : Invalid("batch_id", e.message);
    case BatchErrorKind::kKeyMismatch:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.message);
    case BatchErrorKind::kUpstream:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.message);
    case BatchErrorKind::kUpstreamUnavailable:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, e.message);
    case BatchErrorKind::kLocal:
      return grpc::Status(grpc::StatusCode::INTERNAL, e.message);
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, e.message);
}

// LLMix's `params` for the batch provider, from the config as Call shapes it: the provider
// adapter's request body for one prompt, minus what the batch request builds itself.
absl::StatusOr<nlohmann::ordered_json> BatchParams(const registry::LlmConfig& cfg,
                                                   const std::string& batch_provider,
                                                   const Env& env) {
  auto kwargs = pipeline::BuildRequestKwargs(cfg, env);
  if (!kwargs.ok()) return kwargs.status();
  const json messages = json::array({{{"role", "user"}, {"content", "x"}}});
  adapters::ProviderRequest r;
  r.provider = cfg.provider;
  r.model = cfg.model;
  r.messages = &messages;
  r.kwargs = *std::move(kwargs);
  if (cfg.provider_options.is_object()) {
    if (auto it = cfg.provider_options.find(cfg.provider); it != cfg.provider_options.end()) {
      r.provider_options = *it;
    }
  }
  absl::StatusOr<json> body;
  if (batch_provider == "openai") {
    r.provider_options =
        pipeline::FilterOpenAiProviderOptions(cfg.model, r.provider_options).options;
    body = adapters::OpenAiChatAdapter::BuildBody(r);
    if (body.ok()) {
      for (const char* k : {"model", "messages", "stream", "stream_options"}) body->erase(k);
    }
  } else if (batch_provider == "anthropic") {
    body = adapters::AnthropicMessagesAdapter::BuildBody(r, nullptr);
    if (body.ok()) {
      for (const char* k : {"model", "messages", "system"}) body->erase(k);
    }
  } else {
    body = adapters::GeminiAdapter::BuildBody(r, nullptr);
    if (body.ok()) {
      json gen = body->contains("generationConfig") ? (*body)["generationConfig"] : json::object();
      body = std::move(gen);
    }
  }
  if (!body.ok()) return body.status();
  return nlohmann::ordered_json(*body);
}

}  // namespace

struct BatchService::Target {
  std::optional<registry::LlmConfig> inline_config;
  const registry::LlmConfig* config = nullptr;
  std::shared_ptr<const registry::Snapshot> snapshot;  // keeps a preset's config alive
  std::string batch_provider;
  std::string base_url;
};

BatchService::BatchService(const pipeline::PipelineState& state, adapters::BatchHttpClient& http,
                           MetricRegistry& metrics, BatchServiceOptions options)
    : state_(state),
      options_(std::move(options)),
      processor_(http, options_.state_dir, options_.limits),
      requests_(metrics.AddCounter(
          "llmix_provider_batch_requests_total",
          "Provider batch RPCs by operation (submit | status | results), batch provider and "
          "outcome (ok or the gRPC code in lower case).",
          {"op", "provider", "outcome"})) {}

std::unique_ptr<Span> BatchService::StartSpan(const char* method, const SpanContext* parent) const {
  auto span = state_.tracer.StartSpan(absl::StrCat("llmix.sidecar.v1.Llmix/", method), parent,
                                      SpanKind::kServer);
  span->SetAttribute("rpc.system", std::string("grpc"));
  span->SetAttribute("rpc.service", std::string("llmix.sidecar.v1.Llmix"));
  span->SetAttribute("rpc.method", std::string(method));
  return span;
}

grpc::Status BatchService::Finish(const char* op, const std::string& provider, grpc::Status status,
                                  Span& span) {
  if (!provider.empty()) span.SetAttribute("llmix.batch.provider", provider);
  if (!status.ok()) span.SetError(status.error_message());
  span.End();
  std::string outcome = "ok";
  if (!status.ok()) {
    static const char* kNames[] = {"ok",
                                   "cancelled",
                                   "unknown",
                                   "invalid_argument",
                                   "deadline_exceeded",
                                   "not_found",
                                   "already_exists",
                                   "permission_denied",
                                   "resource_exhausted",
                                   "failed_precondition",
                                   "aborted",
                                   "out_of_range",
                                   "unimplemented",
                                   "internal",
                                   "unavailable",
                                   "data_loss",
                                   "unauthenticated"};
    const int code = static_cast<int>(status.error_code());
    outcome = code >= 0 && code <= 16 ? kNames[code] : "unknown";
  }
  requests_.With({op, provider.empty() ? "unknown" : provider, outcome}).Add();
  if (!status.ok()) {
    state_.logger.Warn("provider batch request failed",
                       {{"op", std::string_view(op)},
                        {"provider", std::string_view(provider)},
                        {"error", std::string_view(status.error_message())}});
  }
  return status;
}

grpc::Status BatchService::ResolveTarget(const std::optional<std::string>& preset,
                                         const std::optional<std::string>& config_json,
                                         Target* out) const {
  if (preset.has_value() == config_json.has_value()) {
    return Invalid("preset", preset.has_value() ? "set either preset or config_json, not both"
                                                : "one of preset or config_json is required");
  }
  std::optional<std::string> preset_base_url;
  if (preset.has_value()) {
    out->snapshot = state_.snapshots.Get();
    const registry::Preset* p = out->snapshot->Find(*preset);
    if (p == nullptr) {
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat("preset \"", *preset, "\" not found",
                       out->snapshot->revision.empty()
                           ? " (no registry loaded)"
                           : absl::StrCat(" in revision ", out->snapshot->revision)));
    }
    out->config = &p->config;
    preset_base_url = p->base_url;
  } else {
    auto parsed = ParseJsJson(*config_json);
    if (!parsed.ok()) return Invalid("config_json", std::string(parsed.status().message()));
    auto cfg = registry::ParseLlmConfig(*parsed, registry::Strictness::kLenient);
    if (!cfg.ok()) {
      std::string msg(cfg.status().message());
      if (absl::StartsWith(msg, "config")) msg = "config_json" + msg.substr(6);
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
    }
    out->inline_config = *std::move(cfg);
    out->config = &*out->inline_config;
  }
  const registry::LlmConfig& cfg = *out->config;
  out->batch_provider = BatchProviderOf(cfg.provider);
  if (out->batch_provider.empty()) {
    return Invalid("provider", absl::StrCat("Unsupported batch provider: ", cfg.provider,
                                            " (batch APIs: openai, anthropic, google/gemini)"));
  }
  // The base URL as Call picks it: the inline config's, else the preset's llmix-sidecar
  // baseUrl (${VAR} expanded), else the provider's env override or default.
  absl::StatusOr<std::string> base = pipeline::UpstreamBaseUrl(cfg, preset_base_url, state_.env);
  if (!base.ok()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(base.status().message()));
  }
  out->base_url = *std::move(base);
  return grpc::Status::OK;
}

grpc::Status BatchService::Submit(const v1::SubmitBatchRequest& request,
                                  v1::SubmitBatchResponse* response, absl::Time deadline,
                                  const SpanContext* parent) {
  auto span = StartSpan("SubmitBatch", parent);
  span->SetAttribute("llmix.batch.prompts", static_cast<int64_t>(request.prompts_size()));
  if (request.has_preset()) span->SetAttribute("llmix.preset", request.preset());
  const std::optional<std::string> preset =
      request.has_preset() ? std::optional<std::string>(request.preset()) : std::nullopt;
  const std::optional<std::string> config_json =
      request.has_config_json() ? std::optional<std::string>(request.config_json()) : std::nullopt;
  if (request.prompts().empty())
    return Finish("submit", "", Invalid("prompts", "at least one prompt is required"), *span);
  if (static_cast<size_t>(request.prompts_size()) > options_.max_prompts) {
    return Finish("submit", "",
                  Invalid("prompts", absl::StrCat(request.prompts_size(), " prompts, at most ",
                                                  options_.max_prompts)),
                  *span);
  }
  size_t bytes = request.system_prompt().size();
  for (const std::string& p : request.prompts()) bytes += p.size();
  if (bytes > options_.max_prompt_bytes) {
    return Finish(
        "submit", "",
        Invalid("prompts", absl::StrCat(bytes, " bytes with the system prompt, at most ",
                                        options_.max_prompt_bytes, " (--max-request-bytes)")),
        *span);
  }
  Target target;
  if (grpc::Status st = ResolveTarget(preset, config_json, &target); !st.ok()) {
    return Finish("submit", target.batch_provider, st, *span);
  }
  const registry::LlmConfig& cfg = *target.config;
  const std::string& provider = target.batch_provider;
  if (state_.dummy_upstream) {
    return Finish("submit", provider,
                  grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                               "provider batches need a real upstream (--dummy-upstream is on)"),
                  *span);
  }
  const std::string& kill_switch = state_.resilience->options().kill_switch_path;
  struct stat st {};
  if (!kill_switch.empty() && stat(kill_switch.c_str(), &st) == 0) {
    return Finish("submit", provider,
                  grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                               absl::StrCat("Kill switch active: ", kill_switch,
                                            " exists. All LLMix calls are blocked.")),
                  *span);
  }
  auto params = BatchParams(cfg, provider, state_.env);
  if (!params.ok()) {
    return Finish(
        "submit", provider,
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(params.status().message())),
        *span);
  }
  auto pool = state_.resilience->keys().Get(cfg.provider);
  if (!pool.ok()) {
    const std::string prefix = ProviderEnvPrefix(cfg.provider);
    return Finish("submit", provider,
                  grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                               absl::StrCat("No API key pool for provider \"", cfg.provider,
                                            "\". Set ", prefix, "_API_KEY or ", prefix, "_KEYS.")),
                  *span);
  }
  auto key = (*pool)->Select();
  if (!key.ok()) {
    return Finish(
        "submit", provider,
        grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(key.status().message())),
        *span);
  }
  adapters::BatchSubmitRequest r;
  r.provider = provider;
  r.api_key = *key;
  r.model = cfg.model;
  r.base_url = target.base_url;
  r.prompts.assign(request.prompts().begin(), request.prompts().end());
  if (request.has_system_prompt()) r.system_prompt = request.system_prompt();
  r.params = *std::move(params);
  auto out = processor_.Submit(r, state_.clock.Wall(), deadline);
  if (!out.ok()) return Finish("submit", provider, FromBatchError(*out.error), *span);
  span->SetAttribute("llmix.batch.id", *out.value);
  response->set_batch_id(*out.value);
  response->set_provider(provider);
  response->set_n_prompts(request.prompts_size());
  state_.logger.Info("provider batch submitted",
                     {{"batch_id", std::string_view(*out.value)},
                      {"provider", std::string_view(provider)},
                      {"model", std::string_view(cfg.model)},
                      {"prompts", static_cast<int64_t>(request.prompts_size())}});
  return Finish("submit", provider, grpc::Status::OK, *span);
}

grpc::Status BatchService::Locate(const std::string& batch_id,
                                  const std::optional<std::string>& preset,
                                  const std::optional<std::string>& config_json,
                                  adapters::DecodedBatchId* id, std::string* base_url) const {
  if (state_.dummy_upstream) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "provider batches need a real upstream (--dummy-upstream is on)");
  }
  if (batch_id.empty()) return Invalid("batch_id", "required");
  if (batch_id.size() > kMaxBatchIdBytes) {
    return Invalid("batch_id", absl::StrCat("longer than ", kMaxBatchIdBytes, " bytes"));
  }
  auto decoded = adapters::DecodeBatchId(batch_id);
  if (!decoded.ok()) return Invalid("batch_id", std::string(decoded.status().message()));
  *id = *std::move(decoded);
  if (preset.has_value() || config_json.has_value()) {
    Target target;
    if (grpc::Status st = ResolveTarget(preset, config_json, &target); !st.ok()) return st;
    if (target.batch_provider != id->provider) {
      return Invalid(preset.has_value() ? "preset" : "config_json",
                     absl::StrCat("its provider ", target.config->provider, " is not the batch's (",
                                  id->provider, ")"));
    }
    *base_url = target.base_url;
    return grpc::Status::OK;
  }
  const ProviderInfo* info = FindProvider(id->provider);
  if (info != nullptr) *base_url = DefaultBaseUrl(*info, state_.env);
  return grpc::Status::OK;
}

grpc::Status BatchService::FindKey(const adapters::DecodedBatchId& id, const std::string& batch_id,
                                   std::string* key) const {
  auto expected = processor_.ExpectedFingerprint(id, batch_id);
  if (!expected.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(expected.status().message()));
  }
  bool any_pool = false;
  for (const std::string& name : PoolsOf(id.provider)) {
    auto pool = state_.resilience->keys().Get(name);
    if (!pool.ok()) continue;
    any_pool = true;
    for (const std::string& k : (*pool)->keys()) {
      if (adapters::BatchKeyFingerprint(k) == *expected) {
        *key = k;
        return grpc::Status::OK;
      }
    }
  }
  if (!any_pool) {
    const std::string prefix = ProviderEnvPrefix(id.provider);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("No API key pool for provider \"", id.provider, "\". Set ",
                                     prefix, "_API_KEY or ", prefix, "_KEYS."));
  }
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      absl::StrCat(adapters::kBatchKeyMismatchMessage, " (no key of the ",
                                   id.provider, " pool has fingerprint ", *expected, ")"));
}

grpc::Status BatchService::Get(const v1::GetBatchRequest& request, v1::BatchStatus* response,
                               absl::Time deadline, const SpanContext* parent) {
  auto span = StartSpan("GetBatch", parent);
  span->SetAttribute("llmix.batch.id", request.batch_id().substr(0, kMaxBatchIdBytes));
  adapters::DecodedBatchId id;
  std::string base_url, key;
  const auto preset =
      request.has_preset() ? std::optional<std::string>(request.preset()) : std::nullopt;
  const auto config =
      request.has_config_json() ? std::optional<std::string>(request.config_json()) : std::nullopt;
  if (grpc::Status st = Locate(request.batch_id(), preset, config, &id, &base_url); !st.ok()) {
    return Finish("status", id.provider, st, *span);
  }
  if (grpc::Status st = FindKey(id, request.batch_id(), &key); !st.ok()) {
    return Finish("status", id.provider, st, *span);
  }
  auto out = processor_.Status(id, key, base_url, deadline);
  if (!out.ok()) return Finish("status", id.provider, FromBatchError(*out.error), *span);
  response->set_batch_id(out.value->batch_id);
  response->set_state(out.value->state);
  span->SetAttribute("llmix.batch.state", out.value->state);
  response->set_total_requests(out.value->total_requests);
  response->set_completed_requests(out.value->completed_requests);
  response->set_failed_requests(out.value->failed_requests);
  return Finish("status", id.provider, grpc::Status::OK, *span);
}

grpc::Status BatchService::Results(const v1::GetBatchResultsRequest& request,
                                   v1::BatchResults* response, absl::Time deadline,
                                   const SpanContext* parent) {
  auto span = StartSpan("GetBatchResults", parent);
  span->SetAttribute("llmix.batch.id", request.batch_id().substr(0, kMaxBatchIdBytes));
  adapters::DecodedBatchId id;
  std::string base_url, key;
  const auto preset =
      request.has_preset() ? std::optional<std::string>(request.preset()) : std::nullopt;
  const auto config =
      request.has_config_json() ? std::optional<std::string>(request.config_json()) : std::nullopt;
  if (grpc::Status st = Locate(request.batch_id(), preset, config, &id, &base_url); !st.ok()) {
    return Finish("results", id.provider, st, *span);
  }
  if (grpc::Status st = FindKey(id, request.batch_id(), &key); !st.ok()) {
    return Finish("results", id.provider, st, *span);
  }
  auto out = processor_.Results(id, request.batch_id(), key, base_url, nullptr, deadline);
  if (!out.ok()) return Finish("results", id.provider, FromBatchError(*out.error), *span);
  span->SetAttribute("llmix.batch.results", static_cast<int64_t>(out.value->size()));
  for (const adapters::BatchResultEntry& e : *out.value) {
    v1::BatchResultItem* item = response->add_results();
    item->set_index(static_cast<int32_t>(e.index));
    item->set_success(e.success);
    item->set_content(e.response);
    item->set_error(e.error);
    if (e.usage.has_value()) {
      v1::Usage* u = item->mutable_usage();
      u->set_input_tokens(e.usage->input_tokens);
      u->set_output_tokens(e.usage->output_tokens);
      u->set_total_tokens(e.usage->total_tokens);
      if (e.usage->cached_input_tokens) u->set_cached_input_tokens(*e.usage->cached_input_tokens);
      if (e.usage->reasoning_tokens) u->set_reasoning_tokens(*e.usage->reasoning_tokens);
    }
  }
  return Finish("results", id.provider, grpc::Status::OK, *span);
}

}  // namespace llmix::sidecar
