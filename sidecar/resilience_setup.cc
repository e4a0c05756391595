#include "sidecar/resilience_setup.h"

#include <algorithm>
#include <string>
#include <vector>

#include "pipeline/resilience/global_concurrency.h"
#include "pipeline/resilience/key_limits.h"

namespace llmix::sidecar {

absl::StatusOr<pipeline::ResilienceOptions> ResilienceOptionsFrom(const ServeOptions& options,
                                                                  const Env& env) {
  pipeline::ResilienceOptions r;
  r.retry.max_retries = options.max_retries;
  r.retry.base_ms = options.retry_base_ms;
  r.retry.max_delay_ms = options.retry_max_delay_ms;
  r.retry.jitter_ms = options.retry_jitter_ms;
  r.retry.retry_after_cap_ms = options.retry_after_cap_ms;
  r.breaker.failure_threshold = options.breaker_threshold;
  r.breaker.cooldown = absl::Milliseconds(options.breaker_cooldown_ms);
  r.breaker.permitted_half_open_calls = options.breaker_half_open_probes;
  r.aimd.initial = options.aimd_initial;
  r.aimd.min_concurrency = options.aimd_min;
  if (options.aimd_min > options.aimd_initial) {
    return absl::InvalidArgumentError("--aimd-min must be <= --aimd-initial");
  }
  if (options.global_concurrency > 0) {
    r.global_concurrency = options.global_concurrency;
  } else {
    auto global = resilience::ParseGlobalConcurrency(env.Get("LLM_GLOBAL_CONCURRENCY"));
    if (!global.ok()) return global.status();
    r.global_concurrency = *global;
  }
  r.kill_switch_path =
      options.state_dir.empty() ? KillSwitchPath(env) : options.state_dir + "/killswitch";
  r.singleflight = options.singleflight;
  auto key_limits = resilience::KeyLimitsFromEnv(env);  // <P>_KEY_RPM / <P>_KEY_TPM
  if (!key_limits.ok()) return key_limits.status();
  r.key_limits = std::move(*key_limits);
  return r;
}

absl::Status InstallResilience(const ServeOptions& options, const Env& env,
                               pipeline::PipelineState& state, Scheduler& scheduler,
                               Executor& executor) {
  auto r = ResilienceOptionsFrom(options, env);
  if (!r.ok()) return r.status();
  auto resilience = pipeline::ResilienceState::Create(*r, state.clock, env, &scheduler, &executor);
  if (!resilience.ok()) return resilience.status();
  state.resilience = std::move(*resilience);
  state.dummy_upstream = options.dummy_upstream;
  return absl::OkStatus();
}

void RegisterKeyLimitMetrics(MetricRegistry& metrics, pipeline::ResilienceState& resilience) {
  pipeline::ResilienceState* r = &resilience;
  // Every key of the provider's pool (zero until used) plus any key seen by the limiter.
  auto windows = [r](bool tokens) {
    std::vector<GaugeSample> out;
    for (const auto& [provider, limiter] : r->key_limiters()) {
      std::vector<resilience::KeyWindowStats> stats = limiter->Stats();
      if (auto pool = r->keys().Find(provider)) {
        for (const std::string& key : pool->keys()) {
          const std::string fp = resilience::KeyFingerprint(key);
          const bool seen = std::any_of(stats.begin(), stats.end(),
                                        [&](const auto& s) { return s.fingerprint == fp; });
          if (!seen) stats.push_back({fp, 0, 0});
        }
      }
      for (const resilience::KeyWindowStats& s : stats) {
        out.push_back({{provider, s.fingerprint},
                       static_cast<double>(tokens ? s.tokens : s.requests)});
      }
    }
    return out;
  };
  metrics.AddCallbackGauge("llmix_key_window_requests",
                           "Requests per API key (8-hex fingerprint) in the last minute, for "
                           "providers with per-key limits.",
                           {"provider", "key"}, [windows] { return windows(false); });
  metrics.AddCallbackGauge("llmix_key_window_tokens",
                           "Tokens per API key (8-hex fingerprint) in the last minute (estimates "
                           "until the attempt settles), for providers with per-key limits.",
                           {"provider", "key"}, [windows] { return windows(true); });
  metrics.AddCallbackGauge("llmix_key_limit", "Configured per-key limit (kind: rpm | tpm).",
                           {"provider", "kind"}, [r] {
                             std::vector<GaugeSample> out;
                             for (const auto& [provider, limiter] : r->key_limiters()) {
                               const resilience::KeyLimits& l = limiter->limits();
                               if (l.rpm > 0) out.push_back({{provider, "rpm"}, double(l.rpm)});
                               if (l.tpm > 0) out.push_back({{provider, "tpm"}, double(l.tpm)});
                             }
                             return out;
                           });
  metrics.AddCallbackCounter(
      "llmix_key_limit_events_total",
      "Per-key limit events: skip (a key passed over at its limit), wait (a call waited for a "
      "key), reject (RATE_LIMITED: no key frees before the deadline).",
      {"provider", "event"}, [r] {
        std::vector<GaugeSample> out;
        for (const auto& [provider, limiter] : r->key_limiters()) {
          out.push_back({{provider, "skip"}, static_cast<double>(limiter->skips())});
          out.push_back({{provider, "wait"}, static_cast<double>(limiter->waits())});
          out.push_back({{provider, "reject"}, static_cast<double>(limiter->rejects())});
        }
        return out;
      });
}

}  // namespace llmix::sidecar
