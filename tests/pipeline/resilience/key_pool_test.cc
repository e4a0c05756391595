// Runs every case of the `key_pool` fixture family (pool ops with the state checked after each,
// and loadKeysFromEnv with an injected env), plus registry, secrecy and concurrency tests.
#include "pipeline/resilience/key_pool.h"

#include <algorithm>
#include <atomic>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "gtest/gtest.h"
#include "tests/pipeline/resilience/resilience_test_util.h"
#include "tests/support/fixtures.h"

namespace llmix::resilience {
namespace {

using nlohmann::json;
using testing::Field;
using testing::IsAbsent;

std::vector<std::string> Strings(const json& arr) {
  std::vector<std::string> out;
  for (const json& v : arr) out.push_back(v.get<std::string>());
  return out;
}

void ExpectError(const absl::Status& status, const json& error) {
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), error.at("message").get<std::string>());
}

void ExpectAfter(const KeyPool& pool, const json& after) {
  const KeyPoolSnapshot s = pool.Snapshot();
  EXPECT_EQ(s.index, after.at("idx").get<size_t>());
  std::vector<std::string> dead;
  for (size_t i : s.dead_indices) dead.push_back(pool.keys()[i]);
  EXPECT_EQ(dead, Strings(after.at("dead")));
  EXPECT_EQ(s.alive_count, after.at("aliveCount").get<size_t>());
  EXPECT_EQ(pool.alive_count(), after.at("aliveCount").get<size_t>());
  EXPECT_EQ(s.total_count, after.at("totalCount").get<size_t>());
  EXPECT_EQ(pool.total_count(), after.at("totalCount").get<size_t>());
  EXPECT_EQ(s.exhausted, after.at("exhausted").get<bool>());
  EXPECT_EQ(pool.IsExhausted(), after.at("exhausted").get<bool>());
}

void RunPoolCase(const json& in, const json& want) {
  absl::StatusOr<std::unique_ptr<KeyPool>> pool = KeyPool::Create(Strings(in.at("keys")));
  if (const json* error = Field(want, "error")) {
    EXPECT_EQ(error->at("type"), "Error");
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
    ExpectError(pool.status(), *error);
    return;
  }
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->keys(), Strings(want.at("keys")));
  const json& ops = in.at("ops");
  const json& steps = want.at("steps");
  ASSERT_EQ(ops.size(), steps.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i) + " " + ops[i].dump());
    const std::string op = ops[i].at(0).get<std::string>();
    const json& step = steps[i];
    ASSERT_EQ(step.at("op"), op);
    if (op == "select") {
      const absl::StatusOr<std::string> key = (*pool)->Select();
      if (const json* error = Field(step, "error")) {
        EXPECT_EQ(error->at("type"), "KeyPoolExhaustedError");
        EXPECT_EQ(key.status().code(), absl::StatusCode::kFailedPrecondition);
        ExpectError(key.status(), *error);
      } else {
        ASSERT_TRUE(key.ok()) << key.status();
        EXPECT_EQ(*key, step.at("key").get<std::string>());
      }
    } else if (op == "rotate") {
      (*pool)->Rotate();
    } else if (op == "dead") {
      (*pool)->MarkDead(ops[i].at(1).get<std::string>());
    } else {
      FAIL() << "unknown op " << op;
    }
    ExpectAfter(**pool, step.at("after"));
  }
}

void RunLoadCase(const json& in, const json& want) {
  MapEnv env;
  for (const auto& [name, value] : in.at("env").items()) {
    if (!IsAbsent(value)) env.Set(name, value.get<std::string>());  // null: unset
  }
  const absl::StatusOr<std::unique_ptr<KeyPool>> pool =
      LoadKeysFromEnv(in.at("provider").get<std::string>(), env);
  if (const json* error = Field(want, "error")) {
    EXPECT_EQ(error->at("type"), "Error");
    ExpectError(pool.status(), *error);
    return;
  }
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->keys(), Strings(want.at("keys")));
}

TEST(KeyPoolFixturesTest, EveryCase) {
  const auto cases = llmix::testing::LoadFixtureCases("key_pool");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.input.contains("fn")) {
      ASSERT_EQ(c.input.at("fn"), "loadKeysFromEnv");
      RunLoadCase(c.input, c.expected);
    } else {
      RunPoolCase(c.input, c.expected);
    }
  }
}

