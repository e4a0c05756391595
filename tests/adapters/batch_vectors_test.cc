// LLMix's batch vectors (family batch, CONTRACT §11) against adapters/provider_batch: batch id
// encoding and decoding, the metadata file (path and exact text), and BatchProcessor
// submit/status/results against the scripted provider answers, comparing every request sent
// (url, method, headers, JSON body or multipart parts), the results or error, and whether the
// metadata file was deleted. One documented difference: LLMix sends the Gemini key as `?key=`
// in the URL, the sidecar as the `x-goog-api-key` header; the expected requests are rewritten
// accordingly (and the URL must then carry no key).
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "adapters/provider_batch.h"
#include "adapters/provider_batch_wire.h"
#include "common/js_json.h"
#include "tests/support/fixtures.h"
#include "tests/support/process.h"

namespace llmix::adapters {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;
using testing::FixtureCase;

// The provider's answers in order (status 200 unless given; an object body is sent as JSON
// text, a string verbatim), recording each request.
class ScriptedClient final : public BatchHttpClient {
 public:
  explicit ScriptedClient(json responses) : responses_(std::move(responses)) {}
  HttpResponse Send(const BatchHttpRequest& request) override {
    requests.push_back(request);
    HttpResponse out;
    const size_t i = requests.size() - 1;
    if (!responses_.is_array() || i >= responses_.size()) {
      out.failure = TransportFailure::kConnect;
      out.failure_detail = "no scripted response";
      return out;
    }
    const json& r = responses_[i];
    out.status = r.value("status", 200);
    out.body = r["body"].is_string() ? r["body"].get<std::string>() : r["body"].dump();
    return out;
  }
  std::vector<BatchHttpRequest> requests;

 private:
  json responses_;
};

// The vector's options.params with their member order (LoadFixtureCases sorts keys).
ojson OrderedParams(const std::string& case_name) {
  auto file = ParseJsJsonOrdered(testing::ReadFile(testing::FixturePath("batch.json")));
  EXPECT_TRUE(file.ok());
  for (const ojson& c : (*file)["cases"]) {
    if (c["name"] == case_name) {
      const ojson& options = c["input"]["options"];
      return options.contains("params") ? options["params"] : ojson();
    }
  }
  return ojson();
}

// The key placement difference (see the file comment).
json SidecarRequest(json expected, const std::string& api_key) {
  std::string url = expected["url"];
  const std::string query = "?key=" + api_key;
  if (absl::EndsWith(url, query)) {
    expected["url"] = url.substr(0, url.size() - query.size());
    expected["headers"]["x-goog-api-key"] = api_key;
  }
  return expected;
}

void ExpectRequests(const json& expected, const std::vector<BatchHttpRequest>& actual,
                    const std::string& api_key) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    const json want = SidecarRequest(expected[i], api_key);
    const BatchHttpRequest& got = actual[i];
    EXPECT_EQ(got.url, want["url"]);
    EXPECT_FALSE(absl::StrContains(got.url, api_key)) << "key in the URL";
    EXPECT_EQ(got.method, want["method"]);
    json headers = json::object();
    for (const auto& [k, v] : got.headers) headers[k] = v;
    EXPECT_EQ(headers, want["headers"]);
    if (want.contains("body")) {
      EXPECT_EQ(json::parse(got.body), want["body"]) << got.body;
    } else if (!want.contains("formData")) {
      EXPECT_TRUE(got.body.empty());
    }
    if (want.contains("formData")) {
      ASSERT_EQ(got.form.size(), want["formData"].size());
      for (size_t p = 0; p < got.form.size(); ++p) {
        const json& part = want["formData"][p];
        EXPECT_EQ(got.form[p].name, part["name"]);
        if (part.contains("filename")) {
          EXPECT_EQ(got.form[p].filename, part["filename"]);
          EXPECT_EQ(got.form[p].content_type, part["type"]);
          EXPECT_EQ(got.form[p].value, part["content"]);  // the JSONL text, byte for byte
        } else {
          EXPECT_EQ(got.form[p].value, part["value"]);
          EXPECT_TRUE(got.form[p].filename.empty());
        }
      }
    }
  }
}

