#include "registry/root_signature.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/clock.h"
#include "registry/publisher.h"
#include "registry/snapshot_loader.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace llmix::registry {
namespace {

using testing::TempDir;
using testing::WriteFile;

class RootSignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.File("llm/source/demo"));
    WriteFile(dir_.File("llm/source/demo/hello.mda"),
              "---\nname: hello\ndescription: d\nmetadata:\n  snoai-llmix:\n    common:\n"
              "      provider: openai\n      model: gpt-4o-mini\n---\nbody\n");
    ed_ = testing::WriteTestKeyPair(dir_.path(), "ed", "ED25519");
    ec_ = testing::WriteTestKeyPair(dir_.path(), "ec", "P-256");
    other_ = testing::WriteTestKeyPair(dir_.path(), "other", "ED25519");
  }

  absl::StatusOr<PublishResult> Publish(const std::string& revision,
                                        const std::vector<std::string>& sign_specs) {
    PublishOptions options;
    options.revision = revision;
    std::vector<RegistryRootSigner> signers;
    for (const auto& spec : sign_specs) {
      auto key = LoadRootKey(spec, true);
      if (!key.ok()) return key.status();
      signers.push_back(MakeRootSigner(*key, "did:web:test"));
    }
    if (!signers.empty()) {
      options.registry_root_signer = [signers](const RegistryRootSigningInput& in)
          -> absl::StatusOr<std::vector<nlohmann::json>> {
        std::vector<nlohmann::json> all;
        for (const auto& s : signers) {
          auto sigs = s(in);
          if (!sigs.ok()) return sigs.status();
          all.insert(all.end(), sigs->begin(), sigs->end());
        }
        return all;
      };
    }
    return RegistryPublisher(dir_.File("llm"), clock_).Publish(options);
  }

  RootTrustOptions Trust(const std::vector<std::string>& specs, int min = 1) {
    RootTrustOptions t;
    t.min_signatures = min;
    for (const auto& spec : specs) t.trusted_keys.push_back(*LoadRootKey(spec, false));
    return t;
  }

  TempDir dir_;
  SystemClock clock_;
  testing::PemKeyFiles ed_, ec_, other_;
};

TEST_F(RootSignatureTest, SignedRevisionLoadsWithTheTrustedKey) {
  ASSERT_TRUE(Publish("r1", {"k-ed=" + ed_.private_pem}).ok());
  RootTrustOptions trust = Trust({"k-ed=" + ed_.public_pem});
  auto snap = LoadSnapshot(dir_.File("llm"), clock_, &trust);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ((*snap)->revision, "r1");
}

TEST_F(RootSignatureTest, EcdsaP256AndMultipleSignatures) {
  ASSERT_TRUE(Publish("r1", {"k-ed=" + ed_.private_pem, "k-ec=" + ec_.private_pem}).ok());
  RootTrustOptions both = Trust({"k-ed=" + ed_.public_pem, "k-ec=" + ec_.public_pem}, 2);
  EXPECT_TRUE(LoadSnapshot(dir_.File("llm"), clock_, &both).ok());
  RootTrustOptions only_ec = Trust({"k-ec=" + ec_.public_pem}, 2);
  auto refused = LoadSnapshot(dir_.File("llm"), clock_, &only_ec);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("1 valid signature(s)"), std::string::npos)
      << refused.status();
}

TEST_F(RootSignatureTest, WrongKeyUnsignedAndTamperedRevisionsAreRefused) {
  ASSERT_TRUE(Publish("r1", {"k-ed=" + ed_.private_pem}).ok());
  // A different key published under the trusted key's id.
  RootTrustOptions impostor = Trust({"k-ed=" + other_.public_pem});
  EXPECT_FALSE(LoadSnapshot(dir_.File("llm"), clock_, &impostor).ok());

  RootTrustOptions trust = Trust({"k-ed=" + ed_.public_pem});
  const std::string root_file = dir_.File("llm/compiled/r1/registry-root.json");
  const std::string good = testing::ReadFile(root_file);
  nlohmann::json env = nlohmann::json::parse(good);
  std::string sig = env["signatures"][0]["signature"];
  sig[2] = sig[2] == 'A' ? 'B' : 'A';
  env["signatures"][0]["signature"] = sig;
  WriteFile(root_file, env.dump(2) + "\n");
  EXPECT_FALSE(LoadSnapshot(dir_.File("llm"), clock_, &trust).ok());
  WriteFile(root_file, good);
  EXPECT_TRUE(LoadSnapshot(dir_.File("llm"), clock_, &trust).ok());

  // A new unsigned revision.
  WriteFile(dir_.File("llm/source/demo/hello.mda"),
            "---\nname: hello\ndescription: d\nmetadata:\n  snoai-llmix:\n    common:\n"
            "      provider: openai\n      model: evil\n---\nbody\n");
  ASSERT_TRUE(Publish("r2", {}).ok());
  auto unsigned_load = LoadSnapshot(dir_.File("llm"), clock_, &trust);
  ASSERT_FALSE(unsigned_load.ok());
  EXPECT_NE(unsigned_load.status().message().find("not signed"), std::string::npos);
}

