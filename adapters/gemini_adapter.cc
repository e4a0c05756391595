#include "adapters/gemini_adapter.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/wire_common.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

absl::StatusOr<json> Parts(const json& content, const std::string& field) {
  static const PartConverters kConvert{
      [](const std::string& text) { return json{{"text", text}}; },
      [](const ImageRef& image, const std::string& pf) -> absl::StatusOr<json> {
        if (image.media_type.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              pf, ".image_url.url: Gemini needs the image type; use a data: URL or a .png/.jpg/.webp/.gif URL"));
        }
        if (image.inline_data) return json{{"inlineData", {{"mimeType", image.media_type}, {"data", image.data}}}};
        return json{{"fileData", {{"mimeType", image.media_type}, {"fileUri", image.data}}}};
      }};
  return ConvertContentParts(content, field, "gemini", kConvert);
}

void AppendTurn(json& contents, const std::string& role, json parts) {
  adapters::AppendTurn(contents, role, std::move(parts), "parts");
}

absl::StatusOr<json> Contents(const SystemSplit& split) {
  json contents = json::array();
  absl::flat_hash_map<std::string, std::string> call_names;  // tool call id -> function name
  for (size_t i = 0; i < split.rest.size(); ++i) {
    const json& m = *split.rest[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".role: missing"));
    }
    const std::string role = m["role"].get<std::string>();
    const json content = m.contains("content") ? m["content"] : json();
    if (role == "user") {
      auto parts = Parts(content, field + ".content");
      if (!parts.ok()) return parts.status();
      AppendTurn(contents, "user", std::move(*parts));
    } else if (role == "assistant") {
      auto parts = Parts(content, field + ".content");
      if (!parts.ok()) return parts.status();
      if (const json* calls = MessageField(m, "tool_calls", "toolCalls"); calls && calls->is_array()) {
        for (size_t c = 0; c < calls->size(); ++c) {
          const json& call = (*calls)[c];
          const json* fn = MessageField(call, "function", "function");
          const std::string name = fn != nullptr ? fn->value("name", "") : "";
          if (call.contains("id") && call["id"].is_string()) call_names[call["id"].get<std::string>()] = name;
          auto args = ToolCallArguments(call, absl::StrCat(field, ".tool_calls[", c, "]"));
          if (!args.ok()) return args.status();
          parts->push_back({{"functionCall", {{"name", name}, {"args", *std::move(args)}}}});
        }
      }
      AppendTurn(contents, "model", std::move(*parts));
    } else if (role == "tool") {
      std::string name = StrField(m, "name");
      if (const json* id = MessageField(m, "tool_call_id", "toolCallId"); name.empty() && id && id->is_string()) {
        if (auto it = call_names.find(id->get<std::string>()); it != call_names.end()) name = it->second;
      }
      if (name.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".name: a tool message needs the function name (or a tool_call_id of an earlier call)"));
      }
      if (content.is_string() && JsonNestedDeeperThan(content.get_ref<const std::string&>())) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".content: JSON nested deeper than ", kMaxJsonNesting, " levels"));
      }
      json response = content.is_string() ? json::parse(content.get<std::string>(), nullptr, false) : content;
      if (!response.is_object()) response = json{{"content", content}};
      AppendTurn(contents, "user",
                 json::array({{{"functionResponse", {{"name", name}, {"response", std::move(response)}}}}}));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".role: \"", role, "\" is not supported by the gemini protocol"));
    }
  }
  return contents;
}

json Tools(const json& tools) {
  json decls = json::array();
  for (const json& t : tools) {
    const json* fn = MessageField(t, "function", "function");
    if (fn == nullptr || !fn->is_object()) continue;
    json d = {{"name", fn->value("name", "")}};
    if (fn->contains("description")) d["description"] = (*fn)["description"];
    if (fn->contains("parameters") && (*fn)["parameters"].is_object()) d["parameters"] = (*fn)["parameters"];
    decls.push_back(std::move(d));
  }
  return json::array({{{"functionDeclarations", std::move(decls)}}});
}

