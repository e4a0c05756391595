// Anthropic Messages wire protocol (`POST {base}/messages`, `x-api-key`,
// `anthropic-version: 2023-06-01`). OpenAI-style messages are converted: system messages
// become the top-level `system`, content parts become text/image blocks, assistant
// `tool_calls` become `tool_use` blocks and `tool` messages `tool_result` blocks (consecutive
// ones merged into one user turn); `max_tokens` is always sent (4096 unless configured, plus
// the thinking budget when thinking is enabled). Responses: text blocks joined, `thinking`
// blocks as reasoning, `tool_use` as tool calls, usage incl. cache reads. Thread-safe.
#pragma once

#include "adapters/adapter.h"
#include "adapters/http_transport.h"
#include "adapters/provider_options.h"
#include "absl/status/statusor.h"

namespace llmix::adapters {

class AnthropicMessagesAdapter final : public Adapter {
 public:
  AnthropicMessagesAdapter(HttpTransport& transport, UnknownOptionWarner& warner)
      : transport_(transport), warner_(warner) {}
  ProviderOutcome Send(const ProviderRequest& request) override;
  // The same request with the protocol's streaming answer (adapters/wire_common.h).
  ProviderOutcome SendStream(const ProviderRequest& request, StreamEventSink& sink,
                             StreamCancellation* cancel) override;

  static constexpr int64_t kDefaultMaxTokens = 4096;
  static constexpr const char* kApiVersion = "2023-06-01";
  // The forced tool that carries a json_schema response format; its input is the answer.
  static constexpr const char* kJsonToolName = "json";

  // Exposed for tests and fuzzing.
  static absl::StatusOr<nlohmann::json> BuildBody(const ProviderRequest& request,
                                                  std::vector<std::string>* unknown_options);
  static bool ParseResponse(std::string_view body, ProviderResponse* out, std::string* error);
  // `stop_reason` in OpenAI's finish_reason terms; `only_json_tool`: the reply's one tool call
  // was the json tool (its input is the answer), so "tool_use" means "stop".
  static std::string FinishReason(std::string_view stop_reason, bool only_json_tool);
  // A `usage` object (message, or message_start/message_delta events of a stream).
  static Usage ParseUsage(const nlohmann::json& usage);

 private:
  HttpTransport& transport_;
  UnknownOptionWarner& warner_;
};

}  // namespace llmix::adapters
