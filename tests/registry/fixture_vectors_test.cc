// Runs every case of the config_validation and registry golden vectors that belongs to the
// registry library, and prints per-function counts plus the list of cases tested elsewhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/clock.h"
#include "registry/errors.h"
#include "registry/fs_util.h"
#include "registry/mda.h"
#include "registry/names.h"
#include "registry/preset_schema.h"
#include "registry/publisher.h"
#include "registry/registry_root.h"
#include "registry/revision.h"
#include "registry/snapshot_loader.h"
#include "tests/registry/test_util.h"
#include "tests/support/fixtures.h"

namespace llmix::registry {
namespace {

using nlohmann::json;
using testing::ExpectLlmixError;
using testing::TempDir;

using Handler = std::function<void(const llmix::testing::FixtureCase&)>;

// Runs `handlers` over every case of `family`; cases whose fn is in `elsewhere` are skipped and
// listed. Fails on any fn without a handler.
void RunFamily(const std::string& family, const std::map<std::string, Handler>& handlers,
               const std::map<std::string, std::string>& elsewhere) {
  std::map<std::string, int> ran;
  std::vector<std::string> skipped;
  for (const auto& c : llmix::testing::LoadFixtureCases(family)) {
    std::string fn = c.input.value("fn", "");
    if (auto it = elsewhere.find(fn); it != elsewhere.end()) {
      skipped.push_back(c.name + " (" + it->second + ")");
      continue;
    }
    auto it = handlers.find(fn);
    if (it == handlers.end()) {
      ADD_FAILURE() << family << ": no handler for fn " << fn << " (case " << c.name << ")";
      continue;
    }
    SCOPED_TRACE(family + "/" + c.name);
    it->second(c);
    ++ran[fn];
  }
  std::cout << "[" << family << "] cases run per function:\n";
  for (const auto& [fn, n] : ran) std::cout << "  " << fn << ": " << n << "\n";
  std::cout << "[" << family << "] skipped (" << skipped.size() << "), tested elsewhere:\n";
  for (const auto& s : skipped) std::cout << "  " << s << "\n";
}

void NameCase(const std::function<absl::Status(std::string_view)>& fn,
              const llmix::testing::FixtureCase& c) {
  absl::Status s = fn(c.input.at("name").get<std::string>());
  if (c.expected.at("valid").template get<bool>()) {
    EXPECT_TRUE(s.ok()) << s;
  } else {
    ExpectLlmixError(s, c.expected.at("error"));
  }
}

std::vector<std::pair<std::string, std::string>> IssuePairs(const std::vector<SchemaIssue>& v) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& i : v) out.emplace_back(absl::StrJoin(i.path, "."), i.code);
  return out;
}

std::vector<std::pair<std::string, std::string>> ExpectedIssuePairs(const json& issues) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& i : issues) {
    std::vector<std::string> path;
    for (const auto& p : i.at("path"))
      path.push_back(p.is_string() ? p.get<std::string>() : p.dump());
    out.emplace_back(absl::StrJoin(path, "."), i.at("code").get<std::string>());
  }
  return out;
}

void SchemaCase(const llmix::testing::FixtureCase& c) {
  const json& config = c.input.at("config");
  absl::StatusOr<LlmConfig> parsed = ParseLlmConfig(config, Strictness::kStrict);
  if (c.expected.at("valid").template get<bool>()) {
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->raw, c.expected.at("parsed"));
    EXPECT_EQ(RenderLlmConfig(*parsed), c.expected.at("parsed"));
    EXPECT_TRUE(CheckLlmConfigSchema(config).empty());
    return;
  }
  auto expected = ExpectedIssuePairs(c.expected.at("issues"));
  EXPECT_EQ(IssuePairs(CheckLlmConfigSchema(config)), expected);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  for (const auto& [path, code] : expected) {
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), path + ": " + code))
        << parsed.status();
  }
}

