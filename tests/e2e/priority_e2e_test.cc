// Priority and backpressure end to end (README "Priority", "Backpressure"): the real binary,
// loopback fakes that hold requests to create load. A flood of low calls held at the provider
// is shed while critical calls keep completing; a draining queue starts critical/high calls
// before low ones queued earlier; `lowPriority: fallback` sends low calls to the secondary when
// the primary's queue is full; bad `routing` config is refused at publish. No sleeps: every
// wait is a WaitFor on a counter, every load loop is bounded.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kPreset[] = R"(---
name: busy
description: A preset with routing rules.
metadata:
  snoai-llmix:
    common:
      provider: openai
      model: primary-model
    caching:
      strategy: disabled
  llmix-sidecar:
    baseUrl: PRIMARY_URL
EXTRA---
# demo/busy
)";

constexpr char kShedRouting[] = R"(    routing:
      maxQueueDepth: 4
      minPriorityWhenBusy: normal
      lowPriority: reject
)";

constexpr char kFallbackRouting[] = R"(    routing:
      maxQueueDepth: 1
      minPriorityWhenBusy: normal
      lowPriority: fallback
    fallback:
      targets:
        - provider: openrouter
          model: secondary-model
          baseUrl: SECONDARY_URL
)";

// Outcomes of calls run on their own threads.
struct Outcomes {
  std::mutex mu;
  std::vector<std::thread> threads;
  std::map<std::string, grpc::Status> status;
  std::map<std::string, v1::CallResponse> response;
  std::atomic<int> done{0};
  std::atomic<int> exhausted{0};

  ~Outcomes() { Join(); }
  void Join() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
  grpc::Status StatusOf(const std::string& name) {
    std::lock_guard<std::mutex> l(mu);
    return status[name];
  }
};

