#include "sidecar/messages_route.h"

#include <httplib.h>

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/canonical_json.h"
#include "common/js_json.h"
#include "pipeline/budget_ledger.h"
#include "sidecar/anthropic_mapping.h"
#include "sidecar/grpc_service.h"
#include "sidecar/openai_mapping.h"
#include "sidecar/sse_response.h"

namespace llmix::sidecar {

namespace {

using nlohmann::json;

constexpr const char* kRoute = "/v1/messages";

void SendError(httplib::Response& res, const AnthropicError& error) {
  res.status = error.http_status;
  res.set_content(
      AnthropicErrorBody(error).dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
      "application/json");
}

void SendError(httplib::Response& res, const absl::Status& status) {
  SendError(res, ToAnthropicError(ErrorFromStatus(status)));
}

// Everything a request can get wrong before the call: body, fields, x-llmix-* headers.
absl::StatusOr<MessagesRequest> ParseRequest(const httplib::Request& req) {
  auto body = ParseJsJson(req.body);
  if (!body.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: invalid JSON: ", body.status().message()));
  }
  auto request = MessagesRequestToCallInput(*body);
  if (!request.ok()) return request.status();
  pipeline::CallInput& in = request->input;
  if (absl::Status st = ApplyLlmixHeaders(req.get_header_value("x-llmix-cache-mode"),
                                          req.get_header_value("x-llmix-timeout-ms"), &in);
      !st.ok()) {
    return st;
  }
  if (req.has_header("x-llmix-priority")) {
    if (absl::Status st = ApplyPriorityHeader(req.get_header_value("x-llmix-priority"), &in);
        !st.ok()) {
      return st;
    }
  }
  if (req.has_header("x-llmix-tenant")) in.tenant = req.get_header_value("x-llmix-tenant");
  if (req.has_header("traceparent")) {
    in.parent = SpanContext::FromTraceparent(req.get_header_value("traceparent"));
  }
  return request;
}

// The answer of a finished call (or its error), with its headers and transcoding notes.
void RespondMessage(const pipeline::CallContext& ctx, MessagesRequest& request,
                    httplib::Response& res) {
  SetCallHeaders(ctx, res);
  TranscodingNotes& notes = request.notes;
  ProviderNotes(request, ctx.result.provider, &notes);
  if (!ctx.status.ok()) {
    SendError(res, ctx.status);
  } else if (!ctx.result.success) {
    CallError fallback;
    fallback.code = CallErrorCode::kInternal;
    fallback.message = "call failed without an error";
    SendError(
        res, ToAnthropicError(ErrorFromCallError(ctx.result.error ? *ctx.result.error : fallback)));
  } else {
    const std::string id =
        "msg_" + (ctx.result.trace_id.empty() ? std::to_string(absl::ToUnixMicros(absl::Now()))
                                              : ctx.result.trace_id);
    json message = MessageFromResult(ctx.result, request.model, id, &notes);
    res.status = 200;
    res.set_content(message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                    "application/json");
  }
  if (!notes.empty()) res.set_header("x-llmix-transcoding-notes", notes.Header());
}

// A `stream: true` call in flight; outlives the handler (httplib runs the content provider
// after it returned, on the same HTTP thread).
struct StreamingMessages {
  pipeline::CallContext ctx;
  std::unique_ptr<LlmixService::Stream> stream;
  std::optional<ChunkQueue::Item> first;
  std::optional<AnthropicStreamEncoder> encoder;
};

// Anthropic's SSE events (AnthropicStreamEncoder) over LlmixService::StartStream, as the chat
// route streams OpenAI chunks: an error before the first byte is a normal JSON error; the
// request-side transcoding notes are a header (provider-side ones are not known before the
// call ends, so a streamed answer cannot carry them).
void ServeMessagesStream(LlmixService& service, MessagesRequest request,
                         httplib::Response& res) {
  auto s = std::make_shared<StreamingMessages>();
  s->ctx.input = std::move(request.input);
  auto stream = service.StartStream(s->ctx, "POST /v1/messages");
  if (!stream.ok()) {
    SendError(res, stream.status());
    return;
  }
  s->stream = *std::move(stream);
  ChunkQueue::Item first;
  s->stream->Next(&first);
  if (first.final && (!first.status.ok() || !first.chunk.final().success())) {
    s->stream.reset();  // waits until the pipeline let go of the context
    RespondMessage(s->ctx, request, res);
    return;
  }
  s->first = std::move(first);
  s->encoder.emplace("msg_" + s->ctx.result.trace_id, request.model);
  res.set_header("x-llmix-trace-id", s->ctx.result.trace_id);
  if (!request.notes.empty()) res.set_header("x-llmix-transcoding-notes", request.notes.Header());
  ServeSse(res, std::move(s),
           [](StreamingMessages& m, const v1::CallStreamChunk& chunk, bool* last) {
             std::string events = m.encoder->Encode(chunk);
             *last = m.encoder->done();
             return events;
           });
}

void HandleMessages(LlmixService& service, const httplib::Request& req, httplib::Response& res) {
  auto request = ParseRequest(req);
  if (!request.ok()) {
    SendError(res, request.status());
    return;
  }
  if (request->stream) {
    ServeMessagesStream(service, *std::move(request), res);
    return;
  }
  pipeline::CallContext ctx;
  ctx.input = std::move(request->input);
  if (absl::Status st = service.RunAndWait(ctx, "POST /v1/messages"); !st.ok()) {
    SendError(res, st);
    return;
  }
  RespondMessage(ctx, *request, res);
}

}  // namespace

void SetCallHeaders(const pipeline::CallContext& ctx, httplib::Response& res) {
  const pipeline::CallResult& r = ctx.result;
  res.set_header("x-llmix-trace-id", r.trace_id);
  res.set_header("x-llmix-cache", std::string(pipeline::CacheTierName(r.cache_tier)));
  if (r.semantic_similarity.has_value()) {
    res.set_header("x-llmix-semantic-similarity", absl::StrFormat("%.6f", *r.semantic_similarity));
  }
  res.set_header("x-llmix-config-revision", r.config_revision);
  if (!r.provider.empty()) res.set_header("x-llmix-provider", r.provider);
  res.set_header("x-llmix-attempts", std::to_string(r.attempts));
  if (r.fallback_index != 0) {
    res.set_header("x-llmix-fallback-index", std::to_string(r.fallback_index));
  }
  if (r.cost.has_value()) res.set_header("x-llmix-cost-usd", JsNumberToString(r.cost->total_usd));
  if (ctx.input.json_task.has_value()) {
    res.set_header("x-llmix-json-repairs", std::to_string(r.json_repairs));
  }
  if (!ctx.status.ok()) {
    if (auto seconds = pipeline::BudgetResetSeconds(ctx.status)) {
      res.set_header("retry-after", std::to_string(*seconds));
    } else if (ctx.status.code() == absl::StatusCode::kResourceExhausted) {
      res.set_header("retry-after", "1");  // shed or queue full: come back shortly
    }
  } else if (!r.success && r.error && r.error->retry_after_ms) {
    res.set_header("retry-after", std::to_string((*r.error->retry_after_ms + 999) / 1000));
  }
}

bool AcceptsXApiKey(const std::string& path) { return path == kRoute; }

void SendAnthropicUnauthorized(httplib::Response& res) {
  SendError(res, AnthropicError{401, "authentication_error",
                                "missing or wrong token (x-api-key: <token> or authorization: "
                                "Bearer <token>)"});
}

void AddMessagesRoute(httplib::Server& server, LlmixService& service) {
  server.Post(kRoute, [&service](const httplib::Request& req, httplib::Response& res) {
    HandleMessages(service, req, res);
  });
}

}  // namespace llmix::sidecar
