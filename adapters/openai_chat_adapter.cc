#include "adapters/openai_chat_adapter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "adapters/wire_common.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

// Request params the Chat Completions API accepts, from LLMix's snake_case kwargs.
constexpr const char* kForwardedKwargs[] = {
    "temperature",       "top_p", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "stop",  "seed",       "response_format",       "reasoning_effort",
    "user",              "n",     "logit_bias", "extra_body"};

// sno-gpu (CONTRACT §10): thinking settings move into `extra_body` and
// `extra_body.chat_template_kwargs` (as LLMix's fetch wrapper does); the body keeps a literal
// `extra_body` member, which the GPU servers read.
}  // namespace

void OpenAiChatAdapter::ShapeSnoGpuBody(const json& kw, json& body) {
  json settings = json::object();
  for (auto [camel, snake] : {std::pair{"enableThinking", "enable_thinking"},
                              std::pair{"thinkingBudget", "thinking_budget"}}) {
    if (kw.contains(camel) && !kw[camel].is_null()) {
      settings[snake] = kw[camel];
    } else if (kw.contains(snake) && !kw[snake].is_null()) {
      settings[snake] = kw[snake];
    }
  }
  if (kw.contains("extra_body") && kw["extra_body"].is_object()) body["extra_body"] = kw["extra_body"];
  if (settings.empty()) return;
  json extra = body.contains("extra_body") && body["extra_body"].is_object() ? body["extra_body"]
                                                                             : json::object();
  json& template_kwargs = extra["chat_template_kwargs"];
  if (!template_kwargs.is_object()) template_kwargs = json::object();
  for (const auto& [k, v] : settings.items()) {
    template_kwargs[k] = v;
    extra[k] = v;
  }
  body.erase("enable_thinking");
  body.erase("thinking_budget");
  body["extra_body"] = std::move(extra);
}

