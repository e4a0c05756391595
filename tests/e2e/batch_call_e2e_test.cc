// BatchCall end to end (README "BatchCall"): the real binary streaming results from a loopback
// fake that holds requests. Every call of a 200-call batch comes back exactly once with its
// index while the fake never sees more than max_concurrency at once; an invalid call gets its
// own INVALID_ARGUMENT result; a malformed batch fails the stream; a client cancel stops the
// batch (the fake sees fewer requests) and the sidecar keeps serving; SIGTERM finishes the
// running calls, starts no more and ends the stream UNAVAILABLE.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

constexpr char kConfig[] = R"({"provider":"openai","model":"batch-model"})";

class BatchCallE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--max-retries", "0"},
        std::map<std::string, std::optional<std::string>>{{"OPENAI_BASE_URL", fake_.base_url()},
                                                          {"OPENAI_API_KEY", "sk-batch"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  v1::BatchCallRequest Batch(int n, std::optional<int> max_concurrency) {
    v1::BatchCallRequest batch;
    for (int i = 0; i < n; ++i) {
      *batch.add_calls() = InlineRequest(kConfig, absl::StrCat("item ", i));
    }
    if (max_concurrency) batch.set_max_concurrency(*max_concurrency);
    return batch;
  }

  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(BatchCallE2E, EveryCallOnceWithItsIndexAndNoMoreThanMaxConcurrencyInFlight) {
  fake_.Hold();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = sidecar_->stub().BatchCall(&ctx, Batch(200, 8));
  // The first eight reach the provider together, and no ninth while they are held.
  ASSERT_TRUE(WaitFor([&] { return fake_.Held() == 8; }));
  EXPECT_EQ(fake_.RequestCount(), 8u);
  fake_.Release();
  std::map<int, int> seen;
  v1::BatchCallResult result;
  while (reader->Read(&result)) {
    seen[result.index()]++;
    EXPECT_EQ(result.status_code(), 0) << result.status_message();
    EXPECT_TRUE(result.response().success()) << result.response().error().message();
    EXPECT_EQ(result.response().model(), "batch-model");
  }
  grpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(seen.size(), 200u);
  for (const auto& [index, count] : seen) {
    EXPECT_GE(index, 0);
    EXPECT_LT(index, 200);
    EXPECT_EQ(count, 1) << "index " << index;
  }
  EXPECT_EQ(fake_.RequestCount(), 200u);
  EXPECT_EQ(fake_.MaxInFlight(), 8u);
  // Each result answers its own call: the fake saw every item's text once.
  std::set<std::string> texts;
  for (const RecordedRequest& r : fake_.Requests()) {
    texts.insert(r.json["messages"][0]["content"].get<std::string>());
  }
  EXPECT_EQ(texts.size(), 200u);
}

TEST_F(BatchCallE2E, AnInvalidCallGetsItsOwnErrorResultAndTheOthersSucceed) {
  v1::BatchCallRequest batch = Batch(5, std::nullopt);
  batch.mutable_calls(2)->mutable_messages(0)->set_role("wizard");
  batch.mutable_calls(4)->clear_config_json();
  batch.mutable_calls(4)->set_preset("no/such-preset");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = sidecar_->stub().BatchCall(&ctx, batch);
  std::map<int, v1::BatchCallResult> results;
  v1::BatchCallResult result;
  while (reader->Read(&result)) results[result.index()] = result;
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[2].status_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_NE(results[2].status_message().find("messages[0].role"), std::string::npos)
      << results[2].status_message();
  EXPECT_FALSE(results[2].has_response());
  EXPECT_EQ(results[4].status_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  for (int i : {0, 1, 3}) {
    EXPECT_EQ(results[i].status_code(), 0);
    EXPECT_TRUE(results[i].response().success()) << i;
  }
  EXPECT_EQ(fake_.RequestCount(), 3u);
}

TEST_F(BatchCallE2E, MalformedBatchesFailTheStreamNamingTheField) {
  struct Case {
    v1::BatchCallRequest batch;
    std::string field;
  };
  std::vector<Case> cases = {{Batch(0, std::nullopt), "calls:"},
                             {Batch(2, 0), "max_concurrency:"},
                             {Batch(2, 257), "max_concurrency:"}};
  for (Case& c : cases) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto reader = sidecar_->stub().BatchCall(&ctx, c.batch);
    v1::BatchCallResult result;
    EXPECT_FALSE(reader->Read(&result));
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(st.error_message().find(c.field), std::string::npos) << st.error_message();
  }
  EXPECT_EQ(fake_.RequestCount(), 0u);
}

TEST_F(BatchCallE2E, ClientCancelStopsTheBatchAndTheSidecarKeepsServing) {
  fake_.Hold();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = sidecar_->stub().BatchCall(&ctx, Batch(50, 4));
  ASSERT_TRUE(WaitFor([&] { return fake_.Held() == 4; }));
  ctx.TryCancel();
  v1::BatchCallResult result;
  while (reader->Read(&result)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The held requests finish; the cancelled batch starts no more calls and then ends.
  fake_.Release();
  ASSERT_TRUE(WaitFor([&] {
    std::string body;
    sidecar_->AdminGet("/metrics", &body);
    return MetricValue(body, "llmix_calls_in_flight").value_or(-1) == 0;
  }));
  EXPECT_LT(fake_.RequestCount(), 50u);
  EXPECT_LE(fake_.RequestCount(), 8u) << "at most a few started while the cancel was in transit";
  v1::CallResponse resp;
  grpc::Status st = sidecar_->Call(InlineRequest(kConfig, "after the cancel"), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.success());
}

TEST_F(BatchCallE2E, DrainingFinishesTheRunningCallsAndStartsNoMore) {
  fake_.Hold();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = sidecar_->stub().BatchCall(&ctx, Batch(20, 4));
  ASSERT_TRUE(WaitFor([&] { return fake_.Held() == 4; }));
  sidecar_->process().Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return sidecar_->AdminGet("/readyz") != 200; }));
  fake_.Release();
  int results = 0;
  v1::BatchCallResult result;
  while (reader->Read(&result)) {
    ++results;
    EXPECT_TRUE(result.response().success()) << result.status_message();
  }
  grpc::Status st = reader->Finish();
  EXPECT_EQ(results, 4) << "the four running calls finish and are streamed";
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(st.error_message().find("16 of 20 calls were not started"), std::string::npos)
      << st.error_message();
  EXPECT_EQ(fake_.RequestCount(), 4u);
  auto exit_status = sidecar_->process().Wait(std::chrono::seconds(15));
  ASSERT_TRUE(exit_status.has_value());
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0);
}

}  // namespace
}  // namespace llmix::testing
