#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"
#include "sidecar/admin_server.h"
#include "sidecar/options.h"
#include "sidecar/proto_mapping.h"
#include "sidecar/worker_pool.h"
#include "tests/support/process.h"

namespace llmix::sidecar {
namespace {

TEST(ServeOptions, DefaultsEnvAndFlags) {
  MapEnv env;
  env.Set("HOME", "/home/u");
  auto o = ParseServeOptions({}, env);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->grpc_listen, (std::vector<std::string>{
                                "unix:///home/u/.local/state/llmix/llmix.sock", "127.0.0.1:7070"}));
  EXPECT_EQ(o->admin_listen, "127.0.0.1:9464");
  EXPECT_FALSE(o->dummy_upstream);

  env.Set("LLMIX_GRPC_LISTEN", "127.0.0.1:1, unix:///tmp/x.sock");
  env.Set("LLMIX_WORKERS", "8");
  env.Set("LLMIX_DUMMY_UPSTREAM", "1");
  o = ParseServeOptions({"--workers=3", "--admin-listen", "127.0.0.1:0"}, env);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->grpc_listen, (std::vector<std::string>{"127.0.0.1:1", "unix:///tmp/x.sock"}));
  EXPECT_EQ(o->workers, 3);
  EXPECT_TRUE(o->dummy_upstream);
  EXPECT_EQ(o->admin_listen, "127.0.0.1:0");

  o = ParseServeOptions({"--grpc-listen", "a:1", "--grpc-listen", "b:2"}, env);
  EXPECT_EQ(o->grpc_listen, (std::vector<std::string>{"a:1", "b:2"}));
}

TEST(ServeOptions, ErrorsNameTheFlagOrVariable) {
  MapEnv env;
  EXPECT_NE(ParseServeOptions({"--workers", "0"}, env).status().message().find("--workers"),
            std::string::npos);
  EXPECT_NE(ParseServeOptions({"--bogus"}, env).status().message().find("--bogus"),
            std::string::npos);
  EXPECT_NE(ParseServeOptions({"--registry"}, env).status().message().find("missing value"),
            std::string::npos);
  env.Set("LLMIX_QUEUE_SIZE", "lots");
  EXPECT_NE(ParseServeOptions({}, env).status().message().find("LLMIX_QUEUE_SIZE"),
            std::string::npos);
}

TEST(WorkerPool, RunsTasksAndRefusesWhenFull) {
  WorkerPool pool(1, 1);
  absl::Notification release, started;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
    ran++;
  }));
  started.WaitForNotification();
  ASSERT_TRUE(pool.TrySubmit([&] { ran++; }));   // queued
  EXPECT_FALSE(pool.TrySubmit([&] { ran++; }));  // queue full
  EXPECT_EQ(pool.queue_depth(), 1u);
  release.Notify();
  pool.Shutdown();  // drains the queue
  EXPECT_EQ(ran.load(), 2);
  EXPECT_FALSE(pool.TrySubmit([] {}));
}

TEST(WorkerPool, StartsThreadsOnlyWhenWorkOutnumbersIdleOnes) {
  WorkerPool pool(3, 16);
  EXPECT_EQ(pool.threads(), 0u) << "an idle pool holds no threads";
  absl::Notification done_one;
  ASSERT_TRUE(pool.TrySubmit([&] { done_one.Notify(); }));
  done_one.WaitForNotification();
  EXPECT_EQ(pool.threads(), 1u);
  // Work submitted while a thread is idle reuses it.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(testing::WaitFor([&] { return pool.idle_threads() == 1; }));
    absl::Notification done;
    ASSERT_TRUE(pool.TrySubmit([&] { done.Notify(); }));
    done.WaitForNotification();
  }
  EXPECT_EQ(pool.threads(), 1u);
  // Four blocked tasks need more threads than the limit: three start, one waits queued.
  absl::Notification release;
  std::atomic<int> running{0}, ran{0};
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] {
      running++;
      release.WaitForNotification();
      ran++;
    }));
  }
  ASSERT_TRUE(testing::WaitFor([&] { return running.load() == 3; }));
  EXPECT_EQ(pool.threads(), 3u);
  EXPECT_EQ(pool.queue_depth(), 1u);
  // No thread would take it at once: TrySubmitToIdle refuses (the queue has room).
  EXPECT_FALSE(pool.TrySubmitToIdle([&] { ran++; }));
  // The resume lane (never refused) is served by the same threads.
  pool.Submit([&] { ran++; });
  release.Notify();
  ASSERT_TRUE(testing::WaitFor([&] { return ran.load() == 5; }));
  // Idle threads take work at once.
  ASSERT_TRUE(testing::WaitFor([&] { return pool.idle_threads() == 3; }));
  absl::Notification idle_ran;
  EXPECT_TRUE(pool.TrySubmitToIdle([&] { idle_ran.Notify(); }));
  idle_ran.WaitForNotification();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 5);
  EXPECT_FALSE(pool.TrySubmitToIdle([] {}));
}

TEST(ProtoMapping, MessagesMapToLlmixJson) {
  v1::Message m;
  m.set_role("assistant");
  EXPECT_EQ(*MessageToJson(m, 0), nlohmann::json::parse(R"({"role":"assistant"})"));
  m.set_text("");
  m.set_name("n");
  EXPECT_EQ(*MessageToJson(m, 0),
            nlohmann::json::parse(R"({"role":"assistant","content":"","name":"n"})"));
  v1::Message p;
  p.set_role("user");
  auto* img = p.mutable_parts()->add_parts()->mutable_image_url();
  img->set_url("data:image/png;base64,AAAA");
  img->set_detail("low");
  p.mutable_parts()->add_parts()->set_part_json(R"({"type":"input_audio","input_audio":{"data":"x"}})");
  EXPECT_EQ(*MessageToJson(p, 3), nlohmann::json::parse(R"({"role":"user","content":[
      {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}},
      {"type":"input_audio","input_audio":{"data":"x"}}]})"));
  p.mutable_parts()->add_parts();
  EXPECT_EQ(MessageToJson(p, 3).status().message(),
            "messages[3].parts[2]: empty part (set text, image_url or part_json)");
  v1::Message raw;
  raw.set_message_json("[1]");
  EXPECT_EQ(MessageToJson(raw, 1).status().message(),
            "messages[1].message_json: expected a JSON object");
}

TEST(ProtoMapping, MetadataIsBounded) {
  v1::CallRequest r;
  (*r.mutable_metadata())["k"] = std::string(kMaxMetadataValueBytes + 1, 'v');
  pipeline::CallInput in;
  EXPECT_EQ(ToCallInput(r, &in).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProtoMapping, StatusCodesMapOneToOne) {
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::DeadlineExceededError("x")).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(HostPort, Splits) {
  std::string h;
  int p = 0;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:9464", &h, &p));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 9464);
  ASSERT_TRUE(SplitHostPort("[::1]:0", &h, &p));
  EXPECT_EQ(h, "::1");
  EXPECT_FALSE(SplitHostPort("nohost", &h, &p));
  EXPECT_FALSE(SplitHostPort(":80", &h, &p));
  EXPECT_FALSE(SplitHostPort("h:99999", &h, &p));
}

}  // namespace
}  // namespace llmix::sidecar
