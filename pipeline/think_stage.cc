#include "pipeline/think_stage.h"

#include <cmath>

#include "pipeline/thinking.h"

namespace llmix::pipeline {

namespace {

bool JsTruthy(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) {
    const double d = v.get<double>();
    return d != 0 && !std::isnan(d);
  }
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  return v.is_object() || v.is_array();
}

}  // namespace

bool ThinkStage::KeepThinkingOutput(const registry::LlmConfig& config) {
  if (config.common.keep_thinking_output.has_value()) return *config.common.keep_thinking_output;
  auto common = config.raw.find("common");
  if (common == config.raw.end() || !common->is_object()) return false;
  auto keep = common->find("keepThinkingOutput");
  return keep != common->end() && JsTruthy(*keep);
}

void ThinkStage::Run(CallContext& ctx, const Next& next, Done done) const {
  next(ctx, [&ctx, done = std::move(done)]() mutable {
    if (ctx.status.ok() && ctx.result.success && ctx.config != nullptr) {
      ThinkingResult r = ApplyThinkingPolicy(ctx.result.content, KeepThinkingOutput(*ctx.config));
      ctx.result.content = std::move(r.content);
      ctx.result.thinking_content = std::move(r.thinking);
    }
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
