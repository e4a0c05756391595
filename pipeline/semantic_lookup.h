// The semantic cache as the cache stage uses it (README "Semantic cache"). For a preset with
// `metadata.llmix-sidecar.semanticCache`, after an exact-key miss in DEFAULT cache mode:
//  - Plan (CPU only): the temperature rule, an embedder, and a text to embed — the last user
//    message's text (string content, or all-text parts joined by "\n"). The scope is the
//    SHA-256 of everything else that shapes the answer: the exact key's fields with that text
//    taken out, the preset id, tools, tool_choice, the request's JSON task and the embeddings
//    preset. A response is only ever served within its scope.
//  - Lookup (blocking: on a worker): embed the text, best cosine similarity over the scope's
//    entries in memory and, when `shared` and L2 is up, the scope's Redis list (loaded into
//    memory on a local miss). An embed failure is a miss (debug log + metric), never an error.
//  - Insert (after an upstream success that was a semantic miss): the lookup's vector, no
//    second embed call; with `shared`, queued to Redis after the exact-key L2 write.
// Stateless free functions over PipelineState; thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "pipeline/cache/redis_l2.h"
#include "pipeline/cache/semantic_cache.h"
#include "pipeline/call_context.h"
#include "pipeline/pipeline_state.h"

namespace llmix::pipeline {

struct SemanticProbe {
  const registry::SemanticCacheSettings* settings = nullptr;  // into ctx.snapshot's preset
  std::string scope;                                          // lowercase hex SHA-256
  std::string text;                                           // what is embedded
  absl::Duration ttl;       // `ttlSeconds`, else the preset's caching TTL
  std::vector<float> unit;  // the prompt's unit vector, once embedded (empty: not embedded)
};

// The last user message's text, or nullopt when there is none or it has non-text parts.
std::optional<std::string> SemanticText(const nlohmann::json& messages);

// The probe of a call whose preset opts in and that may use the semantic cache, else null
// (a call of an opted-in preset that may not counts in llmix_semantic_cache_skips_total).
// `cache_ttl` is the preset's caching TTL. Cache mode is the caller's to check.
std::shared_ptr<SemanticProbe> PlanSemanticLookup(PipelineState& state, const CallContext& ctx,
                                                  absl::Duration cache_ttl);

// Embeds and looks up (blocking). A match has the response text and the similarity; `l2` (may
// be null) serves `shared` entries. Counts hits (cache_hits{semantic}), misses, embed errors;
// puts the best similarity seen on `span` (may be null).
std::optional<cache::SemanticMatch> SemanticLookup(PipelineState& state, CallContext& ctx,
                                                   SemanticProbe& probe, cache::RedisL2* l2,
                                                   Span* span);

// Stores ctx.result.content under ctx.request_key for the probe's vector (a no-op when the
// lookup did not embed). Never blocks: the Redis push is queued.
void SemanticInsert(PipelineState& state, const SemanticProbe& probe, const CallContext& ctx,
                    cache::RedisL2* l2);

}  // namespace llmix::pipeline
