// MDA text -> front matter (YAML 1.2 core schema as js-yaml reads it) and preset projection.
#include "registry/mda.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>
#include <regex>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "registry/errors.h"
#include "tests/registry/test_util.h"

namespace llmix::registry {
namespace {

using nlohmann::json;

json Scalar(const std::string& yaml_value) {
  auto r = YamlToJson("v: " + yaml_value + "\n", "t.yaml");
  EXPECT_TRUE(r.ok()) << yaml_value << ": " << r.status();
  return r.ok() ? (*r)["v"] : json("<error>");
}

TEST(YamlCoreSchema, StringsThatYaml11WouldConvert) {
  for (const char* s : {"yes", "no", "on", "off", "y", "n", "Yes", "OFF", "2024-01-01", "12:30",
                        "0x", "0b102", "-.5", "1_", "nULL", "tRUE", "._", "0o", "1__"}) {
    EXPECT_EQ(Scalar(s), json(s)) << s;
  }
}

TEST(YamlCoreSchema, Numbers) {
  EXPECT_EQ(Scalar("0o17"), json(15));
  EXPECT_EQ(Scalar("0x1F"), json(31));
  EXPECT_EQ(Scalar("0b101"), json(5));
  EXPECT_EQ(Scalar("017"), json(17));
  EXPECT_EQ(Scalar("1_000"), json(1000));
  EXPECT_EQ(Scalar("+12"), json(12));
  EXPECT_EQ(Scalar("-0x10"), json(-16));
  EXPECT_EQ(Scalar("0_1"), json(1));
  EXPECT_EQ(Scalar("1.5"), json(1.5));
  EXPECT_EQ(Scalar("1e3"), json(1000));
  EXPECT_EQ(Scalar("1E-2"), json(0.01));
  EXPECT_EQ(Scalar(".5"), json(0.5));
  EXPECT_EQ(Scalar("1."), json(1));
  EXPECT_EQ(Scalar("0.2"), json(0.2));
  EXPECT_EQ(Scalar("9007199254740993"), json(9007199254740992.0));
  json neg_zero = Scalar("-0.0");
  EXPECT_TRUE(std::signbit(neg_zero.get<double>()));
  json int_zero = Scalar("-0");  // js-yaml returns +0 for "-0"
  EXPECT_FALSE(std::signbit(int_zero.get<double>()));
  EXPECT_TRUE(std::isinf(Scalar(".inf").get<double>()));
  EXPECT_LT(Scalar("-.Inf").get<double>(), 0);
  EXPECT_TRUE(std::isnan(Scalar(".NaN").get<double>()));
  // 2^60 + 1 in hex rounds to 2^60.
  EXPECT_EQ(Scalar("0x1000000000000001").get<double>(), std::ldexp(1.0, 60));
}

TEST(YamlCoreSchema, NullsBoolsAndTags) {
  for (const char* s : {"~", "null", "Null", "NULL", ""}) EXPECT_EQ(Scalar(s), json(nullptr)) << s;
  EXPECT_EQ(Scalar("True"), json(true));
  EXPECT_EQ(Scalar("FALSE"), json(false));
  EXPECT_EQ(Scalar("\"123\""), json("123"));
  EXPECT_EQ(Scalar("'true'"), json("true"));
  EXPECT_EQ(Scalar("!!str 123"), json("123"));
  EXPECT_EQ(Scalar("!!int \"0x10\""), json(16));
  EXPECT_EQ(Scalar("!!float 1"), json(1));
  EXPECT_EQ(Scalar("|\n  a\n  b"), json("a\nb\n"));
  EXPECT_FALSE(YamlToJson("v: !!int abc\n", "t").ok());
  EXPECT_FALSE(YamlToJson("v: !foo x\n", "t").ok());
  EXPECT_FALSE(YamlToJson("v: !!timestamp 2024-01-01\n", "t").ok());
}

TEST(YamlCoreSchema, KeysAndStructure) {
  auto r = YamlToJson("1.0: a\n1e3: b\ntrue: c\n~: d\n0x10: e\n<<: {k: 1}\n", "t");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, json({{"1", "a"},
                      {"1000", "b"},
                      {"true", "c"},
                      {"null", "d"},
                      {"16", "e"},
                      {"<<", {{"k", 1}}}}));
  auto dup = YamlToJson("a: 1\nb: 2\na: 3\n", "f.mda", 2);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(),
            "f.mda:4: invalid YAML front matter: duplicated mapping key \"a\"");
  EXPECT_FALSE(YamlToJson("a: 1\n---\nb: 2\n", "t").ok());
  EXPECT_FALSE(YamlToJson("? [1, 2]\n: x\n", "t").ok());
  auto alias = YamlToJson("a: &x {k: [1, 2]}\nb: *x\n", "t");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ((*alias)["b"], json({{"k", {1, 2}}}));
}

