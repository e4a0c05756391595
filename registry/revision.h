// The Config Registry's on-disk formats, as LLMix reads and writes them: revision ids and their
// ordering, artifact paths inside a compiled revision, `current.json` (the live pointer) and
// `manifest.json` (per-preset paths + SHA-256). Errors carry LLMix's classes and messages.
// Stateless free functions; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/canonical_json.h"  // Sha256Hex
#include "nlohmann/json.hpp"

namespace llmix::registry {

inline constexpr int kManifestSchemaVersion = 1;

// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$` and no `/`, `\`, `..` (SecurityError) ; empty ->
// InvalidConfigError "Registry revision cannot be empty".
absl::Status ValidateRevision(std::string_view revision);

// compareRevision: both validated, then digit / non-digit runs compared pairwise (digit runs
// numerically ignoring leading zeros, others by code units); a prefix sorts first. -1, 0 or 1.
absl::StatusOr<int> CompareRevision(std::string_view left, std::string_view right);

// A relative, normalized POSIX path without empty / `.` / `..` segments (InvalidConfigError
// "Registry manifest artifact path must ... <label>: <source_path>").
absl::Status ValidateRegistryArtifactPath(std::string_view path, std::string_view label,
                                          std::string_view source_path);

// `^[a-f0-9]{64}$`, else InvalidConfigError "Invalid SHA-256 digest for <label>".
absl::Status ValidateSha256(std::string_view sha256, std::string_view label);
// Strips an optional "sha256:" prefix, then ValidateSha256.
absl::StatusOr<std::string> NormalizeSha256Digest(std::string_view digest, std::string_view label);

// --- current.json --------------------------------------------------------------------------

struct CurrentPointer {
  std::string revision;
  std::string manifest_sha256;
};

// `{"manifest_sha256", "revision"}` in the registry's pretty canonical form (what current.json
// holds), and its SHA-256.
std::string CurrentPointerText(const CurrentPointer& pointer);
std::string CurrentPointerSha256(const CurrentPointer& pointer);

struct ParsedCurrentPointer {
  std::string revision;
  std::optional<std::string> manifest_sha256;  // absent in old pointers
};
// parseCurrentPointer(value, sourcePath). Extra keys are ignored.
absl::StatusOr<ParsedCurrentPointer> ParseCurrentPointer(const nlohmann::json& value,
                                                         std::string_view source_path);

// --- manifest.json -------------------------------------------------------------------------

struct ManifestEntry {
  std::string source_path;  // "source/<module>/<preset>.mda"
  std::string source_sha256;
  std::string resolved_path;  // "resolved/<module>/<preset>.json"
  std::string resolved_sha256;
};

struct Manifest {
  std::string revision;
  std::string published_at;  // ISO-8601 with milliseconds
  int schema_version = kManifestSchemaVersion;
  std::map<std::string, ManifestEntry> presets;  // by preset id "module/preset"
};

// parseManifest(value, sourcePath, expectedRevision?).
absl::StatusOr<Manifest> ParseManifest(const nlohmann::json& value, std::string_view source_path,
                                       std::optional<std::string_view> expected_revision = {});
nlohmann::json ManifestToJson(const Manifest& manifest);
// The canonical manifest.json text.
std::string ManifestText(const Manifest& manifest);

// --- registry JSON files -------------------------------------------------------------------

// The registry's canonical JSON forms (keys in ICU en-US collation order): pretty (2-space
// indent, trailing newline; what every registry file holds) and compact.
std::string RegistryJsonText(const nlohmann::json& value);
std::string RegistryCompactJsonText(const nlohmann::json& value);

// JSON.parse of a registry file's bytes, which must hold an object: InvalidConfigError
// "Invalid JSON in registry file <path>: ..." / "Registry file must contain a JSON object: <path>".
absl::StatusOr<nlohmann::json> ParseRegistryJsonObject(std::string_view bytes,
                                                       std::string_view file_path);

// JS `localeCompare` (ICU, en-US) of two strings: <0, 0, >0. Used to order module and file names.
int LocaleCompare(std::string_view left, std::string_view right);

}  // namespace llmix::registry
