#include "pipeline/key_limits_path.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmix::pipeline {

namespace {

using resilience::KeyRateLimiter;
using resilience::KeyReservation;
using resilience::LimitedSelection;

int64_t StringBytes(const nlohmann::json& j) {
  return j.is_string() ? static_cast<int64_t>(j.get_ref<const std::string&>().size()) : 0;
}

// One call's key selection under limits, shared by its continuations (one runs at a time).
struct KeyWait {
  PipelineState* state;
  CallContext* ctx;
  Next next;
  Done done;
  std::shared_ptr<resilience::KeyPool> pool;
  KeyRateLimiter* limiter;
  Span* span;          // the key stage's span (alive until `done`)
  int64_t tokens = 0;  // this attempt's estimate
  absl::Duration wait_started = absl::InfiniteDuration();  // set on the first wait
};

void Finish(std::shared_ptr<KeyWait> w) {
  CallContext& ctx = *w->ctx;
  ctx.upstream.cancel.ClearHook();
  if (w->span != nullptr && w->wait_started != absl::InfiniteDuration()) {
    w->span->SetAttribute("llmix.key.limit_wait_ms",
                          absl::ToInt64Milliseconds(w->state->clock.Monotonic() - w->wait_started));
  }
  Done done = std::move(w->done);
  w.reset();
  std::move(done)();
}

void FailCall(std::shared_ptr<KeyWait> w, CallErrorCode code, std::string message,
              std::optional<int64_t> retry_after_ms = std::nullopt) {
  CallError e;
  e.code = code;
  e.provider = w->ctx->config->provider;
  e.message = std::move(message);
  e.retryable = code == CallErrorCode::kRateLimited;
  e.retry_after_ms = retry_after_ms;
  w->ctx->Fail(std::move(e));
  Finish(std::move(w));
}

void TrySelect(std::shared_ptr<KeyWait> w);

// Runs the attempt with the selected key, then settles the reservation exactly once.
void RunAttempt(std::shared_ptr<KeyWait> w, LimitedSelection sel) {
  CallContext& ctx = *w->ctx;
  ctx.upstream.cancel.ClearHook();
  if (w->span != nullptr) {
    w->span->SetAttribute("llmix.key.fingerprint", resilience::KeyFingerprint(sel.key));
    w->span->SetAttribute("llmix.key.estimated_tokens", w->tokens);
    if (sel.skipped > 0) w->span->SetAttribute("llmix.key.limit_skips", int64_t{sel.skipped});
  }
  ctx.upstream.api_key = sel.key;
  auto reservation = std::make_shared<KeyReservation>(std::move(sel.reservation));
  Next next = w->next;
  next(ctx, [w, reservation, key = std::move(sel.key)]() mutable {
    CallContext& c = *w->ctx;
    bool sent = false;
    int64_t actual = 0;
    if (c.outcome.has_value()) {
      const adapters::ProviderOutcome& o = *c.outcome;
      // A status or a broken exchange means the provider may have counted the request.
      sent = o.ok() || o.http_status != 0 || o.network_error;
      actual = o.ok() ? ActualCallTokens(o, reservation->estimated_tokens()) : 0;
    }
    reservation->Settle(actual, sent);
    KeyPoolFeedback(c, *w->pool, key);
    Finish(std::move(w));
  });
}

// Parks the call until `delay` passes (a Scheduler timer, resumed on a worker) or it is
// cancelled, then selects again.
void WaitThenSelect(std::shared_ptr<KeyWait> w, absl::Duration delay) {
  CallContext& ctx = *w->ctx;
  ResilienceState& r = *w->state->resilience;
  if (w->wait_started == absl::InfiniteDuration()) {
    w->wait_started = w->state->clock.Monotonic();
    w->limiter->CountWait();
    w->state->logger.Debug("key: every key is at its limit; waiting",
                           {{"provider", std::string_view(ctx.config->provider)},
                            {"delay_ms", absl::ToInt64Milliseconds(delay)}});
  }
  // As in the retry backoff: the hook goes in first, and nothing touches `ctx` after RunAfter.
  auto timer = std::make_shared<std::atomic<Scheduler::TimerId>>(0);
  const bool hooked = ctx.upstream.cancel.SetHook([w, &r, timer]() mutable {
    const Scheduler::TimerId id = timer->load();
    if (id != 0 && r.scheduler().Cancel(id)) {
      r.executor().Submit([w]() mutable { TrySelect(std::move(w)); });
    }
  });
  if (!hooked) {  // already cancelled: TrySelect ends the call
    r.executor().Submit([w]() mutable { TrySelect(std::move(w)); });
    return;
  }
  timer->store(r.scheduler().RunAfter(delay, [w, &r]() mutable {
    w->ctx->upstream.cancel.ClearHook();
    r.executor().Submit([w]() mutable { TrySelect(std::move(w)); });
  }));
}

void TrySelect(std::shared_ptr<KeyWait> w) {
  CallContext& ctx = *w->ctx;
  ResilienceState& r = *w->state->resilience;
  if (ctx.cancelled.load() || ctx.upstream.cancel.cancelled()) {
    ctx.status = absl::CancelledError("the caller cancelled the call");
    Finish(std::move(w));
    return;
  }
  if (r.shutting_down()) {
    ctx.status = absl::UnavailableError("sidecar is shutting down");
    Finish(std::move(w));
    return;
  }
  absl::Duration free_in = absl::InfiniteDuration();
  absl::StatusOr<LimitedSelection> sel =
      resilience::SelectWithinLimits(*w->pool, *w->limiter, w->tokens, &free_in);
  if (sel.ok()) {
    RunAttempt(std::move(w), std::move(*sel));
    return;
  }
  if (sel.status().code() != absl::StatusCode::kResourceExhausted) {
    FailCall(std::move(w), CallErrorCode::kKeyPoolExhausted, std::string(sel.status().message()));
    return;
  }
  if (w->span != nullptr) w->span->SetAttribute("llmix.key.limit_reached", true);
  const absl::Duration remaining = ctx.deadline - w->state->clock.Monotonic();
  if (free_in >= remaining || ctx.upstream.more_targets) {
    // Waiting would outlast the call, or a fallback target can serve it now: say when a key
    // frees, like a provider's 429 would.
    w->limiter->CountReject();
    const resilience::KeyLimits& limits = w->limiter->limits();
    const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(free_in, absl::Milliseconds(1)));
    FailCall(std::move(w), CallErrorCode::kRateLimited,
             absl::StrCat("every API key of provider \"", ctx.config->provider,
                          "\" is at its per-key limit (",
                          limits.rpm > 0 ? absl::StrCat("RPM ", limits.rpm) : "",
                          limits.rpm > 0 && limits.tpm > 0 ? ", " : "",
                          limits.tpm > 0 ? absl::StrCat("TPM ", limits.tpm) : "",
                          "); the first frees in ", ms, " ms"),
             ms);
    return;
  }
  // Never a zero-delay loop: a key that freed meanwhile is taken on the next pass.
  WaitThenSelect(std::move(w), std::max(free_in, absl::Milliseconds(1)));
}

}  // namespace

