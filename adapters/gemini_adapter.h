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

  // Exposed for tests and fuzzing.
  static absl::StatusOr<nlohmann::json> BuildBody(const ProviderRequest& request,
                                                  std::vector<std::string>* unknown_options);
  static bool ParseResponse(std::string_view body, ProviderResponse* out, std::string* error);
  // "{base}/models/{model}:generateContent" (a leading "models/" in the id is not doubled).
  static std::string Url(const ProviderRequest& request);

 private:
  HttpTransport& transport_;
  UnknownOptionWarner& warner_;
};

}  // namespace llmix::adapters
