// Anthropic and Gemini batch wire formats (BatchWire, see provider_batch_wire.h).
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/provider_batch_wire.h"
#include "adapters/wire_common.h"

namespace llmix::adapters {

using nlohmann::json;
using ojson = nlohmann::ordered_json;
using namespace batch_wire;  // NOLINT

// --- Anthropic: /messages/batches with every request inline; results JSONL.

BatchOutcome<std::string> BatchWire::AnthropicSubmit(const BatchSubmitRequest& r) {
  ojson max_tokens = 4096;
  if (r.params.is_object() && r.params.contains("max_tokens") &&
      !r.params["max_tokens"].is_null()) {
    max_tokens = r.params["max_tokens"];
  }
  ojson requests = ojson::array();
  size_t size = 0;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    ojson params = {{"model", r.model},
                    {"max_tokens", max_tokens},
                    {"messages", ojson::array({{{"role", "user"}, {"content", r.prompts[i]}}})}};
    if (r.system_prompt && !r.system_prompt->empty()) params["system"] = *r.system_prompt;
    if (r.params.is_object()) {
      for (const auto& [k, v] : r.params.items()) {
        if (k != "max_tokens") params[k] = v;
      }
    }
    size += r.prompts[i].size() + (r.system_prompt ? r.system_prompt->size() : 0) + 128;
    if (size > limits_.max_upload_bytes) {
      return Fail<std::string>(
          BatchErrorKind::kInvalid,
          absl::StrCat("prompts: the batch request exceeds ", limits_.max_upload_bytes, " bytes"));
    }
    requests.push_back({{"custom_id", absl::StrCat("req-", i)}, {"params", std::move(params)}});
  }
  BatchHttpRequest create = Request("anthropic", "POST", Url("/messages/batches"), true);
  create.body = JsStringify(ojson{{"requests", std::move(requests)}});
  std::string body;
  if (auto e = Exchange(std::move(create), "Anthropic batch create", &body)) {
    return Fail<std::string>(*e);
  }
  BatchOutcome<std::string> out;
  out.value = StrField(ParseJsonBounded(body), "id");
  if (out.value->empty()) {
    return Fail<std::string>(BatchErrorKind::kUpstream, "Anthropic batch create returned no id");
  }
  return out;
}

BatchOutcome<BatchStatusInfo> BatchWire::AnthropicStatus(const std::string& raw) {
  std::string body;
  if (auto e = Exchange(Request("anthropic", "GET", Url("/messages/batches/" + raw), false),
                        "Anthropic batch status", &body)) {
    return Fail<BatchStatusInfo>(*e);
  }
  const json batch = ParseJsonBounded(body);
  const json& counts = Field(batch, "request_counts");
  const int64_t succeeded = IntField(counts, "succeeded");
  const int64_t errored = IntField(counts, "errored");
  const int64_t canceled = IntField(counts, "canceled");
  const int64_t expired = IntField(counts, "expired");
  BatchStatusInfo s;
  s.batch_id = raw;
  // No "pending" state: every status but "ended" is in_progress; an ended batch with only
  // errors is failed.
  s.state = StrField(batch, "processing_status") != "ended"         ? "in_progress"
            : (counts.is_object() && succeeded == 0 && errored > 0) ? "failed"
                                                                    : "completed";
  s.total_requests = SaturatingAdd(
      SaturatingAdd(SaturatingAdd(IntField(counts, "processing"), succeeded), errored),
      SaturatingAdd(canceled, expired));
  s.completed_requests = succeeded;
  s.failed_requests = SaturatingAdd(SaturatingAdd(errored, canceled), expired);
  BatchOutcome<BatchStatusInfo> out;
  out.value = std::move(s);
  return out;
}