// Found by tests/fuzz/mda_preset_fuzzer: a 400-byte alias bomb used to expand to 10^6 nodes
// (minutes under ASan, 1 GB). Expansion is now refused past 5'000 nodes, quickly.
TEST(YamlCoreSchema, AliasBombIsRefusedQuickly) {
  std::string yaml = "a0: &a0 [x, y, z, w, v, u, t, s, r, q]\n";
  for (int i = 1; i <= 6; ++i) {
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += (j ? ", *a" : "*a") + std::to_string(i - 1);
    yaml += "]\n";
  }
  std::map<std::vector<std::string>, int> lines;
  auto start = std::chrono::steady_clock::now();
  auto bomb = YamlToJson(yaml, "bomb.mda", 2, &lines);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  ASSERT_FALSE(bomb.ok());
  EXPECT_TRUE(absl::StrContains(bomb.status().message(), "front matter is too large"))
      << bomb.status();
  // A large but reasonable expansion (1'110 nodes) is still accepted.
  auto fine = YamlToJson(
      "a0: &a0 [x, y, z, w, v, u, t, s, r, q]\n"
      "a1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n"
      "a2: [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n",
      "ok.mda");
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ((*fine)["a2"][9][9][9], "q");
}

// Found by tests/fuzz/mda_preset_fuzzer: yaml-cpp 0.7's LoadAll never returned on a ','
// outside a flow collection (jbeder/yaml-cpp#1040), appending null documents until memory ran
// out. Such front matter is now an error naming the line.
TEST(YamlCoreSchema, StrayCommaIsAnErrorNotAHang) {
  for (const char* yaml : {",a\n", ",\n", "a: 1\n,b\n", "# c\n\n,idecar-only settings\n"}) {
    auto r = YamlToJson(yaml, "comma.mda", 2);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "comma.mda:")) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), "invalid YAML front matter"))
        << r.status();
  }
  auto preset = LoadMdaPresetText("---\nname: x\n,bad\n---\nbody\n", "m/x.mda");
  EXPECT_FALSE(preset.ok());
}

TEST(YamlCoreSchema, SecondDocumentIsRefusedWithItsLine) {
  auto r = YamlToJson("a: 1\n...\n---\nb: 2\n", "two.mda", 2);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "two.mda:4: invalid YAML front matter: "
                                                      "expected a single document"))
      << r.status();
  EXPECT_EQ(*YamlToJson("", "empty.mda"), json(nullptr));
  EXPECT_EQ(*YamlToJson("# only a comment\n", "empty.mda"), json(nullptr));
}

