// A loopback fake of one provider's batch API (real HTTP on 127.0.0.1, port 0), in the wire
// shapes LLMix 2.2's batch.ts speaks:
//  - OpenAI: POST /v1/files (multipart: purpose, file = JSONL), POST /v1/batches,
//    GET /v1/batches/{id}, GET /v1/files/{id}/content (output JSONL);
//  - Anthropic: POST /v1/messages/batches, GET /v1/messages/batches/{id},
//    GET /v1/messages/batches/{id}/results (JSONL);
//  - Gemini: POST /v1beta/models/{model}:batchGenerateContent, GET /v1beta/batches/{id}
//    (state, completionStats and, once done, the inlined `responses`).
// Every batch moves through the phase the test sets (pending -> running -> done). Done, each
// request is answered "echo: <prompt>" (with usage); request `fail_index` fails. A request
// without the expected key gets 401 with the key echoed in the body. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/fake_openai.h"

namespace httplib {
class Server;
}

namespace llmix::testing {

enum class FakeBatchProvider { kOpenAi, kAnthropic, kGemini };
enum class FakeBatchPhase { kPending, kRunning, kDone };

class FakeBatchApi {
 public:
  FakeBatchApi(FakeBatchProvider provider, std::string api_key);
  ~FakeBatchApi();

  // "http://127.0.0.1:PORT/v1" ("/v1beta" for Gemini).
  std::string base_url() const;
  void SetPhase(FakeBatchPhase phase);
  // The request with this index fails when done (-1: none).
  void SetFailIndex(int index);
  std::vector<RecordedRequest> Requests() const;
  // The prompts (user texts) and system prompt of each submitted request, in request order.
  std::vector<std::string> SubmittedPrompts() const;
  // The per-request bodies as submitted (OpenAI `body`, Anthropic `params`, Gemini `request`).
  std::vector<nlohmann::json> SubmittedRequests() const;

 private:
  struct Batch {
    std::string id;
    std::vector<nlohmann::json> requests;  // {"custom_id", "body"} in submit order
  };
  void Route();
  bool Authorized(const void* request) const;
  nlohmann::json StatusBody(const Batch& b) const;
  std::string ResultsJsonl(const Batch& b) const;
  nlohmann::json EntryResult(const Batch& b, size_t i) const;

  const FakeBatchProvider provider_;
  const std::string api_key_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  mutable absl::Mutex mu_;
  FakeBatchPhase phase_ ABSL_GUARDED_BY(mu_) = FakeBatchPhase::kPending;
  int fail_index_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> files_ ABSL_GUARDED_BY(mu_);  // OpenAI file id -> text
  std::map<std::string, Batch> batches_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace llmix::testing
