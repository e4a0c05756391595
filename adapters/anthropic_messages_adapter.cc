#include "adapters/anthropic_messages_adapter.h"

#include "absl/strings/str_cat.h"
#include "adapters/wire_common.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

// The name of the forced tool used for JSON-schema output (as the AI SDK does: Anthropic
// has no response_format, so the schema becomes the input schema of a tool it must call).
constexpr const char* kJsonTool = AnthropicMessagesAdapter::kJsonToolName;

absl::StatusOr<json> ContentBlocks(const json& content, const std::string& field) {
  static const PartConverters kConvert{
      [](const std::string& text) { return json{{"type", "text"}, {"text", text}}; },
      [](const ImageRef& image, const std::string&) -> absl::StatusOr<json> {
        if (image.inline_data) {
          return json{{"type", "image"},
                      {"source", {{"type", "base64"}, {"media_type", image.media_type}, {"data", image.data}}}};
        }
        return json{{"type", "image"}, {"source", {{"type", "url"}, {"url", image.data}}}};
      }};
  return ConvertContentParts(content, field, "anthropic_messages", kConvert);
}

void AppendTurn(json& messages, const std::string& role, json blocks) {
  adapters::AppendTurn(messages, role, std::move(blocks), "content");
}

absl::StatusOr<json> ConvertMessages(const SystemSplit& split) {
  json out = json::array();
  for (size_t i = 0; i < split.rest.size(); ++i) {
    const json& m = *split.rest[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".role: missing"));
    }
    const std::string role = m["role"].get<std::string>();
    const json content = m.contains("content") ? m["content"] : json();
    if (role == "user") {
      auto blocks = ContentBlocks(content, field + ".content");
      if (!blocks.ok()) return blocks.status();
      AppendTurn(out, "user", std::move(*blocks));
    } else if (role == "assistant") {
      auto blocks = ContentBlocks(content, field + ".content");
      if (!blocks.ok()) return blocks.status();
      if (const json* calls = MessageField(m, "tool_calls", "toolCalls"); calls && calls->is_array()) {
        for (size_t c = 0; c < calls->size(); ++c) {
          const json& call = (*calls)[c];
          const json* fn = MessageField(call, "function", "function");
          auto input = ToolCallArguments(call, absl::StrCat(field, ".tool_calls[", c, "]"));
          if (!input.ok()) return input.status();
          blocks->push_back({{"type", "tool_use"},
                             {"id", StrField(call, "id")},
                             {"name", fn != nullptr ? fn->value("name", "") : ""},
                             {"input", *std::move(input)}});
        }
      }
      AppendTurn(out, "assistant", std::move(*blocks));
    } else if (role == "tool") {
      const json* id = MessageField(m, "tool_call_id", "toolCallId");
      if (id == nullptr || !id->is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".tool_call_id: required for a tool message"));
      }
      json result = {{"type", "tool_result"}, {"tool_use_id", *id}};
      if (content.is_string()) {
        result["content"] = content;
      } else {
        auto blocks = ContentBlocks(content, field + ".content");
        if (!blocks.ok()) return blocks.status();
        result["content"] = std::move(*blocks);
      }
      AppendTurn(out, "user", json::array({std::move(result)}));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".role: \"", role, "\" is not supported by the anthropic_messages protocol"));
    }
  }
  return out;
}

json ConvertTools(const json& tools) {
  json out = json::array();
  for (const json& t : tools) {
    const json* fn = MessageField(t, "function", "function");
    if (fn == nullptr || !fn->is_object()) continue;
    json tool = {{"name", fn->value("name", "")}};
    if (fn->contains("description")) tool["description"] = (*fn)["description"];
    tool["input_schema"] = fn->contains("parameters") && (*fn)["parameters"].is_object()
                               ? (*fn)["parameters"]
                               : json{{"type", "object"}, {"properties", json::object()}};
    out.push_back(std::move(tool));
  }
  return out;
}

