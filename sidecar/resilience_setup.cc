#include "sidecar/resilience_setup.h"

#include "pipeline/resilience/global_concurrency.h"

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

}  // namespace llmix::sidecar
