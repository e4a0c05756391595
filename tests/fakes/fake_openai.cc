#include "tests/fakes/fake_openai.h"

#include <httplib.h>

#include <algorithm>
#include <stdexcept>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"

namespace llmix::testing {

FakeOpenAi::FakeOpenAi(FakeProtocol protocol)
    : protocol_(protocol), server_(std::make_unique<httplib::Server>()) {
  server_->set_tcp_nodelay(true);
  // Enough handler threads for tests that hold many requests in flight at once.
  server_->new_task_queue = [] { return new httplib::ThreadPool(128); };
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    RecordedRequest rec;
    rec.method = req.method;
    rec.path = req.path;
    for (const auto& [k, v] : req.headers) rec.headers[absl::AsciiStrToLower(k)] = v;
    rec.body = req.body;
    rec.json = nlohmann::json::parse(req.body, nullptr, false);
    std::string model =
        rec.json.is_object() && rec.json.contains("model") && rec.json["model"].is_string()
            ? rec.json["model"].get<std::string>()
            : "";
    if (req.matches.size() > 1) model = req.matches[1];  // Gemini: the model is in the path
    const nlohmann::json request_json = rec.json;
    FakeReply reply;
    {
      absl::MutexLock l(&mu_);
      if (recording_) {
        requests_.push_back(std::move(rec));
      } else {
        ++unrecorded_;
      }
      if (!script_.empty()) {
        reply = std::move(script_.front());
        script_.pop_front();
      } else {
        reply = default_;
      }
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
      if (held_ && (hold_needle_.empty() || req.body.find(hold_needle_) != std::string::npos)) {
        auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return !held_ || release_tokens_ > 0;
        };
        ++held_now_;
        mu_.AwaitWithTimeout(absl::Condition(&released), absl::Seconds(30));
        --held_now_;
        if (held_ && release_tokens_ > 0) --release_tokens_;
      }
    }
    if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);  // scripted latency
    if (reply.echo_api_key) {
      std::string key = req.get_header_value("x-api-key");
      if (key.empty()) key = req.get_header_value("x-goog-api-key");
      if (const std::string auth = req.get_header_value("Authorization");
          absl::StartsWith(auth, "Bearer ")) {
        key = auth.substr(7);
      }
      if (reply.raw_body) absl::StrReplaceAll({{"{api_key}", key}}, &*reply.raw_body);
      for (auto& [k, v] : reply.headers) absl::StrReplaceAll({{"{api_key}", key}}, &v);
    }
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    if (reply.stream && reply.status >= 200 && reply.status < 300) {
      {
        absl::MutexLock l(&mu_);
        --in_flight_;
      }
      ServeStream(res, std::move(reply), model);
      return;
    }
    if (reply.raw_body) {
      res.set_content(*reply.raw_body, "application/json");
    } else if (reply.status >= 200 && reply.status < 300 &&
               absl::EndsWith(req.path, "/embeddings")) {
      res.set_content(EmbeddingsBody(request_json, reply), "application/json");
    } else if (reply.status >= 200 && reply.status < 300 &&
               absl::EndsWith(req.path, ":batchEmbedContents")) {
      res.set_content(GeminiEmbeddingsBody(request_json), "application/json");
    } else if (reply.status >= 200 && reply.status < 300 && absl::EndsWith(req.path, "/rerank")) {
      res.set_content(RerankBody(request_json), "application/json");
    } else if (reply.status >= 200 && reply.status < 300) {
      res.set_content(SuccessBody(reply, model), "application/json");
    } else {
      res.set_content(ErrorBody(reply.status), "application/json");
    }
    absl::MutexLock l(&mu_);
    --in_flight_;
  };
  switch (protocol_) {
    case FakeProtocol::kOpenAiChat:
      server_->Post("/v1/chat/completions", handler);
      server_->Post("/v1/embeddings", handler);
      server_->Post("/v1/rerank", handler);
      break;
    case FakeProtocol::kAnthropicMessages:
      server_->Post("/v1/messages", handler);
      break;
    case FakeProtocol::kGeminiGenerateContent:
      server_->Post(R"(/v1beta/models/([^/:]+):generateContent)", handler);
      server_->Post(R"(/v1beta/models/([^/:]+):batchEmbedContents)", handler);
      server_->Post(R"(/v1beta/models/([^/:]+):streamGenerateContent)", handler);
      break;
  }
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("fake openai: cannot bind");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs, so wait for it (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

FakeOpenAi::~FakeOpenAi() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;  // stalled streams end now
  }
  Release();  // held requests answer now instead of delaying the shutdown
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeOpenAi::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) +
         (protocol_ == FakeProtocol::kGeminiGenerateContent ? "/v1beta" : "/v1");
}