class PriorityE2E : public ::testing::Test {
 protected:
  void Publish(const std::string& extra) {
    root_ = dir_.File("llm");
    fs::create_directories(root_ + "/source/demo");
    // Two passes: the placeholders in `extra` are replaced too.
    WriteFile(root_ + "/source/demo/busy.mda",
              absl::StrReplaceAll(absl::StrReplaceAll(kPreset, {{"EXTRA", extra}}),
                                  {{"PRIMARY_URL", primary_.base_url()},
                                   {"SECONDARY_URL", secondary_.base_url()}}));
    CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root_});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  void Start(int aimd_window, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--max-retries",  "0",
                                     "--aimd-initial", std::to_string(aimd_window),
                                     "--aimd-min",     std::to_string(aimd_window)};
    if (!root_.empty()) {
      args.push_back("--registry");
      args.push_back(root_);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    sidecar_ =
        std::make_unique<SidecarProcess>(args, std::map<std::string, std::optional<std::string>>{
                                                   {"OPENAI_API_KEY", "sk-prio"},
                                                   {"OPENROUTER_API_KEY", "sk-prio-2"},
                                                   {"OPENAI_BASE_URL", primary_.base_url()}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  v1::CallRequest Request(const std::string& text, v1::Priority priority) {
    v1::CallRequest req;
    if (!root_.empty()) {
      req.set_preset("demo/busy");
    } else {
      req.set_config_json(R"({"provider":"openai","model":"m"})");
    }
    req.add_messages()->set_role("user");
    req.mutable_messages(0)->set_text(text);
    req.set_priority(priority);
    return req;
  }

  // Starts one call on its own thread; its outcome lands in `out` under `text`.
  void CallAsync(Outcomes& out, const std::string& text, v1::Priority priority) {
    v1::CallRequest req = Request(text, priority);
    out.threads.emplace_back([this, &out, req, text] {
      v1::CallResponse resp;
      grpc::Status st = sidecar_->Call(req, &resp, std::chrono::seconds(40));
      {
        std::lock_guard<std::mutex> l(out.mu);
        out.status[text] = st;
        out.response[text] = resp;
      }
      if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) out.exhausted++;
      out.done++;
    });
  }

  double Metric(const std::string& series) {
    std::string body;
    sidecar_->AdminGet("/metrics", &body);
    return MetricValue(body, series).value_or(0);
  }

  std::string UserText(const RecordedRequest& r) {
    const auto& msgs = r.json["messages"];
    return msgs.empty() ? "" : msgs.back()["content"].get<std::string>();
  }

  TempDir dir_;
  std::string root_;
  FakeOpenAi primary_, secondary_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(PriorityE2E, LowFloodIsShedWhileCriticalCallsKeepCompleting) {
  Publish(kShedRouting);
  Start(/*aimd_window=*/2);
  primary_.HoldMatching("low-");  // low calls stay at the provider; critical ones are answered
  Outcomes lows;
  for (int i = 0; i < 30; ++i) CallAsync(lows, absl::StrCat("low-", i), v1::PRIORITY_LOW);
  // Two lows hold the provider's two permits, up to four wait for the target, the rest are
  // shed at once with RESOURCE_EXHAUSTED.
  const std::string waiting = R"(llmix_target_waiting{provider="openai",model="primary-model"})";
  ASSERT_TRUE(WaitFor(
      [&] {
        return primary_.Held() == 2 && lows.exhausted.load() + Metric(waiting) + 2 == 30 &&
               lows.done.load() == lows.exhausted.load();
      },
      std::chrono::seconds(20)))
      << "held " << primary_.Held() << " shed " << lows.exhausted.load();
  EXPECT_GE(lows.exhausted.load(), 24);
  {
    std::lock_guard<std::mutex> l(lows.mu);
    for (const auto& [name, st] : lows.status) {
      EXPECT_NE(st.error_message().find("target 0 (openai/primary-model) is busy"),
                std::string::npos)
          << st.error_message();
      EXPECT_NE(st.error_message().find("routing.maxQueueDepth is 4"), std::string::npos);
    }
  }
  // The front door sheds the same way: 429 with Retry-After.
  httplib::Client http("http://" + sidecar_->http_address());
  const std::string body =
      R"({"model":"demo/busy","messages":[{"role":"user","content":"low-http"}]})";
  auto shed =
      http.Post("/v1/chat/completions", {{"x-llmix-priority", "low"}}, body, "application/json");
  ASSERT_TRUE(shed);
  EXPECT_EQ(shed->status, 429) << shed->body;
  EXPECT_EQ(shed->get_header_value("retry-after"), "1");
  auto bad =
      http.Post("/v1/chat/completions", {{"x-llmix-priority", "urgent"}}, body, "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("x-llmix-priority"), std::string::npos) << bad->body;

  // Critical calls keep completing: each waits first in line for a permit, one held low call
  // finishes and hands its permit on, the critical call is served, and the next queued low
  // takes the permit back. More lows keep arriving and keep being shed.
  const std::string critical_waiting = R"(llmix_queue_depth{queue="permit",priority="critical"})";
  int critical_ok = 0;
  for (int round = 0; round < 8; ++round) {
    Outcomes crit;
    CallAsync(crit, absl::StrCat("crit-", round), v1::PRIORITY_CRITICAL);
    ASSERT_TRUE(WaitFor([&] { return Metric(critical_waiting) == 1; }));
    for (int i = 0; i < 3; ++i) {
      CallAsync(lows, absl::StrCat("low-more-", round, "-", i), v1::PRIORITY_LOW);
    }
    primary_.ReleaseOne();
    crit.Join();
    grpc::Status st = crit.StatusOf(absl::StrCat("crit-", round));
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(crit.response[absl::StrCat("crit-", round)].success());
    ++critical_ok;
  }
  EXPECT_EQ(critical_ok, 8);
  EXPECT_GT(Metric(R"(llmix_calls_shed_total{priority="low",reason="target_busy"})"), 24);
  EXPECT_EQ(Metric(R"(llmix_calls_shed_total{priority="critical",reason="target_busy"})"), 0);
  primary_.Release();
  lows.Join();
  int low_served = 0;
  for (const auto& [name, st] : lows.status) {
    if (st.ok() && lows.response[name].success()) ++low_served;
  }
  EXPECT_GE(low_served, 4) << "admitted low calls are served, not starved";
  EXPECT_EQ(low_served + lows.exhausted.load(), static_cast<int>(lows.status.size()));
}

TEST_F(PriorityE2E, ADrainingPermitQueueStartsCriticalAndHighBeforeEarlierLowCalls) {
  Start(/*aimd_window=*/1);
  primary_.Hold();
  Outcomes calls;
  CallAsync(calls, "blocker", v1::PRIORITY_NORMAL);
  ASSERT_TRUE(WaitFor([&] { return primary_.Held() == 1; }));
  for (int i = 0; i < 3; ++i) CallAsync(calls, absl::StrCat("low-", i), v1::PRIORITY_LOW);
  ASSERT_TRUE(
      WaitFor([&] { return Metric(R"(llmix_queue_depth{queue="permit",priority="low"})") == 3; }));
  for (int i = 0; i < 2; ++i) {
    CallAsync(calls, absl::StrCat("high-", i), v1::PRIORITY_HIGH);
    CallAsync(calls, absl::StrCat("critical-", i), v1::PRIORITY_CRITICAL);
  }
  ASSERT_TRUE(WaitFor([&] {
    return Metric(R"(llmix_queue_depth{queue="permit",priority="high"})") == 2 &&
           Metric(R"(llmix_queue_depth{queue="permit",priority="critical"})") == 2;
  }));
  primary_.Release();
  calls.Join();
  for (const auto& [name, st] : calls.status) {
    EXPECT_TRUE(st.ok() && calls.response[name].success()) << name << " " << st.error_message();
  }
  std::vector<std::string> order;
  for (const RecordedRequest& r : primary_.Requests()) {
    const std::string text = UserText(r);
    order.push_back(text.substr(0, text.find('-')));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"blocker", "critical", "critical", "high", "high",
                                             "low", "low", "low"}));
  EXPECT_GT(Metric(R"(llmix_queue_wait_seconds_count{queue="permit",priority="low"})"), 2);
}

TEST_F(PriorityE2E, FullPrimaryQueueSendsLowCallsToTheFallbackTarget) {
  Publish(kFallbackRouting);
  Start(/*aimd_window=*/1);
  primary_.Hold();
  Outcomes calls;
  CallAsync(calls, "a", v1::PRIORITY_NORMAL);
  ASSERT_TRUE(WaitFor([&] { return primary_.Held() == 1; }));
  CallAsync(calls, "b", v1::PRIORITY_NORMAL);  // waits for the primary: its queue is full
  const std::string waiting = R"(llmix_target_waiting{provider="openai",model="primary-model"})";
  ASSERT_TRUE(WaitFor([&] { return Metric(waiting) == 1; }));
  // A low call is rerouted to the secondary and served there while the primary is busy.
  v1::CallResponse low;
  grpc::Status st = sidecar_->Call(Request("c", v1::PRIORITY_LOW), &low);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(low.success()) << low.error().message();
  EXPECT_EQ(low.fallback_index(), 1);
  EXPECT_EQ(low.model(), "secondary-model");
  EXPECT_EQ(secondary_.RequestCount(), 1u);
  EXPECT_EQ(Metric(R"(llmix_calls_shed_total{priority="low",reason="rerouted"})"), 1);
  // Critical and normal calls stay with the primary (not below minPriorityWhenBusy).
  CallAsync(calls, "d", v1::PRIORITY_CRITICAL);
  ASSERT_TRUE(WaitFor([&] { return Metric(waiting) == 2; }));
  primary_.Release();
  calls.Join();
  for (const char* name : {"a", "b", "d"}) {
    EXPECT_TRUE(calls.StatusOf(name).ok()) << name;
    EXPECT_EQ(calls.response[name].fallback_index(), 0) << name;
    EXPECT_TRUE(calls.response[name].success()) << name;
  }
  EXPECT_EQ(primary_.RequestCount(), 3u);
  // A reroute around a busy target is not remembered: the next low call goes to the primary.
  v1::CallResponse after;
  ASSERT_TRUE(sidecar_->Call(Request("e", v1::PRIORITY_LOW), &after).ok());
  EXPECT_EQ(after.fallback_index(), 0);
  EXPECT_EQ(secondary_.RequestCount(), 1u);
}

TEST_F(PriorityE2E, BadRoutingConfigIsRefusedAtPublishNamingTheField) {
  root_ = dir_.File("llm");
  fs::create_directories(root_ + "/source/demo");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"    routing:\n      maxQueueDepth: 4\n      lowPriority: drop\n",
       "metadata.llmix-sidecar.routing.lowPriority"},
      {"    routing:\n      maxQueueDepth: -1\n", "metadata.llmix-sidecar.routing.maxQueueDepth"},
      {"    routing:\n      lowPriority: reject\n", "metadata.llmix-sidecar.routing.maxQueueDepth"},
      {"    routing:\n      maxQueueDepth: 4\n      minPriorityWhenBusy: low\n",
       "metadata.llmix-sidecar.routing.minPriorityWhenBusy"},
      {"    routing:\n      maxQueueDepth: 4\n      queue: 9\n", "metadata.llmix-sidecar.routing"},
      {"    routing:\n      maxQueueDepth: 4\n      lowPriority: fallback\n",
       "routing.lowPriority: \"fallback\" needs fallback.targets"},
  };
  for (const auto& [extra, field] : cases) {
    WriteFile(root_ + "/source/demo/busy.mda",
              absl::StrReplaceAll(kPreset, {{"EXTRA", extra}, {"PRIMARY_URL", "http://x/v1"}}));
    CommandResult r = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root_});
    EXPECT_NE(r.exit_code, 0) << extra;
    EXPECT_NE((r.out + r.err).find(field), std::string::npos) << extra << "\n" << r.out << r.err;
  }
  EXPECT_FALSE(fs::exists(root_ + "/current.json"));
}

TEST_F(PriorityE2E, UnknownPriorityValueIsInvalidArgument) {
  Start(/*aimd_window=*/4);
  v1::CallRequest req = Request("x", v1::PRIORITY_NORMAL);
  req.set_priority(static_cast<v1::Priority>(9));
  v1::CallResponse resp;
  grpc::Status st = sidecar_->Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("priority"), std::string::npos) << st.error_message();
}

}  // namespace
}  // namespace llmix::testing
