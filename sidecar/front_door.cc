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
    pipeline::CallContext ctx;
    ctx.input = *std::move(input);
    if (req.has_header("traceparent")) {
      ctx.input.parent = SpanContext::FromTraceparent(req.get_header_value("traceparent"));
    }
    if (absl::Status st = service_.RunAndWait(ctx, "POST /v1/chat/completions"); !st.ok()) {
      SendError(res, ErrorFromStatus(st));
      return;
    }
    res.set_header("x-llmix-trace-id", ctx.result.trace_id);
    res.set_header("x-llmix-cache", std::string(pipeline::CacheTierName(ctx.result.cache_tier)));
    if (ctx.result.semantic_similarity.has_value()) {
      res.set_header("x-llmix-semantic-similarity",
                     absl::StrFormat("%.6f", *ctx.result.semantic_similarity));
    }
    res.set_header("x-llmix-config-revision", ctx.result.config_revision);
    if (!ctx.result.provider.empty()) res.set_header("x-llmix-provider", ctx.result.provider);
    res.set_header("x-llmix-attempts", std::to_string(ctx.result.attempts));
    if (ctx.result.fallback_index != 0) {
      res.set_header("x-llmix-fallback-index", std::to_string(ctx.result.fallback_index));
    }
    if (ctx.result.cost.has_value()) {
      res.set_header("x-llmix-cost-usd", JsNumberToString(ctx.result.cost->total_usd));
    }
    if (ctx.input.json_task.has_value()) {
      res.set_header("x-llmix-json-repairs", std::to_string(ctx.result.json_repairs));
    }
    if (!ctx.status.ok()) {
      if (auto seconds = pipeline::BudgetResetSeconds(ctx.status)) {
        res.set_header("retry-after", std::to_string(*seconds));
      } else if (ctx.status.code() == absl::StatusCode::kResourceExhausted) {
        // Shed or queue full: come back shortly.
        res.set_header("retry-after", "1");
      }
      SendError(res, ErrorFromStatus(ctx.status));
      return;
    }
    if (!ctx.result.success) {
      CallError fallback;
      fallback.code = CallErrorCode::kInternal;
      fallback.message = "call failed without an error";
      const CallError& error = ctx.result.error ? *ctx.result.error : fallback;
      if (error.retry_after_ms) {
        res.set_header("retry-after", std::to_string((*error.retry_after_ms + 999) / 1000));
      }
      SendError(res, ErrorFromCallError(error));
      return;
    }
    const int64_t created = absl::ToUnixSeconds(absl::Now());
    SendJson(res, 200, ChatCompletionFromResult(ctx.result, model, created));
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

void FrontDoor::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace llmix::sidecar
