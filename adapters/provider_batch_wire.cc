#include "adapters/provider_batch_wire.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "adapters/wire_common.h"
#include "common/canonical_json.h"
#include "common/logging.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr absl::Duration kRequestTimeout = absl::Seconds(60);  // LLMix's AbortSignal.timeout
constexpr size_t kMaxErrorBody = 1000;

}  // namespace

namespace batch_wire {

void AppendJs(const ojson& v, std::string& out) {
  switch (v.type()) {
    case ojson::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.items()) {
        if (item.is_discarded()) continue;
        if (!first) out += ',';
        first = false;
        AppendJsJsonQuoted(k, out);
        out += ':';
        AppendJs(item, out);
      }
      out += '}';
      return;
    }
    case ojson::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out += ',';
        if (v[i].is_discarded()) {
          out += "null";
        } else {
          AppendJs(v[i], out);
        }
      }
      out += ']';
      return;
    }
    case ojson::value_t::string:
      AppendJsJsonQuoted(v.get_ref<const std::string&>(), out);
      return;
    case ojson::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned:
    case ojson::value_t::number_float: {
      const double d = v.get<double>();
      out += std::isfinite(d) ? JsNumberToString(d) : "null";
      return;
    }
    default:
      out += "null";
  }
}

// A provider id that goes into a URL path: no query, fragment, escapes or ".." segments.
bool SafePathId(std::string_view id) {
  if (id.empty() || id.size() > 512 || id.front() == '/' ||
      id.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == '/' || c == ':' || c == '~';
  });
}

// The lines of a JSONL text (trimmed, empty lines skipped), each parsed; an error names the
// first unusable line.
std::optional<BatchError> ParseJsonl(const std::string& text, const std::string& what,
                                     size_t max_entries, std::vector<json>* out) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(trimmed, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    if (out->size() >= max_entries) {
      return BatchError{BatchErrorKind::kUpstream,
                        absl::StrCat(what, ": more than ", max_entries, " entries")};
    }
    json entry = ParseJsonBounded(std::string_view(line.data(), line.size()));
    if (!entry.is_object()) {
      return BatchError{BatchErrorKind::kUpstream,
                        absl::StrCat(what, ": line ", line_no, " is not a JSON object")};
    }
    out->push_back(std::move(entry));
  }
  return std::nullopt;
}

// parseInt(customId.replace("req-", ""), 10), or -1 (NaN).
int64_t RequestIndex(const json& id) {
  if (!id.is_string()) return -1;
  std::string s = id.get<std::string>();
  if (size_t at = s.find("req-"); at != std::string::npos) s.erase(at, 4);
  size_t i = 0;
  while (i < s.size() && absl::ascii_isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  int64_t v = 0;
  const size_t start = i;
  for (; i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i])); ++i) {
    if (v > 1000000000) return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (i == start || neg) return -1;
  return v;
}

// Results in prompt order from the entries by index; absent ones are "Missing result".
std::vector<BatchResultEntry> InOrder(std::map<int64_t, BatchResultEntry> by_index, int64_t n) {
  std::vector<BatchResultEntry> results;
  results.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto it = by_index.find(i);
    if (it != by_index.end()) {
      results.push_back(std::move(it->second));
    } else {
      results.push_back(BatchResultEntry{i, false, "", "Missing result", std::nullopt});
    }
  }
  return results;
}

const json& Field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::optional<Usage> UsageOf(const json& u, const char* in, const char* out, const char* total,
                             const json& cached, const json& reasoning) {
  if (!u.is_object()) return std::nullopt;
  Usage usage;
  usage.input_tokens = IntField(u, in);
  usage.output_tokens = IntField(u, out);
  usage.total_tokens = total != nullptr && Field(u, total).is_number()
                           ? IntField(u, total)
                           : SaturatingAdd(usage.input_tokens, usage.output_tokens);
  if (cached.is_number()) usage.cached_input_tokens = IntField(json{{"v", cached}}, "v");
  if (reasoning.is_number()) usage.reasoning_tokens = IntField(json{{"v", reasoning}}, "v");
  return usage;
}

}  // namespace batch_wire

using namespace batch_wire;  // NOLINT: this file defines them

std::string JsStringify(const ojson& value) {
  std::string out;
  AppendJs(value, out);
  return out;
}

std::string BatchWire::Url(std::string_view path) const { return JoinUrl(base_url_, path); }

std::string BatchWire::Redact(std::string text) const {
  if (api_key_.size() >= 4) absl::StrReplaceAll({{api_key_, "[REDACTED]"}}, &text);
  return RedactSecrets(text);
}

