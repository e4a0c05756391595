// Provider batches end to end: the real binary against loopback fakes of the OpenAI (files +
// batches + output file), Anthropic (message batches + results JSONL) and Gemini
// (batchGenerateContent + batches/<id> with inlined responses) batch APIs. For each provider:
// SubmitBatch from a published preset -> LLMix's metadata file, byte for byte -> GetBatch
// pending / in_progress -> completed -> GetBatchResults in prompt order with content and usage
// -> metadata deleted. Fingerprint mismatches are refused without a request; bad input is
// INVALID_ARGUMENT naming the field; the keys appear in no file, log line or error.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "adapters/provider_batch.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_batch_api.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kOpenAiKey[] = "sk-batch-openai-e2e-secret-1";
constexpr char kAnthropicKey[] = "sk-ant-batch-e2e-secret-2";
constexpr char kGoogleKey[] = "AIza-batch-e2e-secret-3";

constexpr char kPreset[] = R"(---
name: NAME
description: Batch target.
metadata:
  snoai-llmix:
    common:
      provider: PROVIDER
      model: MODEL
      temperature: 0.2
      maxOutputTokens: 50
  llmix-sidecar:
    baseUrl: BASE_URL
---
)";

struct Case {
  const char* name;      // preset name
  const char* provider;  // catalog provider in the preset
  const char* batch;     // LLMix batch provider
  const char* model;
  const char* key;
  FakeBatchProvider fake;
  const char* pending;  // GetBatch state before the provider starts
};

const Case kCases[] = {
    {"oa", "openai", "openai", "gpt-4o-mini", kOpenAiKey, FakeBatchProvider::kOpenAi, "pending"},
    {"an", "anthropic", "anthropic", "claude-3-5-haiku-latest", kAnthropicKey,
     FakeBatchProvider::kAnthropic, "in_progress"},
    {"gem", "google", "gemini", "gemini-2.5-flash", kGoogleKey, FakeBatchProvider::kGemini,
     "pending"},
};

