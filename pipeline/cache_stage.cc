#include "pipeline/cache_stage.h"

#include "pipeline/cache/cache_policy.h"
#include "pipeline/semantic_lookup.h"

namespace llmix::pipeline {

namespace {

void Hit(CallContext& ctx, Span* span, std::string content, CacheTier tier) {
  if (span != nullptr) {
    span->SetAttribute("llmix.cache.hit", true);
    span->SetAttribute("llmix.cache.tier", std::string(CacheTierName(tier)));
  }
  ctx.result.success = true;
  ctx.result.content = std::move(content);
  ctx.result.usage = adapters::Usage{};
  ctx.result.tool_calls.clear();
  ctx.result.cache_tier = tier;
  ctx.result.attempts = 0;
}

}  // namespace

void CacheStage::Run(CallContext& ctx, const Next& next, Done done) const {
  const cache::CacheStrategy strategy =
      ctx.config != nullptr ? cache::StrategyOf(*ctx.config) : cache::CacheStrategy::kNone;
  cache::L1Cache* l1 = state_.l1_cache.get();
  if (strategy == cache::CacheStrategy::kNone || l1 == nullptr || ctx.request_key.empty()) {
    next(ctx, std::move(done));
    return;
  }
  cache::RedisL2* l2 = state_.l2_cache.get();
  if (strategy == cache::CacheStrategy::kRedis && l2 == nullptr) {
    CallError e;
    e.code = CallErrorCode::kConfig;
    e.provider = ctx.config->provider;
    e.message = ctx.preset_id.empty()
                    ? "caching.strategy \"redis\" requires REDIS_URL, which is not configured "
                      "(use \"redis-or-memory\" to fall back to the in-process cache)"
                    : "preset " + ctx.preset_id +
                          " uses caching.strategy \"redis\", which requires REDIS_URL";
    ctx.Fail(std::move(e));
    std::move(done)();
    return;
  }
  if (strategy == cache::CacheStrategy::kMemory) l2 = nullptr;
  const Lookup lookup{l1, l2, cache::CacheTtl(*ctx.config), ctx.stage_span, nullptr};

  if (ctx.input.cache_mode == CacheMode::kDefault) {
    if (std::optional<std::string> v = l1->Get(ctx.request_key); v.has_value()) {
      state_.metrics.cache_hits.With({"l1"}).Add();
      Hit(ctx, lookup.span, std::move(*v), CacheTier::kL1);
      std::move(done)();
      return;
    }
    // The Redis GET is a network round trip: it runs on a worker (an L1 hit above never
    // needs one). While L2 is down Get answers at once, so no hand-off is needed.
    if (l2 != nullptr && l2->up()) {
      ContinueOnWorker(ctx,
                       [this, &ctx, next, lookup, done = std::move(done)](bool admitted) mutable {
                         if (!admitted) {
                           std::move(done)();  // refused: ctx.status says RESOURCE_EXHAUSTED
                           return;
                         }
                         LookupL2(ctx, next, lookup, std::move(done));
                       });
      return;
    }
    LookupL2(ctx, next, lookup, std::move(done));
    return;
  }
  Continue(ctx, next, lookup, std::move(done));
}

void CacheStage::LookupL2(CallContext& ctx, const Next& next, const Lookup& lookup,
                          Done done) const {
  if (lookup.l2 != nullptr) {
    if (std::optional<cache::L2Entry> e = lookup.l2->Get(ctx.request_key, lookup.ttl);
        e.has_value()) {
      state_.metrics.cache_hits.With({"l2"}).Add();
      lookup.l1->Put(ctx.request_key, e->data, e->remaining_ttl);
      Hit(ctx, lookup.span, std::move(e->data), CacheTier::kL2);
      std::move(done)();
      return;
    }
  }
  state_.metrics.cache_misses.Add();
  if (lookup.span != nullptr) lookup.span->SetAttribute("llmix.cache.hit", false);
  if (auto probe = PlanSemanticLookup(state_, ctx, lookup.ttl); probe != nullptr) {
    Lookup semantic = lookup;
    semantic.semantic = std::move(probe);
    LookupSemantic(ctx, next, semantic, std::move(done));
    return;
  }
  Continue(ctx, next, lookup, std::move(done));
}

void CacheStage::LookupSemantic(CallContext& ctx, const Next& next, const Lookup& lookup,
                                Done done) const {
  // The embed call blocks: on a worker, like the Redis lookup.
  ContinueOnWorker(ctx, [this, &ctx, next, lookup, done = std::move(done)](bool admitted) mutable {
    if (!admitted) {
      std::move(done)();  // refused: ctx.status says RESOURCE_EXHAUSTED
      return;
    }
    if (auto match = SemanticLookup(state_, ctx, *lookup.semantic, lookup.l2, lookup.span)) {
      Hit(ctx, lookup.span, std::move(match->text), CacheTier::kSemantic);
      ctx.result.semantic_similarity = match->similarity;
      std::move(done)();
      return;
    }
    Continue(ctx, next, lookup, std::move(done));
  });
}

void CacheStage::Continue(CallContext& ctx, const Next& next, const Lookup& lookup,
                          Done done) const {
  if (ctx.input.cache_mode == CacheMode::kBypass) {
    next(ctx, std::move(done));
    return;
  }
  next(ctx, [this, &ctx, lookup, done = std::move(done)]() mutable {
    // Raw text (think extraction runs after this), successes without tool calls only. The L2
    // write is queued for Redis's background writer, so this never blocks.
    if (ctx.status.ok() && ctx.result.success && !ctx.result.error.has_value() &&
        ctx.result.tool_calls.empty() && ctx.result.cache_tier == CacheTier::kNone) {
      lookup.l1->Put(ctx.request_key, ctx.result.content, lookup.ttl);
      if (lookup.l2 != nullptr) lookup.l2->Put(ctx.request_key, ctx.result.content, lookup.ttl);
      if (lookup.semantic != nullptr) SemanticInsert(state_, *lookup.semantic, ctx, lookup.l2);
    }
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
