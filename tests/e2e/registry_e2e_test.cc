// End-to-end registry behaviour with the real binary: publish -> call -> edit -> publish ->
// the next call uses the new model with no restart (under load, no call fails); broken
// reloads keep the old revision serving and are reported by GetConfigInfo.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_replace.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"
#include "tests/support/test_keys.h"

namespace llmix::testing {
namespace {

namespace fs = std::filesystem;

class RegistryE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.File("llm");
    fs::create_directories(root_);
    fs::copy(std::string(LLMIX_SOURCE_DIR) + "/examples/config/llm/source", root_ + "/source",
             fs::copy_options::recursive);
    ASSERT_EQ(Cli({"publish", "--root", root_}).exit_code, 0);
    sidecar_ = std::make_unique<SidecarProcess>(
        std::vector<std::string>{"--registry", root_, "--registry-poll-ms", "200"},
        std::map<std::string, std::optional<std::string>>{{"OPENAI_BASE_URL", fake_.base_url()},
                                                          {"OPENAI_API_KEY", "sk-reg-test"}});
    ASSERT_TRUE(sidecar_->ready()) << sidecar_->error();
  }

  static CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), LLMIX_SIDECAR_BIN);
    return RunCommand(args);
  }

  void SetModel(const std::string& from, const std::string& to) {
    const std::string path = root_ + "/source/demo/hello.mda";
    WriteFile(path, absl::StrReplaceAll(ReadFile(path), {{"model: " + from, "model: " + to}}));
  }

  v1::ConfigInfo Info() {
    grpc::ClientContext ctx;
    v1::ConfigInfo info;
    EXPECT_TRUE(sidecar_->stub().GetConfigInfo(&ctx, v1::GetConfigInfoRequest(), &info).ok());
    return info;
  }

  v1::CallResponse CallHello() {
    v1::CallRequest req;
    req.set_preset("demo/hello");
    req.add_messages()->set_role("user");
    req.mutable_messages(0)->set_text("Hi");
    v1::CallResponse resp;
    grpc::Status st = sidecar_->Call(req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  TempDir dir_;
  std::string root_;
  FakeOpenAi fake_;
  std::unique_ptr<SidecarProcess> sidecar_;
};

TEST_F(RegistryE2E, PresetCallsUseTheActiveRevision) {
  v1::CallResponse r = CallHello();
  ASSERT_TRUE(r.success()) << r.error().message();
  v1::ConfigInfo info = Info();
  EXPECT_EQ(r.config_revision(), info.revision());
  EXPECT_EQ(fake_.Requests().back().json["model"], "gpt-4o-mini");
  EXPECT_EQ(fake_.Requests().back().json["temperature"], 0.2);
  ASSERT_EQ(info.presets_size(), 3);
  EXPECT_EQ(info.presets(0).id(), "demo/hello");
  EXPECT_EQ(info.presets(0).model(), "gpt-4o-mini");
  EXPECT_EQ(info.last_reload_error(), "");
}

TEST_F(RegistryE2E, PublishSwitchesModelsWithoutRestartAndNoCallFailsUnderLoad) {
  const std::string first_revision = Info().revision();
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      // Bounded: stops when told to, or after 5000 calls per thread.
      for (int i = 0; i < 5000 && !stop.load(); ++i) {
        v1::CallResponse r;
        v1::CallRequest req;
        req.set_preset("demo/hello");
        req.add_messages()->set_role("user");
        req.mutable_messages(0)->set_text("load " + std::to_string(i));
        grpc::Status st = sidecar_->Call(req, &r);
        calls++;
        if (!st.ok() || !r.success()) failures++;
      }
    });
  }
  std::string model = "gpt-4o-mini";
  constexpr int kReloads = 10;
  for (int i = 1; i <= kReloads; ++i) {
    const std::string next = "model-v" + std::to_string(i);
    SetModel(model, next);
    model = next;
    auto pub = Cli({"publish", "--root", root_});
    ASSERT_EQ(pub.exit_code, 0) << pub.err;
    ASSERT_TRUE(WaitFor([&] { return CallHello().model() == model; }))
        << "reload " << i << " not picked up";
  }
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(failures.load(), 0) << "of " << calls.load() << " calls";
  EXPECT_GT(calls.load(), 0);
  EXPECT_NE(Info().revision(), first_revision);
  EXPECT_EQ(fake_.Requests().back().json["model"], model);
  EXPECT_TRUE(sidecar_->process().Running());
}

