#include "sidecar/openai_mapping.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/provider_catalog.h"
#include "pipeline/budget_ledger.h"

namespace llmix::sidecar {

namespace {

using nlohmann::json;

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// OpenAI numeric sampling fields -> LLMix `common` names.
struct NumberField {
  const char* openai;
  const char* llmix;
};
constexpr NumberField kNumberFields[] = {
    {"temperature", "temperature"},
    {"top_p", "topP"},
    {"presence_penalty", "presencePenalty"},
    {"frequency_penalty", "frequencyPenalty"},
    {"seed", "seed"},
    {"max_tokens", "maxOutputTokens"},
    {"max_completion_tokens", "maxOutputTokens"},  // wins over max_tokens (listed later)
};

absl::Status MapModel(const json& body, pipeline::CallInput* out) {
  if (!body.contains("model")) return Invalid("model", "required");
  if (!body["model"].is_string() || body["model"].get_ref<const std::string&>().empty()) {
    return Invalid("model", "expected a non-empty string (\"module/preset\" or \"provider:model\")");
  }
  const std::string& model = body["model"].get_ref<const std::string&>();
  const auto colon = model.find(':');
  if (colon == std::string::npos) {
    out->preset = model;
    return absl::OkStatus();
  }
  const std::string provider = model.substr(0, colon);
  const std::string name = model.substr(colon + 1);
  if (FindProvider(provider) == nullptr) {
    return absl::NotFoundError(absl::StrCat("model: unknown provider \"", provider,
                                            "\" in \"", model, "\""));
  }
  if (name.empty()) return Invalid("model", "empty model name after \"" + provider + ":\"");
  out->config_json = json{{"provider", provider}, {"model", name}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  return absl::OkStatus();
}

absl::Status MapMessages(const json& body, pipeline::CallInput* out) {
  if (!body.contains("messages")) return Invalid("messages", "required");
  const json& messages = body["messages"];
  if (!messages.is_array()) return Invalid("messages", "expected an array");
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string at = absl::StrCat("messages[", i, "]");
    if (!m.is_object()) return Invalid(at, "expected an object");
    if (!m.contains("role") || !m["role"].is_string()) {
      return Invalid(at + ".role", "expected a string");
    }
  }
  out->messages = messages;  // OpenAI messages are LLMix messages
  return absl::OkStatus();
}

absl::Status MapSampling(const json& body, pipeline::CallInput* out) {
  json common = json::object();
  for (const NumberField& f : kNumberFields) {
    if (!body.contains(f.openai) || body[f.openai].is_null()) continue;
    if (!body[f.openai].is_number()) return Invalid(f.openai, "expected a number");
    common[f.llmix] = body[f.openai];
  }
  if (body.contains("stop") && !body["stop"].is_null()) {
    const json& stop = body["stop"];
    if (stop.is_string()) {
      common["stopSequences"] = json::array({stop});
    } else if (stop.is_array() &&
               std::all_of(stop.begin(), stop.end(), [](const json& s) { return s.is_string(); })) {
      common["stopSequences"] = stop;
    } else {
      return Invalid("stop", "expected a string or an array of strings");
    }
  }
  if (!common.empty()) out->common_overrides = std::move(common);
  return absl::OkStatus();
}

// response_format {"type":"json_schema","json_schema":{"schema":{...}}} is also a JSON task
// (the response_format itself is still sent to the provider); without a schema it is not.
absl::Status MapJsonSchemaTask(const json& format, pipeline::CallInput* out) {
  auto type = format.find("type");
  if (type == format.end() || *type != "json_schema") return absl::OkStatus();
  auto spec = format.find("json_schema");
  if (spec == format.end() || !spec->is_object()) {
    return Invalid("response_format.json_schema", "expected an object");
  }
  auto schema = spec->find("schema");
  if (schema == spec->end() || schema->is_null()) return absl::OkStatus();
  pipeline::JsonTaskInput task;
  task.schema_json = schema->dump(-1, ' ', false, json::error_handler_t::replace);
  task.field = "response_format.json_schema.schema";
  out->json_task = std::move(task);
  return absl::OkStatus();
}

absl::Status MapTools(const json& body, pipeline::CallInput* out) {
  if (body.contains("tools") && !body["tools"].is_null()) {
    const json& tools = body["tools"];
    if (!tools.is_array()) return Invalid("tools", "expected an array");
    for (size_t i = 0; i < tools.size(); ++i) {
      const json& t = tools[i];
      const std::string at = absl::StrCat("tools[", i, "]");
      if (!t.is_object() || !t.contains("function") || !t["function"].is_object()) {
        return Invalid(at + ".function", "expected an object");
      }
      const json& fn = t["function"];
      if (!fn.contains("name") || !fn["name"].is_string() ||
          fn["name"].get_ref<const std::string&>().empty()) {
        return Invalid(at + ".function.name", "required");
      }
    }
    if (!tools.empty()) out->tools = tools;
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const json& choice = body["tool_choice"];
    if (choice.is_string()) {
      const std::string& mode = choice.get_ref<const std::string&>();
      if (mode != "auto" && mode != "none" && mode != "required") {
        return Invalid("tool_choice", "expected \"auto\", \"none\", \"required\" or an object");
      }
    } else if (!choice.is_object() || !choice.contains("function") ||
               !choice["function"].is_object() || !choice["function"].contains("name") ||
               !choice["function"]["name"].is_string()) {
      return Invalid("tool_choice", "expected {\"type\":\"function\",\"function\":{\"name\":...}}");
    }
    out->tool_choice = choice;
  }
  if (body.contains("response_format") && !body["response_format"].is_null()) {
    if (!body["response_format"].is_object()) return Invalid("response_format", "expected an object");
    out->response_format_json =
        body["response_format"].dump(-1, ' ', false, json::error_handler_t::replace);
    if (absl::Status st = MapJsonSchemaTask(body["response_format"], out); !st.ok()) return st;
  }
  return absl::OkStatus();
}

std::string ErrorTypeForStatus(int http_status) {
  switch (http_status) {
    case 400: case 404: case 409: case 413: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 504: return "timeout";
    default: return http_status >= 500 ? "api_error" : "invalid_request_error";
  }
}

// "field: why" -> "field" when the prefix looks like a field path (no spaces).
std::string ParamOf(const std::string& message) {
  const auto colon = message.find(": ");
  if (colon == std::string::npos || colon == 0) return "";
  std::string prefix = message.substr(0, colon);
  if (prefix.find(' ') != std::string::npos) return "";
  return prefix;
}

}  // namespace

absl::StatusOr<pipeline::CallInput> ChatRequestToCallInput(const json& body) {
  if (!body.is_object()) return Invalid("body", "expected a JSON object");
  if (auto st = ChatStreamRequested(body); !st.ok()) return st.status();
  if (body.contains("n") && !body["n"].is_null() &&
      !(body["n"].is_number() && body["n"].get<double>() == 1)) {
    return Invalid("n", "only n = 1 is supported");
  }
  pipeline::CallInput in;
  for (auto step : {MapModel, MapMessages, MapSampling, MapTools}) {
    if (absl::Status st = step(body, &in); !st.ok()) return st;
  }
  in.request_bytes = body.dump(-1, ' ', false, json::error_handler_t::replace).size();
  return in;
}

absl::Status ApplyLlmixHeaders(const std::string& cache_mode, const std::string& timeout_ms,
                               pipeline::CallInput* in) {
  if (cache_mode == "bypass") {
    in->cache_mode = pipeline::CacheMode::kBypass;
  } else if (cache_mode == "refresh") {
    in->cache_mode = pipeline::CacheMode::kRefresh;
  } else if (!cache_mode.empty() && cache_mode != "default") {
    return Invalid("x-llmix-cache-mode", "expected default, bypass or refresh");
  }
  if (!timeout_ms.empty()) {
    int64_t ms = 0;
    if (!absl::SimpleAtoi(timeout_ms, &ms) || ms <= 0) {
      return Invalid("x-llmix-timeout-ms", "expected a positive integer");
    }
    in->timeout = absl::Milliseconds(ms);
  }
  return absl::OkStatus();
}

absl::Status ApplyPriorityHeader(const std::string& value, pipeline::CallInput* in) {
  std::optional<Priority> p = ParsePriority(absl::AsciiStrToLower(value));
  if (!p.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("x-llmix-priority: must be critical, high, normal or low, got \"",
                     value.substr(0, 32), "\""));
  }
  in->priority = *p;
  return absl::OkStatus();
}

