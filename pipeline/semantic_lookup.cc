#include "pipeline/semantic_lookup.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/canonical_json.h"
#include "pipeline/cache/cache_key.h"

namespace llmix::pipeline {

namespace {

using nlohmann::json;

// Stands in for the embedded text in the scope material, so prompts that differ only there
// share a scope.
constexpr char kEmbeddedMarker[] = "\x01llmix:semantic-text";

// Index of the last message with role "user", or -1.
int LastUserMessage(const json& messages) {
  if (!messages.is_array()) return -1;
  for (int i = static_cast<int>(messages.size()) - 1; i >= 0; --i) {
    const json& m = messages[static_cast<size_t>(i)];
    if (m.is_object() && m.value("role", json()).is_string() && m["role"] == "user") return i;
  }
  return -1;
}

std::string ScopeOf(const CallContext& ctx, const registry::SemanticCacheSettings& settings,
                    const Env& env, int user_index) {
  json messages = ctx.input.messages;
  messages[static_cast<size_t>(user_index)]["content"] = kEmbeddedMarker;
  absl::StatusOr<cache::CacheKeyParams> params =
      cache::CacheKeyParamsOf(ctx.config->raw, messages, env);
  // Resolve already built the exact key from the same fields, so this cannot fail; if it
  // somehow did, the scope falls back to the config without the key text (still per preset).
  std::string material = params.ok() ? cache::CanonicalCacheText(*params) : std::string();
  json extra = {
      {"preset", ctx.preset_id},
      {"tools", ctx.input.tools},
      {"toolChoice", ctx.input.tool_choice},
      {"jsonTask", ctx.input.json_task ? json(ctx.input.json_task->schema_json) : json()},
      {"embeddingPreset", settings.embedding_preset},
  };
  absl::StrAppend(&material, "\n", CacheCanonicalJson(extra));
  return Sha256Hex(material);
}

}  // namespace

std::optional<std::string> SemanticText(const json& messages) {
  const int i = LastUserMessage(messages);
  if (i < 0) return std::nullopt;
  const json& content = messages[static_cast<size_t>(i)].value("content", json());
  if (content.is_string()) {
    std::string text = content.get<std::string>();
    if (text.empty()) return std::nullopt;
    return text;
  }
  if (!content.is_array() || content.empty()) return std::nullopt;
  // Images, files and audio cannot be judged by a text embedding: such a prompt is not
  // semantically cached at all.
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || part.value("type", json()) != "text" ||
        !part.value("text", json()).is_string()) {
      return std::nullopt;
    }
    if (!text.empty()) text.push_back('\n');
    text += part["text"].get<std::string>();
  }
  if (text.empty()) return std::nullopt;
  return text;
}

std::shared_ptr<SemanticProbe> PlanSemanticLookup(PipelineState& state, const CallContext& ctx,
                                                  absl::Duration cache_ttl) {
  if (ctx.preset == nullptr || ctx.config == nullptr ||
      !ctx.preset->sidecar.semantic_cache.has_value()) {
    return nullptr;
  }
  const registry::SemanticCacheSettings& settings = *ctx.preset->sidecar.semantic_cache;
  // No temperature counts as 1, the default of OpenAI, Anthropic and Gemini alike: an
  // unpinned preset samples, so a similar prompt's answer is not a stand-in for this one.
  const double temperature = ctx.config->common.temperature.value_or(1.0);
  if (temperature > settings.max_temperature) {
    state.metrics.semantic_skips.With({"temperature"}).Add();
    return nullptr;
  }
  if (state.embedder == nullptr) {
    state.metrics.semantic_skips.With({"no_embedder"}).Add();
    return nullptr;
  }
  std::optional<std::string> text = SemanticText(ctx.input.messages);
  if (!text.has_value()) {
    state.metrics.semantic_skips.With({"no_text"}).Add();
    return nullptr;
  }
  auto probe = std::make_shared<SemanticProbe>();
  probe->settings = &settings;
  probe->scope = ScopeOf(ctx, settings, state.env, LastUserMessage(ctx.input.messages));
  probe->text = *std::move(text);
  probe->ttl = settings.ttl.value_or(cache_ttl);
  return probe;
}

