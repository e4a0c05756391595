#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "pipeline/resilience_stages.h"

namespace llmix::pipeline {

void KillSwitchStage::Run(CallContext& ctx, const Next& next, Done done) const {
  const std::string& path = state_.resilience->options().kill_switch_path;
  struct stat st {};
  if (!path.empty() && stat(path.c_str(), &st) == 0) {
    CallError e;
    e.code = CallErrorCode::kKillSwitch;
    e.provider = ctx.config->provider;
    e.message = absl::StrCat("Kill switch active: ", path, " exists. All LLMix calls are blocked.");
    ctx.Fail(std::move(e));
    std::move(done)();
    return;
  }
  next(ctx, std::move(done));
}

}  // namespace llmix::pipeline
