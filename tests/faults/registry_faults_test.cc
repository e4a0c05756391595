// Fault matrix, registry row: while calls run without pause, current.json flips rapidly
// between two published revisions and is torn, pointed at a wrong hash, filled with garbage
// and deleted. Every call must succeed on a whole snapshot (the model always matches the
// revision it reports), broken states must never go live, and the reload counters must
// show them.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_replace.h"
#include "tests/fakes/fake_openai.h"
#include "tests/faults/fault_support.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;

CommandResult Cli(std::vector<std::string> args) {
  args.insert(args.begin(), LLMIX_SIDECAR_BIN);
  return RunCommand(args);
}

void AtomicWrite(const std::string& path, const std::string& content) {
  WriteFile(path + ".tmp", content);
  fs::rename(path + ".tmp", path);
}

TEST(FaultMatrix, RegistryTornWritesBadHashesDeletionAndRapidFlipsUnderLoad) {
  TempDir dir;
  const std::string root = dir.File("llm");
  fs::create_directories(root);
  fs::copy(std::string(LLMIX_SOURCE_DIR) + "/examples/config/llm/source", root + "/source",
           fs::copy_options::recursive);
  const std::string current = root + "/current.json";
  // Revision A (gpt-4o-mini), then revision B (gpt-4.1-mini): B is live after its publish.
  ASSERT_EQ(Cli({"publish", "--root", root}).exit_code, 0);
  const std::string pointer_a = ReadFile(current);
  const std::string preset = root + "/source/demo/hello.mda";
  WriteFile(preset,
            absl::StrReplaceAll(ReadFile(preset), {{"model: gpt-4o-mini", "model: gpt-4.1-mini"}}));
  ASSERT_EQ(Cli({"publish", "--root", root}).exit_code, 0);
  const std::string pointer_b = ReadFile(current);
  ASSERT_NE(pointer_a, pointer_b);
  const std::string rev_a = nlohmann::json::parse(pointer_a).value("revision", "");
  const std::string rev_b = nlohmann::json::parse(pointer_b).value("revision", "");
  ASSERT_FALSE(rev_a.empty());

  FakeOpenAi fake;
  SidecarProcess s({"--registry", root, "--registry-poll-ms", "100", "--workers", "8"},
                   {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "sk-fault-reg"}});
  ASSERT_TRUE(s.ready()) << s.error();

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, int> seen;  // "revision model" -> calls
  Tally bad;
  std::vector<std::thread> load;
  for (int t = 0; t < 3; ++t) {
    load.emplace_back([&] {
      for (int i = 0; i < 3000 && !stop.load(); ++i) {  // bounded
        v1::CallRequest req;
        req.set_preset("demo/hello");
        req.add_messages()->set_role("user");
        req.mutable_messages(0)->set_text("Hi");
        req.set_cache(v1::CACHE_MODE_BYPASS);
        v1::CallResponse r;
        const grpc::Status st = s.Call(req, &r);
        std::lock_guard<std::mutex> l(mu);
        if (!st.ok() || !r.success()) {
          bad.outcomes[OutcomeOf(st, r)] += 1;
        } else {
          seen[r.config_revision() + " " + r.model()] += 1;
        }
      }
    });
  }
  auto info = [&] {
    grpc::ClientContext ctx;
    v1::ConfigInfo i;
    EXPECT_TRUE(s.stub().GetConfigInfo(&ctx, v1::GetConfigInfoRequest(), &i).ok());
    return i;
  };
  auto broken = [&](const std::string& what, const std::function<void()>& damage) {
    damage();
    EXPECT_TRUE(WaitFor([&] { return !info().last_reload_error().empty(); })) << what;
    AtomicWrite(current, pointer_b);
    EXPECT_TRUE(WaitFor([&] { return info().last_reload_error().empty(); })) << what;
  };

  for (int round = 0; round < 4; ++round) {
    for (int flip = 0; flip < 25; ++flip) AtomicWrite(current, flip % 2 ? pointer_b : pointer_a);
    broken("torn write", [&] { WriteFile(current, pointer_a.substr(0, pointer_a.size() / 2)); });
    broken("wrong hash", [&] {
      nlohmann::json p = nlohmann::json::parse(pointer_a);
      p["manifest_sha256"] = std::string(64, 'b');
      AtomicWrite(current, p.dump());
    });
    broken("garbage", [&] { AtomicWrite(current, "\x01not json"); });
    broken("unknown revision", [&] {
      nlohmann::json p = nlohmann::json::parse(pointer_a);
      p["revision"] = "r-does-not-exist";
      AtomicWrite(current, p.dump());
    });
    broken("deleted", [&] { fs::remove(current); });
  }
  EXPECT_TRUE(WaitFor([&] { return info().revision() == rev_b; }));
  stop = true;
  for (auto& th : load) th.join();

  EXPECT_TRUE(bad.outcomes.empty()) << bad.ToString();
  int calls = 0;
  for (const auto& [what, n] : seen) {
    EXPECT_TRUE(what == rev_a + " gpt-4o-mini" || what == rev_b + " gpt-4.1-mini")
        << "a call was served from a mixed or broken snapshot: " << what;
    calls += n;
  }
  EXPECT_GT(calls, 0);
  EXPECT_GE(Metric(s, R"(llmix_config_reloads_total{result="error"})"), 4 * 5);
  EXPECT_EQ(Metric(s, "llmix_config_last_reload_success"), 1);
}

}  // namespace
}  // namespace llmix::testing
