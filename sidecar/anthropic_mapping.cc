#include "sidecar/anthropic_mapping.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace llmix::sidecar {

namespace {

using nlohmann::json;
namespace v1 = ::llmix::sidecar::v1;

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A whole number >= 1 (the front door parses JSON as JavaScript does: every number is a
// double, so 200 arrives as 200.0).
std::optional<int64_t> PositiveWhole(const json& j) {
  if (!j.is_number()) return std::nullopt;
  const double d = j.get<double>();
  if (!(d >= 1 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
    return std::nullopt;
  }
  return static_cast<int64_t>(d);
}

bool IsNonEmptyString(const json& j) {
  return j.is_string() && !j.get_ref<const std::string&>().empty();
}

// Top-level request fields this mapping reads; any other is reported as ignored.
constexpr const char* kKnownFields[] = {
    "model", "max_tokens",     "messages", "system", "stream",      "temperature", "top_p",
    "top_k", "stop_sequences", "metadata", "tools",  "tool_choice", "thinking"};

// A request field name echoed in a note: only [a-z0-9_], at most 40 bytes (notes go into a
// response header; caller-chosen bytes must not shape it).
std::string SafeName(const std::string& name) {
  std::string out;
  for (char c : name.substr(0, 40)) {
    out += (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '?';
  }
  return out;
}

void NoteCacheControl(const json& block, const std::string& at, TranscodingNotes* notes) {
  if (block.is_object() && block.contains("cache_control")) {
    notes->Add(at + ".cache_control: ignored (the sidecar caches responses itself)");
  }
}

// system: a string or an array of text blocks -> one system message text.
absl::StatusOr<std::string> SystemText(const json& system, TranscodingNotes* notes) {
  if (system.is_string()) return system.get<std::string>();
  if (!system.is_array()) return Invalid("system", "expected a string or an array of text blocks");
  std::vector<std::string> parts;
  for (size_t i = 0; i < system.size(); ++i) {
    const json& b = system[i];
    const std::string at = absl::StrCat("system[", i, "]");
    if (!b.is_object() || b.value("type", "") != "text" || !b.contains("text") ||
        !b["text"].is_string()) {
      return Invalid(at, "expected {\"type\":\"text\",\"text\":\"...\"}");
    }
    NoteCacheControl(b, at, notes);
    parts.push_back(b["text"].get<std::string>());
  }
  return absl::StrJoin(parts, "\n\n");
}

// An image block's source -> an OpenAI image_url part.
absl::StatusOr<json> ImagePart(const json& block, const std::string& at) {
  const json* source = block.contains("source") ? &block["source"] : nullptr;
  if (source == nullptr || !source->is_object()) {
    return Invalid(at + ".source", "expected an object");
  }
  const std::string type = source->value("type", "");
  if (type == "base64") {
    if (!source->contains("media_type") || !IsNonEmptyString((*source)["media_type"])) {
      return Invalid(at + ".source.media_type", "required for a base64 image");
    }
    if (!source->contains("data") || !IsNonEmptyString((*source)["data"])) {
      return Invalid(at + ".source.data", "required for a base64 image");
    }
    return json{{"type", "image_url"},
                {"image_url",
                 {{"url", absl::StrCat("data:", (*source)["media_type"].get<std::string>(),
                                       ";base64,", (*source)["data"].get<std::string>())}}}};
  }
  if (type == "url") {
    if (!source->contains("url") || !IsNonEmptyString((*source)["url"])) {
      return Invalid(at + ".source.url", "required for a url image");
    }
    return json{{"type", "image_url"}, {"image_url", {{"url", (*source)["url"]}}}};
  }
  return Invalid(at + ".source.type", "expected \"base64\" or \"url\"");
}

// tool_result content (string or text/image blocks) -> the tool message's text.
absl::StatusOr<std::string> ToolResultText(const json& block, const std::string& at,
                                           TranscodingNotes* notes) {
  if (!block.contains("content") || block["content"].is_null()) return std::string();
  const json& content = block["content"];
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return Invalid(at + ".content", "expected a string or an array");
  std::vector<std::string> texts;
  for (size_t k = 0; k < content.size(); ++k) {
    const json& part = content[k];
    const std::string part_at = absl::StrCat(at, ".content[", k, "]");
    if (!part.is_object()) return Invalid(part_at, "expected an object");
    if (part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
      texts.push_back(part["text"].get<std::string>());
    } else {
      notes->Add(absl::StrCat(part_at, ": non-text tool result content dropped"));
    }
  }
  return absl::StrJoin(texts, "\n");
}

// One Anthropic message -> LLMix (OpenAI-shaped) messages appended to `out`. A user turn's
// tool_result blocks become `tool` messages placed before its other content, since they must
// follow the assistant turn that called the tools.
absl::Status MapMessage(const json& m, size_t i, json& out, TranscodingNotes* notes) {
  const std::string at = absl::StrCat("messages[", i, "]");
  if (!m.is_object()) return Invalid(at, "expected an object");
  if (!m.contains("role") || !m["role"].is_string()) {
    return Invalid(at + ".role", "expected a string");
  }
  const std::string role = m["role"].get<std::string>();
  if (role != "user" && role != "assistant") {
    return Invalid(at + ".role", "expected \"user\" or \"assistant\"");
  }
  if (!m.contains("content")) return Invalid(at + ".content", "required");
  const json& content = m["content"];
  if (content.is_string()) {
    out.push_back({{"role", role}, {"content", content}});
    return absl::OkStatus();
  }
  if (!content.is_array()) {
    return Invalid(at + ".content", "expected a string or an array of blocks");
  }

  json parts = json::array();       // user: text and image_url parts
  std::string text;                 // assistant: the text blocks joined
  json tool_calls = json::array();  // assistant: tool_use blocks
  for (size_t j = 0; j < content.size(); ++j) {
    const json& b = content[j];
    const std::string b_at = absl::StrCat(at, ".content[", j, "]");
    if (!b.is_object() || !b.contains("type") || !b["type"].is_string()) {
      return Invalid(b_at + ".type", "expected a content block with a string type");
    }
    NoteCacheControl(b, b_at, notes);
    const std::string type = b["type"].get<std::string>();
    if (type == "text") {
      if (!b.contains("text") || !b["text"].is_string()) {
        return Invalid(b_at + ".text", "expected a string");
      }
      if (role == "user") {
        parts.push_back({{"type", "text"}, {"text", b["text"]}});
      } else {
        text += b["text"].get<std::string>();
      }
    } else if (type == "image" && role == "user") {
      auto part = ImagePart(b, b_at);
      if (!part.ok()) return part.status();
      parts.push_back(*std::move(part));
    } else if (type == "tool_use" && role == "assistant") {
      if (!b.contains("id") || !IsNonEmptyString(b["id"])) return Invalid(b_at + ".id", "required");
      if (!b.contains("name") || !IsNonEmptyString(b["name"])) {
        return Invalid(b_at + ".name", "required");
      }
      const json input = b.contains("input") ? b["input"] : json::object();
      if (!input.is_object()) return Invalid(b_at + ".input", "expected an object");
      tool_calls.push_back({{"id", b["id"]},
                            {"type", "function"},
                            {"function", {{"name", b["name"]}, {"arguments", Dump(input)}}}});
    } else if (type == "tool_result" && role == "user") {
      if (!b.contains("tool_use_id") || !IsNonEmptyString(b["tool_use_id"])) {
        return Invalid(b_at + ".tool_use_id", "required");
      }
      auto result = ToolResultText(b, b_at, notes);
      if (!result.ok()) return result.status();
      if (b.value("is_error", false)) notes->Add(b_at + ".is_error: not carried (content kept)");
      out.push_back({{"role", "tool"}, {"tool_call_id", b["tool_use_id"]}, {"content", *result}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      notes->Add(absl::StrCat(b_at, ": ", type, " block of an earlier turn dropped"));
    } else if (type == "document") {
      notes->Add(b_at + ": document block dropped (no equivalent in LLMix messages)");
    } else {
      return Invalid(b_at + ".type", absl::StrCat("\"", SafeName(type), "\" is not supported in a ",
                                                  role, " message"));
    }
  }
  if (role == "user") {
    if (!parts.empty()) out.push_back({{"role", "user"}, {"content", std::move(parts)}});
  } else {
    json msg = {{"role", "assistant"}, {"content", text}};
    if (!tool_calls.empty()) {
      if (text.empty()) msg["content"] = nullptr;
      msg["tool_calls"] = std::move(tool_calls);
    }
    out.push_back(std::move(msg));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> MapTools(const json& tools, TranscodingNotes* notes) {
  if (!tools.is_array()) return Invalid("tools", "expected an array");
  json out = json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const json& t = tools[i];
    const std::string at = absl::StrCat("tools[", i, "]");
    if (!t.is_object()) return Invalid(at, "expected an object");
    if (t.contains("type") && t["type"].is_string() && t["type"] != "custom") {
      // Anthropic-hosted tools (web search, bash, ...) exist only on Anthropic's side.
      notes->Add(absl::StrCat(at, ": server tool \"", SafeName(t["type"].get<std::string>()),
                              "\" dropped"));
      continue;
    }
    if (!t.contains("name") || !IsNonEmptyString(t["name"])) {
      return Invalid(at + ".name", "required");
    }
    if (!t.contains("input_schema") || !t["input_schema"].is_object()) {
      return Invalid(at + ".input_schema", "expected a JSON Schema object");
    }
    NoteCacheControl(t, at, notes);
    json fn = {{"name", t["name"]}, {"parameters", t["input_schema"]}};
    if (t.contains("description")) {
      if (!t["description"].is_string()) return Invalid(at + ".description", "expected a string");
      fn["description"] = t["description"];
    }
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

absl::StatusOr<json> MapToolChoice(const json& choice, TranscodingNotes* notes) {
  if (!choice.is_object() || !choice.contains("type") || !choice["type"].is_string()) {
    return Invalid("tool_choice", "expected {\"type\":\"auto\"|\"any\"|\"tool\"|\"none\"}");
  }
  if (choice.value("disable_parallel_tool_use", false)) {
    notes->Add("tool_choice.disable_parallel_tool_use: not carried");
  }
  const std::string type = choice["type"].get<std::string>();
  if (type == "auto") return json("auto");
  if (type == "any") return json("required");
  if (type == "none") return json("none");
  if (type == "tool") {
    if (!choice.contains("name") || !IsNonEmptyString(choice["name"])) {
      return Invalid("tool_choice.name", "required when type is \"tool\"");
    }
    return json{{"type", "function"}, {"function", {{"name", choice["name"]}}}};
  }
  return Invalid("tool_choice.type", "expected \"auto\", \"any\", \"tool\" or \"none\"");
}

absl::Status CheckNumber(const json& body, const char* field) {
  if (body.contains(field) && !body[field].is_null() && !body[field].is_number()) {
    return Invalid(field, "expected a number");
  }
  return absl::OkStatus();
}

// thinking {type: enabled, budget_tokens} -> common.enableThinking, and the budget into the
// inline config's provider options when the call names its provider (a preset's own
// providerOptions decide otherwise; see ProviderNotes).
absl::Status MapThinking(const json& thinking, MessagesRequest* out) {
  if (!thinking.is_object() || !thinking.contains("type") || !thinking["type"].is_string()) {
    return Invalid("thinking",
                   "expected {\"type\":\"enabled\",\"budget_tokens\":N} or "
                   "{\"type\":\"disabled\"}");
  }
  const std::string type = thinking["type"].get<std::string>();
  json& common = out->input.common_overrides;
  if (type == "disabled") {
    common["enableThinking"] = false;
    return absl::OkStatus();
  }
  if (type != "enabled") return Invalid("thinking.type", "expected \"enabled\" or \"disabled\"");
  const std::optional<int64_t> budget =
      thinking.contains("budget_tokens") ? PositiveWhole(thinking["budget_tokens"]) : std::nullopt;
  if (!budget.has_value()) return Invalid("thinking.budget_tokens", "expected a positive integer");
  common["enableThinking"] = true;
  out->thinking_budget = true;
  if (!out->input.config_json.has_value()) return absl::OkStatus();
  json config = json::parse(*out->input.config_json);  // built by ChatRequestToCallInput
  const std::string provider = config.value("provider", "");
  const ProviderInfo* info = FindProvider(provider);
  if (info == nullptr) return absl::OkStatus();
  if (info->protocol == WireProtocol::kAnthropicMessages) {
    config["providerOptions"]["anthropic"]["thinking"] = {{"type", "enabled"},
                                                          {"budgetTokens", *budget}};
  } else if (info->protocol == WireProtocol::kGeminiGenerateContent) {
    config["providerOptions"]["google"]["thinkingConfig"] = {{"thinkingBudget", *budget},
                                                             {"includeThoughts", true}};
  } else {
    return absl::OkStatus();  // OpenAI protocol: ProviderNotes reports the budget
  }
  out->thinking_budget = false;  // carried
  out->input.config_json = Dump(config);
  return absl::OkStatus();
}

}  // namespace

void TranscodingNotes::Add(std::string note) {
  if (std::find(notes_.begin(), notes_.end(), note) != notes_.end()) return;
  if (notes_.size() >= kMaxNotes) {
    ++dropped_;
    return;
  }
  notes_.push_back(std::move(note));
}

std::string TranscodingNotes::Header() const {
  std::string out = absl::StrJoin(notes_, "; ");
  if (dropped_ > 0) absl::StrAppend(&out, "; +", dropped_, " more");
  return out;
}

absl::StatusOr<MessagesRequest> MessagesRequestToCallInput(const json& body) {
  if (!body.is_object()) return Invalid("body", "expected a JSON object");
  MessagesRequest out;
  if (body.contains("stream") && !body["stream"].is_null()) {
    if (!body["stream"].is_boolean()) return Invalid("stream", "expected a boolean");
    out.stream = body["stream"].get<bool>();
  }
  if (!body.contains("max_tokens")) return Invalid("max_tokens", "required");
  const std::optional<int64_t> max_tokens = PositiveWhole(body["max_tokens"]);
  if (!max_tokens.has_value()) return Invalid("max_tokens", "expected a positive integer");
  for (const char* f : {"temperature", "top_p", "top_k"}) {
    if (absl::Status st = CheckNumber(body, f); !st.ok()) return st;
  }
  std::optional<int64_t> top_k;
  if (body.contains("top_k") && !body["top_k"].is_null()) {
    top_k = PositiveWhole(body["top_k"]);
    if (!top_k.has_value()) return Invalid("top_k", "expected a positive integer");
  }

  // The OpenAI-shaped body ChatRequestToCallInput maps (model rules, sampling, tools).
  json chat = {{"messages", json::array()}};
  if (body.contains("model")) chat["model"] = body["model"];
  json& messages = chat["messages"];
  if (body.contains("system") && !body["system"].is_null()) {
    auto system = SystemText(body["system"], &out.notes);
    if (!system.ok()) return system.status();
    if (!system->empty()) messages.push_back({{"role", "system"}, {"content", *system}});
  }
  if (!body.contains("messages")) return Invalid("messages", "required");
  if (!body["messages"].is_array() || body["messages"].empty()) {
    return Invalid("messages", "expected a non-empty array");
  }
  for (size_t i = 0; i < body["messages"].size(); ++i) {
    if (absl::Status st = MapMessage(body["messages"][i], i, messages, &out.notes); !st.ok()) {
      return st;
    }
  }
  chat["max_tokens"] = *max_tokens;
  for (const char* f : {"temperature", "top_p"}) {
    if (body.contains(f) && !body[f].is_null()) chat[f] = body[f];
  }
  if (body.contains("stop_sequences") && !body["stop_sequences"].is_null()) {
    const json& stop = body["stop_sequences"];
    if (!stop.is_array() ||
        !std::all_of(stop.begin(), stop.end(), [](const json& s) { return s.is_string(); })) {
      return Invalid("stop_sequences", "expected an array of strings");
    }
    if (!stop.empty()) chat["stop"] = stop;
  }
  if (body.contains("tools") && !body["tools"].is_null()) {
    auto tools = MapTools(body["tools"], &out.notes);
    if (!tools.ok()) return tools.status();
    if (!tools->empty()) chat["tools"] = *std::move(tools);
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    auto choice = MapToolChoice(body["tool_choice"], &out.notes);
    if (!choice.ok()) return choice.status();
    if (chat.contains("tools")) chat["tool_choice"] = *std::move(choice);
  }
  auto input = ChatRequestToCallInput(chat);
  if (!input.ok()) return input.status();
  out.input = *std::move(input);
  out.model = body["model"].get<std::string>();  // validated by ChatRequestToCallInput
  if (!out.input.common_overrides.is_object()) out.input.common_overrides = json::object();

  if (top_k.has_value()) {
    out.input.common_overrides["topK"] = *top_k;
    out.top_k = true;
  }
  if (body.contains("thinking") && !body["thinking"].is_null()) {
    if (absl::Status st = MapThinking(body["thinking"], &out); !st.ok()) return st;
  }
  if (body.contains("metadata") && !body["metadata"].is_null()) {
    const json& metadata = body["metadata"];
    if (!metadata.is_object()) return Invalid("metadata", "expected an object");
    if (metadata.contains("user_id") && !metadata["user_id"].is_null()) {
      if (!metadata["user_id"].is_string()) return Invalid("metadata.user_id", "expected a string");
      out.notes.Add("metadata.user_id: not sent to the provider");
    }
  }
  for (const auto& [key, value] : body.items()) {
    if (std::find_if(std::begin(kKnownFields), std::end(kKnownFields),
                     [&](const char* f) { return key == f; }) == std::end(kKnownFields)) {
      out.notes.Add(SafeName(key) + ": not supported, ignored");
    }
  }
  out.input.request_bytes = Dump(body).size();
  return out;
}

void ProviderNotes(const MessagesRequest& request, std::string_view provider,
                   TranscodingNotes* notes) {
  const ProviderInfo* info = FindProvider(provider);
  if (info == nullptr) return;
  if (request.top_k && info->protocol == WireProtocol::kOpenAiChat) {
    notes->Add("top_k: not supported by the provider's OpenAI protocol, dropped");
  }
  if (request.thinking_budget) {
    notes->Add(request.input.preset.has_value()
                   ? "thinking.budget_tokens: not carried (the preset's providerOptions decide)"
                   : "thinking.budget_tokens: not supported by the provider's OpenAI protocol");
  }
}

std::string StopReason(std::string_view finish_reason, bool has_tool_calls) {
  if (finish_reason == "length") return "max_tokens";
  if (finish_reason == "tool_calls") return "tool_use";
  if (finish_reason == "content_filter") return "refusal";
  if (finish_reason.empty() && has_tool_calls) return "tool_use";
  return "end_turn";
}

json MessageFromResult(const pipeline::CallResult& r, const std::string& model,
                       const std::string& id, TranscodingNotes* notes) {
  json content = json::array();
  if (r.thinking_content.has_value() && !r.thinking_content->empty()) {
    content.push_back({{"type", "thinking"}, {"thinking", *r.thinking_content}, {"signature", ""}});
    notes->Add("thinking.signature: not kept by the sidecar (empty)");
  }
  const std::string& text = r.json.has_value() ? *r.json : r.content;
  if (!text.empty() || r.tool_calls.empty()) content.push_back({{"type", "text"}, {"text", text}});
  for (size_t i = 0; i < r.tool_calls.size(); ++i) {
    const adapters::ToolCall& tc = r.tool_calls[i];
    json input = json::parse(tc.arguments.empty() ? "{}" : tc.arguments, nullptr, false);
    if (input.is_discarded() || !input.is_object()) {
      notes->Add(absl::StrCat("content[", content.size(),
                              "].input: tool arguments were not a JSON object, sent as {}"));
      input = json::object();
    }
    content.push_back({{"type", "tool_use"}, {"id", tc.id}, {"name", tc.name}, {"input", input}});
  }
  // Anthropic counts cache reads apart from input_tokens; OpenAI and Gemini include them.
  int64_t input_tokens = r.usage.input_tokens;
  const ProviderInfo* info = FindProvider(r.provider);
  if (r.usage.cached_input_tokens && info != nullptr &&
      info->protocol != WireProtocol::kAnthropicMessages) {
    input_tokens = std::max<int64_t>(0, input_tokens - *r.usage.cached_input_tokens);
  }
  json usage = {{"input_tokens", input_tokens}, {"output_tokens", r.usage.output_tokens}};
  if (r.usage.cached_input_tokens) usage["cache_read_input_tokens"] = *r.usage.cached_input_tokens;
  return json{{"id", id},
              {"type", "message"},
              {"role", "assistant"},
              {"model", model},
              {"content", std::move(content)},
              {"stop_reason", StopReason(r.finish_reason, !r.tool_calls.empty())},
              {"stop_sequence", nullptr},
              {"usage", std::move(usage)}};
}

AnthropicError ToAnthropicError(const OpenAiError& e) {
  AnthropicError out;
  out.http_status = e.http_status;
  out.message = e.message;
  switch (e.http_status) {
    case 401:
      out.type = "authentication_error";
      break;
    case 403:
      out.type = "permission_error";
      break;
    case 404:
      out.type = "not_found_error";
      break;
    case 413:
      out.type = "request_too_large";
      break;
    case 429:
      out.type = "rate_limit_error";
      break;
    case 503:
    case 529:
      out.type = "overloaded_error";
      break;
    case 504:
      out.type = "timeout_error";
      break;
    default:
      out.type = e.http_status >= 500 ? "api_error" : "invalid_request_error";
      break;
  }
  return out;
}

json AnthropicErrorBody(const AnthropicError& error) {
  return json{{"type", "error"}, {"error", {{"type", error.type}, {"message", error.message}}}};
}

// ---------------------------------------------------------------------------------------------
// Streaming.

namespace {

// Anthropic's own key order ("type" first), so the stream reads as theirs does.
using ojson = nlohmann::ordered_json;

void Event(std::string& out, const char* name, const ojson& data) {
  absl::StrAppend(&out, "event: ", name,
                  "\ndata: ", data.dump(-1, ' ', false, ojson::error_handler_t::replace), "\n\n");
}

}  // namespace

AnthropicStreamEncoder::AnthropicStreamEncoder(std::string id, std::string model)
    : id_(std::move(id)), model_(std::move(model)) {}

void AnthropicStreamEncoder::Start(std::string& out) {
  if (started_) return;
  started_ = true;
  Event(out, "message_start",
        {{"type", "message_start"},
         {"message",
          {{"id", id_},
           {"type", "message"},
           {"role", "assistant"},
           {"model", model_},
           {"content", ojson::array()},
           {"stop_reason", nullptr},
           {"stop_sequence", nullptr},
           {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}}}});
}

void AnthropicStreamEncoder::Open(std::string& out, Block kind, const ojson& content_block) {
  Close(out);
  open_ = kind;
  Event(
      out, "content_block_start",
      {{"type", "content_block_start"}, {"index", next_index_}, {"content_block", content_block}});
}

void AnthropicStreamEncoder::Close(std::string& out) {
  if (open_ == Block::kNone) return;
  Event(out, "content_block_stop", {{"type", "content_block_stop"}, {"index", next_index_}});
  open_ = Block::kNone;
  open_tool_ = -1;
  ++next_index_;
}

void AnthropicStreamEncoder::Delta(std::string& out, const ojson& delta) {
  Event(out, "content_block_delta",
        {{"type", "content_block_delta"}, {"index", next_index_}, {"delta", delta}});
}

std::string AnthropicStreamEncoder::Encode(const v1::CallStreamChunk& chunk) {
  std::string out;
  if (done_) return out;
  Start(out);
  switch (chunk.chunk_case()) {
    case v1::CallStreamChunk::kContentDelta:
      if (chunk.content_delta().empty()) break;
      any_delta_ = true;
      if (open_ != Block::kText) Open(out, Block::kText, {{"type", "text"}, {"text", ""}});
      Delta(out, {{"type", "text_delta"}, {"text", chunk.content_delta()}});
      break;
    case v1::CallStreamChunk::kThinkingDelta:
      if (chunk.thinking_delta().empty()) break;
      any_delta_ = true;
      if (open_ != Block::kThinking) {
        Open(out, Block::kThinking, {{"type", "thinking"}, {"thinking", ""}});
      }
      Delta(out, {{"type", "thinking_delta"}, {"thinking", chunk.thinking_delta()}});
      break;
    case v1::CallStreamChunk::kToolCallDelta: {
      const v1::ToolCallDelta& d = chunk.tool_call_delta();
      any_delta_ = true;
      if (open_ != Block::kToolUse || open_tool_ != d.index()) {
        Open(
            out, Block::kToolUse,
            {{"type", "tool_use"}, {"id", d.id()}, {"name", d.name()}, {"input", ojson::object()}});
        open_tool_ = d.index();
      }
      if (!d.arguments_delta().empty()) {
        Delta(out, {{"type", "input_json_delta"}, {"partial_json", d.arguments_delta()}});
      }
      break;
    }
    case v1::CallStreamChunk::kFinal:
      Final(out, chunk.final());
      break;
    case v1::CallStreamChunk::CHUNK_NOT_SET:
      break;
  }
  return out;
}

void AnthropicStreamEncoder::Final(std::string& out, const v1::CallResponse& r) {
  done_ = true;
  if (!r.success()) {
    Close(out);
    // The status line is long gone: Anthropic reports a failure mid-stream as an error event.
    OpenAiError e;
    e.message = r.error().message();
    e.http_status = r.error().retryable() ? 503 : 500;
    const AnthropicError a = ToAnthropicError(e);
    Event(out, "error", {{"type", "error"}, {"error", {{"type", a.type}, {"message", a.message}}}});
    return;
  }
  if (!any_delta_) {
    // Nothing was streamed (a cache hit): the whole answer as blocks.
    if (r.has_thinking_content() && !r.thinking_content().empty()) {
      Open(out, Block::kThinking, {{"type", "thinking"}, {"thinking", ""}});
      Delta(out, {{"type", "thinking_delta"}, {"thinking", r.thinking_content()}});
    }
    const std::string& text = r.has_json() ? r.json() : r.content();
    if (!text.empty()) {
      Open(out, Block::kText, {{"type", "text"}, {"text", ""}});
      Delta(out, {{"type", "text_delta"}, {"text", text}});
    }
    for (const auto& tc : r.tool_calls()) {
      Open(out, Block::kToolUse,
           {{"type", "tool_use"},
            {"id", tc.id()},
            {"name", tc.function().name()},
            {"input", ojson::object()}});
      if (!tc.function().arguments().empty()) {
        Delta(out, {{"type", "input_json_delta"}, {"partial_json", tc.function().arguments()}});
      }
    }
  }
  Close(out);
  ojson usage = {{"input_tokens", r.usage().input_tokens()},
                 {"output_tokens", r.usage().output_tokens()}};
  if (r.usage().has_cached_input_tokens()) {
    usage["cache_read_input_tokens"] = r.usage().cached_input_tokens();
  }
  Event(out, "message_delta",
        {{"type", "message_delta"},
         {"delta",
          {{"stop_reason", StopReason(r.finish_reason(), r.tool_calls_size() > 0)},
           {"stop_sequence", nullptr}}},
         {"usage", std::move(usage)}});
  Event(out, "message_stop", {{"type", "message_stop"}});
}

}  // namespace llmix::sidecar
