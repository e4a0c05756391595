// An immutable, fully validated view of one registry revision: every preset parsed into a
// typed LlmConfig. Built off the request path and shared as `shared_ptr<const Snapshot>`;
// a call holds the pointer it started with, so it never sees two revisions.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "registry/llm_config.h"

namespace llmix::registry {

// Sidecar-only preset settings, from the `metadata.llmix-sidecar` namespace of the preset's
// front matter (strict: unknown keys are errors). The LLMix libraries ignore this namespace, and
// nothing here ever enters a cache key.
struct SidecarSettings {
  std::optional<std::string> base_url;  // `baseUrl`: overrides the provider's base URL
};

struct Preset {
  std::string id;           // "module/preset"
  std::string source_path;  // relative path of the .mda inside the snapshot
  LlmConfig config;
  SidecarSettings sidecar;
  // Same as `sidecar.base_url` (kept for existing callers).
  std::optional<std::string> base_url;
};

struct Snapshot {
  std::string revision;  // empty: no registry loaded
  std::string manifest_sha256;
  std::string published_at;   // the manifest's `published_at` (ISO-8601)
  std::string compiled_path;  // absolute path of compiled/<revision>
  absl::Time loaded_at = absl::InfinitePast();
  absl::flat_hash_map<std::string, std::shared_ptr<const Preset>> presets;

  const Preset* Find(std::string_view id) const {
    auto it = presets.find(absl::string_view(id.data(), id.size()));
    return it == presets.end() ? nullptr : it->second.get();
  }
};

}  // namespace llmix::registry