TEST(KeyPoolTest, ErrorsNeverContainKeys) {
  auto pool = KeyPool::Create({"sk-secret-one", "sk-secret-two"});
  ASSERT_TRUE(pool.ok());
  (*pool)->MarkDead("sk-secret-one");
  (*pool)->MarkDead("sk-secret-two");
  const absl::StatusOr<std::string> key = (*pool)->Select();
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(std::string(key.status().message()).find("sk-secret"), std::string::npos);
  EXPECT_EQ(key.status().ToString().find("sk-secret"), std::string::npos);
}

TEST(KeyPoolTest, JsTrimAndNoFallbackFromBlankList) {
  auto pool = KeyPool::Create({"\xC2\xA0k1\xE2\x80\x83", "k1"});  // NBSP, EM SPACE
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ((*pool)->keys(), std::vector<std::string>{"k1"});
  MapEnv env;
  env.Set("OPENAI_KEYS", " , ");
  env.Set("OPENAI_API_KEY", "x");
  EXPECT_EQ(LoadKeysFromEnv("openai", env).status().message(),
            "KeyPool requires at least one non-empty key");
}

TEST(KeyPoolTest, AliasOnlyWhenAsked) {
  MapEnv env;
  env.Set("GEMINI_API_KEY", "g-alias");
  const auto strict = LoadKeysFromEnv("google", env);
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(strict.status().message(),
            "No API keys found for GOOGLE. Set GOOGLE_KEYS (comma-separated) or GOOGLE_API_KEY.");
  const auto with_alias = LoadKeysFromEnv("google", env, /*include_alias=*/true);
  ASSERT_TRUE(with_alias.ok()) << with_alias.status();
  EXPECT_EQ((*with_alias)->keys(), std::vector<std::string>{"g-alias"});
  // The provider's own variables still win over the alias.
  env.Set("GOOGLE_API_KEY", "g-own");
  EXPECT_EQ((*LoadKeysFromEnv("google", env, true))->keys(), std::vector<std::string>{"g-own"});
}

TEST(KeyPoolRegistryTest, LoadsLazilyAndDoesNotCacheFailures) {
  MapEnv env;
  KeyPoolRegistry registry(env);
  EXPECT_EQ(registry.Find("openai"), nullptr);
  EXPECT_EQ(registry.Get("openai").status().code(), absl::StatusCode::kNotFound);
  env.Set("OPENAI_KEYS", "a,b");
  const auto pool = registry.Get("openai");
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ((*pool)->keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(registry.Get("openai")->get(), pool->get());
  EXPECT_EQ(registry.Find("openai").get(), pool->get());
  // Installing a replacement keeps the old pool alive for whoever still holds it.
  registry.Set("openai", std::shared_ptr<KeyPool>(std::move(KeyPool::Create({"c"})).value()));
  EXPECT_EQ((*registry.Get("openai"))->keys(), std::vector<std::string>{"c"});
  EXPECT_EQ((*pool)->keys(), (std::vector<std::string>{"a", "b"}));
}

// 8 threads select/rotate/mark concurrently; the pool stays consistent and every selected key
// is one of the pool's keys.
TEST(KeyPoolTest, ConcurrentUseKeepsInvariants) {
  std::vector<std::string> keys;
  for (int i = 0; i < 16; ++i) keys.push_back("k" + std::to_string(i));
  auto created = KeyPool::Create(keys);
  ASSERT_TRUE(created.ok());
  KeyPool& pool = **created;
  std::atomic<int> exhausted_errors{0};
  std::latch start(8);  // release all 8 threads at once for maximum overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 1000; ++i) {
        const absl::StatusOr<std::string> key = pool.Select();
        if (!key.ok()) {
          exhausted_errors.fetch_add(1);
          continue;
        }
        EXPECT_NE(std::find(keys.begin(), keys.end(), *key), keys.end());
        if (i % 3 == 0) pool.Rotate();
        if (t == 0 && i % 100 == 99) pool.MarkDead(*key);
        const KeyPoolSnapshot s = pool.Snapshot();
        EXPECT_LT(s.index, keys.size());
        EXPECT_EQ(s.alive_count + s.dead_indices.size(), keys.size());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(pool.Snapshot().dead_indices.size(), 10u);
  EXPECT_EQ(exhausted_errors.load(), 0);
}

}  // namespace
}  // namespace llmix::resilience