BatchHttpRequest BatchWire::Request(const std::string& provider, const std::string& method,
                                    const std::string& url, bool json_body) const {
  BatchHttpRequest r;
  r.method = method;
  r.url = url;
  if (provider == "openai") r.headers.emplace_back("Authorization", "Bearer " + api_key_);
  if (provider == "anthropic") r.headers.emplace_back("x-api-key", api_key_);
  if (json_body) r.headers.emplace_back("Content-Type", "application/json");
  if (provider == "anthropic") r.headers.emplace_back("anthropic-version", "2023-06-01");
  // LLMix puts the Gemini key in the URL (`?key=`); the sidecar never does (proxy and access
  // logs keep URLs). The API takes the header for every method.
  if (provider == "gemini") r.headers.emplace_back("x-goog-api-key", api_key_);
  return r;
}

std::optional<BatchError> BatchWire::Exchange(BatchHttpRequest request, const std::string& what,
                                              std::string* body, bool body_in_error) {
  const absl::Duration left = deadline_ - absl::Now();
  request.timeout = std::min(kRequestTimeout, left);
  if (request.timeout <= absl::ZeroDuration()) {
    return BatchError{BatchErrorKind::kUpstreamUnavailable,
                      absl::StrCat(what, " failed: no time left (deadline)")};
  }
  HttpResponse res = http_.Send(request);
  if (res.failure != TransportFailure::kNone) {
    return BatchError{BatchErrorKind::kUpstreamUnavailable,
                      Redact(absl::StrCat(what, " failed: ", res.failure_detail))};
  }
  if (res.status < 200 || res.status > 299) {
    std::string text =
        res.body.size() > kMaxErrorBody ? res.body.substr(0, kMaxErrorBody) + "..." : res.body;
    const bool unavailable = res.status == 429 || res.status >= 500;
    return BatchError{
        unavailable ? BatchErrorKind::kUpstreamUnavailable : BatchErrorKind::kUpstream,
        Redact(body_in_error ? absl::StrCat(what, " failed: ", res.status, " ", text)
                             : absl::StrCat(what, " failed: ", res.status))};
  }
  *body = std::move(res.body);
  return std::nullopt;
}

BatchOutcome<std::string> BatchWire::Submit(const BatchSubmitRequest& r) {
  if (r.provider == "openai") return OpenAiSubmit(r);
  if (r.provider == "anthropic") return AnthropicSubmit(r);
  return GeminiSubmit(r);
}

BatchOutcome<BatchStatusInfo> BatchWire::Status(const DecodedBatchId& id) {
  if (!SafePathId(id.raw_batch_id)) {
    return Fail<BatchStatusInfo>(BatchErrorKind::kInvalid,
                                 "Invalid rawBatchId: not a provider batch id");
  }
  if (id.provider == "openai") return OpenAiStatus(id.raw_batch_id);
  if (id.provider == "anthropic") return AnthropicStatus(id.raw_batch_id);
  return GeminiStatus(id.raw_batch_id);
}

BatchOutcome<std::vector<BatchResultEntry>> BatchWire::Results(const DecodedBatchId& id) {
  if (!SafePathId(id.raw_batch_id)) {
    return Fail<std::vector<BatchResultEntry>>(BatchErrorKind::kInvalid,
                                               "Invalid rawBatchId: not a provider batch id");
  }
  if (id.provider == "openai") return OpenAiResults(id);
  if (id.provider == "anthropic") return AnthropicResults(id);
  return GeminiResults(id);
}

// --- OpenAI: JSONL file upload (multipart), then /batches; results from the output file.

BatchOutcome<std::string> BatchWire::OpenAiSubmit(const BatchSubmitRequest& r) {
  std::string jsonl;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    ojson messages = ojson::array();
    if (r.system_prompt && !r.system_prompt->empty()) {
      messages.push_back({{"role", "system"}, {"content", *r.system_prompt}});
    }
    messages.push_back({{"role", "user"}, {"content", r.prompts[i]}});
    ojson body = {{"model", r.model}, {"messages", std::move(messages)}};
    if (r.params.is_object()) {
      for (const auto& [k, v] : r.params.items()) body[k] = v;
    }
    ojson line = {{"custom_id", absl::StrCat("req-", i)},
                  {"method", "POST"},
                  {"url", "/v1/chat/completions"},
                  {"body", std::move(body)}};
    AppendJs(line, jsonl);
    jsonl += '\n';
    if (jsonl.size() > limits_.max_upload_bytes) {
      return Fail<std::string>(
          BatchErrorKind::kInvalid,
          absl::StrCat("prompts: the batch file exceeds ", limits_.max_upload_bytes, " bytes"));
    }
  }
  BatchHttpRequest upload = Request("openai", "POST", Url("/files"), /*json_body=*/false);
  upload.form.push_back({"purpose", "batch", "", ""});
  upload.form.push_back({"file", std::move(jsonl), "batch.jsonl", "application/jsonl"});
  std::string body;
  if (auto e = Exchange(std::move(upload), "OpenAI file upload", &body))
    return Fail<std::string>(*e);
  const std::string file_id = StrField(ParseJsonBounded(body), "id");
  if (file_id.empty()) {
    return Fail<std::string>(BatchErrorKind::kUpstream, "OpenAI file upload returned no file id");
  }
  BatchHttpRequest create = Request("openai", "POST", Url("/batches"), /*json_body=*/true);
  create.body = JsStringify(ojson{{"input_file_id", file_id},
                                  {"endpoint", "/v1/chat/completions"},
                                  {"completion_window", "24h"}});
  if (auto e = Exchange(std::move(create), "OpenAI batch create", &body)) {
    return Fail<std::string>(*e);
  }
  BatchOutcome<std::string> out;
  out.value = StrField(ParseJsonBounded(body), "id");
  if (out.value->empty())
    return Fail<std::string>(BatchErrorKind::kUpstream, "OpenAI batch create returned no id");
  return out;
}

