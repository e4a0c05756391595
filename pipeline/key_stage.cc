#include "absl/strings/str_cat.h"
#include "common/provider_catalog.h"
#include "pipeline/key_limits_path.h"
#include "pipeline/resilience_stages.h"

namespace llmix::pipeline {

void KeyStage::Run(CallContext& ctx, const Next& next, Done done) const {
  ctx.upstream.api_key.clear();
  if (state_.dummy_upstream) {  // offline: the dummy responder needs no key
    next(ctx, std::move(done));
    return;
  }
  const std::string& provider = ctx.config->provider;
  auto fail = [&](CallErrorCode code, std::string message) {
    CallError e;
    e.code = code;
    e.provider = provider;
    e.message = std::move(message);
    ctx.Fail(std::move(e));
    std::move(done)();
  };
  auto pool = state_.resilience->keys().Get(provider);
  if (!pool.ok()) {
    const std::string prefix = ProviderEnvPrefix(provider);
    fail(CallErrorCode::kNoApiKey,
         absl::StrCat("No API key pool for provider \"", provider, "\". Set ", prefix,
                      "_API_KEY or ", prefix, "_KEYS."));
    return;
  }
  if (resilience::KeyRateLimiter* limiter = state_.resilience->key_limiter(provider)) {
    RunKeyStageWithLimits(state_, ctx, next, std::move(done), *pool, *limiter);
    return;
  }
  auto key = (*pool)->Select();
  if (!key.ok()) {
    fail(CallErrorCode::kKeyPoolExhausted, std::string(key.status().message()));
    return;
  }
  ctx.upstream.api_key = *key;
  next(ctx, [&ctx, pool = *pool, key = std::move(*key), done = std::move(done)]() mutable {
    KeyPoolFeedback(ctx, *pool, key);
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
