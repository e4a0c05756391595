// A provider's HTTP response body (adapters/): the 2xx parse of one wire
// protocol, chosen at build time by LLMIX_FUZZ_PROVIDER (1 OpenAI chat, 2
// Anthropic messages, 3 Gemini), and the error-body reading every protocol
// shares (ErrorFromHttp). Any body must give a response or an error text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/wire_common.h"

#if LLMIX_FUZZ_PROVIDER == 1
#include "adapters/openai_chat_adapter.h"
using Parser = llmix::adapters::OpenAiChatAdapter;
constexpr const char *kProvider = "openai";
#elif LLMIX_FUZZ_PROVIDER == 2
#include "adapters/anthropic_messages_adapter.h"
using Parser = llmix::adapters::AnthropicMessagesAdapter;
constexpr const char *kProvider = "anthropic";
#elif LLMIX_FUZZ_PROVIDER == 3
#include "adapters/gemini_adapter.h"
using Parser = llmix::adapters::GeminiAdapter;
constexpr const char *kProvider = "google";
#else
#error "LLMIX_FUZZ_PROVIDER must be 1, 2 or 3"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view body(reinterpret_cast<const char *>(data), size);
  llmix::adapters::ProviderResponse response;
  std::string error;
  (void)Parser::ParseResponse(body, &response, &error);

  llmix::adapters::HttpResponse http;
  http.status = 400 + static_cast<int>(size % 200);
  http.body = std::string(body);
  (void)llmix::adapters::ErrorFromHttp(kProvider, http);
  return 0;
}
