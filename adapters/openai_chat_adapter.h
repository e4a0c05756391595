// OpenAI Chat Completions wire protocol (`POST {base}/chat/completions`), used by openai and
// every OpenAI-compatible provider (openrouter, deepinfra, novita, together, sno-gpu, any
// compatible base URL). Thread-safe; blocking `Send` over the shared HttpTransport.
#pragma once

#include "adapters/adapter.h"
#include "adapters/http_transport.h"

namespace llmix::adapters {

class OpenAiChatAdapter final : public Adapter {
 public:
  explicit OpenAiChatAdapter(HttpTransport& transport) : transport_(transport) {}
  ProviderOutcome Send(const ProviderRequest& request) override;

  // Exposed for tests: the JSON body sent upstream, and the parse of a 2xx body.
  static nlohmann::json BuildBody(const ProviderRequest& request);
  static bool ParseResponse(std::string_view body, ProviderResponse* out, std::string* error);

 private:
  HttpTransport& transport_;
};

// Turns a transport failure or a non-2xx answer into the structured error (the provider's
// message and type when its body has OpenAI's `{"error": {...}}` shape; keys redacted).
CallError ErrorFromHttp(const std::string& provider, const HttpResponse& response);

}  // namespace llmix::adapters
