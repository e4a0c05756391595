#include "pipeline/cache/cache_key.h"

#include <ostream>
#include <string>

#include "common/canonical_json.h"
#include "common/env.h"
#include "common/js_json.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace llmix::cache {
namespace {

using nlohmann::json;
using testing::FixtureCase;

// `env` of a vector: name -> value, null = unset.
MapEnv GpuEnv(const std::string& value) {
  MapEnv env;
  env.Set("GPU_BASE_URL", value);
  return env;
}

MapEnv EnvOf(const json& input) {
  MapEnv env;
  if (input.contains("env") && input["env"].is_object()) {
    for (auto it = input["env"].begin(); it != input["env"].end(); ++it) {
      if (it.value().is_string()) env.Set(it.key(), it.value().get<std::string>());
    }
  }
  return env;
}

// --- cache_key_params: generateCacheKey(params) ---------------------------------------------

class CacheKeyParamsVectors : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(CacheKeyParamsVectors, MatchesCanonicalAndKey) {
  const FixtureCase& c = GetParam();
  CacheKeyParams params = CacheKeyParamsFromObject(c.input.at("params"));
  EXPECT_EQ(CanonicalCacheText(params), c.expected.at("canonical").get<std::string>());
  EXPECT_EQ(CacheKey(params), c.expected.at("key").get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CacheKeyParamsVectors,
                         ::testing::ValuesIn(testing::LoadFixtureCases("cache_key_params")),
                         testing::FixtureCaseName);

// --- cache_keys: the key CallPipeline computes for (config, messages, env) ------------------

class CacheKeysVectors : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(CacheKeysVectors, MatchesPipelineKey) {
  const FixtureCase& c = GetParam();
  MapEnv env = EnvOf(c.input);
  absl::StatusOr<std::optional<CacheKeyParams>> params =
      CacheKeyParamsForCall(c.input.at("config"), c.input.at("messages"), env);
  if (c.expected.contains("error")) {
    ASSERT_FALSE(params.ok());
    EXPECT_EQ(params.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(params.status().message(), c.expected["error"].get<std::string>());
    return;
  }
  ASSERT_TRUE(params.ok()) << params.status();
  if (c.expected.at("key").is_null()) {
    EXPECT_FALSE(params->has_value());
    return;
  }
  ASSERT_TRUE(params->has_value());
  EXPECT_EQ(CanonicalCacheText(**params), c.expected.at("canonical").get<std::string>());
  EXPECT_EQ(CacheKey(**params), c.expected.at("key").get<std::string>());
}

// The call path's CacheKeyOf (no copies) gives the vector's key for every consulting case, and
// the same errors.
TEST_P(CacheKeysVectors, CacheKeyOfMatchesVectorKey) {
  const FixtureCase& c = GetParam();
  MapEnv env = EnvOf(c.input);
  absl::StatusOr<std::string> key = CacheKeyOf(c.input.at("config"), c.input.at("messages"), env);
  if (c.expected.contains("error")) {
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().message(), c.expected["error"].get<std::string>());
    return;
  }
  ASSERT_TRUE(key.ok()) << key.status();
  if (c.expected.at("key").is_null()) return;  // not consulted; the key is still computed
  EXPECT_EQ(*key, c.expected.at("key").get<std::string>());
}

// The same vectors with config and messages read back from their JSON text by ParseJsJson (the
// text a sidecar request carries; `undefined` members are gone, lone surrogates survive).
TEST_P(CacheKeysVectors, SameOutcomeAfterJsJsonRoundTrip) {
  const FixtureCase& c = GetParam();
  absl::StatusOr<json> config = ParseJsJson(CacheCanonicalJson(c.input.at("config")));
  absl::StatusOr<json> messages = ParseJsJson(CacheCanonicalJson(c.input.at("messages")));
  ASSERT_TRUE(config.ok() && messages.ok());
  MapEnv env = EnvOf(c.input);
  absl::StatusOr<std::optional<CacheKeyParams>> params =
      CacheKeyParamsForCall(*config, *messages, env);
  if (c.expected.contains("error")) {
    ASSERT_FALSE(params.ok());
    EXPECT_EQ(params.status().message(), c.expected["error"].get<std::string>());
  } else if (c.expected.at("key").is_null()) {
    ASSERT_TRUE(params.ok());
    EXPECT_FALSE(params->has_value());
  } else {
    ASSERT_TRUE(params.ok() && params->has_value());
    EXPECT_EQ(CacheKey(**params), c.expected.at("key").get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CacheKeysVectors,
                         ::testing::ValuesIn(testing::LoadFixtureCases("cache_keys")),
                         testing::FixtureCaseName);

// --- own cases ------------------------------------------------------------------------------

json Config(json extra = json::object()) {
  json config = {
      {"provider", "openai"}, {"model", "gpt-4o"}, {"caching", {{"strategy", "memory"}}}};
  config.update(extra);
  return config;
}

const json kMessages = json::array({{{"role", "user"}, {"content", "Hello"}}});

std::string KeyFor(const json& config, const Env& env = MapEnv()) {
  absl::StatusOr<std::optional<CacheKeyParams>> p = CacheKeyParamsForCall(config, kMessages, env);
  if (!p.ok()) return std::string(p.status().message());
  return p->has_value() ? CanonicalCacheText(**p) : "<no key>";
}

TEST(CacheKeyParamsForCallTest, StrategyGatesTheKey) {
  EXPECT_EQ(KeyFor(Config({{"caching", nullptr}})), "<no key>");
  EXPECT_EQ(KeyFor(Config({{"caching", json::object()}})), "<no key>");
  EXPECT_EQ(KeyFor(Config({{"caching", {{"strategy", nullptr}}}})), "<no key>");
  EXPECT_EQ(KeyFor(Config({{"caching", "memory"}})), "<no key>");  // not an object
  EXPECT_EQ(KeyFor(Config({{"caching", {{"strategy", "gateway"}}}})), "<no key>");
  json no_caching = Config();
  no_caching.erase("caching");
  EXPECT_EQ(KeyFor(no_caching), "<no key>");
  // Any other strategy value computes a key, whatever its type.
  const std::string plain = KeyFor(Config());
  EXPECT_EQ(KeyFor(Config({{"caching", {{"strategy", "redis-or-memory"}}}})), plain);
  EXPECT_EQ(KeyFor(Config({{"caching", {{"strategy", 5}}}})), plain);
  EXPECT_EQ(KeyFor(Config({{"caching", {{"strategy", "Disabled"}}}})), plain);
}

TEST(CacheKeyParamsForCallTest, BaseUrlFalsyValuesAreAbsent) {
  const std::string plain = KeyFor(Config());
  EXPECT_EQ(KeyFor(Config({{"baseUrl", ""}})), plain);
  EXPECT_EQ(KeyFor(Config({{"baseUrl", nullptr}})), plain);
  EXPECT_EQ(KeyFor(Config({{"baseUrl", false}})), plain);
  EXPECT_EQ(KeyFor(Config({{"baseUrl", 0}})), plain);
  EXPECT_NE(KeyFor(Config({{"baseUrl", " "}})), plain);
  EXPECT_NE(KeyFor(Config({{"baseUrl", 7}})), plain);  // not type-checked
}

TEST(CacheKeyParamsForCallTest, CommonThatIsNotAnObjectContributesNothing) {
  EXPECT_EQ(KeyFor(Config({{"common", "x"}})), KeyFor(Config()));
  EXPECT_EQ(KeyFor(Config({{"common", json::array({1})}})), KeyFor(Config()));
}

TEST(CacheKeyParamsForCallTest, SnoGpuErrorsEvenWithoutCaching) {
  json config = {{"provider", "sno-gpu"}, {"model", "q"}};
  EXPECT_EQ(KeyFor(config),
            "sno-gpu provider requires a non-empty base_url in config or GPU_BASE_URL env var");
  EXPECT_EQ(KeyFor(config, GpuEnv("http://g/")), "<no key>");
  config["caching"] = {{"strategy", "memory"}};
  EXPECT_EQ(KeyFor(config, GpuEnv("http://g/")),
            R"({"baseUrl":"http://g/v1","messages":[{"content":"Hello","role":"user"}],)"
            R"("model":"q","provider":"sno-gpu"})");
  config["baseUrl"] = 5;
  EXPECT_EQ(KeyFor(config), "sno-gpu provider requires baseUrl to be a string");
}

TEST(CanonicalCacheTextTest, TopLevelDropsOnlyNullUndefinedAndNonFinite) {
  CacheKeyParams p;
  p.provider = "";
  p.model = json(json::value_t::discarded);
  p.messages = json::array();
  p.temperature = std::nan("");
  p.top_p = json::array();
  p.top_k = json::object();
  p.seed = 0;
  p.enable_thinking = false;
  p.response_format = nullptr;
  EXPECT_EQ(CanonicalCacheText(p),
            R"({"enableThinking":false,"messages":[],"provider":"","seed":0,"topK":{},"topP":[]})");
  EXPECT_EQ(CacheKey(p), std::string(kCacheKeyPrefix) + Sha256Hex(CanonicalCacheText(p)));
}

}  // namespace
}  // namespace llmix::cache
