// The response cache (CONTRACT §1, §9, §12). With a caching strategy that consults the cache
// (memory, redis, redis-or-memory, any unknown string) and the default cache mode, it looks up
// `ctx.request_key` in L1, then in L2 (redis strategies, when REDIS_URL is configured; an L2
// hit backfills L1 with the remaining TTL). A hit ends the call here: the raw cached text,
// zero usage, `cache_tier`, success, zero attempts. On a miss (and with CACHE_MODE_REFRESH) it
// runs the inner stages and then stores the RAW content (think extraction runs outside this
// stage) in L1 and, fire-and-forget, L2 — only for successes without tool calls; failures are
// never cached. CACHE_MODE_BYPASS neither reads nor writes. The strict `redis` strategy with no
// REDIS_URL fails an inline-config call (presets are refused at load time). Redis trouble never
// fails a call: L2 errors are misses. Presets with `semanticCache` then try the semantic cache
// (pipeline/semantic_lookup.h) before going upstream, and store there after a success.
#pragma once

#include "absl/time/time.h"
#include <memory>

#include "pipeline/pipeline_state.h"
#include "pipeline/semantic_lookup.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class CacheStage final : public Stage {
 public:
  explicit CacheStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "cache"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  // What one call's lookup uses, fixed before the first tier is read.
  struct Lookup {
    cache::L1Cache* l1;
    cache::RedisL2* l2;  // null: no shared tier for this call
    absl::Duration ttl;
    Span* span;  // the cache stage's span
    // Set after an exact-key miss of a semantic-cache preset (pipeline/semantic_lookup.h).
    std::shared_ptr<SemanticProbe> semantic;
  };
  void LookupL2(CallContext& ctx, const Next& next, const Lookup& lookup, Done done) const;
  void LookupSemantic(CallContext& ctx, const Next& next, const Lookup& lookup, Done done) const;
  // Runs the inner stages, then writes a cacheable result to both tiers.
  void Continue(CallContext& ctx, const Next& next, const Lookup& lookup, Done done) const;

  PipelineState& state_;
};

}  // namespace llmix::pipeline
