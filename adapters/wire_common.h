// What the three wire protocols share: the HTTP exchange skeleton (post, classify, redact,
// parse), the structured error from a provider's error body, LLMix's system-message rule,
// and message-part helpers. Stateless; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/adapter.h"
#include "adapters/http_transport.h"
#include "nlohmann/json.hpp"

namespace llmix::adapters {

// LLMix dispatch rule (CONTRACT §10): system messages (string content only, else an error
// naming the message) are joined with "\n\n" into one instruction text; the other messages
// keep their order. `has_system` is false when there was no system message.
struct SystemSplit {
  bool has_system = false;
  std::string system;
  std::vector<const nlohmann::json*> rest;
};
absl::StatusOr<SystemSplit> SplitSystemMessages(const nlohmann::json* messages);

// A message field read either as OpenAI snake_case or as the AI SDK's camelCase spelling
// (`tool_calls`/`toolCalls`, `tool_call_id`/`toolCallId`); nullptr when absent or null.
const nlohmann::json* MessageField(const nlohmann::json& message, std::string_view snake,
                                   std::string_view camel);

// An image given as an OpenAI `image_url` part: either inline base64 (`data:` URL) or a URL.
struct ImageRef {
  bool inline_data = false;
  std::string media_type;  // "image/png"; for URLs guessed from the extension, may be empty
  std::string data;        // base64 payload (inline) or the URL
};
absl::StatusOr<ImageRef> ParseImagePart(const nlohmann::json& part, const std::string& field);

// The parts of an OpenAI message `content` (a string, null, or an array of parts), turned into
// a protocol's items: `text` for text (a non-empty string content is one text part), `image`
// for `image_url` parts. Other part types are refused, naming the part and `protocol`.
struct PartConverters {
  std::function<nlohmann::json(const std::string& text)> text;
  std::function<absl::StatusOr<nlohmann::json>(const ImageRef& image, const std::string& field)> image;
};
absl::StatusOr<nlohmann::json> ConvertContentParts(const nlohmann::json& content, const std::string& field,
                                                   std::string_view protocol, const PartConverters& convert);

// How deeply JSON text from a caller or a provider may nest (arrays and objects) before an
// adapter parses it. nlohmann's parser is iterative, but copying and dumping a value recurse:
// a 1,000,000-level document (2 MB of brackets) would be built (~100 MB) and then overflow the
// stack when serialized. Far above any real tool schema or response.
constexpr int kMaxJsonNesting = 128;

// True when `text` nests arrays/objects deeper than `max_depth` (brackets inside strings do not
// count). A linear scan that allocates nothing; it does not validate the JSON.
bool JsonNestedDeeperThan(std::string_view text, int max_depth = kMaxJsonNesting);

// json::parse without exceptions: the discarded value for invalid text and for text nested
// deeper than kMaxJsonNesting (never built).
nlohmann::json ParseJsonBounded(std::string_view text);

// An OpenAI tool call's function arguments as an object (JSON text or an object; {} else).
// Arguments text nested deeper than kMaxJsonNesting is an InvalidArgument error naming
// `field` (the tool call, e.g. "messages[1].tool_calls[0]") + ".function.arguments".
absl::StatusOr<nlohmann::json> ToolCallArguments(const nlohmann::json& call,
                                                 const std::string& field);

// Appends a turn {"role", items_key: items}, merged into the previous turn when the role
// repeats (Anthropic and Gemini want alternating roles); empty `items` add nothing.
void AppendTurn(nlohmann::json& turns, const std::string& role, nlohmann::json items,
                const char* items_key);

// `base` without trailing slashes, then `path`.
std::string JoinUrl(std::string_view base, std::string_view path);

// Transport failure or non-2xx answer -> structured error: the provider's message and type
// from `{"error": {"message", "type"|"status"|"code"}}` bodies (OpenAI, Anthropic, Gemini).
CallError ErrorFromHttp(const std::string& provider, const HttpResponse& response);

// The body of one exchange: POST `body` to `url` with `headers`; a transport failure or
// non-2xx gives the structured error; otherwise `parse` fills the response (returning false
// with an error text for an unusable body). Any occurrence of `api_key` is redacted from
// error messages. `default_model` fills an empty response model.
using ResponseParser = std::function<bool(std::string_view body, ProviderResponse* out,
                                          std::string* error)>;
ProviderOutcome Exchange(HttpTransport& transport, const ProviderRequest& request,
                         std::string url, std::vector<std::pair<std::string, std::string>> headers,
                         nlohmann::json body, const ResponseParser& parse);

// Exchange for a streamed answer: POSTs `body` (the protocol's streaming request) and parses
// the SSE body with MakeStreamParser(protocol) as it arrives, handing each event to `sink`
// and collecting the whole answer into the outcome (content, reasoning, tool calls by index,
// finish reason, usage, model). A non-2xx answer is the usual structured error; a stream cut,
// malformed or stalled (no bytes for request.stream_idle_timeout, or past request.timeout)
// ends with StreamFailure / UPSTREAM_TIMEOUT; an in-stream provider error is that error.
// Errors are redacted as in Exchange.
ProviderOutcome ExchangeStream(HttpTransport& transport, const ProviderRequest& request,
                               WireProtocol protocol, std::string url,
                               std::vector<std::pair<std::string, std::string>> headers,
                               nlohmann::json body, StreamEventSink& sink,
                               StreamCancellation* cancel);

// A local error (bad request shape for this protocol) as an outcome: INVALID_REQUEST, not
// retryable, no HTTP exchange made.
ProviderOutcome InvalidRequest(const ProviderRequest& request, std::string message);

// A JSON number with a whole value (1024 or 1024.0) as int64; nullopt otherwise.
std::optional<int64_t> WholeNumber(const nlohmann::json& v);

// obj[key] as int64 when it is a number (floats truncated), else 0; 0 too for a number outside
// int64's range (e.g. a usage count of 1e26).
int64_t IntField(const nlohmann::json& obj, const char* key);
// obj[key] when it is a string, else "" (json::value would throw for another type: a provider
// body must never be able to throw out of a parser).
std::string StrField(const nlohmann::json& obj, const char* key);

// a + b, saturated at the int64 limits (token counts come from provider bodies).
int64_t SaturatingAdd(int64_t a, int64_t b);

}  // namespace llmix::adapters
