#include "sidecar/embed_service.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "adapters/wire_common.h"
#include "common/canonical_json.h"
#include "common/js_json.h"
#include "common/provider_catalog.h"
#include "pipeline/cache/cache_policy.h"
#include "pipeline/resolve_stage.h"
#include "registry/llm_config.h"
#include "sidecar/proto_mapping.h"

namespace llmix::sidecar {

namespace {

using nlohmann::json;

// Gemini's batchEmbedContents takes at most 100 requests; OpenAI's embeddings 2048 inputs.
constexpr size_t kGeminiChunk = 100;
constexpr size_t kOpenAiChunk = 2048;

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

CallError MakeError(CallErrorCode code, const std::string& provider, std::string message) {
  CallError e;
  e.code = code;
  e.provider = provider;
  e.message = std::move(message);
  return e;
}

std::string OutcomeLabel(const absl::Status& status, const std::optional<CallError>& error) {
  if (!status.ok()) return absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
  return error ? "failure" : "success";
}

// Offline mode (--dummy-upstream): a deterministic unit-free vector per text, so demos and
// tests without a provider still get one vector per input.
std::vector<float> DummyEmbedding(const std::string& text, int dims) {
  const std::string digest = Sha256Hex(text);
  std::vector<float> v(static_cast<size_t>(dims));
  for (size_t i = 0; i < v.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(digest[i % digest.size()]);
    v[i] = static_cast<float>(c % 16) / 15.0f - 0.5f;
  }
  return v;
}

}  // namespace

std::string EmbeddingCacheKey(const std::string& provider, const std::string& model,
                              std::optional<int> dimensions, const std::string& input) {
  json material = {{"provider", provider},
                   {"model", model},
                   {"dimensions", dimensions ? json(*dimensions) : json(nullptr)},
                   {"input", input}};
  return absl::StrCat("llmix:emb:", Sha256Hex(CacheCanonicalJson(material)));
}

std::string EncodeEmbedding(const std::vector<float>& vector) {
  std::string bytes(vector.size() * 4, '\0');
  for (size_t i = 0; i < vector.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &vector[i], 4);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return absl::Base64Escape(bytes);
}

std::optional<std::vector<float>> DecodeEmbedding(std::string_view text) {
  std::string bytes;
  if (!absl::Base64Unescape(absl::string_view(text.data(), text.size()), &bytes) || bytes.empty() ||
      bytes.size() % 4 != 0) {
    return std::nullopt;
  }
  std::vector<float> v(bytes.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    }
    std::memcpy(&v[i], &bits, 4);
  }
  return v;
}

struct EmbedService::Target {
  std::shared_ptr<const registry::Snapshot> snapshot;
  std::optional<registry::LlmConfig> inline_config;
  const registry::LlmConfig* config = nullptr;
  std::string label;  // "module/preset" or "inline", for errors and metrics
  std::string base_url;
  std::optional<int> dimensions;  // the config's common.dimensions
};

EmbedService::EmbedService(const pipeline::PipelineState& state, adapters::HttpTransport& transport,
                           MetricRegistry& metrics, EmbedServiceOptions options)
    : state_(state),
      client_(transport),
      options_(std::move(options)),
      requests_(metrics.AddCounter(
          "llmix_embed_requests_total",
          "Embeddings and rerank requests by operation (embed | rerank), provider and outcome "
          "(success | failure | the gRPC code in lower case).",
          {"op", "provider", "outcome"})),
      inputs_(metrics.AddCounter("llmix_embed_inputs_total",
                                 "Embedding inputs by where their vector came from (l1 | l2 | "
                                 "upstream).",
                                 {"source"})) {}

