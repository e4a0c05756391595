#include "sidecar/proto_mapping.h"

#include "absl/strings/str_cat.h"
#include "common/js_json.h"
#include "common/js_text.h"

namespace llmix::sidecar {

namespace {

using nlohmann::json;

absl::Status Invalid(const std::string& field, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", absl::string_view(why.data(), why.size())));
}

// Caller JSON is read with JavaScript's JSON.parse semantics (numbers are doubles, lone
// surrogates kept): it may enter a cache key that LLMix callers compute too.
absl::StatusOr<json> ParseJson(const std::string& field, const std::string& text) {
  auto j = ParseJsJson(text);
  if (!j.ok()) return Invalid(field, std::string(j.status().message()));
  return j;
}

absl::StatusOr<json> PartToJson(const v1::ContentPart& part, const std::string& at) {
  switch (part.part_case()) {
    case v1::ContentPart::kText:
      return json{{"type", "text"}, {"text", part.text()}};
    case v1::ContentPart::kImageUrl: {
      if (part.image_url().url().empty()) return Invalid(at + ".image_url.url", "required");
      json img = {{"url", part.image_url().url()}};
      if (part.image_url().has_detail()) img["detail"] = part.image_url().detail();
      return json{{"type", "image_url"}, {"image_url", std::move(img)}};
    }
    case v1::ContentPart::kPartJson: {
      auto j = ParseJson(at + ".part_json", part.part_json());
      if (!j.ok()) return j.status();
      if (!j->is_object()) return Invalid(at + ".part_json", "expected a JSON object");
      return j;
    }
    case v1::ContentPart::PART_NOT_SET:
      break;
  }
  return Invalid(at, "empty part (set text, image_url or part_json)");
}

json ToolCallToJson(const v1::ToolCall& tc) {
  return json{{"id", tc.id()},
              {"type", tc.type().empty() ? "function" : tc.type()},
              {"function", {{"name", tc.function().name()}, {"arguments", tc.function().arguments()}}}};
}

}  // namespace

absl::StatusOr<json> MessageToJson(const v1::Message& m, size_t index) {
  const std::string at = absl::StrCat("messages[", index, "]");
  if (m.has_message_json()) {
    if (!m.role().empty() || m.content_case() != v1::Message::CONTENT_NOT_SET || m.has_name() ||
        m.has_tool_call_id() || m.tool_calls_size() > 0) {
      return Invalid(at + ".message_json", "excludes every other message field");
    }
    auto j = ParseJson(at + ".message_json", m.message_json());
    if (!j.ok()) return j.status();
    if (!j->is_object()) return Invalid(at + ".message_json", "expected a JSON object");
    return j;
  }
  json out = json::object();
  out["role"] = m.role();
  switch (m.content_case()) {
    case v1::Message::kText:
      out["content"] = m.text();
      break;
    case v1::Message::kParts: {
      json parts = json::array();
      for (int p = 0; p < m.parts().parts_size(); ++p) {
        auto part = PartToJson(m.parts().parts(p), absl::StrCat(at, ".parts[", p, "]"));
        if (!part.ok()) return part.status();
        parts.push_back(std::move(*part));
      }
      out["content"] = std::move(parts);
      break;
    }
    case v1::Message::CONTENT_NOT_SET:
      break;
  }
  if (m.has_name()) out["name"] = m.name();
  if (m.has_tool_call_id()) out["tool_call_id"] = m.tool_call_id();
  if (m.tool_calls_size() > 0) {
    json calls = json::array();
    for (const auto& tc : m.tool_calls()) calls.push_back(ToolCallToJson(tc));
    out["tool_calls"] = std::move(calls);
  }
  return out;
}

absl::Status ToCallInput(const v1::CallRequest& r, pipeline::CallInput* out) {
  if (r.has_preset()) out->preset = r.preset();
  if (r.has_config_json()) out->config_json = r.config_json();
  switch (r.priority()) {
    case v1::PRIORITY_UNSPECIFIED:
    case v1::PRIORITY_NORMAL: out->priority = Priority::kNormal; break;
    case v1::PRIORITY_CRITICAL: out->priority = Priority::kCritical; break;
    case v1::PRIORITY_HIGH: out->priority = Priority::kHigh; break;
    case v1::PRIORITY_LOW: out->priority = Priority::kLow; break;
    default:
      return Invalid("priority", absl::StrCat("unknown value ", static_cast<int>(r.priority()),
                                              " (CRITICAL, HIGH, NORMAL or LOW)"));
  }
  out->messages = json::array();
  for (int i = 0; i < r.messages_size(); ++i) {
    auto m = MessageToJson(r.messages(i), i);
    if (!m.ok()) return m.status();
    out->messages.push_back(std::move(*m));
  }
  if (r.tools_size() > 0) {
    out->tools = json::array();
    for (int i = 0; i < r.tools_size(); ++i) {
      const v1::Tool& t = r.tools(i);
      const std::string at = absl::StrCat("tools[", i, "]");
      if (t.name().empty()) return Invalid(at + ".name", "required");
      json fn = {{"name", t.name()}};
      if (!t.description().empty()) fn["description"] = t.description();
      if (!t.parameters_json().empty()) {
        auto params = ParseJson(at + ".parameters_json", t.parameters_json());
        if (!params.ok()) return params.status();
        fn["parameters"] = std::move(*params);
      }
      out->tools.push_back(json{{"type", "function"}, {"function", std::move(fn)}});
    }
  }
  switch (r.tool_choice().choice_case()) {
    case v1::ToolChoice::kMode:
      switch (r.tool_choice().mode()) {
        case v1::TOOL_CHOICE_MODE_AUTO: out->tool_choice = "auto"; break;
        case v1::TOOL_CHOICE_MODE_NONE: out->tool_choice = "none"; break;
        case v1::TOOL_CHOICE_MODE_REQUIRED: out->tool_choice = "required"; break;
        default: break;
      }
      break;
    case v1::ToolChoice::kFunctionName:
      if (r.tool_choice().function_name().empty()) {
        return Invalid("tool_choice.function_name", "empty");
      }
      out->tool_choice = json{{"type", "function"},
                              {"function", {{"name", r.tool_choice().function_name()}}}};
      break;
    case v1::ToolChoice::CHOICE_NOT_SET:
      break;
  }
  if (r.has_response_format_json()) out->response_format_json = r.response_format_json();
  if (r.has_singleflight_key()) out->singleflight_key = r.singleflight_key();
  if (r.has_json_task()) {
    pipeline::JsonTaskInput task;
    task.schema_json = r.json_task().schema_json();
    if (r.json_task().has_max_repairs()) task.max_repairs = r.json_task().max_repairs();
    out->json_task = std::move(task);
  }
  switch (r.cache()) {
    case v1::CACHE_MODE_BYPASS: out->cache_mode = pipeline::CacheMode::kBypass; break;
    case v1::CACHE_MODE_REFRESH: out->cache_mode = pipeline::CacheMode::kRefresh; break;
    default: out->cache_mode = pipeline::CacheMode::kDefault; break;
  }
  if (static_cast<size_t>(r.metadata_size()) > kMaxMetadataEntries) {
    return Invalid("metadata", absl::StrCat("more than ", kMaxMetadataEntries, " entries"));
  }
  for (const auto& [k, v] : r.metadata()) {
    if (k.empty() || k.size() > kMaxMetadataKeyBytes) {
      return Invalid("metadata", absl::StrCat("keys must be 1..", kMaxMetadataKeyBytes, " bytes"));
    }
    if (v.size() > kMaxMetadataValueBytes) {
      return Invalid(absl::StrCat("metadata[\"", k, "\"]"),
                     absl::StrCat("value exceeds ", kMaxMetadataValueBytes, " bytes"));
    }
    out->metadata[k] = v;
  }
  if (r.has_tenant()) out->tenant = r.tenant();  // checked by the validate stage
  out->request_bytes = r.ByteSizeLong();
  return absl::OkStatus();
}

// Protobuf string fields must be valid UTF-8, and provider text can hold anything a JS string
// can (lone surrogates included), so every string is made strict UTF-8 on the way out.
void ToCallResponse(pipeline::CallResult&& r, v1::CallResponse* out) {
  out->set_success(r.success);
  out->set_content(ToValidUtf8(std::move(r.content)));
  out->set_model(ToValidUtf8(std::move(r.model)));
  out->set_provider(ToValidUtf8(std::move(r.provider)));
  if (r.thinking_content) out->set_thinking_content(ToValidUtf8(std::move(*r.thinking_content)));
  v1::Usage* u = out->mutable_usage();
  u->set_input_tokens(r.usage.input_tokens);
  u->set_output_tokens(r.usage.output_tokens);
  u->set_total_tokens(r.usage.total_tokens);
  if (r.usage.cached_input_tokens) u->set_cached_input_tokens(*r.usage.cached_input_tokens);
  if (r.usage.reasoning_tokens) u->set_reasoning_tokens(*r.usage.reasoning_tokens);
  for (auto& tc : r.tool_calls) {
    v1::ToolCall* t = out->add_tool_calls();
    t->set_id(ToValidUtf8(std::move(tc.id)));
    t->set_type("function");
    t->mutable_function()->set_name(ToValidUtf8(std::move(tc.name)));
    t->mutable_function()->set_arguments(ToValidUtf8(std::move(tc.arguments)));
  }
  out->set_finish_reason(ToValidUtf8(std::move(r.finish_reason)));
  if (r.error) {
    v1::Error* e = out->mutable_error();
    e->set_code(static_cast<v1::ErrorCode>(static_cast<int>(r.error->code)));
    e->set_message(ToValidUtf8(std::move(r.error->message)));
    e->set_retryable(r.error->retryable);
    e->set_http_status(r.error->http_status);
    e->set_provider(ToValidUtf8(std::move(r.error->provider)));
    if (r.error->retry_after_ms) e->set_retry_after_ms(*r.error->retry_after_ms);
    e->set_provider_error_type(ToValidUtf8(std::move(r.error->provider_error_type)));
  }
  switch (r.cache_tier) {
    case pipeline::CacheTier::kL1: out->set_cache_hit(v1::CACHE_TIER_L1); break;
    case pipeline::CacheTier::kL2: out->set_cache_hit(v1::CACHE_TIER_L2); break;
    case pipeline::CacheTier::kSemantic: out->set_cache_hit(v1::CACHE_TIER_SEMANTIC); break;
    default: out->set_cache_hit(v1::CACHE_TIER_NONE); break;
  }
  if (r.semantic_similarity.has_value()) out->set_semantic_similarity(*r.semantic_similarity);
  out->set_config_revision(ToValidUtf8(std::move(r.config_revision)));
  out->set_attempts(r.attempts);
  out->set_fallback_index(r.fallback_index);
  if (r.cost.has_value()) {
    out->mutable_cost()->set_input_usd(r.cost->input_usd);
    out->mutable_cost()->set_output_usd(r.cost->output_usd);
    out->mutable_cost()->set_total_usd(r.cost->total_usd);
  }
  if (r.json) out->set_json(ToValidUtf8(std::move(*r.json)));
  out->set_json_repairs(r.json_repairs);
  out->set_trace_id(std::move(r.trace_id));
}

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

}  // namespace llmix::sidecar