TEST_F(RootSignatureTest, MinimumRevisionRefusesRollback) {
  ASSERT_TRUE(Publish("r9", {}).ok());
  RootTrustOptions trust;
  trust.minimum_revision = "r10";
  auto old = LoadSnapshot(dir_.File("llm"), clock_, &trust);
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("older than the minimum revision r10"), std::string::npos);
  trust.minimum_revision = "r9";
  EXPECT_TRUE(LoadSnapshot(dir_.File("llm"), clock_, &trust).ok());
}

TEST_F(RootSignatureTest, TrustManifestHighWatermarkAndPublishedAt) {
  auto manifest = [&](const char* min_rev, const char* watermark, const char* min_published) {
    nlohmann::json m = {
        {"version", 1},
        {"kind", "llmix-trust-manifest"},
        {"expectedRootDigest", "sha256:" + std::string(64, 'a')},
        {"sourceSetDigest", "sha256:" + std::string(64, 'b')},
        {"releasePlanDigest", "sha256:" + std::string(64, 'c')},
        {"registryRootTrustPolicy", {{"signers", nlohmann::json::array()}}},
        {"rekorPolicy", nullptr},
        {"minimumRevision", min_rev ? nlohmann::json(min_rev) : nlohmann::json()},
        {"minimumPublishedAt", min_published ? nlohmann::json(min_published) : nlohmann::json()},
        {"highWatermark", watermark ? nlohmann::json(watermark) : nlohmann::json()},
        {"registryRootSignerIdentity", "did:web:x"},
        {"registryRoot",
         {{"path", "compiled/r10/registry-root.json"},
          {"revision", "r10"},
          {"publishedAt", "2026-01-01T00:00:00Z"},
          {"highWatermark", "r10"}}},
        {"releasePlan", {{"path", "plan.json"}, {"sourceCount", 1}}}};
    WriteFile(dir_.File("trust.json"), m.dump());
    return dir_.File("trust.json");
  };
  ASSERT_TRUE(Publish("r9", {}).ok());
  // The watermark (r10) is later than minimumRevision (r5): r9 is a rollback.
  RootTrustOptions trust;
  ASSERT_TRUE(ApplyTrustManifest(manifest("r5", "r10", nullptr), &trust).ok());
  EXPECT_EQ(trust.minimum_revision, "r10");
  auto refused = LoadSnapshot(dir_.File("llm"), clock_, &trust);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("older than the minimum revision r10"),
            std::string::npos);

  RootTrustOptions by_time;
  ASSERT_TRUE(ApplyTrustManifest(manifest("r1", nullptr, "2999-01-01T00:00:00Z"), &by_time).ok());
  auto too_old = LoadSnapshot(dir_.File("llm"), clock_, &by_time);
  ASSERT_FALSE(too_old.ok());
  EXPECT_NE(too_old.status().message().find("minimumPublishedAt"), std::string::npos);

  RootTrustOptions ok;
  ASSERT_TRUE(ApplyTrustManifest(manifest("r1", "r9", "2000-01-01T00:00:00Z"), &ok).ok());
  EXPECT_TRUE(LoadSnapshot(dir_.File("llm"), clock_, &ok).ok());

  WriteFile(dir_.File("bad.json"), R"({"version":1})");
  RootTrustOptions bad;
  EXPECT_FALSE(ApplyTrustManifest(dir_.File("bad.json"), &bad).ok());
}

TEST(RootKeys, BadSpecsAreClearErrors) {
  EXPECT_NE(LoadRootKey("nokeyid", false).status().message().find("KEY_ID=PATH"),
            std::string::npos);
  EXPECT_FALSE(LoadRootKey("k=/nonexistent.pem", false).ok());
  TempDir dir;
  WriteFile(dir.File("junk.pem"), "not a key");
  EXPECT_NE(LoadRootKey("k=" + dir.File("junk.pem"), false).status().message().find("no PEM"),
            std::string::npos);
}

}  // namespace
}  // namespace llmix::registry