template <typename T>
void ExpectError(const BatchOutcome<T>& outcome, const json& expected) {
  ASSERT_FALSE(outcome.ok());
  ASSERT_TRUE(outcome.error.has_value());
  EXPECT_EQ(outcome.error->message, expected["error"]["message"]);
}

const std::string kDefaultBase[3][2] = {
    {"openai", "https://api.openai.com/v1"},
    {"anthropic", "https://api.anthropic.com/v1"},
    {"gemini", "https://generativelanguage.googleapis.com/v1beta"}};

std::string DefaultBase(const std::string& provider) {
  for (const auto& [p, url] : kDefaultBase) {
    if (p == provider) return url;
  }
  return "";
}

// Writes the metadata file the way a submit with `key` would have.
void WriteMetadataFor(const std::string& state_dir, const std::string& batch_id,
                      const std::string& key, const DecodedBatchId& id) {
  std::filesystem::create_directories(state_dir + "/batches");
  testing::WriteFile(state_dir + "/" + BatchMetadataRelativePath(batch_id),
                     BatchMetadataText(BatchKeyFingerprint(key), id.provider, id.n_prompts,
                                       absl::FromUnixMillis(1772600767890)));
}

class BatchVectors : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(BatchVectors, Matches) {
  const FixtureCase& c = GetParam();
  const json& in = c.input;
  const json& want = c.expected;
  const std::string fn = in["fn"];
  testing::TempDir dir;