// loadMdaConfig on a file whose front matter is `input.frontmatter` (written as YAML flow text).
void ProjectionCase(const llmix::testing::FixtureCase& c) {
  TempDir dir;
  const json& fm = c.input.at("frontmatter");
  std::string file = c.name + ".mda";
  dir.Write(file, "---\n" + fm.dump(2) + "\n---\n# Notes\n");
  absl::StatusOr<ProjectedPreset> loaded = LoadMdaPresetFile(dir.Sub(file));
  // Also straight from the parsed object.
  absl::StatusOr<ProjectedPreset> direct = ProjectMdaFrontMatter(fm, dir.Sub(file));
  if (c.expected.contains("config")) {
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_TRUE(direct.ok()) << direct.status();
    EXPECT_EQ(loaded->resolved, c.expected["config"]);
    EXPECT_EQ(direct->resolved, c.expected["config"]);
    EXPECT_EQ(RenderLlmConfig(loaded->config), c.expected["config"]);
    return;
  }
  ASSERT_FALSE(loaded.ok());
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(ErrorTypeName(loaded.status()).value_or(""), "InvalidConfigError");
  std::string rejected = c.expected.at("rejected").get<std::string>();
  if (rejected == "frontmatter_schema") {
    EXPECT_EQ(IssuePairs(CheckMdaPresetSchema(fm)), ExpectedIssuePairs(c.expected.at("issues")));
    EXPECT_TRUE(absl::StrContains(loaded.status().message(), dir.Sub(file)));
    return;
  }
  ASSERT_EQ(rejected, "projection");
  std::string message = absl::StrReplaceAll(c.expected["error"]["message"].get<std::string>(),
                                            {{"<DIR>", dir.path()}});
  EXPECT_TRUE(absl::StartsWith(loaded.status().message(), message)) << loaded.status();
  EXPECT_TRUE(absl::StartsWith(direct.status().message(), message)) << direct.status();
  EXPECT_TRUE(CheckMdaPresetSchema(fm).empty());
}

