// Provider batch APIs as LLMix 2.2 speaks them (CONTRACT §11, `batch` vectors): OpenAI
// (files upload + /batches + output file download), Anthropic (/messages/batches + results
// JSONL) and Gemini (models/{m}:batchGenerateContent + batches/{id} with inlined responses).
// Batch ids are "provider:keyfp:n:raw" (keyfp = last 8 hex of SHA-256(apiKey)) and every
// submitted batch has a metadata file `<stateDir>/batches/<base64url(id)>.json` whose text is
// byte-identical to LLMix's, so a Python/TS LLMix process and the sidecar read each other's.
// One deliberate difference on the wire: the Gemini key goes in `x-goog-api-key`, never in the
// URL (LLMix sends `?key=`). HTTP goes through a BatchHttpClient (the real one wraps the shared
// HttpTransport: SSRF guard, proxy, timeouts, body cap), so tests can script the provider.
// Free functions are pure; BatchProcessor is thread-safe if its client is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "adapters/adapter.h"
#include "adapters/http_transport.h"
#include "nlohmann/json.hpp"

namespace llmix::adapters {

// openai | anthropic | gemini.
bool IsBatchProvider(std::string_view provider);

// Last 8 hex characters of SHA-256(api_key) (UTF-8 bytes).
std::string BatchKeyFingerprint(std::string_view api_key);

// "provider:fingerprint:n:raw".
std::string EncodeBatchId(std::string_view provider, std::string_view api_key, int64_t n_prompts,
                          std::string_view raw_batch_id);

struct DecodedBatchId {
  std::string provider;
  std::string key_fingerprint;
  int64_t n_prompts = 0;
  std::string raw_batch_id;
};

// LLMix decodeBatchId: splits on the first three colons; errors (InvalidArgument) carry LLMix's
// message ("Invalid batch ID: …", "Unknown batch provider: …", "Invalid key fingerprint length:
// …", "Invalid nPrompts: …", "Empty rawBatchId in: …"). n is read as parseInt(…, 10) does.
absl::StatusOr<DecodedBatchId> DecodeBatchId(std::string_view batch_id);

// "batches/<base64url(batchId), unpadded>.json", relative to the state dir.
std::string BatchMetadataRelativePath(std::string_view batch_id);

// The metadata file text, exactly JSON.stringify({keyFingerprint, provider, nPrompts,
// submittedAt}) with submittedAt as Date.toISOString() of `now`.
std::string BatchMetadataText(std::string_view key_fingerprint, std::string_view provider,
                              int64_t n_prompts, absl::Time now);

struct BatchMetadata {
  std::string key_fingerprint;
  std::string provider;
  int64_t n_prompts = 0;
  std::string submitted_at;
};

// One multipart/form-data field: a plain value, or a file when `filename` is set.
struct BatchFormPart {
  std::string name;
  std::string value;  // the value, or the file content
  std::string filename;
  std::string content_type;
};

// One request to a provider's batch API, before encoding. `form` non-empty: a multipart body.
struct BatchHttpRequest {
  std::string method;  // GET | POST
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // may hold the API key
  std::string body;                                          // JSON text (POST without form)
  std::vector<BatchFormPart> form;
  absl::Duration timeout = absl::Seconds(60);
};

// The HTTP exchange, injectable for tests. Implementations are thread-safe.
class BatchHttpClient {
 public:
  virtual ~BatchHttpClient() = default;
  virtual HttpResponse Send(const BatchHttpRequest& request) = 0;
};

// The real client: encodes multipart bodies and sends through `transport`.
class TransportBatchHttpClient final : public BatchHttpClient {
 public:
  explicit TransportBatchHttpClient(HttpTransport& transport) : transport_(transport) {}
  HttpResponse Send(const BatchHttpRequest& request) override;

