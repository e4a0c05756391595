// End-to-end response cache: the real llmix-sidecar binary, a real redis-server started by the
// test on a free port, and the loopback fake provider (or the offline dummy upstream).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <set>
#include <thread>

#include "common/canonical_json.h"
#include "common/env.h"
#include "pipeline/cache/cache_key.h"
#include "sidecar/proto_mapping.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/fixtures.h"
#include "tests/support/redis_server.h"

namespace llmix::testing {
namespace {

using nlohmann::json;

// JSON text that JavaScript's JSON.parse (and the sidecar's ParseJsJson) reads back as exactly
// `v`: numbers as the shortest round-trip text (-0 stays "-0", ±Infinity as ±1e999), strings
// WTF-8 with lone surrogates escaped, JS undefined members omitted (array items as null).
// nullopt when `v` holds NaN, which JSON cannot carry.
std::optional<std::string> JsJsonText(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return "null";
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::isnan(d)) return std::nullopt;
      if (std::isinf(d)) return d > 0 ? "1e999" : "-1e999";
      if (d == 0 && std::signbit(d)) return "-0";
      return JsNumberToString(d);
    }
    case json::value_t::string:
      return JsJsonQuote(v.get_ref<const std::string&>());
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        auto item = JsJsonText(v[i]);
        if (!item) return std::nullopt;
        out += (i ? "," : "") + *item;
      }
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.value().is_discarded()) continue;
        auto item = JsJsonText(it.value());
        if (!item) return std::nullopt;
        out += (first ? "" : ",") + JsJsonQuote(it.key()) + ":" + *item;
        first = false;
      }
      return out + "}";
    }
    default:
      return std::nullopt;
  }
}

// The typed proto message for an LLMix message when the proto can carry it exactly (checked by
// mapping it back with the sidecar's own MessageToJson), else a message_json one.
v1::Message ToProtoMessage(const json& m, bool* typed) {
  v1::Message out;
  *typed = false;
  if (m.is_object() && m.contains("role") && m["role"].is_string()) {
    v1::Message t;
    bool ok = true;
    for (auto it = m.begin(); it != m.end() && ok; ++it) {
      const json& val = it.value();
      if (it.key() == "role") {
        t.set_role(val.get<std::string>());
      } else if (it.key() == "content" && val.is_string()) {
        t.set_text(val.get<std::string>());
      } else if (it.key() == "content" && val.is_array()) {
        auto* parts = t.mutable_parts();
        for (const json& p : val) {
          auto* part = parts->add_parts();
          if (p.is_object() && p.size() == 2 && p.value("type", "") == "text" &&
              p.contains("text") && p["text"].is_string()) {
            part->set_text(p["text"].get<std::string>());
          } else if (p.is_object() && p.value("type", "") == "image_url" && p.size() == 2 &&
                     p["image_url"].is_object() && p["image_url"].contains("url")) {
            part->mutable_image_url()->set_url(p["image_url"]["url"].get<std::string>());
            if (p["image_url"].contains("detail")) {
              part->mutable_image_url()->set_detail(p["image_url"]["detail"].get<std::string>());
            }
          } else if (auto text = JsJsonText(p); text.has_value()) {
            part->set_part_json(*text);
          } else {
            ok = false;
          }
        }
      } else if (it.key() == "name" && val.is_string()) {
        t.set_name(val.get<std::string>());
      } else if (it.key() == "tool_call_id" && val.is_string()) {
        t.set_tool_call_id(val.get<std::string>());
      } else if (it.key() == "tool_calls" && val.is_array()) {
        for (const json& tc : val) {
          auto* c = t.add_tool_calls();
          c->set_id(tc.value("id", ""));
          c->set_type(tc.value("type", ""));
          c->mutable_function()->set_name(tc["function"].value("name", ""));
          c->mutable_function()->set_arguments(tc["function"].value("arguments", ""));
        }
      } else {
        ok = false;
      }
    }
    // Typed strings must be valid UTF-8 for protobuf; lone surrogates go as message_json.
    bool valid_utf8 = true;
    try {
      (void)m.dump();
    } catch (const json::exception&) {
      valid_utf8 = false;
    }
    if (ok && valid_utf8) {
      auto back = sidecar::MessageToJson(t, 0);
      if (back.ok() && *back == m) {
        *typed = true;
        return t;
      }
    }
  }
  out.set_message_json(*JsJsonText(m));
  return out;
}

