// Cost and budgets end to end, on the real binary and a loopback fake provider that reports
// usage (1000 prompt + 500 completion tokens per call): the cost on the gRPC response, the
// front door's x-llmix-cost-usd header and /metrics; a preset budget that runs out after k
// calls (the fake sees exactly k); a tenant whose budget is spent while another keeps working;
// a reservation released when the caller's deadline passes; publish refusing a bad budget or
// price naming the field. No sleeps: conditions are awaited with deadlines.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// `SIDECAR` is replaced with the preset's metadata.llmix-sidecar lines (after baseUrl).
constexpr char kPreset[] = R"(---
name: NAME
description: Cost and budget e2e preset.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: MODEL
      maxOutputTokens: 1000
    caching:
      strategy: memory
      ttl: 600
  llmix-sidecar:
    baseUrl: FAKE_URL
SIDECAR
---
# demo/NAME
)";

class BudgetE2E : public ::testing::Test {
 protected:
  BudgetE2E() {
    FakeReply reply;
    reply.prompt_tokens = 1000;
    reply.completion_tokens = 500;
    fake_.SetDefault(reply);
    root_ = dir_.File("llm");
    fs::create_directories(root_ + "/source/demo");
  }

  void AddPreset(const std::string& name, const std::string& model, const std::string& sidecar) {
    WriteFile(root_ + "/source/demo/" + name + ".mda",
              absl::StrReplaceAll(kPreset, {{"NAME", name},
                                            {"MODEL", model},
                                            {"FAKE_URL", fake_.base_url()},
                                            {"SIDECAR", sidecar}}));
  }