absl::Status MapRequestModel(const json& body, pipeline::CallInput* out) {
  return MapModel(body, out);
}

absl::StatusOr<ChatStreamOptions> ChatStreamRequested(const json& body) {
  ChatStreamOptions o;
  if (!body.is_object()) return o;
  if (auto s = body.find("stream"); s != body.end() && !s->is_null()) {
    if (!s->is_boolean()) return Invalid("stream", "expected a boolean");
    o.stream = s->get<bool>();
  }
  if (auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) return Invalid("stream_options", "expected an object");
    if (auto u = so->find("include_usage"); u != so->end() && !u->is_null()) {
      if (!u->is_boolean()) return Invalid("stream_options.include_usage", "expected a boolean");
      o.include_usage = u->get<bool>();
    }
  }
  return o;
}

json ChatUsageJson(const adapters::Usage& u) {
  json usage = {{"prompt_tokens", u.input_tokens},
                {"completion_tokens", u.output_tokens},
                {"total_tokens", u.total_tokens}};
  if (u.cached_input_tokens) {
    usage["prompt_tokens_details"] = {{"cached_tokens", *u.cached_input_tokens}};
  }
  if (u.reasoning_tokens) {
    usage["completion_tokens_details"] = {{"reasoning_tokens", *u.reasoning_tokens}};
  }
  return usage;
}

