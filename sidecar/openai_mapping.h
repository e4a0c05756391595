// Maps the OpenAI Chat Completions wire format to the pipeline and back, for the HTTP front
// door: an OpenAI request body -> CallInput, a CallResult -> a `chat.completion` object, and
// every failure -> OpenAI's error shape with its HTTP status. Pure functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "pipeline/call_context.h"
#include "registry/snapshot.h"

namespace llmix::sidecar {

// An error as OpenAI reports it: HTTP status + {"error":{message,type,param,code}}.
struct OpenAiError {
  int http_status = 500;
  std::string type;     // invalid_request_error | authentication_error | rate_limit_error | ...
  std::string code;     // e.g. model_not_found; empty: null
  std::string param;    // the offending request field; empty: null
  std::string message;
};

// The request body of POST /v1/chat/completions -> pipeline input. `model` is a preset
// ("module/preset") or a raw provider model ("provider:model"). Honoured: messages,
// temperature, top_p, max_tokens / max_completion_tokens, presence_penalty, frequency_penalty,
// seed, stop, tools, tool_choice, response_format. Errors name the field; n > 1 is refused
// (INVALID_ARGUMENT); an unknown provider is NOT_FOUND. `stream` is read by
// ChatStreamRequested.
absl::StatusOr<pipeline::CallInput> ChatRequestToCallInput(const nlohmann::json& body);

// The body's `model` ("module/preset" or "provider:model") -> `out->preset` or
// `out->config_json`, with ChatRequestToCallInput's errors (for /v1/embeddings and /v1/rerank).
absl::Status MapRequestModel(const nlohmann::json& body, pipeline::CallInput* out);

// `stream` and `stream_options.include_usage` of a chat request (both default false); a value
// of the wrong type is INVALID_ARGUMENT naming the field.
struct ChatStreamOptions {
  bool stream = false;
  bool include_usage = false;
};
absl::StatusOr<ChatStreamOptions> ChatStreamRequested(const nlohmann::json& body);

// Pieces of a streamed answer (`stream: true`): one `chat.completion.chunk` object with
// `choices` (ChatChunkChoice, or [] for the usage chunk), and OpenAI's `usage` object.
nlohmann::json ChatCompletionChunk(const std::string& id, const std::string& model,
                                   int64_t created, nlohmann::json choices);
nlohmann::json ChatChunkChoice(nlohmann::json delta, nlohmann::json finish_reason);
nlohmann::json ChatUsageJson(const adapters::Usage& usage);

// The front door's own request headers: `x-llmix-cache-mode` (default | bypass | refresh) and
// `x-llmix-timeout-ms` (a positive integer: the call's deadline, as a gRPC deadline would be).
// Empty values are ignored; bad ones are INVALID_ARGUMENT naming the header.
absl::Status ApplyLlmixHeaders(const std::string& cache_mode, const std::string& timeout_ms,
                               pipeline::CallInput* in);

// `x-llmix-priority`: critical | high | normal | low (case-insensitive); anything else is
// INVALID_ARGUMENT naming the header.
absl::Status ApplyPriorityHeader(const std::string& value, pipeline::CallInput* in);

// A finished call (status OK, result success) -> the `chat.completion` object. `model` is the
// name the caller asked for; `created` the Unix time in seconds.
nlohmann::json ChatCompletionFromResult(const pipeline::CallResult& result,
                                        const std::string& model, int64_t created);

// A call refused or failed before an answer (non-OK status) -> OpenAI error.
OpenAiError ErrorFromStatus(const absl::Status& status);
// A call that reached the provider and failed (result.success false) -> OpenAI error.
OpenAiError ErrorFromCallError(const CallError& error);

// {"error":{...}} for `error`.
nlohmann::json ErrorBody(const OpenAiError& error);

// GET /v1/models: every preset of `snapshot` as an OpenAI model object, sorted by id.
nlohmann::json ModelList(const registry::Snapshot& snapshot);

}  // namespace llmix::sidecar
