// Small POSIX file helpers for the registry: whole-file reads, durable writes (write + fsync),
// atomic replacement (temp file, fsync, rename, fsync of the directory), directory listing
// without following symlinks, recursive removal. Errors are errno-derived Statuses naming the
// path. Stateless free functions; thread-safe (callers coordinate access to the same paths).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llmix::registry {

// Registry files (presets, manifests, pointers) larger than this are refused.
inline constexpr size_t kMaxRegistryFileBytes = 16u << 20;

// The whole file. NOT_FOUND for ENOENT/ENOTDIR, PERMISSION_DENIED for EACCES,
// FAILED_PRECONDITION when it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileBytes(const std::string& path,
                                          size_t max_bytes = kMaxRegistryFileBytes);

// Creates `path` and missing parents (mode 0755).
absl::Status MakeDirs(const std::string& path);

// Creates/truncates `path` (creating parent dirs), writes `bytes`, fsyncs the file.
absl::Status WriteFileSynced(const std::string& path, std::string_view bytes);

// fsync of a directory (makes renames/creates in it durable). Best effort on EINVAL.
absl::Status FsyncDir(const std::string& path);

// Writes `bytes` to a unique temp file beside `path`, fsyncs it, renames it over `path` and
// fsyncs the directory. Readers see the old or the new content, never a torn file.
absl::Status AtomicReplaceFile(const std::string& path, std::string_view bytes);

enum class EntryType { kFile, kDirectory, kOther };  // kOther: symlinks, sockets, ...
struct DirEntry {
  std::string name;
  EntryType type;
};
// Entries of `dir` except "." and "..", unsorted, types from lstat (symlinks are kOther).
absl::StatusOr<std::vector<DirEntry>> ListDir(const std::string& dir);

// `rm -rf path` (no error when it does not exist).
absl::Status RemoveAll(const std::string& path);

// True when `path` exists (lstat).
bool PathExists(const std::string& path);

// Joins with "/" (no normalization).
std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace llmix::registry
