#include "registry/snapshot_loader.h"

#include <limits.h>
#include <stdlib.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/js_date.h"
#include "registry/errors.h"
#include "registry/fs_util.h"
#include "registry/mda.h"
#include "registry/names.h"
#include "registry/preset_schema.h"

namespace llmix::registry {

namespace {

using nlohmann::json;

// readFileBytes with LLMix's registry messages.
absl::StatusOr<std::string> ReadRegistryFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (bytes.ok()) return bytes;
  if (absl::IsNotFound(bytes.status())) {
    return MakeError(ErrorKind::kConfigNotFound,
                     absl::StrCat("Required registry file not found: ", path));
  }
  if (absl::IsPermissionDenied(bytes.status())) {
    return MakeError(ErrorKind::kConfigAccess,
                     absl::StrCat("Permission denied reading registry file: ", path));
  }
  return bytes.status();
}

std::string RealPathOr(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) != nullptr) return buf;
  return PosixResolve({}, path);
}

// verifyPathContainment: after resolving symlinks, `path` must stay inside `base`.
absl::Status VerifyContainment(const std::string& path, const std::string& base) {
  std::string real_path = RealPathOr(path);
  std::string real_base = RealPathOr(base);
  bool inside =
      real_path == real_base || absl::StartsWith(real_path, real_base + "/") || real_base == "/";
  if (!inside) {
    return MakeError(ErrorKind::kSecurityError, absl::StrCat("Path traversal detected: ", path,
                                                             " escapes base directory ", base));
  }
  return absl::OkStatus();
}

// Reads an artifact and checks its SHA-256 against the manifest.
absl::StatusOr<std::string> ReadVerified(const std::string& path, std::string_view expected_sha) {
  absl::StatusOr<std::string> bytes = ReadRegistryFile(path);
  if (!bytes.ok()) return bytes.status();
  if (Sha256Hex(*bytes) != expected_sha) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("Checksum mismatch for Config Registry artifact ", path));
  }
  return bytes;
}

// fromCanonicalResolvedConfig.
absl::StatusOr<LlmConfig> ParseResolved(const json& value, const std::string& path) {
  for (const char* field : {"provider", "model"}) {
    if (!value.contains(field) || !value[field].is_string()) {
      return MakeError(ErrorKind::kInvalidConfig, absl::StrCat("Missing required field '", field,
                                                               "' in resolved config ", path));
    }
  }
  std::vector<SchemaIssue> issues = CheckLlmConfigSchema(value);
  if (!issues.empty()) {
    std::vector<std::string> lines;
    for (const auto& i : issues)
      lines.push_back(absl::StrCat("  - ", IssuePath(i), ": ", i.message));
    return MakeError(ErrorKind::kInvalidConfig, absl::StrCat("Schema validation failed for ", path,
                                                             ":\n", absl::StrJoin(lines, "\n")));
  }
  return ParseLlmConfig(value, Strictness::kStrict);
}

// The sidecar namespace of a (verified) source file.
// Resolves the preset's own `@<logical>` model (modelMap) in `primary`.
absl::StatusOr<SidecarSettings> ReadSidecarSettings(std::string_view text, const std::string& path,
                                                    LlmConfig& primary) {
  absl::StatusOr<MdaDocument> doc = ParseMdaText(text, path);
  if (!doc.ok()) return doc.status();
  SidecarSettings out;
  const json& fm = doc->front_matter;
  if (!fm.is_object() || !fm.contains("metadata") || !fm["metadata"].is_object() ||
      !fm["metadata"].contains("llmix-sidecar")) {
    return out;
  }
  const json& ns = fm["metadata"]["llmix-sidecar"];
  std::vector<SchemaIssue> issues = CheckSidecarNamespaceSchema(ns);
  if (!issues.empty()) {
    std::vector<std::string> lines;
    for (const auto& i : issues) {
      std::vector<std::string> full = {"metadata", "llmix-sidecar"};
      full.insert(full.end(), i.path.begin(), i.path.end());
      int line = doc->LineOf(full);
      lines.push_back(absl::StrCat("  - ", line > 0 ? absl::StrCat("line ", line, ": ") : "",
                                   absl::StrJoin(full, "."), ": ", i.code, ": ", i.message));
    }
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("Invalid metadata.llmix-sidecar in ", path, ":\n",
                                  absl::StrJoin(lines, "\n")));
  }
  if (absl::Status st = ResolveModelTier(ns, "metadata.snoai-llmix.common.model", primary);
      !st.ok()) {
    return MakeError(ErrorKind::kInvalidConfig, absl::StrCat(path, ": ", st.message()));
  }
  absl::StatusOr<SidecarSettings> settings = SidecarSettingsOf(ns, primary);
  if (!settings.ok()) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("Invalid metadata.llmix-sidecar in ", path, ": ",
                                  settings.status().message()));
  }
  return settings;
}

}  // namespace

