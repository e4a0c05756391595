// OpenAI Chat Completions wire protocol (`POST {base}/chat/completions`), used by openai and
// every OpenAI-compatible provider (openrouter, deepinfra, novita, together, sno-gpu, any
// compatible base URL). Thread-safe; blocking `Send` over the shared HttpTransport.
#pragma once

#include "adapters/adapter.h"
#include "absl/status/statusor.h"
#include "adapters/http_transport.h"
#include "adapters/provider_options.h"

namespace llmix::adapters {

class OpenAiChatAdapter final : public Adapter {
 public:
  OpenAiChatAdapter(HttpTransport& transport, UnknownOptionWarner& warner)
      : transport_(transport), warner_(warner) {}
  ProviderOutcome Send(const ProviderRequest& request) override;
  // The same request with the protocol's streaming answer (adapters/wire_common.h).
  ProviderOutcome SendStream(const ProviderRequest& request, StreamEventSink& sink,
                             StreamCancellation* cancel) override;

  // Exposed for tests: the JSON body sent upstream, and the parse of a 2xx body.
  // System messages are joined into one leading system message (CONTRACT §10); an error
  // names the offending message field.
  static absl::StatusOr<nlohmann::json> BuildBody(const ProviderRequest& request,
                                                  std::vector<std::string>* unknown_options = nullptr);
  // sno-gpu: thinking settings from the kwargs (enableThinking/thinkingBudget) move into
  // `extra_body` and `extra_body.chat_template_kwargs`, as LLMix's fetch wrapper does.
  static void ShapeSnoGpuBody(const nlohmann::json& kwargs, nlohmann::json& body);
  static bool ParseResponse(std::string_view body, ProviderResponse* out, std::string* error);
  // A `usage` object (also the last chunk of a stream with stream_options.include_usage).
  static Usage ParseUsage(const nlohmann::json& usage);

 private:
  HttpTransport& transport_;
  UnknownOptionWarner& warner_;
};

}  // namespace llmix::adapters
