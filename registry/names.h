// LLMix's name and path validators (module, preset, scope, user id, version) and the preset
// file path rule, with LLMix's exact error classes and messages (registry/errors.h).
// Stateless free functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace llmix::registry {

// `^(_default|[a-z][a-z0-9_]{0,63})$`. Empty / longer than 64 UTF-16 units -> Error; any of
// / \ .. ~ $ ` -> SecurityError; pattern mismatch -> Error.
absl::Status ValidateModule(std::string_view module);
// `^(_base[a-z0-9_]*|[a-z][a-z0-9_]{0,63})$`, same order of checks.
absl::Status ValidatePreset(std::string_view preset);
// `^(_default|[a-z][a-z0-9_-]{0,63})$`, same order of checks.
absl::Status ValidateScope(std::string_view scope);
// `^[A-Za-z0-9_-]{1,64}$`; never an error, just false (nullopt = JS undefined/null).
bool ValidateUserId(std::optional<std::string_view> user_id);
// An integer in 1..9999. `version` is any JSON value (JS typeof semantics): a non-integer ->
// TypeError "Version must be an integer, got <typeof>", out of range -> Error.
absl::Status ValidateVersion(const nlohmann::json& version);

// `path.join(path.resolve(configDir), module, preset + ".mda")` (POSIX). A relative
// `config_dir` is resolved against `cwd` (the process working directory when empty).
std::string BuildMdaConfigFilePath(std::string_view config_dir, std::string_view module,
                                   std::string_view preset, std::string_view cwd = {});

// POSIX `path.normalize` / `path.resolve(cwd, p)` of Node.js (no filesystem access).
std::string PosixNormalize(std::string_view path);
std::string PosixResolve(std::string_view cwd, std::string_view path);

// Length of a UTF-8 string in UTF-16 code units (JS `.length`).
size_t Utf16Length(std::string_view utf8);

}  // namespace llmix::registry
