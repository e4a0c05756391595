#include "tests/fakes/fake_batch_api.h"

#include <httplib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tests/support/process.h"

namespace llmix::testing {

namespace {

using nlohmann::json;

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

}  // namespace

FakeBatchApi::FakeBatchApi(FakeBatchProvider provider, std::string api_key)
    : provider_(provider),
      api_key_(std::move(api_key)),
      server_(std::make_unique<httplib::Server>()) {
  server_->set_tcp_nodelay(true);
  Route();
  port_ = server_->bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  WaitFor([this] { return server_->is_running(); });
}

FakeBatchApi::~FakeBatchApi() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeBatchApi::base_url() const {
  return absl::StrCat("http://127.0.0.1:", port_,
                      provider_ == FakeBatchProvider::kGemini ? "/v1beta" : "/v1");
}

void FakeBatchApi::SetPhase(FakeBatchPhase phase) {
  absl::MutexLock l(&mu_);
  phase_ = phase;
}

void FakeBatchApi::SetFailIndex(int index) {
  absl::MutexLock l(&mu_);
  fail_index_ = index;
}

std::vector<RecordedRequest> FakeBatchApi::Requests() const {
  absl::MutexLock l(&mu_);
  return requests_;
}

std::vector<json> FakeBatchApi::SubmittedRequests() const {
  absl::MutexLock l(&mu_);
  std::vector<json> out;
  for (const auto& [id, b] : batches_) {
    for (const json& r : b.requests) out.push_back(r["body"]);
  }
  return out;
}

std::vector<std::string> FakeBatchApi::SubmittedPrompts() const {
  std::vector<std::string> out;
  for (const json& body : SubmittedRequests()) {
    switch (provider_) {
      case FakeBatchProvider::kOpenAi:
        out.push_back(body["messages"].back()["content"]);
        break;
      case FakeBatchProvider::kAnthropic:
        out.push_back(body["messages"][0]["content"]);
        break;
      case FakeBatchProvider::kGemini:
        out.push_back(body["contents"][0]["parts"][0]["text"]);
        break;
    }
  }
  return out;
}

bool FakeBatchApi::Authorized(const void* request) const {
  const auto& req = *static_cast<const httplib::Request*>(request);
  switch (provider_) {
    case FakeBatchProvider::kOpenAi:
      return req.get_header_value("Authorization") == "Bearer " + api_key_;
    case FakeBatchProvider::kAnthropic:
      return req.get_header_value("x-api-key") == api_key_ &&
             req.get_header_value("anthropic-version") == "2023-06-01";
    case FakeBatchProvider::kGemini:
      return req.get_header_value("x-goog-api-key") == api_key_;
  }
  return false;
}

json FakeBatchApi::EntryResult(const Batch& b, size_t i) const {
  const json& body = b.requests[i]["body"];
  std::string prompt;
  if (provider_ == FakeBatchProvider::kOpenAi) prompt = body["messages"].back()["content"];
  if (provider_ == FakeBatchProvider::kAnthropic) prompt = body["messages"][0]["content"];
  if (provider_ == FakeBatchProvider::kGemini) prompt = body["contents"][0]["parts"][0]["text"];
  return json{{"text", "echo: " + prompt},
              {"failed", static_cast<int>(i) == fail_index_},
              {"in", static_cast<int64_t>(10 + i)},
              {"out", 4}};
}

json FakeBatchApi::StatusBody(const Batch& b) const {
  const int64_t n = static_cast<int64_t>(b.requests.size());
  const int64_t failed = phase_ == FakeBatchPhase::kDone && fail_index_ >= 0 && fail_index_ < n;
  const int64_t ok = phase_ == FakeBatchPhase::kDone ? n - failed : 0;
  switch (provider_) {
    case FakeBatchProvider::kOpenAi: {
      const char* status = phase_ == FakeBatchPhase::kPending   ? "validating"
                           : phase_ == FakeBatchPhase::kRunning ? "in_progress"
                                                                : "completed";
      json body = {{"id", b.id},
                   {"object", "batch"},
                   {"endpoint", "/v1/chat/completions"},
                   {"status", status},
                   {"request_counts", {{"total", n}, {"completed", ok}, {"failed", failed}}},
                   {"output_file_id", nullptr}};
      if (phase_ == FakeBatchPhase::kDone) body["output_file_id"] = "file-out-" + b.id;
      return body;
    }
    case FakeBatchProvider::kAnthropic:
      return {{"id", b.id},
              {"type", "message_batch"},
              {"processing_status", phase_ == FakeBatchPhase::kDone ? "ended" : "in_progress"},
              {"request_counts",
               {{"processing", phase_ == FakeBatchPhase::kDone ? 0 : n},
                {"succeeded", ok},
                {"errored", failed},
                {"canceled", 0},
                {"expired", 0}}}};
    case FakeBatchProvider::kGemini: {
      const char* state = phase_ == FakeBatchPhase::kPending   ? "JOB_STATE_PENDING"
                          : phase_ == FakeBatchPhase::kRunning ? "JOB_STATE_RUNNING"
                                                               : "JOB_STATE_SUCCEEDED";
      json body = {{"name", b.id}, {"state", state}};
      if (phase_ != FakeBatchPhase::kPending) {
        body["completionStats"] = {
            {"successfulCount", ok}, {"failedCount", failed}, {"incompleteCount", n - ok - failed}};
      }
      if (phase_ == FakeBatchPhase::kDone) {
        json responses = json::array();
        for (size_t i = 0; i < b.requests.size(); ++i) {
          const json e = EntryResult(b, i);
          json r = {{"metadata", {{"id", b.requests[i]["custom_id"]}}}};
          if (e["failed"].get<bool>()) {
            r["error"] = {{"code", 400}, {"message", "fake failure"}};
          } else {
            r["response"] = {
                {"candidates",
                 json::array({{{"content", {{"parts", json::array({{{"text", e["text"]}}})}}}}})},
                {"usageMetadata",
                 {{"promptTokenCount", e["in"]},
                  {"candidatesTokenCount", e["out"]},
                  {"totalTokenCount", e["in"].get<int64_t>() + 4}}}};
          }
          responses.push_back(std::move(r));
        }
        body["responses"] = std::move(responses);
      }
      return body;
    }
  }
  return json::object();
}

std::string FakeBatchApi::ResultsJsonl(const Batch& b) const {
  std::string out;
  // OpenAI and Anthropic write results in any order: newest first here.
  for (size_t k = b.requests.size(); k-- > 0;) {
    const json e = EntryResult(b, k);
    const json& id = b.requests[k]["custom_id"];
    json line;
    if (provider_ == FakeBatchProvider::kOpenAi) {
      line = {{"id", "r" + std::to_string(k)}, {"custom_id", id}, {"error", nullptr}};
      if (e["failed"].get<bool>()) {
        line["response"] = {{"status_code", 400}, {"body", {{"error", {{"message", "bad"}}}}}};
      } else {
        line["response"] = {
            {"status_code", 200},
            {"body",
             {{"choices",
               json::array({{{"message", {{"role", "assistant"}, {"content", e["text"]}}}}})},
              {"usage",
               {{"prompt_tokens", e["in"]},
                {"completion_tokens", e["out"]},
                {"total_tokens", e["in"].get<int64_t>() + 4}}}}}};
      }
    } else {
      line = {{"custom_id", id}};
      if (e["failed"].get<bool>()) {
        line["result"] = {
            {"type", "errored"},
            {"error", {{"type", "invalid_request_error"}, {"message", "fake failure"}}}};
      } else {
        line["result"] = {{"type", "succeeded"},
                          {"message",
                           {{"type", "message"},
                            {"content", json::array({{{"type", "text"}, {"text", e["text"]}}})},
                            {"usage", {{"input_tokens", e["in"]}, {"output_tokens", e["out"]}}}}}};
      }
    }
    out += line.dump() + "\n";
  }
  return out;
}

void FakeBatchApi::Route() {
  auto record = [this](const httplib::Request& req) {
    RecordedRequest r;
    r.method = req.method;
    r.path = req.path;
    if (!req.params.empty()) {
      r.path += "?";
      for (const auto& [k, v] : req.params) r.path += k + "=" + v + "&";
    }
    for (const auto& [k, v] : req.headers) r.headers[absl::AsciiStrToLower(k)] = v;
    r.body = req.body;
    for (const auto& [name, f] : req.files) {
      r.body += "\n[part " + name + " filename=" + f.filename + " type=" + f.content_type + "]\n" +
                f.content;
    }
    r.json = json::parse(req.body, nullptr, false);
    absl::MutexLock l(&mu_);
    requests_.push_back(std::move(r));
  };
  // Every handler: record, check the key (401 echoing it, as providers do), then `fn`.
  auto handle = [this, record](auto fn) {
    return [this, record, fn](const httplib::Request& req, httplib::Response& res) {
      record(req);
      if (!Authorized(&req)) {
        std::string sent = req.get_header_value("x-api-key") +
                           req.get_header_value("Authorization") +
                           req.get_header_value("x-goog-api-key");
        Reply(res, 401,
              {{"error",
                {{"type", "authentication_error"},
                 {"message", "Incorrect API key provided: " + sent}}}});
        return;
      }
      absl::MutexLock l(&mu_);
      fn(req, res);
    };
  };
  auto add_batch = [this](std::vector<json> requests) {
    Batch b;
    const int n = next_id_++;
    b.id = provider_ == FakeBatchProvider::kOpenAi      ? "batch_" + std::to_string(n)
           : provider_ == FakeBatchProvider::kAnthropic ? "msgbatch_0" + std::to_string(n)
                                                        : "batches/" + std::to_string(n);
    b.requests = std::move(requests);
    batches_[b.id] = b;
    return b.id;
  };
  auto find = [this](const std::string& id) -> const Batch* {
    auto it = batches_.find(id);
    return it == batches_.end() ? nullptr : &it->second;
  };
  auto not_found = [](httplib::Response& res) {
    Reply(res, 404, {{"error", {{"message", "no such batch"}}}});
  };

  switch (provider_) {
    case FakeBatchProvider::kOpenAi:
      server_->Post(
          "/v1/files", handle([this](const httplib::Request& req, httplib::Response& res) {
            if (!req.has_file("file") || !req.has_file("purpose") ||
                req.get_file_value("purpose").content != "batch") {
              Reply(res, 400, {{"error", {{"message", "file and purpose=batch required"}}}});
              return;
            }
            const std::string id = "file-in-" + std::to_string(next_id_++);
            files_[id] = req.get_file_value("file").content;
            Reply(res, 200, {{"id", id}, {"object", "file"}, {"purpose", "batch"}});
          }));
      server_->Post(
          "/v1/batches",
          handle([this, add_batch](const httplib::Request& req, httplib::Response& res) {
            const json body = json::parse(req.body, nullptr, false);
            auto file =
                body.is_object() ? files_.find(body.value("input_file_id", "")) : files_.end();
            if (file == files_.end() || body.value("endpoint", "") != "/v1/chat/completions") {
              Reply(res, 400, {{"error", {{"message", "unknown input_file_id or endpoint"}}}});
              return;
            }
            std::vector<json> requests;
            std::string text = file->second;
            for (size_t start = 0; start < text.size();) {
              size_t end = text.find('\n', start);
              if (end == std::string::npos) end = text.size();
              const json line = json::parse(text.substr(start, end - start), nullptr, false);
              if (line.is_object())
                requests.push_back({{"custom_id", line["custom_id"]}, {"body", line["body"]}});
              start = end + 1;
            }
            Reply(res, 200, StatusBody(batches_[add_batch(std::move(requests))]));
          }));
      server_->Get(
          R"(/v1/batches/([^/]+))",
          handle([this, find, not_found](const httplib::Request& req, httplib::Response& res) {
            const Batch* b = find(req.matches[1]);
            if (b == nullptr) return not_found(res);
            Reply(res, 200, StatusBody(*b));
          }));
      server_->Get(
          R"(/v1/files/file-out-([^/]+)/content)",
          handle([this, find, not_found](const httplib::Request& req, httplib::Response& res) {
            const Batch* b = find(req.matches[1]);
            if (b == nullptr || phase_ != FakeBatchPhase::kDone) return not_found(res);
            res.set_content(ResultsJsonl(*b), "application/octet-stream");
          }));
      break;
    case FakeBatchProvider::kAnthropic:
      server_->Post(
          "/v1/messages/batches",
          handle([this, add_batch](const httplib::Request& req, httplib::Response& res) {
            const json body = json::parse(req.body, nullptr, false);
            if (!body.is_object() || !body["requests"].is_array() || body["requests"].empty()) {
              Reply(res, 400, {{"error", {{"message", "requests required"}}}});
              return;
            }
            std::vector<json> requests;
            for (const json& r : body["requests"]) {
              requests.push_back({{"custom_id", r["custom_id"]}, {"body", r["params"]}});
            }
            Reply(res, 200, StatusBody(batches_[add_batch(std::move(requests))]));
          }));
      server_->Get(
          R"(/v1/messages/batches/([^/]+))",
          handle([this, find, not_found](const httplib::Request& req, httplib::Response& res) {
            const Batch* b = find(req.matches[1]);
            if (b == nullptr) return not_found(res);
            Reply(res, 200, StatusBody(*b));
          }));
      server_->Get(
          R"(/v1/messages/batches/([^/]+)/results)",
          handle([this, find, not_found](const httplib::Request& req, httplib::Response& res) {
            const Batch* b = find(req.matches[1]);
            if (b == nullptr) return not_found(res);
            if (phase_ != FakeBatchPhase::kDone) {
              Reply(res, 400,
                    {{"error",
                      {{"type", "invalid_request_error"},
                       {"message", "Batch is still processing"}}}});
              return;
            }
            res.set_content(ResultsJsonl(*b), "application/binary");
          }));
      break;
    case FakeBatchProvider::kGemini:
      server_->Post(
          R"(/v1beta/models/([^/:]+):batchGenerateContent)",
          handle([this, add_batch](const httplib::Request& req, httplib::Response& res) {
            const json body = json::parse(req.body, nullptr, false);
            if (!body.is_object() || !body["requests"].is_array()) {
              Reply(res, 400, {{"error", {{"message", "requests required"}}}});
              return;
            }
            std::vector<json> requests;
            for (const json& r : body["requests"]) {
              requests.push_back({{"custom_id", r["metadata"]["id"]}, {"body", r["request"]}});
            }
            Reply(res, 200, StatusBody(batches_[add_batch(std::move(requests))]));
          }));
      server_->Get(
          R"(/v1beta/(batches/[^/]+))",
          handle([this, find, not_found](const httplib::Request& req, httplib::Response& res) {
            const Batch* b = find(req.matches[1]);
            if (b == nullptr) return not_found(res);
            Reply(res, 200, StatusBody(*b));
          }));
      break;
  }
}

}  // namespace llmix::testing
