#include "common/env.h"

#include <gtest/gtest.h>

#include "common/env_refs.h"
#include "common/js_text.h"
#include "tests/support/fixtures.h"

namespace llmix {
namespace {

TEST(StateDir, MatchesLlmixVectors) {
  int checked = 0;
  for (const auto& c : testing::LoadFixtureCases("config_validation")) {
    if (c.input.value("fn", "") != "resolveStateDir") continue;
    MapEnv env;
    for (auto it = c.input["env"].begin(); it != c.input["env"].end(); ++it) {
      if (it.value().is_string()) env.Set(it.key(), it.value().get<std::string>());
    }
    EXPECT_EQ(ResolveStateDir(env), c.expected["stateDir"].get<std::string>()) << c.name;
    EXPECT_EQ(KillSwitchPath(env), c.expected["killSwitchPath"].get<std::string>()) << c.name;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(StateDir, FallsBackToHome) {
  MapEnv env;
  env.Set("HOME", "/home/u");
  EXPECT_EQ(ResolveStateDir(env), "/home/u/.local/state/llmix");
}

TEST(JsText, ToValidUtf8ReplacesWhatProtobufRefuses) {
  EXPECT_EQ(ToValidUtf8("plain \xC3\xA9 \xF0\x9F\x98\x80"), "plain \xC3\xA9 \xF0\x9F\x98\x80");
  std::string lone;
  AppendWtf8(0xD800, lone);  // a lone surrogate, as a JS string can hold
  EXPECT_EQ(ToValidUtf8("a" + lone + "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(ToValidUtf8("x\xFF"), "x\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
  EXPECT_EQ(TrimJsWhitespace("\xC2\xA0 x \xE3\x80\x80"), "x");
}

}  // namespace
TEST(EnvRefs, ExpandWithDefaultsAndNameTheMissingVariable) {
  MapEnv env({{"GATEWAY_HOST", "gw.internal"}, {"EMPTY", ""}});
  std::string out, error;
  ASSERT_TRUE(ExpandEnvRefs("https://${GATEWAY_HOST}:${PORT:-8443}/v1", env, &out, &error));
  EXPECT_EQ(out, "https://gw.internal:8443/v1");
  ASSERT_TRUE(ExpandEnvRefs("${EMPTY:-http://fallback}/x$y", env, &out, &error)) << error;
  EXPECT_EQ(out, "http://fallback/x$y") << "an empty value takes the default; a bare $ is text";
  ASSERT_TRUE(ExpandEnvRefs("no refs", env, &out, &error));
  EXPECT_EQ(out, "no refs");
  EXPECT_FALSE(ExpandEnvRefs("http://${MISSING}/v1", env, &out, &error));
  EXPECT_EQ(error, "${MISSING} is not set");
}

TEST(EnvRefs, MalformedReferencesAndSecretNamesAreRefused) {
  EXPECT_EQ(CheckEnvRefs("http://${HOST:-a}/${PATH_PART}"), "");
  EXPECT_NE(CheckEnvRefs("http://${HOST"), "");
  EXPECT_NE(CheckEnvRefs("http://${}/"), "");
  EXPECT_NE(CheckEnvRefs("http://${9X}/"), "");
  EXPECT_NE(CheckEnvRefs("http://${A-B}/"), "");
  for (const char* secret : {"${OPENAI_API_KEY}", "${gh_token}", "${DB_PASSWORD:-x}",
                             "${CLIENT_SECRET}", "${AUTHORIZATION}", "${MY_CREDENTIALS}"}) {
    EXPECT_NE(CheckEnvRefs(secret).find("names a secret"), std::string::npos) << secret;
    std::string out, error;
    MapEnv env;
    env.Set("OPENAI_API_KEY", "sk-x");
    EXPECT_FALSE(ExpandEnvRefs(secret, env, &out, &error)) << secret;
    EXPECT_EQ(out.find("sk-x"), std::string::npos);
  }
}

}  // namespace llmix
