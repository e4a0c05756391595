#include "pipeline/json_stage.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/js_json.h"
#include "pipeline/json_task.h"
#include "pipeline/resolve_stage.h"

namespace llmix::pipeline {

namespace {

absl::Status Invalid(const std::string& field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// The request's task, checked: its schema compiled and max_repairs in range.
absl::StatusOr<registry::JsonTaskSettings> RequestTask(const JsonTaskInput& in) {
  if (in.schema_json.empty()) return Invalid(in.field, "required");
  JsJsonLimits limits;
  limits.max_depth = kMaxJsonTaskSchemaNesting;
  limits.max_bytes = kMaxJsonTaskSchemaBytes;
  absl::StatusOr<nlohmann::json> parsed = ParseJsJson(in.schema_json, limits);
  if (!parsed.ok()) return Invalid(in.field, parsed.status().message());
  absl::StatusOr<JsonSchema> schema = JsonSchema::Compile(*parsed);
  if (!schema.ok()) return Invalid(in.field, schema.status().message());
  const int repairs = in.max_repairs.value_or(kDefaultJsonRepairs);
  if (repairs < 0 || repairs > kMaxJsonRepairs) {
    return Invalid("json_task.max_repairs",
                   absl::StrCat("expected 0..", kMaxJsonRepairs, ", got ", repairs));
  }
  return registry::JsonTaskSettings{*std::move(schema), repairs};
}

void AddUsage(adapters::Usage& sum, const adapters::Usage& u) {
  sum.input_tokens += u.input_tokens;
  sum.output_tokens += u.output_tokens;
  sum.total_tokens += u.total_tokens;
  if (u.cached_input_tokens) {
    sum.cached_input_tokens = sum.cached_input_tokens.value_or(0) + *u.cached_input_tokens;
  }
  if (u.reasoning_tokens) {
    sum.reasoning_tokens = sum.reasoning_tokens.value_or(0) + *u.reasoning_tokens;
  }
}

std::string PresetLabel(const CallContext& ctx) {
  return ctx.preset_id.empty() ? "inline" : ctx.preset_id;
}

}  // namespace

// One call's JSON task: the schema, the repairs made, and the totals over its attempts.
struct JsonStage::Task {
  CallContext* ctx;
  Next next;
  Done done;
  registry::JsonTaskSettings settings;
  Span* stage_span = nullptr;
  int repairs = 0;
  int attempts = 0;
  adapters::Usage usage;
  bool valid = false;
};

bool JsonStage::Skip(const CallContext& ctx) const {
  return !ctx.input.json_task.has_value() &&
         (ctx.preset == nullptr || !ctx.preset->sidecar.json_task.has_value());
}

void JsonStage::Run(CallContext& ctx, const Next& next, Done done) const {
  if (ctx.stream != nullptr) {
    // The reply is checked (and maybe repaired) as a whole: nothing could be streamed.
    ctx.status = absl::InvalidArgumentError("json_task: not supported with CallStream");
    std::move(done)();
    return;
  }
  std::optional<registry::JsonTaskSettings> settings;
  if (ctx.input.json_task.has_value()) {
    absl::StatusOr<registry::JsonTaskSettings> task = RequestTask(*ctx.input.json_task);
    if (!task.ok()) {
      ctx.status = task.status();
      std::move(done)();
      return;
    }
    settings = *std::move(task);
  } else {
    settings = *ctx.preset->sidecar.json_task;
  }
  auto task = std::make_shared<Task>(Task{&ctx, next, std::move(done), *std::move(settings),
                                          ctx.stage_span, 0, 0, adapters::Usage{}, false});
  Next inner = task->next;
  inner(ctx, [this, task]() mutable { AfterAttempt(std::move(task)); });
}

void JsonStage::AfterAttempt(std::shared_ptr<Task> task) const {
  CallContext& ctx = *task->ctx;
  task->attempts += ctx.result.attempts;
  AddUsage(task->usage, ctx.result.usage);
  if (!ctx.status.ok() || !ctx.result.success) {
    Finish(std::move(task), "error");  // the attempt's own failure, as it is
    return;
  }
  std::string problem;
  std::string repair_message;
  absl::StatusOr<nlohmann::ordered_json> value = ExtractJsonReply(ctx.result.content);
  if (!value.ok()) {
    problem = std::string(value.status().message());
    repair_message = RepairMessageForParseError(problem);
  } else {
    JsonSchemaErrors errors = task->settings.schema.Validate(nlohmann::json(*value));
    if (errors.ok()) {
      ctx.result.json = CompactJsonText(*value);
      task->valid = true;
      Finish(std::move(task), "valid");
      return;
    }
    problem =
        absl::StrCat("the reply does not match the schema: ", absl::StrJoin(errors.errors, "; "),
                     errors.truncated ? "; (further errors not listed)" : "");
    repair_message = RepairMessageForSchemaErrors(errors);
  }

  const bool time_left = ctx.deadline - state_.clock.Monotonic() > absl::ZeroDuration();
  if (task->repairs < task->settings.max_repairs && time_left && !ctx.cancelled.load()) {
    state_.metrics.json_repairs.With({PresetLabel(ctx)}).Add();
    state_.logger.Debug("json task repair", {{"preset", std::string_view(ctx.preset_id)},
                                             {"repair", int64_t{task->repairs + 1}}});
    PrepareRepair(*task, repair_message);
    if (!ctx.status.ok() || ctx.result.error.has_value()) {
      Finish(std::move(task), "error");
      return;
    }
    Next inner = task->next;
    inner(ctx, [this, task]() mutable { AfterAttempt(std::move(task)); });
    return;
  }

  // Still invalid: fail the call, keeping the last reply for the caller to inspect.
  std::string content = std::move(ctx.result.content);
  std::optional<std::string> thinking = std::move(ctx.result.thinking_content);
  CallError e;
  e.code = CallErrorCode::kJsonInvalid;
  e.provider = ctx.result.provider;
  e.message = absl::StrCat("JSON task failed after ", task->repairs,
                           task->repairs == 1 ? " repair" : " repairs",
                           time_left ? "" : " (no time left for another)", ": ", problem);
  ctx.Fail(std::move(e));
  ctx.result.content = std::move(content);
  ctx.result.thinking_content = std::move(thinking);
  Finish(std::move(task), "invalid");
}

void JsonStage::PrepareRepair(Task& task, const std::string& repair_message) const {
  CallContext& ctx = *task.ctx;
  ctx.input.messages.push_back({{"role", "assistant"}, {"content", ctx.result.content}});
  ctx.input.messages.push_back({{"role", "user"}, {"content", repair_message}});
  task.repairs += 1;
  // A caller's own singleflight key would join this repair to other calls' first attempts.
  if (ctx.input.singleflight_key.has_value()) {
    ctx.input.singleflight_key =
        absl::StrCat(*ctx.input.singleflight_key, "#json-repair-", task.repairs);
  }
  // A fresh attempt: forget the last one's answer and upstream state (as the fallback stage
  // does between targets), then key the new messages from the preset's own target.
  ctx.ForgetLastAttempt();
  ctx.result.content.clear();
  ctx.result.thinking_content.reset();
  ctx.result.tool_calls.clear();
  ctx.result.finish_reason.clear();
  ctx.result.usage = {};
  ctx.result.attempts = 0;
  ctx.result.fallback_index = 0;
  if (ctx.preset != nullptr) {
    ctx.status = SelectTarget(state_, ctx, ctx.preset->config, ctx.preset->base_url);
  } else {
    ctx.status = SelectTarget(state_, ctx, *ctx.config, std::nullopt);
  }
}

void JsonStage::Finish(std::shared_ptr<Task> task, const char* outcome) const {
  CallContext& ctx = *task->ctx;
  ctx.result.json_repairs = task->repairs;
  ctx.result.attempts = task->attempts;
  ctx.result.usage = task->usage;
  state_.metrics.json_tasks.With({PresetLabel(ctx), outcome}).Add();
  for (Span* span : {ctx.span.get(), task->stage_span}) {
    if (span == nullptr) continue;
    span->SetAttribute("llmix.json.repairs", int64_t{task->repairs});
    span->SetAttribute("llmix.json.valid", task->valid);
  }
  Done done = std::move(task->done);
  task.reset();
  std::move(done)();
}

}  // namespace llmix::pipeline
