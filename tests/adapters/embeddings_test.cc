// The embeddings / rerank wire mapping (adapters/embeddings.h): request bodies, response
// parsing, and one real exchange per protocol against the loopback fake provider.
#include "adapters/embeddings.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_openai.h"

namespace llmix::adapters {
namespace {

using nlohmann::json;
using testing::FakeOpenAi;
using testing::FakeProtocol;
using testing::FakeReply;

EmbeddingRequest Req(std::string provider, std::string model, std::string base_url,
                     std::vector<std::string> inputs) {
  EmbeddingRequest r;
  r.provider = std::move(provider);
  r.model = std::move(model);
  r.base_url = std::move(base_url);
  r.api_key = "sk-unit-secret";
  r.inputs = std::move(inputs);
  r.timeout = absl::Seconds(10);
  return r;
}

TEST(EmbeddingsWire, OpenAiBody) {
  EmbeddingRequest r = Req("openai", "text-embedding-3-large", "http://x/v1", {"a", "b"});
  EXPECT_EQ(OpenAiEmbeddingsBody(r), (json{{"model", "text-embedding-3-large"},
                                           {"input", {"a", "b"}},
                                           {"encoding_format", "float"}}));
  r.dimensions = 256;
  EXPECT_EQ(OpenAiEmbeddingsBody(r)["dimensions"], 256);
}

TEST(EmbeddingsWire, GeminiBodyAndUrl) {
  EmbeddingRequest r = Req("google", "models/gemini-embedding-001", "http://g/v1beta/", {"t"});
  r.dimensions = 768;
  EXPECT_EQ(GeminiBatchEmbedUrl(r),
            "http://g/v1beta/models/gemini-embedding-001:batchEmbedContents");
  EXPECT_EQ(GeminiBatchEmbedBody(r), (json{{"requests",
                                            {{{"model", "models/gemini-embedding-001"},
                                              {"content", {{"parts", {{{"text", "t"}}}}}},
                                              {"outputDimensionality", 768}}}}}));
}

TEST(EmbeddingsWire, OpenAiParseOrdersByIndexAndChecksTheCount) {
  EmbeddingOutcome out;
  std::string error;
  ASSERT_TRUE(ParseOpenAiEmbeddings(
      R"({"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2.5]}],
          "model":"m-1","usage":{"prompt_tokens":9}})",
      2, &out, &error))
      << error;
  EXPECT_EQ(out.vectors, (std::vector<std::vector<float>>{{1, 2.5f}, {3, 4}}));
  EXPECT_EQ(out.model, "m-1");
  EXPECT_EQ(out.prompt_tokens, 9);
  EXPECT_FALSE(ParseOpenAiEmbeddings(R"({"data":[{"embedding":[1]}]})", 2, &out, &error));
  EXPECT_EQ(error, "expected 2 embeddings, got 1");
  EXPECT_FALSE(ParseOpenAiEmbeddings(
      R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})", 2, &out, &error));
  EXPECT_FALSE(ParseOpenAiEmbeddings(R"({"data":[{"embedding":"AAAA"}]})", 1, &out, &error));
  EXPECT_FALSE(ParseOpenAiEmbeddings("not json", 1, &out, &error));
}

TEST(EmbeddingsWire, GeminiParse) {
  EmbeddingOutcome out;
  std::string error;
  ASSERT_TRUE(ParseGeminiEmbeddings(R"({"embeddings":[{"values":[0.5]},{"values":[-1]}]})", 2, &out,
                                    &error));
  EXPECT_EQ(out.vectors, (std::vector<std::vector<float>>{{0.5f}, {-1}}));
  EXPECT_FALSE(ParseGeminiEmbeddings(R"({"embeddings":[{"values":[]}]})", 1, &out, &error));
}

TEST(EmbeddingsClientTest, OpenAiExchangeAgainstTheFake) {
  FakeOpenAi fake;
  HttpTransport transport;
  EmbeddingsClient client(transport);
  EmbeddingOutcome out = client.Embed(Req("openai", "e-1", fake.base_url(), {"x", "y"}));
  ASSERT_TRUE(out.ok()) << out.error->message;
  EXPECT_EQ(out.vectors[1], FakeOpenAi::FakeEmbedding("y", FakeOpenAi::kFakeEmbeddingDimensions));
  EXPECT_EQ(fake.Requests()[0].headers["authorization"], "Bearer sk-unit-secret");
}

TEST(EmbeddingsClientTest, GeminiExchangeAgainstTheFake) {
  FakeOpenAi fake(FakeProtocol::kGeminiGenerateContent);
  HttpTransport transport;
  EmbeddingsClient client(transport);
  EmbeddingOutcome out =
      client.Embed(Req("google", "gemini-embedding-001", fake.base_url(), {"q"}));
  ASSERT_TRUE(out.ok()) << out.error->message;
  EXPECT_EQ(out.vectors[0], FakeOpenAi::FakeEmbedding("q", FakeOpenAi::kFakeEmbeddingDimensions));
  EXPECT_EQ(fake.Requests()[0].headers["x-goog-api-key"], "sk-unit-secret");
}

TEST(EmbeddingsClientTest, RateLimitKeepsRetryAfterAndRedactsTheKey) {
  FakeOpenAi fake;
  FakeReply limited;
  limited.status = 429;
  limited.headers = {{"Retry-After", "7"}};
  limited.raw_body = R"({"error":{"message":"slow down {api_key}","type":"rate_limit"}})";
  limited.echo_api_key = true;
  fake.Enqueue(limited);
  HttpTransport transport;
  EmbeddingsClient client(transport);
  EmbeddingOutcome out = client.Embed(Req("openai", "e-1", fake.base_url(), {"x"}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->code, CallErrorCode::kRateLimited);
  EXPECT_TRUE(out.error->retryable);
  EXPECT_EQ(out.http_status, 429);
  EXPECT_EQ(out.headers["retry-after"], "7");
  EXPECT_EQ(out.error->message.find("sk-unit-secret"), std::string::npos) << out.error->message;
}

TEST(EmbeddingsClientTest, AnthropicIsAConfigErrorWithoutAnExchange) {
  HttpTransport transport;
  EmbeddingsClient client(transport);
  EmbeddingOutcome out = client.Embed(Req("anthropic", "claude", "http://127.0.0.1:1/v1", {"x"}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error->code, CallErrorCode::kConfig);
  EXPECT_NE(out.error->message.find("anthropic"), std::string::npos);
  RerankRequest rr;
  rr.provider = "google";
  EXPECT_EQ(client.Rerank(rr).error->code, CallErrorCode::kConfig);
}

}  // namespace
}  // namespace llmix::adapters
