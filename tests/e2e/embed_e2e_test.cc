// Embeddings and rerank end to end: the real llmix-sidecar binary, the loopback fake provider
// answering OpenAI's /embeddings and /rerank and Gemini's :batchEmbedContents, and a real
// redis-server for the shared embedding cache. No test sleeps to wait: conditions are awaited
// with WaitFor and a deadline.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "sidecar/embed_service.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kDims = FakeOpenAi::kFakeEmbeddingDimensions;

std::string OpenAiConfig(const FakeOpenAi& fake, const std::string& strategy = "memory") {
  return json{{"provider", "openai"},
              {"model", "text-embedding-3-small"},
              {"baseUrl", fake.base_url()},
              {"caching", {{"strategy", strategy}, {"ttl", 600}}}}
      .dump();
}

v1::EmbedRequest Request(const std::string& config_json, std::vector<std::string> inputs) {
  v1::EmbedRequest req;
  req.set_config_json(config_json);
  for (auto& in : inputs) req.add_inputs(std::move(in));
  return req;
}

grpc::Status Embed(SidecarProcess& s, const v1::EmbedRequest& req, v1::EmbedResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return s.stub().Embed(&ctx, req, resp);
}

std::vector<float> Values(const v1::EmbedResponse& resp, int i) {
  return {resp.embeddings(i).values().begin(), resp.embeddings(i).values().end()};
}

std::unique_ptr<SidecarProcess> Start(std::map<std::string, std::optional<std::string>> env,
                                      std::vector<std::string> args = {}) {
  if (!env.count("OPENAI_KEYS") && !env.count("OPENAI_API_KEY")) {
    env.emplace("OPENAI_API_KEY", "sk-embed-e2e");
  }
  args.insert(args.end(), {"--retry-base-ms", "10", "--retry-jitter-ms", "0"});
  return std::make_unique<SidecarProcess>(std::move(args), std::move(env));
}