namespace {

bool IsOpenRouter(std::string_view provider) {
  return provider == "openrouter" || provider == "deepseek";
}

// LLMix's OpenRouter model names: a small mapping table, then a vendor prefix for bare
// deepseek* / qwen* ids.
std::string OpenRouterModel(const std::string& model) {
  if (model == "deepseek-chat") return "deepseek/deepseek-chat-v3-0324";
  if (model.find('/') == std::string::npos) {
    if (model.rfind("deepseek", 0) == 0) return "deepseek/" + model;
    if (model.rfind("qwen", 0) == 0) return "qwen/" + model;
  }
  return model;
}

// LLMix's OpenRouter message conversion: messages keep their order (system included),
// non-objects and `developer` messages are dropped, user/assistant messages without content
// get "" (an assistant carrying tool calls gets none), AI SDK camelCase fields are accepted.
json OpenRouterMessages(const json* messages) {
  json out = json::array();
  if (messages == nullptr || !messages->is_array()) return out;
  for (const json& m : *messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) continue;
    const std::string role = m["role"].get<std::string>();
    if (role == "developer") continue;
    json msg = {{"role", role}};
    const json* calls = MessageField(m, "tool_calls", "toolCalls");
    if (const json* content = MessageField(m, "content", "content")) {
      msg["content"] = *content;
    } else if (role == "user" || (role == "assistant" && calls == nullptr)) {
      msg["content"] = "";
    }
    if (calls != nullptr) msg["tool_calls"] = *calls;
    if (const json* id = MessageField(m, "tool_call_id", "toolCallId")) msg["tool_call_id"] = *id;
    if (const json* name = MessageField(m, "name", "name")) msg["name"] = *name;
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

absl::StatusOr<json> OpenAiChatAdapter::BuildBody(const ProviderRequest& r,
                                                  std::vector<std::string>* unknown) {
  const bool sno_gpu = r.provider == "sno-gpu";
  const bool openrouter = IsOpenRouter(r.provider);
  json messages = json::array();
  if (openrouter) {
    messages = OpenRouterMessages(r.messages);
  } else {
    auto split = SplitSystemMessages(r.messages);
    if (!split.ok()) return split.status();
    if (split->has_system) messages.push_back({{"role", "system"}, {"content", split->system}});
    for (const json* m : split->rest) messages.push_back(*m);
  }

  json body = json::object();
  body["model"] = openrouter ? OpenRouterModel(r.model) : r.model;
  body["messages"] = std::move(messages);
  if (openrouter) body["stream"] = false;
  for (const char* k : kForwardedKwargs) {
    auto it = r.kwargs.find(k);
    if (it == r.kwargs.end() || it->is_null()) continue;
    if (std::string_view(k) == "extra_body") {
      // OpenAI SDK semantics: extra_body members are merged into the top-level body
      // (sno-gpu keeps it as a member, below).
      if (it->is_object() && !sno_gpu) {
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
  ApplyProviderOptions(r.provider, r.provider_options, body, unknown);
  if (sno_gpu) ShapeSnoGpuBody(r.kwargs, body);
  return body;
}

Usage OpenAiChatAdapter::ParseUsage(const json& u) {
  Usage usage;
  usage.input_tokens = IntField(u, "prompt_tokens");
  usage.output_tokens = IntField(u, "completion_tokens");
  usage.total_tokens = IntField(u, "total_tokens");
  if (usage.total_tokens == 0) {
    usage.total_tokens = SaturatingAdd(usage.input_tokens, usage.output_tokens);
  }
  if (auto d = u.find("prompt_tokens_details"); d != u.end() && d->is_object() &&
                                                d->contains("cached_tokens")) {
    usage.cached_input_tokens = IntField(*d, "cached_tokens");
  }
  if (auto d = u.find("completion_tokens_details"); d != u.end() && d->is_object() &&
                                                    d->contains("reasoning_tokens")) {
    usage.reasoning_tokens = IntField(*d, "reasoning_tokens");
  }
  return usage;
}

bool OpenAiChatAdapter::ParseResponse(std::string_view text, ProviderResponse* out,
                                      std::string* error) {
  json j = ParseJsonBounded(text);
  if (j.is_discarded() || !j.is_object()) {
    *error = "upstream body is not a JSON object";
    return false;
  }
  auto choices = j.find("choices");
  if (choices != j.end() && choices->is_array() && choices->empty() && j.contains("usage")) {
    // An empty answer (OpenRouter returns this for some routed failures; LLMix treats it as
    // an empty success).
    if (auto m = j.find("model"); m != j.end() && m->is_string()) out->model = m->get<std::string>();
    return true;
  }
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
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) out->usage = ParseUsage(*u);
  return true;
}

namespace {

std::vector<std::pair<std::string, std::string>> AuthHeaders(const ProviderRequest& request) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (request.provider == "sno-gpu") {
    // LLMix gives the AI SDK the placeholder key "not-used" and sends the real one in the
    // sno-gpu headers.
    headers.emplace_back("Authorization", "Bearer not-used");
    if (!request.api_key.empty()) {
      headers.emplace_back("X-Internal-Token", request.api_key);
      headers.emplace_back("X-Sno-LLM-Key", request.api_key);
    }
  } else if (!request.api_key.empty()) {
    headers.emplace_back("Authorization", "Bearer " + request.api_key);
  }
  return headers;
}

}  // namespace

ProviderOutcome OpenAiChatAdapter::SendStream(const ProviderRequest& request,
                                              StreamEventSink& sink,
                                              StreamCancellation* cancel) {
  std::vector<std::string> unknown;
  auto body = BuildBody(request, &unknown);
  if (!body.ok()) return InvalidRequest(request, std::string(body.status().message()));
  warner_.Warn(request.provider, unknown);
  (*body)["stream"] = true;
  // Without it OpenAI sends no usage in a stream (the last chunk carries it, no choices).
  (*body)["stream_options"] = {{"include_usage", true}};
  return ExchangeStream(transport_, request, WireProtocol::kOpenAiChat,
                        JoinUrl(request.base_url, "/chat/completions"), AuthHeaders(request),
                        std::move(*body), sink, cancel);
}

ProviderOutcome OpenAiChatAdapter::Send(const ProviderRequest& request) {
  std::vector<std::string> unknown;
  auto body = BuildBody(request, &unknown);
  if (!body.ok()) return InvalidRequest(request, std::string(body.status().message()));
  warner_.Warn(request.provider, unknown);
  ProviderOutcome out = Exchange(transport_, request, JoinUrl(request.base_url, "/chat/completions"),
                                 AuthHeaders(request), std::move(*body), &ParseResponse);
  if ((request.provider == "sno-gpu" || IsOpenRouter(request.provider)) && out.ok() &&
      out.response.content.empty() && out.response.reasoning_content &&
      !out.response.reasoning_content->empty()) {
    // LLMix's sno-gpu fetch wrapper and OpenRouter normalisation: a reply that only has
    // reasoning text answers with it (its <think> blocks are then extracted as usual).
    out.response.content = *std::exchange(out.response.reasoning_content, std::nullopt);
  }
  return out;
}

}  // namespace llmix::adapters
