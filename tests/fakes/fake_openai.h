// A loopback fake provider (real HTTP on 127.0.0.1, port 0) speaking one wire protocol:
// OpenAI Chat Completions (default, plus embeddings and rerank), Anthropic Messages or Gemini
// generateContent (plus batchEmbedContents). Tests script: reply text, status, headers, delay, raw/malformed bodies. It records every
// request it receives. Replies are taken from a FIFO script; when the script is empty the
// default reply is used. Thread-safe.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace llmix::testing {

enum class FakeProtocol { kOpenAiChat, kAnthropicMessages, kGeminiGenerateContent };

// How a reply is streamed (FakeReply::stream): as the protocol's real SSE events (OpenAI
// chat.completion.chunk + usage chunk + [DONE]; Anthropic message_start .. message_stop;
// Gemini one GenerateContentResponse per event), answered whatever the request asked for.
struct FakeStream {
  // The content in these pieces, one content event each (e.g. a split inside "<think>");
  // empty: the whole content in one event. Reasoning and tool calls come before the content,
  // tool-call arguments split in two events.
  std::vector<std::string> content_pieces;
  // The body is written in writes of this many bytes (0: one write per event), so chunk
  // boundaries fall inside events (e.g. inside a multi-byte UTF-8 character).
  size_t write_bytes = 0;
  // After this many events: stop sending and wait until the client closes the connection or
  // the fake stops (bounded, 30 s). `stall_pings` sends an SSE comment every 20 ms while
  // stalled, which is how the fake notices the client went away (its write fails).
  std::optional<size_t> stall_after;
  bool stall_pings = false;
  // After this many events: drop the connection (no protocol end).
  std::optional<size_t> disconnect_after;
};

// A reply in protocol-neutral terms; each protocol renders it in its own body shape
// (tool_calls are given in OpenAI's shape and converted).
struct FakeReply {
  int status = 200;
  std::string content = "fake reply";  // used when raw_body is empty and status is 2xx
  std::string model;                   // default: the request's model
  int64_t prompt_tokens = 7;
  int64_t completion_tokens = 3;
  std::map<std::string, std::string> headers;
  std::optional<std::string> raw_body;  // sent verbatim when set
  std::chrono::milliseconds delay{0};
  nlohmann::json tool_calls;  // OpenAI tool_calls array, or null
  std::optional<std::string> reasoning_content;
  // "{api_key}" in raw_body and header values is replaced with the credential the request
  // carried (bearer token, x-api-key or x-goog-api-key), as a provider echoing a bad key does.
  bool echo_api_key = false;
  std::optional<FakeStream> stream;  // stream the reply as SSE (status must be 2xx)
};

struct RecordedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  nlohmann::json json;  // parsed body (discarded when not JSON)
};

class FakeOpenAi {
 public:
  explicit FakeOpenAi(FakeProtocol protocol = FakeProtocol::kOpenAiChat);
  ~FakeOpenAi();

  int port() const { return port_; }
  // e.g. "http://127.0.0.1:PORT/v1" ("/v1beta" for Gemini)
  std::string base_url() const;

  void Enqueue(FakeReply reply);
  void SetDefault(FakeReply reply);
  std::vector<RecordedRequest> Requests() const;
  // Off: requests are counted but not kept (long runs such as bench/soak.sh).
  void SetRecording(bool on);
  size_t RequestCount() const;

  // While held, every request waits (up to 30 s) before it is answered; Release() lets the
  // waiting ones go. For tests that need requests in flight at the same time.
  void Hold();
  // Holds only requests whose body contains `needle` (others are answered at once).
  void HoldMatching(std::string needle);
  void Release();
  // Lets one held request go (the longest-waiting one is not guaranteed), or the next one to
  // arrive while held.
  void ReleaseOne();
  // Requests waiting on the hold right now.
  size_t Held() const;
  // Requests being handled right now, and the most seen at once since the last reset.
  size_t InFlight() const;
  size_t MaxInFlight() const;
  void ResetMaxInFlight();
  // Streamed replies whose connection the client closed before the end (seen by a failed
  // write while stalled with pings).
  size_t StreamsClosedByClient() const;
  // The SSE events of a streamed reply (exposed for benchmarks), each "data: ...\n\n" or
  // "event: ...\ndata: ...\n\n".
  static std::vector<std::string> StreamEvents(FakeProtocol protocol, const FakeReply& reply,
                                               const std::string& request_model);

  // Builds the OpenAI chat.completion body for `reply` (exposed for direct-call benchmarks).
  static std::string CompletionBody(const FakeReply& reply, const std::string& request_model);
  static std::string AnthropicBody(const FakeReply& reply, const std::string& request_model);
  static std::string GeminiBody(const FakeReply& reply, const std::string& request_model);

  // Embeddings and rerank (answered on /v1/embeddings and /v1/rerank for kOpenAiChat, on
  // models/{m}:batchEmbedContents for kGeminiGenerateContent). Every text gets the vector
  // FakeEmbedding(text, dimensions): deterministic, `dimensions` from the request or
  // kFakeEmbeddingDimensions. Rerank scores each document by the share of the query's
  // characters it contains, best first.
  static constexpr int kFakeEmbeddingDimensions = 4;
  static std::vector<float> FakeEmbedding(const std::string& text, int dimensions);
  static std::string EmbeddingsBody(const nlohmann::json& request, const FakeReply& reply);
  static std::string GeminiEmbeddingsBody(const nlohmann::json& request);
  static std::string RerankBody(const nlohmann::json& request);

 private:
  std::string SuccessBody(const FakeReply& reply, const std::string& model) const;
  std::string ErrorBody(int status) const;
  void ServeStream(httplib::Response& res, FakeReply reply, const std::string& model);

  FakeProtocol protocol_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable absl::Mutex mu_;
  std::deque<FakeReply> script_ ABSL_GUARDED_BY(mu_);
  FakeReply default_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  std::string hold_needle_ ABSL_GUARDED_BY(mu_);
  size_t release_tokens_ ABSL_GUARDED_BY(mu_) = 0;
  size_t held_now_ ABSL_GUARDED_BY(mu_) = 0;
  bool recording_ ABSL_GUARDED_BY(mu_) = true;
  size_t unrecorded_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  size_t max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  size_t streams_closed_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace llmix::testing