// OpenAI protocol: one upstream request carrying every input, vectors in input order, usage.
TEST(EmbedE2E, OpenAiProtocolReturnsOneVectorPerInputInOrder) {
  FakeOpenAi fake;
  auto s = Start({});
  ASSERT_TRUE(s->ready()) << s->error();
  v1::EmbedResponse resp;
  ASSERT_TRUE(Embed(*s, Request(OpenAiConfig(fake), {"alpha", "beta", "gamma"}), &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  ASSERT_EQ(resp.embeddings_size(), 3);
  EXPECT_EQ(Values(resp, 0), FakeOpenAi::FakeEmbedding("alpha", kDims));
  EXPECT_EQ(Values(resp, 2), FakeOpenAi::FakeEmbedding("gamma", kDims));
  EXPECT_EQ(resp.provider(), "openai");
  EXPECT_EQ(resp.model(), "text-embedding-3-small");
  EXPECT_EQ(resp.attempts(), 1);
  EXPECT_EQ(resp.cache_hit(), v1::CACHE_TIER_NONE);
  EXPECT_EQ(resp.usage().input_tokens(), 2 + 2 + 2);  // the fake's len/4+1 per text
  EXPECT_FALSE(resp.trace_id().empty());
  auto reqs = fake.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/embeddings");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer sk-embed-e2e");
  EXPECT_EQ(reqs[0].json["input"], json::array({"alpha", "beta", "gamma"}));
  EXPECT_EQ(reqs[0].json["encoding_format"], "float");
  EXPECT_FALSE(reqs[0].json.contains("dimensions"));

  // dimensions goes upstream and is part of the cache key (no hit for the 4-dim vectors).
  v1::EmbedRequest req = Request(OpenAiConfig(fake), {"alpha"});
  req.set_dimensions(2);
  v1::EmbedResponse short_resp;
  ASSERT_TRUE(Embed(*s, req, &short_resp).ok());
  ASSERT_TRUE(short_resp.success()) << short_resp.error().message();
  EXPECT_EQ(Values(short_resp, 0), FakeOpenAi::FakeEmbedding("alpha", 2));
  ASSERT_EQ(fake.RequestCount(), 2u);
  EXPECT_EQ(fake.Requests()[1].json["dimensions"], 2);
}

// Gemini protocol: models/{m}:batchEmbedContents with x-goog-api-key, outputDimensionality.
TEST(EmbedE2E, GeminiProtocolUsesBatchEmbedContents) {
  FakeOpenAi fake(FakeProtocol::kGeminiGenerateContent);
  auto s = Start({{"GOOGLE_API_KEY", "g-embed-key"}});
  ASSERT_TRUE(s->ready()) << s->error();
  const std::string config =
      json{{"provider", "google"}, {"model", "gemini-embedding-001"}, {"baseUrl", fake.base_url()}}
          .dump();
  v1::EmbedRequest req = Request(config, {"one", "two"});
  req.set_dimensions(3);
  v1::EmbedResponse resp;
  ASSERT_TRUE(Embed(*s, req, &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  ASSERT_EQ(resp.embeddings_size(), 2);
  EXPECT_EQ(Values(resp, 0), FakeOpenAi::FakeEmbedding("one", 3));
  EXPECT_EQ(Values(resp, 1), FakeOpenAi::FakeEmbedding("two", 3));
  auto reqs = fake.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
  EXPECT_EQ(reqs[0].headers["x-goog-api-key"], "g-embed-key");
  EXPECT_EQ(reqs[0].headers.count("authorization"), 0u);
  ASSERT_EQ(reqs[0].json["requests"].size(), 2u);
  EXPECT_EQ(reqs[0].json["requests"][1],
            (json{{"model", "models/gemini-embedding-001"},
                  {"content", {{"parts", json::array({{{"text", "two"}}})}}},
                  {"outputDimensionality", 3}}));
}

// The second identical request is served from L1 with no upstream request; a batch with some
// cached inputs sends only the misses (each distinct text once).
TEST(EmbedE2E, CachedInputsAreServedLocallyAndOnlyMissesGoUpstream) {
  FakeOpenAi fake;
  auto s = Start({});
  ASSERT_TRUE(s->ready()) << s->error();
  const std::string config = OpenAiConfig(fake);
  v1::EmbedResponse first;
  ASSERT_TRUE(Embed(*s, Request(config, {"a", "b"}), &first).ok());
  ASSERT_TRUE(first.success()) << first.error().message();
  ASSERT_EQ(fake.RequestCount(), 1u);

  v1::EmbedResponse second;
  ASSERT_TRUE(Embed(*s, Request(config, {"a", "b"}), &second).ok());
  ASSERT_TRUE(second.success()) << second.error().message();
  EXPECT_EQ(second.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(second.attempts(), 0);
  EXPECT_EQ(Values(second, 1), Values(first, 1));
  EXPECT_EQ(fake.RequestCount(), 1u) << "a full cache hit makes no upstream request";

  v1::EmbedResponse partial;
  ASSERT_TRUE(Embed(*s, Request(config, {"a", "c", "b", "c"}), &partial).ok());
  ASSERT_TRUE(partial.success()) << partial.error().message();
  EXPECT_EQ(partial.cache_hit(), v1::CACHE_TIER_NONE);
  ASSERT_EQ(partial.embeddings_size(), 4);
  EXPECT_EQ(Values(partial, 0), FakeOpenAi::FakeEmbedding("a", kDims));
  EXPECT_EQ(Values(partial, 1), FakeOpenAi::FakeEmbedding("c", kDims));
  EXPECT_EQ(Values(partial, 3), FakeOpenAi::FakeEmbedding("c", kDims));
  ASSERT_EQ(fake.RequestCount(), 2u);
  EXPECT_EQ(fake.Requests()[1].json["input"], json::array({"c"}));

  // BYPASS neither reads nor writes; REFRESH skips the read.
  v1::EmbedRequest bypass = Request(config, {"a"});
  bypass.set_cache(v1::CACHE_MODE_BYPASS);
  v1::EmbedResponse r;
  ASSERT_TRUE(Embed(*s, bypass, &r).ok());
  EXPECT_EQ(fake.RequestCount(), 3u);
  v1::EmbedRequest refresh = Request(config, {"b"});
  refresh.set_cache(v1::CACHE_MODE_REFRESH);
  ASSERT_TRUE(Embed(*s, refresh, &r).ok());
  EXPECT_EQ(fake.RequestCount(), 4u);

  std::string metrics;
  ASSERT_EQ(s->AdminGet("/metrics", &metrics), 200);
  EXPECT_EQ(MetricValue(metrics, R"(llmix_embed_inputs_total{source="l1"})"), 4);
  EXPECT_EQ(
      MetricValue(metrics,
                  R"(llmix_embed_requests_total{op="embed",provider="openai",outcome="success"})"),
      5);
}

// Redis L2 shared by two sidecars: the second one's request is an L2 hit with no upstream
// request, under the documented key.
TEST(EmbedE2E, RedisL2IsSharedBetweenTwoSidecars) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  FakeOpenAi fake;
  const std::string config = OpenAiConfig(fake, "redis-or-memory");
  auto a = Start({{"REDIS_URL", redis.url()}});
  ASSERT_TRUE(a->ready()) << a->error();
  v1::EmbedResponse first;
  ASSERT_TRUE(Embed(*a, Request(config, {"x", "y"}), &first).ok());
  ASSERT_TRUE(first.success()) << first.error().message();
  const std::string key =
      sidecar::EmbeddingCacheKey("openai", "text-embedding-3-small", std::nullopt, "x");
  ASSERT_TRUE(WaitFor([&] { return redis.Keys("llmix:emb:*").size() == 2; }));
  auto stored = redis.Get(key);
  ASSERT_TRUE(stored.has_value());
  const json entry = json::parse(*stored);
  auto vec = sidecar::DecodeEmbedding(entry["data"].get<std::string>());
  ASSERT_TRUE(vec.has_value());
  EXPECT_EQ(*vec, FakeOpenAi::FakeEmbedding("x", kDims));
  auto ttl = redis.Ttl(key);
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(*ttl, 500);

  auto b = Start({{"REDIS_URL", redis.url()}});
  ASSERT_TRUE(b->ready()) << b->error();
  v1::EmbedResponse second;
  ASSERT_TRUE(Embed(*b, Request(config, {"y", "x"}), &second).ok());
  ASSERT_TRUE(second.success()) << second.error().message();
  EXPECT_EQ(second.cache_hit(), v1::CACHE_TIER_L2);
  EXPECT_EQ(Values(second, 0), Values(first, 1));
  EXPECT_EQ(fake.RequestCount(), 1u);
}

// 429 rotates to the next key and the retry (after the provider's Retry-After) succeeds; a
// 500 the retries cannot outlast ends as a failed call with the provider's status.
TEST(EmbedE2E, RateLimitRotatesTheKeyAndRetries) {
  FakeOpenAi fake;
  FakeReply limited;
  limited.status = 429;
  limited.headers = {{"Retry-After", "0"}};
  fake.Enqueue(limited);
  // A breaker threshold above the attempts, so the retries (not the breaker) end the call.
  auto s = Start({{"OPENAI_KEYS", "key-A,key-B"}}, {"--breaker-threshold", "10"});
  ASSERT_TRUE(s->ready()) << s->error();
  v1::EmbedResponse resp;
  ASSERT_TRUE(Embed(*s, Request(OpenAiConfig(fake), {"retry me"}), &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  EXPECT_EQ(resp.attempts(), 2);
  auto reqs = fake.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer key-A");
  EXPECT_EQ(reqs[1].headers["authorization"], "Bearer key-B");

  FakeReply down;
  down.status = 500;
  fake.SetDefault(down);
  v1::EmbedResponse failed;
  ASSERT_TRUE(Embed(*s, Request(OpenAiConfig(fake), {"never"}), &failed).ok());
  EXPECT_FALSE(failed.success());
  EXPECT_EQ(failed.error().http_status(), 500);
  EXPECT_EQ(failed.attempts(), 4);  // LLMix's default: 3 retries
  EXPECT_EQ(failed.error().message().find("key-"), std::string::npos);
}

TEST(EmbedE2E, BadInputIsInvalidArgumentNamingTheField) {
  FakeOpenAi fake;
  auto s = Start({});
  ASSERT_TRUE(s->ready()) << s->error();
  const std::string config = OpenAiConfig(fake);
  auto expect_invalid = [&](const v1::EmbedRequest& req, const std::string& field) {
    v1::EmbedResponse resp;
    grpc::Status st = Embed(*s, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_EQ(st.error_message().rfind(field, 0), 0u) << st.error_message();
  };
  expect_invalid(Request(config, {}), "inputs:");
  expect_invalid(Request(config, std::vector<std::string>(2049, "x")), "inputs:");
  expect_invalid(Request(config, {"ok", ""}), "inputs[1]:");
  v1::EmbedRequest dims = Request(config, {"ok"});
  dims.set_dimensions(0);
  expect_invalid(dims, "dimensions:");
  v1::EmbedRequest both = Request(config, {"ok"});
  both.set_preset("demo/x");
  expect_invalid(both, "preset:");
  expect_invalid(Request("{\"provider\":", {"ok"}), "config_json:");
  EXPECT_EQ(fake.RequestCount(), 0u);

  // Anthropic has no embeddings API: a CONFIG error, no upstream request.
  v1::EmbedResponse resp;
  ASSERT_TRUE(
      Embed(*s, Request(R"({"provider":"anthropic","model":"claude-3-5-haiku"})", {"x"}), &resp)
          .ok());
  EXPECT_FALSE(resp.success());
  EXPECT_EQ(resp.error().code(), v1::ERROR_CODE_CONFIG);
  EXPECT_NE(resp.error().message().find("anthropic"), std::string::npos);
}

// A published embeddings preset, from the live snapshot; an anthropic preset is a CONFIG error
// naming the preset.
TEST(EmbedE2E, PresetsResolveFromTheRegistry) {
  FakeOpenAi fake;
  TempDir dir;
  const std::string root = dir.File("llm");
  fs::create_directories(root + "/source/emb");
  WriteFile(root + "/source/emb/small.mda", absl::StrReplaceAll(R"(---
name: small
description: OpenAI small embeddings.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: text-embedding-3-small
    caching:
      strategy: memory
  llmix-sidecar:
    baseUrl: BASE
---
)",
                                                                {{"BASE", fake.base_url()}}));
  WriteFile(root + "/source/emb/claude.mda", R"(---
name: claude
description: Not an embeddings model.
metadata:
  snoai-llmix:
    common:
      provider: anthropic
      model: claude-3-5-haiku-latest
---
)");
  CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto s = Start({}, {"--registry", root});
  ASSERT_TRUE(s->ready()) << s->error();
  v1::EmbedRequest req;
  req.set_preset("emb/small");
  req.add_inputs("hello");
  v1::EmbedResponse resp;
  ASSERT_TRUE(Embed(*s, req, &resp).ok());
  ASSERT_TRUE(resp.success()) << resp.error().message();
  EXPECT_EQ(Values(resp, 0), FakeOpenAi::FakeEmbedding("hello", kDims));
  EXPECT_FALSE(resp.config_revision().empty());

  req.set_preset("emb/claude");
  ASSERT_TRUE(Embed(*s, req, &resp).ok());
  EXPECT_FALSE(resp.success());
  EXPECT_EQ(resp.error().code(), v1::ERROR_CODE_CONFIG);
  EXPECT_NE(resp.error().message().find("emb/claude"), std::string::npos) << resp.error().message();

  req.set_preset("emb/missing");
  grpc::Status st = Embed(*s, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
}

class EmbedHttpE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    sidecar_ = Start({{"OPENAI_BASE_URL", fake_.base_url()}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }
  httplib::Result Post(const std::string& path, const json& body) {
    httplib::Client c("http://" + sidecar_->http_address());
    c.set_tcp_nodelay(true);
    c.set_read_timeout(30, 0);
    return c.Post(path.c_str(), body.dump(), "application/json");
  }
  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(EmbedHttpE2E, EmbeddingsAnswerInOpenAiShape) {
  auto res = Post("/v1/embeddings",
                  {{"model", "openai:text-embedding-3-small"}, {"input", "hello world"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json body = json::parse(res->body);
  EXPECT_EQ(body["object"], "list");
  EXPECT_EQ(body["model"], "openai:text-embedding-3-small");
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["object"], "embedding");
  EXPECT_EQ(body["data"][0]["index"], 0);
  EXPECT_EQ(body["data"][0]["embedding"].get<std::vector<float>>(),
            FakeOpenAi::FakeEmbedding("hello world", kDims));
  EXPECT_EQ(body["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(body["usage"]["total_tokens"], 3);
  EXPECT_EQ(res->get_header_value("x-llmix-provider"), "openai");

  // base64: OpenAI's format, little-endian float32.
  res = Post("/v1/embeddings", {{"model", "openai:text-embedding-3-small"},
                                {"input", {"a", "b"}},
                                {"encoding_format", "base64"},
                                {"dimensions", 2}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json b64 = json::parse(res->body);
  ASSERT_EQ(b64["data"].size(), 2u);
  auto decoded = sidecar::DecodeEmbedding(b64["data"][1]["embedding"].get<std::string>());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, FakeOpenAi::FakeEmbedding("b", 2));
}

TEST_F(EmbedHttpE2E, BadEmbeddingsRequestsAre400NamingTheField) {
  auto expect_400 = [&](const json& body, const std::string& param) {
    auto res = Post("/v1/embeddings", body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_EQ(json::parse(res->body)["error"]["param"], param) << res->body;
  };
  const std::string model = "openai:text-embedding-3-small";
  expect_400({{"model", model}}, "input");
  expect_400({{"model", model}, {"input", json::array()}}, "input");
  expect_400({{"model", model}, {"input", {1, 2}}}, "input");
  expect_400({{"model", model}, {"input", "x"}, {"encoding_format", "int8"}}, "encoding_format");
  expect_400({{"model", model}, {"input", "x"}, {"dimensions", -3}}, "dimensions");
  expect_400({{"input", "x"}}, "model");
  EXPECT_EQ(fake_.RequestCount(), 0u);
}

TEST_F(EmbedHttpE2E, RerankForwardsToTheProviderAndNormalisesResults) {
  auto res = Post("/v1/rerank", {{"model", "openai:jina-reranker-v2"},
                                 {"query", "cat"},
                                 {"documents", {"dog", {{"text", "a cat sat"}}, "ca"}},
                                 {"top_n", 2},
                                 {"return_documents", true}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json body = json::parse(res->body);
  EXPECT_EQ(body["model"], "openai:jina-reranker-v2");
  ASSERT_EQ(body["results"].size(), 2u);
  EXPECT_EQ(body["results"][0]["index"], 1);
  EXPECT_EQ(body["results"][0]["relevance_score"], 1.0);
  EXPECT_EQ(body["results"][0]["document"]["text"], "a cat sat");
  EXPECT_EQ(body["results"][1]["index"], 2);
  auto reqs = fake_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/rerank");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer sk-embed-e2e");
  EXPECT_EQ(reqs[0].json["model"], "jina-reranker-v2");
  EXPECT_EQ(reqs[0].json["documents"], json::array({"dog", "a cat sat", "ca"}));
  EXPECT_EQ(reqs[0].json["top_n"], 2);

  res = Post("/v1/rerank", {{"model", "openai:jina-reranker-v2"}, {"documents", {"x"}}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "query");
  res = Post("/v1/rerank", {{"model", "openai:r"}, {"query", "q"}, {"documents", {{{"t", 1}}}}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["error"]["param"], "documents");
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

}  // namespace
}  // namespace llmix::testing