absl::Status EmbedService::Resolve(const std::optional<std::string>& preset,
                                   const std::optional<std::string>& config_json,
                                   std::shared_ptr<const registry::Snapshot> snapshot,
                                   Target* out) const {
  if (preset.has_value() == config_json.has_value()) {
    return Invalid("preset", preset.has_value() ? "set either preset or config_json, not both"
                                                : "one of preset or config_json is required");
  }
  std::optional<std::string> preset_base_url;
  if (preset.has_value()) {
    out->snapshot = snapshot != nullptr ? std::move(snapshot) : state_.snapshots.Get();
    const registry::Preset* p = out->snapshot->Find(*preset);
    if (p == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("preset \"", *preset, "\" not found",
                       out->snapshot->revision.empty()
                           ? " (no registry loaded)"
                           : absl::StrCat(" in revision ", out->snapshot->revision)));
    }
    out->config = &p->config;
    out->label = *preset;
    preset_base_url = p->base_url;
  } else {
    auto parsed = ParseJsJson(*config_json);
    if (!parsed.ok()) return Invalid("config_json", parsed.status().message());
    auto cfg = registry::ParseLlmConfig(*parsed, registry::Strictness::kLenient);
    if (!cfg.ok()) {
      std::string msg(cfg.status().message());
      if (absl::StartsWith(msg, "config")) msg = "config_json" + msg.substr(6);
      return absl::InvalidArgumentError(msg);
    }
    out->inline_config = *std::move(cfg);
    out->config = &*out->inline_config;
    out->label = "inline";
  }
  // common.dimensions: read from the config as given (LLMix's strict preset schema has no such
  // field, so only inline configs carry it; callers pass `dimensions` otherwise).
  const json& raw = out->config->raw;
  if (raw.is_object() && raw.contains("common") && raw["common"].is_object() &&
      raw["common"].contains("dimensions")) {
    std::optional<int64_t> d = adapters::WholeNumber(raw["common"]["dimensions"]);
    if (!d || *d <= 0 || *d > 65536) {
      return Invalid(preset ? "preset" : "config_json",
                     "common.dimensions: expected a positive integer");
    }
    out->dimensions = static_cast<int>(*d);
  }
  absl::StatusOr<std::string> base =
      pipeline::UpstreamBaseUrl(*out->config, preset_base_url, state_.env);
  if (!base.ok()) return absl::FailedPreconditionError(base.status().message());
  out->base_url = *std::move(base);
  return absl::OkStatus();
}

std::optional<CallError> EmbedService::RunAttempts(const Target& target, absl::Time deadline,
                                                   Span& parent, const Attempt& attempt,
                                                   int* attempts) {
  const std::string& provider = target.config->provider;
  auto& res = *state_.resilience;
  std::shared_ptr<resilience::KeyPool> pool;
  if (!state_.dummy_upstream) {
    auto loaded = res.keys().Get(provider);
    if (!loaded.ok()) {
      return MakeError(CallErrorCode::kNoApiKey, provider, std::string(loaded.status().message()));
    }
    pool = *std::move(loaded);
  }
  resilience::CircuitBreaker& breaker = res.breakers().Get(provider, target.base_url);
  resilience::AdaptiveSemaphore& limiter = res.limiters().Get(provider);
  for (int n = 0;; ++n) {
    if (res.shutting_down()) {
      return MakeError(CallErrorCode::kUpstreamUnreachable, provider, "sidecar is shutting down");
    }
    std::string key;
    if (pool != nullptr) {
      absl::StatusOr<std::string> selected = pool->Select();
      if (!selected.ok()) {
        return MakeError(CallErrorCode::kKeyPoolExhausted, provider,
                         std::string(selected.status().message()));
      }
      key = *std::move(selected);
    }
    bool probe = false;
    if (absl::Status st = breaker.Check(&probe); !st.ok()) {
      return MakeError(CallErrorCode::kCircuitOpen, provider, std::string(st.message()));
    }
    // AIMD: wait for a permit of the provider's window, as chat calls do, until the deadline.
    absl::Notification granted;
    absl::Status grant_status;
    const auto ticket = limiter.Acquire([&](absl::Status st) {
      grant_status = std::move(st);
      granted.Notify();
    });
    if (!granted.WaitForNotificationWithDeadline(deadline)) {
      if (limiter.Cancel(ticket)) {
        if (probe) breaker.CancelProbe();
        return MakeError(CallErrorCode::kUpstreamTimeout, provider,
                         "deadline exceeded waiting for the provider's concurrency window");
      }
      granted.WaitForNotification();  // granted meanwhile: it is ours
    }
    if (!grant_status.ok()) {
      if (probe) breaker.CancelProbe();
      return MakeError(CallErrorCode::kUpstreamUnreachable, provider,
                       std::string(grant_status.message()));
    }
    const absl::Duration remaining = deadline - absl::Now();
    if (remaining <= absl::ZeroDuration()) {
      limiter.Release();
      if (probe) breaker.CancelProbe();
      return MakeError(CallErrorCode::kUpstreamTimeout, provider, "deadline exceeded");
    }
    auto span =
        state_.tracer.StartSpan("llmix.embeddings.upstream", &parent.context(), SpanKind::kClient);
    span->SetAttribute("gen_ai.system", provider);
    span->SetAttribute("gen_ai.request.model", target.config->model);
    span->SetAttribute("llmix.attempt", int64_t{n + 1});
    const auto started = std::chrono::steady_clock::now();
    AttemptOutcome o = attempt(key, remaining, span->context().ToTraceparent());
    ++*attempts;
    limiter.Release();
    const std::string status_label = o.network_error ? "network" : std::to_string(o.http_status);
    if (o.http_status != 0 || o.network_error) {
      state_.metrics.upstream_requests.With({provider, status_label}).Add();
      state_.metrics.upstream_seconds.With({provider})
          .Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      span->SetAttribute("http.response.status_code", int64_t{o.http_status});
    }
    if (auto info = resilience::ParseRateLimitHeaders(o.headers)) {
      limiter.OnHeaders(info->remaining, info->limit);
    }
    if (!o.error) {
      breaker.RecordSuccess();
      limiter.OnSuccess();
      span->End();
      return std::nullopt;
    }
    CallError error = *std::move(o.error);
    span->SetError(error.message);
    span->End();
    if (o.http_status == 0 && !o.network_error) {  // local (config / request) error
      if (probe) breaker.CancelProbe();
      return error;
    }
    breaker.RecordFailure(
        {o.http_status != 0 ? std::optional<int>(o.http_status) : std::nullopt, o.network_error});
    bool retryable = error.retryable;
    if (o.http_status == 429) {
      limiter.OnRateLimit();
      if (pool != nullptr) pool->Rotate();
    } else if ((o.http_status == 401 || o.http_status == 403) && pool != nullptr) {
      // A dead key: the next alive one gets its turn, as the key stage does for chat calls.
      pool->MarkDead(key);
      retryable = !pool->IsExhausted();
    }
    std::optional<std::string_view> retry_after;
    if (auto it = o.headers.find("retry-after"); it != o.headers.end()) {
      retry_after = it->second;
      if (auto ms = resilience::ParseRetryAfterMs(it->second, absl::Now(),
                                                  res.retry().options().retry_after_cap_ms)) {
        error.retry_after_ms = static_cast<int64_t>(*ms);
      }
    }
    std::optional<double> delay_ms =
        res.retry().NextRetryDelayMs(n, retryable, retry_after, absl::Now(), res.Random());
    if (!delay_ms || absl::Now() + absl::Milliseconds(*delay_ms) >= deadline) return error;
    // The backoff waits on this worker (bounded by the deadline and the Retry-After cap).
    absl::SleepFor(absl::Milliseconds(*delay_ms));
  }
}

