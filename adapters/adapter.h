// One interface for every provider wire protocol. An Adapter turns a normalized
// ProviderRequest into that protocol's HTTP exchange and the answer back into a normalized
// ProviderOutcome. `Send` blocks the calling (worker) thread for the HTTP exchange only.
// Implementations are thread-safe: one adapter instance serves all calls.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/call_error.h"
#include "common/provider_catalog.h"
#include "nlohmann/json.hpp"

namespace llmix::adapters {

struct ProviderRequest {
  std::string provider;  // catalog name, e.g. "openai"
  std::string model;
  std::string base_url;  // effective base URL, e.g. "https://api.openai.com/v1"
  std::string api_key;   // may be empty; never logged
  const nlohmann::json* messages = nullptr;  // LLMix (OpenAI-style) message objects
  nlohmann::json kwargs = nlohmann::json::object();  // snake_case request params
  nlohmann::json tools;        // OpenAI-style tools array, or null
  nlohmann::json tool_choice;  // OpenAI-style tool_choice, or null
  // providerOptions[provider] from the preset (AI SDK option names), or null. Only the
  // called provider's own options are forwarded (CONTRACT §10).
  nlohmann::json provider_options;
  absl::Duration timeout = absl::Seconds(60);  // whole exchange budget
  std::string traceparent;     // W3C header for the upstream request, or empty
  // Added to the upstream request (e.g. Helicone-Auth); never logged.
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t total_tokens = 0;
  std::optional<int64_t> cached_input_tokens;
  std::optional<int64_t> reasoning_tokens;
};

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text
};

struct ProviderResponse {
  std::string content;
  std::string model;
  Usage usage;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;
  std::optional<std::string> reasoning_content;
};

// Lower-cased response headers the pipeline reads (retry-after, x-ratelimit-*).
using ResponseHeaders = absl::flat_hash_map<std::string, std::string>;

struct ProviderOutcome {
  std::optional<CallError> error;  // set on failure
  ProviderResponse response;       // valid when !error
  int http_status = 0;
  ResponseHeaders headers;
  bool network_error = false;  // no complete HTTP response (connect, reset, timeout)

  bool ok() const { return !error.has_value(); }
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual ProviderOutcome Send(const ProviderRequest& request) = 0;
};

}  // namespace llmix::adapters
