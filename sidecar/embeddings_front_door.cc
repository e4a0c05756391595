#include "sidecar/embeddings_front_door.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "adapters/wire_common.h"
#include "common/js_json.h"
#include "sidecar/embed_service.h"
#include "sidecar/grpc_service.h"
#include "sidecar/openai_mapping.h"

namespace llmix::sidecar {

namespace {

using nlohmann::json;

constexpr size_t kMaxRerankDocuments = 10000;

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                  "application/json");
}

void SendError(httplib::Response& res, const OpenAiError& error) {
  SendJson(res, error.http_status, ErrorBody(error));
}

OpenAiError BadRequest(std::string param, std::string message) {
  return {400, "invalid_request_error", "", std::move(param), std::move(message)};
}

// A failed call (success false): the error with its HTTP status and Retry-After.
void SendCallError(httplib::Response& res, const CallError& error) {
  if (error.retry_after_ms) {
    res.set_header("retry-after", std::to_string((*error.retry_after_ms + 999) / 1000));
  }
  SendError(res, ErrorFromCallError(error));
}

// model, cache-mode and timeout headers and the caller's trace context shared by both routes.
struct Common {
  pipeline::CallInput input;  // preset / config_json / cache_mode / timeout
  SpanContext parent;
};
std::optional<OpenAiError> ParseCommon(const httplib::Request& req, const json& body, Common* out) {
  if (absl::Status st = MapRequestModel(body, &out->input); !st.ok()) return ErrorFromStatus(st);
  if (absl::Status st = ApplyLlmixHeaders(req.get_header_value("x-llmix-cache-mode"),
                                          req.get_header_value("x-llmix-timeout-ms"), &out->input);
      !st.ok()) {
    return ErrorFromStatus(st);
  }
  if (req.has_header("traceparent")) {
    out->parent = SpanContext::FromTraceparent(req.get_header_value("traceparent"));
  }
  return std::nullopt;
}

absl::Time DeadlineOf(const Common& c, const EmbedService& embeddings) {
  return absl::Now() + c.input.timeout.value_or(embeddings.options().default_timeout);
}

// The body as a JSON object and its common fields (model, x-llmix-* headers), or the 400.
std::optional<OpenAiError> ParseBody(const httplib::Request& req, json* body, Common* common) {
  auto parsed = ParseJsJson(req.body);
  if (!parsed.ok()) {
    return BadRequest("body", absl::StrCat("body: invalid JSON: ", parsed.status().message()));
  }
  if (!parsed->is_object()) return BadRequest("body", "body: expected a JSON object");
  *body = *std::move(parsed);
  return ParseCommon(req, *body, common);
}