int64_t EstimateCallTokens(const CallContext& ctx) {
  int64_t bytes = 0;
  int64_t images = 0;
  const nlohmann::json& messages = ctx.input.messages;
  if (messages.is_array()) {
    for (const nlohmann::json& m : messages) {
      if (!m.is_object()) continue;
      if (auto c = m.find("content"); c != m.end()) {
        if (c->is_string()) {
          bytes += StringBytes(*c);
        } else if (c->is_array()) {
          for (const nlohmann::json& part : *c) {
            if (!part.is_object()) continue;
            const auto type = part.find("type");
            if (type == part.end() || !type->is_string()) continue;
            if (*type == "text") {
              if (auto t = part.find("text"); t != part.end()) bytes += StringBytes(*t);
            } else if (*type == "image_url" || *type == "image") {
              ++images;
            }
          }
        }
      }
      if (auto calls = m.find("tool_calls"); calls != m.end() && calls->is_array()) {
        for (const nlohmann::json& call : *calls) {
          if (!call.is_object()) continue;
          auto fn = call.find("function");
          if (fn == call.end() || !fn->is_object()) continue;
          if (auto n = fn->find("name"); n != fn->end()) bytes += StringBytes(*n);
          if (auto a = fn->find("arguments"); a != fn->end()) bytes += StringBytes(*a);
        }
      }
    }
  }
  if (!ctx.input.tools.is_null()) {
    bytes += static_cast<int64_t>(
        ctx.input.tools.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size());
  }
  int64_t output = kDefaultOutputTokenEstimate;
  if (ctx.config != nullptr) {
    if (const auto& max = ctx.config->common.max_output_tokens; max.has_value() && *max >= 0) {
      output = static_cast<int64_t>(std::min(*max, 1e9));
    }
  }
  return (bytes + 3) / 4 + images * kImageTokenEstimate + output;
}

int64_t ActualCallTokens(const adapters::ProviderOutcome& outcome, int64_t estimate) {
  const adapters::Usage& u = outcome.response.usage;
  int64_t used = u.input_tokens + u.output_tokens;
  if (used <= 0) used = u.total_tokens;
  return used > 0 ? used : estimate;
}

void KeyPoolFeedback(const CallContext& ctx, resilience::KeyPool& pool, const std::string& key) {
  if (!ctx.outcome.has_value() || ctx.outcome->ok()) return;
  const int status = ctx.outcome->http_status;
  if (status == 429) {
    pool.Rotate();
  } else if (status == 401 || status == 403) {
    pool.MarkDead(key);
  }
}

void RunKeyStageWithLimits(PipelineState& state, CallContext& ctx, const Next& next, Done done,
                           std::shared_ptr<resilience::KeyPool> pool,
                           resilience::KeyRateLimiter& limiter) {
  auto w = std::make_shared<KeyWait>(
      KeyWait{&state, &ctx, next, std::move(done), std::move(pool), &limiter, ctx.stage_span});
  w->tokens = EstimateCallTokens(ctx);
  TrySelect(std::move(w));
}

}  // namespace llmix::pipeline
