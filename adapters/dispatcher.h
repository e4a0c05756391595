// Picks the adapter for a provider's wire protocol (or the dummy responder in offline mode)
// and sends the request. Owns the adapters and the shared HTTP transport. Thread-safe.
#pragma once

#include <memory>
#include <optional>

#include "adapters/adapter.h"
#include "adapters/http_transport.h"
#include "adapters/provider_options.h"
#include "common/logging.h"

namespace llmix::adapters {

// LLMix's Helicone routing: with HELICONE_API_KEY set, calls that would go to the default
// OpenAI / Anthropic base URL go to Helicone's gateway (HELICONE_OPENAI_BASE_URL /
// HELICONE_ANTHROPIC_BASE_URL, trimmed, else Helicone's defaults) with `Helicone-Auth`.
// A configured base URL is left alone.
struct HeliconeOptions {
  std::string api_key;  // empty: off
  std::string openai_base_url = "https://oai.helicone.ai/v1";
  std::string anthropic_base_url = "https://anthropic.helicone.ai/v1";
};

struct DispatcherOptions {
  bool dummy_upstream = false;
  HttpTransportOptions transport;
  Logger* logger = nullptr;  // one warning per unknown provider option; may be null
  HeliconeOptions helicone;
};

class Dispatcher final : public Adapter {
 public:
  explicit Dispatcher(DispatcherOptions options);
  ~Dispatcher() override;

  // Sends with the adapter for `request.provider`'s protocol.
  ProviderOutcome Send(const ProviderRequest& request) override;
  ProviderOutcome SendStream(const ProviderRequest& request, StreamEventSink& sink,
                             StreamCancellation* cancel) override;
  bool dummy_upstream() const { return options_.dummy_upstream; }

 private:
  // Unknown provider names (inline configs) speak OpenAI's protocol, like any
  // OpenAI-compatible base URL.
  ProviderOutcome SendWith(WireProtocol protocol, const ProviderRequest& request);
  Adapter& AdapterFor(WireProtocol protocol);
  // The request as Helicone routing changes it, or null when it goes as given.
  std::optional<ProviderRequest> Routed(const ProviderRequest& request,
                                        const ProviderInfo* info) const;

  DispatcherOptions options_;
  std::unique_ptr<HttpTransport> transport_;
  UnknownOptionWarner warner_;
  std::unique_ptr<Adapter> openai_chat_;
  std::unique_ptr<Adapter> anthropic_;
  std::unique_ptr<Adapter> gemini_;
  std::unique_ptr<Adapter> dummy_;
};

}  // namespace llmix::adapters
