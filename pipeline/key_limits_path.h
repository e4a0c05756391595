// The key stage's path when the provider's keys have RPM/TPM limits (README "Per-key limits"):
// estimate the attempt's tokens, reserve them on the first key (in LLMix's sticky order) with
// room, settle with the real usage when the attempt ends; when every key is at its limit, wait
// on a Scheduler timer until the first frees (no thread parked) if that is before the call's
// deadline and no fallback target remains, else fail RATE_LIMITED with retry_after_ms (a
// fallback chain then moves on). Internal to the pipeline.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pipeline/pipeline_state.h"
#include "pipeline/resilience/key_limits.h"
#include "pipeline/resilience/key_pool.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

// Output tokens assumed when the config sets no common.maxOutputTokens.
inline constexpr int64_t kDefaultOutputTokenEstimate = 1024;
// Tokens assumed per image part (an image's real cost depends on its size and the model).
inline constexpr int64_t kImageTokenEstimate = 1000;

// The tokens one attempt is expected to use: ceil(UTF-8 bytes / 4) of the message text (string
// contents, text parts, tool-call names and arguments, the tools JSON), kImageTokenEstimate per
// image part, plus common.maxOutputTokens (else kDefaultOutputTokenEstimate).
int64_t EstimateCallTokens(const CallContext& ctx);

// The tokens an attempt used, to settle its reservation: usage input + output (else total);
// `estimate` when the provider reported no usage.
int64_t ActualCallTokens(const adapters::ProviderOutcome& outcome, int64_t estimate);

// After an attempt with `key`: a 429 rotates the pool, 401/403 marks the key dead (LLMix).
void KeyPoolFeedback(const CallContext& ctx, resilience::KeyPool& pool, const std::string& key);

// Runs the rest of the key stage for a provider with limits; calls `done` exactly once.
void RunKeyStageWithLimits(PipelineState& state, CallContext& ctx, const Next& next, Done done,
                           std::shared_ptr<resilience::KeyPool> pool,
                           resilience::KeyRateLimiter& limiter);

}  // namespace llmix::pipeline
