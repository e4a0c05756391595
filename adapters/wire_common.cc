#include "adapters/wire_common.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "adapters/stream_parser.h"
#include "common/logging.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

std::string Redact(std::string text, const std::string& api_key) {
  if (api_key.size() >= 4) absl::StrReplaceAll({{api_key, "[REDACTED]"}}, &text);
  return RedactSecrets(text);
}

std::string Truncate(std::string s, size_t n) {
  if (s.size() > n) {
    s.resize(n);
    s += "...";
  }
  return s;
}

std::string MediaTypeFromExtension(std::string_view url) {
  std::string lower = absl::AsciiStrToLower(std::string(url.substr(0, url.find_first_of("?#"))));
  for (auto [ext, type] : {std::pair{".png", "image/png"}, std::pair{".jpg", "image/jpeg"},
                           std::pair{".jpeg", "image/jpeg"}, std::pair{".webp", "image/webp"},
                           std::pair{".gif", "image/gif"}}) {
    if (absl::EndsWith(lower, ext)) return type;
  }
  return "";
}

// JSON.stringify writes 64 for the JS number 64.0; config numbers are held as doubles, so
// whole values go on the wire as integers (providers validate max_tokens & co. as ints).
void WholeNumbersAsIntegers(json& v) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740991.0) {
      v = static_cast<int64_t>(d);
    }
    return;
  }
  if (v.is_structured()) {
    for (auto& e : v) WholeNumbersAsIntegers(e);
  }
}

}  // namespace

std::optional<int64_t> WholeNumber(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740991.0) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

absl::StatusOr<SystemSplit> SplitSystemMessages(const json* messages) {
  SystemSplit out;
  if (messages == nullptr || !messages->is_array()) return out;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    if (m.is_object() && m.contains("role") && m["role"] == "system") {
      const json& content = m.contains("content") ? m["content"] : json();
      if (!content.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "messages[", i, "].content: a system message must have string content"));
      }
      if (out.has_system) out.system += "\n\n";
      out.system += content.get<std::string>();
      out.has_system = true;
      continue;
    }
    out.rest.push_back(&m);
  }
  return out;
}

const json* MessageField(const json& message, std::string_view snake, std::string_view camel) {
  if (!message.is_object()) return nullptr;
  for (std::string_view k : {snake, camel}) {
    auto it = message.find(std::string(k));
    if (it != message.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

absl::StatusOr<ImageRef> ParseImagePart(const json& part, const std::string& field) {
  const json* image = MessageField(part, "image_url", "imageUrl");
  std::string url;
  if (image != nullptr && image->is_string()) {
    url = image->get<std::string>();
  } else if (image != nullptr && image->is_object() && image->contains("url") &&
             (*image)["url"].is_string()) {
    url = (*image)["url"].get<std::string>();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".image_url: expected {\"url\": \"...\"}"));
  }
  ImageRef ref;
  if (absl::StartsWith(url, "data:")) {
    // data:<media type>;base64,<payload>
    const size_t comma = url.find(',');
    const std::string header = url.substr(5, comma == std::string::npos ? 0 : comma - 5);
    if (comma == std::string::npos || !absl::EndsWith(header, ";base64")) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".image_url.url: a data URL must be base64 (data:<type>;base64,...)"));
    }
    ref.inline_data = true;
    ref.media_type = std::string(header.substr(0, header.size() - 7));
    ref.data = url.substr(comma + 1);
    return ref;
  }
  if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".image_url.url: expected an http(s) or data: URL"));
  }
  ref.media_type = MediaTypeFromExtension(url);
  ref.data = std::move(url);
  return ref;
}

absl::StatusOr<json> ConvertContentParts(const json& content, const std::string& field,
                                         std::string_view protocol, const PartConverters& convert) {
  json items = json::array();
  if (content.is_string()) {
    if (!content.get_ref<const std::string&>().empty()) items.push_back(convert.text(content.get<std::string>()));
    return items;
  }
  if (content.is_null()) return items;
  if (!content.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": expected a string or an array of parts"));
  }
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string pf = absl::StrCat(field, "[", i, "]");
    const std::string type = part.is_object() && part.contains("type") && part["type"].is_string()
                                 ? part["type"].get<std::string>()
                                 : "";
    if (type == "text") {
      items.push_back(convert.text(StrField(part, "text")));
    } else if (type == "image_url") {
      auto image = ParseImagePart(part, pf);
      if (!image.ok()) return image.status();
      auto item = convert.image(*image, pf);
      if (!item.ok()) return item.status();
      items.push_back(std::move(*item));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(pf, ".type: \"", type, "\" is not supported by the ",
                                                     std::string(protocol), " protocol (text, image_url)"));
    }
  }
  return items;
}

