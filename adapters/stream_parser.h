// Incremental parsers for the providers' streaming answers: bytes of the HTTP body in (any
// split), normalized events out. One per wire protocol, on one shared SSE framer:
//   openai_chat        `data: {chat.completion.chunk}` ... `data: [DONE]`
//                      (stream_options.include_usage: a last chunk with `usage`, no choices)
//   anthropic_messages `event: message_start|content_block_*|message_delta|message_stop|
//                      ping|error`
//   gemini             streamGenerateContent?alt=sse: one GenerateContentResponse per event
// JSON payloads are parsed only once their event is complete (so a UTF-8 character split
// across chunks is never split in a delta) and with the adapters' depth bound; an event larger
// than the limit, a payload that is not a JSON object and a stream that ends before its
// protocol's end are errors naming the protocol. A provider's in-stream error (Anthropic
// `error`, an OpenAI/Gemini chunk with `error`) is a kError event with the same error codes as
// an HTTP error. Not thread-safe: one parser per stream.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "adapters/adapter.h"
#include "adapters/sse_framer.h"
#include "common/call_error.h"
#include "common/provider_catalog.h"
#include "nlohmann/json.hpp"

namespace llmix::adapters {

enum class StreamEventKind {
  kModel,     // text: the model that answers (once, when the provider names it)
  kThinking,  // text: provider-native reasoning (reasoning_content, thinking_delta, thought)
  kContent,   // text: answer text (may still hold <think> blocks; see StreamingThinkingExtractor)
  kToolCall,  // tool_call: a tool-call delta
  kFinish,    // text: finish reason in OpenAI's terms (stop, length, tool_calls, ...)
  kUsage,     // usage: the token counts so far; a later kUsage replaces an earlier one
  kError,     // error: the provider reported an error inside the stream; nothing follows
};

std::string_view StreamEventKindName(StreamEventKind kind);

struct ToolCallDelta {
  int index = 0;          // the tool call's position in the reply: 0, 1, ...
  std::string id;         // on a call's first delta
  std::string name;       // on a call's first delta
  std::string arguments;  // a fragment of the arguments' JSON text (concatenate them)
};

struct StreamEvent {
  StreamEventKind kind = StreamEventKind::kContent;
  std::string text;
  ToolCallDelta tool_call;
  Usage usage;
  CallError error;
};

bool operator==(const StreamEvent& a, const StreamEvent& b);
std::string DebugString(const StreamEvent& e);  // one line, for tests and logs

struct StreamParserOptions {
  size_t max_event_bytes = SseFramer::kDefaultMaxEventBytes;
};

class StreamParser {
 public:
  virtual ~StreamParser() = default;

  // Appends the events completed by `bytes`. After the protocol's end event (or a kError
  // event) further bytes are ignored. An error status (DataLoss: malformed payload;
  // ResourceExhausted: event too large) ends the stream; later calls return it again.
  absl::Status Feed(std::string_view bytes, std::vector<StreamEvent>* out);
  // End of the body. Unavailable when the stream was cut before its protocol's end.
  absl::Status Finish(std::vector<StreamEvent>* out);

  // The protocol's end was seen ([DONE], message_stop, a finishReason, an error event).
  bool done() const { return done_; }
  std::string_view protocol() const { return protocol_; }

 protected:
  StreamParser(std::string provider, std::string protocol, const StreamParserOptions& options)
      : provider_(std::move(provider)),
        protocol_(std::move(protocol)),
        framer_(options.max_event_bytes) {}

  // One complete SSE event; a non-OK status ends the stream.
  virtual absl::Status OnEvent(const SseEvent& event, std::vector<StreamEvent>* out) = 0;
  // The body ended and done() is false: what was seen is enough (OK) or the stream was cut.
  virtual absl::Status OnEnd(std::vector<StreamEvent>* out) = 0;

  // The event's data as a JSON object, else a DataLoss status naming the protocol and event.
  absl::Status ParseObject(const SseEvent& event, nlohmann::json* out) const;
  absl::Status Malformed(std::string_view what) const;
  // Unavailable "<protocol> stream ended <what>", or DataLoss when no event came at all.
  absl::Status Cut(std::string_view what) const;
  // A kError event from a provider error object (`{"message", "type"|"status"|"code"}` or a
  // string), classified like an HTTP error of the status it names (numeric code) or implies
  // (type), 500 when neither.
  StreamEvent ErrorEvent(const nlohmann::json& error) const;
  void EmitModel(const nlohmann::json& model, std::vector<StreamEvent>* out);
  static void Emit(StreamEventKind kind, std::string text, std::vector<StreamEvent>* out);

  void set_done() { done_ = true; }
  size_t events_seen() const { return events_seen_; }
  const std::string& provider() const { return provider_; }

 private:
  const std::string provider_;
  const std::string protocol_;
  SseFramer framer_;
  std::vector<SseEvent> framed_;
  absl::Status failed_;
  bool done_ = false;
  bool model_sent_ = false;
  size_t events_seen_ = 0;
};

// The parser for `protocol`; `provider` (catalog name) goes into error events.
std::unique_ptr<StreamParser> MakeStreamParser(WireProtocol protocol, std::string provider,
                                               const StreamParserOptions& options = {});
std::unique_ptr<StreamParser> MakeOpenAiStreamParser(std::string provider,
                                                     const StreamParserOptions& options);
std::unique_ptr<StreamParser> MakeAnthropicStreamParser(std::string provider,
                                                        const StreamParserOptions& options);
std::unique_ptr<StreamParser> MakeGeminiStreamParser(std::string provider,
                                                     const StreamParserOptions& options);

// A failed parse (Feed/Finish status) as the call's structured error: a cut stream is
// UPSTREAM_UNREACHABLE (retryable: nothing usable arrived if it is retried before the first
// byte went to the caller), anything else UPSTREAM_BAD_RESPONSE.
CallError StreamFailure(const std::string& provider, const absl::Status& status);

}  // namespace llmix::adapters
