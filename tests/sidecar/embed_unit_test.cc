// EmbedService in process: the embedding cache key material and value encoding, and the
// pipeline::Embedder interface the semantic cache uses (a preset looked up in the caller's
// snapshot, the cache, errors naming the preset), against the loopback fake provider.
#include <gtest/gtest.h>

#include "common/canonical_json.h"
#include "common/clock.h"
#include "common/env.h"
#include "registry/llm_config.h"
#include "sidecar/embed_service.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::sidecar {
namespace {

using nlohmann::json;
using testing::FakeOpenAi;

TEST(EmbeddingCacheKeyTest, HashesTheDocumentedMaterial) {
  EXPECT_EQ(EmbeddingCacheKey("openai", "text-embedding-3-small", std::nullopt, "hello"),
            "llmix:emb:" + Sha256Hex(R"({"dimensions":null,"input":"hello","model":)"
                                     R"("text-embedding-3-small","provider":"openai"})"));
  EXPECT_EQ(EmbeddingCacheKey("google", "gemini-embedding-001", 256, "x"),
            "llmix:emb:" + Sha256Hex(R"({"dimensions":256,"input":"x","model":)"
                                     R"("gemini-embedding-001","provider":"google"})"));
  EXPECT_NE(EmbeddingCacheKey("openai", "m", 256, "x"), EmbeddingCacheKey("openai", "m", 512, "x"));
}

TEST(EmbeddingCacheValueTest, Base64OfLittleEndianFloat32RoundTrips) {
  const std::vector<float> v = {1.0f, -0.5f, 3.25e-8f};
  // 1.0f = 00 00 80 3f little-endian.
  EXPECT_EQ(EncodeEmbedding({1.0f}), "AACAPw==");
  auto back = DecodeEmbedding(EncodeEmbedding(v));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, v);
  EXPECT_FALSE(DecodeEmbedding("AACA").has_value());  // 3 bytes
  EXPECT_FALSE(DecodeEmbedding("").has_value());
  EXPECT_FALSE(DecodeEmbedding("not base64!").has_value());
}

class EmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.Set("OPENAI_API_KEY", "sk-embedder-unit");
    auto res = pipeline::ResilienceState::Create(pipeline::ResilienceOptions{}, clock_, env_);
    ASSERT_TRUE(res.ok()) << res.status();
    state_.resilience = *std::move(res);
    state_.l1_cache = std::make_unique<cache::L1Cache>(clock_, cache::L1Options{});
    auto snapshot = std::make_shared<registry::Snapshot>();
    snapshot->revision = "rev-1";
    auto preset = std::make_shared<registry::Preset>();
    preset->id = "emb/small";
    auto cfg = registry::ParseLlmConfig(json{{"provider", "openai"},
                                             {"model", "text-embedding-3-small"},
                                             {"caching", {{"strategy", "memory"}}}},
                                        registry::Strictness::kLenient);
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    preset->config = *std::move(cfg);
    preset->base_url = fake_.base_url();
    snapshot->presets["emb/small"] = preset;
    snapshot_ = snapshot;
    service_ = std::make_unique<EmbedService>(state_, transport_, registry_, EmbedServiceOptions{});
  }

  pipeline::EmbedQuery Query(std::string preset, std::vector<std::string> inputs) {
    pipeline::EmbedQuery q;
    q.snapshot = snapshot_.get();
    q.preset = std::move(preset);
    q.inputs = std::move(inputs);
    return q;
  }

  FakeOpenAi fake_;
  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  MapEnv env_;
  Logger logger_{LogLevel::kError};
  InMemoryTracer tracer_;
  MetricRegistry registry_;
  pipeline::PipelineMetrics metrics_{registry_};
  struct NoAdapter final : adapters::Adapter {
    adapters::ProviderOutcome Send(const adapters::ProviderRequest &) override { return {}; }
  } adapter_;
  pipeline::PipelineState state_{
      pipeline::PipelineOptions{}, clock_, env_, logger_, tracer_, metrics_, adapter_, {}};
  adapters::HttpTransport transport_;
  std::shared_ptr<const registry::Snapshot> snapshot_;
  std::unique_ptr<EmbedService> service_;
};

TEST_F(EmbedderTest, EmbedsWithThePresetOfTheCallersSnapshotAndCaches) {
  pipeline::Embedder& embedder = *service_;
  auto first = embedder.Embed(Query("emb/small", {"what is llmix?"}));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0],
            FakeOpenAi::FakeEmbedding("what is llmix?", FakeOpenAi::kFakeEmbeddingDimensions));
  auto second = embedder.Embed(Query("emb/small", {"what is llmix?"}));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(fake_.Requests()[0].headers["authorization"], "Bearer sk-embedder-unit");
  // One span per query, the upstream attempt as a client child span.
  bool saw_upstream = false;
  for (const SpanData& s : tracer_.Finished()) {
    saw_upstream = saw_upstream || s.name == "llmix.embeddings.upstream";
  }
  EXPECT_TRUE(saw_upstream);
}

TEST_F(EmbedderTest, ErrorsNameThePreset) {
  auto missing = service_->Embed(Query("emb/missing", {"x"}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("emb/missing"), absl::string_view::npos);
  testing::FakeReply bad;
  bad.status = 400;
  fake_.SetDefault(bad);
  auto failed = service_->Embed(Query("emb/small", {"not cached"}));
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("emb/small"), absl::string_view::npos);
  EXPECT_EQ(failed.status().message().find("sk-embedder-unit"), absl::string_view::npos);
}

}  // namespace
}  // namespace llmix::sidecar