  CommandResult Publish() { return RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root_}); }

  void Start(std::vector<std::string> extra = {}) {
    CommandResult r = Publish();
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::vector<std::string> args = {"--registry", root_, "--max-retries", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    sidecar_ = std::make_unique<SidecarProcess>(
        args, std::map<std::string, std::optional<std::string>>{{"OPENAI_API_KEY", "sk-budget"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  grpc::Status Call(const std::string& preset, const std::string& text, v1::CallResponse* resp,
                    std::optional<std::string> tenant = std::nullopt,
                    std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    v1::CallRequest req;
    req.set_preset(preset);
    req.add_messages()->set_role("user");
    req.mutable_messages(0)->set_text(text);
    if (tenant) req.set_tenant(*tenant);
    return sidecar_->Call(req, resp, deadline);
  }

  double Metric(const std::string& series) {
    std::string body;
    sidecar_->AdminGet("/metrics", &body);
    return MetricValue(body, series).value_or(-1);
  }

  httplib::Result Chat(const std::string& model, const std::string& text,
                       const std::string& tenant = "") {
    httplib::Client c("http://" + sidecar_->http_address());
    c.set_read_timeout(30, 0);
    httplib::Headers headers;
    if (!tenant.empty()) headers.emplace("x-llmix-tenant", tenant);
    return c.Post(
        "/v1/chat/completions", headers,
        json{{"model", model}, {"messages", {{{"role", "user"}, {"content", text}}}}}.dump(),
        "application/json");
  }

  TempDir dir_;
  std::string root_;
  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(BudgetE2E, CostOnTheResponseTheFrontDoorAndMetrics) {
  // gpt-4o-mini from LLMix's table ($0.15 / $0.60 per 1M), a preset-priced model, and a model
  // priced only by --pricing-file; one model nothing prices.
  AddPreset("mini", "gpt-4o-mini-2024-07-18", "");
  AddPreset("house", "house-model", "    pricing:\n      input: 2\n      output: 4\n");
  AddPreset("filed", "filed-model", "");
  AddPreset("free", "unpriced-model", "");
  const std::string prices = dir_.File("prices.json");
  WriteFile(prices, R"({"filed-model":{"input":10,"output":20}})");
  Start({"--pricing-file", prices});

  v1::CallResponse r;
  ASSERT_TRUE(Call("demo/mini", "one", &r).ok());
  ASSERT_TRUE(r.success()) << r.error().message();
  ASSERT_TRUE(r.has_cost());
  EXPECT_EQ(r.cost().input_usd(), 0.00015);
  EXPECT_EQ(r.cost().output_usd(), 0.0003);
  EXPECT_EQ(r.cost().total_usd(), 0.00045);
  // The same call again is a cache hit: it costs nothing and adds nothing to the counter.
  ASSERT_TRUE(Call("demo/mini", "one", &r).ok());
  EXPECT_EQ(r.cache_hit(), v1::CACHE_TIER_L1);
  ASSERT_TRUE(r.has_cost());
  EXPECT_EQ(r.cost().total_usd(), 0);
  EXPECT_EQ(fake_.RequestCount(), 1u);

  ASSERT_TRUE(Call("demo/house", "two", &r).ok());
  EXPECT_EQ(r.cost().total_usd(), 0.004);  // 1000 × $2 + 500 × $4 per 1M
  ASSERT_TRUE(Call("demo/filed", "three", &r).ok());
  EXPECT_EQ(r.cost().total_usd(), 0.02);  // 1000 × $10 + 500 × $20 per 1M
  ASSERT_TRUE(Call("demo/free", "four", &r).ok());
  EXPECT_TRUE(r.success());
  EXPECT_FALSE(r.has_cost()) << "a model without a price has no cost";

  EXPECT_EQ(
      Metric(
          R"(llmix_cost_usd_total{preset="demo/mini",provider="openai",model="gpt-4o-mini-2024-07-18"})"),
      0.00045);
  EXPECT_EQ(
      Metric(R"(llmix_cost_usd_total{preset="demo/house",provider="openai",model="house-model"})"),
      0.004);

  // The front door reports it in a header; the OpenAI body keeps its shape.
  auto res = Chat("demo/house", "five");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("x-llmix-cost-usd"), "0.004");
  EXPECT_FALSE(json::parse(res->body).contains("cost"));
  EXPECT_NEAR(
      Metric(R"(llmix_cost_usd_total{preset="demo/house",provider="openai",model="house-model"})"),
      0.008, 1e-12);
}

TEST_F(BudgetE2E, PresetBudgetRunsOutAfterKCallsWithoutReachingTheProvider) {
  // Each call costs $0.002 (1000 × $1 + 500 × $2 per 1M) and reserves ~$0.002009 first (its
  // prompt bytes / 4 + maxOutputTokens 1000): $0.01 per hour takes k = 4 calls.
  AddPreset("metered", "house-model",
            "    pricing: {input: 1, output: 2}\n"
            "    budget: {limitUsd: 0.01, window: hour}\n");
  Start();
  v1::CallResponse r;
  for (int i = 0; i < 4; ++i) {
    grpc::Status st = Call("demo/metered", absl::StrCat("call ", i), &r);
    ASSERT_TRUE(st.ok()) << i << ": " << st.error_message();
    ASSERT_TRUE(r.success()) << r.error().message();
  }
  grpc::Status st = Call("demo/metered", "call 4", &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("budget of preset \"demo/metered\" ($0.01 per hour)"),
            std::string::npos)
      << st.error_message();
  EXPECT_NE(st.error_message().find("$0.008 spent"), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("resets at "), std::string::npos) << st.error_message();
  EXPECT_EQ(fake_.RequestCount(), 4u) << "the refused call never reached the provider";

  // A cached answer costs nothing, so it is served from a spent budget.
  ASSERT_TRUE(Call("demo/metered", "call 0", &r).ok());
  EXPECT_EQ(r.cache_hit(), v1::CACHE_TIER_L1);
  // The front door: 429, OpenAI error shape, type budget_exhausted, Retry-After.
  auto res = Chat("demo/metered", "call 5");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429) << res->body;
  const json error = json::parse(res->body)["error"];
  EXPECT_EQ(error["type"], "budget_exhausted");
  EXPECT_NE(error["message"].get<std::string>().find("demo/metered"), std::string::npos);
  EXPECT_FALSE(res->get_header_value("retry-after").empty());
  EXPECT_EQ(fake_.RequestCount(), 4u);

  EXPECT_NEAR(Metric(R"(llmix_budget_spent_usd{preset="demo/metered",tenant=""})"), 0.008, 1e-12);
  EXPECT_EQ(Metric(R"(llmix_budget_limit_usd{preset="demo/metered",tenant=""})"), 0.01);
  EXPECT_EQ(Metric(R"(llmix_budget_reserved_usd{preset="demo/metered",tenant=""})"), 0);
  EXPECT_EQ(Metric(R"(llmix_budget_refusals_total{preset="demo/metered",scope="preset"})"), 2);
  // Refusals are not provider failures: the breaker never saw them.
  EXPECT_EQ(
      Metric(
          R"(llmix_calls_total{preset="demo/metered",provider="openai",outcome="resource_exhausted"})"),
      2);
  EXPECT_EQ(Metric(R"(llmix_upstream_requests_total{provider="openai",status="200"})"), 4);
}

// A budget that runs out in the middle of a BatchCall: the calls that fit are served, every
// other item gets its own RESOURCE_EXHAUSTED result naming the budget, the batch itself ends
// OK, and with 4 calls in flight at once the reservations still never let a 5th through.
TEST_F(BudgetE2E, BudgetRunsOutMidBatchWithAClearErrorPerItem) {
  AddPreset("metered", "house-model",
            "    pricing: {input: 1, output: 2}\n"
            "    budget: {limitUsd: 0.01, window: hour}\n");
  Start();
  v1::BatchCallRequest batch;
  batch.set_max_concurrency(4);
  constexpr int kCalls = 12;
  for (int i = 0; i < kCalls; ++i) {
    v1::CallRequest* c = batch.add_calls();
    c->set_preset("demo/metered");
    c->add_messages()->set_role("user");
    c->mutable_messages(0)->set_text(absl::StrCat("batch item ", i));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = sidecar_->stub().BatchCall(&ctx, batch);
  v1::BatchCallResult item;
  std::set<int> seen;
  int served = 0;
  int refused = 0;
  while (reader->Read(&item)) {
    EXPECT_TRUE(seen.insert(item.index()).second) << "index " << item.index() << " twice";
    if (item.status_code() == 0) {
      EXPECT_TRUE(item.response().success()) << item.response().error().message();
      ++served;
    } else {
      EXPECT_EQ(item.status_code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
      EXPECT_NE(item.status_message().find("budget of preset \"demo/metered\" ($0.01 per hour)"),
                std::string::npos)
          << item.status_message();
      ++refused;
    }
  }
  const grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCalls));
  EXPECT_EQ(served, 4);
  EXPECT_EQ(refused, kCalls - 4);
  EXPECT_EQ(fake_.RequestCount(), 4u) << "refused items never reached the provider";
  EXPECT_NEAR(Metric(R"(llmix_budget_spent_usd{preset="demo/metered",tenant=""})"), 0.008, 1e-12);
}

TEST_F(BudgetE2E, SpentTenantBudgetLeavesOtherTenantsWorking) {
  AddPreset("shared", "house-model",
            "    pricing: {input: 1, output: 2}\n"
            "    budget: {perTenantUsd: 0.004, window: day}\n");
  Start();
  v1::CallResponse r;
  ASSERT_TRUE(Call("demo/shared", "a1", &r, "team-a").ok());
  grpc::Status st = Call("demo/shared", "a2", &r, "team-a");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(st.error_message().find("tenant \"team-a\" of preset \"demo/shared\" ($0.004 per day)"),
            std::string::npos)
      << st.error_message();
  for (const char* tenant : {"team-b", "team-c", "team-e"}) {  // each has its own budget
    st = Call("demo/shared", absl::StrCat("first of ", tenant), &r, tenant);
    EXPECT_TRUE(st.ok()) << tenant << ": " << st.error_message();
  }
  // Through the front door, with the tenant header.
  auto res = Chat("demo/shared", "a3", "team-a");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  res = Chat("demo/shared", "d1", "team-d");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  // Calls without a tenant have no per-tenant budget to fit.
  ASSERT_TRUE(Call("demo/shared", "anonymous", &r).ok());
  EXPECT_EQ(fake_.RequestCount(), 6u);
  EXPECT_EQ(Metric(R"(llmix_budget_spent_usd{preset="demo/shared",tenant="team-a"})"), 0.002);
  EXPECT_EQ(Metric(R"(llmix_budget_refusals_total{preset="demo/shared",scope="tenant"})"), 2);

  // A bad tenant is the caller's error, naming the field.
  st = Call("demo/shared", "x", &r, "team a");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("tenant"), std::string::npos);
  res = Chat("demo/shared", "x", std::string(200, 't'));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
}

TEST_F(BudgetE2E, ReservationIsReleasedWhenTheCallerDeadlinePasses) {
  AddPreset("metered", "house-model",
            "    pricing: {input: 1, output: 2}\n"
            "    budget: {limitUsd: 0.01, window: hour}\n");
  Start();
  fake_.Hold();  // the provider never answers while the call is alive
  v1::CallResponse r;
  grpc::Status st = Call("demo/metered", "slow", &r, std::nullopt, std::chrono::milliseconds(300));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The sidecar ends the call at its deadline and releases the reservation, with nothing spent
  // (the provider is still holding the request).
  ASSERT_TRUE(WaitFor([&] {
    return Metric(R"(llmix_budget_reserved_usd{preset="demo/metered",tenant=""})") == 0;
  }));
  EXPECT_EQ(Metric(R"(llmix_budget_spent_usd{preset="demo/metered",tenant=""})"), 0);
  EXPECT_EQ(fake_.RequestCount(), 1u);
  fake_.Release();
  // The whole budget is still there: 4 calls fit.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Call("demo/metered", absl::StrCat("after ", i), &r).ok()) << i;
    EXPECT_TRUE(r.success()) << r.error().message();
  }
}

TEST_F(BudgetE2E, PublishRefusesBadBudgetsAndPricesNamingTheField) {
  const std::pair<std::string, std::string> cases[] = {
      {"    budget: {limitUsd: 5, window: week}\n", "metadata.llmix-sidecar.budget.window"},
      {"    budget: {limitUsd: -1}\n", "metadata.llmix-sidecar.budget.limitUsd"},
      {"    budget: {window: day}\n", "metadata.llmix-sidecar.budget"},
      {"    budget: {limitUsd: 5, perTenant: 1}\n", "metadata.llmix-sidecar.budget"},
      {"    pricing: {input: -1, output: 2}\n", "metadata.llmix-sidecar.pricing.input"},
      {"    pricing: {input: 1}\n", "metadata.llmix-sidecar.pricing.output"},
  };
  for (const auto& [sidecar, field] : cases) {
    AddPreset("bad", "house-model", sidecar);
    CommandResult r = Publish();
    EXPECT_NE(r.exit_code, 0) << sidecar;
    EXPECT_NE((r.out + r.err).find(field), std::string::npos) << sidecar << r.out << r.err;
  }
  AddPreset("bad", "house-model", "    budget: {limitUsd: 5, perTenantUsd: 1, window: 3600s}\n");
  CommandResult ok = Publish();
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
}

}  // namespace
}  // namespace llmix::testing