std::optional<CallError> EmbedService::EmbedMisses(const Target& target,
                                                   const std::vector<std::string>& texts,
                                                   std::optional<int> dimensions,
                                                   absl::Time deadline, Span& span,
                                                   std::vector<std::vector<float>>* vectors,
                                                   EmbedResult* result) {
  const registry::LlmConfig& cfg = *target.config;
  vectors->clear();
  if (state_.dummy_upstream) {
    for (const std::string& t : texts) {
      vectors->push_back(DummyEmbedding(t, dimensions.value_or(8)));
    }
    return std::nullopt;
  }
  const ProviderInfo* info = FindProvider(cfg.provider);
  const size_t chunk = info != nullptr && info->protocol == WireProtocol::kGeminiGenerateContent
                           ? kGeminiChunk
                           : kOpenAiChunk;
  for (size_t begin = 0; begin < texts.size(); begin += chunk) {
    adapters::EmbeddingRequest req;
    req.provider = cfg.provider;
    req.model = cfg.model;
    req.base_url = target.base_url;
    req.dimensions = dimensions;
    const size_t end = std::min(texts.size(), begin + chunk);
    req.inputs.assign(texts.begin() + begin, texts.begin() + end);
    adapters::EmbeddingOutcome last;
    std::optional<CallError> error = RunAttempts(
        target, deadline, span,
        [&](const std::string& key, absl::Duration timeout, const std::string& traceparent) {
          req.api_key = key;
          req.timeout = timeout;
          req.traceparent = traceparent;
          last = client_.Embed(req);
          return AttemptOutcome{last.error, last.http_status, last.headers, last.network_error};
        },
        &result->attempts);
    if (error) return error;
    result->prompt_tokens = adapters::SaturatingAdd(result->prompt_tokens, last.prompt_tokens);
    if (result->model.empty() || begin == 0) result->model = last.model;
    for (auto& v : last.vectors) vectors->push_back(std::move(v));
  }
  return std::nullopt;
}