bool JsonNestedDeeperThan(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

json ParseJsonBounded(std::string_view text) {
  if (JsonNestedDeeperThan(text)) return json(json::value_t::discarded);
  return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

absl::StatusOr<json> ToolCallArguments(const json& call, const std::string& field) {
  const json* fn = MessageField(call, "function", "function");
  const json* args = fn != nullptr ? MessageField(*fn, "arguments", "arguments") : nullptr;
  if (args == nullptr) return json::object();
  if (args->is_object()) return *args;
  if (args->is_string()) {
    const std::string& text = args->get_ref<const std::string&>();
    if (JsonNestedDeeperThan(text)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".function.arguments: JSON nested deeper than ", kMaxJsonNesting, " levels"));
    }
    json parsed = json::parse(text, nullptr, false);
    if (parsed.is_object()) return parsed;
  }
  return json::object();
}

void AppendTurn(json& turns, const std::string& role, json items, const char* items_key) {
  if (items.empty()) return;
  if (!turns.empty() && turns.back()["role"] == role) {
    for (auto& item : items) turns.back()[items_key].push_back(std::move(item));
    return;
  }
  turns.push_back({{"role", role}, {items_key, std::move(items)}});
}

std::string JoinUrl(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  std::string out(base);
  out += path;
  return out;
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

std::string StrField(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t IntField(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    return u > static_cast<uint64_t>(INT64_MAX) ? 0 : static_cast<int64_t>(u);
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  // A float outside int64's range (or non-finite) has no int64 value: converting it is UB.
  const double d = it->get<double>();
  if (!std::isfinite(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) return 0;
  return static_cast<int64_t>(d);
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
  json j = ParseJsonBounded(r.body);
  if (j.is_object() && j.contains("error")) {
    const json& err = j["error"];
    if (err.is_object()) {
      if (auto m = err.find("message"); m != err.end() && m->is_string()) detail = m->get<std::string>();
      // OpenAI and Anthropic name the kind in `type`, Gemini in `status`; OpenAI-compatible
      // servers sometimes only in `code`.
      for (const char* k : {"type", "status", "code"}) {
        if (auto t = err.find(k); t != err.end() && t->is_string()) {
          e.provider_error_type = t->get<std::string>();
          break;
        }
      }
    } else if (err.is_string()) {
      detail = err.get<std::string>();
    }
  }
  if (detail.empty()) detail = Truncate(r.body, 200);
  e.message = absl::StrCat(provider, " returned HTTP ", r.status, detail.empty() ? "" : ": ", detail);
  return e;
}

ProviderOutcome Exchange(HttpTransport& transport, const ProviderRequest& request,
                         std::string url, std::vector<std::pair<std::string, std::string>> headers,
                         json body, const ResponseParser& parse) {
  ProviderOutcome out;
  HttpRequest http;
  http.url = std::move(url);
  http.timeout = request.timeout;
  WholeNumbersAsIntegers(body);
  http.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  http.headers = std::move(headers);
  http.headers.emplace_back("Accept", "application/json");
  if (!request.traceparent.empty()) http.headers.emplace_back("traceparent", request.traceparent);
  for (const auto& h : request.extra_headers) http.headers.push_back(h);

  HttpResponse r = transport.Post(http);
  out.http_status = r.status;
  out.headers = std::move(r.headers);
  if (r.failure != TransportFailure::kNone || r.status < 200 || r.status > 299) {
    out.network_error = r.failure != TransportFailure::kNone;
    CallError e = ErrorFromHttp(request.provider, r);
    e.message = Redact(std::move(e.message), request.api_key);
    e.provider_error_type = Redact(std::move(e.provider_error_type), request.api_key);
    out.error = std::move(e);
    return out;
  }
  std::string parse_error;
  if (!parse(r.body, &out.response, &parse_error)) {
    CallError e;
    e.code = CallErrorCode::kUpstreamBadResponse;
    e.provider = request.provider;
    e.http_status = r.status;
    e.message = Redact(absl::StrCat(request.provider, " response unusable: ", parse_error),
                       request.api_key);
    out.error = std::move(e);
    return out;
  }
  if (out.response.model.empty()) out.response.model = request.model;
  return out;
}

ProviderOutcome ExchangeStream(HttpTransport& transport, const ProviderRequest& request,
                               WireProtocol protocol, std::string url,
                               std::vector<std::pair<std::string, std::string>> headers,
                               json body, StreamEventSink& sink, StreamCancellation* cancel) {
  ProviderOutcome out;
  HttpRequest http;
  http.url = std::move(url);
  http.timeout = request.timeout;
  http.idle_timeout = request.stream_idle_timeout;
  WholeNumbersAsIntegers(body);
  http.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  http.headers = std::move(headers);
  http.headers.emplace_back("Accept", "text/event-stream");
  if (!request.traceparent.empty()) http.headers.emplace_back("traceparent", request.traceparent);
  for (const auto& h : request.extra_headers) http.headers.push_back(h);

  std::unique_ptr<StreamParser> parser = MakeStreamParser(protocol, request.provider);
  std::vector<StreamEvent> events;
  absl::Status parse_status;
  std::optional<CallError> stream_error;
  bool sink_stopped = false;
  std::string reasoning;
  bool has_reasoning = false;
  ProviderResponse& resp = out.response;
  // Folds one event into the answer and forwards it; false stops reading.
  auto take = [&](const StreamEvent& e) {
    switch (e.kind) {
      case StreamEventKind::kModel: resp.model = e.text; break;
      case StreamEventKind::kThinking:
        reasoning += e.text;
        has_reasoning = true;
        break;
      case StreamEventKind::kContent: resp.content += e.text; break;
      case StreamEventKind::kToolCall: {
        const size_t i = static_cast<size_t>(std::max(0, e.tool_call.index));
        if (i >= 128) break;  // a bound on what a provider can make us allocate
        if (resp.tool_calls.size() <= i) resp.tool_calls.resize(i + 1);
        ToolCall& t = resp.tool_calls[i];
        if (!e.tool_call.id.empty()) t.id = e.tool_call.id;
        if (!e.tool_call.name.empty()) t.name = e.tool_call.name;
        t.arguments += e.tool_call.arguments;
        break;
      }
      case StreamEventKind::kFinish: resp.finish_reason = e.text; break;
      case StreamEventKind::kUsage: resp.usage = e.usage; break;
      case StreamEventKind::kError: stream_error = e.error; return false;
    }
    if (!sink.OnEvent(e)) {
      sink_stopped = true;
      return false;
    }
    return true;
  };
  StreamHandlers handlers;
  handlers.on_body = [&](std::string_view bytes) {
    events.clear();
    parse_status = parser->Feed(bytes, &events);
    for (const StreamEvent& e : events) {
      if (!take(e)) return false;
    }
    return parse_status.ok();
  };
  HttpResponse r = transport.PostStream(http, handlers, cancel);
  out.http_status = r.status;
  out.headers = std::move(r.headers);
  auto fail = [&](CallError e) {
    e.message = Redact(std::move(e.message), request.api_key);
    e.provider_error_type = Redact(std::move(e.provider_error_type), request.api_key);
    if (e.http_status == 0 && r.status >= 200 && r.status <= 299) e.http_status = r.status;
    out.error = std::move(e);
    return out;
  };
  if (stream_error) return fail(*stream_error);
  if (r.status >= 200 && r.status <= 299 && !parse_status.ok()) {
    return fail(StreamFailure(request.provider, parse_status));
  }
  if (r.failure == TransportFailure::kCancelled && sink_stopped) {
    CallError e;
    e.code = CallErrorCode::kUpstreamUnreachable;
    e.provider = request.provider;
    e.message = absl::StrCat(request.provider, " stream cancelled by the caller");
    return fail(std::move(e));
  }
  if (r.failure != TransportFailure::kNone || r.status < 200 || r.status > 299) {
    out.network_error = r.failure != TransportFailure::kNone;
    return fail(ErrorFromHttp(request.provider, r));
  }
  events.clear();
  parse_status = parser->Finish(&events);
  for (const StreamEvent& e : events) take(e);
  if (stream_error) return fail(*stream_error);
  if (!parse_status.ok()) {
    out.network_error = parse_status.code() == absl::StatusCode::kUnavailable;
    return fail(StreamFailure(request.provider, parse_status));
  }
  if (has_reasoning) resp.reasoning_content = std::move(reasoning);
  if (resp.model.empty()) resp.model = request.model;
  return out;
}

ProviderOutcome Adapter::SendStream(const ProviderRequest& request, StreamEventSink& sink,
                                    StreamCancellation*) {
  ProviderOutcome out = Send(request);
  if (!out.ok()) return out;
  const ProviderResponse& r = out.response;
  auto emit = [&](StreamEventKind kind, std::string text) {
    StreamEvent e;
    e.kind = kind;
    e.text = std::move(text);
    return sink.OnEvent(e);
  };
  if (!emit(StreamEventKind::kModel, r.model)) return out;
  if (r.reasoning_content && !emit(StreamEventKind::kThinking, *r.reasoning_content)) return out;
  if (!r.content.empty() && !emit(StreamEventKind::kContent, r.content)) return out;
  for (size_t i = 0; i < r.tool_calls.size(); ++i) {
    StreamEvent e;
    e.kind = StreamEventKind::kToolCall;
    e.tool_call = {static_cast<int>(i), r.tool_calls[i].id, r.tool_calls[i].name,
                   r.tool_calls[i].arguments};
    if (!sink.OnEvent(e)) return out;
  }
  return out;
}

ProviderOutcome InvalidRequest(const ProviderRequest& request, std::string message) {
  ProviderOutcome out;
  CallError e;
  e.code = CallErrorCode::kInvalidRequest;
  e.provider = request.provider;
  e.message = std::move(message);
  out.error = std::move(e);
  return out;
}

}  // namespace llmix::adapters