std::map<std::string, std::optional<std::string>> EnvOf(const json& input) {
  std::map<std::string, std::optional<std::string>> env;
  if (input.contains("env") && input["env"].is_object()) {
    for (auto it = input["env"].begin(); it != input["env"].end(); ++it) {
      if (it.value().is_string()) {
        env[it.key()] = it.value().get<std::string>();
      } else {
        env[it.key()] = std::nullopt;
      }
    }
  }
  return env;
}

class CacheE2E : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.ok()) << redis_.error(); }

  std::unique_ptr<SidecarProcess> StartSidecar(
      std::vector<std::string> args = {},
      std::map<std::string, std::optional<std::string>> env = {}) {
    env.emplace("OPENAI_BASE_URL", fake_.base_url());
    env.emplace("OPENAI_API_KEY", "sk-cache-e2e-0001");
    env.emplace("REDIS_URL", redis_.url());
    auto s = std::make_unique<SidecarProcess>(std::move(args), std::move(env));
    EXPECT_TRUE(s->ready()) << s->error();
    return s;
  }

  // The key LLMix computes for (config, one user message).
  static std::string KeyOf(const std::string& config, const std::string& user) {
    MapEnv env;
    auto params = cache::CacheKeyParamsOf(
        json::parse(config), json::array({{{"role", "user"}, {"content", user}}}), env);
    EXPECT_TRUE(params.ok()) << params.status();
    return cache::CacheKey(*params);
  }

  RedisServer redis_;
  FakeOpenAi fake_;
  const std::string redis_cfg_ =
      R"({"provider":"openai","model":"gpt-4o-mini","caching":{"strategy":"redis","ttl":600}})";
};

TEST_F(CacheE2E, MissWritesL2AndASecondSidecarProcessGetsAnL2Hit) {
  FakeReply reply;
  reply.content = "<think>hmm</think>The answer";
  fake_.Enqueue(reply);
  auto a = StartSidecar();
  v1::CallResponse miss;
  ASSERT_TRUE(a->Call(InlineRequest(redis_cfg_, "What?"), &miss).ok());
  ASSERT_TRUE(miss.success()) << miss.error().message();
  EXPECT_EQ(miss.cache_hit(), v1::CACHE_TIER_NONE);
  EXPECT_EQ(miss.content(), "The answer");
  EXPECT_EQ(miss.thinking_content(), "hmm");
  EXPECT_EQ(miss.attempts(), 1);

  // Written in LLMix's format, raw (thinking included), with the preset's TTL.
  const std::string key = KeyOf(redis_cfg_, "What?");
  ASSERT_TRUE(WaitFor([&] { return redis_.Get(key).has_value(); }));
  const json stored = json::parse(*redis_.Get(key));
  EXPECT_EQ(stored["data"], "<think>hmm</think>The answer");
  EXPECT_TRUE(stored["cached_at"].is_number_integer());
  EXPECT_EQ(stored.size(), 2u);
  EXPECT_GT(*redis_.Ttl(key), 590);

  auto b = StartSidecar();  // fresh process, empty L1
  v1::CallResponse hit;
  ASSERT_TRUE(b->Call(InlineRequest(redis_cfg_, "What?"), &hit).ok());
  ASSERT_TRUE(hit.success());
  EXPECT_EQ(hit.cache_hit(), v1::CACHE_TIER_L2);
  EXPECT_EQ(hit.content(), "The answer");
  EXPECT_EQ(hit.thinking_content(), "hmm");
  EXPECT_EQ(hit.attempts(), 0);
  EXPECT_EQ(hit.usage().input_tokens(), 0);
  EXPECT_EQ(hit.usage().output_tokens(), 0);
  v1::CallResponse again;
  ASSERT_TRUE(b->Call(InlineRequest(redis_cfg_, "What?"), &again).ok());
  EXPECT_EQ(again.cache_hit(), v1::CACHE_TIER_L1);
  EXPECT_EQ(fake_.RequestCount(), 1u);
}