std::string FakeOpenAi::SuccessBody(const FakeReply& reply, const std::string& model) const {
  switch (protocol_) {
    case FakeProtocol::kAnthropicMessages:
      return AnthropicBody(reply, model);
    case FakeProtocol::kGeminiGenerateContent:
      return GeminiBody(reply, model);
    default:
      return CompletionBody(reply, model);
  }
}

std::string FakeOpenAi::ErrorBody(int status) const {
  const std::string message = "fake error " + std::to_string(status);
  switch (protocol_) {
    case FakeProtocol::kAnthropicMessages:
      return nlohmann::json{{"type", "error"}, {"error", {{"type", "fake_error"}, {"message", message}}}}
          .dump();
    case FakeProtocol::kGeminiGenerateContent:
      return nlohmann::json{{"error", {{"code", status}, {"message", message}, {"status", "FAKE_ERROR"}}}}
          .dump();
    default:
      return nlohmann::json{{"error", {{"message", message}, {"type", "fake_error"}, {"code", nullptr}}}}
          .dump();
  }
}

namespace {

// An OpenAI tool call's arguments (JSON text) as an object.
nlohmann::json ArgumentsOf(const nlohmann::json& call) {
  auto args = nlohmann::json::parse(call["function"].value("arguments", "{}"), nullptr, false);
  return args.is_object() ? args : nlohmann::json::object();
}

}  // namespace

std::string FakeOpenAi::AnthropicBody(const FakeReply& reply, const std::string& request_model) {
  nlohmann::json content = nlohmann::json::array();
  if (reply.reasoning_content) {
    content.push_back({{"type", "thinking"}, {"thinking", *reply.reasoning_content}, {"signature", "sig"}});
  }
  if (!reply.content.empty()) content.push_back({{"type", "text"}, {"text", reply.content}});
  if (reply.tool_calls.is_array()) {
    for (const auto& call : reply.tool_calls) {
      content.push_back({{"type", "tool_use"},
                         {"id", call.value("id", "")},
                         {"name", call["function"].value("name", "")},
                         {"input", ArgumentsOf(call)}});
    }
  }
  return nlohmann::json{{"id", "msg_fake"},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"model", reply.model.empty() ? request_model : reply.model},
                        {"content", content},
                        {"stop_reason", reply.tool_calls.is_array() ? "tool_use" : "end_turn"},
                        {"usage",
                         {{"input_tokens", reply.prompt_tokens},
                          {"output_tokens", reply.completion_tokens},
                          {"cache_read_input_tokens", 0}}}}
      .dump();
}

std::string FakeOpenAi::GeminiBody(const FakeReply& reply, const std::string& request_model) {
  nlohmann::json parts = nlohmann::json::array();
  if (reply.reasoning_content) parts.push_back({{"text", *reply.reasoning_content}, {"thought", true}});
  if (!reply.content.empty()) parts.push_back({{"text", reply.content}});
  if (reply.tool_calls.is_array()) {
    for (const auto& call : reply.tool_calls) {
      parts.push_back({{"functionCall", {{"name", call["function"].value("name", "")}, {"args", ArgumentsOf(call)}}}});
    }
  }
  return nlohmann::json{
      {"candidates", {{{"content", {{"role", "model"}, {"parts", parts}}}, {"finishReason", "STOP"}, {"index", 0}}}},
      {"usageMetadata",
       {{"promptTokenCount", reply.prompt_tokens},
        {"candidatesTokenCount", reply.completion_tokens},
        {"totalTokenCount", reply.prompt_tokens + reply.completion_tokens}}},
      {"modelVersion", reply.model.empty() ? request_model : reply.model}}
      .dump();
}

