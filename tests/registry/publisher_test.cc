// Publish -> load round trips on a real temp directory, and every way a reload can fail.
#include "registry/publisher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "common/clock.h"
#include "registry/errors.h"
#include "registry/fs_util.h"
#include "registry/snapshot_loader.h"
#include "tests/registry/test_util.h"

namespace llmix::registry {
namespace {

using testing::TempDir;

std::string PresetText(const std::string& model, const std::string& extra_metadata = "") {
  return "---\nname: p\ndescription: Test preset\nmetadata:\n  snoai-llmix:\n    common:\n"
         "      provider: openai\n      model: " +
         model + "\n      temperature: 0.2\n" + extra_metadata + "---\n# Notes\n";
}

class PublisherTest : public ::testing::Test {
 protected:
  PublisherTest() : clock_(absl::FromUnixMillis(1772600767890)) {}

  absl::StatusOr<PublishResult> Publish(PublishOptions options = {}) {
    return RegistryPublisher(root_.path(), clock_).Publish(options);
  }
  absl::StatusOr<std::shared_ptr<const Snapshot>> Load() {
    return LoadSnapshot(root_.path(), clock_);
  }
  std::string Current() { return root_.Read("current.json"); }

  TempDir root_;
  FakeClock clock_;
};

TEST_F(PublisherTest, RoundTripWithSidecarSettings) {
  root_.Write("source/hrkg/extraction.mda",
              PresetText("gpt-4o", "  llmix-sidecar:\n    baseUrl: http://127.0.0.1:8080/v1\n"));
  root_.Write("source/_default/_base.mda", PresetText("gpt-4o-mini"));
  root_.Write("source/hrkg/notes.txt", "ignored\n");
  root_.Write("source/README.md", "not a module\n");
  auto published = Publish();
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision.substr(0, 21), "2026-03-04T05-06-07Z_");
  EXPECT_EQ(published->preset_ids, (std::vector<std::string>{"_default/_base", "hrkg/extraction"}));

  clock_.Advance(absl::Seconds(3));
  auto snapshot = Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ((*snapshot)->revision, published->revision);
  EXPECT_EQ((*snapshot)->manifest_sha256, published->manifest_sha256);
  EXPECT_EQ((*snapshot)->published_at, "2026-03-04T05:06:07.890Z");
  EXPECT_EQ((*snapshot)->loaded_at, clock_.Wall());
  const Preset* p = (*snapshot)->Find("hrkg/extraction");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->config.model, "gpt-4o");
  EXPECT_EQ(p->config.common.temperature, 0.2);
  EXPECT_EQ(p->sidecar.base_url, "http://127.0.0.1:8080/v1");
  EXPECT_EQ(p->base_url, "http://127.0.0.1:8080/v1");
  EXPECT_EQ(p->source_path, "source/hrkg/extraction.mda");
  // The sidecar namespace never reaches the LLMix config (and so never a cache key).
  EXPECT_FALSE(p->config.raw.contains("baseUrl"));
  EXPECT_FALSE(p->config.base_url.has_value());
  EXPECT_FALSE((*snapshot)->Find("_default/_base")->sidecar.base_url.has_value());
}

TEST_F(PublisherTest, ModelMapIsResolvedWhenTheSnapshotIsLoaded) {
  const std::string map =
      "  llmix-sidecar:\n    modelMap:\n      openai: {strong: gpt-4o}\n"
      "      anthropic: {strong: claude-sonnet-4-5}\n"
      "    fallback:\n      targets:\n        - {provider: anthropic, model: \"@strong\"}\n";
  root_.Write("source/m/tiered.mda", PresetText("\"@strong\"", map));
  root_.Write("source/m/concrete.mda", PresetText("gpt-4o"));
  auto published = Publish();
  ASSERT_TRUE(published.ok()) << published.status();
  // The published LLMix projection keeps "@strong"; the sidecar's snapshot has the model.
  EXPECT_NE(
      root_.Read("compiled/" + published->revision + "/resolved/m/tiered.json").find("\"@strong\""),
      std::string::npos);
  auto snapshot = Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const Preset* tiered = (*snapshot)->Find("m/tiered");
  ASSERT_NE(tiered, nullptr);
  EXPECT_EQ(tiered->config.model, "gpt-4o");
  EXPECT_EQ(tiered->config.raw, (*snapshot)->Find("m/concrete")->config.raw);
  ASSERT_EQ(tiered->sidecar.fallback.size(), 1u);
  EXPECT_EQ(tiered->sidecar.fallback[0].config.model, "claude-sonnet-4-5");
  EXPECT_EQ(tiered->sidecar.fallback[0].config.raw["model"], "claude-sonnet-4-5");
}

