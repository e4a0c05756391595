#include "registry/revision.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/canonical_json.h"
#include "common/js_json.h"
#include "registry/errors.h"
#include "registry/mda.h"
#include "registry/names.h"

namespace llmix::registry {

namespace {

using nlohmann::json;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// JSON.stringify of a string (for messages like `Invalid registry revision: "r/1"`).
std::string JsQuote(std::string_view s) { return JsJsonQuote(s); }

absl::Status InvalidConfig(std::string_view message) {
  return MakeError(ErrorKind::kInvalidConfig, message);
}

std::vector<std::string_view> RevisionTokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    bool digit = IsDigit(s[i]);
    size_t j = i;
    while (j < s.size() && IsDigit(s[j]) == digit) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

int CompareCodeUnits(std::string_view a, std::string_view b) {
  // All revision characters are ASCII, so byte order is UTF-16 code-unit order.
  if (a == b) return 0;
  return a < b ? -1 : 1;
}

std::string_view StripLeadingZeros(std::string_view token) {
  size_t first = token.find_first_not_of('0');
  return first == std::string_view::npos ? std::string_view("0") : token.substr(first);
}

absl::StatusOr<std::string> StringField(const json& value, const char* key,
                                        std::string_view source_path) {
  auto it = value.find(key);
  if (it == value.end() || !it->is_string()) {
    return InvalidConfig(
        absl::StrCat("Registry file is missing string field '", key, "': ", AV(source_path)));
  }
  return it->get<std::string>();
}

}  // namespace

absl::Status ValidateRevision(std::string_view revision) {
  if (revision.empty()) return InvalidConfig("Registry revision cannot be empty");
  if (revision.find('/') != std::string_view::npos ||
      revision.find('\\') != std::string_view::npos ||
      revision.find("..") != std::string_view::npos) {
    return MakeError(ErrorKind::kSecurityError,
                     absl::StrCat("Invalid registry revision: ", JsQuote(revision)));
  }
  bool ok = IsAlnum(revision[0]) && revision.size() <= 128;
  for (char c : revision.substr(1)) {
    ok = ok && (IsAlnum(c) || c == '.' || c == '_' || c == ':' || c == '-');
  }
  if (!ok) {
    return InvalidConfig(absl::StrCat("Invalid registry revision format: ", JsQuote(revision)));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> CompareRevision(std::string_view left, std::string_view right) {
  if (absl::Status s = ValidateRevision(left); !s.ok()) return s;
  if (absl::Status s = ValidateRevision(right); !s.ok()) return s;
  std::vector<std::string_view> l = RevisionTokens(left);
  std::vector<std::string_view> r = RevisionTokens(right);
  for (size_t i = 0; i < std::max(l.size(), r.size()); ++i) {
    if (i >= l.size()) return -1;
    if (i >= r.size()) return 1;
    int c;
    if (IsDigit(l[i][0]) && IsDigit(r[i][0])) {
      std::string_view a = StripLeadingZeros(l[i]);
      std::string_view b = StripLeadingZeros(r[i]);
      c = a.size() != b.size() ? (a.size() < b.size() ? -1 : 1) : CompareCodeUnits(a, b);
    } else {
      c = CompareCodeUnits(l[i], r[i]);
    }
    if (c != 0) return c;
  }
  return 0;
}

absl::Status ValidateRegistryArtifactPath(std::string_view path, std::string_view label,
                                          std::string_view source_path) {
  std::string suffix = absl::StrCat(AV(label), ": ", AV(source_path));
  if (path.empty()) {
    return InvalidConfig(absl::StrCat("Registry manifest entry is missing artifact path ", suffix));
  }
  bool win_drive_absolute = path.size() > 2 && IsAlnum(path[0]) && !IsDigit(path[0]) &&
                            path[1] == ':' && (path[2] == '/' || path[2] == '\\');
  if (path[0] == '/' || path[0] == '\\' || win_drive_absolute ||
      path.find('\\') != std::string_view::npos) {
    return InvalidConfig(
        absl::StrCat("Registry manifest artifact path must be relative POSIX path ", suffix));
  }
  for (absl::string_view segment : absl::StrSplit(AV(path), '/')) {
    if (segment.empty() || segment == "." || segment == "..") {
      return InvalidConfig(absl::StrCat(
          "Registry manifest artifact path must not contain traversal segments ", suffix));
    }
  }
  if (PosixNormalize(path) != path) {
    return InvalidConfig(
        absl::StrCat("Registry manifest artifact path must be normalized ", suffix));
  }
  return absl::OkStatus();
}

absl::Status ValidateSha256(std::string_view sha256, std::string_view label) {
  bool ok = sha256.size() == 64;
  for (char c : sha256) ok = ok && (IsDigit(c) || (c >= 'a' && c <= 'f'));
  if (!ok) return InvalidConfig(absl::StrCat("Invalid SHA-256 digest for ", AV(label)));
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeSha256Digest(std::string_view digest, std::string_view label) {
  if (absl::StartsWith(AV(digest), "sha256:")) digest.remove_prefix(7);
  if (absl::Status s = ValidateSha256(digest, label); !s.ok()) return s;
  return std::string(digest);
}

std::string CurrentPointerText(const CurrentPointer& pointer) {
  return RegistryJsonText(
      json{{"revision", pointer.revision}, {"manifest_sha256", pointer.manifest_sha256}});
}

std::string CurrentPointerSha256(const CurrentPointer& pointer) {
  return Sha256Hex(CurrentPointerText(pointer));
}

absl::StatusOr<ParsedCurrentPointer> ParseCurrentPointer(const nlohmann::json& value,
                                                         std::string_view source_path) {
  if (!value.is_object()) {
    return InvalidConfig(
        absl::StrCat("Registry file must contain a JSON object: ", AV(source_path)));
  }
  absl::StatusOr<std::string> revision = StringField(value, "revision", source_path);
  if (!revision.ok()) return revision.status();
  if (absl::Status s = ValidateRevision(*revision); !s.ok()) return s;
  ParsedCurrentPointer out{*revision, std::nullopt};
  auto it = value.find("manifest_sha256");
  if (it == value.end() || it->is_discarded()) return out;
  if (!it->is_string()) {
    return InvalidConfig(
        absl::StrCat("Registry file is missing string field 'manifest_sha256': ", AV(source_path)));
  }
  std::string sha = it->get<std::string>();
  if (!ValidateSha256(sha, "").ok()) {
    return InvalidConfig(
        absl::StrCat("Registry current pointer has invalid manifest_sha256: ", AV(source_path)));
  }
  out.manifest_sha256 = std::move(sha);
  return out;
}

absl::StatusOr<Manifest> ParseManifest(const nlohmann::json& value, std::string_view source_path,
                                       std::optional<std::string_view> expected_revision) {
  if (!value.is_object()) {
    return InvalidConfig(
        absl::StrCat("Registry file must contain a JSON object: ", AV(source_path)));
  }
  Manifest m;
  absl::StatusOr<std::string> revision = StringField(value, "revision", source_path);
  if (!revision.ok()) return revision.status();
  if (absl::Status s = ValidateRevision(*revision); !s.ok()) return s;
  if (expected_revision.has_value() && *revision != *expected_revision) {
    return InvalidConfig(
        absl::StrCat("Config Registry manifest revision mismatch in ", AV(source_path)));
  }
  m.revision = *revision;
  absl::StatusOr<std::string> published_at = StringField(value, "published_at", source_path);
  if (!published_at.ok()) return published_at.status();
  m.published_at = *published_at;
  auto version = value.find("schema_version");
  if (version == value.end() || !version->is_number() ||
      version->get<double>() != kManifestSchemaVersion) {
    return InvalidConfig(
        absl::StrCat("Unsupported Config Registry manifest schema version in ", AV(source_path)));
  }
  auto presets = value.find("presets");
  if (presets == value.end() || !presets->is_object()) {
    return InvalidConfig(absl::StrCat("Config Registry manifest presets index must be an object: ",
                                      AV(source_path)));
  }
  for (auto it = presets->begin(); it != presets->end(); ++it) {
    const std::string& id = it.key();
    const json& entry = it.value();
    if (!entry.is_object()) {
      return InvalidConfig(absl::StrCat("Registry manifest entry must be an object: ", id, " (",
                                        AV(source_path), ")"));
    }
    ManifestEntry e;
    for (auto [key, slot] :
         {std::pair{"source_path", &e.source_path}, std::pair{"source_sha256", &e.source_sha256},
          std::pair{"resolved_path", &e.resolved_path},
          std::pair{"resolved_sha256", &e.resolved_sha256}}) {
      absl::StatusOr<std::string> field = StringField(entry, key, source_path);
      if (!field.ok()) return field.status();
      *slot = *field;
    }
    if (absl::Status s = ValidateRegistryArtifactPath(
            e.source_path, absl::StrCat("source_path for ", id), source_path);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ValidateRegistryArtifactPath(
            e.resolved_path, absl::StrCat("resolved_path for ", id), source_path);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            ValidateSha256(e.source_sha256, absl::StrCat("manifest source_sha256 for ", id));
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            ValidateSha256(e.resolved_sha256, absl::StrCat("manifest resolved_sha256 for ", id));
        !s.ok()) {
      return s;
    }
    m.presets[id] = std::move(e);
  }
  return m;
}

nlohmann::json ManifestToJson(const Manifest& manifest) {
  json presets = json::object();
  for (const auto& [id, e] : manifest.presets) {
    presets[id] = {{"source_path", e.source_path},
                   {"source_sha256", e.source_sha256},
                   {"resolved_path", e.resolved_path},
                   {"resolved_sha256", e.resolved_sha256}};
  }
  return {{"revision", manifest.revision},
          {"published_at", manifest.published_at},
          {"schema_version", manifest.schema_version},
          {"presets", presets}};
}

std::string ManifestText(const Manifest& manifest) {
  return RegistryJsonText(ManifestToJson(manifest));
}

std::string RegistryJsonText(const nlohmann::json& value) {
  return RegistryCanonicalJson(value, RegistryJsonLayout::kPretty);
}

std::string RegistryCompactJsonText(const nlohmann::json& value) {
  return RegistryCanonicalJson(value, RegistryJsonLayout::kCompact);
}

absl::StatusOr<nlohmann::json> ParseRegistryJsonObject(std::string_view bytes,
                                                       std::string_view file_path) {
  // new TextDecoder().decode(bytes) (lossy UTF-8, BOM dropped), then JSON.parse.
  std::string text = DecodeUtf8Lossy(bytes);
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.erase(0, 3);
  absl::StatusOr<json> parsed = ParseJsJson(text);
  if (!parsed.ok()) {
    return InvalidConfig(absl::StrCat("Invalid JSON in registry file ", AV(file_path), ": ",
                                      parsed.status().message()));
  }
  if (!parsed->is_object()) {
    return InvalidConfig(absl::StrCat("Registry file must contain a JSON object: ", AV(file_path)));
  }
  return parsed;
}

int LocaleCompare(std::string_view left, std::string_view right) {
  return LocaleCompareEnUs(left, right);
}

}  // namespace llmix::registry
