#include "registry/publisher.h"

#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "registry/errors.h"
#include "registry/fs_util.h"
#include "registry/mda.h"
#include "registry/names.h"
#include "registry/snapshot_loader.h"

namespace llmix::registry {

namespace {

using nlohmann::json;

#define PUB_ASSIGN(lhs, expr)                   \
  auto lhs##_or = (expr);                       \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = *std::move(lhs##_or)

#define PUB_CHECK(expr)                                \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

struct SourcePreset {
  std::string module;
  std::string preset;
  std::string id;
  std::string file_name;  // as found (".mda" in any case)
  std::string path;       // absolute
  std::string bytes;
};

std::vector<DirEntry> SortedByLocale(std::vector<DirEntry> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const DirEntry& a, const DirEntry& b) {
    return LocaleCompare(a.name, b.name) < 0;
  });
  return entries;
}

absl::Status MapReadError(const absl::Status& s, const std::string& path) {
  if (absl::IsNotFound(s)) {
    return MakeError(ErrorKind::kConfigNotFound,
                     absl::StrCat("Required registry file not found: ", path));
  }
  if (absl::IsPermissionDenied(s)) {
    return MakeError(ErrorKind::kConfigAccess,
                     absl::StrCat("Permission denied reading registry file: ", path));
  }
  return s;
}

// ConfigRegistryPublisher.discoverPresets: module dirs and their files in ICU order; symlinks and
// other non-regular entries are skipped; `.yaml`/`.yml` files are refused.
absl::StatusOr<std::vector<SourcePreset>> DiscoverPresets(const std::string& source_dir) {
  absl::StatusOr<std::vector<DirEntry>> modules = ListDir(source_dir);
  if (!modules.ok()) return MapReadError(modules.status(), source_dir);
  std::vector<SourcePreset> out;
  for (const DirEntry& module : SortedByLocale(*std::move(modules))) {
    if (module.type != EntryType::kDirectory) continue;
    PUB_CHECK(ValidateModule(module.name));
    std::string module_path = JoinPath(source_dir, module.name);
    absl::StatusOr<std::vector<DirEntry>> files = ListDir(module_path);
    if (!files.ok()) return MapReadError(files.status(), module_path);
    for (const DirEntry& file : SortedByLocale(*std::move(files))) {
      if (file.type != EntryType::kFile) continue;
      std::string path = JoinPath(module_path, file.name);
      std::string lower = absl::AsciiStrToLower(file.name);
      if (absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml")) {
        return MakeError(
            ErrorKind::kInvalidConfig,
            absl::StrCat("Legacy YAML source presets are not supported; use .mda: ", path));
      }
      if (!absl::EndsWith(lower, ".mda")) continue;
      std::string preset = file.name.substr(0, file.name.size() - 4);
      PUB_CHECK(ValidatePreset(preset));
      PUB_ASSIGN(bytes, ReadFileBytes(path));
      out.push_back(
          {module.name, preset, module.name + "/" + preset, file.name, path, std::move(bytes)});
    }
  }
  return out;
}

std::string DefaultRevisionId(const std::vector<SourcePreset>& presets, absl::Time published_at) {
  std::string hash_input;
  for (const SourcePreset& p : presets) {
    absl::StrAppend(&hash_input, p.module, "/", p.file_name);
    hash_input.push_back('\0');
    hash_input += p.bytes;
    hash_input.push_back('\0');
  }
  return absl::StrCat(RevisionTimestamp(published_at), "_", Sha256Hex(hash_input).substr(0, 8));
}

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  return absl::StrCat(::getpid(), ".", rd(), rd(), ".", counter.fetch_add(1));
}