TEST_F(PublisherTest, SemanticCacheEmbeddingPresetMustBeInTheRevision) {
  const std::string sc =
      "    caching: {strategy: memory}\n"
      "  llmix-sidecar:\n    semanticCache: {embeddingPreset: emb/small}\n";
  root_.Write("source/m/chat.mda", PresetText("gpt-4o", sc));
  // Publishing writes the revision; every sidecar then refuses to load it (and `activate`,
  // which loads a revision before switching to it, refuses it too).
  ASSERT_TRUE(Publish().ok());
  auto dangling = Load();
  ASSERT_FALSE(dangling.ok());
  EXPECT_TRUE(absl::StrContains(dangling.status().message(),
                                "semanticCache.embeddingPreset: preset \"emb/small\" is not in "
                                "revision"))
      << dangling.status();

  root_.Write("source/emb/small.mda", PresetText("text-embedding-3-small"));
  auto published = Publish();
  ASSERT_TRUE(published.ok()) << published.status();
  auto snapshot = Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ((*snapshot)->Find("m/chat")->sidecar.semantic_cache->embedding_preset, "emb/small");
}

TEST_F(PublisherTest, IdempotentWhenNothingChanged) {
  root_.Write("source/m/p.mda", PresetText("a"));
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  std::string current = Current();
  clock_.Advance(absl::Seconds(61));
  auto second = Publish();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->unchanged);
  EXPECT_EQ(second->revision, first->revision);
  EXPECT_EQ(Current(), current);
  auto compiled = ListDir(root_.Sub("compiled"));
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ(compiled->size(), 2u);  // the revision + .staging

  root_.Write("source/m/p.mda", PresetText("b"));
  auto third = Publish();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE(third->unchanged);
  EXPECT_NE(third->revision, first->revision);
  auto snapshot = Load();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ((*snapshot)->revision, third->revision);
  EXPECT_EQ((*snapshot)->Find("m/p")->config.model, "b");
}

TEST_F(PublisherTest, ExplicitRevisionRepublishAndConflict) {
  root_.Write("source/m/p.mda", PresetText("a"));
  PublishOptions options;
  options.revision = "r1";
  ASSERT_TRUE(Publish(options).ok());
  clock_.Advance(absl::Seconds(1));  // different published_at, same presets: accepted
  auto again = Publish(options);
  ASSERT_TRUE(again.ok()) << again.status();
  root_.Write("source/m/p.mda", PresetText("b"));
  auto conflict = Publish(options);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.status().message(),
            "Registry revision already exists with different contents: r1");
  auto staging = ListDir(root_.Sub("compiled/.staging"));
  ASSERT_TRUE(staging.ok());
  EXPECT_TRUE(staging->empty());
}

TEST_F(PublisherTest, NoActivateThenActivate) {
  root_.Write("source/m/p.mda", PresetText("a"));
  PublishOptions r1;
  r1.revision = "r1";
  ASSERT_TRUE(Publish(r1).ok());
  std::string current = Current();
  root_.Write("source/m/p.mda", PresetText("b"));
  PublishOptions r2;
  r2.revision = "r2";
  r2.activate = false;
  auto published = Publish(r2);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_FALSE(published->activated);
  EXPECT_EQ(Current(), current);
  EXPECT_EQ((*Load())->revision, "r1");

  RegistryPublisher publisher(root_.path(), clock_);
  ASSERT_TRUE(publisher.Activate("r2").ok());
  EXPECT_EQ((*Load())->revision, "r2");
  EXPECT_EQ((*Load())->Find("m/p")->config.model, "b");
  ASSERT_TRUE(publisher.Activate("r1").ok());  // rollback
  EXPECT_EQ((*Load())->revision, "r1");

  absl::Status missing = publisher.Activate("r9");
  EXPECT_EQ(ErrorTypeName(missing).value_or(""), "ConfigNotFoundError");
  EXPECT_EQ(ErrorTypeName(publisher.Activate("../x")).value_or(""), "SecurityError");

  // A damaged revision is refused and current.json is left alone.
  root_.Write("compiled/r2/resolved/m/p.json", "{}\n");
  absl::Status damaged = publisher.Activate("r2");
  EXPECT_TRUE(absl::StrContains(damaged.message(), "Checksum mismatch")) << damaged;
  EXPECT_EQ((*Load())->revision, "r1");
}

