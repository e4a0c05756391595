#include "registry/names.h"

#include <gtest/gtest.h>

#include "registry/errors.h"

namespace llmix::registry {
namespace {

TEST(Names, LengthIsCheckedBeforeCharacters) {
  std::string long_name(65, 'a');
  absl::Status s = ValidateModule(long_name);
  EXPECT_EQ(s.message(), "Module name too long: 65 > 64");
  EXPECT_EQ(ErrorTypeName(s).value_or(""), "Error");
  EXPECT_EQ(ValidateScope(std::string(64, '/')).message(),
            "Invalid characters in scope: " + std::string(64, '/'));
  // 33 emoji = 66 UTF-16 code units.
  std::string emoji;
  for (int i = 0; i < 33; ++i) emoji += "\xF0\x9F\x98\x80";
  EXPECT_EQ(ValidatePreset(emoji).message(), "Preset name too long: 66 > 64");
}

TEST(Names, PresetBaseFamily) {
  EXPECT_TRUE(ValidatePreset("_base_low").ok());
  EXPECT_TRUE(ValidatePreset("_base2").ok());
  EXPECT_FALSE(ValidatePreset("_bas").ok());
  EXPECT_FALSE(ValidateModule("_base").ok());
  EXPECT_TRUE(ValidateScope("a-").ok());
  EXPECT_EQ(ErrorTypeName(ValidatePreset("a$")).value_or(""), "SecurityError");
}

TEST(Names, UserIdAndVersion) {
  EXPECT_FALSE(ValidateUserId(std::nullopt));
  EXPECT_FALSE(ValidateUserId(""));
  EXPECT_TRUE(ValidateUserId("_"));
  EXPECT_FALSE(ValidateUserId(std::string(65, 'a')));
  EXPECT_TRUE(ValidateVersion(9999).ok());
  EXPECT_EQ(ValidateVersion(10000).message(), "Version 10000 out of valid range [1, 9999]");
  EXPECT_EQ(ValidateVersion(1e21).message(), "Version 1e+21 out of valid range [1, 9999]");
  EXPECT_EQ(ValidateVersion(-0.0).message(), "Version 0 out of valid range [1, 9999]");
  EXPECT_EQ(ValidateVersion(nlohmann::json(nullptr)).message(),
            "Version must be an integer, got object");
  EXPECT_EQ(ValidateVersion(nlohmann::json(true)).message(),
            "Version must be an integer, got boolean");
  EXPECT_EQ(ValidateVersion(nlohmann::json(NAN)).message(),
            "Version must be an integer, got number");
}

TEST(Names, PosixPaths) {
  EXPECT_EQ(PosixNormalize(""), ".");
  EXPECT_EQ(PosixNormalize("a//b/./c/.."), "a/b");
  EXPECT_EQ(PosixNormalize("a/"), "a/");
  EXPECT_EQ(PosixNormalize("../a"), "../a");
  EXPECT_EQ(PosixNormalize("/../a"), "/a");
  EXPECT_EQ(PosixResolve("/cwd/x", "../y/"), "/cwd/y");
  EXPECT_EQ(PosixResolve("/cwd", ""), "/cwd");
  EXPECT_EQ(BuildMdaConfigFilePath("rel/dir", "m", "p", "/work"), "/work/rel/dir/m/p.mda");
  EXPECT_EQ(BuildMdaConfigFilePath("/", "m", "p"), "/m/p.mda");
}

}  // namespace
}  // namespace llmix::registry
