// Every tunable of `llmix-sidecar serve`, as one typed struct. Each field is settable by a
// flag and an LLMIX_* environment variable (flags win); the table in options.cc is the single
// source for parsing, `--help` and the README's configuration reference.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/env.h"

namespace llmix::sidecar {

struct ServeOptions {
  std::vector<std::string> grpc_listen;  // default: unix://<stateDir>/llmix.sock, 127.0.0.1:7070
  std::string http_listen = "127.0.0.1:7071";
  std::string admin_listen = "127.0.0.1:9464";
  std::string registry_dir;  // directory holding current.json; empty: no registry
  int registry_poll_ms = 10000;  // fallback poll of current.json (inotify is the fast path)
  std::string state_dir;     // default: LLMix state dir rule
  bool dummy_upstream = false;
  int workers = 64;
  int queue_size = 1024;
  int drain_grace_ms = 25000;
  int default_timeout_ms = 60000;
  int max_request_bytes = 4 << 20;
  int max_messages = 1024;
  int max_response_bytes = 16 << 20;
  int connect_timeout_ms = 5000;
  std::string ca_file;
  std::string log_level = "info";
  std::string ready_file;  // JSON with the bound addresses, written once serving
};

// Parses flags (`--name value` or `--name=value`) over env defaults. Unknown flags, missing
// values and out-of-range numbers are errors naming the flag or variable.
absl::StatusOr<ServeOptions> ParseServeOptions(const std::vector<std::string>& args, const Env& env);

// Human-readable flag reference (for --help).
std::string ServeOptionsHelp();

}  // namespace llmix::sidecar