BatchOutcome<BatchStatusInfo> BatchWire::OpenAiStatus(const std::string& raw) {
  std::string body;
  if (auto e = Exchange(Request("openai", "GET", Url("/batches/" + raw), false),
                        "OpenAI batch status", &body)) {
    return Fail<BatchStatusInfo>(*e);
  }
  const json batch = ParseJsonBounded(body);
  static const std::map<std::string, std::string, std::less<>> kStates = {
      {"validating", "pending"},  {"in_progress", "in_progress"}, {"finalizing", "in_progress"},
      {"completed", "completed"}, {"failed", "failed"},           {"expired", "expired"},
      {"cancelled", "failed"},    {"cancelling", "in_progress"}};
  BatchStatusInfo s;
  s.batch_id = batch.is_object() && batch.contains("id") ? StrField(batch, "id") : raw;
  auto it = kStates.find(StrField(batch, "status"));
  s.state = it == kStates.end() ? "pending" : it->second;
  const json& counts = Field(batch, "request_counts");
  s.total_requests = IntField(counts, "total");
  s.completed_requests = IntField(counts, "completed");
  s.failed_requests = IntField(counts, "failed");
  BatchOutcome<BatchStatusInfo> out;
  out.value = std::move(s);
  return out;
}

BatchOutcome<std::vector<BatchResultEntry>> BatchWire::OpenAiResults(const DecodedBatchId& id) {
  using Out = std::vector<BatchResultEntry>;
  const std::string& raw = id.raw_batch_id;
  std::string body;
  if (auto e = Exchange(Request("openai", "GET", Url("/batches/" + raw), false),
                        "OpenAI batch retrieve", &body)) {
    return Fail<Out>(*e);
  }
  const json batch = ParseJsonBounded(body);
  const std::string status = StrField(batch, "status");
  if (status != "completed") {
    if (status == "failed" || status == "expired" || status == "cancelled") {
      return Fail<Out>(BatchErrorKind::kUpstream, absl::StrCat("OpenAI batch ", raw, " ", status));
    }
    BatchOutcome<Out> pending;
    pending.value.emplace();
    return pending;
  }
  const std::string file_id = StrField(batch, "output_file_id");
  if (file_id.empty()) {
    return Fail<Out>(BatchErrorKind::kUpstream,
                     absl::StrCat("OpenAI batch ", raw, " completed but no output_file_id"));
  }
  if (!SafePathId(file_id)) {
    return Fail<Out>(BatchErrorKind::kUpstream, "OpenAI batch output_file_id is not a file id");
  }
  if (auto e = Exchange(Request("openai", "GET", Url("/files/" + file_id + "/content"), false),
                        "OpenAI file download", &body, /*body_in_error=*/false)) {
    return Fail<Out>(*e);
  }
  std::vector<json> entries;
  if (auto e = ParseJsonl(body, "OpenAI batch output", limits_.max_result_entries, &entries)) {
    return Fail<Out>(*e);
  }
  std::map<int64_t, BatchResultEntry> by_index;
  for (const json& entry : entries) {
    const int64_t idx = RequestIndex(Field(entry, "custom_id"));
    if (idx < 0) continue;
    BatchResultEntry r{idx, false, "", "", std::nullopt};
    const json& error = Field(entry, "error");
    const json& response = Field(entry, "response");
    const json& code = Field(response, "status_code");
    if (!error.is_null() && !(error.is_boolean() && !error.get<bool>())) {
      r.error = StrField(error, "message");
    } else if (!(code.is_number() && code.get<double>() == 200)) {
      r.error = absl::StrCat("OpenAI batch entry returned status ",
                             code.is_number() ? JsNumberToString(code.get<double>()) : "unknown");
    } else {
      const json& rb = Field(response, "body");
      r.success = true;
      const json& choices = Field(rb, "choices");
      if (choices.is_array()) {
        for (const json& c : choices) r.response += StrField(Field(c, "message"), "content");
      }
      const json& u = Field(rb, "usage");
      r.usage = UsageOf(u, "prompt_tokens", "completion_tokens", "total_tokens",
                        Field(Field(u, "prompt_tokens_details"), "cached_tokens"),
                        Field(Field(u, "completion_tokens_details"), "reasoning_tokens"));
    }
    by_index[idx] = std::move(r);
  }
  BatchOutcome<Out> out;
  out.value = InOrder(std::move(by_index), id.n_prompts);
  return out;
}

}  // namespace llmix::adapters
