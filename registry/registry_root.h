// Registry-root envelopes (compiled/<rev>/registry-root.json: a digest of every artifact of a
// revision plus signatures over its canonical payload) and LLMix trust manifests, as LLMix
// builds and parses them. Signing is delegated to a caller-supplied signer; signature
// verification is not implemented here. Stateless free functions; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "registry/revision.h"

namespace llmix::registry {

inline constexpr char kRegistryRootFilename[] = "registry-root.json";
inline constexpr char kRegistryRootSchema[] = "llmix.config-registry.root";
inline constexpr char kRegistryRootEnvelopeSchema[] = "llmix.config-registry.root-envelope";
inline constexpr char kRegistryRootPayloadType[] = "application/vnd.snoai.llmix.registry-root+json";

// "compiled/<revision>/<relative_path>" after validating both parts.
absl::StatusOr<std::string> CompiledRegistryPath(std::string_view revision,
                                                 std::string_view relative_path);
// The inverse: the path inside compiled/<revision>/ (SecurityError when outside it).
absl::StatusOr<std::string> CompiledRelativePath(std::string_view revision,
                                                 std::string_view registry_path);

// The root payload for a manifest: schema, revision, published_at, the current.json binding,
// the manifest binding and every source/resolved file digest (sorted by path, ICU order).
absl::StatusOr<nlohmann::json> BuildRegistryRootPayload(const Manifest& manifest,
                                                        std::string_view manifest_sha256);

// What a signer signs.
struct RegistryRootSigningInput {
  nlohmann::json payload;
  std::string canonical_payload;  // compact canonical JSON of `payload`
  std::string payload_sha256;     // SHA-256 of canonical_payload
  nlohmann::json integrity;       // {"algorithm": "sha256", "digest": "sha256:<hex>"}
  std::string payload_type;       // kRegistryRootPayloadType
};
RegistryRootSigningInput MakeRegistryRootSigningInput(const nlohmann::json& payload);

// Returns signature objects: {signer, key-id, payload-digest, algorithm (ed25519 | ecdsa-p256 |
// rsa-pss-sha256), signature, payload-type[, rekor-log-id, rekor-log-index]}.
using RegistryRootSigner = std::function<absl::StatusOr<std::vector<nlohmann::json>>(
    const RegistryRootSigningInput& input)>;

// The envelope {schema, schema_version, payload, integrity, payload_sha256, signatures}.
absl::StatusOr<nlohmann::json> CreateRegistryRootEnvelope(const nlohmann::json& payload,
                                                          const RegistryRootSigner& signer,
                                                          int min_signatures = 1);

// parseRegistryRootEnvelope: structure, bindings and digests checked (not signatures). Returns
// the normalized envelope.
absl::StatusOr<nlohmann::json> ParseRegistryRootEnvelope(const nlohmann::json& value,
                                                         std::string_view source_path);

// --- trust manifests -----------------------------------------------------------------------

struct TrustManifest {
  std::string expected_root_digest;  // "sha256:<hex>"
  std::string source_set_digest;
  std::string release_plan_digest;
  nlohmann::json registry_root_trust_policy;  // object
  nlohmann::json rekor_policy;                // object or null
  std::optional<std::string> minimum_revision;
  std::optional<std::string> minimum_published_at;
  std::optional<std::string> high_watermark;
  nlohmann::json registry_root_signer_identity;  // any JSON value
  struct {
    std::string path, revision, published_at, high_watermark;
  } registry_root;
  struct {
    std::string path;
    double source_count = 0;
  } release_plan;
};

// parseLlmixTrustManifest(value, sourcePath).
absl::StatusOr<TrustManifest> ParseTrustManifest(
    const nlohmann::json& value, std::string_view source_path = "LLMix trust manifest");
nlohmann::json TrustManifestToJson(const TrustManifest& manifest);

// registryRootOptionsFromTrustManifest (without verifier hooks).
struct RegistryRootOptions {
  nlohmann::json trust_policy;
  std::string expected_revision;
  std::string expected_root_digest;             // bare hex
  std::optional<std::string> minimum_revision;  // the later of minimumRevision / highWatermark
  std::optional<std::string> minimum_published_at;
};
absl::StatusOr<RegistryRootOptions> RegistryRootOptionsFromTrustManifest(const TrustManifest& m);
nlohmann::json RegistryRootOptionsToJson(const RegistryRootOptions& options);


}  // namespace llmix::registry
