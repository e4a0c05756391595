#include "sidecar/auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace llmix::sidecar {

absl::StatusOr<BearerAuth> BearerAuth::FromFile(const std::string& path) {
  if (path.empty()) return BearerAuth();
  std::ifstream f(path);
  if (!f) return absl::InvalidArgumentError(absl::StrCat("--auth-token-file: cannot read ", path));
  std::stringstream ss;
  ss << f.rdbuf();
  std::string token(absl::StripAsciiWhitespace(ss.str()));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth-token-file: ", path, " is empty"));
  }
  return FromToken(std::move(token));
}

BearerAuth BearerAuth::FromToken(std::string token) {
  BearerAuth a;
  a.token_ = std::move(token);
  return a;
}

bool BearerAuth::Allows(std::string_view authorization) const {
  if (token_.empty()) return true;
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(authorization.data(), kScheme.size()),
                              absl::string_view(kScheme.data(), kScheme.size()))) {
    return false;
  }
  const std::string_view given = authorization.substr(kScheme.size());
  // Constant time in the token's content: every byte of the expected token is compared.
  unsigned char diff = given.size() == token_.size() ? 0 : 1;
  for (size_t i = 0; i < token_.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(token_[i]));
  }
  return diff == 0;
}

}  // namespace llmix::sidecar