std::vector<std::string> FakeOpenAi::StreamEvents(FakeProtocol protocol, const FakeReply& reply,
                                                  const std::string& request_model) {
  using nlohmann::json;
  const std::string model = reply.model.empty() ? request_model : reply.model;
  std::vector<std::string> pieces = reply.stream ? reply.stream->content_pieces
                                                 : std::vector<std::string>{};
  if (pieces.empty() && !reply.content.empty()) pieces.push_back(reply.content);
  const json calls = reply.tool_calls.is_array() ? reply.tool_calls : json::array();
  auto data = [](const json& j) { return "data: " + j.dump() + "\n\n"; };
  auto named = [](const std::string& event, const json& j) {
    return "event: " + event + "\ndata: " + j.dump() + "\n\n";
  };
  // Tool-call arguments in two halves, as providers split them.
  auto halves = [](const std::string& args) {
    const size_t mid = args.size() / 2;
    return std::pair{args.substr(0, mid), args.substr(mid)};
  };
  std::vector<std::string> out;
  switch (protocol) {
    case FakeProtocol::kOpenAiChat: {
      auto chunk = [&](json delta, json finish) {
        return data({{"id", "chatcmpl-fake"},
                     {"object", "chat.completion.chunk"},
                     {"created", 1},
                     {"model", model},
                     {"choices", json::array({{{"index", 0},
                                               {"delta", std::move(delta)},
                                               {"finish_reason", std::move(finish)}}})}});
      };
      out.push_back(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
      if (reply.reasoning_content) {
        out.push_back(chunk({{"reasoning_content", *reply.reasoning_content}}, nullptr));
      }
      for (size_t i = 0; i < calls.size(); ++i) {
        auto [a, b] = halves(calls[i]["function"].value("arguments", ""));
        out.push_back(chunk({{"tool_calls", json::array({{{"index", i},
                                                          {"id", calls[i].value("id", "")},
                                                          {"type", "function"},
                                                          {"function",
                                                           {{"name", calls[i]["function"].value("name", "")},
                                                            {"arguments", a}}}}})}},
                            nullptr));
        out.push_back(chunk(
            {{"tool_calls", json::array({{{"index", i}, {"function", {{"arguments", b}}}}})}},
            nullptr));
      }
      for (const auto& p : pieces) out.push_back(chunk({{"content", p}}, nullptr));
      out.push_back(chunk(json::object(), calls.empty() ? "stop" : "tool_calls"));
      out.push_back(data({{"id", "chatcmpl-fake"},
                          {"object", "chat.completion.chunk"},
                          {"created", 1},
                          {"model", model},
                          {"choices", json::array()},
                          {"usage",
                           {{"prompt_tokens", reply.prompt_tokens},
                            {"completion_tokens", reply.completion_tokens},
                            {"total_tokens", reply.prompt_tokens + reply.completion_tokens}}}}));
      out.push_back("data: [DONE]\n\n");
      break;
    }
    case FakeProtocol::kAnthropicMessages: {
      out.push_back(named("message_start",
                          {{"type", "message_start"},
                           {"message",
                            {{"id", "msg_fake"},
                             {"type", "message"},
                             {"role", "assistant"},
                             {"model", model},
                             {"content", json::array()},
                             {"usage", {{"input_tokens", reply.prompt_tokens}, {"output_tokens", 1}}}}}}));
      int index = 0;
      if (reply.reasoning_content) {
        out.push_back(named("content_block_start",
                            {{"type", "content_block_start"},
                             {"index", index},
                             {"content_block", {{"type", "thinking"}, {"thinking", ""}}}}));
        out.push_back(named("content_block_delta",
                            {{"type", "content_block_delta"},
                             {"index", index},
                             {"delta", {{"type", "thinking_delta"}, {"thinking", *reply.reasoning_content}}}}));
        out.push_back(named("content_block_stop", {{"type", "content_block_stop"}, {"index", index}}));
        ++index;
      }
      for (const auto& call : calls) {
        auto [a, b] = halves(call["function"].value("arguments", ""));
        out.push_back(named("content_block_start",
                            {{"type", "content_block_start"},
                             {"index", index},
                             {"content_block",
                              {{"type", "tool_use"},
                               {"id", call.value("id", "")},
                               {"name", call["function"].value("name", "")},
                               {"input", json::object()}}}}));
        for (const auto& part : {a, b}) {
          out.push_back(named("content_block_delta",
                              {{"type", "content_block_delta"},
                               {"index", index},
                               {"delta", {{"type", "input_json_delta"}, {"partial_json", part}}}}));
        }
        out.push_back(named("content_block_stop", {{"type", "content_block_stop"}, {"index", index}}));
        ++index;
      }
      if (!pieces.empty()) {
        out.push_back(named("content_block_start",
                            {{"type", "content_block_start"},
                             {"index", index},
                             {"content_block", {{"type", "text"}, {"text", ""}}}}));
        for (const auto& p : pieces) {
          out.push_back(named("content_block_delta",
                              {{"type", "content_block_delta"},
                               {"index", index},
                               {"delta", {{"type", "text_delta"}, {"text", p}}}}));
        }
        out.push_back(named("content_block_stop", {{"type", "content_block_stop"}, {"index", index}}));
      }
      out.push_back(named("message_delta",
                          {{"type", "message_delta"},
                           {"delta", {{"stop_reason", calls.empty() ? "end_turn" : "tool_use"}}},
                           {"usage", {{"output_tokens", reply.completion_tokens}}}}));
      out.push_back(named("message_stop", {{"type", "message_stop"}}));
      break;
    }
    case FakeProtocol::kGeminiGenerateContent: {
      auto response = [&](json parts, bool last) {
        json cand = {{"content", {{"role", "model"}, {"parts", std::move(parts)}}}, {"index", 0}};
        if (last) cand["finishReason"] = "STOP";
        json r = {{"candidates", json::array({cand})}, {"modelVersion", model}};
        if (last) {
          r["usageMetadata"] = {{"promptTokenCount", reply.prompt_tokens},
                                {"candidatesTokenCount", reply.completion_tokens},
                                {"totalTokenCount", reply.prompt_tokens + reply.completion_tokens}};
        }
        return data(r);
      };
      if (reply.reasoning_content) {
        out.push_back(response(json::array({{{"text", *reply.reasoning_content}, {"thought", true}}}), false));
      }
      for (const auto& call : calls) {
        nlohmann::json args =
            nlohmann::json::parse(call["function"].value("arguments", "{}"), nullptr, false);
        if (!args.is_object()) args = json::object();
        out.push_back(response(
            json::array({{{"functionCall", {{"name", call["function"].value("name", "")}, {"args", args}}}}}),
            false));
      }
      for (const auto& p : pieces) out.push_back(response(json::array({{{"text", p}}}), false));
      out.push_back(response(json::array({{{"text", ""}}}), true));
      break;
    }
  }
  return out;
}

void FakeOpenAi::ServeStream(httplib::Response& res, FakeReply reply, const std::string& model) {
  auto events = std::make_shared<std::vector<std::string>>(StreamEvents(protocol_, reply, model));
  const FakeStream opts = *reply.stream;
  auto next = std::make_shared<size_t>(0);
  res.set_chunked_content_provider(
      "text/event-stream", [this, events, opts, next](size_t, httplib::DataSink& sink) {
        if (opts.disconnect_after && *next >= *opts.disconnect_after) return false;
        if (opts.stall_after && *next >= *opts.stall_after) {
          // Stalled: nothing more until the client goes away or the fake stops (bounded).
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
          absl::MutexLock l(&mu_);
          while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
            mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(20));
            if (opts.stall_pings) {
              static constexpr std::string_view kPing = ": ping\n\n";
              mu_.Unlock();
              const bool ok = sink.write(kPing.data(), kPing.size());
              mu_.Lock();
              if (!ok) {
                ++streams_closed_;
                return false;
              }
            }
          }
          return false;
        }
        if (*next >= events->size()) {
          sink.done();
          return true;
        }
        const std::string& e = (*events)[(*next)++];
        const size_t step = opts.write_bytes == 0 ? e.size() : opts.write_bytes;
        for (size_t off = 0; off < e.size(); off += step) {
          if (!sink.write(e.data() + off, std::min(step, e.size() - off))) return false;
        }
        return true;
      });
}