json ToolConfig(const json& choice) {
  json cfg = {{"mode", "AUTO"}};
  if (choice.is_string()) {
    const std::string c = choice.get<std::string>();
    if (c == "required") cfg["mode"] = "ANY";
    if (c == "none") cfg["mode"] = "NONE";
  } else if (const json* fn = choice.is_object() ? MessageField(choice, "function", "function") : nullptr;
             fn != nullptr && fn->contains("name")) {
    cfg = {{"mode", "ANY"}, {"allowedFunctionNames", json::array({(*fn)["name"]})}};
  }
  return {{"functionCallingConfig", std::move(cfg)}};
}

}  // namespace

std::string GeminiAdapter::Url(const ProviderRequest& r) {
  std::string model = r.model;
  if (absl::StartsWith(model, "models/")) model = model.substr(7);
  return JoinUrl(r.base_url, absl::StrCat("/models/", model, ":generateContent"));
}

absl::StatusOr<json> GeminiAdapter::BuildBody(const ProviderRequest& r, std::vector<std::string>* unknown) {
  auto split = SplitSystemMessages(r.messages);
  if (!split.ok()) return split.status();
  auto contents = Contents(*split);
  if (!contents.ok()) return contents.status();
  json body = json::object();
  body["contents"] = std::move(*contents);
  if (split->has_system) body["systemInstruction"] = {{"parts", json::array({{{"text", split->system}}})}};

  const json& kw = r.kwargs;
  json gen = json::object();
  for (auto [from, to] : {std::pair{"temperature", "temperature"}, std::pair{"top_p", "topP"},
                          std::pair{"top_k", "topK"}, std::pair{"max_tokens", "maxOutputTokens"},
                          std::pair{"max_completion_tokens", "maxOutputTokens"},
                          std::pair{"stop", "stopSequences"}, std::pair{"seed", "seed"},
                          std::pair{"presence_penalty", "presencePenalty"},
                          std::pair{"frequency_penalty", "frequencyPenalty"}}) {
    if (kw.contains(from) && !kw[from].is_null()) gen[to] = kw[from];
  }
  if (gen.contains("stopSequences") && gen["stopSequences"].is_string()) {
    gen["stopSequences"] = json::array({gen["stopSequences"]});
  }
  if (const json* rf = MessageField(kw, "response_format", "responseFormat"); rf != nullptr && rf->is_object()) {
    const std::string type = rf->value("type", "");
    if (type == "json_object" || type == "json_schema") gen["responseMimeType"] = "application/json";
    if (const json* spec = MessageField(*rf, "json_schema", "jsonSchema");
        type == "json_schema" && spec != nullptr && spec->contains("schema")) {
      gen["responseJsonSchema"] = (*spec)["schema"];
    }
  }
  if (!gen.empty()) body["generationConfig"] = std::move(gen);
  if (r.tools.is_array() && !r.tools.empty()) {
    body["tools"] = Tools(r.tools);
    if (!r.tool_choice.is_null()) body["toolConfig"] = ToolConfig(r.tool_choice);
  }
  // LLMix forwards providerOptions.google only; its thinkingConfig kwarg is not sent
  // (CONTRACT §10).
  ApplyProviderOptions(r.provider, r.provider_options, body, unknown);
  return body;
}

