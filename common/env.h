// Read-only access to environment variables, injectable so tests (and fixture vectors that
// carry an `env` map) never mutate the process environment. Implementations are thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace llmix {

class Env {
 public:
  virtual ~Env() = default;
  // The variable's value, or nullopt when unset. An empty string is a set value.
  virtual std::optional<std::string> Get(std::string_view name) const = 0;
};

// The real process environment (getenv).
class ProcessEnv final : public Env {
 public:
  std::optional<std::string> Get(std::string_view name) const override;
};

// A fixed map; names absent from it are unset.
class MapEnv final : public Env {
 public:
  MapEnv() = default;
  explicit MapEnv(std::map<std::string, std::string, std::less<>> vars) : vars_(std::move(vars)) {}
  std::optional<std::string> Get(std::string_view name) const override;
  void Set(std::string name, std::string value) { vars_[std::move(name)] = std::move(value); }

 private:
  std::map<std::string, std::string, std::less<>> vars_;
};

// LLMix's state directory: LLMIX_STATE_DIR, else $XDG_STATE_HOME/llmix, else
// $HOME/.local/state/llmix (empty values count as unset; one trailing '/' of XDG is dropped).
std::string ResolveStateDir(const Env& env);
// `<stateDir>/killswitch`.
std::string KillSwitchPath(const Env& env);

}  // namespace llmix
