#include "registry/registry_root.h"

#include "common/js_date.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "registry/errors.h"

namespace llmix::registry {

namespace {

using nlohmann::json;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status InvalidConfig(std::string_view message) {
  return MakeError(ErrorKind::kInvalidConfig, message);
}

absl::StatusOr<std::string> StringField(const json& v, const char* key, std::string_view src) {
  auto it = v.find(key);
  if (it == v.end() || !it->is_string()) {
    return InvalidConfig(
        absl::StrCat("Registry file is missing string field '", key, "': ", AV(src)));
  }
  return it->get<std::string>();
}

absl::StatusOr<double> NumberField(const json& v, const char* key, std::string_view src) {
  auto it = v.find(key);
  if (it == v.end() || !it->is_number()) {
    return InvalidConfig(
        absl::StrCat("Registry file is missing number field '", key, "': ", AV(src)));
  }
  return it->get<double>();
}

absl::StatusOr<json> ObjectField(const json& v, const char* key, std::string_view src) {
  auto it = v.find(key);
  if (it == v.end() || !it->is_object()) {
    return InvalidConfig(
        absl::StrCat("Registry file is missing object field '", key, "': ", AV(src)));
  }
  return *it;
}

#define RR_ASSIGN(lhs, expr)                    \
  auto lhs##_or = (expr);                       \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = *std::move(lhs##_or)

#define RR_CHECK(expr)                                 \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

// sortedRegistryRootFiles: stable ICU sort by path, duplicates rejected.
absl::StatusOr<json> SortedRootFiles(std::vector<json> files) {
  std::stable_sort(files.begin(), files.end(), [](const json& a, const json& b) {
    return LocaleCompare(a["path"].get<std::string>(), b["path"].get<std::string>()) < 0;
  });
  std::set<std::string> seen;
  for (const json& f : files) {
    if (!seen.insert(f["path"].get<std::string>()).second) {
      return InvalidConfig(absl::StrCat("Registry root contains duplicate file path: ",
                                        f["path"].get<std::string>()));
    }
  }
  return json(files);
}

absl::StatusOr<json> ParseRootFile(const json& value, std::string_view src) {
  if (!value.is_object()) {
    return InvalidConfig(absl::StrCat("Registry root file entry must be an object: ", AV(src)));
  }
  RR_ASSIGN(role, StringField(value, "role", src));
  if (role != "source" && role != "resolved") {
    return InvalidConfig(absl::StrCat("Registry root file entry has invalid role: ", AV(src)));
  }
  RR_ASSIGN(sha, StringField(value, "sha256", src));
  RR_ASSIGN(path, StringField(value, "path", src));
  RR_CHECK(ValidateSha256(sha, absl::StrCat("registry root file ", path)));
  return json{{"path", path}, {"sha256", sha}, {"role", role}};
}

absl::StatusOr<json> ParseRootCurrent(const json& value, std::string_view src) {
  RR_ASSIGN(path, StringField(value, "path", src));
  if (path != "current.json") {
    return InvalidConfig(
        absl::StrCat("Registry root current binding must point to current.json: ", AV(src)));
  }
  RR_ASSIGN(revision, StringField(value, "revision", src));
  RR_CHECK(ValidateRevision(revision));
  RR_ASSIGN(manifest_sha, StringField(value, "manifest_sha256", src));
  RR_CHECK(ValidateSha256(manifest_sha, "registry root current manifest"));
  RR_ASSIGN(sha, StringField(value, "sha256", src));
  RR_CHECK(ValidateSha256(sha, "registry root current binding"));
  return json{{"path", "current.json"},
              {"revision", revision},
              {"manifest_sha256", manifest_sha},
              {"sha256", sha}};
}

absl::StatusOr<json> ParseRootPayload(const json& value, std::string_view src) {
  RR_ASSIGN(schema, StringField(value, "schema", src));
  if (schema != kRegistryRootSchema) {
    return InvalidConfig(absl::StrCat("Unsupported registry root payload schema in ", AV(src)));
  }
  RR_ASSIGN(version, NumberField(value, "schema_version", src));
  if (version != 1) {
    return InvalidConfig(
        absl::StrCat("Unsupported registry root payload schema version in ", AV(src)));
  }
  RR_ASSIGN(revision, StringField(value, "revision", src));
  RR_CHECK(ValidateRevision(revision));
  RR_ASSIGN(current_obj, ObjectField(value, "current", src));
  RR_ASSIGN(current, ParseRootCurrent(current_obj, src));
  RR_ASSIGN(manifest_obj, ObjectField(value, "manifest", src));
  RR_ASSIGN(manifest_sha, StringField(manifest_obj, "sha256", src));
  RR_ASSIGN(manifest_path, StringField(manifest_obj, "path", src));
  RR_CHECK(ValidateSha256(manifest_sha, absl::StrCat("registry root manifest ", manifest_path)));
  auto files_it = value.find("files");
  if (files_it == value.end() || !files_it->is_array()) {
    return InvalidConfig(absl::StrCat("Registry root payload files must be an array: ", AV(src)));
  }
  std::vector<json> files;
  for (const json& f : *files_it) {
    RR_ASSIGN(parsed, ParseRootFile(f, src));
    files.push_back(std::move(parsed));
  }
  RR_ASSIGN(published_at, StringField(value, "published_at", src));
  RR_ASSIGN(sorted, SortedRootFiles(std::move(files)));
  json payload = {{"schema", kRegistryRootSchema},
                  {"schema_version", 1},
                  {"revision", revision},
                  {"published_at", published_at},
                  {"current", current},
                  {"manifest", {{"path", manifest_path}, {"sha256", manifest_sha}}},
                  {"files", sorted}};
  // validateRegistryRootPayloadBindings
  if (current["revision"] != revision) {
    return InvalidConfig(
        absl::StrCat("Registry root current revision does not match payload revision: ", AV(src)));
  }
  if (current["manifest_sha256"] != manifest_sha) {
    return InvalidConfig(absl::StrCat(
        "Registry root current manifest digest does not match manifest binding: ", AV(src)));
  }
  if (current["sha256"] != CurrentPointerSha256({revision, manifest_sha})) {
    return InvalidConfig(absl::StrCat("Registry root current binding digest mismatch: ", AV(src)));
  }
  RR_ASSIGN(expected_manifest_path, CompiledRegistryPath(revision, "manifest.json"));
  if (manifest_path != expected_manifest_path) {
    return InvalidConfig(
        absl::StrCat("Registry root manifest path does not match payload revision: ", AV(src)));
  }
  for (const json& f : sorted) {
    RR_ASSIGN(rel, CompiledRelativePath(revision, f["path"].get<std::string>()));
    if (f["role"] == "source" && !absl::StartsWith(rel, "source/")) {
      return InvalidConfig(
          absl::StrCat("Registry root source file path does not match file role: ", AV(src)));
    }
    if (f["role"] == "resolved" && !absl::StartsWith(rel, "resolved/")) {
      return InvalidConfig(
          absl::StrCat("Registry root resolved file path does not match file role: ", AV(src)));
    }
  }
  return payload;
}

absl::StatusOr<json> ParseRootSignature(const json& value, std::string_view src) {
  if (!value.is_object()) {
    return InvalidConfig(absl::StrCat("Registry root signature must be an object: ", AV(src)));
  }
  RR_ASSIGN(algorithm, StringField(value, "algorithm", src));
  if (algorithm != "ed25519" && algorithm != "ecdsa-p256" && algorithm != "rsa-pss-sha256") {
    return InvalidConfig(
        absl::StrCat("Registry root signature has unsupported algorithm: ", AV(src)));
  }
  RR_ASSIGN(payload_type, StringField(value, "payload-type", src));
  if (payload_type != kRegistryRootPayloadType) {
    return InvalidConfig(absl::StrCat("Registry root signature payload-type mismatch: ", AV(src)));
  }
  json out = json::object();
  for (const char* key : {"signer", "key-id", "payload-digest"}) {
    RR_ASSIGN(field, StringField(value, key, src));
    out[key] = field;
  }
  out["algorithm"] = algorithm;
  RR_ASSIGN(signature, StringField(value, "signature", src));
  out["signature"] = signature;
  out["payload-type"] = payload_type;
  if (auto it = value.find("rekor-log-id"); it != value.end() && !it->is_discarded()) {
    if (!it->is_string()) {
      return InvalidConfig(
          absl::StrCat("Registry root signature rekor-log-id must be a string: ", AV(src)));
    }
    out["rekor-log-id"] = *it;
  }
  if (auto it = value.find("rekor-log-index"); it != value.end() && !it->is_discarded()) {
    if (!it->is_number()) {
      return InvalidConfig(
          absl::StrCat("Registry root signature rekor-log-index must be a number: ", AV(src)));
    }
    out["rekor-log-index"] = *it;
  }
  return out;
}

// --- trust manifest helpers ----------------------------------------------------------------

absl::StatusOr<std::string> Digest(const json& v, const char* field, std::string_view src) {
  auto it = v.find(field);
  bool ok = it != v.end() && it->is_string();
  if (ok) {
    const std::string& s = it->get_ref<const std::string&>();
    ok = absl::StartsWith(s, "sha256:") && ValidateSha256(s.substr(7), "").ok();
  }
  if (!ok) return InvalidConfig(absl::StrCat("Invalid digest for ", AV(src), ".", field));
  return it->get<std::string>();
}

absl::StatusOr<json> EnsureObject(const json* v, std::string_view src) {
  if (v == nullptr || !v->is_object()) {
    return InvalidConfig(absl::StrCat(AV(src), " must be a JSON object"));
  }
  return *v;
}

absl::StatusOr<std::string> NonEmptyString(const json* v, std::string_view src) {
  if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) {
    return InvalidConfig(absl::StrCat(AV(src), " must be a non-empty string"));
  }
  return v->get<std::string>();
}

absl::StatusOr<std::optional<std::string>> NullableString(const json* v, std::string_view src) {
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  RR_ASSIGN(s, NonEmptyString(v, src));
  return std::optional<std::string>(s);
}

const json* Get(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_discarded() ? nullptr : &*it;
}

json OptionalToJson(const std::optional<std::string>& v) {
  return v.has_value() ? json(*v) : json(nullptr);
}

}  // namespace

