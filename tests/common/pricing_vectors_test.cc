// Runs every case of the `pricing` fixture family (MODEL_PRICING, getModelPricing,
// calculateCost, calculateRerankCost) through common/pricing.h, one test per vector, plus the
// JS toFixed rounding the costs rely on.
#include <cmath>
#include <limits>
#include <string>

#include "common/canonical_json.h"
#include "common/pricing.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace llmix {
namespace {

using nlohmann::json;
using testing::FixtureCase;

// The same double (bit for bit, so 0 and -0 differ, as Object.is would say).
void ExpectSameNumber(double actual, const json& want, const std::string& what) {
  ASSERT_TRUE(want.is_number()) << what << ": " << want.dump();
  const double w = want.get<double>();
  EXPECT_TRUE(actual == w && std::signbit(actual) == std::signbit(w))
      << what << ": got " << JsNumberToString(actual) << ", want " << JsNumberToString(w);
}

void ExpectPrice(const std::optional<ModelPrice>& got, const json& want, const std::string& what) {
  if (want.is_null()) {
    EXPECT_FALSE(got.has_value()) << what << " has a price: " << got->input << "/" << got->output;
    return;
  }
  ASSERT_TRUE(got.has_value()) << what << " has no price, want " << want.dump();
  ExpectSameNumber(got->input, want.at("input"), what + ".input");
  ExpectSameNumber(got->output, want.at("output"), what + ".output");
}

class PricingVectors : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(PricingVectors, Matches) {
  const FixtureCase& c = GetParam();
  const std::string fn = c.input.at("fn").get<std::string>();
  if (fn == "MODEL_PRICING") {
    const json& table = c.expected.at("table");
    EXPECT_EQ(BuiltinPriceTable().size(), table.size());
    for (auto it = table.begin(); it != table.end(); ++it) {
      auto got = BuiltinPriceTable().find(it.key());
      ASSERT_NE(got, BuiltinPriceTable().end()) << it.key();
      ExpectPrice(got->second, it.value(), it.key());
    }
  } else if (fn == "getModelPricing") {
    const std::string model = c.input.at("model").get<std::string>();
    ExpectPrice(GetModelPricing(model), c.expected.at("price"), model);
  } else if (fn == "calculateCost") {
    auto cost = CalculateCost(c.input.at("model").get<std::string>(),
                              c.input.at("inputTokens").get<double>(),
                              c.input.at("outputTokens").get<double>());
    if (c.expected.contains("error")) {
      ASSERT_FALSE(cost.ok());
      EXPECT_EQ(c.expected["error"]["type"], "RangeError");
      EXPECT_EQ(cost.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(cost.status().message(), c.expected["error"]["message"].get<std::string>());
      return;
    }
    ASSERT_TRUE(cost.ok()) << cost.status();
    ExpectSameNumber(cost->input_usd, c.expected.at("inputCostUsd"), "inputCostUsd");
    ExpectSameNumber(cost->output_usd, c.expected.at("outputCostUsd"), "outputCostUsd");
    ExpectSameNumber(cost->total_usd, c.expected.at("totalCostUsd"), "totalCostUsd");
  } else if (fn == "calculateRerankCost") {
    ExpectSameNumber(CalculateRerankCost(c.input.at("model").get<std::string>(),
                                         c.input.at("searchCount").get<double>()),
                     c.expected.at("costUsd"), "costUsd");
  } else {
    ADD_FAILURE() << "unknown fn " << fn;
  }
}

INSTANTIATE_TEST_SUITE_P(Pricing, PricingVectors,
                         ::testing::ValuesIn(testing::LoadFixtureCases("pricing")),
                         testing::FixtureCaseName);

TEST(PricingVectorsCount, AllThirtyThreeCasesAreRun) {
  EXPECT_EQ(testing::LoadFixtureCases("pricing").size(), 33u);
}

TEST(JsToFixed, RoundsTheExactValueHalvesUp) {
  // 0.0078125 = 2^-7 is exactly halfway at 6 places: toFixed takes the larger n, printf's
  // round-half-even would give 0.007812.
  EXPECT_EQ(JsToFixedNumber(0.0078125, 6), 0.007813);
  // The exact stored value decides (as in Node): 1.0000005 is stored just above the half,
  // 1.0000004999999999 just below it.
  EXPECT_EQ(JsToFixedNumber(1.0000005, 6), 1.000001);
  EXPECT_EQ(JsToFixedNumber(1.0000004999999999, 6), 1.0);
  EXPECT_EQ(JsToFixedNumber(0.9999996, 6), 1.0);
  EXPECT_EQ(JsToFixedNumber(9.9999999, 6), 10.0);
  EXPECT_EQ(JsToFixedNumber(0.1 + 0.2, 6), 0.3);
  EXPECT_EQ(JsToFixedNumber(-0.0000004, 6), 0.0);
  EXPECT_TRUE(std::signbit(JsToFixedNumber(-0.0000004, 6)));  // Number("-0.000000") is -0
  EXPECT_EQ(JsToFixedNumber(-2.5e-7, 6), 0.0);
  EXPECT_EQ(JsToFixedNumber(1e21, 6), 1e21);
  EXPECT_TRUE(std::isnan(JsToFixedNumber(std::nan(""), 6)));
  EXPECT_EQ(JsToFixedNumber(12500000, 6), 12500000);
}

TEST(PriceLookup, NormalisationSteps) {
  EXPECT_EQ(NormalizeModelName("OpenAI/GPT-5-Mini-2025-08-07"), "gpt-5-mini");
  EXPECT_EQ(NormalizeModelName("claude-sonnet-4-5-20250929"), "claude-4.5-sonnet");
  EXPECT_EQ(NormalizeModelName("a/b/mistral-large-2411"), "mistral-large");
  // One strip per pattern, in order: a YYYYMMDD then NNNN both come off.
  EXPECT_EQ(NormalizeModelName("x-1234-20250101"), "x");
  EXPECT_EQ(NormalizeModelName("claude-opus-4"), "claude-opus-4");
  // JS toLowerCase is Unicode-aware: the Kelvin sign lowercases to ASCII 'k'.
  EXPECT_EQ(NormalizeModelName("\xE2\x84\xAA"), "k");
  PriceTable table = {{"my-model", {1, 2}}};
  EXPECT_EQ(LookupModelPrice(table, "MY-MODEL-2025-01-01"), (ModelPrice{1, 2}));
  EXPECT_FALSE(LookupModelPrice(table, "other").has_value());
}

TEST(PriceLookup, CostOfAKnownPriceChecksTheCounts) {
  auto c = CostOf({1000000, 2000000}, 3, 4);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->input_usd, 3);
  EXPECT_EQ(c->output_usd, 8);
  EXPECT_EQ(c->total_usd, 11);
  EXPECT_FALSE(CostOf({1, 1}, -1, 0).ok());
  EXPECT_FALSE(CostOf({1, 1}, 0, std::numeric_limits<double>::infinity()).ok());
}

}  // namespace
}  // namespace llmix
