// The offline responder (`--dummy-upstream`): answers every provider call locally with a
// deterministic reply derived from the request, opening no network connection. Presets stay
// real; only the HTTP exchange is replaced. Thread-safe (stateless).
#pragma once

#include "adapters/adapter.h"

namespace llmix::adapters {

class DummyAdapter final : public Adapter {
 public:
  ProviderOutcome Send(const ProviderRequest& request) override;
};

}  // namespace llmix::adapters
