#include "registry/root_signature.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "registry/errors.h"
#include "registry/fs_util.h"
#include "registry/revision.h"
#include "common/js_date.h"

namespace llmix::registry {

namespace {

using json = nlohmann::json;

absl::Status Refused(std::string_view what) {
  return MakeError(ErrorKind::kInvalidConfig, what);
}

std::optional<std::string> AlgorithmOf(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) return "ed25519";
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &len) == 1 &&
        std::string_view(group, len) == "prime256v1") {
      return "ecdsa-p256";
    }
  }
  return std::nullopt;
}

const EVP_MD* DigestFor(const std::string& algorithm) {
  return algorithm == "ecdsa-p256" ? EVP_sha256() : nullptr;  // ed25519 signs the message
}

}  // namespace

absl::StatusOr<RootKey> LoadRootKey(const std::string& spec, bool is_private) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry key: expected KEY_ID=PATH, got \"", spec, "\""));
  }
  RootKey out;
  out.key_id = spec.substr(0, eq);
  const std::string path = spec.substr(eq + 1);
  absl::StatusOr<std::string> pem = ReadFileBytes(path);
  if (!pem.ok()) return pem.status();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem->data(), pem->size()),
                                                &BIO_free);
  EVP_PKEY* key = is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                             : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr && !is_private) {  // a private key file also verifies
    BIO_reset(bio.get());
    key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  }
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("registry key ", out.key_id, ": ", path, " holds no PEM ",
                     is_private ? "private" : "public", " key"));
  }
  out.key.reset(key, &EVP_PKEY_free);
  std::optional<std::string> algorithm = AlgorithmOf(key);
  if (!algorithm) {
    return absl::InvalidArgumentError(absl::StrCat(
        "registry key ", out.key_id, ": only Ed25519 and EC P-256 keys are supported"));
  }
  out.algorithm = *algorithm;
  return out;
}

RegistryRootSigner MakeRootSigner(RootKey key, std::string signer_identity) {
  return [key = std::move(key), signer = std::move(signer_identity)](
             const RegistryRootSigningInput& input) -> absl::StatusOr<std::vector<json>> {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                &EVP_MD_CTX_free);
    size_t len = 0;
    const auto* msg = reinterpret_cast<const unsigned char*>(input.canonical_payload.data());
    if (EVP_DigestSignInit(ctx.get(), nullptr, DigestFor(key.algorithm), nullptr,
                           key.key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, msg, input.canonical_payload.size()) != 1) {
      return absl::InternalError("registry root signing failed");
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, msg,
                       input.canonical_payload.size()) != 1) {
      return absl::InternalError("registry root signing failed");
    }
    sig.resize(len);
    return std::vector<json>{{{"signer", signer},
                              {"key-id", key.key_id},
                              {"payload-digest", "sha256:" + input.payload_sha256},
                              {"algorithm", key.algorithm},
                              {"signature", absl::Base64Escape(sig)},
                              {"payload-type", input.payload_type}}};
  };
}

absl::Status VerifyRegistryRoot(const json& envelope, const Manifest& manifest,
                                const std::string& manifest_sha256,
                                const RootTrustOptions& trust) {
  const std::string& rev = manifest.revision;
  absl::StatusOr<json> expected = BuildRegistryRootPayload(manifest, manifest_sha256);
  if (!expected.ok()) return expected.status();
  if (!envelope.contains("payload") || envelope["payload"] != *expected) {
    return Refused(absl::StrCat("Registry root of revision ", rev,
                                " does not bind this revision's manifest and files"));
  }
  const RegistryRootSigningInput input = MakeRegistryRootSigningInput(*expected);
  std::set<std::string> valid_keys;
  for (const json& s : envelope.value("signatures", json::array())) {
    const std::string key_id = s.value("key-id", "");
    const RootKey* key = nullptr;
    for (const RootKey& k : trust.trusted_keys) {
      if (k.key_id == key_id) key = &k;
    }
    if (key == nullptr || s.value("algorithm", "") != key->algorithm) continue;
    std::string sig;
    if (!absl::Base64Unescape(s.value("signature", ""), &sig)) continue;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                &EVP_MD_CTX_free);
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, DigestFor(key->algorithm), nullptr,
                             key->key.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                         sig.size(),
                         reinterpret_cast<const unsigned char*>(input.canonical_payload.data()),
                         input.canonical_payload.size()) == 1) {
      valid_keys.insert(key_id);
    }
  }
  if (static_cast<int>(valid_keys.size()) < trust.min_signatures) {
    return Refused(absl::StrCat("Registry root of revision ", rev, " has ", valid_keys.size(),
                                " valid signature(s) by trusted keys; ", trust.min_signatures,
                                " required"));
  }
  return absl::OkStatus();
}

absl::Status ApplyTrustManifest(const std::string& path, RootTrustOptions* trust) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<json> value = ParseRegistryJsonObject(*bytes, path);
  if (!value.ok()) return value.status();
  absl::StatusOr<TrustManifest> manifest = ParseTrustManifest(*value, path);
  if (!manifest.ok()) return manifest.status();
  absl::StatusOr<RegistryRootOptions> options = RegistryRootOptionsFromTrustManifest(*manifest);
  if (!options.ok()) return options.status();
  if (options->minimum_revision) {
    if (!trust->minimum_revision) {
      trust->minimum_revision = options->minimum_revision;
    } else {
      absl::StatusOr<int> cmp = CompareRevision(*options->minimum_revision, *trust->minimum_revision);
      if (!cmp.ok()) return cmp.status();
      if (*cmp > 0) trust->minimum_revision = options->minimum_revision;
    }
  }
  if (options->minimum_published_at) {
    std::optional<double> ms = ParseJsDateMs(*options->minimum_published_at);
    if (!ms) {
      return Refused(absl::StrCat("Invalid minimumPublishedAt in ", path));
    }
    trust->minimum_published_at_ms = std::max(trust->minimum_published_at_ms.value_or(*ms), *ms);
  }
  return absl::OkStatus();
}

}  // namespace llmix::registry