bool GeminiAdapter::ParseResponse(std::string_view text, ProviderResponse* out, std::string* error) {
  json j = ParseJsonBounded(text);
  if (j.is_discarded() || !j.is_object()) {
    *error = "upstream body is not a JSON object";
    return false;
  }
  auto candidates = j.find("candidates");
  if (candidates == j.end() || !candidates->is_array() || candidates->empty() ||
      !(*candidates)[0].is_object()) {
    if (j.contains("promptFeedback") && j["promptFeedback"].is_object() &&
        j["promptFeedback"].contains("blockReason")) {
      *error = absl::StrCat("prompt blocked: ", j["promptFeedback"]["blockReason"].dump());
    } else {
      *error = "upstream body has no candidates";
    }
    return false;
  }
  const json& cand = (*candidates)[0];
  std::string thoughts;
  bool has_thoughts = false;
  if (auto content = cand.find("content"); content != cand.end() && content->is_object()) {
    if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
      for (const json& part : *parts) {
        if (!part.is_object()) continue;
        if (part.contains("functionCall") && part["functionCall"].is_object()) {
          out->tool_calls.push_back(FunctionCall(part["functionCall"], out->tool_calls.size()));
        } else if (part.contains("text") && part["text"].is_string()) {
          if (part.value("thought", false)) {
            thoughts += part["text"].get<std::string>();
            has_thoughts = true;
          } else {
            out->content += part["text"].get<std::string>();
          }
        }
      }
    }
  }
  if (has_thoughts) out->reasoning_content = std::move(thoughts);
  out->finish_reason = FinishReason(StrField(cand, "finishReason"), !out->tool_calls.empty());
  if (j.contains("modelVersion") && j["modelVersion"].is_string()) out->model = j["modelVersion"].get<std::string>();
  if (auto u = j.find("usageMetadata"); u != j.end() && u->is_object()) out->usage = ParseUsage(*u);
  return true;
}

ToolCall GeminiAdapter::FunctionCall(const json& fc, size_t ordinal) {
  ToolCall call;
  call.id = fc.contains("id") && fc["id"].is_string() ? fc["id"].get<std::string>()
                                                       : absl::StrCat("call_", ordinal);
  call.name = StrField(fc, "name");
  call.arguments = fc.contains("args")
                       ? fc["args"].dump(-1, ' ', false, json::error_handler_t::replace)
                       : "{}";
  return call;
}

std::string GeminiAdapter::FinishReason(std::string_view reason, bool has_tool_calls) {
  if (reason == "STOP") return has_tool_calls ? "tool_calls" : "stop";
  if (reason == "MAX_TOKENS") return "length";
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII") {
    return "content_filter";
  }
  return reason.empty() ? "" : "other";
}

Usage GeminiAdapter::ParseUsage(const json& u) {
  Usage usage;
  usage.input_tokens = IntField(u, "promptTokenCount");
  usage.output_tokens =
      SaturatingAdd(IntField(u, "candidatesTokenCount"), IntField(u, "thoughtsTokenCount"));
  usage.total_tokens = IntField(u, "totalTokenCount");
  if (usage.total_tokens == 0) {
    usage.total_tokens = SaturatingAdd(usage.input_tokens, usage.output_tokens);
  }
  if (u.contains("cachedContentTokenCount")) {
    usage.cached_input_tokens = IntField(u, "cachedContentTokenCount");
  }
  if (u.contains("thoughtsTokenCount")) usage.reasoning_tokens = IntField(u, "thoughtsTokenCount");
  return usage;
}

ProviderOutcome GeminiAdapter::Send(const ProviderRequest& request) {
  std::vector<std::string> unknown;
  auto body = BuildBody(request, &unknown);
  if (!body.ok()) return InvalidRequest(request, std::string(body.status().message()));
  warner_.Warn(request.provider, unknown);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!request.api_key.empty()) headers.emplace_back("x-goog-api-key", request.api_key);
  return Exchange(transport_, request, Url(request), std::move(headers), std::move(*body), &ParseResponse);
}

ProviderOutcome GeminiAdapter::SendStream(const ProviderRequest& request, StreamEventSink& sink,
                                          StreamCancellation* cancel) {
  std::vector<std::string> unknown;
  auto body = BuildBody(request, &unknown);
  if (!body.ok()) return InvalidRequest(request, std::string(body.status().message()));
  warner_.Warn(request.provider, unknown);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!request.api_key.empty()) headers.emplace_back("x-goog-api-key", request.api_key);
  std::string model = request.model;
  if (absl::StartsWith(model, "models/")) model = model.substr(7);
  return ExchangeStream(
      transport_, request, WireProtocol::kGeminiGenerateContent,
      JoinUrl(request.base_url, absl::StrCat("/models/", model, ":streamGenerateContent?alt=sse")),
      std::move(headers), std::move(*body), sink, cancel);
}

}  // namespace llmix::adapters