// Checks every artifact of a (staged or committed) revision against `manifest`.
absl::Status VerifyRevisionDir(const std::string& dir, const Manifest& manifest) {
  std::string manifest_path = JoinPath(dir, "manifest.json");
  PUB_ASSIGN(stored, ReadFileBytes(manifest_path));
  PUB_ASSIGN(stored_json, ParseRegistryJsonObject(stored, manifest_path));
  if (RegistryJsonText(stored_json) != ManifestText(manifest)) {
    return MakeError(ErrorKind::kInvalidConfig,
                     "Staged registry manifest changed during verification");
  }
  for (const auto& [id, e] : manifest.presets) {
    for (auto [rel, sha] : {std::pair{&e.source_path, &e.source_sha256},
                            std::pair{&e.resolved_path, &e.resolved_sha256}}) {
      std::string path = JoinPath(dir, *rel);
      PUB_ASSIGN(bytes, ReadFileBytes(path));
      if (Sha256Hex(bytes) != *sha) {
        return MakeError(
            ErrorKind::kInvalidConfig,
            absl::StrCat("Checksum mismatch for staged registry artifact ", path, " (", id, ")"));
      }
    }
  }
  return absl::OkStatus();
}

bool SamePresets(const Manifest& a, const Manifest& b) {
  if (a.presets.size() != b.presets.size()) return false;
  for (const auto& [id, e] : a.presets) {
    auto it = b.presets.find(id);
    if (it == b.presets.end()) return false;
    const ManifestEntry& f = it->second;
    if (e.source_path != f.source_path || e.source_sha256 != f.source_sha256 ||
        e.resolved_path != f.resolved_path || e.resolved_sha256 != f.resolved_sha256) {
      return false;
    }
  }
  return true;
}

// fsync of every directory under (and including) `dir`.
absl::Status FsyncTree(const std::string& dir) {
  PUB_ASSIGN(entries, ListDir(dir));
  for (const DirEntry& e : entries) {
    if (e.type == EntryType::kDirectory) PUB_CHECK(FsyncTree(JoinPath(dir, e.name)));
  }
  return FsyncDir(dir);
}

// Writes current.json unless it already holds exactly these bytes.
absl::Status WriteCurrentPointer(const std::string& root, const CurrentPointer& pointer) {
  std::string path = JoinPath(root, "current.json");
  std::string text = CurrentPointerText(pointer);
  absl::StatusOr<std::string> existing = ReadFileBytes(path);
  if (existing.ok() && *existing == text) return absl::OkStatus();
  return AtomicReplaceFile(path, text);
}

}  // namespace

std::string IsoTimestampMs(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string RevisionTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H-%M-%SZ", t, absl::UTCTimeZone());
}

RegistryPublisher::RegistryPublisher(std::string_view root, const Clock& clock)
    : root_(PosixResolve({}, root)), clock_(clock) {}

absl::StatusOr<ValidationReport> RegistryPublisher::Validate() const {
  const std::string source_dir = JoinPath(root_, "source");
  PUB_ASSIGN(presets, DiscoverPresets(source_dir));
  if (presets.empty()) {
    return MakeError(ErrorKind::kConfigNotFound,
                     absl::StrCat("No source presets found under ", source_dir));
  }
  ValidationReport report;
  for (const SourcePreset& p : presets) {
    absl::StatusOr<ProjectedPreset> projected = LoadMdaPresetText(p.bytes, p.path);
    if (projected.ok()) {
      report.preset_ids.push_back(p.id);
    } else {
      report.errors.push_back(projected.status());
    }
  }
  return report;
}

