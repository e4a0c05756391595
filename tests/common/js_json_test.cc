#include "common/js_json.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "common/canonical_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace llmix {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Parse(std::string_view text) {
  absl::StatusOr<json> v = ParseJsJson(text);
  EXPECT_TRUE(v.ok()) << v.status() << " for " << text;
  return v.ok() ? *v : json();
}

std::string ParseError(std::string_view text, const JsJsonLimits& limits = {}) {
  absl::StatusOr<json> v = ParseJsJson(text, limits);
  EXPECT_FALSE(v.ok()) << "accepted: " << text;
  if (v.ok()) return "";
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(v.status().message());
}

TEST(ParseJsJsonTest, Scalars) {
  EXPECT_EQ(Parse("true"), json(true));
  EXPECT_EQ(Parse(" false "), json(false));
  EXPECT_TRUE(Parse("\t\r\nnull\n").is_null());
  EXPECT_EQ(Parse(R"("hi")"), json("hi"));
}

TEST(ParseJsJsonTest, EveryNumberIsADouble) {
  for (const char* text : {"0", "7", "-3", "1.5", "1e3", "9007199254740993", "1E-2"}) {
    EXPECT_TRUE(Parse(text).is_number_float()) << text;
  }
  EXPECT_EQ(Parse("9007199254740993").get<double>(), 9007199254740992.0);
  EXPECT_EQ(Parse("12345678901234567890").get<double>(), 12345678901234567890.0);
  EXPECT_EQ(Parse("0.1").get<double>(), 0.1);
  EXPECT_EQ(Parse("5e-324").get<double>(), 5e-324);
  double neg_zero = Parse("-0").get<double>();
  EXPECT_EQ(neg_zero, 0.0);
  EXPECT_TRUE(std::signbit(neg_zero));
}

TEST(ParseJsJsonTest, OutOfRangeNumbersSaturateLikeJs) {
  EXPECT_EQ(Parse("1e400").get<double>(), INFINITY);
  EXPECT_EQ(Parse("-1e400").get<double>(), -INFINITY);
  EXPECT_EQ(Parse("1e99999999999999999999").get<double>(), INFINITY);
  EXPECT_EQ(Parse("1e-400").get<double>(), 0.0);
  EXPECT_TRUE(std::signbit(Parse("-1e-400").get<double>()));
  EXPECT_EQ(Parse("123456789012345678901234567890e-400").get<double>(), 0.0);
  EXPECT_EQ(Parse("0.00000000001e320").get<double>(), INFINITY);
}

TEST(ParseJsJsonTest, StringEscapes) {
  EXPECT_EQ(Parse(R"("\"\\\/\b\f\n\r\t")").get<std::string>(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(Parse(R"("\u0041\u00e9\u20AC")").get<std::string>(), "A\u00e9\u20ac");
  EXPECT_EQ(Parse(R"("\u0000")").get<std::string>(), std::string("\0", 1));
  // An escaped surrogate pair is one code point.
  EXPECT_EQ(Parse(R"("\ud83d\ude00")").get<std::string>(), "\U0001F600");
  EXPECT_EQ(Parse(R"("\uD83D\uDE00")").get<std::string>(), "\U0001F600");
}

TEST(ParseJsJsonTest, LoneSurrogateEscapesBecomeWtf8) {
  EXPECT_EQ(Parse(R"("\ud800")").get<std::string>(), "\xED\xA0\x80");
  EXPECT_EQ(Parse(R"("\udfff")").get<std::string>(), "\xED\xBF\xBF");
  EXPECT_EQ(Parse(R"("a\ud800b")").get<std::string>(),
            "a\xED\xA0\x80"
            "b");
  // Low then high: two lone surrogates; high, high, low: one lone then a pair.
  EXPECT_EQ(Parse(R"("\udc00\ud800")").get<std::string>(), "\xED\xB0\x80\xED\xA0\x80");
  EXPECT_EQ(Parse(R"("\ud83d\ud83d\ude00")").get<std::string>(), "\xED\xA0\xBD\U0001F600");
  // A high surrogate followed by a non-surrogate escape stays lone.
  EXPECT_EQ(Parse(R"("\ud83d\u0041")").get<std::string>(),
            "\xED\xA0\xBD"
            "A");
  // And prints back as the same escape.
  EXPECT_EQ(CacheCanonicalJson(Parse(R"(["\ud800","\ude00x"])")), R"(["\ud800","\ude00x"])");
}

TEST(ParseJsJsonTest, RawUtf8Kept) {
  EXPECT_EQ(Parse("\"h\u00e9llo \u65e5\u672c \U0001F600\"").get<std::string>(),
            "h\u00e9llo \u65e5\u672c \U0001F600");
}

TEST(ParseJsJsonTest, DuplicateKeysLastValueWins) {
  json v = Parse(R"({"a":1,"b":2,"a":{"x":3}})");
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(v["a"], json({{"x", 3.0}}));
  absl::StatusOr<nlohmann::ordered_json> o = ParseJsJsonOrdered(R"({"b":1,"a":2,"b":3})");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->dump(), R"({"b":3.0,"a":2.0})");  // first position, last value
}

