#include "adapters/dispatcher.h"

#include "absl/strings/str_cat.h"
#include "adapters/dummy_adapter.h"
#include "adapters/openai_chat_adapter.h"

namespace llmix::adapters {

Dispatcher::Dispatcher(DispatcherOptions options)
    : options_(std::move(options)),
      transport_(std::make_unique<HttpTransport>(options_.transport)),
      openai_chat_(std::make_unique<OpenAiChatAdapter>(*transport_)),
      dummy_(std::make_unique<DummyAdapter>()) {}

Dispatcher::~Dispatcher() = default;

ProviderOutcome Dispatcher::Send(const ProviderRequest& request) {
  if (options_.dummy_upstream) return dummy_->Send(request);
  const ProviderInfo* info = FindProvider(request.provider);
  if (info != nullptr && info->protocol == WireProtocol::kOpenAiChat) {
    return openai_chat_->Send(request);
  }
  ProviderOutcome out;
  CallError e;
  e.code = CallErrorCode::kConfig;
  e.provider = request.provider;
  e.message = absl::StrCat("provider \"", request.provider, "\" speaks the ",
                           info ? std::string(WireProtocolName(info->protocol)) : "unknown",
                           " protocol, which this build does not support yet");
  out.error = std::move(e);
  return out;
}

}  // namespace llmix::adapters
