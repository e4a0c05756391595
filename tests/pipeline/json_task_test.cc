#include "pipeline/json_task.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llmix::pipeline {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Extracted(std::string_view reply) {
  auto v = ExtractJsonReply(reply);
  EXPECT_TRUE(v.ok()) << v.status() << " for " << reply;
  return v.ok() ? CompactJsonText(*v) : "";
}

std::string Problem(std::string_view reply) {
  auto v = ExtractJsonReply(reply);
  EXPECT_FALSE(v.ok()) << "accepted: " << reply;
  return v.ok() ? "" : std::string(v.status().message());
}

TEST(JsonReplyTest, PlainJsonWithSurroundingWhitespace) {
  EXPECT_EQ(Extracted(" \n{\"b\": 1.0, \"a\": [true, null, \"x\"]}\n"),
            R"({"b":1,"a":[true,null,"x"]})");
  EXPECT_EQ(Extracted("42"), "42");
  EXPECT_EQ(Extracted("\"text\""), "\"text\"");
  EXPECT_EQ(Extracted("[1e21, 0.1, 1e-7, -0]"), "[1e+21,0.1,1e-7,0]") << "JavaScript numbers";
}

TEST(JsonReplyTest, FirstJsonOrBareFenceWithProseAround) {
  EXPECT_EQ(Extracted("Here:\n```json\n{\"a\":1}\n```\nBye"), R"({"a":1})");
  EXPECT_EQ(Extracted("Here:\r\n```JSON \r\n{\"a\":2}\r\n```\r\n"), R"({"a":2})");
  EXPECT_EQ(Extracted("```\n[1]\n```"), "[1]");
  // Fences in other languages are skipped; the first json/bare one counts.
  EXPECT_EQ(Extracted("```python\nprint(1)\n```\n```json\n{\"a\":3}\n```\n```json\n{}\n```"),
            R"({"a":3})");
  // An unclosed fence runs to the end of the reply.
  EXPECT_EQ(Extracted("```json\n{\"a\":4}"), R"({"a":4})");
}

TEST(JsonReplyTest, ProblemsAreOneSentence) {
  EXPECT_EQ(Problem("  \n"), "the reply is empty");
  EXPECT_THAT(Problem("The answer is {\"a\":1}"),
              StartsWith("the reply is not JSON (JSON parse error at byte 0"));
  EXPECT_THAT(Problem("The answer is {\"a\":1}"), HasSubstr(") and has no ```json block"));
  EXPECT_THAT(Problem("x ```json {\"a\":1} ```"), HasSubstr("has no ```json block"))
      << "a fence must start a line";
  EXPECT_THAT(Problem("```json\n{\"a\":}\n```"),
              StartsWith("the ```json block is not valid JSON (JSON parse error at byte"));
  std::string deep(200, '[');
  EXPECT_THAT(Problem(deep + std::string(200, ']')), HasSubstr("the reply is not JSON"));
}

TEST(JsonReplyTest, RepairMessages) {
  EXPECT_EQ(RepairMessageForParseError("the reply is empty"),
            "Your reply could not be used: the reply is empty.\nReply again with only the JSON "
            "value, valid against the required schema, and no other text.");
  JsonSchemaErrors errors;
  errors.errors = {"/a: expected string, got number", "/: missing required property \"b\""};
  errors.truncated = true;
  EXPECT_EQ(RepairMessageForSchemaErrors(errors),
            "Your reply does not match the required JSON schema:\n/a: expected string, got "
            "number\n/: missing required property \"b\"\n(further errors not listed)\nReply again "
            "with only the corrected JSON value and no other text.");
}

}  // namespace
}  // namespace llmix::pipeline