  if (fn == "encodeBatchId") {
    EXPECT_EQ(EncodeBatchId(in["provider"].get<std::string>(), in["apiKey"].get<std::string>(),
                            in["nPrompts"].get<int64_t>(), in["rawBatchId"].get<std::string>()),
              want["batchId"]);
  } else if (fn == "decodeBatchId") {
    auto d = DecodeBatchId(in["batchId"].get<std::string>());
    if (want.contains("error")) {
      ASSERT_FALSE(d.ok());
      EXPECT_EQ(std::string(d.status().message()), want["error"]["message"]);
    } else {
      ASSERT_TRUE(d.ok()) << d.status();
      const json& w = want["decoded"];
      EXPECT_EQ(d->provider, w["provider"]);
      EXPECT_EQ(d->key_fingerprint, w["keyFingerprint"]);
      EXPECT_EQ(d->n_prompts, w["nPrompts"].get<int64_t>());
      EXPECT_EQ(d->raw_batch_id, w["rawBatchId"]);
    }
  } else if (fn == "writeMetadata") {
    EXPECT_EQ(BatchMetadataRelativePath(in["batchId"].get<std::string>()), want["relativePath"]);
    EXPECT_EQ(BatchMetadataText(BatchKeyFingerprint(in["apiKey"].get<std::string>()),
                                in["provider"].get<std::string>(), in["nPrompts"].get<int64_t>(),
                                absl::FromUnixMillis(in["nowMs"].get<int64_t>())),
              want["fileContent"]);
  } else if (fn == "BatchProcessor.submit") {
    const json& o = in["options"];
    ScriptedClient client(in["responses"]);
    BatchProcessor processor(client, dir.path());
    BatchSubmitRequest r;
    r.provider = o["provider"];
    r.api_key = o["apiKey"];
    r.model = o["model"];
    r.base_url = DefaultBase(r.provider);
    for (const json& p : o["prompts"]) r.prompts.push_back(p);
    if (o.contains("systemPrompt")) r.system_prompt = o["systemPrompt"].get<std::string>();
    r.params = OrderedParams(c.name);
    auto out = processor.Submit(r, absl::FromUnixMillis(in["nowMs"].get<int64_t>()));
    ExpectRequests(want["requests"], client.requests, r.api_key);
    if (want.contains("error")) {
      ExpectError(out, want);
      EXPECT_FALSE(std::filesystem::exists(dir.path() + "/batches"));
      return;
    }
    ASSERT_TRUE(out.ok()) << out.error->message;
    EXPECT_EQ(*out.value, want["batchId"]);
    const json& m = want["metadata"];
    EXPECT_EQ(BatchMetadataRelativePath(*out.value), want["metadataFile"]);
    // The file LLMix would have written: JSON.stringify of the metadata, member order kept.
    EXPECT_EQ(testing::ReadFile(dir.path() + "/" + want["metadataFile"].get<std::string>()),
              BatchMetadataText(m["keyFingerprint"].get<std::string>(),
                                m["provider"].get<std::string>(), m["nPrompts"].get<int64_t>(),
                                absl::FromUnixMillis(in["nowMs"].get<int64_t>())));
    EXPECT_EQ(
        json::parse(testing::ReadFile(dir.path() + "/" + want["metadataFile"].get<std::string>())),
        m);
  } else if (fn == "BatchProcessor.status" || fn == "BatchProcessor.results") {
    const std::string batch_id = in["batchId"];
    const std::string key = in["apiKey"];
    auto id = DecodeBatchId(batch_id);
    ASSERT_TRUE(id.ok()) << id.status();
    WriteMetadataFor(dir.path(), batch_id, in.value("submitKey", key), *id);
    json responses = in.contains("responses") ? in["responses"] : json::array();
    if (in.contains("response")) responses = json::array({{{"body", in["response"]}}});
    ScriptedClient client(responses);
    BatchProcessor processor(client, dir.path());
    if (auto e = processor.CheckKey(*id, batch_id, key)) {
      ASSERT_TRUE(want.contains("error")) << e->message;
      EXPECT_EQ(e->kind, BatchErrorKind::kKeyMismatch);
      EXPECT_EQ(e->message, want["error"]["message"]);
      EXPECT_TRUE(client.requests.empty());
      return;
    }
    const std::string base = DefaultBase(id->provider);
    if (fn == "BatchProcessor.status") {
      auto out = processor.Status(*id, key, base);
      ExpectRequests(want["requests"], client.requests, key);
      ASSERT_TRUE(out.ok()) << out.error->message;
      const json& s = want["status"];
      EXPECT_EQ(out.value->batch_id, s["batchId"]);
      EXPECT_EQ(out.value->state, s["state"]);
      EXPECT_EQ(out.value->total_requests, s["totalRequests"].get<int64_t>());
      EXPECT_EQ(out.value->completed_requests, s["completedRequests"].get<int64_t>());
      EXPECT_EQ(out.value->failed_requests, s["failedRequests"].get<int64_t>());
      return;
    }
    bool deleted = false;
    auto out = processor.Results(*id, batch_id, key, base, &deleted);
    ExpectRequests(want["requests"], client.requests, key);
    const bool file_exists =
        std::filesystem::exists(dir.path() + "/" + BatchMetadataRelativePath(batch_id));
    if (want.contains("error")) {
      ExpectError(out, want);
      EXPECT_TRUE(file_exists) << "metadata must survive a failed retrieval";
      return;
    }
    ASSERT_TRUE(out.ok()) << out.error->message;
    ASSERT_EQ(out.value->size(), want["results"].size());
    for (size_t i = 0; i < out.value->size(); ++i) {
      const BatchResultEntry& got = (*out.value)[i];
      const json& w = want["results"][i];
      EXPECT_EQ(got.index, w["index"].get<int64_t>());
      EXPECT_EQ(got.success, w["success"].get<bool>());
      EXPECT_EQ(got.response, w.value("response", ""));
      EXPECT_EQ(got.error, w.value("error", ""));
    }
    EXPECT_EQ(deleted, want["metadataDeleted"].get<bool>());
    EXPECT_EQ(!file_exists, want["metadataDeleted"].get<bool>());
  } else {
    FAIL() << "unknown fn " << fn;
  }
}

INSTANTIATE_TEST_SUITE_P(Batch, BatchVectors,
                         ::testing::ValuesIn(testing::LoadFixtureCases("batch")),
                         testing::FixtureCaseName);

