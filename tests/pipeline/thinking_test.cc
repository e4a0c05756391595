#include "pipeline/thinking.h"

#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace llmix::pipeline {
namespace {

using nlohmann::json;
using testing::FixtureCase;

// JS truthiness, for `common.keepThinkingOutput`.
bool Truthy(const json& v) {
  if (v.is_null() || v.is_discarded()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0 && v.get<double>() == v.get<double>();
  if (v.is_string()) return !v.get<std::string>().empty();
  return true;
}

// via=stripThinking: the function itself; via=pipeline: what CallPipeline returns for a reply
// with common.keepThinkingOutput as given (the pipeline applies exactly ApplyThinkingPolicy).
class ThinkingVectors : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(ThinkingVectors, MatchesContentAndThinking) {
  const FixtureCase& c = GetParam();
  const std::string content = c.input.at("content").get<std::string>();
  const std::string via = c.input.at("via").get<std::string>();
  ThinkingResult r;
  if (via == "stripThinking") {
    r = StripThinking(content);
  } else if (via == "pipeline") {
    bool keep = c.input.contains("keepThinkingOutput") && Truthy(c.input["keepThinkingOutput"]);
    r = ApplyThinkingPolicy(content, keep);
  } else {
    FAIL() << "unknown via " << via;
  }
  EXPECT_EQ(r.content, c.expected.at("content").get<std::string>());
  const json& thinking = c.expected.at("thinkingContent");
  if (thinking.is_null()) {
    EXPECT_FALSE(r.thinking.has_value()) << *r.thinking;
  } else {
    ASSERT_TRUE(r.thinking.has_value());
    EXPECT_EQ(*r.thinking, thinking.get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ThinkingVectors,
                         ::testing::ValuesIn(testing::LoadFixtureCases("thinking")), testing::FixtureCaseName);

// --- own cases ------------------------------------------------------------------------------

TEST(StripThinkingTest, NoOpenTagLeavesTextUntouched) {
  ThinkingResult r = StripThinking("  x </think> \n");
  EXPECT_EQ(r.content, "  x </think> \n");
  EXPECT_FALSE(r.thinking.has_value());
}

TEST(StripThinkingTest, EmptyBlockGivesEmptyThinking) {
  ThinkingResult r = StripThinking("<think></think>a");
  EXPECT_EQ(r.content, "a");
  ASSERT_TRUE(r.thinking.has_value());
  EXPECT_EQ(*r.thinking, "");
  r = StripThinking("<think>");
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.thinking.value_or("<none>"), "");
}

TEST(StripThinkingTest, MultipleBlocksJoinedWithNewline) {
  ThinkingResult r = StripThinking("<think>a</think>x <think>b</think> y<think>c");
  EXPECT_EQ(r.content, "x y");
  EXPECT_EQ(r.thinking.value_or("<none>"), "a\nb\nc");
}

TEST(StripThinkingTest, WhitespaceAfterBlockIncludesEveryJsSpace) {
  const std::string spaces =
      "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
      "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";
  ThinkingResult r = StripThinking("a<think>t</think>" + spaces + "b");
  EXPECT_EQ(r.content, "ab");
  // Trimming uses the same set; U+200B (zero width space) and U+0085 (NEL) are not JS spaces.
  r = StripThinking(spaces + "<think>t</think>\u200b" + "b\u0085" + spaces);
  EXPECT_EQ(r.content,
            "\u200b"
            "b\u0085");
}

TEST(StripThinkingTest, RemovalCanFormANewOpenTag) {
  // Closed blocks are removed first; the joined remainder is searched for an unclosed tag.
  ThinkingResult r = StripThinking("<thi<think>x</think>nk>rest");
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.thinking.value_or("<none>"), "x\nrest");
}

TEST(StripThinkingTest, KeepsInvalidUtf8Bytes) {
  ThinkingResult r = StripThinking("\xFF<think>\xFE</think>\xC2");
  EXPECT_EQ(r.content, "\xFF\xC2");
  EXPECT_EQ(r.thinking.value_or("<none>"), "\xFE");
}

TEST(ApplyThinkingPolicyTest, KeepReturnsRawText) {
  ThinkingResult r = ApplyThinkingPolicy(" <think>t</think> a ", true);
  EXPECT_EQ(r.content, " <think>t</think> a ");
  EXPECT_FALSE(r.thinking.has_value());
  r = ApplyThinkingPolicy(" <think>t</think> a ", false);
  EXPECT_EQ(r.content, "a");
  EXPECT_EQ(r.thinking.value_or("<none>"), "t");
}

}  // namespace
}  // namespace llmix::pipeline