absl::StatusOr<std::string> CompiledRegistryPath(std::string_view revision,
                                                 std::string_view relative_path) {
  RR_CHECK(ValidateRevision(revision));
  RR_CHECK(ValidateRegistryArtifactPath(relative_path, "compiled revision path", "<registry>"));
  return absl::StrCat("compiled/", AV(revision), "/", AV(relative_path));
}

absl::StatusOr<std::string> CompiledRelativePath(std::string_view revision,
                                                 std::string_view registry_path) {
  RR_CHECK(ValidateRevision(revision));
  std::string prefix = absl::StrCat("compiled/", AV(revision), "/");
  if (!absl::StartsWith(AV(registry_path), prefix)) {
    return MakeError(ErrorKind::kSecurityError,
                     absl::StrCat("Registry root file is outside the active compiled revision: ",
                                  AV(registry_path)));
  }
  std::string rel(registry_path.substr(prefix.size()));
  if (rel.empty()) {
    return MakeError(ErrorKind::kSecurityError,
                     absl::StrCat("Registry root file path is not a compiled revision artifact: ",
                                  AV(registry_path)));
  }
  RR_CHECK(ValidateRegistryArtifactPath(rel, "registry root file", registry_path));
  return rel;
}

absl::StatusOr<nlohmann::json> BuildRegistryRootPayload(const Manifest& manifest,
                                                        std::string_view manifest_sha256) {
  RR_CHECK(ValidateSha256(manifest_sha256, "registry root manifest"));
  std::vector<std::string> ids;
  for (const auto& [id, entry] : manifest.presets) ids.push_back(id);
  std::stable_sort(ids.begin(), ids.end(), [](const std::string& a, const std::string& b) {
    return LocaleCompare(a, b) < 0;
  });
  std::vector<json> files;
  for (const std::string& id : ids) {
    const ManifestEntry& e = manifest.presets.at(id);
    for (auto [rel, sha, role] : {std::tuple{&e.source_path, &e.source_sha256, "source"},
                                  std::tuple{&e.resolved_path, &e.resolved_sha256, "resolved"}}) {
      RR_ASSIGN(path, CompiledRegistryPath(manifest.revision, *rel));
      RR_CHECK(ValidateSha256(*sha, absl::StrCat("registry root file ", path, " (", id, ")")));
      files.push_back(json{{"path", path}, {"sha256", *sha}, {"role", role}});
    }
  }
  RR_ASSIGN(sorted, SortedRootFiles(std::move(files)));
  RR_ASSIGN(manifest_path, CompiledRegistryPath(manifest.revision, "manifest.json"));
  std::string msha(manifest_sha256);
  return json{{"schema", kRegistryRootSchema},
              {"schema_version", 1},
              {"revision", manifest.revision},
              {"published_at", manifest.published_at},
              {"current",
               {{"path", "current.json"},
                {"revision", manifest.revision},
                {"manifest_sha256", msha},
                {"sha256", CurrentPointerSha256({manifest.revision, msha})}}},
              {"manifest", {{"path", manifest_path}, {"sha256", msha}}},
              {"files", sorted}};
}

