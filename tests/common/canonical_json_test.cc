#include "common/canonical_json.h"

#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace llmix {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using testing::FixtureCase;

// --- canonical_json golden vectors ----------------------------------------------------------

class CanonicalJsonVectors : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(CanonicalJsonVectors, MatchesText) {
  const FixtureCase& c = GetParam();
  const std::string fn = c.input.at("fn").get<std::string>();
  const json& value = c.input.at("value");
  std::string text;
  if (fn == "cache") {
    text = CacheCanonicalJson(value);
  } else if (fn == "registry_pretty") {
    text = RegistryCanonicalJson(value, RegistryJsonLayout::kPretty);
  } else if (fn == "registry_compact") {
    text = RegistryCanonicalJson(value, RegistryJsonLayout::kCompact);
  } else {
    FAIL() << "unknown fn " << fn;
  }
  EXPECT_EQ(text, c.expected.at("text").get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CanonicalJsonVectors,
                         ::testing::ValuesIn(testing::LoadFixtureCases("canonical_json")),
                         testing::FixtureCaseName);

// --- Number::toString -----------------------------------------------------------------------

TEST(JsNumberToStringTest, FormattingTable) {
  struct Row {
    double value;
    const char* text;
  };
  const Row rows[] = {
      {0.0, "0"},
      {-0.0, "0"},
      {1, "1"},
      {-1, "-1"},
      {0.7, "0.7"},
      {100, "100"},
      {123.456, "123.456"},
      {-0.5, "-0.5"},
      {0.1, "0.1"},
      {0.30000000000000004, "0.30000000000000004"},
      {1.0 / 3.0, "0.3333333333333333"},
      {1e20, "100000000000000000000"},
      {123456789012345680000.0, "123456789012345680000"},
      {1e21, "1e+21"},
      {1.5e21, "1.5e+21"},
      {-1.5e300, "-1.5e+300"},
      {1e-6, "0.000001"},
      {1.2345e-5, "0.000012345"},
      {1e-7, "1e-7"},
      {2e-7, "2e-7"},
      {1.5e-7, "1.5e-7"},
      {5e-324, "5e-324"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {9007199254740992.0, "9007199254740992"},
      {9007199254740993.0, "9007199254740992"},  // the literal already rounds to 2^53
      {12345678901234567890.0, "12345678901234567000"},
      {4.35, "4.35"},
      {0.000123, "0.000123"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
      {std::numeric_limits<double>::infinity(), "Infinity"},
      {-std::numeric_limits<double>::infinity(), "-Infinity"},
  };
  for (const Row& row : rows) EXPECT_EQ(JsNumberToString(row.value), row.text) << row.text;
}

TEST(CacheCanonicalJsonTest, IntegersPrintAsDoubles) {
  EXPECT_EQ(CacheCanonicalJson(json(int64_t{9007199254740993})), "9007199254740992");
  EXPECT_EQ(CacheCanonicalJson(json(uint64_t{18446744073709551615u})), "18446744073709552000");
  EXPECT_EQ(CacheCanonicalJson(json(int64_t{-3})), "-3");
}

TEST(CacheCanonicalJsonTest, NonFiniteNestedPrintNull) {
  json v = {{"a", std::nan("")}, {"b", json::array({-std::numeric_limits<double>::infinity()})}};
  EXPECT_EQ(CacheCanonicalJson(v), R"({"a":null,"b":[null]})");
}

TEST(CacheCanonicalJsonTest, TopLevelScalarsAndUndefined) {
  EXPECT_EQ(CacheCanonicalJson(json()), "null");
  EXPECT_EQ(CacheCanonicalJson(json(json::value_t::discarded)), "null");
  EXPECT_EQ(RegistryCanonicalJson(json::array(), RegistryJsonLayout::kPretty), "[]\n");
}

// --- strings --------------------------------------------------------------------------------

TEST(JsJsonQuoteTest, EscapesPerContract) {
  EXPECT_EQ(JsJsonQuote("q\"b\\s/"), R"("q\"b\\s/")");
  EXPECT_EQ(JsJsonQuote("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(JsJsonQuote(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
  // U+2028, U+2029, U+FEFF, emoji and accents are emitted raw.
  EXPECT_EQ(JsJsonQuote("\u2028\u2029\ufeff\U0001F600\u00e9"),
            "\"\u2028\u2029\ufeff\U0001F600\u00e9\"");
}

TEST(JsJsonQuoteTest, LoneSurrogatesEscapedLowercase) {
  EXPECT_EQ(JsJsonQuote("\xED\xA0\x80"), R"("\ud800")");
  EXPECT_EQ(JsJsonQuote("\xED\xBF\xBF"), R"("\udfff")");
  EXPECT_EQ(JsJsonQuote("A\xED\xA0\xBD"
                        "B\xED\xB8\x80"),
            R"("A\ud83dB\ude00")");
  // A low surrogate before a high one is two lone surrogates.
  EXPECT_EQ(JsJsonQuote("\xED\xB8\x80\xED\xA0\xBD"), R"("\ude00\ud83d")");
  // The two WTF-8 halves of one pair are a well-formed code point in JS.
  EXPECT_EQ(JsJsonQuote("\xED\xA0\xBD\xED\xB8\x80"), "\"\U0001F600\"");
}

TEST(JsJsonQuoteTest, InvalidBytesBecomeReplacementCharacter) {
  EXPECT_EQ(JsJsonQuote("a\xFF"
                        "b"),
            "\"a\uFFFD"
            "b\"");
  EXPECT_EQ(JsJsonQuote("\xC3"), "\"\uFFFD\"");
  EXPECT_EQ(JsJsonQuote("\xC0\xAF"), "\"\uFFFD\uFFFD\"");  // overlong
}

// --- keys -----------------------------------------------------------------------------------

TEST(IsArrayIndexKeyTest, CanonicalIndicesOnly) {
  for (const char* yes : {"0", "1", "9", "10", "4294967294"}) EXPECT_TRUE(IsArrayIndexKey(yes));
  for (const char* no : {"", "01", "-1", "1.5", "+1", "1a", "4294967295", "99999999999", " 1"}) {
    EXPECT_FALSE(IsArrayIndexKey(no)) << no;
  }
}

TEST(CacheCanonicalJsonTest, KeysByUtf16CodeUnitsWithIndicesFirst) {
  // U+1F600 (surrogates D83D DE00) sorts before U+FB01 in UTF-16, unlike UTF-8 byte order.
  json v = {{"\uFB01", 1}, {"\U0001F600", 2}, {"10", 3}, {"2", 4}, {"a", 5}, {"01", 6}};
  EXPECT_EQ(CacheCanonicalJson(v),
            "{\"2\":4,\"10\":3,\"01\":6,\"a\":5,\"\U0001F600\":2,\"\uFB01\":1}");
}

// ASCII-keyed objects print in map order (the fast path); ordered_json always sorts. Both
// must give the same text, including punctuation/digit/upper-case keys and nested objects.
TEST(CacheCanonicalJsonTest, AsciiKeyFastPathMatchesSortedPath) {
  const char* keys[] = {"b", "B", "_", "a1", "a", "~", " ", "Z9", "aa", "-1", "1.5", "__proto__"};
  json plain = json::object();
  ordered_json ordered = ordered_json::object();
  for (int i = 0; i < 12; ++i) {
    json inner = {{keys[(i + 3) % 12], i}, {keys[(i + 7) % 12], "s\"" + std::to_string(i)}};
    plain[keys[i]] = {{"v", inner}, {"w", json::array({inner, nullptr})}};
    ordered[keys[i]] = ordered_json::parse(plain[keys[i]].dump());
  }
  plain["gone"] = json(json::value_t::discarded);
  EXPECT_EQ(CacheCanonicalJson(plain), CacheCanonicalJson(ordered));
  // An index key or a non-ASCII key among ASCII ones takes the sorting path.
  plain["10"] = 1;
  plain["\u00e9"] = 2;
  ordered["10"] = 1;
  ordered["\u00e9"] = 2;
  const std::string text = CacheCanonicalJson(plain);
  EXPECT_EQ(text, CacheCanonicalJson(ordered));
  EXPECT_EQ(text.rfind("{\"10\":1,", 0), 0u) << text;
}

TEST(CacheCanonicalJsonTest, AppendAddsToTheBuffer) {
  std::string out = "prefix:";
  AppendCacheCanonicalJson(json{{"b", 2.0}, {"a", "x\ny"}}, out);
  EXPECT_EQ(out, "prefix:{\"a\":\"x\\ny\",\"b\":2}");
}

TEST(JsNumberToStringTest, IntegersAroundTwoToThe53) {
  EXPECT_EQ(JsNumberToString(9007199254740991.0), "9007199254740991");
  EXPECT_EQ(JsNumberToString(-9007199254740991.0), "-9007199254740991");
  EXPECT_EQ(JsNumberToString(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(JsNumberToString(1152921504606846976.0), "1152921504606847000");  // 2^60
  EXPECT_EQ(JsNumberToString(-64.0), "-64");
  EXPECT_EQ(JsNumberToString(1e21), "1e+21");
  EXPECT_EQ(JsNumberToString(123456789012.0), "123456789012");
}

TEST(CacheCanonicalJsonTest, ProtoDroppedAtEveryLevel) {
  json v = {{"__proto__", {{"x", 1}}},
            {"a", json::array({json{{"__proto__", nullptr}, {"b", 1}}})},
            {"__proto__x", 2}};
  EXPECT_EQ(CacheCanonicalJson(v), R"({"__proto__x":2,"a":[{"b":1}]})");
}

TEST(LocaleCompareEnUsTest, OrdersLikeLocaleCompare) {
  EXPECT_LT(LocaleCompareEnUs("a", "A"), 0);
  EXPECT_LT(LocaleCompareEnUs("A", "b"), 0);
  EXPECT_LT(LocaleCompareEnUs("_", "-"), 0);
  EXPECT_LT(LocaleCompareEnUs("-", ","), 0);
  EXPECT_LT(LocaleCompareEnUs("resolved_path", "resolvedPath"), 0);
  EXPECT_LT(LocaleCompareEnUs("source_sha256", "source-path"), 0);
  EXPECT_LT(LocaleCompareEnUs("9", "a"), 0);
  EXPECT_GT(LocaleCompareEnUs("b", "a"), 0);
  EXPECT_EQ(LocaleCompareEnUs("abc", "abc"), 0);
  // Canonically equivalent spellings compare equal (normalization on).
  EXPECT_EQ(LocaleCompareEnUs("\u00e9", "e\u0301"), 0);
}

TEST(RegistryCanonicalJsonTest, CollationTiesKeepInsertionOrder) {
  ordered_json v = ordered_json::object();
  v["e\u0301"] = 1;  // NFD
  v["\u00e9"] = 2;   // NFC, collation-equal
  v["a"] = 3;
  EXPECT_EQ(RegistryCanonicalJson(v, RegistryJsonLayout::kCompact),
            "{\"a\":3,\"e\u0301\":1,\"\u00e9\":2}");
  ordered_json w = ordered_json::object();
  w["\u00e9"] = 2;
  w["e\u0301"] = 1;
  EXPECT_EQ(RegistryCanonicalJson(w, RegistryJsonLayout::kCompact), "{\"\u00e9\":2,\"e\u0301\":1}");
}

TEST(RegistryCanonicalJsonTest, PrettyLayout) {
  json v = {{"b", json::array({1, json::object(), json::array()})}, {"a", {{"c", "x"}}}};
  EXPECT_EQ(RegistryCanonicalJson(v, RegistryJsonLayout::kPretty),
            "{\n  \"a\": {\n    \"c\": \"x\"\n  },\n  \"b\": [\n    1,\n    {},\n    []\n  ]\n}\n");
  json only_undefined = {{"x", json(json::value_t::discarded)}};
  EXPECT_EQ(RegistryCanonicalJson(only_undefined, RegistryJsonLayout::kPretty), "{}\n");
}

TEST(RegistryCanonicalJsonTest, CollatorIsUsableFromManyThreads) {
  json v = {{"b", 1}, {"B", 2}, {"_a", 3}, {"a", 4}, {"10", 5}, {"9", 6}};
  const std::string want = R"({"9":6,"10":5,"_a":3,"a":4,"b":1,"B":2})";
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        ok[t] += RegistryCanonicalJson(v, RegistryJsonLayout::kCompact) == want ? 1 : 0;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int n : ok) EXPECT_EQ(n, 200);
}

TEST(Sha256HexTest, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace llmix