absl::StatusOr<PublishResult> RegistryPublisher::Publish(const PublishOptions& options) const {
  const std::string source_dir = JoinPath(root_, "source");
  const std::string compiled_dir = JoinPath(root_, "compiled");
  const std::string staging_dir = JoinPath(compiled_dir, ".staging");

  PUB_ASSIGN(presets, DiscoverPresets(source_dir));
  if (presets.empty()) {
    return MakeError(ErrorKind::kConfigNotFound,
                     absl::StrCat("No source presets found under ", source_dir));
  }
  // JS Dates have millisecond resolution.
  absl::Time published_at = absl::FromUnixMillis(absl::ToUnixMillis(clock_.Wall()));
  std::string revision = options.revision.value_or(DefaultRevisionId(presets, published_at));
  PUB_CHECK(ValidateRevision(revision));

  // Project every preset (the validation step) and build the manifest in memory.
  Manifest manifest;
  manifest.revision = revision;
  manifest.published_at = IsoTimestampMs(published_at);
  std::vector<std::pair<std::string, std::string>> files;  // relative path -> bytes
  for (const SourcePreset& p : presets) {
    PUB_ASSIGN(projected, LoadMdaPresetText(p.bytes, p.path));
    std::string resolved_text = RegistryJsonText(projected.resolved);
    std::string source_rel = absl::StrCat("source/", p.module, "/", p.preset, ".mda");
    std::string resolved_rel = absl::StrCat("resolved/", p.module, "/", p.preset, ".json");
    manifest.presets[p.id] = {source_rel, Sha256Hex(p.bytes), resolved_rel,
                              Sha256Hex(resolved_text)};
    files.emplace_back(source_rel, p.bytes);
    files.emplace_back(resolved_rel, std::move(resolved_text));
  }
  std::string manifest_text = ManifestText(manifest);
  std::string manifest_sha = Sha256Hex(manifest_text);

  PublishResult result;
  result.revision = revision;
  result.compiled_path = JoinPath(compiled_dir, revision);
  result.manifest_path = JoinPath(result.compiled_path, "manifest.json");
  result.manifest_sha256 = manifest_sha;
  for (const auto& [id, entry] : manifest.presets) result.preset_ids.push_back(id);
  std::sort(result.preset_ids.begin(), result.preset_ids.end());

  // Nothing changed since the active revision: keep it.
  if (!options.revision.has_value() && options.skip_unchanged && !options.registry_root_signer) {
    absl::StatusOr<CurrentPointer> active = ReadCurrentPointer(root_);
    if (active.ok()) {
      std::string active_dir = JoinPath(compiled_dir, active->revision);
      std::string active_manifest_path = JoinPath(active_dir, "manifest.json");
      absl::StatusOr<std::string> bytes = ReadFileBytes(active_manifest_path);
      absl::StatusOr<json> parsed = bytes.ok()
                                        ? ParseRegistryJsonObject(*bytes, active_manifest_path)
                                        : absl::StatusOr<json>(bytes.status());
      absl::StatusOr<Manifest> existing =
          parsed.ok() ? ParseManifest(*parsed, active_manifest_path, active->revision)
                      : absl::StatusOr<Manifest>(parsed.status());
      if (existing.ok() && Sha256Hex(*bytes) == active->manifest_sha256 &&
          SamePresets(*existing, manifest) && VerifyRevisionDir(active_dir, *existing).ok()) {
        result.revision = active->revision;
        result.compiled_path = active_dir;
        result.manifest_path = active_manifest_path;
        result.manifest_sha256 = active->manifest_sha256;
        result.activated = true;
        result.unchanged = true;
        return result;
      }
    }
  }

  // Stage, verify, commit.
  const std::string stage =
      JoinPath(staging_dir, absl::StrCat(revision, ".", UniqueSuffix(), ".tmp"));
  auto cleanup = [&](absl::Status s) {
    (void)RemoveAll(stage);
    return s;
  };
  PUB_CHECK(MakeDirs(stage));
  for (const auto& [rel, bytes] : files) {
    if (absl::Status s = WriteFileSynced(JoinPath(stage, rel), bytes); !s.ok()) {
      return cleanup(s);
    }
  }
  if (absl::Status s = WriteFileSynced(JoinPath(stage, "manifest.json"), manifest_text); !s.ok()) {
    return cleanup(s);
  }
  if (absl::Status s = VerifyRevisionDir(stage, manifest); !s.ok()) return cleanup(s);
  std::optional<std::string> root_sha;
  if (options.registry_root_signer) {
    absl::StatusOr<json> payload = BuildRegistryRootPayload(manifest, manifest_sha);
    if (!payload.ok()) return cleanup(payload.status());
    absl::StatusOr<json> envelope =
        CreateRegistryRootEnvelope(*payload, options.registry_root_signer, options.min_signatures);
    if (!envelope.ok()) return cleanup(envelope.status());
    std::string root_text = RegistryJsonText(*envelope);
    if (absl::Status s = WriteFileSynced(JoinPath(stage, kRegistryRootFilename), root_text);
        !s.ok()) {
      return cleanup(s);
    }
    root_sha = Sha256Hex(root_text);
  }
  if (absl::Status s = FsyncTree(stage); !s.ok()) return cleanup(s);

  if (::rename(stage.c_str(), result.compiled_path.c_str()) == 0) {
    PUB_CHECK(FsyncDir(compiled_dir));
    PUB_CHECK(FsyncDir(staging_dir));
  } else if (errno == EEXIST || errno == ENOTEMPTY) {
    // The revision exists: accept it only with identical contents.
    (void)RemoveAll(stage);
    PUB_ASSIGN(existing_bytes, ReadFileBytes(result.manifest_path));
    PUB_ASSIGN(existing_json, ParseRegistryJsonObject(existing_bytes, result.manifest_path));
    PUB_ASSIGN(existing, ParseManifest(existing_json, result.manifest_path, revision));
    PUB_CHECK(VerifyRevisionDir(result.compiled_path, existing));
    if (!SamePresets(existing, manifest)) {
      return MakeError(
          ErrorKind::kInvalidConfig,
          absl::StrCat("Registry revision already exists with different contents: ", revision));
    }
    result.manifest_sha256 = Sha256Hex(existing_bytes);
    absl::StatusOr<std::string> existing_root =
        ReadFileBytes(JoinPath(result.compiled_path, kRegistryRootFilename));
    if (root_sha.has_value()) {
      if (!existing_root.ok()) {
        return MakeError(ErrorKind::kInvalidConfig,
                         absl::StrCat("Registry revision already exists without requested "
                                      "registry root: ",
                                      revision));
      }
      if (Sha256Hex(*existing_root) != *root_sha) {
        return MakeError(ErrorKind::kInvalidConfig,
                         absl::StrCat("Registry revision already exists with different registry "
                                      "root: ",
                                      revision));
      }
    } else if (existing_root.ok()) {
      root_sha = Sha256Hex(*existing_root);
    }
  } else {
    int err = errno;
    (void)RemoveAll(stage);
    return absl::InternalError(absl::StrCat("cannot rename ", stage, " to ", result.compiled_path,
                                            ": ", std::strerror(err)));
  }
  if (root_sha.has_value()) {
    result.registry_root_path = JoinPath(result.compiled_path, kRegistryRootFilename);
    result.registry_root_sha256 = root_sha;
  }
  if (options.activate) {
    PUB_CHECK(WriteCurrentPointer(root_, {revision, result.manifest_sha256}));
  }
  result.activated = options.activate;
  return result;
}

absl::Status RegistryPublisher::Activate(std::string_view revision) const {
  PUB_CHECK(ValidateRevision(revision));
  std::string manifest_path =
      JoinPath(JoinPath(JoinPath(root_, "compiled"), revision), "manifest.json");
  absl::StatusOr<std::string> bytes = ReadFileBytes(manifest_path);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      return MakeError(ErrorKind::kConfigNotFound,
                       absl::StrCat("Config Registry compiled revision not found: ",
                                    JoinPath(JoinPath(root_, "compiled"), revision)));
    }
    return MapReadError(bytes.status(), manifest_path);
  }
  CurrentPointer pointer{std::string(revision), Sha256Hex(*bytes)};
  // Everything must load before the switch.
  PUB_ASSIGN(snapshot, LoadRevision(root_, pointer, clock_));
  (void)snapshot;
  return WriteCurrentPointer(root_, pointer);
}

}  // namespace llmix::registry
