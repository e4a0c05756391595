#include "sidecar/front_door.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/canonical_json.h"
#include "common/js_json.h"
#include "pipeline/budget_ledger.h"
#include "sidecar/admin_server.h"
#include "sidecar/embeddings_front_door.h"
#include "sidecar/grpc_service.h"
#include "sidecar/messages_route.h"
#include "sidecar/openai_mapping.h"
#include "sidecar/sse_response.h"
#include "sidecar/worker_pool.h"

namespace llmix::sidecar {

namespace {

using nlohmann::json;

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

void SendError(httplib::Response& res, const OpenAiError& error) {
  SendJson(res, error.http_status, ErrorBody(error));
}

// httplib's connection threads (a keep-alive connection holds one for its life), started on
// demand as the worker threads are: an idle front door costs no threads.
class OnDemandTaskQueue final : public httplib::TaskQueue {
 public:
  explicit OnDemandTaskQueue(int threads) : pool_(threads, 0) {}
  // The pool's never-refused lane: connections beyond the limit wait for a thread, as with
  // httplib's own ThreadPool.
  void enqueue(std::function<void()> fn) override {
    pool_.Submit([fn = std::move(fn)]() mutable { fn(); });
  }
  void shutdown() override { pool_.Shutdown(); }

 private:
  WorkerPool pool_;
};

// The answer of a finished call (or its error, with the status codes of the unary path).
void RespondUnary(const pipeline::CallContext& ctx, const std::string& model,
                  httplib::Response& res) {
  SetCallHeaders(ctx, res);  // x-llmix-* and retry-after, as /v1/messages sends them
  if (!ctx.status.ok()) {
    SendError(res, ErrorFromStatus(ctx.status));
    return;
  }
  if (!ctx.result.success) {
    CallError fallback;
    fallback.code = CallErrorCode::kInternal;
    fallback.message = "call failed without an error";
    const CallError& error = ctx.result.error ? *ctx.result.error : fallback;
    SendError(res, ErrorFromCallError(error));
    return;
  }
  const int64_t created = absl::ToUnixSeconds(absl::Now());
  SendJson(res, 200, ChatCompletionFromResult(ctx.result, model, created));
}

// A `stream: true` call in flight: the context outlives the handler (the content provider
// runs after it returned, on the same HTTP thread) and the stream is read from there.
struct StreamingChat {
  pipeline::CallContext ctx;
  std::unique_ptr<LlmixService::Stream> stream;
  std::optional<ChunkQueue::Item> first;  // read by the handler to pick JSON error vs SSE
  std::string id;
  std::string model;
  int64_t created = 0;
  bool include_usage = false;
  bool role_sent = false;
};

void WriteEvent(std::string& out, const json& data) {
  absl::StrAppend(&out, "data: ", data.dump(-1, ' ', false, json::error_handler_t::replace),
                  "\n\n");
}

// One chunk of the call as OpenAI SSE events appended to `sink`; true when it was the last.
bool WriteChunk(StreamingChat& s, const v1::CallStreamChunk& chunk, std::string& sink) {
  auto delta_event = [&](json delta) {
    if (!s.role_sent) {
      delta["role"] = "assistant";
      s.role_sent = true;
    }
    WriteEvent(sink, ChatCompletionChunk(s.id, s.model, s.created,
                                         ChatChunkChoice(std::move(delta), nullptr)));
  };
  switch (chunk.chunk_case()) {
    case v1::CallStreamChunk::kContentDelta:
      delta_event({{"content", chunk.content_delta()}});
      return false;
    case v1::CallStreamChunk::kThinkingDelta:
      // DeepSeek's field for reasoning text; OpenAI clients ignore it.
      delta_event({{"reasoning_content", chunk.thinking_delta()}});
      return false;
    case v1::CallStreamChunk::kToolCallDelta: {
      const v1::ToolCallDelta& t = chunk.tool_call_delta();
      json call = {{"index", t.index()}};
      if (!t.id().empty()) call["id"] = t.id();
      if (!t.id().empty() || !t.name().empty()) call["type"] = "function";
      json fn = {{"arguments", t.arguments_delta()}};
      if (!t.name().empty()) fn["name"] = t.name();
      call["function"] = std::move(fn);
      delta_event({{"tool_calls", json::array({std::move(call)})}});
      return false;
    }
    case v1::CallStreamChunk::kFinal:
      break;
    default:
      return false;
  }
  const v1::CallResponse& r = chunk.final();
  if (!r.success()) {
    // The stream broke after the first delta: OpenAI's in-stream error object, no [DONE].
    CallError error;
    error.code = static_cast<CallErrorCode>(r.error().code());
    error.message = r.error().message();
    WriteEvent(sink, ErrorBody(ErrorFromCallError(error)));
    return true;
  }
  if (!s.role_sent) delta_event({{"content", ""}});
  std::string finish = r.finish_reason();
  if (finish.empty()) finish = r.tool_calls().empty() ? "stop" : "tool_calls";
  WriteEvent(sink, ChatCompletionChunk(s.id, s.model, s.created,
                                       ChatChunkChoice(json::object(), finish)));
  if (s.include_usage) {
    adapters::Usage u;
    u.input_tokens = r.usage().input_tokens();
    u.output_tokens = r.usage().output_tokens();
    u.total_tokens = r.usage().total_tokens();
    if (r.usage().has_cached_input_tokens()) u.cached_input_tokens = r.usage().cached_input_tokens();
    if (r.usage().has_reasoning_tokens()) u.reasoning_tokens = r.usage().reasoning_tokens();
    json usage_chunk = ChatCompletionChunk(s.id, s.model, s.created, json::array());
    usage_chunk["usage"] = ChatUsageJson(u);
    WriteEvent(sink, usage_chunk);
  }
  sink.append("data: [DONE]\n\n");
  return true;
}

}  // namespace

FrontDoor::FrontDoor(LlmixService& service, pipeline::PipelineState& state, const BearerAuth& auth,
                     int threads)
    : service_(service), state_(state), auth_(auth), server_(std::make_unique<httplib::Server>()) {
  const int n = std::max(threads, 1);
  server_->new_task_queue = [n] { return new OnDemandTaskQueue(n); };
}

FrontDoor::~FrontDoor() { Stop(); }

absl::StatusOr<std::string> FrontDoor::Start(const std::string& address) {
  server_->set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default; with its small listen
  // backlog, clients reconnecting under load then hit dropped SYNs and a 1 s retransmit
  // (seen as ~1.03 s max latency in bench/run.sh). Keep connections for as long as clients do.
  server_->set_keep_alive_max_count(1000000);
  server_->set_payload_max_length(static_cast<size_t>(state_.options.max_request_bytes) * 2);
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (auth_.Allows(req.get_header_value("Authorization"))) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (AcceptsXApiKey(req.path)) {  // Anthropic clients send their key as x-api-key
      if (req.has_header("x-api-key") &&
          auth_.Allows("Bearer " + req.get_header_value("x-api-key"))) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      SendAnthropicUnauthorized(res);
      return httplib::Server::HandlerResponse::Handled;
    }
    SendError(res, {401, "authentication_error", "invalid_api_key", "",
                    "missing or wrong bearer token (authorization: Bearer <token>)"});
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, ModelList(*state_.snapshots.Get()));
  });
  AddMessagesRoute(*server_, service_);
  server_->Post("/v1/chat/completions", [this](const httplib::Request& req,
                                               httplib::Response& res) {
    auto body = ParseJsJson(req.body);
    if (!body.ok()) {
      SendError(res, {400, "invalid_request_error", "", "body",
                      absl::StrCat("body: invalid JSON: ", body.status().message())});
      return;
    }
    auto input = ChatRequestToCallInput(*body);
    if (input.ok()) {
      if (absl::Status st = ApplyLlmixHeaders(req.get_header_value("x-llmix-cache-mode"),
                                              req.get_header_value("x-llmix-timeout-ms"), &*input);
          !st.ok()) {
        input = st;
      }
    }
    if (input.ok() && req.has_header("x-llmix-priority")) {
      if (absl::Status st = ApplyPriorityHeader(req.get_header_value("x-llmix-priority"), &*input);
          !st.ok()) {
        input = st;
      }
    }
    if (!input.ok()) {
      SendError(res, ErrorFromStatus(input.status()));
      return;
    }
    if (req.has_header("x-llmix-tenant")) input->tenant = req.get_header_value("x-llmix-tenant");
    const std::string model = (*body)["model"].get<std::string>();
    if (ChatStreamOptions so = *ChatStreamRequested(*body); so.stream) {
      ServeStream(req, res, *std::move(input), model, so.include_usage);
      return;
    }
    pipeline::CallContext ctx;
    ctx.input = *std::move(input);
    if (req.has_header("traceparent")) {
      ctx.input.parent = SpanContext::FromTraceparent(req.get_header_value("traceparent"));
    }
    if (absl::Status st = service_.RunAndWait(ctx, "POST /v1/chat/completions"); !st.ok()) {
      SendError(res, ErrorFromStatus(st));
      return;
    }
    RespondUnary(ctx, model, res);
  });
  RegisterEmbeddingsRoutes(*server_, service_);  // POST /v1/embeddings, POST /v1/rerank
  server_->set_error_handler([this](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {  // httplib refused the body while reading it
      SendError(res, {413, "invalid_request_error", "request_too_large", "body",
                      absl::StrCat("body: larger than ",
                                   static_cast<int64_t>(state_.options.max_request_bytes) * 2,
                                   " bytes (twice --max-request-bytes)")});
      return;
    }
    SendError(res, {res.status, res.status == 404 ? "invalid_request_error" : "api_error",
                    res.status == 404 ? "unknown_url" : "", "",
                    absl::StrCat("HTTP ", res.status)});
  });
  return ListenInBackground(*server_, address, "--http-listen", &thread_);
}

