#include "sidecar/messages_route.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "common/canonical_json.h"
#include "common/js_json.h"
#include "pipeline/budget_ledger.h"
#include "sidecar/anthropic_mapping.h"
#include "sidecar/grpc_service.h"
#include "sidecar/openai_mapping.h"

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
  if (request->stream) {
    // The encoder (AnthropicStreamEncoder) is ready; the route waits for the streaming call
    // path (LlmixService::RunStream).
    return absl::InvalidArgumentError(
        "stream: not supported yet by the llmix-sidecar /v1/messages route; send \"stream\": "
        "false");
  }
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

void HandleMessages(LlmixService& service, const httplib::Request& req, httplib::Response& res) {
  auto request = ParseRequest(req);
  if (!request.ok()) {
    SendError(res, request.status());
    return;
  }
  pipeline::CallContext ctx;
  ctx.input = std::move(request->input);
  if (absl::Status st = service.RunAndWait(ctx, "POST /v1/messages"); !st.ok()) {
    SendError(res, st);
    return;
  }
  SetCallHeaders(ctx, res);
  TranscodingNotes& notes = request->notes;
  ProviderNotes(*request, ctx.result.provider, &notes);
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
    json message = MessageFromResult(ctx.result, request->model, id, &notes);
    res.status = 200;
    res.set_content(message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                    "application/json");
  }
  if (!notes.empty()) res.set_header("x-llmix-transcoding-notes", notes.Header());
}

}  // namespace

void SetCallHeaders(const pipeline::CallContext& ctx, httplib::Response& res) {
  const pipeline::CallResult& r = ctx.result;
  res.set_header("x-llmix-trace-id", r.trace_id);
  res.set_header("x-llmix-cache", std::string(pipeline::CacheTierName(r.cache_tier)));
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