TEST_F(CacheE2E, EntriesExpireWithTheirTtl) {
  const std::string cfg =
      R"({"provider":"openai","model":"gpt-4o-mini","caching":{"strategy":"redis","ttl":1}})";
  auto s = StartSidecar();
  v1::CallResponse r;
  ASSERT_TRUE(s->Call(InlineRequest(cfg, "short-lived"), &r).ok());
  ASSERT_TRUE(r.success());
  const std::string key = KeyOf(cfg, "short-lived");
  ASSERT_TRUE(WaitFor([&] { return redis_.Get(key).has_value(); }));
  // Redis drops it after 1 s; L1 was written first with the same TTL, so it is gone too.
  ASSERT_TRUE(WaitFor([&] { return !redis_.Get(key).has_value(); }, std::chrono::seconds(10)));
  v1::CallResponse after;
  ASSERT_TRUE(s->Call(InlineRequest(cfg, "short-lived"), &after).ok());
  EXPECT_EQ(after.cache_hit(), v1::CACHE_TIER_NONE);
  EXPECT_EQ(fake_.RequestCount(), 2u);
}

TEST_F(CacheE2E, RedisKilledMidLoadNeverFailsACallAndIsUsedAgainAfterARestart) {
  auto s = StartSidecar({"--redis-timeout-ms", "100", "--workers", "8"});
  v1::CallResponse warm;
  ASSERT_TRUE(s->Call(InlineRequest(redis_cfg_, "hot"), &warm).ok());
  ASSERT_TRUE(warm.success());

  std::atomic<int> done{0}, failed{0}, l1_hits{0};
  std::atomic<int64_t> slowest_ms{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        // Half repeated (L1 serves them), half new (miss: upstream, L2 write/read attempts).
        const std::string user =
            i % 2 == 0 ? "hot" : "cold-" + std::to_string(t) + "-" + std::to_string(i);
        const auto t0 = std::chrono::steady_clock::now();
        v1::CallResponse r;
        grpc::Status st = s->Call(InlineRequest(redis_cfg_, user), &r);
        const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - t0)
                               .count();
        int64_t prev = slowest_ms.load();
        while (ms > prev && !slowest_ms.compare_exchange_weak(prev, ms)) {
        }
        if (!st.ok() || !r.success()) failed.fetch_add(1);
        if (user == "hot" && r.cache_hit() == v1::CACHE_TIER_L1) l1_hits.fetch_add(1);
        done.fetch_add(1);
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return done.load() >= 40; }));
  redis_.Kill();
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(l1_hits.load(), 120);  // every repeated call, before and after the kill
  EXPECT_LT(slowest_ms.load(), 2000);
  EXPECT_TRUE(s->process().Running());

  // Restarted: the sidecar reconnects in the background and reads L2 again. Probe with an
  // entry written straight into Redis for a message the sidecar has never seen.
  ASSERT_TRUE(redis_.Restart());
  int probe = 0;
  v1::CallResponse r;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string user = "probe-" + std::to_string(probe++);
        redis_.SetEx(KeyOf(redis_cfg_, user), 600,
                     R"({"data":"from redis","cached_at":)" +
                         std::to_string(absl::ToUnixSeconds(absl::Now())) + "}");
        r.Clear();
        return s->Call(InlineRequest(redis_cfg_, user), &r).ok() &&
               r.cache_hit() == v1::CACHE_TIER_L2;
      },
      std::chrono::seconds(20)));
  EXPECT_EQ(r.content(), "from redis");
  // And writes again.
  v1::CallResponse fresh;
  ASSERT_TRUE(s->Call(InlineRequest(redis_cfg_, "after restart"), &fresh).ok());
  EXPECT_TRUE(WaitFor([&] { return redis_.Get(KeyOf(redis_cfg_, "after restart")).has_value(); }));
}

