// SnapshotWatcher on a real temp directory: publishes are picked up via inotify and via polling,
// failures are reported once and keep nothing, ConfigMap-style `..data` swaps are seen.
#include "registry/watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "registry/fs_util.h"
#include "registry/publisher.h"
#include "registry/snapshot_loader.h"
#include "tests/registry/test_util.h"

namespace llmix::registry {
namespace {

using testing::TempDir;

std::string PresetText(const std::string& model) {
  return "---\nname: p\ndescription: D\nmetadata:\n  snoai-llmix:\n    common:\n"
         "      provider: openai\n      model: " +
         model + "\n---\n";
}

// Collects callback results; waits on a condition with a deadline (never a bare sleep).
class Events {
 public:
  void Push(const absl::StatusOr<std::shared_ptr<const Snapshot>>& r) {
    absl::MutexLock lock(&mu_);
    events_.push_back({r.status(), r.ok() ? *r : nullptr});
  }
  // The next event, or DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<std::shared_ptr<const Snapshot>> Next(absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto ready = [this] { return !events_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) {
      return absl::DeadlineExceededError("no watcher event");
    }
    Event e = events_.front();
    events_.pop_front();
    if (!e.status.ok()) return e.status;
    return e.snapshot;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }

 private:
  struct Event {
    absl::Status status;
    std::shared_ptr<const Snapshot> snapshot;
  };
  absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<PublishResult> Publish(const TempDir& root, const Clock& clock,
                                      const std::string& model, const std::string& revision) {
  root.Write("source/m/p.mda", PresetText(model));
  PublishOptions options;
  options.revision = revision;
  return RegistryPublisher(root.path(), clock).Publish(options);
}

class WatcherTest : public ::testing::TestWithParam<bool> {};

TEST_P(WatcherTest, PicksUpPublishesAndReportsFailuresOnce) {
  const bool use_inotify = GetParam();
  TempDir root;
  FakeClock clock;
  ASSERT_TRUE(Publish(root, clock, "a", "r1").ok());
  auto initial = LoadSnapshot(root.path(), clock);
  ASSERT_TRUE(initial.ok());

  Events events;
  SnapshotWatcher::Options options;
  options.use_inotify = use_inotify;
  // With inotify the poll is only a backstop; without it, it is the mechanism.
  options.poll_interval = use_inotify ? absl::Seconds(30) : absl::Milliseconds(20);
  SnapshotWatcher watcher(
      root.path(), clock, options, [&](const auto& r) { events.Push(r); }, *initial);
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_EQ(watcher.using_inotify(), use_inotify);

  ASSERT_TRUE(Publish(root, clock, "b", "r2").ok());
  auto next = events.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->revision, "r2");
  EXPECT_EQ((*next)->Find("m/p")->config.model, "b");

  // A torn current.json is reported (once), then a good one is picked up again.
  // (Replaced atomically so the poller cannot see a half-written file first.)
  ASSERT_TRUE(AtomicReplaceFile(root.Sub("current.json"), "{\"revision\": \"r").ok());
  auto failure = events.Next();
  ASSERT_FALSE(failure.ok());
  EXPECT_EQ(ErrorTypeName(failure.status()).value_or(""), "InvalidConfigError");
  watcher.CheckNow();
  watcher.CheckNow();
  ASSERT_TRUE(RegistryPublisher(root.path(), clock).Activate("r1").ok());
  next = events.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->revision, "r1");
  EXPECT_EQ(events.size(), 0u);
  watcher.Stop();
  watcher.Stop();
}

INSTANTIATE_TEST_SUITE_P(InotifyAndPoll, WatcherTest, ::testing::Bool());

TEST(Watcher, ConfigMapSymlinkSwap) {
  // Kubernetes projects a ConfigMap as <dir>/..<timestamp>/ files, <dir>/..data -> ..<timestamp>,
  // and <dir>/<key> -> ..data/<key>; an update renames a new `..data` symlink into place.
  TempDir staging;
  FakeClock clock;
  ASSERT_TRUE(Publish(staging, clock, "a", "r1").ok());
  ASSERT_TRUE(Publish(staging, clock, "b", "r2").ok());  // current.json -> r2

  TempDir mount;
  ASSERT_EQ(::symlink(staging.Sub("compiled").c_str(), mount.Sub("compiled").c_str()), 0);
  auto pointer_r2 = ReadCurrentPointer(staging.path());
  ASSERT_TRUE(pointer_r2.ok());
  ASSERT_TRUE(RegistryPublisher(staging.path(), clock).Activate("r1").ok());
  auto pointer_r1 = ReadCurrentPointer(staging.path());
  ASSERT_TRUE(pointer_r1.ok());
  mount.Write("..v1/current.json", CurrentPointerText(*pointer_r1));
  mount.Write("..v2/current.json", CurrentPointerText(*pointer_r2));
  ASSERT_EQ(::symlink("..v1", mount.Sub("..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/current.json", mount.Sub("current.json").c_str()), 0);

  auto initial = LoadSnapshot(mount.path(), clock);
  ASSERT_TRUE(initial.ok()) << initial.status();
  EXPECT_EQ((*initial)->revision, "r1");

  Events events;
  SnapshotWatcher::Options options;
  options.poll_interval = absl::Seconds(30);
  SnapshotWatcher watcher(
      mount.path(), clock, options, [&](const auto& r) { events.Push(r); }, *initial);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_TRUE(watcher.using_inotify());
  ASSERT_EQ(::symlink("..v2", mount.Sub("..data_tmp").c_str()), 0);
  ASSERT_EQ(::rename(mount.Sub("..data_tmp").c_str(), mount.Sub("..data").c_str()), 0);
  auto next = events.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->revision, "r2");
}

TEST(Watcher, StartsWithoutRegistryAndDeliversTheFirstOne) {
  TempDir root;
  FakeClock clock;
  Events events;
  SnapshotWatcher::Options options;
  options.poll_interval = absl::Seconds(30);
  SnapshotWatcher watcher(root.path(), clock, options, [&](const auto& r) { events.Push(r); });
  ASSERT_TRUE(watcher.Start().ok());
  auto missing = events.Next();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(ErrorTypeName(missing.status()).value_or(""), "ConfigNotFoundError");
  ASSERT_TRUE(Publish(root, clock, "a", "r1").ok());
  auto first = events.Next();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->revision, "r1");
}

}  // namespace
}  // namespace llmix::registry