EmbedResult EmbedService::Run(const EmbedCall& call, std::string_view span_name) {
  EmbedResult result;
  auto span = state_.tracer.StartSpan(span_name, call.parent.valid() ? &call.parent : nullptr,
                                      SpanKind::kServer);
  result.trace_id = span->context().TraceIdHex();
  span->SetAttribute("llmix.embed.inputs", static_cast<int64_t>(call.inputs.size()));
  if (call.preset) span->SetAttribute("llmix.preset", *call.preset);
  if (!call.tenant.empty()) span->SetAttribute("llmix.tenant", call.tenant);
  auto finish = [&]() {
    const std::string outcome = OutcomeLabel(result.status, result.error);
    requests_.With({"embed", result.provider, outcome}).Add();
    if (!result.status.ok()) span->SetError(std::string(result.status.message()));
    if (result.error) span->SetError(result.error->message);
    span->SetAttribute("llmix.embed.cached_inputs", static_cast<int64_t>(result.cached_inputs));
    span->SetAttribute("llmix.cache.tier", std::string(pipeline::CacheTierName(result.cache_tier)));
    span->SetAttribute("llmix.attempts", int64_t{result.attempts});
    if (result.prompt_tokens > 0) {
      span->SetAttribute("gen_ai.usage.input_tokens", result.prompt_tokens);
    }
    span->End();
    return std::move(result);
  };

  Target target;
  result.status = Resolve(call.preset, call.config_json, call.snapshot, &target);
  if (!result.status.ok()) return finish();
  const registry::LlmConfig& cfg = *target.config;
  result.provider = cfg.provider;
  result.model = cfg.model;
  if (target.snapshot != nullptr) result.config_revision = target.snapshot->revision;
  span->SetAttribute("gen_ai.system", cfg.provider);
  span->SetAttribute("gen_ai.request.model", cfg.model);
  span->SetAttribute("gen_ai.operation.name", std::string("embeddings"));
  const std::optional<int> dimensions = call.dimensions ? call.dimensions : target.dimensions;

  const std::string& kill_switch = state_.resilience->options().kill_switch_path;
  struct stat st {};
  if (!kill_switch.empty() && stat(kill_switch.c_str(), &st) == 0) {
    result.error = MakeError(
        CallErrorCode::kKillSwitch, cfg.provider,
        absl::StrCat("Kill switch active: ", kill_switch, " exists. All LLMix calls are blocked."));
    return finish();
  }
  const WireProtocol protocol = [&] {
    const ProviderInfo* info = FindProvider(cfg.provider);
    return info == nullptr ? WireProtocol::kOpenAiChat : info->protocol;
  }();
  if (protocol == WireProtocol::kAnthropicMessages) {
    result.error = MakeError(
        CallErrorCode::kConfig, cfg.provider,
        absl::StrCat(target.label == "inline" ? "config_json" : "preset \"" + target.label + "\"",
                     ": provider \"", cfg.provider,
                     "\" has no embeddings API (use an OpenAI-compatible "
                     "or Gemini embeddings model)"));
    return finish();
  }

  // The cache: as for Call, the config's `caching` strategy decides whether L1 / L2 are used.
  const cache::CacheStrategy strategy = cache::StrategyOf(cfg);
  const bool use_cache = strategy != cache::CacheStrategy::kNone && state_.l1_cache != nullptr &&
                         call.cache != pipeline::CacheMode::kBypass;
  const bool use_l2 = use_cache && state_.l2_cache != nullptr &&
                      (strategy == cache::CacheStrategy::kRedis ||
                       strategy == cache::CacheStrategy::kRedisOrMemory);
  const bool read_cache = use_cache && call.cache == pipeline::CacheMode::kDefault;
  const absl::Duration ttl = cache::CacheTtl(cfg);

  const size_t n = call.inputs.size();
  result.vectors.assign(n, {});
  std::vector<std::string> keys(n);
  bool any_l2 = false;
  // Distinct missing texts, each sent once, and the inputs waiting for each.
  std::vector<std::string> misses;
  absl::flat_hash_map<std::string, size_t> miss_index;
  std::vector<std::vector<size_t>> waiting;
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = call.inputs[i];
    if (use_cache) keys[i] = EmbeddingCacheKey(cfg.provider, cfg.model, dimensions, text);
    if (read_cache) {
      if (auto hit = state_.l1_cache->Get(keys[i])) {
        if (auto v = DecodeEmbedding(*hit)) {
          result.vectors[i] = *std::move(v);
          ++result.cached_inputs;
          inputs_.With({"l1"}).Add();
          continue;
        }
      }
      if (use_l2) {
        if (auto hit = state_.l2_cache->Get(keys[i], ttl)) {
          if (auto v = DecodeEmbedding(hit->data)) {
            state_.l1_cache->Put(keys[i], hit->data, hit->remaining_ttl);
            result.vectors[i] = *std::move(v);
            ++result.cached_inputs;
            any_l2 = true;
            inputs_.With({"l2"}).Add();
            continue;
          }
        }
      }
    }
    auto [it, inserted] = miss_index.try_emplace(text, misses.size());
    if (inserted) {
      misses.push_back(text);
      waiting.emplace_back();
    }
    waiting[it->second].push_back(i);
  }
  if (misses.empty()) {
    result.cache_tier = any_l2 ? pipeline::CacheTier::kL2 : pipeline::CacheTier::kL1;
    return finish();
  }
  std::vector<std::vector<float>> fresh;
  result.model.clear();
  result.error = EmbedMisses(target, misses, dimensions, call.deadline, *span, &fresh, &result);
  if (result.model.empty()) result.model = cfg.model;
  if (result.error) {
    result.vectors.clear();
    return finish();
  }
  inputs_.With({"upstream"}).Add(misses.size());
  for (size_t m = 0; m < misses.size(); ++m) {
    if (use_cache) {
      std::string encoded = EncodeEmbedding(fresh[m]);
      const std::string& key = keys[waiting[m].front()];
      if (use_l2) state_.l2_cache->Put(key, encoded, ttl);
      state_.l1_cache->Put(key, std::move(encoded), ttl);
    }
    for (size_t i : waiting[m]) result.vectors[i] = fresh[m];
  }
  // Cost of the tokens sent (LLMix's price table, after the --pricing-file overrides).
  std::optional<ModelPrice> price = LookupModelPrice(state_.price_overrides, result.model);
  if (!price) price = GetModelPricing(result.model);
  if (!price) price = GetModelPricing(cfg.model);
  if (price) {
    if (auto cost = CostOf(*price, static_cast<double>(result.prompt_tokens), 0); cost.ok()) {
      result.cost = *cost;
    }
  }
  return finish();
}