// The float resolver is matched by hand (std::regex allocated and recursed per character). It
// must accept exactly what js-yaml's CORE_SCHEMA float pattern accepts: checked against that
// pattern (kept here as the oracle) on every short string over the characters that matter, and
// on random longer ones.
TEST(YamlCoreSchema, FloatResolverMatchesJsYamlPattern) {
  const std::regex pattern(
      "^(?:[-+]?(?:[0-9][0-9_]*)(?:\\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
      "|\\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
      "|[-+]?\\.(?:inf|Inf|INF)"
      "|\\.(?:nan|NaN|NAN))$");
  auto expected = [&](const std::string& s) {
    return !s.empty() && std::regex_match(s, pattern) && s.back() != '_';
  };
  // An explicit !!float tag on a quoted scalar resolves it as a float or fails.
  auto accepted = [](const std::string& s) {
    return YamlToJson("v: !!float \"" + s + "\"\n", "t.yaml").ok();
  };
  const std::string alphabet = "05_.eE+-";
  std::vector<std::string> cases = {".nan", ".NaN", ".NAN", ".inf", "-.Inf", "+.INF", ".iNf",
                                    "-.nan", "1.5e", "1.5e+", "1e5", "1_000.25e-3", "x"};
  std::vector<std::string> level = {""};
  for (int len = 1; len <= 4; ++len) {
    std::vector<std::string> next;
    for (const std::string& prefix : level) {
      for (char c : alphabet) next.push_back(prefix + c);
    }
    cases.insert(cases.end(), next.begin(), next.end());
    level = std::move(next);
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(8 + rng() % 16, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    cases.push_back(s);
  }
  int floats = 0;
  for (const std::string& s : cases) {
    ASSERT_EQ(accepted(s), expected(s)) << "\"" << s << "\"";
    floats += expected(s);
  }
  EXPECT_GT(floats, 300);  // the table exercises both answers
}

// Also from the fuzzer: under the node cap, long anchored strings (or keys) repeated by aliases
// still copied hundreds of MB. The expanded path + scalar bytes are capped too.
TEST(YamlCoreSchema, AliasExpansionOfLongStringsIsRefused) {
  const std::string big(8000, 'x');
  std::string yaml = "a0: &a0 [" + big + ", " + big + "]\n";
  for (int i = 1; i <= 4; ++i) {
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) yaml += (j ? ", *a" : "*a") + std::to_string(i - 1);
    yaml += "]\n";
  }
  auto bomb = YamlToJson(yaml, "bomb.mda");
  ASSERT_FALSE(bomb.ok());
  EXPECT_TRUE(absl::StrContains(bomb.status().message(), "front matter is too large"))
      << bomb.status();
}

TEST(MdaText, FencesBomAndLineEnds) {
  auto doc = ParseMdaText("\xEF\xBB\xBF---\r\na: 1\r\n---\r\nbody\r\n", "f.mda");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->front_matter, json({{"a", 1}}));
  EXPECT_EQ(doc->body, "body\n");
  doc = ParseMdaText("---\ra: x\r---", "f.mda");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->front_matter, json({{"a", "x"}}));
  EXPECT_EQ(doc->body, "");
  doc = ParseMdaText("---\n---\n", "f.mda");
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->front_matter.is_null());
  EXPECT_FALSE(ParseMdaText("a: 1\n---\n", "f.mda").ok());
  EXPECT_FALSE(ParseMdaText("\n---\na: 1\n---\n", "f.mda").ok());
  auto open = ParseMdaText("---\na: 1\n", "f.mda");
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().message(), "f.mda: MDA front matter is not closed by a '---' line");
  auto bad = ParseMdaText("---\nname: p\nlist: [1\n---\n", "f.mda");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "f.mda:4: invalid YAML")) << bad.status();
}

TEST(MdaText, InvalidUtf8DecodesLikeTextDecoder) {
  // A lone continuation byte, a truncated 3-byte sequence, an overlong lead byte.
  auto doc = ParseMdaText(
      "---\nv: \"a\x80"
      "b\xE2\x82"
      "c\xC0"
      "d \xE2\x82\xAC\"\n---\n",
      "f.mda");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->front_matter["v"],
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD"
            "c\xEF\xBF\xBD"
            "d \xE2\x82\xAC");
}

constexpr char kPreset[] =
    "---\n"
    "name: p\n"
    "description: D\n"
    "metadata:\n"
    "  snoai-llmix:\n"
    "    common:\n"
    "      provider: openai\n"
    "      model: gpt-4o\n"
    "      temperature: %TEMP%\n"
    "  llmix-sidecar:\n"
    "    baseUrl: %URL%\n"
    "---\n";

std::string Preset(const std::string& temp, const std::string& url) {
  std::string s = kPreset;
  s.replace(s.find("%TEMP%"), 6, temp);
  s.replace(s.find("%URL%"), 5, url);
  return s;
}