class BatchE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.File("llm");
    fs::create_directories(root_ + "/source/demo");
    for (size_t i = 0; i < 3; ++i) {
      WriteFile(root_ + "/source/demo/" + kCases[i].name + ".mda",
                absl::StrReplaceAll(kPreset, {{"NAME", kCases[i].name},
                                              {"PROVIDER", kCases[i].provider},
                                              {"MODEL", kCases[i].model},
                                              {"BASE_URL", fakes_[i]->base_url()}}));
    }
    CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root_});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--registry", root_, "--log-level", "debug"},
        std::map<std::string, std::optional<std::string>>{
            {"OPENAI_API_KEY", kOpenAiKey},
            {"ANTHROPIC_API_KEY", kAnthropicKey},
            {"GOOGLE_API_KEY", kGoogleKey},
            // GetBatch without a preset uses the provider's env base URL.
            {"OPENAI_BASE_URL", fakes_[0]->base_url()}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return ctx;
  }

  grpc::Status Submit(const v1::SubmitBatchRequest& req, v1::SubmitBatchResponse* resp) {
    return sidecar_->stub().SubmitBatch(Ctx().get(), req, resp);
  }
  grpc::Status Get(const std::string& id, v1::BatchStatus* out, const char* preset = nullptr) {
    v1::GetBatchRequest req;
    req.set_batch_id(id);
    if (preset != nullptr) req.set_preset(preset);
    return sidecar_->stub().GetBatch(Ctx().get(), req, out);
  }
  grpc::Status Results(const std::string& id, v1::BatchResults* out, const char* preset = nullptr) {
    v1::GetBatchResultsRequest req;
    req.set_batch_id(id);
    if (preset != nullptr) req.set_preset(preset);
    return sidecar_->stub().GetBatchResults(Ctx().get(), req, out);
  }
  std::string MetadataPath(const std::string& batch_id) {
    return sidecar_->dir().File("state") + "/" + adapters::BatchMetadataRelativePath(batch_id);
  }

  // Everything the sidecar wrote or said: logs and every file of its state dir.
  void ExpectNoKeyAnywhere(const std::vector<std::string>& extra) {
    std::vector<std::string> texts = extra;
    texts.push_back(sidecar_->process().Stdout());
    texts.push_back(sidecar_->process().Stderr());
    const std::string state = sidecar_->dir().File("state");
    for (const auto& e : fs::exists(state) ? fs::recursive_directory_iterator(state)
                                           : fs::recursive_directory_iterator()) {
      if (e.is_regular_file()) texts.push_back(ReadFile(e.path().string()));
    }
    for (const std::string& t : texts) {
      for (const char* key : {kOpenAiKey, kAnthropicKey, kGoogleKey}) {
        EXPECT_FALSE(absl::StrContains(t, key)) << "key leaked into: " << t.substr(0, 400);
      }
    }
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<FakeBatchApi> fakes_[3] = {
      std::make_unique<FakeBatchApi>(FakeBatchProvider::kOpenAi, kOpenAiKey),
      std::make_unique<FakeBatchApi>(FakeBatchProvider::kAnthropic, kAnthropicKey),
      std::make_unique<FakeBatchApi>(FakeBatchProvider::kGemini, kGoogleKey)};
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(BatchE2E, SubmitPollAndCollectResultsForEachProvider) {
  std::vector<std::string> errors_seen;
  for (size_t i = 0; i < 3; ++i) {
    const Case& c = kCases[i];
    FakeBatchApi& fake = *fakes_[i];
    SCOPED_TRACE(c.batch);
    const std::string preset = absl::StrCat("demo/", c.name);
    // GetBatch names the preset (its base URL) except for OpenAI, where OPENAI_BASE_URL serves.
    const char* poll_preset = i == 0 ? nullptr : preset.c_str();

    v1::SubmitBatchRequest req;
    req.set_preset(preset);
    for (const char* p : {"alpha", "beta", "gamma"}) req.add_prompts(p);
    req.set_system_prompt("Be brief.");
    v1::SubmitBatchResponse submitted;
    grpc::Status st = Submit(req, &submitted);
    ASSERT_TRUE(st.ok()) << st.error_message();
    const std::string fp = adapters::BatchKeyFingerprint(c.key);
    EXPECT_TRUE(absl::StartsWith(submitted.batch_id(), absl::StrCat(c.batch, ":", fp, ":3:")))
        << submitted.batch_id();
    EXPECT_EQ(submitted.provider(), c.batch);
    EXPECT_EQ(submitted.n_prompts(), 3);

    // The provider got the prompts in order, the system prompt and the preset's parameters.
    EXPECT_EQ(fake.SubmittedPrompts(), (std::vector<std::string>{"alpha", "beta", "gamma"}));
    const nlohmann::json first = fake.SubmittedRequests().at(0);
    if (i == 0) {
      EXPECT_EQ(first["model"], c.model);
      EXPECT_EQ(first["messages"][0],
                (nlohmann::json{{"role", "system"}, {"content", "Be brief."}}));
      EXPECT_EQ(first["temperature"], 0.2);
      EXPECT_EQ(first["max_tokens"], 50);
    } else if (i == 1) {
      EXPECT_EQ(first["system"], "Be brief.");
      EXPECT_EQ(first["max_tokens"], 50);
      EXPECT_EQ(first["temperature"], 0.2);
    } else {
      EXPECT_EQ(first["model"], absl::StrCat("models/", c.model));
      EXPECT_EQ(first["system_instruction"]["parts"][0]["text"], "Be brief.");
      EXPECT_EQ(first["generationConfig"]["maxOutputTokens"], 50);
      EXPECT_EQ(first["generationConfig"]["temperature"], 0.2);
    }
    for (const RecordedRequest& r : fake.Requests()) {
      EXPECT_FALSE(absl::StrContains(r.path, c.key)) << "key in the URL: " << r.path;
    }

    // LLMix's metadata file, byte for byte.
    const std::string path = MetadataPath(submitted.batch_id());
    ASSERT_TRUE(fs::exists(path)) << path;
    const std::string text = ReadFile(path);
    const std::regex shape(
        absl::StrCat(R"(\{"keyFingerprint":")", fp, R"(","provider":")", c.batch,
                     R"(","nPrompts":3,"submittedAt":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\})"));
    EXPECT_TRUE(std::regex_match(text, shape)) << text;

    v1::BatchStatus status;
    st = Get(submitted.batch_id(), &status, poll_preset);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(status.state(), c.pending);
    v1::BatchResults results;
    st = Results(submitted.batch_id(), &results, poll_preset);
    if (i == 1) {  // Anthropic answers results of a running batch with an error (as LLMix sees)
      EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
      EXPECT_TRUE(absl::StartsWith(st.error_message(), "Anthropic batch results failed: 400"))
          << st.error_message();
      errors_seen.push_back(st.error_message());
    } else {
      ASSERT_TRUE(st.ok()) << st.error_message();
      EXPECT_EQ(results.results_size(), 0);
    }
    EXPECT_TRUE(fs::exists(path)) << "kept while the batch runs";

    fake.SetPhase(FakeBatchPhase::kRunning);
    ASSERT_TRUE(Get(submitted.batch_id(), &status, poll_preset).ok());
    EXPECT_EQ(status.state(), "in_progress");

    fake.SetFailIndex(1);
    fake.SetPhase(FakeBatchPhase::kDone);
    ASSERT_TRUE(Get(submitted.batch_id(), &status, poll_preset).ok());
    EXPECT_EQ(status.state(), "completed");
    EXPECT_EQ(status.total_requests(), 3);
    EXPECT_EQ(status.completed_requests(), 2);
    EXPECT_EQ(status.failed_requests(), 1);

    results.Clear();
    st = Results(submitted.batch_id(), &results, poll_preset);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(results.results_size(), 3);
    EXPECT_TRUE(results.results(0).success());
    EXPECT_EQ(results.results(0).content(), "echo: alpha");
    EXPECT_EQ(results.results(0).usage().input_tokens(), 10);
    EXPECT_EQ(results.results(0).usage().output_tokens(), 4);
    EXPECT_FALSE(results.results(1).success());
    EXPECT_FALSE(results.results(1).error().empty());
    EXPECT_EQ(results.results(2).content(), "echo: gamma");
    EXPECT_EQ(results.results(2).index(), 2);
    EXPECT_FALSE(fs::exists(path)) << "LLMix deletes the metadata once results came back";
  }

  std::string metrics;
  sidecar_->AdminGet("/metrics", &metrics);
  EXPECT_EQ(
      MetricValue(
          metrics,
          R"(llmix_provider_batch_requests_total{op="submit",provider="gemini",outcome="ok"})"),
      1);
  ExpectNoKeyAnywhere(errors_seen);
}

