// Registry JSON files (registry/revision.h, registry/registry_root.h): a file's
// bytes read as current.json, manifest.json, a registry root envelope and a
// trust manifest.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "registry/registry_root.h"
#include "registry/revision.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace llmix::registry;
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  absl::StatusOr<nlohmann::json> value = ParseRegistryJsonObject(bytes, "/fuzz/current.json");
  if (!value.ok()) return 0;
  absl::StatusOr<ParsedCurrentPointer> pointer = ParseCurrentPointer(*value, "/fuzz/current.json");
  if (pointer.ok())
    (void)CurrentPointerText({pointer->revision, pointer->manifest_sha256.value_or("")});
  absl::StatusOr<Manifest> manifest = ParseManifest(*value, "/fuzz/manifest.json");
  if (manifest.ok()) {
    (void)ManifestText(*manifest);
    (void)ParseManifest(*value, "/fuzz/manifest.json", manifest->revision);
  }
  (void)ParseManifest(*value, "/fuzz/manifest.json", "2026-01-01T00-00-00Z-0001");
  (void)ParseRegistryRootEnvelope(*value, "/fuzz/registry-root.json");
  absl::StatusOr<TrustManifest> trust = ParseTrustManifest(*value, "/fuzz/trust.json");
  if (trust.ok()) (void)TrustManifestToJson(*trust);
  (void)RegistryJsonText(*value);
  return 0;
}