TEST(MdaPreset, SidecarNamespace) {
  auto p = LoadMdaPresetText(Preset("0.5", "http://127.0.0.1:9/v1"), "/r/p.mda");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->sidecar.base_url, "http://127.0.0.1:9/v1");
  EXPECT_EQ(p->resolved, json({{"provider", "openai"},
                               {"model", "gpt-4o"},
                               {"common", {{"temperature", 0.5}}},
                               {"description", "D"}}));
  EXPECT_EQ(p->config.common.temperature, 0.5);

  auto bad_url = LoadMdaPresetText(Preset("0.5", "ftp://x"), "/r/p.mda");
  ASSERT_FALSE(bad_url.ok());
  EXPECT_TRUE(absl::StrContains(bad_url.status().message(),
                                "line 11: metadata.llmix-sidecar.baseUrl: custom"))
      << bad_url.status();

  std::string unknown = Preset("0.5", "http://x");
  unknown.insert(unknown.find("---\n", 4), "    tier: gold\n");
  auto bad_key = LoadMdaPresetText(unknown, "/r/p.mda");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_TRUE(absl::StrContains(bad_key.status().message(),
                                "metadata.llmix-sidecar: unrecognized_keys: Unrecognized key: "
                                "\"tier\""))
      << bad_key.status();
}

TEST(MdaPreset, ErrorsNameFileLineAndField) {
  auto p = LoadMdaPresetText(Preset("yes", "http://x"), "/r/hrkg/p.mda");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(ErrorTypeName(p.status()).value_or(""), "InvalidConfigError");
  EXPECT_EQ(p.status().message(),
            "MDA front matter validation failed for /r/hrkg/p.mda:\n"
            "  - line 9: metadata.snoai-llmix.common.temperature: invalid_type: Invalid input: "
            "expected number, received string");
  std::string budget =
      "---\nname: p\ndescription: D\nmetadata:\n  snoai-llmix:\n    common: {provider: anthropic,"
      " model: m}\n    providerOptions:\n      anthropic:\n        thinking:\n"
      "          type: enabled\n          budgetTokens: 100\n---\n";
  auto b = LoadMdaPresetText(budget, "/r/p.mda");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            "Projected MDA config validation failed for /r/p.mda:\n"
            "  - providerOptions.anthropic.thinking.budgetTokens: Anthropic budgetTokens must be "
            ">= 1024 when thinking is enabled, got 100\n"
            "  (line 11: metadata.snoai-llmix.providerOptions.anthropic.thinking.budgetTokens)");
}

