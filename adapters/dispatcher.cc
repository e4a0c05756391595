#include "adapters/dispatcher.h"

#include "absl/strings/str_cat.h"
#include "adapters/anthropic_messages_adapter.h"
#include "adapters/dummy_adapter.h"
#include "adapters/gemini_adapter.h"
#include "adapters/openai_chat_adapter.h"

namespace llmix::adapters {

Dispatcher::Dispatcher(DispatcherOptions options)
    : options_(std::move(options)),
      transport_(std::make_unique<HttpTransport>(options_.transport)),
      warner_(options_.logger),
      openai_chat_(std::make_unique<OpenAiChatAdapter>(*transport_, warner_)),
      anthropic_(std::make_unique<AnthropicMessagesAdapter>(*transport_, warner_)),
      gemini_(std::make_unique<GeminiAdapter>(*transport_, warner_)),
      dummy_(std::make_unique<DummyAdapter>()) {}

Dispatcher::~Dispatcher() = default;

std::optional<ProviderRequest> Dispatcher::Routed(const ProviderRequest& request,
                                                  const ProviderInfo* info) const {
  if (!options_.helicone.api_key.empty() && info != nullptr &&
      (request.provider == "openai" || request.provider == "anthropic") &&
      request.base_url == info->default_base_url) {
    ProviderRequest routed = request;
    routed.base_url = request.provider == "openai" ? options_.helicone.openai_base_url
                                                   : options_.helicone.anthropic_base_url;
    routed.extra_headers.emplace_back("Helicone-Auth", "Bearer " + options_.helicone.api_key);
    return routed;
  }
  return std::nullopt;
}

ProviderOutcome Dispatcher::Send(const ProviderRequest& request) {
  if (options_.dummy_upstream) return dummy_->Send(request);
  const ProviderInfo* info = FindProvider(request.provider);
  if (auto routed = Routed(request, info)) return SendWith(info->protocol, *routed);
  return SendWith(info != nullptr ? info->protocol : WireProtocol::kOpenAiChat, request);
}

ProviderOutcome Dispatcher::SendStream(const ProviderRequest& request, StreamEventSink& sink,
                                       StreamCancellation* cancel) {
  // The dummy upstream answers unary; its answer is replayed as a stream.
  if (options_.dummy_upstream) return dummy_->SendStream(request, sink, cancel);
  const ProviderInfo* info = FindProvider(request.provider);
  if (auto routed = Routed(request, info)) {
    return AdapterFor(info->protocol).SendStream(*routed, sink, cancel);
  }
  return AdapterFor(info != nullptr ? info->protocol : WireProtocol::kOpenAiChat)
      .SendStream(request, sink, cancel);
}

Adapter& Dispatcher::AdapterFor(WireProtocol protocol) {
  switch (protocol) {
    case WireProtocol::kAnthropicMessages: return *anthropic_;
    case WireProtocol::kGeminiGenerateContent: return *gemini_;
    default: return *openai_chat_;
  }
}

ProviderOutcome Dispatcher::SendWith(WireProtocol protocol, const ProviderRequest& request) {
  switch (protocol) {
    case WireProtocol::kAnthropicMessages:
      return anthropic_->Send(request);
    case WireProtocol::kGeminiGenerateContent:
      return gemini_->Send(request);
    default:
      return openai_chat_->Send(request);
  }
}

}  // namespace llmix::adapters
