#include "adapters/openai_chat_adapter.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/logging.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

// Request params the Chat Completions API accepts, from LLMix's snake_case kwargs.
constexpr const char* kForwardedKwargs[] = {
    "temperature",       "top_p", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "stop",  "seed",       "response_format",       "reasoning_effort",
    "user",              "n",     "logit_bias", "extra_body"};

std::string Redact(std::string text, const std::string& api_key) {
  if (api_key.size() >= 4) absl::StrReplaceAll({{api_key, "[REDACTED]"}}, &text);
  return RedactSecrets(text);
}

int64_t IntField(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  return it->get<int64_t>();
}

std::string Truncate(std::string s, size_t n) {
  if (s.size() > n) {
    s.resize(n);
    s += "...";
  }
  return s;
}

}  // namespace

json OpenAiChatAdapter::BuildBody(const ProviderRequest& r) {
  json body = json::object();
  body["model"] = r.model;
  body["messages"] = r.messages != nullptr ? *r.messages : json::array();
  for (const char* k : kForwardedKwargs) {
    auto it = r.kwargs.find(k);
    if (it == r.kwargs.end() || it->is_null()) continue;
    if (std::string_view(k) == "extra_body") {
      // OpenAI SDK semantics: extra_body members are merged into the top-level body.
      if (it->is_object()) {
        for (auto e = it->begin(); e != it->end(); ++e) body[e.key()] = e.value();
      }
      continue;
    }
    body[k] = *it;
  }
  if (r.tools.is_array() && !r.tools.empty()) {
    body["tools"] = r.tools;
    if (!r.tool_choice.is_null()) body["tool_choice"] = r.tool_choice;
  }
  return body;
}

bool OpenAiChatAdapter::ParseResponse(std::string_view text, ProviderResponse* out,
                                      std::string* error) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "upstream body is not a JSON object";
    return false;
  }
  auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object()) {
    *error = "upstream body has no choices";
    return false;
  }
  const json& choice = (*choices)[0];
  auto msg = choice.find("message");
  if (msg == choice.end() || !msg->is_object()) {
    *error = "upstream choice has no message";
    return false;
  }
  if (auto c = msg->find("content"); c != msg->end() && c->is_string()) {
    out->content = c->get<std::string>();
  } else if (c != msg->end() && !c->is_null()) {
    *error = "upstream message content is not a string";
    return false;
  }
  for (const char* rk : {"reasoning_content", "reasoning"}) {
    if (auto rc = msg->find(rk); rc != msg->end() && rc->is_string()) {
      out->reasoning_content = rc->get<std::string>();
      break;
    }
  }
  if (auto tc = msg->find("tool_calls"); tc != msg->end() && tc->is_array()) {
    for (const auto& call : *tc) {
      if (!call.is_object()) continue;
      ToolCall t;
      if (auto id = call.find("id"); id != call.end() && id->is_string()) t.id = id->get<std::string>();
      if (auto fn = call.find("function"); fn != call.end() && fn->is_object()) {
        if (auto n = fn->find("name"); n != fn->end() && n->is_string()) t.name = n->get<std::string>();
        if (auto a = fn->find("arguments"); a != fn->end()) {
          t.arguments = a->is_string() ? a->get<std::string>() : a->dump();
        }
      }
      out->tool_calls.push_back(std::move(t));
    }
  }
  if (auto fr = choice.find("finish_reason"); fr != choice.end() && fr->is_string()) {
    out->finish_reason = fr->get<std::string>();
  }
  if (auto m = j.find("model"); m != j.end() && m->is_string()) out->model = m->get<std::string>();
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    out->usage.input_tokens = IntField(*u, "prompt_tokens");
    out->usage.output_tokens = IntField(*u, "completion_tokens");
    out->usage.total_tokens = IntField(*u, "total_tokens");
    if (out->usage.total_tokens == 0) {
      out->usage.total_tokens = out->usage.input_tokens + out->usage.output_tokens;
    }
    if (auto d = u->find("prompt_tokens_details"); d != u->end() && d->is_object() &&
                                                   d->contains("cached_tokens")) {
      out->usage.cached_input_tokens = IntField(*d, "cached_tokens");
    }
    if (auto d = u->find("completion_tokens_details"); d != u->end() && d->is_object() &&
                                                       d->contains("reasoning_tokens")) {
      out->usage.reasoning_tokens = IntField(*d, "reasoning_tokens");
    }
  }
  return true;
}

CallError ErrorFromHttp(const std::string& provider, const HttpResponse& r) {
  CallError e;
  e.provider = provider;
  if (r.failure != TransportFailure::kNone) {
    e.retryable = r.failure != TransportFailure::kBadUrl && r.failure != TransportFailure::kTooLarge;
    switch (r.failure) {
      case TransportFailure::kTimeout:
        e.code = CallErrorCode::kUpstreamTimeout;
        break;
      case TransportFailure::kTooLarge:
        e.code = CallErrorCode::kUpstreamBadResponse;
        break;
      case TransportFailure::kBadUrl:
        e.code = CallErrorCode::kConfig;
        break;
      default:
        e.code = CallErrorCode::kUpstreamUnreachable;
    }
    e.message = absl::StrCat(provider, " request failed: ", r.failure_detail);
    return e;
  }
  HttpStatusClass cls = ClassifyHttpStatus(r.status);
  e.code = cls.code;
  e.retryable = cls.retryable;
  e.http_status = r.status;
  std::string detail;
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error")) {
    const json& err = j["error"];
    if (err.is_object()) {
      if (auto m = err.find("message"); m != err.end() && m->is_string()) detail = m->get<std::string>();
      if (auto t = err.find("type"); t != err.end() && t->is_string()) {
        e.provider_error_type = t->get<std::string>();
      } else if (auto c = err.find("code"); c != err.end() && c->is_string()) {
        e.provider_error_type = c->get<std::string>();
      }
    } else if (err.is_string()) {
      detail = err.get<std::string>();
    }
  }
  if (detail.empty()) detail = Truncate(r.body, 200);
  e.message = absl::StrCat(provider, " returned HTTP ", r.status, detail.empty() ? "" : ": ", detail);
  return e;
}

ProviderOutcome OpenAiChatAdapter::Send(const ProviderRequest& request) {
  ProviderOutcome out;
  HttpRequest http;
  std::string base = request.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  http.url = base + "/chat/completions";
  http.timeout = request.timeout;
  http.body = BuildBody(request).dump(-1, ' ', false, json::error_handler_t::replace);
  if (!request.api_key.empty()) http.headers.emplace_back("Authorization", "Bearer " + request.api_key);
  http.headers.emplace_back("Accept", "application/json");
  if (!request.traceparent.empty()) http.headers.emplace_back("traceparent", request.traceparent);

  HttpResponse r = transport_.Post(http);
  out.http_status = r.status;
  out.headers = std::move(r.headers);
  if (r.failure != TransportFailure::kNone || r.status < 200 || r.status > 299) {
    out.network_error = r.failure != TransportFailure::kNone;
    CallError e = ErrorFromHttp(request.provider, r);
    e.message = Redact(std::move(e.message), request.api_key);
    out.error = std::move(e);
    return out;
  }
  std::string parse_error;
  if (!ParseResponse(r.body, &out.response, &parse_error)) {
    CallError e;
    e.code = CallErrorCode::kUpstreamBadResponse;
    e.provider = request.provider;
    e.http_status = r.status;
    e.message = absl::StrCat(request.provider, " response unusable: ", parse_error);
    out.error = std::move(e);
    return out;
  }
  if (out.response.model.empty()) out.response.model = request.model;
  return out;
}

}  // namespace llmix::adapters
