// Gemini generateContent wire protocol (`POST {base}/models/{model}:generateContent`, the
// key in the `x-goog-api-key` header, never in the URL). OpenAI-style messages become
// `contents` (user/model turns of parts), system messages `systemInstruction`, sampling
// kwargs `generationConfig`, tools `functionDeclarations`, assistant tool calls
// `functionCall` parts and tool messages `functionResponse` parts. Responses: text parts
// joined, `thought` parts as reasoning, `functionCall` parts as tool calls, usage metadata
// incl. cached and thinking tokens. Thread-safe.
#pragma once

#include "absl/status/statusor.h"
#include "adapters/adapter.h"
#include "adapters/http_transport.h"
#include "adapters/provider_options.h"

namespace llmix::adapters {

class GeminiAdapter final : public Adapter {
 public:
  GeminiAdapter(HttpTransport& transport, UnknownOptionWarner& warner)
      : transport_(transport), warner_(warner) {}
  ProviderOutcome Send(const ProviderRequest& request) override;
  // The same request with the protocol's streaming answer (adapters/wire_common.h).
  ProviderOutcome SendStream(const ProviderRequest& request, StreamEventSink& sink,
                             StreamCancellation* cancel) override;

  // Exposed for tests and fuzzing.
  static absl::StatusOr<nlohmann::json> BuildBody(const ProviderRequest& request,
                                                  std::vector<std::string>* unknown_options);
  static bool ParseResponse(std::string_view body, ProviderResponse* out, std::string* error);
  // "{base}/models/{model}:generateContent" (a leading "models/" in the id is not doubled).
  static std::string Url(const ProviderRequest& request);
  // A `functionCall` part as a tool call (`ordinal`-th of the reply: id "call_<n>" when the
  // part has none).
  static ToolCall FunctionCall(const nlohmann::json& function_call, size_t ordinal);
  // `finishReason` in OpenAI's finish_reason terms.
  static std::string FinishReason(std::string_view reason, bool has_tool_calls);
  // A `usageMetadata` object (thoughts count as output, as LLMix does).
  static Usage ParseUsage(const nlohmann::json& usage_metadata);

 private:
  HttpTransport& transport_;
  UnknownOptionWarner& warner_;
};

}  // namespace llmix::adapters