std::optional<cache::SemanticMatch> SemanticLookup(PipelineState& state, CallContext& ctx,
                                                   SemanticProbe& probe, cache::RedisL2* l2,
                                                   Span* span) {
  const registry::SemanticCacheSettings& settings = *probe.settings;
  const absl::Duration left = ctx.deadline - state.clock.Monotonic();
  if (left <= absl::ZeroDuration() || ctx.cancelled.load()) return std::nullopt;
  EmbedQuery query;
  query.snapshot = ctx.snapshot.get();
  query.preset = settings.embedding_preset;
  query.inputs = {probe.text};
  query.timeout = std::min(query.timeout, left);
  absl::StatusOr<std::vector<std::vector<float>>> vectors = state.embedder->Embed(query);
  if (vectors.ok() && vectors->size() == 1) probe.unit = cache::Normalized(vectors->front());
  if (probe.unit.empty()) {
    state.metrics.semantic_embed_errors.Add();
    const std::string error = vectors.ok() ? std::string("not one finite non-zero vector")
                                           : std::string(vectors.status().message());
    state.logger.Debug("semantic cache: embedding failed; the call goes on uncached",
                       {{"preset", std::string_view(ctx.preset_id)},
                        {"embedding_preset", std::string_view(settings.embedding_preset)},
                        {"error", std::string_view(error)}});
    if (span != nullptr) span->SetAttribute("llmix.cache.semantic.embed_error", true);
    return std::nullopt;
  }
  const float threshold = static_cast<float>(settings.threshold);
  cache::SemanticIndex& index = *state.semantic_index;
  float best = -1;
  std::optional<cache::SemanticMatch> match =
      index.Lookup(probe.scope, probe.unit, threshold, &best);
  const bool shared = settings.shared && l2 != nullptr && l2->up();
  if (!match.has_value() && shared) {
    // Entries other pods stored: the scope's list, newest first, merged into memory (oldest
    // first, so the newest ends up most recently used), then looked up again.
    const std::string key = absl::StrCat(cache::kSemanticKeyPrefix, probe.scope);
    if (std::optional<std::vector<std::string>> list = l2->ListRange(key, settings.max_entries);
        list.has_value() && !list->empty()) {
      for (auto it = list->rbegin(); it != list->rend(); ++it) {
        std::optional<cache::DecodedSemanticEntry> e = cache::DecodeSemanticEntry(*it);
        if (!e.has_value() || index.Contains(probe.scope, e->response_key)) continue;
        index.Insert(probe.scope, std::move(e->unit), std::move(e->response_key), "", probe.ttl,
                     settings.max_entries);
      }
      match = index.Lookup(probe.scope, probe.unit, threshold, &best);
    }
  }
  // An entry loaded from Redis has its text in L2 under the response key; gone there (expired
  // or evicted) means gone here too.
  if (match.has_value() && match->text.empty()) {
    std::optional<cache::L2Entry> e =
        l2 != nullptr ? l2->Get(match->response_key, probe.ttl) : std::nullopt;
    if (e.has_value()) {
      match->text = std::move(e->data);
    } else {
      index.Erase(probe.scope, match->response_key);
      match.reset();
    }
  }
  if (span != nullptr && best > -1) {
    span->SetAttribute("llmix.cache.semantic.best_similarity", static_cast<double>(best));
  }
  if (!match.has_value()) {
    state.metrics.semantic_misses.Add();
    return std::nullopt;
  }
  state.metrics.cache_hits.With({"semantic"}).Add();
  if (ctx.span != nullptr) {
    ctx.span->SetAttribute("llmix.cache.semantic.similarity",
                           static_cast<double>(match->similarity));
  }
  return match;
}

void SemanticInsert(PipelineState& state, const SemanticProbe& probe, const CallContext& ctx,
                    cache::RedisL2* l2) {
  if (probe.unit.empty()) return;
  const registry::SemanticCacheSettings& settings = *probe.settings;
  if (settings.shared && l2 != nullptr) {
    // Queued after the exact-key write of the same response (one writer, in order), so a pod
    // that finds this element finds the response too.
    l2->ListPush(absl::StrCat(cache::kSemanticKeyPrefix, probe.scope),
                 cache::EncodeSemanticEntry(ctx.request_key, probe.unit), settings.max_entries,
                 probe.ttl);
  }
  state.semantic_index->Insert(probe.scope, probe.unit, ctx.request_key, ctx.result.content,
                               probe.ttl, settings.max_entries);
  state.metrics.semantic_inserts.Add();
}

}  // namespace llmix::pipeline