// Beyond the vectors: results in prompt order with content and usage for each provider, the
// multipart encoding, and the guards on ids that go into URLs.
TEST(BatchProcessorTest, OpenAiResultsInPromptOrderWithUsage) {
  testing::TempDir dir;
  const std::string key = "sk-order";
  const std::string batch_id = EncodeBatchId("openai", key, 3, "batch_9");
  auto id = DecodeBatchId(batch_id);
  ASSERT_TRUE(id.ok());
  WriteMetadataFor(dir.path(), batch_id, key, *id);
  const std::string line1 =
      R"({"custom_id":"req-1","response":{"status_code":200,"body":{"choices":[{"message":{"content":"B"}}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}}})";
  const std::string line0 =
      R"({"custom_id":"req-0","response":{"status_code":200,"body":{"choices":[{"message":{"content":"A"}}]}}})";
  ScriptedClient client(
      json::array({{{"body", {{"status", "completed"}, {"output_file_id", "file-out"}}}},
                   {{"body", line1 + "\n" + line0 + "\n"}}}));
  BatchProcessor processor(client, dir.path());
  bool deleted = false;
  auto out = processor.Results(*id, batch_id, key, "http://127.0.0.1:1/v1", &deleted);
  ASSERT_TRUE(out.ok()) << out.error->message;
  ASSERT_EQ(out.value->size(), 3u);
  EXPECT_EQ((*out.value)[0].response, "A");
  EXPECT_FALSE((*out.value)[0].usage.has_value());
  EXPECT_EQ((*out.value)[1].response, "B");
  ASSERT_TRUE((*out.value)[1].usage.has_value());
  EXPECT_EQ((*out.value)[1].usage->input_tokens, 5);
  EXPECT_EQ((*out.value)[1].usage->total_tokens, 7);
  EXPECT_FALSE((*out.value)[2].success);
  EXPECT_EQ((*out.value)[2].error, "Missing result");
  EXPECT_TRUE(deleted);
  EXPECT_EQ(client.requests[1].url, "http://127.0.0.1:1/v1/files/file-out/content");
}

TEST(BatchProcessorTest, IdsThatWouldChangeTheUrlAreRefusedBeforeAnyRequest) {
  testing::TempDir dir;
  ScriptedClient client(json::array());
  BatchProcessor processor(client, dir.path());
  for (const char* raw : {"../files", "b?x=1", "b#f", "b%2e", "/abs", "a b"}) {
    auto id = DecodeBatchId(std::string("openai:00000000:1:") + raw);
    ASSERT_TRUE(id.ok()) << raw;
    auto out = processor.Status(*id, "k", "https://api.openai.com/v1");
    ASSERT_FALSE(out.ok()) << raw;
    EXPECT_EQ(out.error->kind, BatchErrorKind::kInvalid);
  }
  EXPECT_TRUE(client.requests.empty());
}

TEST(BatchProcessorTest, ProviderErrorsNeverCarryTheKey) {
  testing::TempDir dir;
  const std::string key = "sk-secret-key-echoed-123";
  ScriptedClient client(json::array({{{"status", 401}, {"body", "bad key " + key}}}));
  BatchProcessor processor(client, dir.path());
  BatchSubmitRequest r{"anthropic", key, "claude", "https://api.anthropic.com/v1", {"x"}, {}, {}};
  auto out = processor.Submit(r, absl::Now());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->kind, BatchErrorKind::kUpstream);
  EXPECT_TRUE(absl::StartsWith(out.error->message, "Anthropic batch create failed: 401 "));
  EXPECT_FALSE(absl::StrContains(out.error->message, key)) << out.error->message;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/batches"));
}

TEST(BatchProcessorTest, MultipartEncoding) {
  EXPECT_EQ(EncodeMultipart({{"purpose", "batch", "", ""},
                             {"file", "{}\n", "batch.jsonl", "application/jsonl"}},
                            "BND"),
            "--BND\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            "--BND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.jsonl\"\r\n"
            "Content-Type: application/jsonl\r\n\r\n{}\n\r\n--BND--\r\n");
}

TEST(BatchProcessorTest, UploadSizeIsBounded) {
  testing::TempDir dir;
  ScriptedClient client(json::array());
  BatchLimits limits;
  limits.max_upload_bytes = 1000;
  BatchProcessor processor(client, dir.path(), limits);
  BatchSubmitRequest r{"openai", "k", "m", "https://api.openai.com/v1", {}, std::string(300, 's'),
                       {}};
  r.prompts.assign(10, "p");
  auto out = processor.Submit(r, absl::Now());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->kind, BatchErrorKind::kInvalid);
  EXPECT_TRUE(absl::StartsWith(out.error->message, "prompts: ")) << out.error->message;
  EXPECT_TRUE(client.requests.empty());
}

}  // namespace
}  // namespace llmix::adapters
