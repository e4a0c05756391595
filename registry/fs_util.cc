#include "registry/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace llmix::registry {

namespace {

absl::Status Errno(int err, std::string_view what, std::string_view path) {
  std::string msg =
      absl::StrCat(absl::string_view(what.data(), what.size()), " ",
                   absl::string_view(path.data(), path.size()), ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case EEXIST:
    case ENOTEMPTY:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

std::string Dirname(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(errno, "cannot write", path);
    }
    off += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFileBytes(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "cannot open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Errno(err, "cannot read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("file too large: ", path, " (more than ", max_bytes, " bytes)"));
    }
  }
  ::close(fd);
  return out;
}

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("not a directory: ", path));
  }
  std::string parent = Dirname(path);
  if (parent != path) {
    if (absl::Status s = MakeDirs(parent); !s.ok()) return s;
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Errno(errno, "cannot create directory", path);
  }
  return absl::OkStatus();
}

absl::Status WriteFileSynced(const std::string& path, std::string_view bytes) {
  if (absl::Status s = MakeDirs(Dirname(path)); !s.ok()) return s;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(errno, "cannot create", path);
  absl::Status s = WriteAll(fd, bytes, path);
  if (s.ok() && ::fsync(fd) != 0) s = Errno(errno, "cannot fsync", path);
  if (::close(fd) != 0 && s.ok()) s = Errno(errno, "cannot close", path);
  return s;
}

absl::Status FsyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, "cannot open directory", path);
  absl::Status s;
  if (::fsync(fd) != 0 && errno != EINVAL) s = Errno(errno, "cannot fsync directory", path);
  ::close(fd);
  return s;
}

absl::Status AtomicReplaceFile(const std::string& path, std::string_view bytes) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = absl::StrCat(path, ".", ::getpid(), ".",
                                 std::chrono::steady_clock::now().time_since_epoch().count(), ".",
                                 counter.fetch_add(1), ".tmp");
  absl::Status s = WriteFileSynced(tmp, bytes);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno(errno, "cannot rename", tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(Dirname(path));
}

absl::StatusOr<std::vector<DirEntry>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno(errno, "cannot list", dir);
  std::vector<DirEntry> out;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    EntryType type = EntryType::kOther;
    if (::lstat(JoinPath(dir, name).c_str(), &st) == 0) {
      if (S_ISREG(st.st_mode)) type = EntryType::kFile;
      if (S_ISDIR(st.st_mode)) type = EntryType::kDirectory;
    }
    out.push_back({std::move(name), type});
  }
  ::closedir(d);
  return out;
}

absl::Status RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return Errno(errno, "cannot stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    absl::StatusOr<std::vector<DirEntry>> entries = ListDir(path);
    if (!entries.ok()) return entries.status();
    for (const DirEntry& e : *entries) {
      if (absl::Status s = RemoveAll(JoinPath(path, e.name)); !s.ok()) return s;
    }
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return Errno(errno, "cannot remove", path);
    return absl::OkStatus();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno(errno, "cannot remove", path);
  return absl::OkStatus();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (a.back() == '/')
    return absl::StrCat(absl::string_view(a.data(), a.size()),
                        absl::string_view(b.data(), b.size()));
  return absl::StrCat(absl::string_view(a.data(), a.size()), "/",
                      absl::string_view(b.data(), b.size()));
}

}  // namespace llmix::registry
