// JSON tasks (CallRequest.json_task, or a preset's `metadata.llmix-sidecar.json`; the request's
// wins): runs the rest of the pipeline (think, fallback, cache, ..., dispatch), reads a JSON
// value from the reply (pipeline/json_task.h) and validates it against the task's schema
// (common/json_schema.h). When that fails and repairs are left (`max_repairs`, default 2, at
// most 5) and the call has time, it runs the rest again with two more messages: the reply as an
// assistant message and a user message stating the errors. Each attempt is an ordinary call
// with its own cache key, so an identical request replays the same attempts from the cache.
// The answer carries `json` (compact text) and `json_repairs`; a reply that is still invalid
// after the last repair fails the call with ERROR_CODE_JSON_INVALID and keeps its content.
// Usage and attempts are summed over all attempts. Skipped (no span) for calls without a task.
#pragma once

#include <memory>

#include "pipeline/pipeline_state.h"
#include "pipeline/stage.h"

namespace llmix::pipeline {

class JsonStage final : public Stage {
 public:
  explicit JsonStage(PipelineState& state) : state_(state) {}
  std::string_view name() const override { return "json"; }
  bool Skip(const CallContext& ctx) const override;
  void Run(CallContext& ctx, const Next& next, Done done) const override;

 private:
  struct Task;
  void AfterAttempt(std::shared_ptr<Task> task) const;
  // Appends the repair messages and points the call at the preset's own target again.
  void PrepareRepair(Task& task, const std::string& repair_message) const;
  void Finish(std::shared_ptr<Task> task, const char* outcome) const;
  PipelineState& state_;
};

}  // namespace llmix::pipeline