json ChatCompletionChunk(const std::string& id, const std::string& model, int64_t created,
                         json choices) {
  return json{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", created},
              {"model", model},
              {"system_fingerprint", nullptr},
              {"choices", std::move(choices)}};
}

json ChatChunkChoice(json delta, json finish_reason) {
  return json::array({json{{"index", 0},
                           {"delta", std::move(delta)},
                           {"logprobs", nullptr},
                           {"finish_reason", std::move(finish_reason)}}});
}

json ChatCompletionFromResult(const pipeline::CallResult& r, const std::string& model,
                              int64_t created) {
  json message = {{"role", "assistant"}, {"content", nullptr}, {"refusal", nullptr}};
  if (!r.content.empty() || r.tool_calls.empty()) message["content"] = r.content;
  if (r.json.has_value()) message["content"] = *r.json;  // a JSON task's validated value
  if (!r.tool_calls.empty()) {
    json calls = json::array();
    for (const auto& tc : r.tool_calls) {
      calls.push_back({{"id", tc.id},
                       {"type", "function"},
                       {"function", {{"name", tc.name}, {"arguments", tc.arguments}}}});
    }
    message["tool_calls"] = std::move(calls);
  }
  std::string finish = r.finish_reason;
  if (finish.empty()) finish = r.tool_calls.empty() ? "stop" : "tool_calls";
  json usage = ChatUsageJson(r.usage);
  return json{{"id", "chatcmpl-" + (r.trace_id.empty() ? std::to_string(created) : r.trace_id)},
              {"object", "chat.completion"},
              {"created", created},
              {"model", model},
              {"system_fingerprint", nullptr},
              {"choices", json::array({json{{"index", 0},
                                            {"message", std::move(message)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", finish}}})},
              {"usage", std::move(usage)}};
}

OpenAiError ErrorFromStatus(const absl::Status& status) {
  OpenAiError e;
  e.message = std::string(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      e.http_status = 400;
      e.param = ParamOf(e.message);
      break;
    case absl::StatusCode::kNotFound:
      e.http_status = 404;
      e.code = "model_not_found";
      e.param = "model";
      break;
    case absl::StatusCode::kUnauthenticated: e.http_status = 401; break;
    case absl::StatusCode::kPermissionDenied: e.http_status = 403; break;
    case absl::StatusCode::kResourceExhausted: e.http_status = 429; break;
    case absl::StatusCode::kDeadlineExceeded: e.http_status = 504; break;
    case absl::StatusCode::kUnavailable: e.http_status = 503; break;
    case absl::StatusCode::kCancelled: e.http_status = 499; break;
    default: e.http_status = 500; break;
  }
  e.type = ErrorTypeForStatus(e.http_status);
  if (e.http_status == 499) e.type = "cancelled";
  if (pipeline::IsBudgetExhausted(status)) e.type = e.code = "budget_exhausted";
  return e;
}

OpenAiError ErrorFromCallError(const CallError& error) {
  OpenAiError e;
  e.message = error.message;
  e.code = absl::AsciiStrToLower(std::string(CallErrorCodeName(error.code)));
  if (error.http_status >= 400 && error.http_status <= 599) {
    e.http_status = error.http_status;  // the provider's own verdict
  } else {
    switch (error.code) {
      case CallErrorCode::kRateLimited:
      case CallErrorCode::kKeyPoolExhausted:
      case CallErrorCode::kBudgetExhausted: e.http_status = 429; break;
      case CallErrorCode::kInvalidRequest: e.http_status = 400; break;
      case CallErrorCode::kUpstreamTimeout: e.http_status = 504; break;
      case CallErrorCode::kCircuitOpen:
      case CallErrorCode::kKillSwitch: e.http_status = 503; break;
      case CallErrorCode::kNoApiKey:
      case CallErrorCode::kConfig:
      case CallErrorCode::kInternal: e.http_status = 500; break;
      default: e.http_status = 502; break;
    }
  }
  e.type = ErrorTypeForStatus(e.http_status);
  return e;
}

json ErrorBody(const OpenAiError& error) {
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return json{{"error",
               {{"message", error.message},
                {"type", error.type},
                {"param", or_null(error.param)},
                {"code", or_null(error.code)}}}};
}

json ModelList(const registry::Snapshot& snapshot) {
  std::vector<std::string> ids;
  for (const auto& [id, preset] : snapshot.presets) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  const int64_t created =
      snapshot.loaded_at == absl::InfinitePast() ? 0 : absl::ToUnixSeconds(snapshot.loaded_at);
  json data = json::array();
  for (const std::string& id : ids) {
    data.push_back({{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "llmix"}});
  }
  return json{{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace llmix::sidecar
