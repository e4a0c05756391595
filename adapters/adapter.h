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
  // SendStream: the longest silence between two reads of the streamed body.
  absl::Duration stream_idle_timeout = absl::Seconds(60);
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

struct StreamEvent;        // adapters/stream_parser.h
class StreamCancellation;  // adapters/http_transport.h

// Receives a streamed answer's normalized events in order, on the thread running SendStream;
// returning false cancels the stream (the upstream connection is closed).
class StreamEventSink {
 public:
  virtual ~StreamEventSink() = default;
  virtual bool OnEvent(const StreamEvent& event) = 0;
};

class Adapter {
 public:
  virtual ~Adapter() = default;
  virtual ProviderOutcome Send(const ProviderRequest& request) = 0;
  // Send with a streamed answer: every event goes to `sink` as it is parsed, and the returned
  // outcome holds the whole answer (content with its <think> blocks, reasoning, tool calls,
  // usage) as Send would have returned it, or the error that ended the stream. `cancel` (may
  // be null) ends the exchange from another thread. The default sends the request unary and
  // replays the answer as events (adapters without a streaming protocol, the dummy upstream).
  virtual ProviderOutcome SendStream(const ProviderRequest& request, StreamEventSink& sink,
                                     StreamCancellation* cancel);
};

}  // namespace llmix::adapters