TEST(MdaPreset, FileErrors) {
  testing::TempDir dir;
  auto missing = LoadMdaPresetFile(dir.Sub("none.mda"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(ErrorTypeName(missing.status()).value_or(""), "ConfigNotFoundError");
  EXPECT_EQ(missing.status().message(), "Config file not found: " + dir.Sub("none.mda"));
  EXPECT_EQ(CheckMdaPresetPath("/x/p.txt").message(),
            "TypeScript LLMix presets must use .mda files: /x/p.txt");
  EXPECT_TRUE(CheckMdaPresetPath("/x/p.Mda").ok());
}

constexpr char kTieredPreset[] =
    "---\n"
    "name: p\n"
    "description: D\n"
    "metadata:\n"
    "  snoai-llmix:\n"
    "    common:\n"
    "      provider: openai\n"
    "      model: \"@strong\"\n"
    "      temperature: 0.5\n"
    "  llmix-sidecar:\n"
    "    modelMap:\n"
    "      openai: {strong: gpt-4o, weak: gpt-4o-mini, summarize: gpt-4o-mini}\n"
    "      anthropic: {strong: claude-sonnet-4-5}\n"
    "    fallback:\n"
    "      targets:\n"
    "        - {provider: anthropic, model: \"@strong\"}\n"
    "        - {provider: openai, model: \"@summarize\"}\n"
    "        - {provider: openai, model: plain-model}\n"
    "---\n";

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(MdaPreset, ModelMapResolvesThePresetAndEachFallbackTargetForItsProvider) {
  auto p = LoadMdaPresetText(kTieredPreset, "/r/p.mda");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.model, "gpt-4o");
  // The cache key hashes `raw`: exactly the config of a preset naming gpt-4o.
  auto concrete = LoadMdaPresetText(Preset("0.5", "http://x"), "/r/q.mda");
  ASSERT_TRUE(concrete.ok()) << concrete.status();
  EXPECT_EQ(p->config.raw, concrete->config.raw);
  // LLMix's projection (the published resolved/*.json) keeps what the file says.
  EXPECT_EQ(p->resolved["model"], "@strong");

  ASSERT_EQ(p->sidecar.fallback.size(), 3u);
  EXPECT_EQ(p->sidecar.fallback[0].config.model, "claude-sonnet-4-5");
  EXPECT_EQ(p->sidecar.fallback[0].config.raw["model"], "claude-sonnet-4-5");
  EXPECT_EQ(p->sidecar.fallback[0].config.raw["provider"], "anthropic");
  EXPECT_EQ(p->sidecar.fallback[1].config.model, "gpt-4o-mini");
  EXPECT_EQ(p->sidecar.fallback[1].config.raw["model"], "gpt-4o-mini");
  EXPECT_EQ(p->sidecar.fallback[1].config.common.temperature, 0.5);
  EXPECT_EQ(p->sidecar.fallback[2].config.model, "plain-model");
}

TEST(MdaPreset, WithoutAtOrWithoutModelMapTheModelIsUntouched) {
  auto plain = LoadMdaPresetText(
      Replaced(kTieredPreset, "\"@strong\"\n      temp", "\"strong\"\n      temp"), "/r/p.mda");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->config.model, "strong");
  EXPECT_EQ(plain->config.raw["model"], "strong");

  // No modelMap: LLMix semantics, "@strong" is the model the provider is asked for.
  std::string no_map = Replaced(kTieredPreset,
                                "    modelMap:\n"
                                "      openai: {strong: gpt-4o, weak: gpt-4o-mini, summarize: "
                                "gpt-4o-mini}\n      anthropic: {strong: claude-sonnet-4-5}\n",
                                "");
  auto p = LoadMdaPresetText(no_map, "/r/p.mda");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->config.model, "@strong");
  EXPECT_EQ(p->config.raw["model"], "@strong");
  EXPECT_EQ(p->sidecar.fallback[0].config.model, "@strong");
}

TEST(MdaPreset, ModelMapErrorsNameTheField) {
  auto primary = LoadMdaPresetText(
      Replaced(kTieredPreset, "\"@strong\"\n      temp", "\"@cheap\"\n      temp"), "/r/p.mda");
  ASSERT_FALSE(primary.ok());
  EXPECT_EQ(ErrorTypeName(primary.status()).value_or(""), "InvalidConfigError");
  EXPECT_EQ(primary.status().message(),
            "/r/p.mda: metadata.snoai-llmix.common.model: \"@cheap\" has no modelMap entry for "
            "provider \"openai\"");

  // anthropic has `strong` but no `weak`.
  auto target =
      LoadMdaPresetText(Replaced(kTieredPreset, "{provider: anthropic, model: \"@strong\"}",
                                 "{provider: anthropic, model: \"@weak\"}"),
                        "/r/p.mda");
  ASSERT_FALSE(target.ok());
  EXPECT_EQ(target.status().message(),
            "Invalid metadata.llmix-sidecar in /r/p.mda: fallback.targets[0].model: \"@weak\" has "
            "no modelMap entry for provider \"anthropic\"");

  for (const auto& [from, to, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"anthropic: {strong:", "nosuch: {strong:",
            "line 13: metadata.llmix-sidecar.modelMap.nosuch: invalid_key: Unknown provider "
            "\"nosuch\" in modelMap"},
           {"weak: gpt-4o-mini,", "Weak: gpt-4o-mini,",
            "metadata.llmix-sidecar.modelMap.openai.Weak: invalid_key: Invalid logical model "
            "name"},
           {"weak: gpt-4o-mini,", "weak: \"\",",
            "metadata.llmix-sidecar.modelMap.openai.weak: invalid_type: Invalid input: expected "
            "a non-empty model name, received string"},
           {"weak: gpt-4o-mini,", "weak: \"@strong\",",
            "metadata.llmix-sidecar.modelMap.openai.weak: custom: a modelMap entry names a "
            "provider model"},
           {"anthropic: {strong: claude-sonnet-4-5}", "anthropic: claude-sonnet-4-5",
            "metadata.llmix-sidecar.modelMap.anthropic: invalid_type: Invalid input: expected "
            "record, received string"},
       }) {
    auto bad = LoadMdaPresetText(Replaced(kTieredPreset, from, to), "/r/p.mda");
    ASSERT_FALSE(bad.ok()) << to;
    EXPECT_TRUE(absl::StrContains(bad.status().message(), expected)) << bad.status();
  }
}