void FrontDoor::ServeStream(const httplib::Request& req, httplib::Response& res,
                            pipeline::CallInput input, const std::string& model,
                            bool include_usage) {
  auto s = std::make_shared<StreamingChat>();
  s->ctx.input = std::move(input);
  if (req.has_header("traceparent")) {
    s->ctx.input.parent = SpanContext::FromTraceparent(req.get_header_value("traceparent"));
  }
  auto stream = service_.StartStream(s->ctx, "POST /v1/chat/completions");
  if (!stream.ok()) {
    SendError(res, ErrorFromStatus(stream.status()));
    return;
  }
  s->stream = *std::move(stream);
  // Errors before the first byte are answered as the unary path answers them.
  ChunkQueue::Item first;
  s->stream->Next(&first);
  if (first.final && (!first.status.ok() || !first.chunk.final().success())) {
    s->stream.reset();  // waits until the pipeline let go of the context
    RespondUnary(s->ctx, model, res);
    return;
  }
  s->first = std::move(first);
  s->model = model;
  s->include_usage = include_usage;
  s->created = absl::ToUnixSeconds(absl::Now());
  s->id = "chatcmpl-" + s->ctx.result.trace_id;  // set before the pipeline started
  res.set_header("x-llmix-trace-id", s->ctx.result.trace_id);
  ServeSse(res, std::move(s),
           [](StreamingChat& chat, const v1::CallStreamChunk& chunk, bool* last) {
             std::string events;
             *last = WriteChunk(chat, chunk, events);
             return events;
           });
}

void FrontDoor::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace llmix::sidecar
