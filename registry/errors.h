// LLMix's error classes (Error, TypeError, SecurityError, InvalidConfigError, ...) carried on an
// absl::Status: the message is LLMix's message and the class name rides along as a payload, so
// callers and tests can tell a SecurityError from a plain Error without parsing text.
// Stateless free functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace llmix::registry {

enum class ErrorKind {
  kError,           // plain `Error` (name format, version range)
  kTypeError,       // `TypeError`
  kSecurityError,   // `SecurityError` (path traversal characters, bad revision)
  kInvalidConfig,   // `InvalidConfigError` (schema, registry files, checksums)
  kConfigNotFound,  // `ConfigNotFoundError` (missing file / revision)
  kConfigAccess,    // `ConfigAccessError` (permission denied)
};

// LLMix's class name for `kind`, e.g. "SecurityError".
std::string_view ErrorKindName(ErrorKind kind);

// A Status with `message` and the kind attached. Codes: kConfigNotFound -> NOT_FOUND,
// kConfigAccess -> PERMISSION_DENIED, everything else -> INVALID_ARGUMENT.
absl::Status MakeError(ErrorKind kind, std::string_view message);

// The LLMix class name carried by `status` (set by MakeError), or nullopt.
std::optional<std::string> ErrorTypeName(const absl::Status& status);

}  // namespace llmix::registry