// POST /v1/embeddings
void HandleEmbeddings(LlmixService& service, const httplib::Request& req, httplib::Response& res) {
  EmbedService* embeddings = service.embed_service();
  json body;
  Common common;
  if (auto error = ParseBody(req, &body, &common)) {
    SendError(res, *error);
    return;
  }
  EmbedCall call;
  if (!body.contains("input")) {
    SendError(res, BadRequest("input", "input: required"));
    return;
  }
  const json& input = body["input"];
  if (input.is_string()) {
    call.inputs.push_back(input.get<std::string>());
  } else if (input.is_array()) {
    for (size_t i = 0; i < input.size(); ++i) {
      if (!input[i].is_string()) {
        SendError(res, BadRequest("input", absl::StrCat("input[", i,
                                                        "]: expected a string "
                                                        "(token arrays are not supported)")));
        return;
      }
      call.inputs.push_back(input[i].get<std::string>());
    }
  } else {
    SendError(res, BadRequest("input", "input: expected a string or an array of strings"));
    return;
  }
  if (call.inputs.empty()) {
    SendError(res, BadRequest("input", "input: at least one input is required"));
    return;
  }
  if (call.inputs.size() > embeddings->options().max_inputs) {
    SendError(res,
              BadRequest("input", absl::StrCat("input: ", call.inputs.size(), " inputs, at most ",
                                               embeddings->options().max_inputs)));
    return;
  }
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (call.inputs[i].empty()) {
      SendError(res, BadRequest("input", absl::StrCat("input[", i, "]: must not be empty")));
      return;
    }
  }
  if (auto d = body.find("dimensions"); d != body.end() && !d->is_null()) {
    std::optional<int64_t> dims = adapters::WholeNumber(*d);
    if (!dims || *dims <= 0 || *dims > 65536) {
      SendError(res, BadRequest("dimensions", "dimensions: expected an integer from 1 to 65536"));
      return;
    }
    call.dimensions = static_cast<int>(*dims);
  }
  bool base64 = false;
  if (auto f = body.find("encoding_format"); f != body.end() && !f->is_null()) {
    const std::string format = f->is_string() ? f->get<std::string>() : "";
    if (format != "float" && format != "base64") {
      SendError(res,
                BadRequest("encoding_format", "encoding_format: expected \"float\" or \"base64\""));
      return;
    }
    base64 = format == "base64";
  }
  call.preset = common.input.preset;
  call.config_json = common.input.config_json;
  call.cache = common.input.cache_mode;
  call.deadline = DeadlineOf(common, *embeddings);
  call.parent = common.parent;
  if (req.has_header("x-llmix-tenant")) call.tenant = req.get_header_value("x-llmix-tenant");
  EmbedResult r;
  if (absl::Status st =
          service.RunCounted([&] { r = embeddings->Run(call, "POST /v1/embeddings"); });
      !st.ok()) {
    SendError(res, ErrorFromStatus(st));
    return;
  }
  res.set_header("x-llmix-trace-id", r.trace_id);
  if (!r.status.ok()) {
    SendError(res, ErrorFromStatus(r.status));
    return;
  }
  res.set_header("x-llmix-cache", std::string(pipeline::CacheTierName(r.cache_tier)));
  res.set_header("x-llmix-cached-inputs", std::to_string(r.cached_inputs));
  res.set_header("x-llmix-provider", r.provider);
  res.set_header("x-llmix-attempts", std::to_string(r.attempts));
  if (!r.config_revision.empty()) res.set_header("x-llmix-config-revision", r.config_revision);
  if (r.error) {
    SendCallError(res, *r.error);
    return;
  }
  json data = json::array();
  for (size_t i = 0; i < r.vectors.size(); ++i) {
    json item = {{"object", "embedding"}, {"index", i}};
    // OpenAI's base64 format is the little-endian float32 bytes, as the cache stores them.
    item["embedding"] = base64 ? json(EncodeEmbedding(r.vectors[i])) : json(r.vectors[i]);
    data.push_back(std::move(item));
  }
  SendJson(res, 200,
           {{"object", "list"},
            {"data", std::move(data)},
            {"model", body["model"]},
            {"usage", {{"prompt_tokens", r.prompt_tokens}, {"total_tokens", r.prompt_tokens}}}});
}