 private:
  HttpTransport& transport_;
};

// multipart/form-data body for `parts` with `boundary` (CRLF line ends, as browsers send it).
std::string EncodeMultipart(const std::vector<BatchFormPart>& parts, std::string_view boundary);

struct BatchSubmitRequest {
  std::string provider;  // openai | anthropic | gemini
  std::string api_key;
  std::string model;
  std::string base_url;  // e.g. "https://api.openai.com/v1"
  std::vector<std::string> prompts;
  std::optional<std::string> system_prompt;  // an empty one is not sent (as in LLMix)
  // LLMix's `params`: OpenAI merges them into each request body, Anthropic takes `max_tokens`
  // (default 4096) and merges the rest, Gemini sends them as `generationConfig`.
  nlohmann::ordered_json params;  // object, or null
};

struct BatchStatusInfo {
  std::string batch_id;  // the provider's id
  std::string state;     // pending | in_progress | completed | failed | expired
  int64_t total_requests = 0;
  int64_t completed_requests = 0;
  int64_t failed_requests = 0;
};

struct BatchResultEntry {
  int64_t index = 0;
  bool success = false;
  std::string response;        // content, when success
  std::string error;           // when !success
  std::optional<Usage> usage;  // when the provider reported it (not part of LLMix's result)
};

struct BatchLimits {
  // The encoded upload (OpenAI JSONL file, Anthropic/Gemini request body). The system prompt
  // and parameters are repeated for every prompt, so this bounds memory, not the request.
  size_t max_upload_bytes = 64u << 20;
  // Lines of a results file / inlined responses read; more is a bad response.
  size_t max_result_entries = 100000;
};

// What a failed operation was: a bad input (id, prompts, provider), the key check, the
// provider refusing or failing, or a local I/O error. The message is LLMix's where it has one,
// with the API key redacted.
enum class BatchErrorKind { kInvalid, kKeyMismatch, kUpstream, kUpstreamUnavailable, kLocal };

// LLMix's message for a key whose fingerprint is not the submit key's.
inline constexpr char kBatchKeyMismatchMessage[] =
    "API key fingerprint mismatch: provided key does not match the key used at submit time";

struct BatchError {
  BatchErrorKind kind = BatchErrorKind::kInvalid;
  std::string message;
};

template <typename T>
struct BatchOutcome {
  std::optional<T> value;
  std::optional<BatchError> error;
  bool ok() const { return value.has_value(); }
};

class BatchProcessor {
 public:
  // `state_dir`: where `batches/` lives (LLMix's state dir rule, resolved by the caller).
  BatchProcessor(BatchHttpClient& http, std::string state_dir, BatchLimits limits = {})
      : http_(http), state_dir_(std::move(state_dir)), limits_(limits) {}

  // Submits, then writes the metadata file (submittedAt = `now`); returns the LLMix batch id.
  // `deadline` bounds every HTTP request (each at most 60 s, as in LLMix).
  BatchOutcome<std::string> Submit(const BatchSubmitRequest& request, absl::Time now,
                                   absl::Time deadline = absl::InfiniteFuture());

  // The fingerprint the key must have: the metadata file's when the file exists (LLMix), else
  // the id's own (the sidecar's state dir is per pod; a batch may be polled from another).
  absl::StatusOr<std::string> ExpectedFingerprint(const DecodedBatchId& id,
                                                  std::string_view batch_id) const;
  // The key check against ExpectedFingerprint: nullopt when `api_key` matches; else the error
  // LLMix raises.
  std::optional<BatchError> CheckKey(const DecodedBatchId& id, std::string_view batch_id,
                                     std::string_view api_key) const;

  // The provider's status. The caller has checked the key (CheckKey).
  BatchOutcome<BatchStatusInfo> Status(const DecodedBatchId& id, const std::string& api_key,
                                       const std::string& base_url,
                                       absl::Time deadline = absl::InfiniteFuture());

  // Results in prompt order (empty while running); the metadata file is deleted when results
  // came back, as LLMix does. `metadata_deleted` (may be null) tells whether it was.
  BatchOutcome<std::vector<BatchResultEntry>> Results(const DecodedBatchId& id,
                                                      std::string_view batch_id,
                                                      const std::string& api_key,
                                                      const std::string& base_url,
                                                      bool* metadata_deleted = nullptr,
                                                      absl::Time deadline = absl::InfiniteFuture());

  // The metadata file of `batch_id`: nullopt when absent; an error when unreadable.
  absl::StatusOr<std::optional<BatchMetadata>> ReadMetadata(std::string_view batch_id) const;
  const std::string& state_dir() const { return state_dir_; }

 private:
  BatchHttpClient& http_;
  const std::string state_dir_;
  const BatchLimits limits_;
};

}  // namespace llmix::adapters
