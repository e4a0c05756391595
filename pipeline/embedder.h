// Embeddings as the pipeline sees them: the semantic cache (pipeline/cache) embeds prompts
// with an embeddings preset through this interface; the embeddings service (the `Embed` RPC,
// `POST /v1/embeddings`) implements it with the same key pools, breakers, retries and
// embedding cache as its own calls. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "registry/snapshot.h"

namespace llmix::pipeline {

struct EmbedQuery {
  // The snapshot the calling request resolved against (presets are looked up in it).
  const registry::Snapshot* snapshot = nullptr;
  std::string preset;  // "module/preset" of an embeddings preset
  std::vector<std::string> inputs;
  absl::Duration timeout = absl::Seconds(10);
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  // One vector per input, in input order; blocking (call it from a worker). A status naming
  // the preset when it is unknown, not an embeddings config, or the provider failed.
  virtual absl::StatusOr<std::vector<std::vector<float>>> Embed(const EmbedQuery& query) = 0;
};

}  // namespace llmix::pipeline
