#include "adapters/stream_parser.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "adapters/wire_common.h"
#include "common/logging.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

// The HTTP status an in-stream error type stands for (Anthropic, OpenAI and Gemini names).
int StatusForErrorType(std::string_view type) {
  static constexpr std::pair<std::string_view, int> kTable[] = {
      {"invalid_request_error", 400},
      {"INVALID_ARGUMENT", 400},
      {"FAILED_PRECONDITION", 400},
      {"authentication_error", 401},
      {"UNAUTHENTICATED", 401},
      {"permission_error", 403},
      {"PERMISSION_DENIED", 403},
      {"not_found_error", 404},
      {"NOT_FOUND", 404},
      {"request_too_large", 413},
      {"rate_limit_error", 429},
      {"rate_limit_exceeded", 429},
      {"RESOURCE_EXHAUSTED", 429},
      {"api_error", 500},
      {"server_error", 500},
      {"INTERNAL", 500},
      {"UNAVAILABLE", 503},
      {"timeout_error", 504},
      {"DEADLINE_EXCEEDED", 504},
      {"overloaded_error", 529},
  };
  for (const auto& [name, status] : kTable) {
    if (name == type) return status;
  }
  return 0;
}

}  // namespace

std::string_view StreamEventKindName(StreamEventKind kind) {
  switch (kind) {
    case StreamEventKind::kModel:
      return "model";
    case StreamEventKind::kThinking:
      return "thinking";
    case StreamEventKind::kContent:
      return "content";
    case StreamEventKind::kToolCall:
      return "tool_call";
    case StreamEventKind::kFinish:
      return "finish";
    case StreamEventKind::kUsage:
      return "usage";
    case StreamEventKind::kError:
      return "error";
  }
  return "?";
}

bool operator==(const StreamEvent& a, const StreamEvent& b) {
  return DebugString(a) == DebugString(b);
}