TEST_F(BatchE2E, FingerprintMismatchIsRefusedWithoutARequest) {
  // An id submitted with another key.
  const std::string other = adapters::EncodeBatchId("openai", "sk-someone-else", 2, "batch_1");
  v1::BatchStatus status;
  grpc::Status st = Get(other, &status);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StartsWith(st.error_message(),
                               "API key fingerprint mismatch: provided key does not match the key "
                               "used at submit time"))
      << st.error_message();

  // The id's fingerprint is ours, but the metadata file (written at submit, LLMix's check)
  // names another key.
  const std::string ours = adapters::EncodeBatchId("anthropic", kAnthropicKey, 1, "msgbatch_9");
  fs::create_directories(sidecar_->dir().File("state") + "/batches");
  WriteFile(MetadataPath(ours),
            adapters::BatchMetadataText(adapters::BatchKeyFingerprint("sk-other"), "anthropic", 1,
                                        absl::Now()));
  v1::BatchResults results;
  st = Results(ours, &results, "demo/an");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "API key fingerprint mismatch"));
  EXPECT_TRUE(fs::exists(MetadataPath(ours)));
  for (const auto& f : fakes_) EXPECT_TRUE(f->Requests().empty());
  ExpectNoKeyAnywhere({st.error_message()});
}

TEST_F(BatchE2E, BadInputIsInvalidArgumentNamingTheField) {
  v1::BatchStatus status;
  grpc::Status st = Get("nope", &status);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "batch_id: Invalid batch ID: nope");
  st = Get("openai:1a2b3c4d:abc:x", &status);
  EXPECT_EQ(st.error_message(), "batch_id: Invalid nPrompts: abc");
  st = Get(adapters::EncodeBatchId("openai", kOpenAiKey, 1, "../files/x"), &status);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();

  v1::SubmitBatchRequest req;
  req.set_preset("demo/oa");
  v1::SubmitBatchResponse resp;
  st = Submit(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(st.error_message(), "prompts: ")) << st.error_message();

  req.add_prompts("x");
  req.clear_preset();
  req.set_config_json(R"({"provider":"openrouter","model":"m"})");
  st = Submit(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "Unsupported batch provider: openrouter"))
      << st.error_message();

  req.set_preset("demo/oa");
  st = Submit(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(st.error_message(), "preset: ")) << st.error_message();

  req.clear_config_json();
  req.set_preset("demo/missing");
  st = Submit(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  for (const auto& f : fakes_) EXPECT_TRUE(f->Requests().empty());
}

TEST_F(BatchE2E, ProviderRefusalIsReportedWithoutTheKey) {
  // An Anthropic endpoint that expects another key answers 401 and echoes the key it got.
  FakeBatchApi strict(FakeBatchProvider::kAnthropic, "sk-ant-the-right-one");
  v1::SubmitBatchRequest req;
  req.set_config_json(absl::StrCat(R"({"provider":"anthropic","model":"claude","baseUrl":")",
                                   strict.base_url(), R"("})"));
  req.add_prompts("x");
  v1::SubmitBatchResponse resp;
  grpc::Status st = Submit(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StartsWith(st.error_message(), "Anthropic batch create failed: 401"))
      << st.error_message();
  ASSERT_EQ(strict.Requests().size(), 1u);
  EXPECT_EQ(strict.Requests()[0].headers["x-api-key"], kAnthropicKey);
  EXPECT_FALSE(fs::exists(sidecar_->dir().File("state") + "/batches"));
  ExpectNoKeyAnywhere({st.error_message()});
  sidecar_.reset();  // closes its keep-alive connection before `strict` stops
}

}  // namespace
}  // namespace llmix::testing
