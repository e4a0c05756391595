#include "registry/watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "registry/names.h"
#include "registry/snapshot_loader.h"

namespace llmix::registry {

SnapshotWatcher::SnapshotWatcher(std::string root, const Clock& clock, Options options,
                                 Callback callback, std::shared_ptr<const Snapshot> current)
    : root_(PosixResolve({}, root)),
      clock_(clock),
      options_(options),
      callback_(std::move(callback)) {
  if (current != nullptr && !current->revision.empty()) {
    delivered_ = CurrentPointer{current->revision, current->manifest_sha256};
  }
}

SnapshotWatcher::~SnapshotWatcher() { Stop(); }

absl::Status SnapshotWatcher::Start() {
  absl::MutexLock lock(&mu_);
  if (running_) return absl::OkStatus();
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  inotify_fd_ = -1;
  if (options_.use_inotify) inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  inotify_active_ = inotify_fd_ >= 0;
  watch_fd_ = -1;
  stop_requested_.store(false);
  running_ = true;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void SnapshotWatcher::Stop() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    if (!running_) return;
    running_ = false;
    stop_requested_.store(true);
    Wake();
    thread = std::move(thread_);
  }
  thread.join();
  absl::MutexLock lock(&mu_);
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  inotify_fd_ = -1;
  wake_fd_ = -1;
  inotify_active_ = false;
}

void SnapshotWatcher::CheckNow() {
  absl::MutexLock lock(&mu_);
  if (!running_) return;
  force_reload_.store(true);
  Wake();
}

bool SnapshotWatcher::using_inotify() const {
  absl::MutexLock lock(&mu_);
  return inotify_active_;
}

void SnapshotWatcher::Wake() {
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  (void)n;
}

void SnapshotWatcher::SyncWatch() {
  if (inotify_fd_ < 0 || watch_fd_ >= 0) return;
  // The directory itself: current.json replaced by rename, ConfigMap `..data` swaps, and the
  // directory being removed/recreated (the watch is then re-added on a later pass).
  watch_fd_ = ::inotify_add_watch(inotify_fd_, root_.c_str(),
                                  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                      IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
}

void SnapshotWatcher::Run() {
  const int poll_ms =
      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.poll_interval)));
  SyncWatch();
  Check();
  while (!stop_requested_.load()) {
    struct pollfd fds[2];
    int nfds = 0;
    fds[nfds++] = {wake_fd_, POLLIN, 0};
    if (inotify_fd_ >= 0) fds[nfds++] = {inotify_fd_, POLLIN, 0};
    int r = ::poll(fds, nfds, poll_ms);
    if (stop_requested_.load()) break;
    if (r < 0 && errno != EINTR) break;
    if (r > 0 && (fds[0].revents & POLLIN)) {
      uint64_t count;
      ssize_t n = ::read(wake_fd_, &count, sizeof(count));
      (void)n;
    }
    if (inotify_fd_ >= 0 && nfds > 1 && (fds[1].revents & POLLIN)) {
      alignas(struct inotify_event) char buf[4096];
      for (;;) {
        ssize_t n = ::read(inotify_fd_, buf, sizeof(buf));
        if (n <= 0) break;
        for (char* p = buf; p < buf + n;) {
          auto* ev = reinterpret_cast<struct inotify_event*>(p);
          if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
            if (watch_fd_ >= 0 && (ev->mask & IN_IGNORED) == 0) {
              ::inotify_rm_watch(inotify_fd_, watch_fd_);
            }
            watch_fd_ = -1;
          }
          p += sizeof(struct inotify_event) + ev->len;
        }
      }
    }
    SyncWatch();
    Check();
  }
}

void SnapshotWatcher::Check() {
  const bool forced = force_reload_.exchange(false);
  absl::StatusOr<CurrentPointer> pointer = ReadCurrentPointer(root_);
  // The revision in use is re-verified only when asked to (CheckNow) or when the last check
  // failed: then a successful load tells the listener the registry is healthy again.
  if (pointer.ok() && delivered_.has_value() && pointer->revision == delivered_->revision &&
      pointer->manifest_sha256 == delivered_->manifest_sha256 && !forced && last_error_.empty()) {
    return;
  }
  absl::StatusOr<std::shared_ptr<const Snapshot>> snapshot =
      pointer.ok() ? LoadRevision(root_, *pointer, clock_, &options_.trust)
                   : absl::StatusOr<std::shared_ptr<const Snapshot>>(pointer.status());
  if (snapshot.ok()) {
    delivered_ = *pointer;
    last_error_.clear();
    callback_(std::move(snapshot));
    return;
  }
  std::string error = snapshot.status().ToString();
  if (error == last_error_) return;
  last_error_ = std::move(error);
  callback_(snapshot.status());
}

}  // namespace llmix::registry
