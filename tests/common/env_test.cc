#include "common/env.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace llmix