// POST /v1/rerank
void HandleRerank(LlmixService& service, const httplib::Request& req, httplib::Response& res) {
  EmbedService* embeddings = service.embed_service();
  json body;
  Common common;
  if (auto error = ParseBody(req, &body, &common)) {
    SendError(res, *error);
    return;
  }
  const json* query = body.contains("query") ? &body["query"] : nullptr;
  if (query == nullptr || !query->is_string() || query->get_ref<const std::string&>().empty()) {
    SendError(res, BadRequest("query", "query: expected a non-empty string"));
    return;
  }
  const json* docs = body.contains("documents") ? &body["documents"] : nullptr;
  if (docs == nullptr || !docs->is_array() || docs->empty()) {
    SendError(res, BadRequest("documents", "documents: expected a non-empty array"));
    return;
  }
  if (docs->size() > kMaxRerankDocuments) {
    SendError(res,
              BadRequest("documents", absl::StrCat("documents: ", docs->size(),
                                                   " documents, at most ", kMaxRerankDocuments)));
    return;
  }
  std::vector<std::string> texts;
  for (size_t i = 0; i < docs->size(); ++i) {
    const json& d = (*docs)[i];
    if (d.is_string()) {
      texts.push_back(d.get<std::string>());
    } else if (d.is_object() && d.contains("text") && d["text"].is_string()) {
      texts.push_back(d["text"].get<std::string>());
    } else {
      SendError(res, BadRequest("documents", absl::StrCat("documents[", i,
                                                          "]: expected a string "
                                                          "or {\"text\": string}")));
      return;
    }
  }
  json upstream = {{"query", *query}, {"documents", texts}};
  if (auto t = body.find("top_n"); t != body.end() && !t->is_null()) {
    std::optional<int64_t> top_n = adapters::WholeNumber(*t);
    if (!top_n || *top_n <= 0) {
      SendError(res, BadRequest("top_n", "top_n: expected a positive integer"));
      return;
    }
    upstream["top_n"] = *top_n;
  }
  bool return_documents = false;
  if (auto rd = body.find("return_documents"); rd != body.end() && !rd->is_null()) {
    if (!rd->is_boolean()) {
      SendError(res, BadRequest("return_documents", "return_documents: expected a boolean"));
      return;
    }
    return_documents = rd->get<bool>();
    upstream["return_documents"] = return_documents;
  }
  RerankCall call;
  call.preset = common.input.preset;
  call.config_json = common.input.config_json;
  call.body = std::move(upstream);
  call.deadline = DeadlineOf(common, *embeddings);
  call.parent = common.parent;
  RerankResult r;
  if (absl::Status st = service.RunCounted([&] { r = embeddings->Rerank(call); }); !st.ok()) {
    SendError(res, ErrorFromStatus(st));
    return;
  }
  if (!r.status.ok()) {
    SendError(res, ErrorFromStatus(r.status));
    return;
  }
  res.set_header("x-llmix-provider", r.provider);
  res.set_header("x-llmix-attempts", std::to_string(r.attempts));
  if (r.error) {
    SendCallError(res, *r.error);
    return;
  }
  // One shape whatever the provider: Cohere/Jina's `relevance_score` (TEI-style `score` too),
  // documents as {text} taken from the request when the provider leaves them out.
  json results = json::array();
  for (const json& item : r.body["results"]) {
    if (!item.is_object()) continue;
    std::optional<int64_t> index =
        item.contains("index") ? adapters::WholeNumber(item["index"]) : std::nullopt;
    if (!index || *index < 0 || static_cast<size_t>(*index) >= texts.size()) continue;
    const json* score = item.contains("relevance_score") ? &item["relevance_score"]
                        : item.contains("score")         ? &item["score"]
                                                         : nullptr;
    json out = {{"index", *index},
                {"relevance_score", score != nullptr && score->is_number() ? *score : json(0)}};
    if (return_documents) out["document"] = {{"text", texts[static_cast<size_t>(*index)]}};
    results.push_back(std::move(out));
  }
  json answer = {{"results", std::move(results)}, {"model", body["model"]}};
  if (r.body.contains("usage") && r.body["usage"].is_object()) answer["usage"] = r.body["usage"];
  SendJson(res, 200, answer);
}

}  // namespace

void RegisterEmbeddingsRoutes(httplib::Server& server, LlmixService& service) {
  auto guarded =
      [&service](void (*handler)(LlmixService&, const httplib::Request&, httplib::Response&)) {
        return [&service, handler](const httplib::Request& req, httplib::Response& res) {
          if (service.embed_service() == nullptr) {
            SendError(res, {501, "api_error", "", "", "embeddings are off"});
            return;
          }
          handler(service, req, res);
        };
      };
  server.Post("/v1/embeddings", guarded(&HandleEmbeddings));
  server.Post("/v1/rerank", guarded(&HandleRerank));
}

}  // namespace llmix::sidecar
