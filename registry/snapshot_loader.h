// Loads the live registry revision: current.json -> compiled/<rev>/manifest.json (SHA-256 checked
// against the pointer) -> every artifact's SHA-256 -> resolved configs parsed with LLMix's strict
// schema, sidecar settings read from the source .mda -> an immutable Snapshot. Any failure is a
// Status naming the file (LLMix's messages where LLMix has one). Stateless; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "registry/revision.h"
#include "registry/root_signature.h"
#include "registry/root_signature.h"
#include "registry/snapshot.h"

namespace llmix::registry {

// Reads and parses `<root>/current.json`. A pointer without `manifest_sha256` gets the SHA-256
// of the revision's manifest.json (as LLMix does).
absl::StatusOr<CurrentPointer> ReadCurrentPointer(const std::string& root);

// Loads and verifies the revision `pointer` names. `loaded_at` is `clock.Wall()`.
// With `trust`: the revision must not compare lower than trust->minimum_revision, and when
// trusted keys are configured its registry-root.json must bind this manifest and carry enough
// valid signatures by trusted keys (root_signature.h).
absl::StatusOr<std::shared_ptr<const Snapshot>> LoadRevision(
    const std::string& root, const CurrentPointer& pointer, const Clock& clock,
    const RootTrustOptions* trust = nullptr);

// ReadCurrentPointer + LoadRevision.
absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(
    const std::string& root, const Clock& clock, const RootTrustOptions* trust = nullptr);

}  // namespace llmix::registry