TEST(ParseJsJsonTest, ProtoIsAnOrdinaryKey) {
  json v = Parse(R"({"__proto__":{"polluted":true},"a":1})");
  ASSERT_TRUE(v.contains("__proto__"));
  EXPECT_EQ(v["__proto__"]["polluted"], json(true));
}

TEST(ParseJsJsonTest, DepthLimit) {
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(ParseJsJson(nested(128)).ok());
  EXPECT_THAT(ParseError(nested(129)), HasSubstr("nesting deeper than 128"));
  JsJsonLimits shallow;
  shallow.max_depth = 2;
  EXPECT_TRUE(ParseJsJson(R"({"a":[1]})", shallow).ok());
  EXPECT_THAT(ParseError(R"({"a":[{}]})", shallow), HasSubstr("nesting deeper than 2"));
  // Very deep input is rejected without recursion.
  EXPECT_THAT(ParseError(std::string(1'000'000, '[')), HasSubstr("at byte 128"));
  JsJsonLimits deep;
  deep.max_depth = 100'000;
  absl::StatusOr<json> v = ParseJsJson(nested(100'000), deep);
  EXPECT_TRUE(v.ok());
}

TEST(ParseJsJsonTest, SizeLimit) {
  JsJsonLimits small;
  small.max_bytes = 4;
  EXPECT_TRUE(ParseJsJson("1234", small).ok());
  EXPECT_THAT(ParseError("12345", small), HasSubstr("larger than 4 bytes"));
}

TEST(ParseJsJsonTest, InvalidUtf8Rejected) {
  EXPECT_THAT(ParseError("\"\xFF\""), HasSubstr("at byte 1: invalid UTF-8"));
  EXPECT_THAT(ParseError("\"\xC0\xAF\""), HasSubstr("invalid UTF-8"));          // overlong
  EXPECT_THAT(ParseError("\"\xE0\x80\xAF\""), HasSubstr("invalid UTF-8"));      // overlong
  EXPECT_THAT(ParseError("\"\xED\xA0\x80\""), HasSubstr("invalid UTF-8"));      // raw surrogate
  EXPECT_THAT(ParseError("\"\xF4\x90\x80\x80\""), HasSubstr("invalid UTF-8"));  // > U+10FFFF
  EXPECT_THAT(ParseError("\"\xE2\x82\""), HasSubstr("invalid UTF-8"));          // truncated
  EXPECT_THAT(ParseError("\xC3\xA9"), HasSubstr("at byte 0: unexpected character"));
}

TEST(ParseJsJsonTest, SyntaxErrorsCarryByteOffsets) {
  EXPECT_THAT(ParseError(""), HasSubstr("at byte 0: unexpected end of input"));
  EXPECT_THAT(ParseError("   "), HasSubstr("at byte 3"));
  EXPECT_THAT(ParseError("[1,]"), HasSubstr("at byte 3: unexpected character"));
  EXPECT_THAT(ParseError("{\"a\" 1}"), HasSubstr("at byte 5: expected ':'"));
  EXPECT_THAT(ParseError("{\"a\":1,}"), HasSubstr("at byte 7: expected a string key"));
  EXPECT_THAT(ParseError("{1:2}"), HasSubstr("expected a string key"));
  EXPECT_THAT(ParseError("[1 2]"), HasSubstr("at byte 3: expected ',' or ']'"));
  EXPECT_THAT(ParseError("1 2"), HasSubstr("at byte 2: unexpected trailing characters"));
  EXPECT_THAT(ParseError("{} x"), HasSubstr("trailing"));
  EXPECT_THAT(ParseError("\xEF\xBB\xBF{}"), HasSubstr("at byte 0"));  // BOM is not whitespace
  EXPECT_THAT(ParseError("\"a\nb\""), HasSubstr("at byte 2: control character"));
  EXPECT_THAT(ParseError(R"("\x")"), HasSubstr("invalid escape"));
  EXPECT_THAT(ParseError(R"("\u12")"), HasSubstr("invalid \\u escape"));
  EXPECT_THAT(ParseError(R"("abc)"), HasSubstr("unterminated string"));
  EXPECT_THAT(ParseError("[1"), HasSubstr("unexpected end of input"));
  EXPECT_THAT(ParseError("tru"), HasSubstr("invalid literal"));
  EXPECT_THAT(ParseError("\f1"), HasSubstr("unexpected character"));  // not JSON whitespace
}

TEST(ParseJsJsonTest, RejectsNonJsonNumbers) {
  for (const char* text :
       {"01", "-01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "NaN", "Infinity", "0x10", "1_0"}) {
    ParseError(text);
  }
}

// Every fixture family's inputs survive canonical text -> ParseJsJson -> canonical text, and the
// fixture files themselves parse to the same values as with nlohmann's reader.
TEST(ParseJsJsonTest, FixtureInputsRoundTrip) {
  const char* families[] = {"aimd",
                            "batch",
                            "cache_key_params",
                            "cache_keys",
                            "canonical_json",
                            "circuit_breaker",
                            "config_validation",
                            "dispatch_args",
                            "key_pool",
                            "model_capabilities",
                            "pipeline",
                            "pricing",
                            "provider_kwargs",
                            "registry",
                            "request_kwargs",
                            "retry",
                            "thinking"};
  int documents = 0;
  for (const char* family : families) {
    std::ifstream file(testing::FixturePath(std::string(family) + ".json"), std::ios::binary);
    ASSERT_TRUE(file) << family;
    std::stringstream bytes;
    bytes << file.rdbuf();
    absl::StatusOr<json> ours = ParseJsJson(bytes.str());
    ASSERT_TRUE(ours.ok()) << family << ": " << ours.status();
    json theirs = json::parse(bytes.str());
    EXPECT_EQ(CacheCanonicalJson(testing::DecodeFixtureTags(*ours)),
              CacheCanonicalJson(testing::DecodeFixtureTags(theirs)))
        << family;
    for (const testing::FixtureCase& c : testing::LoadFixtureCases(family)) {
      std::string text = CacheCanonicalJson(c.input);
      absl::StatusOr<json> reparsed = ParseJsJson(text);
      ASSERT_TRUE(reparsed.ok()) << c.name << ": " << reparsed.status();
      EXPECT_EQ(CacheCanonicalJson(*reparsed), text) << c.name;
      ++documents;
    }
  }
  EXPECT_GT(documents, 400);
}

}  // namespace
}  // namespace llmix