RerankResult EmbedService::Rerank(const RerankCall& call) {
  RerankResult result;
  auto span = state_.tracer.StartSpan(
      "POST /v1/rerank", call.parent.valid() ? &call.parent : nullptr, SpanKind::kServer);
  Target target;
  result.status = Resolve(call.preset, call.config_json, nullptr, &target);
  if (result.status.ok()) {
    const registry::LlmConfig& cfg = *target.config;
    result.provider = cfg.provider;
    result.model = cfg.model;
    span->SetAttribute("gen_ai.system", cfg.provider);
    span->SetAttribute("gen_ai.request.model", cfg.model);
    span->SetAttribute("gen_ai.operation.name", std::string("rerank"));
    adapters::RerankRequest req;
    req.provider = cfg.provider;
    req.model = cfg.model;
    req.base_url = target.base_url;
    req.body = call.body;
    adapters::RerankOutcome last;
    result.error = RunAttempts(
        target, call.deadline, *span,
        [&](const std::string& key, absl::Duration timeout, const std::string& traceparent) {
          req.api_key = key;
          req.timeout = timeout;
          req.traceparent = traceparent;
          last = client_.Rerank(req);
          return AttemptOutcome{last.error, last.http_status, last.headers, last.network_error};
        },
        &result.attempts);
    if (!result.error) result.body = std::move(last.body);
  }
  requests_.With({"rerank", result.provider, OutcomeLabel(result.status, result.error)}).Add();
  if (!result.status.ok()) span->SetError(std::string(result.status.message()));
  if (result.error) span->SetError(result.error->message);
  span->End();
  return result;
}