RegistryRootSigningInput MakeRegistryRootSigningInput(const nlohmann::json& payload) {
  RegistryRootSigningInput in;
  in.payload = payload;
  in.canonical_payload = RegistryCompactJsonText(payload);
  in.payload_sha256 = Sha256Hex(in.canonical_payload);
  in.integrity = {{"algorithm", "sha256"}, {"digest", "sha256:" + in.payload_sha256}};
  in.payload_type = kRegistryRootPayloadType;
  return in;
}

absl::StatusOr<nlohmann::json> CreateRegistryRootEnvelope(const nlohmann::json& payload,
                                                          const RegistryRootSigner& signer,
                                                          int min_signatures) {
  RegistryRootSigningInput input = MakeRegistryRootSigningInput(payload);
  RR_ASSIGN(signed_entries, signer(input));
  json signatures = json::array();
  for (const json& s : signed_entries) {
    RR_ASSIGN(normalized, ParseRootSignature(s, "registry root signer"));
    signatures.push_back(std::move(normalized));
  }
  if (min_signatures < 1) {
    return InvalidConfig("Registry root minSignatures must be an integer >= 1");
  }
  if (static_cast<int>(signatures.size()) < min_signatures) {
    return InvalidConfig(absl::StrCat("Registry root signer returned ", signatures.size(),
                                      " signatures; expected at least ", min_signatures));
  }
  return json{{"schema", kRegistryRootEnvelopeSchema},
              {"schema_version", 1},
              {"payload", payload},
              {"integrity", input.integrity},
              {"payload_sha256", input.payload_sha256},
              {"signatures", signatures}};
}