size_t FakeOpenAi::StreamsClosedByClient() const {
  absl::MutexLock l(&mu_);
  return streams_closed_;
}

void FakeOpenAi::Enqueue(FakeReply reply) {
  absl::MutexLock l(&mu_);
  script_.push_back(std::move(reply));
}

void FakeOpenAi::SetDefault(FakeReply reply) {
  absl::MutexLock l(&mu_);
  default_ = std::move(reply);
}

std::vector<RecordedRequest> FakeOpenAi::Requests() const {
  absl::MutexLock l(&mu_);
  return requests_;
}

size_t FakeOpenAi::RequestCount() const {
  absl::MutexLock l(&mu_);
  return requests_.size() + unrecorded_;
}

void FakeOpenAi::SetRecording(bool on) {
  absl::MutexLock l(&mu_);
  recording_ = on;
}

std::string FakeOpenAi::CompletionBody(const FakeReply& reply, const std::string& request_model) {
  nlohmann::json message = {{"role", "assistant"}, {"content", reply.content}};
  if (!reply.tool_calls.is_null()) {
    message["tool_calls"] = reply.tool_calls;
    message["content"] = nullptr;
  }
  if (reply.reasoning_content) message["reasoning_content"] = *reply.reasoning_content;
  nlohmann::json body = {
      {"id", "chatcmpl-fake"},
      {"object", "chat.completion"},
      {"created", 1700000000},
      {"model", reply.model.empty() ? request_model : reply.model},
      {"choices",
       {{{"index", 0},
         {"message", message},
         {"finish_reason", reply.tool_calls.is_null() ? "stop" : "tool_calls"}}}},
      {"usage",
       {{"prompt_tokens", reply.prompt_tokens},
        {"completion_tokens", reply.completion_tokens},
        {"total_tokens", reply.prompt_tokens + reply.completion_tokens}}}};
  return body.dump();
}