grpc::Status EmbedService::Embed(const v1::EmbedRequest& request, v1::EmbedResponse* response,
                                 absl::Time deadline, const SpanContext* parent) {
  EmbedCall call;
  if (request.has_preset()) call.preset = request.preset();
  if (request.has_config_json()) call.config_json = request.config_json();
  if (request.inputs().empty()) {
    return ToGrpcStatus(Invalid("inputs", "at least one input is required"));
  }
  if (static_cast<size_t>(request.inputs_size()) > options_.max_inputs) {
    return ToGrpcStatus(Invalid(
        "inputs", absl::StrCat(request.inputs_size(), " inputs, at most ", options_.max_inputs)));
  }
  size_t bytes = 0;
  for (int i = 0; i < request.inputs_size(); ++i) {
    if (request.inputs(i).empty()) {
      return ToGrpcStatus(Invalid(absl::StrCat("inputs[", i, "]"), "must not be empty"));
    }
    bytes += request.inputs(i).size();
  }
  if (bytes > options_.max_input_bytes) {
    return ToGrpcStatus(
        Invalid("inputs", absl::StrCat(bytes, " bytes, at most ", options_.max_input_bytes,
                                       " (--max-request-bytes)")));
  }
  if (request.has_dimensions()) {
    if (request.dimensions() <= 0 || request.dimensions() > 65536) {
      return ToGrpcStatus(Invalid("dimensions", "must be between 1 and 65536"));
    }
    call.dimensions = request.dimensions();
  }
  switch (request.cache()) {
    case v1::CACHE_MODE_BYPASS:
      call.cache = pipeline::CacheMode::kBypass;
      break;
    case v1::CACHE_MODE_REFRESH:
      call.cache = pipeline::CacheMode::kRefresh;
      break;
    default:
      call.cache = pipeline::CacheMode::kDefault;
      break;
  }
  if (request.has_tenant()) call.tenant = request.tenant().substr(0, 128);
  call.inputs.assign(request.inputs().begin(), request.inputs().end());
  call.deadline = deadline;
  if (parent != nullptr) call.parent = *parent;
  EmbedResult r = Run(call, "llmix.sidecar.v1.Llmix/Embed");
  if (!r.status.ok()) return ToGrpcStatus(r.status);
  response->set_model(r.model);
  response->set_provider(r.provider);
  response->set_config_revision(r.config_revision);
  response->set_trace_id(r.trace_id);
  response->set_attempts(r.attempts);
  response->set_success(!r.error.has_value());
  response->mutable_usage()->set_input_tokens(r.prompt_tokens);
  response->mutable_usage()->set_total_tokens(r.prompt_tokens);
  if (r.error) {
    v1::Error* e = response->mutable_error();
    e->set_code(static_cast<v1::ErrorCode>(static_cast<int>(r.error->code)));
    e->set_message(r.error->message);
    e->set_retryable(r.error->retryable);
    e->set_http_status(r.error->http_status);
    e->set_provider(r.error->provider);
    if (r.error->retry_after_ms) e->set_retry_after_ms(*r.error->retry_after_ms);
    e->set_provider_error_type(r.error->provider_error_type);
    return grpc::Status::OK;
  }
  switch (r.cache_tier) {
    case pipeline::CacheTier::kL1:
      response->set_cache_hit(v1::CACHE_TIER_L1);
      break;
    case pipeline::CacheTier::kL2:
      response->set_cache_hit(v1::CACHE_TIER_L2);
      break;
    default:
      break;
  }
  for (auto& v : r.vectors) {
    response->add_embeddings()->mutable_values()->Assign(v.begin(), v.end());
  }
  if (r.cost) {
    response->mutable_cost()->set_input_usd(r.cost->input_usd);
    response->mutable_cost()->set_output_usd(r.cost->output_usd);
    response->mutable_cost()->set_total_usd(r.cost->total_usd);
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::vector<std::vector<float>>> EmbedService::Embed(
    const pipeline::EmbedQuery& query) {
  if (query.inputs.empty()) return std::vector<std::vector<float>>{};
  EmbedCall call;
  call.preset = query.preset;
  if (query.snapshot != nullptr) {
    // The caller's snapshot outlives this blocking call; borrow it without owning it.
    call.snapshot =
        std::shared_ptr<const registry::Snapshot>(std::shared_ptr<void>(), query.snapshot);
  }
  call.inputs = query.inputs;
  call.deadline = absl::Now() + query.timeout;
  EmbedResult r = Run(call, "llmix.embed");
  if (!r.status.ok()) {
    return absl::Status(r.status.code(), absl::StrCat("embeddings preset \"", query.preset,
                                                      "\": ", r.status.message()));
  }
  if (r.error) {
    return absl::UnavailableError(
        absl::StrCat("embeddings preset \"", query.preset, "\": ", r.error->message));
  }
  return std::move(r.vectors);
}

}  // namespace llmix::sidecar
