// The sno-gpu base-URL rule (CONTRACT.md §5) and the effective base URL (§1), checked against
// every vector that records a sno-gpu URL: provider_kwargs, request_kwargs, pipeline dispatches
// and dispatch_args. (The thinking settings those vectors also carry belong to the kwargs code.)
#include <string>

#include "common/env.h"
#include "common/provider_catalog.h"
#include "gtest/gtest.h"
#include "tests/support/fixtures.h"

namespace llmix {
namespace {

using nlohmann::json;

constexpr char kNoBase[] =
    "sno-gpu provider requires a non-empty base_url in config or GPU_BASE_URL env var";

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

std::optional<std::string> OptionalString(const json& object, const char* key) {
  if (!object.contains(key) || !object[key].is_string()) return std::nullopt;
  return object[key].get<std::string>();
}

json MemberOrNull(const json& object, const char* key) {
  return object.contains(key) ? object[key] : json();
}

TEST(SnoGpuUrlVectors, ProviderKwargs) {
  int checked = 0;
  for (const testing::FixtureCase& c : testing::LoadFixtureCases("provider_kwargs")) {
    if (c.input.at("provider") != "sno-gpu") continue;
    SCOPED_TRACE(c.name);
    const json& ctx = c.input.at("ctx");
    MapEnv env = EnvOf(c.input);
    absl::StatusOr<std::string> url = EffectiveBaseUrl("sno-gpu", OptionalString(ctx, "baseUrl"),
                                                       MemberOrNull(ctx, "providerOptions"), env);
    if (c.expected.contains("error")) {
      ASSERT_FALSE(url.ok());
      EXPECT_EQ(url.status().message(), c.expected["error"]["message"].get<std::string>());
    } else {
      ASSERT_TRUE(url.ok()) << url.status();
      EXPECT_EQ(*url, c.expected["kwargs"]["baseUrl"].get<std::string>());
    }
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

TEST(SnoGpuUrlVectors, RequestKwargs) {
  int checked = 0;
  for (const testing::FixtureCase& c : testing::LoadFixtureCases("request_kwargs")) {
    const json& config = c.input.at("config");
    if (config.at("provider") != "sno-gpu") continue;
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::optional<json>> url = EffectiveBaseUrlForKey(config, EnvOf(c.input));
    ASSERT_TRUE(url.ok()) << url.status();
    ASSERT_TRUE(url->has_value());
    EXPECT_EQ(**url, c.expected["kwargs"]["baseUrl"]);
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

TEST(SnoGpuUrlVectors, PipelineDispatches) {
  int checked = 0;
  for (const testing::FixtureCase& c : testing::LoadFixtureCases("pipeline")) {
    const json& calls = c.input.at("calls");
    for (size_t i = 0; i < calls.size(); ++i) {
      const json& config = calls[i].at("config");
      if (config.at("provider") != "sno-gpu") continue;
      SCOPED_TRACE(c.name);
      absl::StatusOr<std::optional<json>> url = EffectiveBaseUrlForKey(config, EnvOf(c.input));
      ASSERT_TRUE(url.ok()) << url.status();
      for (const json& dispatch : c.expected["calls"][i]["dispatches"]) {
        EXPECT_EQ(url->value_or(json()), dispatch["kwargs"]["baseUrl"]);
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 1);
}

TEST(SnoGpuUrlVectors, DispatchArgs) {
  int checked = 0;
  for (const testing::FixtureCase& c : testing::LoadFixtureCases("dispatch_args")) {
    if (c.expected.value("dispatcher", "") != "snoGpuDispatch") continue;
    SCOPED_TRACE(c.name);
    const json& config = c.input.at("config");
    absl::StatusOr<std::string> url =
        EffectiveBaseUrl("sno-gpu", OptionalString(config, "baseUrl"),
                         MemberOrNull(config, "providerOptions"), EnvOf(c.input));
    ASSERT_TRUE(url.ok()) << url.status();
    for (const json& call : c.expected["sdkCalls"]) {
      if (call["call"] == "@ai-sdk/openai.createOpenAI") {
        EXPECT_EQ(*url, call["options"]["baseURL"].get<std::string>());
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 2);
}

// --- own cases ------------------------------------------------------------------------------

std::string Url(std::optional<std::string_view> base, std::optional<std::string_view> path,
                const MapEnv& env = MapEnv()) {
  absl::StatusOr<std::string> url = SnoGpuBaseUrl(base, path, env);
  return url.ok() ? *url : std::string(url.status().message());
}

TEST(SnoGpuBaseUrlTest, BaseSelectionAndNormalisation) {
  const MapEnv env = GpuEnv("http://env:1/v1/");
  EXPECT_EQ(Url("http://g", std::nullopt), "http://g/v1");
  EXPECT_EQ(Url("http://g///", std::nullopt), "http://g/v1");
  EXPECT_EQ(Url("http://g/v1", std::nullopt), "http://g/v1");
  EXPECT_EQ(Url("http://g/v1/v1", std::nullopt), "http://g/v1/v1");  // one /v1 removed
  EXPECT_EQ(Url("http://g/v1//", std::nullopt), "http://g/v1");
  EXPECT_EQ(Url("http://g//v1", std::nullopt), "http://g//v1");   // slashes before /v1 stay
  EXPECT_EQ(Url("http://g/V1", std::nullopt), "http://g/V1/v1");  // case-sensitive
  EXPECT_EQ(Url(" ", std::nullopt), " /v1");                      // not trimmed
  EXPECT_EQ(Url(std::nullopt, std::nullopt, env), "http://env:1/v1");
  EXPECT_EQ(Url("", std::nullopt, env), "http://env:1/v1");
  EXPECT_EQ(Url("///", std::nullopt, env), "http://env:1/v1");
  EXPECT_EQ(Url("http://g", std::nullopt, env), "http://g/v1");  // config wins
  // "/v1" alone empties the base after the env fallback was considered.
  EXPECT_EQ(Url("/v1", std::nullopt, env), kNoBase);
  EXPECT_EQ(Url(std::nullopt, std::nullopt), kNoBase);
  EXPECT_EQ(Url(std::nullopt, std::nullopt, GpuEnv("")), kNoBase);
  EXPECT_EQ(Url(std::nullopt, std::nullopt, GpuEnv("/")), kNoBase);
}

TEST(SnoGpuBaseUrlTest, GpuPathRules) {
  auto invalid = [](std::string_view quoted) {
    return std::string("Invalid gpu_path: ") + std::string(quoted) +
           ". Must be a safe relative path using letters, digits, \"_\", \"-\", or \"/\".";
  };
  EXPECT_EQ(Url("http://g", ""), "http://g/v1");
  EXPECT_EQ(Url("http://g", "a"), "http://g/a/v1");
  EXPECT_EQ(Url("http://g", "A-9_z/b/c"), "http://g/A-9_z/b/c/v1");
  EXPECT_EQ(Url("http://g", std::string(256, 'x')), "http://g/" + std::string(256, 'x') + "/v1");
  EXPECT_EQ(Url("http://g", std::string(257, 'x')), invalid("\"" + std::string(257, 'x') + "\""));
  for (const char* bad :
       {"/a", "a/", "a//b", "a/../b", "..", "a.b", "a b", "a\\b", "%2e", "caf\xC3\xA9", "a\n"}) {
    EXPECT_NE(Url("http://g", bad).find("Invalid gpu_path: "), std::string::npos) << bad;
  }
  EXPECT_EQ(Url("http://g", "a\n"), invalid("\"a\\n\""));
  EXPECT_EQ(Url("http://g", "q\"x"), invalid(R"("q\"x")"));
  // The base error comes first.
  EXPECT_EQ(Url(std::nullopt, "/bad"), kNoBase);
}

TEST(EffectiveBaseUrlTest, ProvidersAndGpuPathValues) {
  const MapEnv env;
  EXPECT_EQ(*EffectiveBaseUrl("openai", std::nullopt, json(), env), "");
  EXPECT_EQ(*EffectiveBaseUrl("openai", "https://x/v1/", json(), env), "https://x/v1/");
  EXPECT_EQ(*EffectiveBaseUrl("sno-gpu", "http://g", json(), env), "http://g/v1");
  auto with_path = [&](json path) {
    absl::StatusOr<std::string> url =
        EffectiveBaseUrl("sno-gpu", "http://g", json{{"sno-gpu", {{"gpuPath", path}}}}, env);
    return url.ok() ? *url : std::string(url.status().message());
  };
  EXPECT_EQ(with_path("p/q"), "http://g/p/q/v1");
  for (const json& falsy :
       {json(nullptr), json(false), json(0), json(""), json(json::value_t::discarded)}) {
    EXPECT_EQ(with_path(falsy), "http://g/v1") << falsy.dump();
  }
  EXPECT_EQ(with_path(5).rfind("Invalid gpu_path: 5.", 0), 0u);
  EXPECT_EQ(with_path(json::array({"a"})).rfind("Invalid gpu_path: [\"a\"].", 0), 0u);
  // providerOptions / its "sno-gpu" entry that are not objects carry no gpuPath.
  EXPECT_EQ(*EffectiveBaseUrl("sno-gpu", "http://g", json("x"), env), "http://g/v1");
  EXPECT_EQ(*EffectiveBaseUrl("sno-gpu", "http://g", json{{"sno-gpu", "x"}}, env), "http://g/v1");
}

TEST(EffectiveBaseUrlForKeyTest, RawConfigValues) {
  const MapEnv env;
  auto key_url = [&](json config) -> std::string {
    absl::StatusOr<std::optional<json>> url = EffectiveBaseUrlForKey(config, env);
    if (!url.ok()) return std::string(url.status().message());
    return url->has_value() ? (*url)->dump() : "<absent>";
  };
  EXPECT_EQ(key_url({{"provider", "openai"}}), "<absent>");
  EXPECT_EQ(key_url({{"provider", "openai"}, {"baseUrl", ""}}), "<absent>");
  EXPECT_EQ(key_url({{"provider", "openai"}, {"baseUrl", "  "}}), "\"  \"");
  EXPECT_EQ(key_url({{"provider", "openai"}, {"baseUrl", 3}}), "3");
  EXPECT_EQ(key_url({{"provider", "sno-gpu"}, {"baseUrl", "http://g/v1"}}), "\"http://g/v1\"");
  EXPECT_EQ(key_url({{"provider", "sno-gpu"}, {"baseUrl", nullptr}}), kNoBase);
  EXPECT_EQ(key_url({{"provider", "sno-gpu"}, {"baseUrl", false}}),
            "sno-gpu provider requires baseUrl to be a string");
  EXPECT_EQ(key_url(json("not an object")), "<absent>");
}

}  // namespace
}  // namespace llmix
