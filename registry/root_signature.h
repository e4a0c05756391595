// Signing and verifying registry-root envelopes (compiled/<rev>/registry-root.json) with
// OpenSSL. A signature covers the compact canonical payload bytes (the payload LLMix's
// envelope carries); ed25519 signs them directly, ecdsa-p256 signs their SHA-256 (DER
// signature). Signatures are base64 and name their key by `key-id`, which must match a trusted
// key configured by the operator. Keys are immutable once loaded; functions are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "registry/registry_root.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace llmix::registry {

// A public (verification) or private (signing) key with the id signatures refer to it by.
struct RootKey {
  std::string key_id;
  std::string algorithm;  // "ed25519" | "ecdsa-p256"
  std::shared_ptr<EVP_PKEY> key;
};

// Loads a PEM key; `spec` is "KEY_ID=PATH". Private keys when `is_private`, else public keys
// (a private key file is also accepted for verification). Only Ed25519 and EC P-256.
absl::StatusOr<RootKey> LoadRootKey(const std::string& spec, bool is_private);

// A RegistryRootSigner (for RegistryPublisher) that signs with `key`.
RegistryRootSigner MakeRootSigner(RootKey key, std::string signer_identity);

// What a loader demands of a revision before it goes live.
struct RootTrustOptions {
  std::vector<RootKey> trusted_keys;  // empty: registry-root.json is not required
  int min_signatures = 1;             // valid signatures by distinct trusted keys
  std::optional<std::string> minimum_revision;  // refuse revisions that compare lower
  std::optional<double> minimum_published_at_ms;  // refuse revisions published earlier
};

// Tightens `trust` with an LLMix trust manifest (llmix-trust-manifest JSON): its minimum
// revision (the later of minimumRevision and highWatermark, as LLMix computes it) and its
// minimumPublishedAt. Errors name the file and the field.
absl::Status ApplyTrustManifest(const std::string& path, RootTrustOptions* trust);

// Checks a parsed registry-root envelope against the manifest it must bind (the payload is
// rebuilt from the manifest and must be identical) and counts the valid signatures by distinct
// trusted keys. Errors name the revision and say what failed; no key material is printed.
absl::Status VerifyRegistryRoot(const nlohmann::json& envelope, const Manifest& manifest,
                                const std::string& manifest_sha256,
                                const RootTrustOptions& trust);

}  // namespace llmix::registry
