// The semantic cache inside the real pipeline (README "Semantic cache"): a deterministic test
// embedder (fixed vectors per text), a loopback fake OpenAI, and a real redis-server for the
// shared mode, where a second pipeline with its own L1 and index plays another pod.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_builder.h"
#include "pipeline/semantic_lookup.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/redis_server.h"

namespace llmix::pipeline {
namespace {

constexpr char kFrance[] = "What is the capital of France?";
constexpr char kFranceToo[] = "what's the capital city of France";
constexpr char kWeather[] = "Will it rain in Paris tomorrow?";

// Fixed vectors per text (cos(kFrance, kFranceToo) ~ 0.995, cos(kFrance, kWeather) = 0);
// other texts fail, as an unknown embeddings preset would. Counts its calls.
class TestEmbedder final : public Embedder {
 public:
  absl::StatusOr<std::vector<std::vector<float>>> Embed(const EmbedQuery& query) override {
    absl::MutexLock l(&mu_);
    ++calls_;
    last_preset_ = query.preset;
    if (fail_) return absl::UnavailableError("embeddings preset emb/small: provider down");
    std::vector<std::vector<float>> out;
    for (const std::string& in : query.inputs) {
      auto it = vectors_.find(in);
      if (it == vectors_.end()) return absl::InvalidArgumentError("no test vector for " + in);
      out.push_back(it->second);
    }
    return out;
  }
  void set_fail(bool fail) {
    absl::MutexLock l(&mu_);
    fail_ = fail;
  }
  int calls() const {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  std::string last_preset() const {
    absl::MutexLock l(&mu_);
    return last_preset_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<float>> vectors_ = {
      {kFrance, {2.0f, 0.2f, 0.0f}},     // not unit length: the index normalises
      {kFranceToo, {1.0f, 0.0f, 0.0f}},  // cos = 0.995
      {kWeather, {0.0f, 0.0f, 3.0f}},
  };
  bool fail_ = false;
  int calls_ = 0;
  std::string last_preset_;
};

std::optional<AttributeValue> Attribute(const SpanData& span, const std::string& key) {
  for (const auto& [k, v] : span.attributes) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::shared_ptr<registry::Preset> MakePreset(const std::string& id, const std::string& config,
                                             std::optional<registry::SemanticCacheSettings> sc) {
  auto p = std::make_shared<registry::Preset>();
  p->id = id;
  p->config =
      *registry::ParseLlmConfig(nlohmann::json::parse(config), registry::Strictness::kLenient);
  p->sidecar.semantic_cache = std::move(sc);
  return p;
}

registry::SemanticCacheSettings Settings(bool shared = false) {
  registry::SemanticCacheSettings s;
  s.embedding_preset = "emb/small";
  s.threshold = 0.95;
  s.max_temperature = 0.3;
  s.shared = shared;
  return s;
}

std::shared_ptr<const registry::Snapshot> MakeSnapshot() {
  auto snap = std::make_shared<registry::Snapshot>();
  snap->revision = "r1";
  const std::string cold =
      R"({"provider":"openai","model":"gpt-4o","caching":{"strategy":"memory"},)"
      R"("common":{"temperature":0}})";
  snap->presets["chat/cold"] = MakePreset("chat/cold", cold, Settings());
  snap->presets["chat/other"] = MakePreset("chat/other", cold, Settings());
  snap->presets["chat/unpinned"] = MakePreset(
      "chat/unpinned", R"({"provider":"openai","model":"gpt-4o","caching":{"strategy":"memory"}})",
      Settings());
  snap->presets["chat/shared"] = MakePreset(
      "chat/shared",
      R"({"provider":"openai","model":"gpt-4o","caching":{"strategy":"redis-or-memory"},)"
      R"("common":{"temperature":0.1}})",
      Settings(/*shared=*/true));
  snap->presets["emb/small"] = MakePreset(
      "emb/small", R"({"provider":"openai","model":"text-embedding-3-small"})", std::nullopt);
  return snap;
}

// One sidecar's pipeline: its own metrics, L1, semantic index and (optionally) L2.
struct Pod {
  Pod(const Clock& clock, const Env& env, Logger& logger, Tracer& tracer,
      adapters::Adapter& adapter, Embedder* embedder)
      : state{PipelineOptions{}, clock, env, logger, tracer, metrics, adapter, {}} {
    state.l1_cache = std::make_unique<cache::L1Cache>(clock, cache::L1Options{});
    state.embedder = embedder;
    state.snapshots.Set(MakeSnapshot());
    pipeline = BuildPipeline(state);
  }
  MetricRegistry registry;
  PipelineMetrics metrics{registry};
  PipelineState state;
  std::unique_ptr<Pipeline> pipeline;
};

class SemanticCacheStageTest : public ::testing::Test {
 protected:
  SemanticCacheStageTest() {
    env_.Set("OPENAI_BASE_URL", fake_.base_url());
    env_.Set("OPENAI_API_KEY", "sk-semantic-test");
  }

  CallContext& Run(const std::string& user, const std::string& preset = "chat/cold",
                   CacheMode mode = CacheMode::kDefault, Pod* pod = nullptr,
                   nlohmann::json overrides = nullptr, const std::string& system = "") {
    Pod& p = pod != nullptr ? *pod : pod_;
    ctxs_.push_back(std::make_unique<CallContext>());
    CallContext& ctx = *ctxs_.back();
    ctx.input.preset = preset;
    ctx.input.messages = nlohmann::json::array();
    if (!system.empty()) ctx.input.messages.push_back({{"role", "system"}, {"content", system}});
    ctx.input.messages.push_back({{"role", "user"}, {"content", user}});
    ctx.input.cache_mode = mode;
    ctx.input.common_overrides = std::move(overrides);
    ctx.span = tracer_.StartSpan("call", nullptr, SpanKind::kServer);
    absl::Notification completed;
    p.pipeline->Run(ctx, [&] { completed.Notify(); });
    EXPECT_TRUE(completed.WaitForNotificationWithTimeout(absl::Seconds(20)));
    ctx.span->End();
    return ctx;
  }

  uint64_t Skips(const std::string& reason) {
    return pod_.metrics.semantic_skips.With({reason}).value();
  }

  testing::FakeOpenAi fake_;
  FakeClock clock_;
  MapEnv env_;
  Logger logger_{LogLevel::kError};
  InMemoryTracer tracer_;
  TestEmbedder embedder_;
  adapters::Dispatcher dispatcher_{adapters::DispatcherOptions{}};
  Pod pod_{clock_, env_, logger_, tracer_, dispatcher_, &embedder_};
  std::vector<std::unique_ptr<CallContext>> ctxs_;
};

TEST_F(SemanticCacheStageTest, ExactKeyFirstThenASimilarPromptIsASemanticHit) {
  CallContext& miss = Run(kFrance);
  ASSERT_TRUE(miss.result.success) << miss.result.error->message;
  EXPECT_EQ(miss.result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(embedder_.calls(), 1);
  EXPECT_EQ(embedder_.last_preset(), "emb/small");
  EXPECT_EQ(pod_.metrics.semantic_misses.value(), 1u);
  EXPECT_EQ(pod_.metrics.semantic_inserts.value(), 1u);

  // The identical prompt is an exact-key (L1) hit: no embed call.
  EXPECT_EQ(Run(kFrance).result.cache_tier, CacheTier::kL1);
  EXPECT_EQ(embedder_.calls(), 1);

  CallContext& hit = Run(kFranceToo);
  ASSERT_TRUE(hit.result.success);
  EXPECT_EQ(hit.result.cache_tier, CacheTier::kSemantic);
  EXPECT_EQ(hit.result.content, "fake reply");
  EXPECT_EQ(hit.result.attempts, 0);
  EXPECT_EQ(hit.result.usage.input_tokens, 0);
  ASSERT_TRUE(hit.result.semantic_similarity.has_value());
  EXPECT_NEAR(*hit.result.semantic_similarity, 2.0 / std::sqrt(4.04), 1e-5);
  EXPECT_EQ(CacheTierName(hit.result.cache_tier), "semantic");
  EXPECT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(embedder_.calls(), 2);
  EXPECT_EQ(pod_.metrics.cache_hits.With({"semantic"}).value(), 1u);

  // The similarity is on the call span, the tier on the cache stage's span.
  bool call_span = false;
  for (const SpanData& s : tracer_.Finished()) {
    auto sim = Attribute(s, "llmix.cache.semantic.similarity");
    if (s.name == "call" && sim.has_value()) {
      call_span = true;
      EXPECT_NEAR(std::get<double>(*sim), *hit.result.semantic_similarity, 1e-9);
    }
  }
  EXPECT_TRUE(call_span);

  // A dissimilar prompt goes upstream (and is stored in turn).
  CallContext& other = Run(kWeather);
  EXPECT_EQ(other.result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 2u);
  EXPECT_EQ(pod_.metrics.semantic_misses.value(), 2u);
  EXPECT_EQ(pod_.metrics.semantic_inserts.value(), 2u);
}

TEST_F(SemanticCacheStageTest, ScopeIsThePresetAndTheRestOfTheConversation) {
  ASSERT_TRUE(Run(kFrance).result.success);
  // Another preset with the same config, or another system prompt: never served from it.
  EXPECT_EQ(Run(kFranceToo, "chat/other").result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(Run(kFranceToo, "chat/cold", CacheMode::kDefault, nullptr, nullptr, "Be terse.")
                .result.cache_tier,
            CacheTier::kNone);
  // Another seed is another request shape.
  EXPECT_EQ(
      Run(kFranceToo, "chat/cold", CacheMode::kDefault, nullptr, {{"seed", 7}}).result.cache_tier,
      CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 4u);
  // chat/other has chat/cold's config, so its reply is chat/cold's exact-key (L1) entry for
  // this prompt: the exact key is checked first and wins over a semantic match.
  EXPECT_EQ(Run(kFranceToo).result.cache_tier, CacheTier::kL1);
  EXPECT_EQ(pod_.metrics.cache_hits.With({"semantic"}).value(), 0u);
}

TEST_F(SemanticCacheStageTest, TemperatureAboveTheCeilingOrUnsetIsNotSemanticallyCached) {
  // The call's override counts: 0.7 > 0.3.
  EXPECT_EQ(Run(kFrance, "chat/cold", CacheMode::kDefault, nullptr, {{"temperature", 0.7}})
                .result.cache_tier,
            CacheTier::kNone);
  EXPECT_EQ(embedder_.calls(), 0);
  EXPECT_EQ(Skips("temperature"), 1u);
  // No temperature counts as 1.
  ASSERT_TRUE(Run(kFrance, "chat/unpinned").result.success);
  EXPECT_EQ(Run(kFranceToo, "chat/unpinned").result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(embedder_.calls(), 0);
  EXPECT_EQ(Skips("temperature"), 3u);
  // An override down to the ceiling opts the call back in.
  ASSERT_TRUE(Run(kFrance, "chat/unpinned", CacheMode::kDefault, nullptr, {{"temperature", 0.3}})
                  .result.success);
  EXPECT_EQ(embedder_.calls(), 1);
}

TEST_F(SemanticCacheStageTest, BypassAndRefreshNeitherEmbedNorReadTheSemanticCache) {
  ASSERT_TRUE(Run(kFrance).result.success);
  EXPECT_EQ(Run(kFranceToo, "chat/cold", CacheMode::kBypass).result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(Run(kFranceToo, "chat/cold", CacheMode::kRefresh).result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(embedder_.calls(), 1);
  EXPECT_EQ(fake_.RequestCount(), 3u);
}

TEST_F(SemanticCacheStageTest, EmbedFailureFallsThroughAndStoresNothing) {
  embedder_.set_fail(true);
  CallContext& ctx = Run(kFrance);
  ASSERT_TRUE(ctx.status.ok()) << ctx.status;
  ASSERT_TRUE(ctx.result.success);
  EXPECT_EQ(ctx.result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(pod_.metrics.semantic_embed_errors.value(), 1u);
  EXPECT_EQ(pod_.metrics.semantic_inserts.value(), 0u);
  EXPECT_EQ(pod_.state.semantic_index->size(), 0u);

  embedder_.set_fail(false);
  EXPECT_EQ(Run(kFranceToo).result.cache_tier, CacheTier::kNone);  // nothing was stored
  EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_F(SemanticCacheStageTest, NoEmbedderOrNoTextSkipsSilently) {
  pod_.state.embedder = nullptr;
  ASSERT_TRUE(Run(kFrance).result.success);
  EXPECT_EQ(Skips("no_embedder"), 1u);
  pod_.state.embedder = &embedder_;

  EXPECT_EQ(SemanticText(nlohmann::json::parse(R"([{"role":"user","content":"a"},
      {"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"},
      {"type":"text","text":"d"}]}])")),
            "c\nd");
  EXPECT_FALSE(SemanticText(nlohmann::json::parse(
                                R"([{"role":"user","content":[{"type":"text","text":"c"},
      {"type":"image","image":"https://x/y.png"}]}])"))
                   .has_value());
  EXPECT_FALSE(
      SemanticText(nlohmann::json::parse(R"([{"role":"system","content":"s"}])")).has_value());
}

TEST_F(SemanticCacheStageTest, FailuresAreNotInserted) {
  testing::FakeReply error;
  error.status = 400;  // not retried
  fake_.Enqueue(error);
  EXPECT_FALSE(Run(kFrance).result.success);
  EXPECT_EQ(pod_.metrics.semantic_inserts.value(), 0u);
  EXPECT_EQ(Run(kFranceToo).result.cache_tier, CacheTier::kNone);
  EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_F(SemanticCacheStageTest, SharedEntriesInRedisServeAnotherPod) {
  testing::RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  auto with_l2 = [&](Pod& pod) {
    cache::RedisL2Options o;
    o.url = redis.url();
    auto l2 = cache::RedisL2::Create(o, clock_, logger_);
    ASSERT_TRUE(l2.ok()) << l2.status();
    pod.state.l2_cache = std::move(*l2);
  };
  with_l2(pod_);
  Pod other(clock_, env_, logger_, tracer_, dispatcher_, &embedder_);
  with_l2(other);

  CallContext& first = Run(kFrance, "chat/shared");
  ASSERT_TRUE(first.result.success);
  ASSERT_TRUE(pod_.state.l2_cache->WaitWritesIdle(absl::Seconds(10)));
  std::vector<std::string> lists = redis.Keys("llmix:sem:*");
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(redis.Command({"LLEN", lists[0]}), "1");
  std::optional<int64_t> ttl = redis.Ttl(lists[0]);
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(*ttl, 3500);  // the preset's caching TTL (3600 s default)

  // The other pod has an empty L1 and index: a similar prompt is found through Redis.
  CallContext& hit = Run(kFranceToo, "chat/shared", CacheMode::kDefault, &other);
  ASSERT_TRUE(hit.result.success);
  EXPECT_EQ(hit.result.cache_tier, CacheTier::kSemantic);
  EXPECT_EQ(hit.result.content, "fake reply");
  EXPECT_EQ(fake_.RequestCount(), 1u);
  EXPECT_EQ(other.state.semantic_index->size(), 1u);  // merged into its memory

  // Redis down: the other pod's memory still serves, and new prompts go upstream uncached.
  redis.Kill();
  CallContext& again = Run(kFranceToo, "chat/shared", CacheMode::kDefault, &other);
  EXPECT_TRUE(again.result.success);
  CallContext& weather = Run(kWeather, "chat/shared", CacheMode::kDefault, &other);
  ASSERT_TRUE(weather.result.success);
  EXPECT_EQ(weather.result.cache_tier, CacheTier::kNone);
}

}  // namespace
}  // namespace llmix::pipeline