TEST_F(RegistryE2E, BrokenReloadsKeepTheOldRevisionServing) {
  const std::string good = Info().revision();
  const std::string current = root_ + "/current.json";
  const std::string saved = ReadFile(current);
  auto expect_error_then_recover = [&](const std::string& what) {
    ASSERT_TRUE(WaitFor([&] { return !Info().last_reload_error().empty(); })) << what;
    v1::CallResponse r = CallHello();
    EXPECT_TRUE(r.success()) << what;
    EXPECT_EQ(r.config_revision(), good) << what;
    WriteFile(current + ".tmp", saved);
    fs::rename(current + ".tmp", current);
    ASSERT_TRUE(WaitFor([&] { return Info().last_reload_error().empty(); })) << what;
  };

  // A torn write (partial JSON).
  WriteFile(current, saved.substr(0, saved.size() / 2));
  expect_error_then_recover("torn current.json");

  // A pointer whose manifest hash does not match.
  nlohmann::json ptr = nlohmann::json::parse(saved);
  ptr["manifest_sha256"] = std::string(64, 'a');
  WriteFile(current, ptr.dump());
  expect_error_then_recover("hash mismatch");

  // A resolved preset tampered with after publishing.
  const std::string resolved = root_ + "/compiled/" + good + "/resolved/demo/hello.json";
  const std::string original = ReadFile(resolved);
  WriteFile(resolved, absl::StrReplaceAll(original, {{"gpt-4o-mini", "evil-model"}}));
  sidecar_->process().Signal(SIGHUP);  // re-verify the revision in use
  ASSERT_TRUE(WaitFor([&] { return !Info().last_reload_error().empty(); }));
  EXPECT_EQ(CallHello().model(), "gpt-4o-mini");
  WriteFile(resolved, original);
  sidecar_->process().Signal(SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return Info().last_reload_error().empty(); }));

  // current.json deleted.
  fs::remove(current);
  ASSERT_TRUE(WaitFor([&] { return !Info().last_reload_error().empty(); }));
  EXPECT_TRUE(CallHello().success());
  EXPECT_EQ(Info().revision(), good);
  WriteFile(current, saved);
  ASSERT_TRUE(WaitFor([&] { return Info().last_reload_error().empty(); }));
  EXPECT_EQ(Info().revision(), good);
}

TEST_F(RegistryE2E, InvalidPresetIsRefusedByPublishAndValidate) {
  const std::string good = Info().revision();
  const std::string path = root_ + "/source/demo/hello.mda";
  WriteFile(path, absl::StrReplaceAll(ReadFile(path), {{"temperature: 0.2", "temperature: hot"}}));
  auto validate = Cli({"validate", "--root", root_});
  EXPECT_EQ(validate.exit_code, 1);
  EXPECT_NE(validate.err.find("hello.mda"), std::string::npos) << validate.err;
  EXPECT_NE(validate.err.find("temperature"), std::string::npos) << validate.err;
  auto pub = Cli({"publish", "--root", root_});
  EXPECT_EQ(pub.exit_code, 1);
  EXPECT_NE(pub.err.find("temperature"), std::string::npos) << pub.err;
  EXPECT_EQ(Info().revision(), good);
  EXPECT_TRUE(CallHello().success());
}

TEST_F(RegistryE2E, StrictRedisPresetWithoutRedisIsRefusedAtLoad) {
  const std::string good = Info().revision();
  const std::string path = root_ + "/source/demo/hello.mda";
  WriteFile(path, absl::StrReplaceAll(ReadFile(path), {{"strategy: memory", "strategy: redis"}}));
  ASSERT_EQ(Cli({"publish", "--root", root_}).exit_code, 0);  // valid for LLMix: publish accepts
  ASSERT_TRUE(WaitFor([&] { return !Info().last_reload_error().empty(); }));
  EXPECT_NE(Info().last_reload_error().find("demo/hello"), std::string::npos)
      << Info().last_reload_error();
  EXPECT_EQ(Info().revision(), good);
  EXPECT_TRUE(CallHello().success());
}

