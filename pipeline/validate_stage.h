// First stage: rejects malformed requests with INVALID_ARGUMENT naming the field (exactly one
// of preset/config_json, at least one message, known roles, content shapes, input caps).
#pragma once

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

// A call's tenant (CallRequest.tenant, the front door's x-llmix-tenant): 1..128 bytes of
// letters, digits and `-_.:@/+=`; it becomes a budget account and a metric label.
inline constexpr size_t kMaxTenantBytes = 128;
absl::Status CheckTenant(std::string_view tenant);

class ValidateStage final : public Stage {
 public:
  explicit ValidateStage(const PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "validate"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override;

  // The check itself, for tests and for transports that validate before queueing.
  static absl::Status Check(const CallInput& input, const PipelineOptions& options);

 private:
  const PipelineState& state_;
};

}  // namespace llmix::pipeline