TEST_F(CacheE2E, ReadsAnEntryWrittenTheWayTheTypeScriptLibraryWritesIt) {
  // Key straight from the LLMix vectors (generated by the real TypeScript package).
  const auto cases = LoadFixtureCases("cache_keys");
  const FixtureCase* c = nullptr;
  for (const auto& fc : cases) {
    if (fc.name == "caching_redis_same_as_memory") c = &fc;
  }
  ASSERT_NE(c, nullptr);
  const std::string key = c->expected["key"].get<std::string>();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  // JSON.stringify({ data: text, cached_at: Math.floor(Date.now() / 1000) })
  ASSERT_TRUE(redis_.SetEx(
      key, 60,
      R"({"data":"<think>ts</think>Hello from TypeScript \"LLMix\" \u00e9","cached_at":)" +
          std::to_string(now - 10) + "}"));
  auto s = StartSidecar();
  v1::CallRequest req;
  req.set_config_json(*JsJsonText(c->input["config"]));
  bool typed = false;
  for (const json& m : c->input["messages"]) *req.add_messages() = ToProtoMessage(m, &typed);
  v1::CallResponse r;
  ASSERT_TRUE(s->Call(req, &r).ok());
  ASSERT_TRUE(r.success()) << r.error().message();
  EXPECT_EQ(r.cache_hit(), v1::CACHE_TIER_L2);
  EXPECT_EQ(r.content(), "Hello from TypeScript \"LLMix\" \u00e9");
  EXPECT_EQ(r.thinking_content(), "ts");
  EXPECT_EQ(fake_.RequestCount(), 0u);

  // An older LLMix wrote camelCase cachedAt; one that is too old for the reader's ttl misses.
  ASSERT_TRUE(redis_.SetEx(KeyOf(redis_cfg_, "camel"), 60,
                           R"({"data":"camel","cachedAt":)" + std::to_string(now) + "}"));
  ASSERT_TRUE(redis_.SetEx(KeyOf(redis_cfg_, "stale"), 60,
                           R"({"data":"stale","cached_at":)" + std::to_string(now - 700) + "}"));
  v1::CallResponse camel, stale;
  ASSERT_TRUE(s->Call(InlineRequest(redis_cfg_, "camel"), &camel).ok());
  EXPECT_EQ(camel.cache_hit(), v1::CACHE_TIER_L2);
  EXPECT_EQ(camel.content(), "camel");
  ASSERT_TRUE(s->Call(InlineRequest(redis_cfg_, "stale"), &stale).ok());
  EXPECT_EQ(stale.cache_hit(), v1::CACHE_TIER_NONE);
  EXPECT_EQ(stale.content(), "fake reply");
}