TEST_F(RegistryE2E, ActivateRollsBackWithoutRestart) {
  const std::string first = Info().revision();
  SetModel("gpt-4o-mini", "gpt-next");
  ASSERT_EQ(Cli({"publish", "--root", root_}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return CallHello().model() == "gpt-next"; }));
  auto act = Cli({"activate", "--root", root_, first});
  ASSERT_EQ(act.exit_code, 0) << act.err;
  ASSERT_TRUE(WaitFor([&] { return CallHello().model() == "gpt-4o-mini"; }));
  EXPECT_EQ(Info().revision(), first);
  auto bad = Cli({"activate", "--root", root_, "no-such-revision"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(Info().revision(), first);
}

TEST_F(RegistryE2E, PublishIsReproducibleAndIdempotent) {
  TempDir other;
  const std::string a = other.File("a"), b = other.File("b");
  for (const auto& d : {a, b}) {
    fs::create_directories(d);
    fs::copy(root_ + "/source", d + "/source", fs::copy_options::recursive);
    auto r = Cli({"publish", "--root", d, "--published-at", "2026-03-04T05:06:07.890Z"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(ReadFile(a + "/current.json"), ReadFile(b + "/current.json"));
  auto again = Cli({"publish", "--root", a});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_TRUE(nlohmann::json::parse(again.out)["unchanged"].get<bool>()) << again.out;
  auto no_activate = Cli({"publish", "--root", a, "--revision", "r-manual", "--no-activate"});
  ASSERT_EQ(no_activate.exit_code, 0) << no_activate.err;
  EXPECT_TRUE(fs::exists(a + "/compiled/r-manual/manifest.json"));
  EXPECT_EQ(ReadFile(a + "/current.json"), ReadFile(b + "/current.json"));
}

TEST(RegistrySignedE2E, OnlySignedRevisionsGoLive) {
  TempDir dir;
  const std::string root = dir.File("llm");
  fs::create_directories(root);
  fs::copy(std::string(LLMIX_SOURCE_DIR) + "/examples/config/llm/source", root + "/source",
           fs::copy_options::recursive);
  PemKeyFiles key = WriteTestKeyPair(dir.path(), "release", "ED25519");
  auto cli = [](std::vector<std::string> args) {
    args.insert(args.begin(), LLMIX_SIDECAR_BIN);
    return RunCommand(args);
  };
  auto signed_pub = cli({"publish", "--root", root, "--sign-key", "release=" + key.private_pem});
  ASSERT_EQ(signed_pub.exit_code, 0) << signed_pub.err;
  const std::string good = nlohmann::json::parse(signed_pub.out)["revision"];

  SidecarProcess sidecar({"--registry", root, "--dummy-upstream", "--registry-trusted-key",
                          "release=" + key.public_pem},
                         {});
  ASSERT_TRUE(sidecar.ready()) << sidecar.error();
  auto info = [&] {
    grpc::ClientContext ctx;
    v1::ConfigInfo i;
    EXPECT_TRUE(sidecar.stub().GetConfigInfo(&ctx, v1::GetConfigInfoRequest(), &i).ok());
    return i;
  };
  ASSERT_EQ(info().revision(), good);

  // An unsigned revision is refused; the signed one keeps serving.
  const std::string mda = root + "/source/demo/hello.mda";
  WriteFile(mda, absl::StrReplaceAll(ReadFile(mda), {{"gpt-4o-mini", "unsigned-model"}}));
  ASSERT_EQ(cli({"publish", "--root", root}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return !info().last_reload_error().empty(); }));
  EXPECT_NE(info().last_reload_error().find("not signed"), std::string::npos)
      << info().last_reload_error();
  EXPECT_EQ(info().revision(), good);

  // Signing the same sources makes them go live.
  auto resigned = cli({"publish", "--root", root, "--revision", "signed-2", "--sign-key",
                       "release=" + key.private_pem});
  ASSERT_EQ(resigned.exit_code, 0) << resigned.err;
  ASSERT_TRUE(WaitFor([&] { return info().revision() == "signed-2"; }));
  EXPECT_EQ(info().last_reload_error(), "");

  // A trusted-key flag that cannot be loaded stops startup with a clear error.
  auto bad = cli({"serve", "--registry", root, "--grpc-listen", "127.0.0.1:0", "--admin-listen",
                  "127.0.0.1:0", "--state-dir", dir.File("s2"), "--registry-trusted-key",
                  "release=" + dir.File("missing.pem")});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("missing.pem"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace llmix::testing
