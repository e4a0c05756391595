// The three providers' batch wire formats, as LLMix 2.2's batch.ts builds and reads them
// (private to provider_batch.cc; exposed for its tests). One BatchWire serves one operation
// with one key and base URL. Not thread-safe; cheap to create.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/provider_batch.h"

namespace llmix::adapters {

// JSON.stringify of `value` (members in insertion order, JS number text).
std::string JsStringify(const nlohmann::ordered_json& value);

// Helpers shared by the per-provider files.
namespace batch_wire {

template <typename T>
BatchOutcome<T> Fail(BatchErrorKind kind, std::string message) {
  BatchOutcome<T> out;
  out.error = BatchError{kind, std::move(message)};
  return out;
}
template <typename T>
BatchOutcome<T> Fail(BatchError error) {
  BatchOutcome<T> out;
  out.error = std::move(error);
  return out;
}

// Appends JSON.stringify(v).
void AppendJs(const nlohmann::ordered_json& v, std::string& out);
// A provider id that goes into a URL path: no query, fragment, escapes or ".." segments.
bool SafePathId(std::string_view id);
// The lines of a JSONL text (trimmed, empty lines skipped), each parsed; an error names the
// first unusable line, or too many entries.
std::optional<BatchError> ParseJsonl(const std::string& text, const std::string& what,
                                     size_t max_entries, std::vector<nlohmann::json>* out);
// parseInt(customId.replace("req-", ""), 10), or -1 (NaN, negative).
int64_t RequestIndex(const nlohmann::json& id);
// Results 0..n-1 from the entries by index; absent ones are "Missing result".
std::vector<BatchResultEntry> InOrder(std::map<int64_t, BatchResultEntry> by_index, int64_t n);
// obj[key], or null.
const nlohmann::json& Field(const nlohmann::json& obj, const char* key);
// Usage from a provider's usage object (total: `total` when given, else in + out).
std::optional<Usage> UsageOf(const nlohmann::json& u, const char* in, const char* out,
                             const char* total, const nlohmann::json& cached,
                             const nlohmann::json& reasoning);

}  // namespace batch_wire

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
