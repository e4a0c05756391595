// The three providers' batch wire formats, as LLMix 2.2's batch.ts builds and reads them
// (private to provider_batch.cc; exposed for its tests). One BatchWire serves one operation
// with one key and base URL. Not thread-safe; cheap to create.
#pragma once

#include <string>
#include <vector>

#include "adapters/provider_batch.h"

namespace llmix::adapters {

// JSON.stringify of `value` (members in insertion order, JS number text).
std::string JsStringify(const nlohmann::ordered_json& value);

class BatchWire {
 public:
  BatchWire(BatchHttpClient& http, const std::string& api_key, const std::string& base_url,
            absl::Time deadline, const BatchLimits& limits)
      : http_(http), api_key_(api_key), base_url_(base_url), deadline_(deadline), limits_(limits) {}

  // The provider's raw batch id.
  BatchOutcome<std::string> Submit(const BatchSubmitRequest& request);
  BatchOutcome<BatchStatusInfo> Status(const DecodedBatchId& id);
  BatchOutcome<std::vector<BatchResultEntry>> Results(const DecodedBatchId& id);

 private:
  BatchOutcome<std::string> OpenAiSubmit(const BatchSubmitRequest& request);
  BatchOutcome<std::string> AnthropicSubmit(const BatchSubmitRequest& request);
  BatchOutcome<std::string> GeminiSubmit(const BatchSubmitRequest& request);
  BatchOutcome<BatchStatusInfo> OpenAiStatus(const std::string& raw);
  BatchOutcome<BatchStatusInfo> AnthropicStatus(const std::string& raw);
  BatchOutcome<BatchStatusInfo> GeminiStatus(const std::string& raw);
  BatchOutcome<std::vector<BatchResultEntry>> OpenAiResults(const DecodedBatchId& id);
  BatchOutcome<std::vector<BatchResultEntry>> AnthropicResults(const DecodedBatchId& id);
  BatchOutcome<std::vector<BatchResultEntry>> GeminiResults(const DecodedBatchId& id);

  // One exchange; `what` names it in errors ("OpenAI batch status"). A transport failure or a
  // non-2xx answer is an error "<what> failed: <status> <body>" (key redacted).
  std::optional<BatchError> Exchange(BatchHttpRequest request, const std::string& what,
                                     std::string* body, bool body_in_error = true);
  BatchHttpRequest Request(const std::string& provider, const std::string& method,
                           const std::string& url, bool json_body) const;
  std::string Url(std::string_view path) const;
  std::string Redact(std::string text) const;

  BatchHttpClient& http_;
  const std::string& api_key_;
  const std::string& base_url_;
  const absl::Time deadline_;
  const BatchLimits& limits_;
};

}  // namespace llmix::adapters
