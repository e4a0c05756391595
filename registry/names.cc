#include "registry/names.h"

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/canonical_json.h"
#include "registry/errors.h"

namespace llmix::registry {

namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool HasDangerousChars(std::string_view s) {
  for (char c : s) {
    if (c == '/' || c == '\\' || c == '~' || c == '$' || c == '`') return true;
  }
  return s.find("..") != std::string_view::npos;
}

// `[a-z][a-z0-9_<extra>]{0,63}` (the caller has already capped the length at 64).
bool MatchesLowerIdent(std::string_view s, bool allow_hyphen) {
  if (s.empty() || s.size() > 64 || !IsLower(s[0])) return false;
  for (char c : s.substr(1)) {
    if (!(IsLower(c) || IsDigit(c) || c == '_' || (allow_hyphen && c == '-'))) return false;
  }
  return true;
}

enum class NameKind { kModule, kPreset, kScope };

bool MatchesPattern(NameKind kind, std::string_view s) {
  switch (kind) {
    case NameKind::kModule:
      return s == "_default" || MatchesLowerIdent(s, false);
    case NameKind::kScope:
      return s == "_default" || MatchesLowerIdent(s, true);
    case NameKind::kPreset: {
      if (s.substr(0, 5) == "_base") {
        for (char c : s.substr(5)) {
          if (!(IsLower(c) || IsDigit(c) || c == '_')) return false;
        }
        return true;
      }
      return MatchesLowerIdent(s, false);
    }
  }
  return false;
}

absl::Status ValidateName(NameKind kind, std::string_view name) {
  const char* label = kind == NameKind::kModule   ? "module"
                      : kind == NameKind::kPreset ? "preset"
                                                  : "scope";
  const char* title = kind == NameKind::kModule   ? "Module"
                      : kind == NameKind::kPreset ? "Preset"
                                                  : "Scope";
  if (name.empty())
    return MakeError(ErrorKind::kError, absl::StrCat(title, " name cannot be empty"));
  size_t length = Utf16Length(name);
  if (length > 64) {
    return MakeError(ErrorKind::kError, absl::StrCat(title, " name too long: ", length, " > 64"));
  }
  if (HasDangerousChars(name)) {
    return MakeError(ErrorKind::kSecurityError,
                     absl::StrCat("Invalid characters in ", label, ": ", AV(name)));
  }
  if (!MatchesPattern(kind, name)) {
    const char* rule =
        kind == NameKind::kModule
            ? "Must be '_default' or start with lowercase letter and contain only lowercase "
              "letters, numbers, and underscores"
        : kind == NameKind::kPreset
            ? "Must be '_base*' or start with lowercase letter and contain only lowercase "
              "letters, numbers, and underscores"
            : "Must be '_default' or start with lowercase letter and contain only lowercase "
              "letters, numbers, underscores, and hyphens";
    return MakeError(ErrorKind::kError,
                     absl::StrCat("Invalid ", label, " format: ", AV(name), ". ", rule));
  }
  return absl::OkStatus();
}

// Node's normalizeString: resolves `.` and `..` segments.
std::string NormalizeSegments(std::string_view path, bool allow_above_root) {
  std::vector<absl::string_view> out;
  for (absl::string_view seg : absl::StrSplit(AV(path), '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (allow_above_root) {
        out.push_back(seg);
      }
      continue;
    }
    out.push_back(seg);
  }
  return absl::StrJoin(out, "/");
}

}  // namespace

size_t Utf16Length(std::string_view utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) {
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    n += (c >= 0xF0) ? 2 : 1;
  }
  return n;
}

absl::Status ValidateModule(std::string_view module) {
  return ValidateName(NameKind::kModule, module);
}
absl::Status ValidatePreset(std::string_view preset) {
  return ValidateName(NameKind::kPreset, preset);
}
absl::Status ValidateScope(std::string_view scope) { return ValidateName(NameKind::kScope, scope); }

bool ValidateUserId(std::optional<std::string_view> user_id) {
  if (!user_id.has_value() || user_id->empty() || user_id->size() > 64) return false;
  for (char c : *user_id) {
    bool ok = IsLower(c) || IsDigit(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status ValidateVersion(const nlohmann::json& version) {
  bool is_integer = false;
  double value = 0;
  if (version.is_number()) {
    value = version.get<double>();
    is_integer = std::isfinite(value) && std::trunc(value) == value;
  }
  if (!is_integer) {
    const char* type = "object";
    if (version.is_discarded()) {
      type = "undefined";
    } else if (version.is_number()) {
      type = "number";
    } else if (version.is_string()) {
      type = "string";
    } else if (version.is_boolean()) {
      type = "boolean";
    }
    return MakeError(ErrorKind::kTypeError, absl::StrCat("Version must be an integer, got ", type));
  }
  if (value < 1 || value > 9999) {
    return MakeError(ErrorKind::kError, absl::StrCat("Version ", JsNumberToString(value),
                                                     " out of valid range [1, 9999]"));
  }
  return absl::OkStatus();
}

std::string PosixNormalize(std::string_view path) {
  if (path.empty()) return ".";
  bool absolute = path.front() == '/';
  bool trailing = path.back() == '/';
  std::string body = NormalizeSegments(path, !absolute);
  if (body.empty() && !absolute) body = ".";
  if (!body.empty() && trailing) body += "/";
  return absolute ? "/" + body : body;
}

std::string PosixResolve(std::string_view cwd, std::string_view path) {
  std::string joined;
  if (!path.empty() && path.front() == '/') {
    joined = std::string(path);
  } else {
    std::string base(cwd);
    if (base.empty()) {
      std::array<char, 4096> buf{};
      if (getcwd(buf.data(), buf.size()) != nullptr) base = buf.data();
    }
    joined = path.empty() ? base : absl::StrCat(base, "/", AV(path));
  }
  std::string body = NormalizeSegments(joined, false);
  return "/" + body;
}

std::string BuildMdaConfigFilePath(std::string_view config_dir, std::string_view module,
                                   std::string_view preset, std::string_view cwd) {
  std::string resolved = PosixResolve(cwd, config_dir);
  return PosixNormalize(absl::StrCat(resolved, "/", AV(module), "/", AV(preset), ".mda"));
}

}  // namespace llmix::registry