void LoadPathCase(const llmix::testing::FixtureCase& c) {
  TempDir dir;
  std::string path =
      absl::StrReplaceAll(c.input.at("path").get<std::string>(), {{"<DIR>", dir.path()}});
  if (c.expected.contains("error")) {
    ExpectLlmixError(CheckMdaPresetPath(path), c.expected["error"], "<DIR>", dir.path());
    ExpectLlmixError(LoadMdaPresetFile(path).status(), c.expected["error"], "<DIR>", dir.path());
    return;
  }
  std::string rel = path.substr(dir.path().size() + 1);
  dir.Write(rel,
            "---\nname: p\ndescription: D\nmetadata:\n  snoai-llmix:\n    common:\n"
            "      provider: openai\n      model: gpt-4o\n---\n");
  EXPECT_TRUE(CheckMdaPresetPath(path).ok());
  absl::StatusOr<ProjectedPreset> loaded = LoadMdaPresetFile(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
}

TEST(Vectors, ConfigValidation) {
  std::map<std::string, Handler> handlers = {
      {"validateModule", [](const auto& c) { NameCase(ValidateModule, c); }},
      {"validatePreset", [](const auto& c) { NameCase(ValidatePreset, c); }},
      {"validateScope", [](const auto& c) { NameCase(ValidateScope, c); }},
      {"validateUserId",
       [](const auto& c) {
         const json& id = c.input.contains("userId") ? c.input["userId"] : json();
         std::optional<std::string_view> arg;
         std::string holder;
         if (id.is_string()) {
           holder = id.template get<std::string>();
           arg = holder;
         }
         EXPECT_EQ(ValidateUserId(arg), c.expected.at("valid").template get<bool>());
       }},
      {"validateVersion",
       [](const auto& c) {
         absl::Status s = ValidateVersion(c.input.at("version"));
         if (c.expected.at("valid").template get<bool>()) {
           EXPECT_TRUE(s.ok()) << s;
         } else {
           ExpectLlmixError(s, c.expected.at("error"));
         }
       }},
      {"buildMdaConfigFilePath",
       [](const auto& c) {
         EXPECT_EQ(BuildMdaConfigFilePath(c.input.at("configDir").template get<std::string>(),
                                          c.input.at("module").template get<std::string>(),
                                          c.input.at("preset").template get<std::string>(), "/cwd"),
                   c.expected.at("path").template get<std::string>());
       }},
      {"LLMConfigSchema", SchemaCase},
      {"loadMdaConfig",
       [](const auto& c) {
         if (c.input.contains("frontmatter")) {
           ProjectionCase(c);
         } else {
           LoadPathCase(c);
         }
       }},
  };
  RunFamily("config_validation", handlers,
            {{"resolveStateDir", "common/env: tests/common/env_test.cc"},
             {"createFileLock", "LLM_GLOBAL_CONCURRENCY: outside registry"}});
}

// ---------------------------------------------------------------------------------------------
// registry family

void ValidOrError(const absl::Status& s, const json& expected) {
  if (expected.value("valid", false)) {
    EXPECT_TRUE(s.ok()) << s;
  } else {
    ExpectLlmixError(s, expected.at("error"));
  }
}

// Every file under `dir` (relative path -> bytes), recursively.
void ListTree(const std::string& dir, const std::string& rel,
              std::map<std::string, std::string>& out) {
  auto entries = ListDir(dir);
  ASSERT_TRUE(entries.ok()) << entries.status();
  for (const auto& e : *entries) {
    std::string child_rel = rel.empty() ? e.name : rel + "/" + e.name;
    if (e.type == EntryType::kDirectory) {
      ListTree(dir + "/" + e.name, child_rel, out);
    } else {
      out[child_rel] = *ReadFileBytes(dir + "/" + e.name);
    }
  }
}

// The fixtures' fake signer.
RegistryRootSigner FakeSigner() {
  return [](const RegistryRootSigningInput& in) -> absl::StatusOr<std::vector<json>> {
    return std::vector<json>{{{"signer", "did:web:signer.example"},
                              {"key-id", "key-1"},
                              {"payload-digest", in.integrity["digest"]},
                              {"algorithm", "ed25519"},
                              {"signature", "ZmFrZS1zaWduYXR1cmU="},
                              {"payload-type", in.payload_type}}};
  };
}

void ExpectManagerView(const std::string& root, const json& expected) {
  FakeClock clock;
  auto snapshot = LoadSnapshot(root, clock);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ((*snapshot)->revision, expected["activeRevision"]);
  std::vector<std::string> ids;
  for (const auto& [id, preset] : (*snapshot)->presets) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(json(ids), expected["presets"]);
  for (const auto& [id, config] : expected["configs"].items()) {
    const Preset* preset = (*snapshot)->Find(id);
    ASSERT_NE(preset, nullptr) << id;
    EXPECT_EQ(preset->config.raw, config) << id;
    EXPECT_EQ(RenderLlmConfig(preset->config), config) << id;
  }
}

void PublishCase(const llmix::testing::FixtureCase& c) {
  TempDir root;
  for (const auto& [path, source] : c.input.at("sources").items()) {
    std::string text = source.at("text").get<std::string>();
    root.Write(path, text);
    if (source.contains("frontmatter")) {
      auto doc = ParseMdaText(text, path);
      ASSERT_TRUE(doc.ok()) << doc.status();
      EXPECT_EQ(doc->front_matter, source["frontmatter"]) << path;
    }
  }
  FakeClock clock(absl::FromUnixMillis(c.input.at("nowMs").get<int64_t>()));
  PublishOptions options;
  const json& opts = c.input.at("options");
  if (opts.contains("revision")) options.revision = opts["revision"].get<std::string>();
  if (opts.value("registryRoot", false)) options.registry_root_signer = FakeSigner();
  RegistryPublisher publisher(root.path(), clock);
  absl::StatusOr<PublishResult> result = publisher.Publish(options);
  if (c.expected.contains("error")) {
    ExpectLlmixError(result.status(), c.expected["error"], "<ROOT>", root.path());
    return;
  }
  ASSERT_TRUE(result.ok()) << result.status();
  auto sub = [&](const json& v) {
    return absl::StrReplaceAll(v.get<std::string>(), {{"<ROOT>", root.path()}});
  };
  const json& r = c.expected.at("result");
  EXPECT_EQ(result->revision, r["revision"]);
  EXPECT_EQ(result->manifest_sha256, r["manifestSha256"]);
  EXPECT_EQ(result->activated, r["activated"].get<bool>());
  EXPECT_EQ(json(result->preset_ids), r["presetIds"]);
  EXPECT_EQ(result->compiled_path, sub(r["compiledPath"]));
  EXPECT_EQ(result->manifest_path, sub(r["manifestPath"]));
  EXPECT_FALSE(result->unchanged);
  if (r.contains("registryRootSha256")) {
    EXPECT_EQ(result->registry_root_sha256.value_or(""), r["registryRootSha256"]);
  } else {
    EXPECT_FALSE(result->registry_root_sha256.has_value());
  }

  std::map<std::string, std::string> tree;
  ListTree(root.path(), "", tree);
  std::vector<std::string> got_paths, want_paths;
  for (const auto& [path, bytes] : tree) got_paths.push_back(path);
  for (const auto& [path, file] : c.expected.at("tree").items()) want_paths.push_back(path);
  EXPECT_EQ(got_paths, want_paths);
  for (const auto& [path, file] : c.expected.at("tree").items()) {
    auto it = tree.find(path);
    if (it == tree.end()) continue;
    EXPECT_EQ(Sha256Hex(it->second), file["sha256"]) << path;
    if (file.contains("text")) {
      EXPECT_EQ(it->second, file["text"].get<std::string>()) << path;
    }
  }

  if (c.expected.contains("signingInput")) {
    const json& si = c.expected["signingInput"];
    auto manifest_json = ParseRegistryJsonObject(
        tree["compiled/" + result->revision + "/manifest.json"], "manifest.json");
    ASSERT_TRUE(manifest_json.ok());
    auto manifest = ParseManifest(*manifest_json, "manifest.json");
    ASSERT_TRUE(manifest.ok()) << manifest.status();
    auto payload = BuildRegistryRootPayload(*manifest, result->manifest_sha256);
    ASSERT_TRUE(payload.ok()) << payload.status();
    RegistryRootSigningInput in = MakeRegistryRootSigningInput(*payload);
    EXPECT_EQ(in.canonical_payload, si["canonicalPayload"].get<std::string>());
    EXPECT_EQ(in.payload_sha256, si["payloadSha256"]);
    EXPECT_EQ(in.integrity, si["integrity"]);
    EXPECT_EQ(in.payload_type, si["payloadType"]);
  }
  if (c.expected.value("envelopeRoundTrip", false)) {
    std::string rel = "compiled/" + result->revision + "/registry-root.json";
    auto envelope = ParseRegistryJsonObject(tree[rel], rel);
    ASSERT_TRUE(envelope.ok());
    auto parsed = ParseRegistryRootEnvelope(*envelope, rel);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(RegistryJsonText(*parsed), tree[rel]);
  }
  if (c.expected.contains("manager")) ExpectManagerView(root.path(), c.expected["manager"]);
}

// "publish hrkg/extraction as r1, then change 0.2 -> 0.3 inside compiled/r1/resolved/..."
void TamperedResolvedCase(const llmix::testing::FixtureCase& c) {
  json text;
  for (const auto& other : llmix::testing::LoadFixtureCases("registry")) {
    if (other.name == "publish_ignores_non_mda_files") {
      text = other.input["sources"]["source/hrkg/extraction.mda"]["text"];
    }
  }
  ASSERT_TRUE(text.is_string());
  TempDir root;
  root.Write("source/hrkg/extraction.mda", text.get<std::string>());
  FakeClock clock(absl::FromUnixMillis(1772600767890));
  PublishOptions options;
  options.revision = "r1";
  auto published = RegistryPublisher(root.path(), clock).Publish(options);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->manifest_sha256, c.expected["manifestSha256"]);
  std::string rel = "compiled/r1/resolved/hrkg/extraction.json";
  std::string resolved = root.Read(rel);
  ASSERT_NE(resolved.find("0.2"), std::string::npos);
  resolved.replace(resolved.find("0.2"), 3, "0.3");
  root.Write(rel, resolved);
  ExpectLlmixError(LoadSnapshot(root.path(), clock).status(), c.expected["error"], "<ROOT>",
                   root.path());
}

