// The provider batch RPCs (SubmitBatch, GetBatch, GetBatchResults) over
// adapters::BatchProcessor. SubmitBatch resolves the preset (or inline config) as Call does —
// provider, model, parameters shaped by the provider's adapter, base URL — takes the provider
// pool's current key, submits, writes LLMix's metadata file in the state dir and returns the
// LLMix batch id. GetBatch / GetBatchResults decode the id and use the pool key whose
// fingerprint matches the submit key's. Each method blocks for the provider's HTTP exchanges:
// run it on a worker. Keys never appear in errors or logs. Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "adapters/provider_batch.h"
#include "common/telemetry.h"
#include "llmix/sidecar/v1/sidecar.pb.h"
#include "pipeline/pipeline_state.h"

namespace llmix::sidecar {

struct BatchServiceOptions {
  std::string state_dir;  // LLMix's state dir (batches/ lives under it)
  size_t max_prompts = 50000;
  // Prompts + system prompt, in bytes (the sidecar's --max-request-bytes).
  size_t max_prompt_bytes = 4u << 20;
  adapters::BatchLimits limits;
  absl::Duration default_timeout = absl::Minutes(3);  // without a gRPC deadline
};

class BatchService {
 public:
  // `state`, `http` and `metrics` must outlive the service.
  BatchService(const pipeline::PipelineState& state, adapters::BatchHttpClient& http,
               MetricRegistry& metrics, BatchServiceOptions options);

  // Each RPC runs in a server span "llmix.sidecar.v1.Llmix/<Method>" (child of `parent`, the
  // caller's traceparent, when valid) with `llmix.batch.*` attributes.
  grpc::Status Submit(const v1::SubmitBatchRequest& request, v1::SubmitBatchResponse* response,
                      absl::Time deadline, const SpanContext* parent = nullptr);
  grpc::Status Get(const v1::GetBatchRequest& request, v1::BatchStatus* response,
                   absl::Time deadline, const SpanContext* parent = nullptr);
  grpc::Status Results(const v1::GetBatchResultsRequest& request, v1::BatchResults* response,
                       absl::Time deadline, const SpanContext* parent = nullptr);

  const BatchServiceOptions& options() const { return options_; }

 private:
  struct Target;  // provider, model, config and base URL of a preset / inline config
  grpc::Status ResolveTarget(const std::optional<std::string>& preset,
                             const std::optional<std::string>& config_json, Target* out) const;
  // The pool key whose fingerprint is the submit key's (FAILED_PRECONDITION when none).
  grpc::Status FindKey(const adapters::DecodedBatchId& id, const std::string& batch_id,
                       std::string* key) const;
  // The id and the base URL (the request's preset/config, else the provider's default).
  grpc::Status Locate(const std::string& batch_id, const std::optional<std::string>& preset,
                      const std::optional<std::string>& config_json, adapters::DecodedBatchId* id,
                      std::string* base_url) const;
  std::unique_ptr<Span> StartSpan(const char* method, const SpanContext* parent) const;
  // Counts, logs a failure and ends `span` with the outcome; returns `status`.
  grpc::Status Finish(const char* op, const std::string& provider, grpc::Status status, Span& span);

  const pipeline::PipelineState& state_;
  BatchServiceOptions options_;
  adapters::BatchProcessor processor_;
  CounterFamily& requests_;  // {op, provider, outcome}
};

}  // namespace llmix::sidecar
