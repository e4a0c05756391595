// Helpers for tests that run real processes: temp dirs, child processes with captured
// output, and waiting on a condition with a deadline (tests never sleep to wait).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llmix::testing {

// Polls `cond` (every ~2 ms, backing off to 20 ms) until it returns true or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond,
             std::chrono::milliseconds timeout = std::chrono::seconds(15));

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

// A child process started with posix_spawn; stdout and stderr go to files. Killed with
// SIGKILL on destruction if still running.
class ChildProcess {
 public:
  // `env` entries are added to (or override) the current environment; a nullopt value unsets.
  ChildProcess(std::vector<std::string> argv,
               std::map<std::string, std::optional<std::string>> env, const std::string& log_dir);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Waits for exit up to `timeout`; returns the exit status (as from waitpid) or nullopt.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  std::string Stdout() const { return ReadFile(stdout_path_); }
  std::string Stderr() const { return ReadFile(stderr_path_); }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string stdout_path_, stderr_path_;
};

// Runs a command to completion (bounded by `timeout`), feeding `stdin_text`; returns
// {exit code, stdout, stderr}. Exit code -1 when it timed out (and was killed).
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text = "",
                         std::map<std::string, std::optional<std::string>> env = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace llmix::testing
