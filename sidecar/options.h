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
  std::string http_listen = "127.0.0.1:7071";  // empty: no HTTP front door
  std::string auth_token_file;  // empty: no auth
  std::string admin_listen = "127.0.0.1:9464";
  std::string registry_dir;  // directory holding current.json; empty: no registry
  int registry_poll_ms = 10000;  // fallback poll of current.json (inotify is the fast path)
  std::vector<std::string> registry_trusted_keys;  // KEY_ID=PEM; non-empty: signatures required
  int registry_min_signatures = 1;
  std::string registry_min_revision;  // empty: no minimum
  std::string registry_trust_manifest;  // LLMix trust manifest: min revision / high watermark
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
  int stream_idle_timeout_ms = 60000;  // streamed calls: longest upstream silence
  std::string ca_file;
  bool allow_link_local_upstreams = false;  // SSRF guard off (README "Providers")
  std::string log_level = "info";
  bool trace_content = false;  // prompts/completions on spans (README "Observability")
  std::string ready_file;  // JSON with the bound addresses, written once serving
  std::string pricing_file;  // model -> {input, output} USD per 1M, before LLMix's table
  // Resilience (README "Resilience"); defaults are LLMix's.
  int max_retries = 3;
  int retry_base_ms = 1000;
  int retry_max_delay_ms = 30000;
  int retry_jitter_ms = 1000;
  int retry_after_cap_ms = 60000;
  int breaker_threshold = 3;
  int breaker_cooldown_ms = 30000;
  int breaker_half_open_probes = 10;
  int aimd_initial = 32;
  int aimd_min = 4;
  int global_concurrency = 0;  // 0: LLM_GLOBAL_CONCURRENCY, else no cap
  bool singleflight = true;
  // Response cache (README "Cache"): L1 bounds, and the Redis L2 (REDIS_URL; empty: L1 only).
  int cache_max_entries = 1000;
  int cache_max_bytes = 64 << 20;
  std::string redis_url;
  int redis_timeout_ms = 100;          // GET on the call path
  int redis_connect_timeout_ms = 500;
  int redis_write_timeout_ms = 1000;   // background SETEX
  int redis_pool_size = 8;
  int redis_write_queue = 1024;
};

// Parses flags (`--name value` or `--name=value`) over env defaults. Unknown flags, missing
// values and out-of-range numbers are errors naming the flag or variable.
absl::StatusOr<ServeOptions> ParseServeOptions(const std::vector<std::string>& args, const Env& env);

// Human-readable flag reference (for --help).
std::string ServeOptionsHelp();

}  // namespace llmix::sidecar