constexpr char kSemanticPreset[] =
    "---\n"
    "name: p\n"
    "description: D\n"
    "metadata:\n"
    "  snoai-llmix:\n"
    "    common:\n"
    "      provider: openai\n"
    "      model: gpt-4o\n"
    "      temperature: 0\n"
    "    caching:\n"
    "      strategy: memory\n"
    "  llmix-sidecar:\n"
    "    semanticCache:\n"
    "      embeddingPreset: emb/small\n"
    "      threshold: 0.9\n"
    "---\n";

TEST(MdaPreset, SemanticCacheSettingsAndTheirDefaults) {
  auto p = LoadMdaPresetText(kSemanticPreset, "/r/p.mda");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->sidecar.semantic_cache.has_value());
  const SemanticCacheSettings& sc = *p->sidecar.semantic_cache;
  EXPECT_EQ(sc.embedding_preset, "emb/small");
  EXPECT_DOUBLE_EQ(sc.threshold, 0.9);
  EXPECT_DOUBLE_EQ(sc.max_temperature, 0.3);
  EXPECT_EQ(sc.max_entries, 10000u);
  EXPECT_FALSE(sc.ttl.has_value());
  EXPECT_FALSE(sc.shared);

  auto all = LoadMdaPresetText(
      Replaced(kSemanticPreset, "      threshold: 0.9\n",
               "      threshold: 1\n      maxTemperature: 0.5\n      maxEntries: 20\n"
               "      ttlSeconds: 90\n      shared: true\n"),
      "/r/p.mda");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_DOUBLE_EQ(all->sidecar.semantic_cache->threshold, 1.0);
  EXPECT_DOUBLE_EQ(all->sidecar.semantic_cache->max_temperature, 0.5);
  EXPECT_EQ(all->sidecar.semantic_cache->max_entries, 20u);
  EXPECT_EQ(all->sidecar.semantic_cache->ttl, absl::Seconds(90));
  EXPECT_TRUE(all->sidecar.semantic_cache->shared);
}

TEST(MdaPreset, SemanticCacheErrorsNameTheField) {
  for (const auto& [from, to, expected] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"threshold: 0.9", "threshold: 0", "metadata.llmix-sidecar.semanticCache.threshold: "},
           {"threshold: 0.9", "threshold: 1.5",
            "metadata.llmix-sidecar.semanticCache.threshold: "},
           {"threshold: 0.9", "threshold: 0.9\n      maxEntries: 0",
            "metadata.llmix-sidecar.semanticCache.maxEntries: "},
           {"threshold: 0.9", "threshold: 0.9\n      maxTemperature: -1",
            "metadata.llmix-sidecar.semanticCache.maxTemperature: "},
           {"threshold: 0.9", "threshold: 0.9\n      shared: yes please",
            "metadata.llmix-sidecar.semanticCache.shared: "},
           {"threshold: 0.9", "threshold: 0.9\n      thresold: 0.8",
            "metadata.llmix-sidecar.semanticCache"},
           {"      embeddingPreset: emb/small\n", "",
            "metadata.llmix-sidecar.semanticCache.embeddingPreset: "},
           {"embeddingPreset: emb/small", "embeddingPreset: small",
            "semanticCache.embeddingPreset: expected \"module/preset\", got \"small\""},
           {"strategy: memory", "strategy: disabled",
            "semanticCache: needs the preset's caching.strategy to be memory, redis or "
            "redis-or-memory"},
       }) {
    auto bad = LoadMdaPresetText(Replaced(kSemanticPreset, from, to), "/r/p.mda");
    ASSERT_FALSE(bad.ok()) << to;
    EXPECT_EQ(ErrorTypeName(bad.status()).value_or(""), "InvalidConfigError");
    EXPECT_TRUE(absl::StrContains(bad.status().message(), expected)) << bad.status();
  }
}

}  // namespace
}  // namespace llmix::registry