TEST(Vectors, Registry) {
  std::map<std::string, Handler> handlers = {
      {"compareRevision",
       [](const auto& c) {
         std::string l = c.input["left"], r = c.input["right"];
         EXPECT_EQ(CompareRevision(l, r).value_or(99),
                   c.expected["comparison"].template get<int>());
         EXPECT_EQ(CompareRevision(r, l).value_or(99), c.expected["reverse"].template get<int>());
       }},
      {"validateRevision",
       [](const auto& c) {
         ValidOrError(ValidateRevision(c.input["revision"].template get<std::string>()),
                      c.expected);
       }},
      {"validateRegistryArtifactPath",
       [](const auto& c) {
         ValidOrError(
             ValidateRegistryArtifactPath(c.input["path"].template get<std::string>(),
                                          c.input["label"].template get<std::string>(),
                                          c.input["sourcePath"].template get<std::string>()),
             c.expected);
       }},
      {"currentPointerSha256",
       [](const auto& c) {
         CurrentPointer p{c.input["revision"], c.input["manifestSha256"]};
         EXPECT_EQ(CurrentPointerText(p), c.expected["canonicalText"].template get<std::string>());
         EXPECT_EQ(CurrentPointerSha256(p), c.expected["sha256"].template get<std::string>());
       }},
      {"parseCurrentPointer",
       [](const auto& c) {
         auto parsed = ParseCurrentPointer(c.input["value"], "current.json");
         if (c.expected.contains("error")) {
           ExpectLlmixError(parsed.status(), c.expected["error"]);
           return;
         }
         ASSERT_TRUE(parsed.ok()) << parsed.status();
         json got = {
             {"revision", parsed->revision},
             {"manifestSha256", parsed->manifest_sha256.has_value() ? json(*parsed->manifest_sha256)
                                                                    : json(nullptr)}};
         EXPECT_EQ(got, c.expected["parsed"]);
       }},
      {"parseManifest",
       [](const auto& c) {
         auto parsed = ParseManifest(c.input["value"], "manifest.json");
         if (c.expected.contains("error")) {
           ExpectLlmixError(parsed.status(), c.expected["error"]);
           return;
         }
         ASSERT_TRUE(parsed.ok()) << parsed.status();
         EXPECT_EQ(ManifestToJson(*parsed), c.expected["parsed"]);
         EXPECT_EQ(ManifestText(*parsed), c.expected["canonicalText"].template get<std::string>());
       }},
      {"ConfigRegistryPublisher.publish", PublishCase},
      {"ConfigRegistryManager.open", TamperedResolvedCase},
      {"parseLlmixTrustManifest+registryRootOptionsFromTrustManifest",
       [](const auto& c) {
         auto parsed = ParseTrustManifest(c.input["value"], "trust.json");
         if (c.expected.contains("error")) {
           ExpectLlmixError(parsed.status(), c.expected["error"]);
           return;
         }
         ASSERT_TRUE(parsed.ok()) << parsed.status();
         EXPECT_EQ(TrustManifestToJson(*parsed), c.expected["parsed"]);
         auto options = RegistryRootOptionsFromTrustManifest(*parsed);
         ASSERT_TRUE(options.ok()) << options.status();
         EXPECT_EQ(RegistryRootOptionsToJson(*options), c.expected["rootOptions"]);
       }},
  };
  RunFamily("registry", handlers, {});
}

}  // namespace
}  // namespace llmix::registry
