// Maps the Anthropic Messages wire format to the pipeline and back, for the HTTP front door's
// POST /v1/messages: an Anthropic request body -> CallInput (through the same OpenAI-shaped
// LLMix messages every adapter already speaks), a CallResult -> a `message` object, failures
// -> Anthropic's error shape, and CallStream chunks -> Anthropic's SSE events. What cannot be
// carried across is collected as short notes (README "/v1/messages (Anthropic format)") for
// the x-llmix-transcoding-notes header. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/provider_catalog.h"
#include "llmix/sidecar/v1/sidecar.pb.h"
#include "nlohmann/json.hpp"
#include "pipeline/call_context.h"
#include "sidecar/openai_mapping.h"

namespace llmix::sidecar {

// What was lost in translation: "field: why" entries, deduplicated, at most kMaxNotes (then a
// last "+N more" entry), so the header stays short whatever the request holds.
class TranscodingNotes {
 public:
  static constexpr size_t kMaxNotes = 16;
  void Add(std::string note);
  const std::vector<std::string>& list() const { return notes_; }
  bool empty() const { return notes_.empty() && dropped_ == 0; }
  // "a; b; c" for the x-llmix-transcoding-notes header.
  std::string Header() const;

 private:
  std::vector<std::string> notes_;
  size_t dropped_ = 0;
};

// A POST /v1/messages body, mapped.
struct MessagesRequest {
  pipeline::CallInput input;
  std::string model;    // as the caller named it (echoed in the response)
  bool stream = false;  // `stream: true`; the route decides whether it can serve it
  // Asked-for features whose fate depends on the provider that serves the call (known after
  // the call: a preset may fall back to another provider); see ProviderNotes.
  bool top_k = false;
  bool thinking_budget = false;
  TranscodingNotes notes;  // request-side losses known before the call
};

// The Anthropic request body -> pipeline input. `model` follows the chat completions rules
// ("module/preset" or "provider:model"); `max_tokens` is required. Errors are
// INVALID_ARGUMENT "<field>: why" naming the Anthropic field (NOT_FOUND for an unknown
// provider).
absl::StatusOr<MessagesRequest> MessagesRequestToCallInput(const nlohmann::json& body);

// Notes for the request features the serving provider's protocol cannot honour (top_k on an
// OpenAI-protocol provider, ...). `provider` is CallResult.provider; unknown names add none.
void ProviderNotes(const MessagesRequest& request, std::string_view provider,
                   TranscodingNotes* notes);

// "end_turn" | "max_tokens" | "tool_use" | "refusal" for an LLMix finish reason.
std::string StopReason(std::string_view finish_reason, bool has_tool_calls);

// A finished call (status OK, result success) -> the Anthropic `message` object. `id` is the
// message id ("msg_..."). Tool arguments that are not a JSON object, and thinking blocks
// (whose signature is not kept), add notes.
nlohmann::json MessageFromResult(const pipeline::CallResult& result, const std::string& model,
                                 const std::string& id, TranscodingNotes* notes);

// An OpenAI-shaped front-door error (ErrorFromStatus / ErrorFromCallError) in Anthropic's
// terms: same HTTP status, Anthropic's error type.
struct AnthropicError {
  int http_status = 500;
  std::string type;  // invalid_request_error | authentication_error | rate_limit_error | ...
  std::string message;
};
AnthropicError ToAnthropicError(const OpenAiError& error);
// {"type":"error","error":{"type":...,"message":...}}
nlohmann::json AnthropicErrorBody(const AnthropicError& error);

// Turns the CallStream chunk sequence of one call into Anthropic's SSE events: message_start,
// then per content block content_block_start / content_block_delta (text_delta,
// thinking_delta, input_json_delta) / content_block_stop, then message_delta (stop_reason,
// usage) and message_stop — or an `error` event when the final response is a failure. Each
// Encode returns the bytes to write ("event: x\ndata: {...}\n\n" per event). A final response
// with no deltas before it (a cache hit) is sent as whole blocks. One instance per stream;
// not thread-safe.
class AnthropicStreamEncoder {
 public:
  AnthropicStreamEncoder(std::string id, std::string model);

  std::string Encode(const ::llmix::sidecar::v1::CallStreamChunk& chunk);
  // True once the final chunk was encoded (later chunks encode to nothing).
  bool done() const { return done_; }

 private:
  enum class Block { kNone, kText, kThinking, kToolUse };
  void Start(std::string& out);
  void Open(std::string& out, Block kind, const nlohmann::ordered_json& content_block);
  void Close(std::string& out);
  void Delta(std::string& out, const nlohmann::ordered_json& delta);
  void Final(std::string& out, const ::llmix::sidecar::v1::CallResponse& response);

  std::string id_;
  std::string model_;
  bool started_ = false;
  bool done_ = false;
  bool any_delta_ = false;
  Block open_ = Block::kNone;
  int open_tool_ = -1;  // ToolCallDelta.index of the open tool_use block
  int next_index_ = 0;  // Anthropic content block index of the next block
};

}  // namespace llmix::sidecar