std::string DebugString(const StreamEvent& e) {
  std::string out(StreamEventKindName(e.kind));
  switch (e.kind) {
    case StreamEventKind::kToolCall:
      absl::StrAppend(&out, " #", e.tool_call.index, " id=", e.tool_call.id,
                      " name=", e.tool_call.name, " args=", e.tool_call.arguments);
      break;
    case StreamEventKind::kUsage:
      absl::StrAppend(&out, " in=", e.usage.input_tokens, " out=", e.usage.output_tokens,
                      " total=", e.usage.total_tokens,
                      " cached=", e.usage.cached_input_tokens.value_or(-1),
                      " reasoning=", e.usage.reasoning_tokens.value_or(-1));
      break;
    case StreamEventKind::kError:
      absl::StrAppend(&out, " ", std::string(CallErrorCodeName(e.error.code)),
                      e.error.retryable ? " retryable" : "", " type=", e.error.provider_error_type,
                      " ", e.error.message);
      break;
    default:
      absl::StrAppend(&out, " ", json(e.text).dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return out;
}

absl::Status StreamParser::Feed(std::string_view bytes, std::vector<StreamEvent>* out) {
  if (!failed_.ok()) return failed_;
  if (done_) return absl::OkStatus();
  framed_.clear();
  const absl::Status framing = framer_.Feed(bytes, &framed_);
  for (const SseEvent& e : framed_) {  // the events completed before a framing error count
    if (done_) break;
    ++events_seen_;
    if (absl::Status s = OnEvent(e, out); !s.ok()) {
      failed_ = s;
      return s;
    }
  }
  framed_.clear();
  if (!framing.ok() && !done_) {
    failed_ = absl::Status(framing.code(), absl::StrCat(protocol_, " stream: ", framing.message()));
    return failed_;
  }
  return absl::OkStatus();
}

absl::Status StreamParser::Finish(std::vector<StreamEvent>* out) {
  if (!failed_.ok()) return failed_;
  const bool discarded = framer_.Finish();
  if (done_) return absl::OkStatus();
  absl::Status s = OnEnd(out);
  if (!s.ok() && discarded) {
    s = absl::Status(s.code(),
                     absl::StrCat(s.message(), " (an unterminated last event was dropped)"));
  }
  failed_ = s;
  return s;
}

absl::Status StreamParser::ParseObject(const SseEvent& event, json* out) const {
  *out = ParseJsonBounded(event.data);
  if (out->is_discarded() || !out->is_object()) {
    return Malformed(
        absl::StrCat("data of event \"", event.type.substr(0, 64), "\" is not a JSON object"));
  }
  return absl::OkStatus();
}

absl::Status StreamParser::Malformed(std::string_view what) const {
  return absl::DataLossError(
      absl::StrCat(protocol_, " stream: event ", events_seen_, ": ", std::string(what)));
}

absl::Status StreamParser::Cut(std::string_view what) const {
  if (events_seen_ == 0) {
    return absl::DataLossError(
        absl::StrCat(protocol_, " stream: the body has no server-sent events (not a stream?)"));
  }
  return absl::UnavailableError(absl::StrCat(protocol_, " stream ended ", std::string(what),
                                             " after ", events_seen_, " events"));
}

StreamEvent StreamParser::ErrorEvent(const json& error) const {
  StreamEvent e;
  e.kind = StreamEventKind::kError;
  std::string message;
  int status = 0;
  if (error.is_object()) {
    message = StrField(error, "message");
    for (const char* k : {"type", "status", "code"}) {
      if (std::string t = StrField(error, k); !t.empty()) {
        e.error.provider_error_type = std::move(t);
        break;
      }
    }
    if (auto code = WholeNumber(error.value("code", json())); code && *code >= 400 && *code < 600) {
      status = static_cast<int>(*code);
    }
  } else if (error.is_string()) {
    message = error.get<std::string>();
  }
  if (status == 0) status = StatusForErrorType(e.error.provider_error_type);
  if (status == 0) status = 500;
  const HttpStatusClass cls = ClassifyHttpStatus(status);
  e.error.code = cls.code;
  e.error.retryable = cls.retryable;
  e.error.provider = provider_;
  if (message.size() > 1000) message.resize(1000);
  e.error.message =
      absl::StrCat(provider_, " stream error", e.error.provider_error_type.empty() ? "" : " ",
                   e.error.provider_error_type, message.empty() ? "" : ": ", message);
  // Key-looking text is redacted here; the caller also redacts the request's own key.
  e.error.message = RedactSecrets(e.error.message);
  e.error.provider_error_type = RedactSecrets(e.error.provider_error_type);
  return e;
}

void StreamParser::EmitModel(const json& model, std::vector<StreamEvent>* out) {
  if (model_sent_ || !model.is_string() || model.get_ref<const std::string&>().empty()) return;
  model_sent_ = true;
  Emit(StreamEventKind::kModel, model.get<std::string>(), out);
}

void StreamParser::Emit(StreamEventKind kind, std::string text, std::vector<StreamEvent>* out) {
  StreamEvent e;
  e.kind = kind;
  e.text = std::move(text);
  out->push_back(std::move(e));
}

std::unique_ptr<StreamParser> MakeStreamParser(WireProtocol protocol, std::string provider,
                                               const StreamParserOptions& options) {
  switch (protocol) {
    case WireProtocol::kAnthropicMessages:
      return MakeAnthropicStreamParser(std::move(provider), options);
    case WireProtocol::kGeminiGenerateContent:
      return MakeGeminiStreamParser(std::move(provider), options);
    case WireProtocol::kOpenAiChat:
      break;
  }
  return MakeOpenAiStreamParser(std::move(provider), options);
}

CallError StreamFailure(const std::string& provider, const absl::Status& status) {
  CallError e;
  e.provider = provider;
  e.code = status.code() == absl::StatusCode::kUnavailable ? CallErrorCode::kUpstreamUnreachable
                                                           : CallErrorCode::kUpstreamBadResponse;
  e.retryable = status.code() == absl::StatusCode::kUnavailable;
  e.message = absl::StrCat(provider, " ", status.message());
  return e;
}

}  // namespace llmix::adapters
