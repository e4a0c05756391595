// Publishes a registry root's `source/<module>/<preset>.mda` tree as an immutable, content-
// addressed revision `compiled/<rev>/` (sources, resolved configs, manifest, optional signed
// registry root), byte-identical to LLMix's publisher, then atomically points `current.json` at
// it. A publish is all-or-nothing: staging dir + fsync + rename, then temp file + fsync + rename
// + dir fsync for current.json. Const methods; safe to call from several threads/processes (a
// concurrent publish of the same revision either wins the rename or is checked against it).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "registry/registry_root.h"

namespace llmix::registry {

struct PublishOptions {
  // Revision id; default: publish time "YYYY-MM-DDTHH-MM-SSZ" + "_" + 8 hex of the sources' hash.
  std::optional<std::string> revision;
  bool activate = true;  // false: --no-activate (current.json untouched)
  // When set, also write compiled/<rev>/registry-root.json signed by this signer.
  RegistryRootSigner registry_root_signer;
  int min_signatures = 1;
  // With a default revision id: when the sources produce exactly the presets of the active
  // revision, write nothing and report it (`unchanged`).
  bool skip_unchanged = true;
};

struct PublishResult {
  std::string revision;
  std::string compiled_path;  // <root>/compiled/<rev>
  std::string manifest_path;  // <root>/compiled/<rev>/manifest.json
  std::string manifest_sha256;
  std::optional<std::string> registry_root_path;
  std::optional<std::string> registry_root_sha256;
  bool activated = false;  // current.json names this revision
  bool unchanged = false;  // nothing was written: the active revision already has these presets
  std::vector<std::string> preset_ids;  // sorted
};

// What `validate` found: every preset that parsed, and one error per preset that did not.
struct ValidationReport {
  std::vector<std::string> preset_ids;  // valid presets, in publish order
  std::vector<absl::Status> errors;     // each names its file, line and field
};

class RegistryPublisher {
 public:
  // `root` holds source/, compiled/ and current.json; relative paths are made absolute.
  RegistryPublisher(std::string_view root, const Clock& clock);

  absl::StatusOr<PublishResult> Publish(const PublishOptions& options = {}) const;
  // Checks every source preset as Publish would, writing nothing; reports all failures rather
  // than the first. A non-OK status means the source tree itself could not be read.
  absl::StatusOr<ValidationReport> Validate() const;

  // Points current.json at an existing compiled revision after loading and verifying it fully.
  absl::Status Activate(std::string_view revision) const;

  const std::string& root() const { return root_; }

 private:
  std::string root_;
  const Clock& clock_;
};

// LLMix's published_at / revision timestamp forms of a wall time: "2026-03-04T05:06:07.890Z" and
// "2026-03-04T05-06-07Z".
std::string IsoTimestampMs(absl::Time t);
std::string RevisionTimestamp(absl::Time t);

}  // namespace llmix::registry
