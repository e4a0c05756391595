// Resolves the call's config: takes the active snapshot once (the call keeps it), looks up
// the preset (NOT_FOUND if absent) or parses the inline config_json (INVALID_ARGUMENT naming
// the field), applies the request's response_format, and fixes the effective base URL and
// the call deadline (caller's deadline, else the preset's timeout, else the default).
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

// Points the call at one target: `base` (the preset's config, one of its fallback targets, or
// the inline config) with the request's response_format and common overrides applied, and
// sets the provider/model of the result, the request (cache) key and the base URL. Errors are
// INVALID_ARGUMENT naming the field; a config error the cache key finds fails the call.
absl::Status SelectTarget(const PipelineState& state, CallContext& ctx,
                          const registry::LlmConfig& base,
                          const std::optional<std::string>& preset_base_url);

// The upstream base URL of a call to `cfg`: the config's own baseUrl (sno-gpu: its rewritten
// URL), else the preset's metadata.llmix-sidecar baseUrl with ${VAR} references expanded from
// `env`, else the provider's env override or catalog default. An error (its message names the
// setting) when the preset's reference does not expand to an http(s) URL.
absl::StatusOr<std::string> UpstreamBaseUrl(const registry::LlmConfig& cfg,
                                            const std::optional<std::string>& preset_base_url,
                                            const Env& env);

class ResolveStage final : public Stage {
 public:
  explicit ResolveStage(const PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "resolve"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  absl::Status Resolve(CallContext& ctx) const;
  const PipelineState& state_;
};

}  // namespace llmix::pipeline
