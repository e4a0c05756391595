// Watches a registry root for a new `current.json` and delivers freshly loaded Snapshots.
// inotify on the directory holding current.json (so Kubernetes ConfigMap `..data` symlink swaps
// are seen), plus a slow poll as a fallback (and the only mechanism when inotify is unavailable).
// Start/Stop/CheckNow are thread-safe; the callback runs on the watcher's own thread, one call at
// a time, and must not call Stop().
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "registry/revision.h"
#include "registry/root_signature.h"
#include "registry/snapshot.h"

namespace llmix::registry {

class SnapshotWatcher {
 public:
  struct Options {
    absl::Duration poll_interval = absl::Seconds(10);
    bool use_inotify = true;
    RootTrustOptions trust;  // signatures / minimum revision every load must satisfy
  };
  // Receives every newly activated snapshot, or the error that kept one from loading (each
  // distinct error once; the old snapshot stays in use). After an error, the next successful
  // load is delivered even if it names the revision already in use (the registry recovered).
  using Callback = std::function<void(absl::StatusOr<std::shared_ptr<const Snapshot>>)>;

  // `current` (may be null) is the snapshot already in use: no callback until current.json
  // names something else.
  SnapshotWatcher(std::string root, const Clock& clock, Options options, Callback callback,
                  std::shared_ptr<const Snapshot> current = nullptr);
  ~SnapshotWatcher();
  SnapshotWatcher(const SnapshotWatcher&) = delete;
  SnapshotWatcher& operator=(const SnapshotWatcher&) = delete;

  // Starts the watcher thread (checks once right away). Idempotent.
  absl::Status Start();
  // Stops and joins the thread. Idempotent.
  void Stop();
  // Asks the thread to re-read and fully re-verify the registry now, even when current.json
  // is unchanged (e.g. on SIGHUP); the result is delivered like any reload. No-op when stopped.
  void CheckNow();

  // Whether inotify is in use (false: polling only). Valid after Start().
  bool using_inotify() const;

 private:
  void Run();
  void Check();
  void SyncWatch();  // (re)adds the inotify watch on the root directory
  void Wake();

  const std::string root_;
  const Clock& clock_;
  const Options options_;
  const Callback callback_;

  mutable absl::Mutex mu_;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool inotify_active_ ABSL_GUARDED_BY(mu_) = false;
  // Created by Start() before the thread runs, closed by Stop() after it is joined.
  int inotify_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Stop() / CheckNow() wake the thread
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> force_reload_{false};

  // Thread-only state.
  int watch_fd_ = -1;
  std::optional<CurrentPointer> delivered_;
  std::string last_error_;
};

}  // namespace llmix::registry