TEST_F(PublisherTest, InvalidPresetNamesFileLineAndFieldAndWritesNothing) {
  root_.Write("source/m/good.mda", PresetText("a"));
  root_.Write("source/m/bad.mda",
              "---\nname: p\ndescription: D\nmetadata:\n  snoai-llmix:\n    common:\n"
              "      provider: openai\n      model: m\n      topP: 3\n---\n");
  auto published = Publish();
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.status().message(),
            "MDA front matter validation failed for " + root_.Sub("source/m/bad.mda") +
                ":\n  - line 9: metadata.snoai-llmix.common.topP: too_big: Too big: expected "
                "number to be <=1");
  EXPECT_FALSE(PathExists(root_.Sub("current.json")));
  EXPECT_FALSE(PathExists(root_.Sub("compiled")));
}

TEST_F(PublisherTest, SourceTreeRules) {
  EXPECT_EQ(ErrorTypeName(Publish().status()).value_or(""), "ConfigNotFoundError");
  ASSERT_TRUE(MakeDirs(root_.Sub("source/m")).ok());
  auto empty = Publish();
  EXPECT_EQ(empty.status().message(), "No source presets found under " + root_.Sub("source"));
  root_.Write("source/m/Upper.MDA", PresetText("a"));
  EXPECT_EQ(Publish().status().message(),
            "Invalid preset format: Upper. Must be '_base*' or start with lowercase letter and "
            "contain only lowercase letters, numbers, and underscores");
  ASSERT_TRUE(RemoveAll(root_.Sub("source/m/Upper.MDA")).ok());
  root_.Write("source/m/lower.MDA", PresetText("a"));
  auto published = Publish();
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_TRUE(PathExists(published->compiled_path + "/source/m/lower.mda"));
  root_.Write("source/m/old.yaml", "a: 1\n");
  EXPECT_EQ(
      Publish().status().message(),
      "Legacy YAML source presets are not supported; use .mda: " + root_.Sub("source/m/old.yaml"));
}

class LoaderFailureTest : public PublisherTest {
 protected:
  void SetUp() override {
    root_.Write("source/m/p.mda", PresetText("a"));
    PublishOptions options;
    options.revision = "r1";
    auto published = Publish(options);
    ASSERT_TRUE(published.ok()) << published.status();
    manifest_sha_ = published->manifest_sha256;
  }
  void ExpectLoadError(const std::string& type, const std::string& message) {
    auto snapshot = Load();
    ASSERT_FALSE(snapshot.ok());
    EXPECT_EQ(ErrorTypeName(snapshot.status()).value_or(""), type);
    EXPECT_EQ(snapshot.status().message(), message);
  }
  std::string manifest_sha_;
};

TEST_F(LoaderFailureTest, TornCurrentJson) {
  root_.Write("current.json", "{\n  \"manifest_sha256\": \"" + manifest_sha_.substr(0, 10));
  auto snapshot = Load();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(ErrorTypeName(snapshot.status()).value_or(""), "InvalidConfigError");
  EXPECT_TRUE(absl::StartsWith(snapshot.status().message(),
                               "Invalid JSON in registry file " + root_.Sub("current.json") + ": "))
      << snapshot.status();
  root_.Write("current.json", "[]");
  ExpectLoadError("InvalidConfigError",
                  "Registry file must contain a JSON object: " + root_.Sub("current.json"));
}

TEST_F(LoaderFailureTest, ManifestHashMismatch) {
  std::string manifest = root_.Read("compiled/r1/manifest.json");
  manifest.replace(manifest.find("2026-03-04T05:06:07.890Z"), 4, "2027");
  root_.Write("compiled/r1/manifest.json", manifest);
  ExpectLoadError("InvalidConfigError", "Checksum mismatch for Config Registry artifact " +
                                            root_.Sub("compiled/r1/manifest.json"));
}

TEST_F(LoaderFailureTest, SourceHashMismatch) {
  root_.Write("compiled/r1/source/m/p.mda", PresetText("x"));
  ExpectLoadError("InvalidConfigError", "Checksum mismatch for Config Registry artifact " +
                                            root_.Sub("compiled/r1/source/m/p.mda"));
}

TEST_F(LoaderFailureTest, MissingFile) {
  ASSERT_TRUE(RemoveAll(root_.Sub("compiled/r1/resolved/m/p.json")).ok());
  ExpectLoadError("ConfigNotFoundError", "Required registry file not found: " +
                                             root_.Sub("compiled/r1/resolved/m/p.json"));
  ASSERT_TRUE(RemoveAll(root_.Sub("current.json")).ok());
  ExpectLoadError("ConfigNotFoundError",
                  "Required registry file not found: " + root_.Sub("current.json"));
}