json ConvertToolChoice(const json& choice) {
  if (choice.is_string()) {
    const std::string c = choice.get<std::string>();
    if (c == "required") return {{"type", "any"}};
    if (c == "none") return {{"type", "none"}};
    return {{"type", "auto"}};
  }
  if (choice.is_object()) {
    if (const json* fn = MessageField(choice, "function", "function"); fn && fn->contains("name")) {
      return {{"type", "tool"}, {"name", (*fn)["name"]}};
    }
  }
  return {{"type", "auto"}};
}

}  // namespace

absl::StatusOr<json> AnthropicMessagesAdapter::BuildBody(const ProviderRequest& r,
                                                         std::vector<std::string>* unknown) {
  auto split = SplitSystemMessages(r.messages);
  if (!split.ok()) return split.status();
  auto messages = ConvertMessages(*split);
  if (!messages.ok()) return messages.status();

  json body = json::object();
  body["model"] = r.model;
  if (split->has_system) body["system"] = split->system;
  body["messages"] = std::move(*messages);
  const json& kw = r.kwargs;
  int64_t max_tokens = kDefaultMaxTokens;
  for (const char* k : {"max_completion_tokens", "max_tokens"}) {
    if (auto n = kw.contains(k) ? WholeNumber(kw[k]) : std::nullopt) {
      max_tokens = *n;
      break;
    }
  }
  for (auto [from, to] : {std::pair{"temperature", "temperature"}, std::pair{"top_p", "top_p"},
                          std::pair{"top_k", "top_k"}, std::pair{"stop", "stop_sequences"}}) {
    if (kw.contains(from) && !kw[from].is_null()) body[to] = kw[from];
  }
  if (body.contains("stop_sequences") && body["stop_sequences"].is_string()) {
    body["stop_sequences"] = json::array({body["stop_sequences"]});
  }
  if (r.tools.is_array() && !r.tools.empty()) {
    body["tools"] = ConvertTools(r.tools);
    if (!r.tool_choice.is_null()) body["tool_choice"] = ConvertToolChoice(r.tool_choice);
  }
  // JSON-schema output through a forced tool; json_object alone has no Anthropic equivalent
  // and is sent as plain text generation.
  if (const json* rf = MessageField(kw, "response_format", "responseFormat");
      rf != nullptr && rf->is_object() && rf->value("type", "") == "json_schema") {
    const json* spec = MessageField(*rf, "json_schema", "jsonSchema");
    json schema = spec != nullptr && spec->contains("schema") ? (*spec)["schema"]
                                                              : json{{"type", "object"}};
    if (!body.contains("tools")) body["tools"] = json::array();
    body["tools"].push_back({{"name", kJsonTool},
                             {"description", "Respond with a JSON object."},
                             {"input_schema", std::move(schema)}});
    body["tool_choice"] = {{"type", "tool"}, {"name", kJsonTool}};
  }
  ApplyProviderOptions(r.provider, r.provider_options, body, unknown);
  if (r.provider_options.is_object() && r.provider_options.value("disableParallelToolUse", false) &&
      body.contains("tool_choice")) {
    body["tool_choice"]["disable_parallel_tool_use"] = true;
  }
  // Extended thinking: the budget comes on top of the answer's tokens, and Anthropic refuses
  // sampling parameters alongside it (the AI SDK drops them the same way).
  if (body.contains("thinking") && body["thinking"].is_object() &&
      StrField(body["thinking"], "type") == "enabled") {
    if (auto budget = WholeNumber(body["thinking"].value("budget_tokens", json()))) {
      max_tokens += *budget;
    }
    body.erase("temperature");
    body.erase("top_p");
    body.erase("top_k");
  }
  body["max_tokens"] = max_tokens;
  return body;
}