absl::StatusOr<CurrentPointer> ReadCurrentPointer(const std::string& root_in) {
  std::string root = PosixResolve({}, root_in);
  std::string current_path = JoinPath(root, "current.json");
  absl::StatusOr<std::string> bytes = ReadRegistryFile(current_path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<json> value = ParseRegistryJsonObject(*bytes, current_path);
  if (!value.ok()) return value.status();
  absl::StatusOr<ParsedCurrentPointer> pointer = ParseCurrentPointer(*value, current_path);
  if (!pointer.ok()) return pointer.status();
  if (pointer->manifest_sha256.has_value()) {
    return CurrentPointer{pointer->revision, *pointer->manifest_sha256};
  }
  std::string manifest =
      JoinPath(JoinPath(JoinPath(root, "compiled"), pointer->revision), "manifest.json");
  absl::StatusOr<std::string> manifest_bytes = ReadRegistryFile(manifest);
  if (!manifest_bytes.ok()) return manifest_bytes.status();
  return CurrentPointer{pointer->revision, Sha256Hex(*manifest_bytes)};
}

absl::StatusOr<std::shared_ptr<const Snapshot>> LoadRevision(const std::string& root_in,
                                                             const CurrentPointer& pointer,
                                                             const Clock& clock,
                                                             const RootTrustOptions* trust) {
  std::string root = PosixResolve({}, root_in);
  if (absl::Status s = ValidateRevision(pointer.revision); !s.ok()) return s;
  if (trust != nullptr && trust->minimum_revision) {
    absl::StatusOr<int> cmp = CompareRevision(pointer.revision, *trust->minimum_revision);
    if (!cmp.ok()) return cmp.status();
    if (*cmp < 0) {
      return MakeError(ErrorKind::kInvalidConfig,
                       absl::StrCat("Config Registry revision ", pointer.revision,
                                    " is older than the minimum revision ",
                                    *trust->minimum_revision));
    }
  }
  std::string compiled = JoinPath(JoinPath(root, "compiled"), pointer.revision);
  if (!PathExists(compiled)) {
    return MakeError(ErrorKind::kConfigNotFound,
                     absl::StrCat("Config Registry compiled revision not found: ", compiled));
  }
  std::string manifest_path = JoinPath(compiled, "manifest.json");
  absl::StatusOr<std::string> manifest_bytes = ReadVerified(manifest_path, pointer.manifest_sha256);
  if (!manifest_bytes.ok()) return manifest_bytes.status();
  absl::StatusOr<json> manifest_json = ParseRegistryJsonObject(*manifest_bytes, manifest_path);
  if (!manifest_json.ok()) return manifest_json.status();
  absl::StatusOr<Manifest> manifest =
      ParseManifest(*manifest_json, manifest_path, pointer.revision);
  if (!manifest.ok()) return manifest.status();
  if (trust != nullptr && trust->minimum_published_at_ms) {
    std::optional<double> published = ParseJsDateMs(manifest->published_at);
    if (!published || *published < *trust->minimum_published_at_ms) {
      return MakeError(ErrorKind::kInvalidConfig,
                       absl::StrCat("Config Registry revision ", pointer.revision,
                                    " was published (", manifest->published_at,
                                    ") before the trust manifest's minimumPublishedAt"));
    }
  }
  if (trust != nullptr && !trust->trusted_keys.empty()) {
    const std::string root_path = JoinPath(compiled, kRegistryRootFilename);
    absl::StatusOr<std::string> root_bytes = ReadFileBytes(root_path);
    if (!root_bytes.ok()) {
      return MakeError(ErrorKind::kInvalidConfig,
                       absl::StrCat("Config Registry revision ", pointer.revision,
                                    " is not signed (", root_path, " unreadable) and signatures "
                                    "are required"));
    }
    absl::StatusOr<json> root_json = ParseRegistryJsonObject(*root_bytes, root_path);
    if (!root_json.ok()) return root_json.status();
    absl::StatusOr<json> envelope = ParseRegistryRootEnvelope(*root_json, root_path);
    if (!envelope.ok()) return envelope.status();
    if (absl::Status s = VerifyRegistryRoot(*envelope, *manifest, pointer.manifest_sha256, *trust);
        !s.ok()) {
      return s;
    }
  }

  auto snapshot = std::make_shared<Snapshot>();
  snapshot->revision = pointer.revision;
  snapshot->manifest_sha256 = pointer.manifest_sha256;
  snapshot->published_at = manifest->published_at;
  snapshot->compiled_path = compiled;
  for (const auto& [id, entry] : manifest->presets) {
    std::string source_path = JoinPath(compiled, entry.source_path);
    if (absl::Status s = VerifyContainment(source_path, compiled); !s.ok()) return s;
    absl::StatusOr<std::string> source = ReadVerified(source_path, entry.source_sha256);
    if (!source.ok()) return source.status();
    std::string resolved_path = JoinPath(compiled, entry.resolved_path);
    if (absl::Status s = VerifyContainment(resolved_path, compiled); !s.ok()) return s;
    absl::StatusOr<std::string> resolved = ReadVerified(resolved_path, entry.resolved_sha256);
    if (!resolved.ok()) return resolved.status();
    absl::StatusOr<json> resolved_json = ParseRegistryJsonObject(*resolved, resolved_path);
    if (!resolved_json.ok()) return resolved_json.status();
    absl::StatusOr<LlmConfig> config = ParseResolved(*resolved_json, resolved_path);
    if (!config.ok()) return config.status();
    absl::StatusOr<SidecarSettings> sidecar = ReadSidecarSettings(*source, source_path, *config);
    if (!sidecar.ok()) return sidecar.status();

    auto preset = std::make_shared<Preset>();
    preset->id = id;
    preset->source_path = entry.source_path;
    preset->config = *std::move(config);
    preset->sidecar = *std::move(sidecar);
    preset->base_url = preset->sidecar.base_url;
    snapshot->presets[id] = std::move(preset);
  }
  // A semantic cache embeds with another preset of the same revision: a dangling name fails
  // the load here rather than every call at run time.
  for (const auto& [id, preset] : snapshot->presets) {
    const auto& sc = preset->sidecar.semantic_cache;
    if (sc.has_value() && snapshot->Find(sc->embedding_preset) == nullptr) {
      return MakeError(ErrorKind::kInvalidConfig,
                       absl::StrCat("Invalid metadata.llmix-sidecar in ",
                                    JoinPath(compiled, preset->source_path),
                                    ": semanticCache.embeddingPreset: preset \"",
                                    sc->embedding_preset, "\" is not in revision ",
                                    pointer.revision));
    }
  }
  snapshot->loaded_at = clock.Wall();
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(const std::string& root,
                                                             const Clock& clock,
                                                             const RootTrustOptions* trust) {
  absl::StatusOr<CurrentPointer> pointer = ReadCurrentPointer(root);
  if (!pointer.ok()) return pointer.status();
  return LoadRevision(root, *pointer, clock, trust);
}

}  // namespace llmix::registry
