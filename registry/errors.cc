#include "registry/errors.h"

#include "absl/strings/cord.h"

namespace llmix::registry {

namespace {
constexpr char kErrorTypeUrl[] = "llmix.sidecar/registry.error_type";
}  // namespace

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kError:
      return "Error";
    case ErrorKind::kTypeError:
      return "TypeError";
    case ErrorKind::kSecurityError:
      return "SecurityError";
    case ErrorKind::kInvalidConfig:
      return "InvalidConfigError";
    case ErrorKind::kConfigNotFound:
      return "ConfigNotFoundError";
    case ErrorKind::kConfigAccess:
      return "ConfigAccessError";
  }
  return "Error";
}

absl::Status MakeError(ErrorKind kind, std::string_view message) {
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  if (kind == ErrorKind::kConfigNotFound) code = absl::StatusCode::kNotFound;
  if (kind == ErrorKind::kConfigAccess) code = absl::StatusCode::kPermissionDenied;
  absl::Status status(code, absl::string_view(message.data(), message.size()));
  std::string_view name = ErrorKindName(kind);
  status.SetPayload(kErrorTypeUrl, absl::Cord(absl::string_view(name.data(), name.size())));
  return status;
}

std::optional<std::string> ErrorTypeName(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

}  // namespace llmix::registry