// Every cache-key vector through the gRPC API: the config as config_json (strategy switched to
// "redis", which the key ignores), messages as typed protos where the proto can carry them and
// message_json otherwise. The key the sidecar writes to Redis must be the vector's key.
TEST_F(CacheE2E, CacheKeyVectorsThroughTheGrpcApiWriteTheFixtureKeys) {
  const auto cases = LoadFixtureCases("cache_keys");
  // One sidecar per distinct `env` of the vectors (GPU_BASE_URL for sno-gpu).
  std::map<std::string, std::unique_ptr<SidecarProcess>> sidecars;
  int checked = 0, typed_messages = 0, json_messages = 0, errors = 0;
  std::set<std::string> expected_keys;
  for (const FixtureCase& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.expected["key"].is_null() && !c.expected.contains("error")) continue;  // no cache
    json config = c.input["config"];
    config["caching"]["strategy"] = "redis";
    auto config_text = JsJsonText(config);
    if (!config_text.has_value()) continue;  // NaN: JSON cannot carry it
    auto env = EnvOf(c.input);
    const std::string env_id =
        json(env.size()).dump() +
        (env.count("GPU_BASE_URL") && env["GPU_BASE_URL"] ? *env["GPU_BASE_URL"] : "-");
    if (!sidecars.count(env_id)) {
      auto sidecar_env = env;
      sidecar_env.emplace("GPU_BASE_URL", std::nullopt);
      sidecars[env_id] = StartSidecar({"--dummy-upstream"}, sidecar_env);
    }
    SidecarProcess& s = *sidecars[env_id];
    v1::CallRequest req;
    req.set_config_json(*config_text);
    for (const json& m : c.input["messages"]) {
      bool typed = false;
      *req.add_messages() = ToProtoMessage(m, &typed);
      (typed ? typed_messages : json_messages)++;
    }
    if (c.input["messages"].empty()) {
      continue;  // the sidecar requires at least one message (INVALID_ARGUMENT)
    }
    v1::CallResponse r;
    grpc::Status st = s.Call(req, &r);
    // The offline dummy echoes the prompt, lone surrogates included; the response must still
    // arrive (strings are made valid UTF-8 at the edge).
    ASSERT_TRUE(st.ok()) << c.name << ": " << st.error_message();
    if (c.expected.contains("error")) {
      EXPECT_FALSE(r.success());
      EXPECT_EQ(r.error().message(), c.expected["error"].get<std::string>());
      ++errors;
      continue;
    }
    ASSERT_TRUE(r.success()) << r.error().message();
    const std::string key = c.expected["key"].get<std::string>();
    expected_keys.insert(key);
    EXPECT_TRUE(WaitFor([&] { return redis_.Get(key).has_value(); }, std::chrono::seconds(5)))
        << "the sidecar did not write " << key
        << "; keys: " << json(redis_.Keys("llmix:resp:*")).dump();
    ++checked;
  }
  // No key other than the vectors' keys was written.
  std::vector<std::string> written = redis_.Keys("llmix:resp:*");
  EXPECT_EQ(std::set<std::string>(written.begin(), written.end()), expected_keys);
  EXPECT_GE(checked, 45);
  EXPECT_EQ(errors, 2);
  EXPECT_GE(typed_messages, 40);
  EXPECT_GE(json_messages, 2);  // a lone surrogate, an assistant message with content null
}

// --- llmix-sidecar cache-key ----------------------------------------------------------------

TEST(CacheKeyCommand, MatchesEveryCacheKeyVector) {
  int checked = 0;
  for (const FixtureCase& c : LoadFixtureCases("cache_keys")) {
    SCOPED_TRACE(c.name);
    auto input = JsJsonText(c.input);
    if (!input.has_value()) continue;
    CommandResult r =
        RunCommand({LLMIX_SIDECAR_BIN, "cache-key"}, *input, {{"GPU_BASE_URL", std::nullopt}});
    if (c.expected.contains("error")) {
      EXPECT_EQ(r.exit_code, 1) << r.err;
      EXPECT_NE(r.err.find(c.expected["error"].get<std::string>()), std::string::npos) << r.err;
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json out = json::parse(r.out);
    EXPECT_EQ(out["key"], c.expected["key"]);
    EXPECT_EQ(out["canonical"], c.expected["canonical"]);
    ++checked;
  }
  EXPECT_GE(checked, 50);
}

TEST(CacheKeyCommand, ExplainsBadInput) {
  CommandResult empty = RunCommand({LLMIX_SIDECAR_BIN, "cache-key"}, "");
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("no input on stdin"), std::string::npos) << empty.err;
  CommandResult bad = RunCommand({LLMIX_SIDECAR_BIN, "cache-key"}, "{\"config\":");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("not valid JSON"), std::string::npos) << bad.err;
  CommandResult no_messages =
      RunCommand({LLMIX_SIDECAR_BIN, "cache-key"}, R"({"config":{"provider":"openai"}})");
  EXPECT_EQ(no_messages.exit_code, 2);
  EXPECT_NE(no_messages.err.find("\"messages\""), std::string::npos) << no_messages.err;
  CommandResult help = RunCommand({LLMIX_SIDECAR_BIN, "cache-key", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("canonical"), std::string::npos);
}

}  // namespace
}  // namespace llmix::testing
