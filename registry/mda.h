// MDA preset files: source text -> YAML front matter (YAML 1.2 core-schema scalars, as js-yaml's
// CORE_SCHEMA reads them) -> JSON, and LLMix's `loadMdaConfig` projection of that front matter
// into an LLM config, plus the sidecar-only `metadata.llmix-sidecar` namespace.
// Errors are Statuses (registry/errors.h kinds) naming the file, the line and the field.
// Stateless free functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "registry/llm_config.h"
#include "registry/snapshot.h"

namespace llmix::registry {

// A parsed MDA file.
struct MdaDocument {
  nlohmann::json front_matter;  // null when the front matter is empty
  std::string body;             // the text after the closing `---` line (LF line ends)
  // 1-based file line of every mapping key / sequence item of the front matter, by JSON path.
  std::map<std::vector<std::string>, int> lines;

  // Line of `path`, or of its nearest ancestor that has one (0 when none).
  int LineOf(const std::vector<std::string>& path) const;
};

// YAML text -> JSON with js-yaml CORE_SCHEMA scalar resolution: null (`~`, `null`, `Null`,
// `NULL`, empty), bool (`true`/`True`/`TRUE`/`false`/...), int (decimal with `_`, `0x`, `0o`,
// `0b`), float (`1.5`, `1e3`, `.5`, `.inf`, `.nan`); everything else (`yes`, `on`, `2024-01-01`)
// is a string. Numbers are doubles (as JS). Keys are stringified like JS (`1.0:` -> "1").
// Duplicate keys, several documents, unknown tags and complex keys are errors.
// `first_line` is the file line of the YAML's first line (for messages and `lines`).
absl::StatusOr<nlohmann::json> YamlToJson(std::string_view yaml, std::string_view file,
                                          int first_line = 1,
                                          std::map<std::vector<std::string>, int>* lines = nullptr);

// `new TextDecoder().decode(bytes)` minus the BOM handling: every maximal invalid UTF-8 subpart
// becomes U+FFFD.
std::string DecodeUtf8Lossy(std::string_view bytes);

// Source text -> front matter: strips a UTF-8 BOM, turns CRLF / CR into LF; the first line must
// be `---` and the next `---` line closes the front matter.
absl::StatusOr<MdaDocument> ParseMdaText(std::string_view text, std::string_view file);

// What a preset file yields.
struct ProjectedPreset {
  nlohmann::json resolved;  // LLMix's projected config: the `resolved/<module>/<preset>.json`
  LlmConfig config;         // `resolved`, strictly parsed
  SidecarSettings sidecar;  // `metadata.llmix-sidecar`
};

// LLMixMdaPresetSchema + projectMdaPresetToConfig + LLMConfigSchema on a parsed front matter.
// `source_path` names the file in messages; `doc` (optional) supplies line numbers.
//  - front matter schema issues: InvalidConfigError "MDA front matter validation failed for
//    <file>:\n  - line N: <path>: <code>: <message>..."
//  - projection issues: InvalidConfigError with LLMix's message ("Projected MDA config
//    validation failed for <file>:\n  - <path>: <message>") followed by a line
//    "\n  (line N: <front matter path>)".
//  - sidecar namespace issues: InvalidConfigError "Invalid metadata.llmix-sidecar in <file>: ..."
absl::StatusOr<ProjectedPreset> ProjectMdaFrontMatter(const nlohmann::json& front_matter,
                                                      std::string_view source_path,
                                                      const MdaDocument* doc = nullptr);

// `.yaml` / `.yml` (any case) -> InvalidConfigError "TypeScript LLMix presets use .mda files;
// YAML presets are no longer supported: <path>"; other non-`.mda` (any case) -> InvalidConfigError
// "TypeScript LLMix presets must use .mda files: <path>".
absl::Status CheckMdaPresetPath(std::string_view path);

// ParseMdaText + ProjectMdaFrontMatter.
absl::StatusOr<ProjectedPreset> LoadMdaPresetText(std::string_view text,
                                                  std::string_view source_path);

// loadMdaConfig(path): CheckMdaPresetPath, read (ConfigNotFoundError / ConfigAccessError), parse
// and project. Messages name the absolute path.
absl::StatusOr<ProjectedPreset> LoadMdaPresetFile(std::string_view path);

}  // namespace llmix::registry
