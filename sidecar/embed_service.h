// Embeddings and rerank for the `Embed` RPC, `POST /v1/embeddings`, `POST /v1/rerank` and the
// semantic cache (pipeline::Embedder). Resolves an embeddings preset (or inline config) from the
// live snapshot, serves each input from the embedding cache when it can (L1, then Redis L2;
// key `llmix:emb:<sha256>`, see EmbeddingCacheKey) and sends only the misses upstream, through
// the sidecar's shared resilience state: the provider's key pool (rotate on 429, dead on
// 401/403), the (provider, base URL) circuit breaker, the provider's AIMD limiter, and LLMix's
// retry policy honouring Retry-After. Blocking: run it on a worker (backoffs wait on the calling
// thread, bounded by the deadline). Keys never appear in errors, logs, spans or cache keys.
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "adapters/embeddings.h"
#include "common/pricing.h"
#include "common/telemetry.h"
#include "llmix/sidecar/v1/sidecar.pb.h"
#include "pipeline/embedder.h"
#include "pipeline/pipeline_state.h"

namespace llmix::sidecar {

struct EmbedServiceOptions {
  size_t max_inputs = 2048;           // per request (OpenAI's limit)
  size_t max_input_bytes = 4u << 20;  // all texts together (the sidecar's --max-request-bytes)
  absl::Duration default_timeout = absl::Seconds(30);  // without a caller deadline
};

// `llmix:emb:` + hex SHA-256 of the cache-canonical JSON
// {"dimensions": <int or null>, "input": <text>, "model": <model>, "provider": <provider>}
// (keys sorted, compact, as LLMix's response-cache key material is serialised).
std::string EmbeddingCacheKey(const std::string& provider, const std::string& model,
                              std::optional<int> dimensions, const std::string& input);
// The cached value: base64 of the vector as little-endian float32; nullopt when malformed.
std::string EncodeEmbedding(const std::vector<float>& vector);
std::optional<std::vector<float>> DecodeEmbedding(std::string_view text);

// One embeddings request in service terms (from gRPC, HTTP or the semantic cache).
struct EmbedCall {
  // Exactly one of preset / config_json.
  std::optional<std::string> preset;
  std::optional<std::string> config_json;
  // The snapshot to resolve the preset in; null: the live one.
  std::shared_ptr<const registry::Snapshot> snapshot;
  std::vector<std::string> inputs;
  std::optional<int> dimensions;  // overrides the config's common.dimensions
  pipeline::CacheMode cache = pipeline::CacheMode::kDefault;
  std::string tenant;
  absl::Time deadline = absl::InfiniteFuture();
  SpanContext parent;  // the caller's trace context (may be invalid)
};

struct EmbedResult {
  // Non-OK: refused before any upstream work (INVALID_ARGUMENT naming the field, NOT_FOUND
  // preset, UNAVAILABLE while shutting down). OK with `error` set: the call failed (provider
  // error, CONFIG for a provider without embeddings, key pool, breaker, ...).
  absl::Status status;
  std::optional<CallError> error;
  std::vector<std::vector<float>> vectors;  // one per input when !error
  std::string provider;
  std::string model;
  std::string config_revision;
  std::string trace_id;
  int64_t prompt_tokens = 0;  // of the inputs sent upstream (cached inputs cost nothing)
  int attempts = 0;           // upstream HTTP attempts
  size_t cached_inputs = 0;
  // kL1 / kL2 when every input came from the cache (kL2 when any came from Redis).
  pipeline::CacheTier cache_tier = pipeline::CacheTier::kNone;
  std::optional<CostBreakdown> cost;
  bool success() const { return status.ok() && !error.has_value(); }
};

// POST /v1/rerank, forwarded to `{base}/rerank` of the model's provider.
struct RerankCall {
  std::optional<std::string> preset;
  std::optional<std::string> config_json;
  nlohmann::json body;  // {query, documents, top_n?, return_documents?}, validated by the caller
  absl::Time deadline = absl::InfiniteFuture();
  SpanContext parent;
};
struct RerankResult {
  absl::Status status;
  std::optional<CallError> error;
  nlohmann::json body;  // the provider's answer
  std::string provider;
  std::string model;
  int attempts = 0;
};

class EmbedService final : public pipeline::Embedder {
 public:
  // `state`, `transport` and `metrics` must outlive the service.
  EmbedService(const pipeline::PipelineState& state, adapters::HttpTransport& transport,
               MetricRegistry& metrics, EmbedServiceOptions options);

  // Runs one request in a span named `span_name` (server kind).
  EmbedResult Run(const EmbedCall& call, std::string_view span_name);
  RerankResult Rerank(const RerankCall& call);

  // The `Embed` RPC: request checks (INVALID_ARGUMENT naming the field), Run, response.
  grpc::Status Embed(const v1::EmbedRequest& request, v1::EmbedResponse* response,
                     absl::Time deadline, const SpanContext* parent);

  // pipeline::Embedder, for the semantic cache: the preset must exist in `query.snapshot`.
  absl::StatusOr<std::vector<std::vector<float>>> Embed(const pipeline::EmbedQuery& query) override;

  const EmbedServiceOptions& options() const { return options_; }

 private:
  struct Target;
  // What one upstream attempt reports to the resilience loop.
  struct AttemptOutcome {
    std::optional<CallError> error;
    int http_status = 0;
    adapters::ResponseHeaders headers;
    bool network_error = false;
  };
  using Attempt = std::function<AttemptOutcome(const std::string& api_key, absl::Duration timeout,
                                               const std::string& traceparent)>;

  absl::Status Resolve(const std::optional<std::string>& preset,
                       const std::optional<std::string>& config_json,
                       std::shared_ptr<const registry::Snapshot> snapshot, Target* out) const;
  // Key pool, breaker, AIMD and retries around `attempt`; nullopt on success.
  std::optional<CallError> RunAttempts(const Target& target, absl::Time deadline, Span& parent,
                                       const Attempt& attempt, int* attempts);
  // Fills `vectors` for the inputs at `indices` (distinct texts) in chunks the provider accepts.
  std::optional<CallError> EmbedMisses(const Target& target, const std::vector<std::string>& texts,
                                       std::optional<int> dimensions, absl::Time deadline,
                                       Span& span, std::vector<std::vector<float>>* vectors,
                                       EmbedResult* result);

  const pipeline::PipelineState& state_;
  adapters::EmbeddingsClient client_;
  EmbedServiceOptions options_;
  CounterFamily& requests_;  // {op, provider, outcome}
  CounterFamily& inputs_;    // {source}: l1 | l2 | upstream
};

}  // namespace llmix::sidecar