BatchOutcome<std::vector<BatchResultEntry>> BatchWire::AnthropicResults(const DecodedBatchId& id) {
  using Out = std::vector<BatchResultEntry>;
  std::string body;
  if (auto e = Exchange(Request("anthropic", "GET",
                                Url("/messages/batches/" + id.raw_batch_id + "/results"), false),
                        "Anthropic batch results", &body)) {
    return Fail<Out>(*e);
  }
  std::vector<json> entries;
  if (auto e = ParseJsonl(body, "Anthropic batch results", limits_.max_result_entries, &entries)) {
    return Fail<Out>(*e);
  }
  std::map<int64_t, BatchResultEntry> by_index;
  for (const json& entry : entries) {
    const int64_t idx = RequestIndex(Field(entry, "custom_id"));
    if (idx < 0) continue;
    BatchResultEntry r{idx, false, "", "", std::nullopt};
    const json& result = Field(entry, "result");
    const json& message = Field(result, "message");
    if (StrField(result, "type") == "succeeded" && message.is_object()) {
      r.success = true;
      const json& content = Field(message, "content");
      if (content.is_array()) {
        for (const json& b : content) {
          if (StrField(b, "type") == "text") r.response += StrField(b, "text");
        }
      }
      const json& u = Field(message, "usage");
      r.usage = UsageOf(u, "input_tokens", "output_tokens", nullptr,
                        Field(u, "cache_read_input_tokens"), json());
    } else {
      const json& msg = Field(Field(result, "error"), "message");
      r.error = msg.is_string() ? msg.get<std::string>() : "Unknown error";
    }
    by_index[idx] = std::move(r);
  }
  BatchOutcome<Out> out;
  out.value = InOrder(std::move(by_index), id.n_prompts);
  return out;
}

// --- Gemini: models/{model}:batchGenerateContent with inline requests; batches/{id} carries
// the state and, once done, the inlined responses.

BatchOutcome<std::string> BatchWire::GeminiSubmit(const BatchSubmitRequest& r) {
  std::string model = r.model;
  if (absl::StartsWith(model, "models/")) model = model.substr(7);
  ojson requests = ojson::array();
  size_t size = 0;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    ojson request = {
        {"model", "models/" + model},
        {"contents", ojson::array({{{"parts", ojson::array({{{"text", r.prompts[i]}}})}}})}};
    if (r.system_prompt && !r.system_prompt->empty()) {
      request["system_instruction"] = {{"parts", ojson::array({{{"text", *r.system_prompt}}})}};
    }
    request["generationConfig"] = r.params.is_null() ? ojson::object() : r.params;
    size += r.prompts[i].size() + (r.system_prompt ? r.system_prompt->size() : 0) + 128;
    if (size > limits_.max_upload_bytes) {
      return Fail<std::string>(
          BatchErrorKind::kInvalid,
          absl::StrCat("prompts: the batch request exceeds ", limits_.max_upload_bytes, " bytes"));
    }
    requests.push_back(
        {{"request", std::move(request)}, {"metadata", {{"id", absl::StrCat("req-", i)}}}});
  }
  BatchHttpRequest create = Request(
      "gemini", "POST", Url(absl::StrCat("/models/", model, ":batchGenerateContent")), true);
  create.body = JsStringify(ojson{{"requests", std::move(requests)}});
  std::string body;
  if (auto e = Exchange(std::move(create), "Gemini batch create", &body)) {
    return Fail<std::string>(*e);
  }
  BatchOutcome<std::string> out;
  out.value = StrField(ParseJsonBounded(body), "name");
  if (out.value->empty()) {
    return Fail<std::string>(BatchErrorKind::kUpstream, "Gemini batch create returned no name");
  }
  return out;
}

namespace {

// The job state: top-level `state` as LLMix reads it, else the batch operation's
// `metadata.state`; BATCH_STATE_* is read as JOB_STATE_*.
std::string GeminiState(const json& batch) {
  std::string state = StrField(batch, "state");
  if (state.empty()) state = StrField(Field(batch, "metadata"), "state");
  if (absl::StartsWith(state, "BATCH_STATE_")) state = "JOB_STATE_" + state.substr(12);
  return state;
}

}  // namespace

