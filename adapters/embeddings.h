// Embeddings and rerank over the providers' HTTP APIs: OpenAI's `POST {base}/embeddings`
// (every OpenAI-compatible provider), Gemini's `POST {base}/models/{m}:batchEmbedContents`
// (x-goog-api-key), and the Cohere/Jina-style `POST {base}/rerank` of OpenAI-compatible
// servers (Jina, vLLM/TEI, sno-gpu, ...). Anthropic has no embeddings API: a CONFIG error.
// Built on the chat adapters' exchange skeleton (adapters/wire_common.h): same error
// classification, Retry-After headers and key redaction. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/adapter.h"
#include "adapters/http_transport.h"
#include "nlohmann/json.hpp"

namespace llmix::adapters {

struct EmbeddingRequest {
  std::string provider;  // catalog name; unknown names speak OpenAI's protocol
  std::string model;
  std::string base_url;
  std::string api_key;  // may be empty; never logged
  std::vector<std::string> inputs;
  std::optional<int> dimensions;  // output dimensions (OpenAI `dimensions`, Gemini
                                  // `outputDimensionality`)
  absl::Duration timeout = absl::Seconds(30);
  std::string traceparent;
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

struct EmbeddingOutcome {
  std::optional<CallError> error;           // set on failure
  std::vector<std::vector<float>> vectors;  // one per input, in input order
  std::string model;                        // the provider's, else the request's
  int64_t prompt_tokens = 0;                // 0 when the provider does not say (Gemini)
  int http_status = 0;
  ResponseHeaders headers;
  bool network_error = false;

  bool ok() const { return !error.has_value(); }
};

// The wire forms, exposed for tests. Bodies are what the HTTP exchange sends.
nlohmann::json OpenAiEmbeddingsBody(const EmbeddingRequest& request);
nlohmann::json GeminiBatchEmbedBody(const EmbeddingRequest& request);
std::string GeminiBatchEmbedUrl(const EmbeddingRequest& request);
// Parse a 2xx body into `out->vectors` (+ model, prompt tokens): false with `error` when it is
// not the protocol's shape or does not hold exactly `n` vectors (OpenAI's `data[i].index`
// orders them).
bool ParseOpenAiEmbeddings(std::string_view body, size_t n, EmbeddingOutcome* out,
                           std::string* error);
bool ParseGeminiEmbeddings(std::string_view body, size_t n, EmbeddingOutcome* out,
                           std::string* error);

// Rerank: the caller's body is forwarded as given (model replaced by the provider's model);
// the provider's JSON answer is returned parsed.
struct RerankRequest {
  std::string provider;
  std::string model;
  std::string base_url;
  std::string api_key;
  nlohmann::json body;  // {query, documents, top_n?, return_documents?}
  absl::Duration timeout = absl::Seconds(30);
  std::string traceparent;
};
struct RerankOutcome {
  std::optional<CallError> error;
  nlohmann::json body;  // the provider's answer (an object with `results`)
  int http_status = 0;
  ResponseHeaders headers;
  bool network_error = false;
  bool ok() const { return !error.has_value(); }
};

class EmbeddingsClient {
 public:
  // `transport` must outlive the client.
  explicit EmbeddingsClient(HttpTransport& transport) : transport_(transport) {}

  // One HTTP exchange for all of `request.inputs`. A provider without an embeddings API
  // (anthropic) is a kConfig error naming the provider, with no exchange made.
  EmbeddingOutcome Embed(const EmbeddingRequest& request);
  // `POST {base}/rerank` for OpenAI-compatible providers (kConfig for anthropic / google).
  RerankOutcome Rerank(const RerankRequest& request);

 private:
  HttpTransport& transport_;
};

}  // namespace llmix::adapters