TEST_F(LoaderFailureTest, MissingRevision) {
  root_.Write("current.json", CurrentPointerText({"r7", manifest_sha_}));
  ExpectLoadError("ConfigNotFoundError",
                  "Config Registry compiled revision not found: " + root_.Sub("compiled/r7"));
  root_.Write("current.json", "{\"revision\": \"../r1\"}");
  ExpectLoadError("SecurityError", "Invalid registry revision: \"../r1\"");
}

TEST_F(LoaderFailureTest, PointerWithoutManifestDigest) {
  root_.Write("current.json", "{\"revision\": \"r1\"}");
  auto snapshot = Load();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ((*snapshot)->manifest_sha256, manifest_sha_);
}

// Rewrites a compiled artifact and re-seals the manifest and current.json around it, so only
// the content check can catch it.
void Reseal(TempDir& root, const std::string& rel, const std::string& bytes, bool resolved) {
  root.Write("compiled/r1/" + rel, bytes);
  auto manifest_json = ParseRegistryJsonObject(root.Read("compiled/r1/manifest.json"), "m");
  ASSERT_TRUE(manifest_json.ok());
  auto manifest = ParseManifest(*manifest_json, "m");
  ASSERT_TRUE(manifest.ok());
  ManifestEntry& e = manifest->presets["m/p"];
  (resolved ? e.resolved_sha256 : e.source_sha256) = Sha256Hex(bytes);
  std::string text = ManifestText(*manifest);
  root.Write("compiled/r1/manifest.json", text);
  root.Write("current.json", CurrentPointerText({"r1", Sha256Hex(text)}));
}

TEST_F(LoaderFailureTest, InvalidResolvedPresetNamesFileAndField) {
  Reseal(root_, "resolved/m/p.json",
         "{\"provider\": \"openai\", \"model\": \"a\", \"common\": {\"temp\": 1}}", true);
  ExpectLoadError("InvalidConfigError", "Schema validation failed for " +
                                            root_.Sub("compiled/r1/resolved/m/p.json") +
                                            ":\n  - common: Unrecognized key: \"temp\"");
  Reseal(root_, "resolved/m/p.json", "{\"model\": \"a\"}", true);
  ExpectLoadError("InvalidConfigError", "Missing required field 'provider' in resolved config " +
                                            root_.Sub("compiled/r1/resolved/m/p.json"));
}

TEST_F(LoaderFailureTest, InvalidSidecarNamespaceInSource) {
  Reseal(root_, "source/m/p.mda", PresetText("a", "  llmix-sidecar:\n    tier: 1\n"), false);
  ExpectLoadError("InvalidConfigError",
                  "Invalid metadata.llmix-sidecar in " + root_.Sub("compiled/r1/source/m/p.mda") +
                      ":\n  - line 10: metadata.llmix-sidecar: unrecognized_keys: Unrecognized "
                      "key: \"tier\"");
}

TEST_F(LoaderFailureTest, UnresolvableTierInSource) {
  Reseal(root_, "source/m/p.mda",
         PresetText("a", "  llmix-sidecar:\n    modelMap:\n      openai: {strong: gpt-4o}\n"),
         false);
  // "a" is no @name: untouched.
  ASSERT_TRUE(Load().ok());
  Reseal(root_, "resolved/m/p.json",
         "{\"provider\":\"openai\",\"model\":\"@weak\",\"description\":\"Test preset\"}", true);
  ExpectLoadError("InvalidConfigError",
                  root_.Sub("compiled/r1/source/m/p.mda") +
                      ": metadata.snoai-llmix.common.model: \"@weak\" has no modelMap entry for "
                      "provider \"openai\"");
}

TEST_F(LoaderFailureTest, SymlinkEscapingTheRevisionIsRefused) {
  TempDir outside;
  outside.Write("p.json", root_.Read("compiled/r1/resolved/m/p.json"));
  ASSERT_TRUE(RemoveAll(root_.Sub("compiled/r1/resolved/m/p.json")).ok());
  ASSERT_EQ(
      ::symlink(outside.Sub("p.json").c_str(), root_.Sub("compiled/r1/resolved/m/p.json").c_str()),
      0);
  auto snapshot = Load();
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(ErrorTypeName(snapshot.status()).value_or(""), "SecurityError");
  EXPECT_TRUE(absl::StartsWith(snapshot.status().message(), "Path traversal detected: "));
}

}  // namespace
}  // namespace llmix::registry