BatchOutcome<BatchStatusInfo> BatchWire::GeminiStatus(const std::string& raw) {
  std::string body;
  if (auto e =
          Exchange(Request("gemini", "GET", Url("/" + raw), false), "Gemini batch status", &body)) {
    return Fail<BatchStatusInfo>(*e);
  }
  const json batch = ParseJsonBounded(body);
  static const std::map<std::string, std::string, std::less<>> kStates = {
      {"JOB_STATE_SUCCEEDED", "completed"}, {"JOB_STATE_FAILED", "failed"},
      {"JOB_STATE_CANCELLED", "failed"},    {"JOB_STATE_EXPIRED", "expired"},
      {"JOB_STATE_PENDING", "pending"},     {"JOB_STATE_RUNNING", "in_progress"}};
  BatchStatusInfo s;
  s.batch_id = raw;
  auto it = kStates.find(GeminiState(batch));
  s.state = it == kStates.end() ? "in_progress" : it->second;
  const json& stats = Field(batch, "completionStats");
  s.completed_requests = IntField(stats, "successfulCount");
  s.failed_requests = IntField(stats, "failedCount");
  s.total_requests = SaturatingAdd(SaturatingAdd(s.completed_requests, s.failed_requests),
                                   IntField(stats, "incompleteCount"));
  BatchOutcome<BatchStatusInfo> out;
  out.value = std::move(s);
  return out;
}

BatchOutcome<std::vector<BatchResultEntry>> BatchWire::GeminiResults(const DecodedBatchId& id) {
  using Out = std::vector<BatchResultEntry>;
  const std::string& raw = id.raw_batch_id;
  std::string body;
  if (auto e = Exchange(Request("gemini", "GET", Url("/" + raw), false), "Gemini batch results",
                        &body)) {
    return Fail<Out>(*e);
  }
  const json batch = ParseJsonBounded(body);
  const std::string state = GeminiState(batch);
  if (state != "JOB_STATE_SUCCEEDED" && state != "JOB_STATE_PARTIALLY_SUCCEEDED") {
    if (state == "JOB_STATE_FAILED" || state == "JOB_STATE_CANCELLED" ||
        state == "JOB_STATE_EXPIRED") {
      return Fail<Out>(BatchErrorKind::kUpstream, absl::StrCat("Gemini batch ", raw, " ", state));
    }
    BatchOutcome<Out> pending;
    pending.value.emplace();
    return pending;
  }
  const json* responses = &Field(batch, "responses");
  if (!responses->is_array()) {  // the batch operation's inlined responses
    responses = &Field(Field(Field(batch, "response"), "inlinedResponses"), "inlinedResponses");
  }
  std::map<int64_t, BatchResultEntry> by_index;
  if (responses->is_array()) {
    if (responses->size() > limits_.max_result_entries) {
      return Fail<Out>(
          BatchErrorKind::kUpstream,
          absl::StrCat("Gemini batch results: more than ", limits_.max_result_entries, " entries"));
    }
    for (const json& resp : *responses) {
      const json& id_field = Field(Field(resp, "metadata"), "id");
      const int64_t idx = RequestIndex(id_field.is_string() ? id_field : json(""));
      if (idx < 0) continue;
      BatchResultEntry r{idx, false, "", "", std::nullopt};
      const json& error = Field(resp, "error");
      if (!error.is_null()) {
        r.error = StrField(error, "message");
      } else {
        r.success = true;
        const json& response = Field(resp, "response");
        const json& candidates = Field(response, "candidates");
        if (candidates.is_array() && !candidates.empty()) {
          const json& parts = Field(Field(candidates[0], "content"), "parts");
          if (parts.is_array() && !parts.empty()) r.response = StrField(parts[0], "text");
        }
        const json& u = Field(response, "usageMetadata");
        r.usage = UsageOf(u, "promptTokenCount", "candidatesTokenCount", "totalTokenCount",
                          Field(u, "cachedContentTokenCount"), Field(u, "thoughtsTokenCount"));
      }
      by_index[idx] = std::move(r);
    }
  }
  BatchOutcome<Out> out;
  out.value = InOrder(std::move(by_index), id.n_prompts);
  return out;
}

}  // namespace llmix::adapters