bool AnthropicMessagesAdapter::ParseResponse(std::string_view text, ProviderResponse* out,
                                             std::string* error) {
  json j = ParseJsonBounded(text);
  if (j.is_discarded() || !j.is_object()) {
    *error = "upstream body is not a JSON object";
    return false;
  }
  auto content = j.find("content");
  if (content == j.end() || !content->is_array()) {
    *error = "upstream body has no content array";
    return false;
  }
  std::string thinking;
  bool has_thinking = false;
  bool json_tool = false;
  for (const json& block : *content) {
    if (!block.is_object()) continue;
    const std::string type = StrField(block, "type");
    if (type == "text" && block.contains("text") && block["text"].is_string()) {
      out->content += block["text"].get<std::string>();
    } else if (type == "thinking" && block.contains("thinking") && block["thinking"].is_string()) {
      thinking += block["thinking"].get<std::string>();
      has_thinking = true;
    } else if (type == "tool_use") {
      ToolCall call;
      call.id = StrField(block, "id");
      call.name = StrField(block, "name");
      call.arguments = block.contains("input") ? block["input"].dump(-1, ' ', false, json::error_handler_t::replace)
                                               : "{}";
      if (call.name == kJsonTool) {
        // The forced JSON tool's input is the answer itself.
        out->content += call.arguments;
        json_tool = true;
        continue;
      }
      out->tool_calls.push_back(std::move(call));
    }
  }
  if (has_thinking) out->reasoning_content = std::move(thinking);
  out->finish_reason =
      FinishReason(StrField(j, "stop_reason"), json_tool && out->tool_calls.empty());
  if (j.contains("model") && j["model"].is_string()) out->model = j["model"].get<std::string>();
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) out->usage = ParseUsage(*u);
  return true;
}

std::string AnthropicMessagesAdapter::FinishReason(std::string_view stop, bool only_json_tool) {
  if (stop == "end_turn" || stop == "stop_sequence" || (stop == "tool_use" && only_json_tool)) {
    return "stop";
  }
  if (stop == "max_tokens") return "length";
  if (stop == "tool_use") return "tool_calls";
  if (stop == "refusal") return "content_filter";
  return std::string(stop);
}

Usage AnthropicMessagesAdapter::ParseUsage(const json& u) {
  Usage usage;
  usage.input_tokens = IntField(u, "input_tokens");
  usage.output_tokens = IntField(u, "output_tokens");
  usage.total_tokens = SaturatingAdd(usage.input_tokens, usage.output_tokens);
  if (u.contains("cache_read_input_tokens")) {
    usage.cached_input_tokens = IntField(u, "cache_read_input_tokens");
  }
  return usage;
}

ProviderOutcome AnthropicMessagesAdapter::Send(const ProviderRequest& request) {
  std::vector<std::string> unknown;
  auto body = BuildBody(request, &unknown);
  if (!body.ok()) return InvalidRequest(request, std::string(body.status().message()));
  warner_.Warn(request.provider, unknown);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!request.api_key.empty()) headers.emplace_back("x-api-key", request.api_key);
  headers.emplace_back("anthropic-version", kApiVersion);
  return Exchange(transport_, request, JoinUrl(request.base_url, "/messages"), std::move(headers),
                  std::move(*body), &ParseResponse);
}

ProviderOutcome AnthropicMessagesAdapter::SendStream(const ProviderRequest& request,
                                                     StreamEventSink& sink,
                                                     StreamCancellation* cancel) {
  std::vector<std::string> unknown;
  auto body = BuildBody(request, &unknown);
  if (!body.ok()) return InvalidRequest(request, std::string(body.status().message()));
  warner_.Warn(request.provider, unknown);
  (*body)["stream"] = true;
  std::vector<std::pair<std::string, std::string>> headers;
  if (!request.api_key.empty()) headers.emplace_back("x-api-key", request.api_key);
  headers.emplace_back("anthropic-version", kApiVersion);
  return ExchangeStream(transport_, request, WireProtocol::kAnthropicMessages,
                        JoinUrl(request.base_url, "/messages"), std::move(headers),
                        std::move(*body), sink, cancel);
}

}  // namespace llmix::adapters
