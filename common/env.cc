#include "common/env.h"

#include <cstdlib>

namespace llmix {

std::optional<std::string> ProcessEnv::Get(std::string_view name) const {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::optional<std::string> MapEnv::Get(std::string_view name) const {
  auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

namespace {
std::string NonEmpty(const Env& env, std::string_view name) {
  return env.Get(name).value_or("");
}
std::string StripTrailingSlashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}
}  // namespace

std::string ResolveStateDir(const Env& env) {
  if (std::string d = NonEmpty(env, "LLMIX_STATE_DIR"); !d.empty()) return d;
  if (std::string x = NonEmpty(env, "XDG_STATE_HOME"); !x.empty()) {
    return StripTrailingSlashes(x) + "/llmix";
  }
  return StripTrailingSlashes(NonEmpty(env, "HOME")) + "/.local/state/llmix";
}

std::string KillSwitchPath(const Env& env) { return ResolveStateDir(env) + "/killswitch"; }

}  // namespace llmix
