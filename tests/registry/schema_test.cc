// zod behaviours of the strict schemas beyond the golden vectors.
#include <gtest/gtest.h>

#include <cmath>

#include "absl/strings/str_join.h"
#include "registry/llm_config.h"
#include "registry/preset_schema.h"

namespace llmix::registry {
namespace {

using nlohmann::json;

std::vector<std::string> Issues(const json& config) {
  std::vector<std::string> out;
  for (const auto& i : CheckLlmConfigSchema(config)) {
    out.push_back(absl::StrJoin(i.path, ".") + " " + i.code);
  }
  return out;
}

json Base(json extra = json::object()) {
  json c = {{"provider", "openai"}, {"model", "m"}};
  c.update(extra);
  return c;
}

using V = std::vector<std::string>;

TEST(StrictSchema, Types) {
  EXPECT_EQ(Issues(json(nullptr)), V{" invalid_type"});
  EXPECT_EQ(Issues(json::array()), V{" invalid_type"});
  EXPECT_EQ(Issues({{"model", "m"}}), V{"provider invalid_value"});
  EXPECT_EQ(Issues({{"provider", "openai"}}), V{"model invalid_type"});
  EXPECT_EQ(Issues(Base({{"common", {{"temperature", "0.5"}}}})),
            V{"common.temperature invalid_type"});
  EXPECT_EQ(Issues(Base({{"common", {{"temperature", NAN}}}})),
            V{"common.temperature invalid_type"});
  EXPECT_EQ(Issues(Base({{"common", {{"maxOutputTokens", 1.5}}}})),
            V{"common.maxOutputTokens invalid_type"});
  EXPECT_EQ(Issues(Base({{"common", {{"seed", 9007199254740994.0}}}})), V{"common.seed too_big"});
  EXPECT_EQ(Issues(Base({{"common", nullptr}})), V{"common invalid_type"});
  EXPECT_EQ(Issues(Base({{"caching", {{"ttl", 5}}}})), V{"caching.strategy invalid_value"});
  EXPECT_EQ(Issues(Base({{"tags", {"a", 1}}})), V{"tags.1 invalid_type"});
  EXPECT_EQ(Issues({{"provider", "gemini"}, {"model", "m"}}), V{"provider invalid_value"});
}

TEST(StrictSchema, UnionAndEnums) {
  auto logprobs = [](json v) {
    return Issues(Base({{"providerOptions", {{"openai", {{"logprobs", v}}}}}}));
  };
  EXPECT_EQ(logprobs(true), V{});
  EXPECT_EQ(logprobs(3), V{});
  EXPECT_EQ(logprobs(-1), V{"providerOptions.openai.logprobs too_small"});
  EXPECT_EQ(logprobs(1.5), V{"providerOptions.openai.logprobs invalid_union"});
  EXPECT_EQ(logprobs("x"), V{"providerOptions.openai.logprobs invalid_union"});
  EXPECT_EQ(Issues(Base({{"providerOptions",
                          {{"anthropic", {{"cacheControl", {{"type", "persistent"}}}}}}}})),
            V{"providerOptions.anthropic.cacheControl.type invalid_value"});
  EXPECT_EQ(Issues(Base({{"providerOptions", {{"openai", {{"logitBias", {{"42", "x"}}}}}}}})),
            V{"providerOptions.openai.logitBias.42 invalid_type"});
  EXPECT_EQ(Issues(Base({{"providerOptions", {{"deepinfra", json::array()}}}})),
            V{"providerOptions.deepinfra invalid_type"});
}

TEST(StrictSchema, RefinementRunsOnlyWithoutAbortingIssues) {
  json thinking = {{"anthropic", {{"thinking", {{"type", "enabled"}, {"budgetTokens", 10}}}}}};
  json c = {{"provider", "anthropic"}, {"model", "m"}, {"providerOptions", thinking}};
  EXPECT_EQ(Issues(c), V{"providerOptions.anthropic.thinking.budgetTokens custom"});
  c["common"] = {{"topP", 2}};  // continuable: the refinement still runs
  EXPECT_EQ(Issues(c),
            (V{"common.topP too_big", "providerOptions.anthropic.thinking.budgetTokens custom"}));
  c["common"] = {{"topP", "x"}};  // aborting: it does not
  EXPECT_EQ(Issues(c), V{"common.topP invalid_type"});
  c.erase("common");
  c["providerOptions"]["anthropic"]["thinking"]["type"] = "disabled";
  EXPECT_EQ(Issues(c), V{});
}

TEST(StrictSchema, Messages) {
  auto issues = CheckLlmConfigSchema(Base({{"common", {{"a", 1}, {"b", 2}}}}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].message, "Unrecognized keys: \"a\", \"b\"");
  issues = CheckLlmConfigSchema(Base({{"common", {{"topP", 1.5}}}}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].message, "Too big: expected number to be <=1");
  issues = CheckLlmConfigSchema({{"provider", "x"}, {"model", ""}});
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].message,
            "Invalid option: expected one of \"openai\"|\"anthropic\"|\"google\"|\"deepseek\"|"
            "\"openrouter\"|\"sno-gpu\"|\"deepinfra\"|\"novita\"|\"together\"");
  EXPECT_EQ(issues[1].message, "Too small: expected string to have >=1 characters");
  EXPECT_EQ(FormatIssues(issues).substr(0, 24), "provider: invalid_value:");
}

TEST(StrictSchema, UndefinedMembersAreAbsent) {
  json c = Base({{"description", json(json::value_t::discarded)}});
  auto parsed = ParseLlmConfig(c, Strictness::kStrict);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->raw, Base());
  EXPECT_FALSE(parsed->description.has_value());
}

TEST(StrictSchema, TypedFields) {
  json c = Base({{"common", {{"maxRetries", 1e15}, {"stopSequences", {"x"}}}},
                 {"caching", {{"strategy", "memory"}, {"ttl", 60}}},
                 {"tags", json::array()},
                 {"deprecated", false}});
  auto parsed = ParseLlmConfig(c, Strictness::kStrict);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->common.max_retries, std::numeric_limits<int>::max());
  EXPECT_EQ(parsed->caching->strategy, "memory");
  EXPECT_EQ(parsed->caching->ttl_seconds, 60);
  EXPECT_TRUE(parsed->has_tags);
  EXPECT_TRUE(parsed->has_deprecated);
  EXPECT_FALSE(parsed->has_bypass_gateway);
  // Lenient keeps accepting what strict refuses.
  EXPECT_TRUE(ParseLlmConfig(Base({{"apiKey", "k"}}), Strictness::kLenient).ok());
  EXPECT_FALSE(ParseLlmConfig(Base({{"apiKey", "k"}}), Strictness::kStrict).ok());
}

}  // namespace
}  // namespace llmix::registry