absl::StatusOr<nlohmann::json> ParseRegistryRootEnvelope(const nlohmann::json& value,
                                                         std::string_view source_path) {
  if (!value.is_object()) {
    return InvalidConfig(
        absl::StrCat("Registry file must contain a JSON object: ", AV(source_path)));
  }
  RR_ASSIGN(schema, StringField(value, "schema", source_path));
  if (schema != kRegistryRootEnvelopeSchema) {
    return InvalidConfig(
        absl::StrCat("Unsupported registry root envelope schema in ", AV(source_path)));
  }
  RR_ASSIGN(version, NumberField(value, "schema_version", source_path));
  if (version != 1) {
    return InvalidConfig(
        absl::StrCat("Unsupported registry root envelope schema version in ", AV(source_path)));
  }
  RR_ASSIGN(payload_obj, ObjectField(value, "payload", source_path));
  RR_ASSIGN(payload, ParseRootPayload(payload_obj, source_path));
  RR_ASSIGN(integrity_obj, ObjectField(value, "integrity", source_path));
  RR_ASSIGN(algorithm, StringField(integrity_obj, "algorithm", source_path));
  if (algorithm != "sha256") {
    return InvalidConfig(
        absl::StrCat("Registry root integrity must use sha256: ", AV(source_path)));
  }
  RR_ASSIGN(digest, StringField(integrity_obj, "digest", source_path));
  if (!absl::StartsWith(digest, "sha256:")) {
    return InvalidConfig(
        absl::StrCat("Registry root integrity digest must be sha256-prefixed: ", AV(source_path)));
  }
  RR_CHECK(ValidateSha256(digest.substr(7), "registry root integrity"));
  RR_ASSIGN(payload_sha, StringField(value, "payload_sha256", source_path));
  RR_CHECK(ValidateSha256(payload_sha, "registry root payload"));
  auto sigs = value.find("signatures");
  if (sigs == value.end() || !sigs->is_array()) {
    return InvalidConfig(
        absl::StrCat("Registry root envelope signatures must be an array: ", AV(source_path)));
  }
  if (digest != "sha256:" + payload_sha) {
    return InvalidConfig(absl::StrCat(
        "Registry root integrity digest does not match payload_sha256: ", AV(source_path)));
  }
  json signatures = json::array();
  for (const json& s : *sigs) {
    RR_ASSIGN(parsed, ParseRootSignature(s, source_path));
    signatures.push_back(std::move(parsed));
  }
  return json{{"schema", kRegistryRootEnvelopeSchema},
              {"schema_version", 1},
              {"payload", payload},
              {"integrity", {{"algorithm", "sha256"}, {"digest", digest}}},
              {"payload_sha256", payload_sha},
              {"signatures", signatures}};
}