void FakeOpenAi::Hold() { HoldMatching(""); }

void FakeOpenAi::HoldMatching(std::string needle) {
  absl::MutexLock l(&mu_);
  held_ = true;
  hold_needle_ = std::move(needle);
  release_tokens_ = 0;
}

void FakeOpenAi::Release() {
  absl::MutexLock l(&mu_);
  held_ = false;
  release_tokens_ = 0;
}

void FakeOpenAi::ReleaseOne() {
  absl::MutexLock l(&mu_);
  ++release_tokens_;
}

size_t FakeOpenAi::Held() const {
  absl::MutexLock l(&mu_);
  return held_now_;
}

size_t FakeOpenAi::InFlight() const {
  absl::MutexLock l(&mu_);
  return in_flight_;
}

size_t FakeOpenAi::MaxInFlight() const {
  absl::MutexLock l(&mu_);
  return max_in_flight_;
}

void FakeOpenAi::ResetMaxInFlight() {
  absl::MutexLock l(&mu_);
  max_in_flight_ = in_flight_;
}

}  // namespace llmix::testing

namespace llmix::testing {

std::vector<float> FakeOpenAi::FakeEmbedding(const std::string& text, int dimensions) {
  // FNV-1a of the text seeds each component: the same text always gets the same vector.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  std::vector<float> v(static_cast<size_t>(dimensions));
  for (size_t i = 0; i < v.size(); ++i) {
    h = (h ^ (i + 1)) * 1099511628211ull;
    v[i] = static_cast<float>(h % 2001) / 1000.0f - 1.0f;  // multiples of 1/1000 in [-1, 1]
  }
  return v;
}

std::string FakeOpenAi::EmbeddingsBody(const nlohmann::json& request, const FakeReply& reply) {
  int dims = kFakeEmbeddingDimensions;
  if (request.is_object() && request.contains("dimensions") &&
      request["dimensions"].is_number_integer()) {
    dims = request["dimensions"].get<int>();
  }
  nlohmann::json data = nlohmann::json::array();
  int64_t tokens = 0;
  if (request.is_object() && request.contains("input") && request["input"].is_array()) {
    const auto& input = request["input"];
    for (size_t i = 0; i < input.size(); ++i) {
      const std::string text = input[i].is_string() ? input[i].get<std::string>() : "";
      tokens += static_cast<int64_t>(text.size() / 4 + 1);
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", FakeEmbedding(text, dims)}});
    }
  }
  const std::string model = !reply.model.empty() ? reply.model
                            : request.is_object() && request.contains("model") &&
                                    request["model"].is_string()
                                ? request["model"].get<std::string>()
                                : "fake-embedding";
  return nlohmann::json{{"object", "list"},
                        {"data", std::move(data)},
                        {"model", model},
                        {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}
      .dump();
}

std::string FakeOpenAi::GeminiEmbeddingsBody(const nlohmann::json& request) {
  nlohmann::json embeddings = nlohmann::json::array();
  if (request.is_object() && request.contains("requests") && request["requests"].is_array()) {
    for (const auto& r : request["requests"]) {
      std::string text;
      if (r.is_object() && r.contains("content") && r["content"].contains("parts") &&
          !r["content"]["parts"].empty() && r["content"]["parts"][0].contains("text")) {
        text = r["content"]["parts"][0]["text"].get<std::string>();
      }
      int dims = kFakeEmbeddingDimensions;
      if (r.is_object() && r.contains("outputDimensionality") &&
          r["outputDimensionality"].is_number_integer()) {
        dims = r["outputDimensionality"].get<int>();
      }
      embeddings.push_back({{"values", FakeEmbedding(text, dims)}});
    }
  }
  return nlohmann::json{{"embeddings", std::move(embeddings)}}.dump();
}

std::string FakeOpenAi::RerankBody(const nlohmann::json& request) {
  // Relevance: how many characters of the query occur in the document (deterministic), best
  // first, cut to top_n.
  nlohmann::json results = nlohmann::json::array();
  if (!request.is_object() || !request.contains("documents") || !request.contains("query")) {
    return nlohmann::json{{"results", results}}.dump();
  }
  const std::string query = request["query"].is_string() ? request["query"].get<std::string>() : "";
  std::vector<std::pair<double, size_t>> scored;
  const auto& docs = request["documents"];
  for (size_t i = 0; i < docs.size(); ++i) {
    const std::string doc = docs[i].is_string() ? docs[i].get<std::string>() : "";
    size_t hits = 0;
    for (char c : query) hits += doc.find(c) != std::string::npos ? 1 : 0;
    scored.emplace_back(query.empty() ? 0.0 : static_cast<double>(hits) / query.size(), i);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  size_t top = scored.size();
  if (request.contains("top_n") && request["top_n"].is_number_integer()) {
    top = std::min(top, request["top_n"].get<size_t>());
  }
  for (size_t k = 0; k < top; ++k) {
    results.push_back({{"index", scored[k].second}, {"relevance_score", scored[k].first}});
  }
  return nlohmann::json{{"model", request.value("model", "")},
                        {"results", std::move(results)},
                        {"usage", {{"total_tokens", 10}}}}
      .dump();
}

}  // namespace llmix::testing
