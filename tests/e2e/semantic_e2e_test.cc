// The semantic cache through the real binary: a chat preset with
// metadata.llmix-sidecar.semanticCache embeds the last user message with an embeddings preset
// (the sidecar's own Embed path, against a fake embeddings provider scripted with chosen
// vectors) and serves a similar prompt the cached answer: cache_hit SEMANTIC with the
// similarity, no second chat request upstream; a dissimilar prompt goes upstream.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "absl/strings/str_replace.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/process.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::llmix::sidecar::v1;
using nlohmann::json;

// An OpenAI /embeddings answer carrying `vector` for the one input.
FakeReply EmbeddingReply(const std::vector<double>& vector) {
  FakeReply r;
  r.raw_body = json{{"object", "list"},
                    {"data", json::array({json{{"object", "embedding"},
                                               {"index", 0},
                                               {"embedding", vector}}})},
                    {"model", "text-embedding-3-small"},
                    {"usage", {{"prompt_tokens", 5}, {"total_tokens", 5}}}}
                   .dump();
  return r;
}

v1::CallRequest Ask(const std::string& text) {
  v1::CallRequest req;
  req.set_preset("sem/ask");
  auto* m = req.add_messages();
  m->set_role("user");
  m->set_text(text);
  return req;
}

TEST(SemanticE2E, SimilarPromptIsServedFromTheSemanticCache) {
  FakeOpenAi chat;
  FakeOpenAi embeddings;
  TempDir dir;
  const std::string root = dir.File("llm");
  fs::create_directories(root + "/source/sem");
  WriteFile(root + "/source/sem/ask.mda", absl::StrReplaceAll(R"(---
name: ask
description: Answers with a semantic cache.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: gpt-4o-mini
      temperature: 0
    caching:
      strategy: memory
  llmix-sidecar:
    baseUrl: BASE
    semanticCache:
      embeddingPreset: sem/embed
      threshold: 0.9
---
)",
                                                               {{"BASE", chat.base_url()}}));
  WriteFile(root + "/source/sem/embed.mda", absl::StrReplaceAll(R"(---
name: embed
description: Embeddings for the semantic cache.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: text-embedding-3-small
  llmix-sidecar:
    baseUrl: BASE
---
)",
                                                                 {{"BASE", embeddings.base_url()}}));
  CommandResult published = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
  SidecarProcess sidecar({"--registry", root, "--max-retries", "0"},
                         {{"OPENAI_API_KEY", "sk-semantic-e2e-0001"}});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();

  FakeReply paris;
  paris.content = "Paris.";
  chat.Enqueue(paris);
  embeddings.Enqueue(EmbeddingReply({1, 0, 0, 0}));
  v1::CallResponse first;
  ASSERT_TRUE(sidecar.Call(Ask("What is the capital of France?"), &first).ok());
  ASSERT_TRUE(first.success()) << first.error().message();
  EXPECT_EQ(first.cache_hit(), v1::CACHE_TIER_NONE);
  EXPECT_FALSE(first.has_semantic_similarity());
  ASSERT_EQ(chat.RequestCount(), 1u);
  ASSERT_EQ(embeddings.RequestCount(), 1u);
  EXPECT_EQ(embeddings.Requests()[0].path, "/v1/embeddings");
  EXPECT_EQ(embeddings.Requests()[0].json["input"],
            json::array({"What is the capital of France?"}));

  // cos([1,0,0,0], [0.99,0.1,0,0]) = 0.99 / |(0.99,0.1)| ~= 0.99493
  embeddings.Enqueue(EmbeddingReply({0.99, 0.1, 0, 0}));
  v1::CallResponse similar;
  ASSERT_TRUE(sidecar.Call(Ask("what's the capital of France"), &similar).ok());
  ASSERT_TRUE(similar.success()) << similar.error().message();
  EXPECT_EQ(similar.cache_hit(), v1::CACHE_TIER_SEMANTIC);
  EXPECT_EQ(similar.content(), "Paris.");
  ASSERT_TRUE(similar.has_semantic_similarity());
  EXPECT_NEAR(similar.semantic_similarity(), 0.99 / std::sqrt(0.99 * 0.99 + 0.01), 1e-4);
  EXPECT_EQ(chat.RequestCount(), 1u);  // served without the chat provider
  EXPECT_EQ(embeddings.RequestCount(), 2u);

  // Below the threshold: upstream, and not a semantic hit.
  FakeReply everest;
  everest.content = "8849 m.";
  chat.Enqueue(everest);
  embeddings.Enqueue(EmbeddingReply({0, 1, 0, 0}));
  v1::CallResponse other;
  ASSERT_TRUE(sidecar.Call(Ask("How tall is Everest?"), &other).ok());
  ASSERT_TRUE(other.success()) << other.error().message();
  EXPECT_EQ(other.cache_hit(), v1::CACHE_TIER_NONE);
  EXPECT_EQ(other.content(), "8849 m.");
  EXPECT_EQ(chat.RequestCount(), 2u);

  // The exact prompt again is an exact-key hit, found before any embedding.
  v1::CallResponse exact;
  ASSERT_TRUE(sidecar.Call(Ask("What is the capital of France?"), &exact).ok());
  EXPECT_EQ(exact.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(embeddings.RequestCount(), 3u);
}

}  // namespace
}  // namespace llmix::testing