absl::StatusOr<TrustManifest> ParseTrustManifest(const nlohmann::json& value,
                                                 std::string_view source_path) {
  std::string src(source_path);
  RR_ASSIGN(m, EnsureObject(&value, src));
  if (m.value("kind", json()) != "llmix-trust-manifest") {
    return InvalidConfig(absl::StrCat("Invalid LLMix trust manifest kind in ", src));
  }
  const json* version = Get(m, "version");
  if (version == nullptr || !version->is_number() || version->get<double>() != 1) {
    return InvalidConfig(absl::StrCat("Invalid LLMix trust manifest version in ", src));
  }
  TrustManifest out;
  RR_ASSIGN(root_digest, Digest(m, "expectedRootDigest", src));
  RR_ASSIGN(source_digest, Digest(m, "sourceSetDigest", src));
  RR_ASSIGN(plan_digest, Digest(m, "releasePlanDigest", src));
  out.expected_root_digest = root_digest;
  out.source_set_digest = source_digest;
  out.release_plan_digest = plan_digest;
  RR_ASSIGN(policy,
            EnsureObject(Get(m, "registryRootTrustPolicy"), src + ".registryRootTrustPolicy"));
  out.registry_root_trust_policy = policy;
  const json* rekor = Get(m, "rekorPolicy");
  if (rekor == nullptr || rekor->is_null()) {
    out.rekor_policy = nullptr;
  } else {
    RR_ASSIGN(rekor_obj, EnsureObject(rekor, src + ".rekorPolicy"));
    out.rekor_policy = rekor_obj;
  }
  std::string root_src = src + ".registryRoot";
  RR_ASSIGN(root, EnsureObject(Get(m, "registryRoot"), root_src));
  RR_ASSIGN(published, NonEmptyString(Get(root, "publishedAt"), root_src + ".publishedAt"));
  if (!ParseJsDateMs(published).has_value()) {
    return InvalidConfig(absl::StrCat("Invalid ISO timestamp for ", root_src, ".publishedAt"));
  }
  RR_ASSIGN(root_path, NonEmptyString(Get(root, "path"), root_src + ".path"));
  RR_ASSIGN(root_revision, NonEmptyString(Get(root, "revision"), root_src + ".revision"));
  RR_ASSIGN(root_hwm, NonEmptyString(Get(root, "highWatermark"), root_src + ".highWatermark"));
  out.registry_root = {root_path, root_revision, published, root_hwm};
  std::string plan_src = src + ".releasePlan";
  RR_ASSIGN(plan, EnsureObject(Get(m, "releasePlan"), plan_src));
  const json* count = Get(plan, "sourceCount");
  if (count == nullptr || !count->is_number() || !std::isfinite(count->get<double>()) ||
      std::trunc(count->get<double>()) != count->get<double>() || count->get<double>() < 0) {
    return InvalidConfig(
        absl::StrCat("Invalid non-negative integer for ", plan_src, ".sourceCount"));
  }
  RR_ASSIGN(plan_path, NonEmptyString(Get(plan, "path"), plan_src + ".path"));
  out.release_plan = {plan_path, count->get<double>()};
  RR_ASSIGN(min_rev, NullableString(Get(m, "minimumRevision"), src + ".minimumRevision"));
  RR_ASSIGN(min_pub, NullableString(Get(m, "minimumPublishedAt"), src + ".minimumPublishedAt"));
  RR_ASSIGN(hwm, NullableString(Get(m, "highWatermark"), src + ".highWatermark"));
  out.minimum_revision = min_rev;
  out.minimum_published_at = min_pub;
  out.high_watermark = hwm;
  const json* identity = Get(m, "registryRootSignerIdentity");
  if (identity == nullptr) {
    return InvalidConfig(absl::StrCat(src, ".registryRootSignerIdentity must be present"));
  }
  out.registry_root_signer_identity = *identity;
  return out;
}

