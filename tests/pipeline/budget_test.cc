// Budgets: window arithmetic, the ledger's reserve/settle accounting (rollover on a FakeClock,
// N threads never overspending a limit, the tenant cap), the budget stage settling exactly once
// on every path, and call costs (overrides, cache hits, fallback targets). No sleeps.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "pipeline/budget_ledger.h"
#include "pipeline/budget_stage.h"
#include "pipeline/call_cost.h"
#include "pipeline/pipeline.h"
#include "pipeline/validate_stage.h"

namespace llmix::pipeline {
namespace {

using registry::BudgetWindow;
using registry::ParseBudgetWindow;

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

BudgetWindow Window(const char* text) {
  auto w = ParseBudgetWindow(text);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *w : BudgetWindow{};
}

TEST(BudgetWindowTest, CalendarAndFixedWindows) {
  const absl::Time now = At("2026-12-07T10:17:42Z");
  EXPECT_EQ(Window("hour").Start(now), At("2026-12-07T10:00:00Z"));
  EXPECT_EQ(Window("hour").End(now), At("2026-12-07T11:00:00Z"));
  EXPECT_EQ(Window("day").Start(now), At("2026-12-07T00:00:00Z"));
  EXPECT_EQ(Window("day").End(now), At("2026-12-08T00:00:00Z"));
  EXPECT_EQ(Window("month").Start(now), At("2026-12-01T00:00:00Z"));
  EXPECT_EQ(Window("month").End(now), At("2027-01-01T00:00:00Z"));
  EXPECT_EQ(Window("90s").Start(now), absl::FromUnixSeconds(absl::ToUnixSeconds(now) / 90 * 90));
  EXPECT_EQ(Window("90s").End(now) - Window("90s").Start(now), absl::Seconds(90));
  for (const char* bad : {"", "week", "0s", "-5s", "5", "5m", "05s", "1.5s", "31536001s", "s"}) {
    EXPECT_FALSE(ParseBudgetWindow(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseBudgetWindow("31536000s").ok());
}

BudgetCheck Check(const std::string& tenant, double limit, const char* window = "hour") {
  return BudgetCheck{"demo/p", tenant, limit, Window(window)};
}

TEST(BudgetLedgerTest, ReserveSettleAndRollOverOnTheClock) {
  FakeClock clock(At("2026-12-07T10:59:00Z"));
  BudgetLedger ledger(clock);
  auto r1 = ledger.Reserve({Check("", 1.0)}, 0.4);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(ledger.View("demo/p", "")->reserved_usd, 0.4);
  auto r2 = ledger.Reserve({Check("", 1.0)}, 0.5);
  ASSERT_TRUE(r2.ok());
  // 0.4 + 0.5 reserved: another 0.2 does not fit.
  auto r3 = ledger.Reserve({Check("", 1.0)}, 0.2);
  ASSERT_FALSE(r3.ok());
  EXPECT_TRUE(IsBudgetExhausted(r3.status()));
  EXPECT_EQ(r3.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r3.status().message(),
            "budget exhausted: the budget of preset \"demo/p\" ($1 per hour) cannot take this "
            "call: $0 spent, $0.9 reserved, this call needs up to $0.2; it resets at "
            "2026-12-07T11:00:00Z");
  EXPECT_EQ(BudgetResetSeconds(r3.status()), 60);
  // Settling releases the reservation and books the real cost.
  ledger.Settle(*r1, 0.1);
  ledger.Settle(*r2, 0.0);
  EXPECT_EQ(ledger.View("demo/p", "")->reserved_usd, 0);
  EXPECT_DOUBLE_EQ(ledger.View("demo/p", "")->spent_usd, 0.1);
  EXPECT_EQ(ledger.settlements(), 2);
  auto r4 = ledger.Reserve({Check("", 1.0)}, 0.9);
  ASSERT_TRUE(r4.ok());
  ledger.Settle(*r4, 0.95);  // the real cost may exceed the estimate
  EXPECT_FALSE(ledger.Reserve({Check("", 1.0)}, 0).ok()) << "a spent budget refuses even $0";

  // The next hour starts at zero.
  clock.Advance(absl::Minutes(1));
  EXPECT_EQ(ledger.View("demo/p", "")->spent_usd, 0);
  auto r5 = ledger.Reserve({Check("", 1.0)}, 0.9);
  ASSERT_TRUE(r5.ok());
  // A reservation from the old window settles against nothing old, and its cost counts now.
  auto r6 = ledger.Reserve({Check("", 1.0)}, 0.05);
  ASSERT_TRUE(r6.ok());
  clock.Advance(absl::Hours(1));
  ledger.Settle(*r6, 0.01);
  EXPECT_EQ(ledger.View("demo/p", "")->reserved_usd, 0);
  EXPECT_DOUBLE_EQ(ledger.View("demo/p", "")->spent_usd, 0.01);
}

TEST(BudgetLedgerTest, PresetAndTenantAreReservedTogetherOrNotAtAll) {
  FakeClock clock(At("2026-12-07T10:00:00Z"));
  BudgetLedger ledger(clock);
  auto a = ledger.Reserve({Check("", 10), Check("a", 1, "day")}, 0.8);
  ASSERT_TRUE(a.ok());
  // Tenant a cannot take 0.3 more; the preset's account must not keep a partial reservation.
  auto refused = ledger.Reserve({Check("", 10), Check("a", 1, "day")}, 0.3);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("per-tenant budget of tenant \"a\" of preset "
                                            "\"demo/p\" ($1 per day)"),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("resets at 2026-12-08T00:00:00Z"), std::string::npos);
  EXPECT_DOUBLE_EQ(ledger.View("demo/p", "")->reserved_usd, 0.8);
  // Tenant b is unaffected.
  EXPECT_TRUE(ledger.Reserve({Check("", 10), Check("b", 1, "day")}, 0.3).ok());
}

TEST(BudgetLedgerTest, TenantAccountsAreCapped) {
  FakeClock clock(At("2026-12-07T10:00:00Z"));
  BudgetLedger ledger(clock, /*max_tenant_accounts=*/2);
  EXPECT_TRUE(ledger.Reserve({Check("t1", 1)}, 0).ok());
  EXPECT_TRUE(ledger.Reserve({Check("t2", 1)}, 0).ok());
  auto third = ledger.Reserve({Check("t3", 1)}, 0);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.status().message().find("too many tenants"), std::string::npos);
  // Once their window is over (and nothing is reserved), old tenants make room.
  clock.Advance(absl::Hours(1));
  ASSERT_TRUE(ledger.Reserve({Check("t1", 1)}, 0).ok());  // t1 is current again, t2 is not
  EXPECT_TRUE(ledger.Reserve({Check("t3", 1)}, 0).ok());
}

TEST(BudgetLedgerTest, ConcurrentReservationsNeverOverspend) {
  FakeClock clock(At("2026-12-07T10:00:00Z"));
  BudgetLedger ledger(clock);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  constexpr double kLimit = 100;  // room for exactly 100 calls of 1.0 each
  std::atomic<int> admitted{0};
  std::atomic<bool> overspent{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string tenant = "t" + std::to_string(t % 2);
      for (int i = 0; i < kPerThread; ++i) {
        auto r = ledger.Reserve({Check("", kLimit), Check(tenant, 60)}, 1.0);
        if (!r.ok()) continue;
        admitted.fetch_add(1);
        const auto v = ledger.View("demo/p", "");
        if (v->spent_usd + v->reserved_usd > kLimit) overspent = true;
        ledger.Settle(*r, 1.0);  // the real cost equals the estimate
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overspent.load());
  EXPECT_EQ(admitted.load(), 100);
  EXPECT_EQ(ledger.View("demo/p", "")->spent_usd, 100);
  EXPECT_EQ(ledger.View("demo/p", "")->reserved_usd, 0);
  EXPECT_LE(ledger.View("demo/p", "t0")->spent_usd, 60);
  EXPECT_LE(ledger.View("demo/p", "t1")->spent_usd, 60);
  EXPECT_EQ(ledger.settlements(), 100);
}

TEST(TenantTest, BoundedAndPlain) {
  EXPECT_TRUE(CheckTenant("team-a.prod@acme/x+1=2:_").ok());
  EXPECT_EQ(CheckTenant("").message(), "tenant: must be 1..128 bytes");
  EXPECT_FALSE(CheckTenant(std::string(129, 'a')).ok());
  EXPECT_FALSE(CheckTenant("a b").ok());
  EXPECT_FALSE(CheckTenant("a\nb").ok());
  EXPECT_FALSE(CheckTenant("caf\xC3\xA9").ok());
}

// ------------------------------------------------------------------ the stage

// Test stages around BudgetStage: one that points the call at the preset, one that plays the
// upstream in a chosen way.
enum class Upstream { kSuccess, kFailure, kDeadline, kCancelled, kFollower, kDrop };

class PointAtPreset final : public Stage {
 public:
  explicit PointAtPreset(const registry::Preset& preset) : preset_(preset) {}
  std::string_view name() const override { return "resolve"; }
  void Run(CallContext& ctx, const Next& next, Done done) const override {
    ctx.preset = &preset_;
    ctx.preset_id = preset_.id;
    ctx.config = &preset_.config;
    ctx.result.model = preset_.config.model;
    next(ctx, std::move(done));
  }

 private:
  const registry::Preset& preset_;
};

class FakeUpstream final : public Stage {
 public:
  explicit FakeUpstream(std::atomic<int>* calls) : calls_(calls) {}
  std::string_view name() const override { return "dispatch"; }
  void Run(CallContext& ctx, const Next&, Done done) const override {
    calls_->fetch_add(1);
    switch (mode) {
      case Upstream::kSuccess:
        ctx.result.success = true;
        ctx.result.usage.input_tokens = 1000;
        ctx.result.usage.output_tokens = 500;
        break;
      case Upstream::kFailure: {
        CallError e;
        e.code = CallErrorCode::kUpstreamError;
        ctx.Fail(e);
        break;
      }
      case Upstream::kDeadline:
        ctx.status = absl::DeadlineExceededError("deadline");
        break;
      case Upstream::kCancelled:
        ctx.status = absl::CancelledError("caller went away");
        break;
      case Upstream::kFollower:
        ctx.upstream.follower = true;
        ctx.result.success = true;
        ctx.result.usage.input_tokens = 1000;
        break;
      case Upstream::kDrop:
        return;  // `done` is destroyed without running (a stage bug, or a dropped task)
    }
    std::move(done)();
  }
  Upstream mode = Upstream::kSuccess;

 private:
  std::atomic<int>* calls_;
};

class BudgetStageTest : public ::testing::Test {
 protected:
  BudgetStageTest() {
    preset_.id = "demo/p";
    preset_.config.provider = "openai";
    preset_.config.model = "house-model";
    preset_.config.common.max_output_tokens = 1000;
    preset_.sidecar.pricing = ModelPrice{1.0, 2.0};  // $1 / $2 per 1M tokens
    registry::BudgetSettings b;
    b.limit_usd = 0.01;
    b.per_tenant_usd = 0.004;
    b.window = Window("hour");
    preset_.sidecar.budget = b;
    std::vector<std::unique_ptr<Stage>> stages;
    stages.push_back(std::make_unique<PointAtPreset>(preset_));
    stages.push_back(std::make_unique<BudgetStage>(state_));
    auto upstream = std::make_unique<FakeUpstream>(&upstream_calls_);
    upstream_ = upstream.get();
    stages.push_back(std::move(upstream));
    pipeline_ = std::make_unique<Pipeline>(std::move(stages), tracer_, nullptr);
  }

  // One call; returns whether the pipeline completed.
  bool Call(Upstream mode, std::optional<std::string> tenant = std::nullopt) {
    upstream_->mode = mode;
    ctx_ = std::make_unique<CallContext>();
    ctx_->input.messages = nlohmann::json::parse(R"([{"role":"user","content":"hello"}])");
    ctx_->input.tenant = std::move(tenant);
    bool completed = false;
    pipeline_->Run(*ctx_, [&] { completed = true; });
    return completed;
  }

  BudgetAccountView Preset() { return *state_.budgets.View("demo/p", ""); }

  FakeClock clock_{At("2026-12-07T10:00:00Z")};
  MapEnv env_;
  Logger logger_{LogLevel::kError};
  InMemoryTracer tracer_;
  MetricRegistry registry_;
  PipelineMetrics metrics_{registry_};
  struct NoAdapter final : adapters::Adapter {
    adapters::ProviderOutcome Send(const adapters::ProviderRequest&) override { return {}; }
  } adapter_;
  PipelineState state_{PipelineOptions{}, clock_, env_, logger_, tracer_, metrics_, adapter_, {}};
  registry::Preset preset_;
  std::atomic<int> upstream_calls_{0};
  FakeUpstream* upstream_ = nullptr;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<CallContext> ctx_;
};

TEST_F(BudgetStageTest, EstimateIsPromptBytesOverFourPlusMaxOutputTokens) {
  ASSERT_TRUE(Call(Upstream::kSuccess));
  const TokenEstimate e = EstimateTokens(*ctx_, 1024);
  // [{"content":"hello","role":"user"}] is 35 bytes -> 9 tokens; maxOutputTokens 1000.
  EXPECT_EQ(e.input_tokens, 9);
  EXPECT_EQ(e.output_tokens, 1000);
  EXPECT_DOUBLE_EQ(EstimateCostUsd(state_, *ctx_, 1024), 9e-6 * 1 + 1000e-6 * 2);
}

TEST_F(BudgetStageTest, EveryPathSettlesExactlyOnce) {
  // Success: 1000 in + 500 out at $1/$2 per 1M = $0.002.
  ASSERT_TRUE(Call(Upstream::kSuccess));
  EXPECT_EQ(state_.budgets.settlements(), 1);
  EXPECT_DOUBLE_EQ(Preset().spent_usd, 0.002);
  EXPECT_EQ(Preset().reserved_usd, 0);
  // Failure without usage, the caller's deadline, cancellation, a singleflight follower: 0.
  int settled = 1;
  for (Upstream mode :
       {Upstream::kFailure, Upstream::kDeadline, Upstream::kCancelled, Upstream::kFollower}) {
    ASSERT_TRUE(Call(mode));
    EXPECT_EQ(state_.budgets.settlements(), ++settled);
    EXPECT_DOUBLE_EQ(Preset().spent_usd, 0.002);
    EXPECT_EQ(Preset().reserved_usd, 0);
  }
  // A continuation dropped without running: the reservation is still released, once.
  EXPECT_FALSE(Call(Upstream::kDrop));
  EXPECT_EQ(state_.budgets.settlements(), ++settled);
  EXPECT_EQ(Preset().reserved_usd, 0);
  EXPECT_EQ(upstream_calls_.load(), 6);
}

TEST_F(BudgetStageTest, SpentBudgetRefusesWithoutGoingUpstream) {
  // Each success costs $0.002 and reserves ~$0.002009: the $0.01 budget takes 4 calls, then
  // the 5th estimate no longer fits (0.008 spent + 0.002009 > 0.01).
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Call(Upstream::kSuccess));
  EXPECT_EQ(upstream_calls_.load(), 4);
  ASSERT_TRUE(Call(Upstream::kSuccess));
  EXPECT_EQ(ctx_->status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(IsBudgetExhausted(ctx_->status));
  EXPECT_EQ(upstream_calls_.load(), 4) << "a refused call never reaches the upstream";
  EXPECT_EQ(state_.budgets.settlements(), 4);
}

TEST_F(BudgetStageTest, TenantBudgetIsSeparateFromOtherTenants) {
  ASSERT_TRUE(Call(Upstream::kSuccess, "a"));
  EXPECT_TRUE(ctx_->status.ok());
  // Tenant a has spent 0.002 of 0.004; another estimate of ~0.002009 does not fit.
  ASSERT_TRUE(Call(Upstream::kSuccess, "a"));
  EXPECT_EQ(ctx_->status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(ctx_->status.message().find("tenant \"a\""), std::string::npos);
  ASSERT_TRUE(Call(Upstream::kSuccess, "b"));
  EXPECT_TRUE(ctx_->status.ok()) << ctx_->status;
  EXPECT_EQ(upstream_calls_.load(), 2);
  EXPECT_DOUBLE_EQ(Preset().spent_usd, 0.004);
}

TEST_F(BudgetStageTest, CallCostUsesOverridesAndIsZeroForCacheHits) {
  ASSERT_TRUE(Call(Upstream::kSuccess));
  auto cost = CallCost(state_, *ctx_);
  ASSERT_TRUE(cost.has_value());
  EXPECT_EQ(cost->input_usd, 0.001);
  EXPECT_EQ(cost->output_usd, 0.001);
  EXPECT_EQ(cost->total_usd, 0.002);
  ctx_->result.cache_tier = CacheTier::kL1;
  EXPECT_EQ(CallCost(state_, *ctx_)->total_usd, 0);
  ctx_->result.cache_tier = CacheTier::kNone;
  // Without the preset's price: the --pricing-file table, then LLMix's (by normalised name).
  preset_.sidecar.pricing.reset();
  EXPECT_FALSE(CallCost(state_, *ctx_).has_value()) << "house-model has no price";
  state_.price_overrides["house-model"] = ModelPrice{10, 20};
  EXPECT_EQ(CallCost(state_, *ctx_)->total_usd, 0.02);
  state_.price_overrides.clear();
  preset_.config.model = "gpt-4o-2024-08-06";
  EXPECT_EQ(CallCost(state_, *ctx_)->total_usd, 0.0075);  // 1000 × 2.5 + 500 × 10 per 1M
  // A fallback target is priced by its own pricing.
  registry::FallbackTarget target;
  target.config = preset_.config;
  target.pricing = ModelPrice{4, 4};
  preset_.sidecar.fallback.push_back(target);
  ctx_->result.fallback_index = 1;
  EXPECT_EQ(CallCost(state_, *ctx_)->total_usd, 0.006);
}

TEST_F(BudgetStageTest, RecordCallCostSetsTheResultTheSpanAndTheCounter) {
  state_.cost_metrics = std::make_unique<CostMetrics>(registry_, state_.budgets);
  ASSERT_TRUE(Call(Upstream::kSuccess));
  ctx_->span = tracer_.StartSpan("call", nullptr, SpanKind::kServer);
  RecordCallCost(state_, *ctx_);
  ASSERT_TRUE(ctx_->result.cost.has_value());
  EXPECT_EQ(ctx_->result.cost->total_usd, 0.002);
  ctx_->span->End();
  bool found = false;
  for (const SpanData& span : tracer_.Finished()) {
    for (const auto& [key, value] : span.attributes) {
      if (span.name == "call" && key == "llmix.cost.usd") {
        found = true;
        EXPECT_EQ(std::get<double>(value), 0.002);
      }
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(state_.cost_metrics->cost_usd.With({"demo/p", "openai", "house-model"}).value(), 0.002);
  // Spend gauges come from the ledger: the preset's account after one $0.002 call.
  const std::vector<GaugeSample> spent = BudgetSamples(state_.budgets, BudgetField::kSpent);
  ASSERT_EQ(spent.size(), 1u);
  EXPECT_EQ(spent[0].label_values, (std::vector<std::string>{"demo/p", ""}));
  EXPECT_EQ(spent[0].value, 0.002);
  // A model nothing prices: no cost, nothing on the span.
  preset_.sidecar.pricing.reset();
  RecordCallCost(state_, *ctx_);
  EXPECT_FALSE(ctx_->result.cost.has_value());
}

TEST(PriceOverridesTest, StrictFileFormat) {
  auto ok = ParsePriceOverrides(R"({"my-model":{"input":0.5,"output":1.5}})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at("my-model"), (ModelPrice{0.5, 1.5}));
  EXPECT_EQ(ParsePriceOverrides(R"({"m":{"input":-1,"output":1}})").status().message(),
            "\"m\".input: expected a number >= 0 (USD per 1M tokens)");
  EXPECT_EQ(ParsePriceOverrides(R"({"m":{"input":1}})").status().message(),
            "\"m\".output: expected a number >= 0 (USD per 1M tokens)");
  EXPECT_EQ(ParsePriceOverrides(R"({"m":{"input":1,"output":1,"cached":1}})").status().message(),
            "\"m\": unknown key \"cached\"");
  EXPECT_FALSE(ParsePriceOverrides("[]").ok());
  EXPECT_FALSE(ParsePriceOverrides("{").ok());
  EXPECT_FALSE(LoadPriceOverridesFile("/nonexistent/prices.json").ok());
}

}  // namespace
}  // namespace llmix::pipeline
