// Optional shared-token auth for the gRPC service and the HTTP front door: callers send
// `authorization: Bearer <token>`; the token is read from a file (never from argv or logs)
// and compared in constant time. Immutable once built; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace llmix::sidecar {

class BearerAuth {
 public:
  // No token: every caller is allowed.
  BearerAuth() = default;
  // Reads the token from `path` (surrounding whitespace trimmed); an empty path disables auth.
  // An unreadable or empty file is an error naming the flag.
  static absl::StatusOr<BearerAuth> FromFile(const std::string& path);
  static BearerAuth FromToken(std::string token);

  bool enabled() const { return !token_.empty(); }
  // True when auth is off or `authorization` is "Bearer <token>" (scheme case-insensitive).
  bool Allows(std::string_view authorization) const;

 private:
  std::string token_;
};

}  // namespace llmix::sidecar