nlohmann::json TrustManifestToJson(const TrustManifest& m) {
  json count = std::trunc(m.release_plan.source_count) == m.release_plan.source_count &&
                       m.release_plan.source_count < 9007199254740992.0
                   ? json(static_cast<int64_t>(m.release_plan.source_count))
                   : json(m.release_plan.source_count);
  return json{{"version", 1},
              {"kind", "llmix-trust-manifest"},
              {"expectedRootDigest", m.expected_root_digest},
              {"sourceSetDigest", m.source_set_digest},
              {"releasePlanDigest", m.release_plan_digest},
              {"registryRootTrustPolicy", m.registry_root_trust_policy},
              {"rekorPolicy", m.rekor_policy},
              {"minimumRevision", OptionalToJson(m.minimum_revision)},
              {"minimumPublishedAt", OptionalToJson(m.minimum_published_at)},
              {"highWatermark", OptionalToJson(m.high_watermark)},
              {"registryRootSignerIdentity", m.registry_root_signer_identity},
              {"registryRoot",
               {{"path", m.registry_root.path},
                {"revision", m.registry_root.revision},
                {"publishedAt", m.registry_root.published_at},
                {"highWatermark", m.registry_root.high_watermark}}},
              {"releasePlan", {{"path", m.release_plan.path}, {"sourceCount", count}}}};
}

absl::StatusOr<RegistryRootOptions> RegistryRootOptionsFromTrustManifest(const TrustManifest& m) {
  RegistryRootOptions out;
  out.trust_policy = m.registry_root_trust_policy;
  out.expected_revision = m.registry_root.revision;
  RR_ASSIGN(digest, NormalizeSha256Digest(m.expected_root_digest,
                                          "LLMix trust manifest expectedRootDigest"));
  out.expected_root_digest = digest;
  if (!m.high_watermark.has_value()) {
    out.minimum_revision = m.minimum_revision;
  } else if (!m.minimum_revision.has_value()) {
    out.minimum_revision = m.high_watermark;
  } else {
    RR_ASSIGN(cmp, CompareRevision(*m.minimum_revision, *m.high_watermark));
    out.minimum_revision = cmp >= 0 ? m.minimum_revision : m.high_watermark;
  }
  out.minimum_published_at = m.minimum_published_at;
  return out;
}

nlohmann::json RegistryRootOptionsToJson(const RegistryRootOptions& o) {
  json out = {{"trustPolicy", o.trust_policy},
              {"expectedRevision", o.expected_revision},
              {"expectedRootDigest", o.expected_root_digest}};
  if (o.minimum_revision) out["minimumRevision"] = *o.minimum_revision;
  if (o.minimum_published_at) out["minimumPublishedAt"] = *o.minimum_published_at;
  return out;
}

}  // namespace llmix::registry
