#include "sidecar/options.h"

#include <functional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/logging.h"

namespace llmix::sidecar {

namespace {

enum class Kind { kString, kList, kInt, kBool };

struct OptionSpec {
  const char* flag;  // without leading "--"
  const char* env;
  Kind kind;
  const char* help;
  std::function<void*(ServeOptions&)> field;
  int min = 0;
  int max = 0;
};

const std::vector<OptionSpec>& Specs() {
  static const std::vector<OptionSpec> specs = {
      {"grpc-listen", "LLMIX_GRPC_LISTEN", Kind::kList,
       "gRPC listen address (repeatable; env: comma list). host:port or unix:///path. "
       "Default: unix://<state-dir>/llmix.sock and 127.0.0.1:7070",
       [](ServeOptions& o) -> void* { return &o.grpc_listen; }},
      {"http-listen", "LLMIX_HTTP_LISTEN", Kind::kString,
       "OpenAI-compatible HTTP front door address (/v1/chat/completions, /v1/models); "
       "empty: off",
       [](ServeOptions& o) -> void* { return &o.http_listen; }},
      {"auth-token-file", "LLMIX_AUTH_TOKEN_FILE", Kind::kString,
       "File holding a shared token; when set, gRPC Call/GetConfigInfo and the HTTP front door "
       "require `authorization: Bearer <token>`",
       [](ServeOptions& o) -> void* { return &o.auth_token_file; }},
      {"admin-listen", "LLMIX_ADMIN_LISTEN", Kind::kString,
       "Admin HTTP address (/healthz, /readyz)",
       [](ServeOptions& o) -> void* { return &o.admin_listen; }},
      {"registry", "LLMIX_REGISTRY_DIR", Kind::kString,
       "Config registry directory (the one holding current.json)",
       [](ServeOptions& o) -> void* { return &o.registry_dir; }},
      {"registry-trusted-key", "LLMIX_REGISTRY_TRUSTED_KEYS", Kind::kList,
       "KEY_ID=PEM_PATH of a public key trusted to sign registry roots (repeatable; env: comma "
       "list). When set, every revision must carry a valid registry-root.json signature",
       [](ServeOptions& o) -> void* { return &o.registry_trusted_keys; }},
      {"registry-min-signatures", "LLMIX_REGISTRY_MIN_SIGNATURES", Kind::kInt,
       "Valid signatures by distinct trusted keys a revision needs",
       [](ServeOptions& o) -> void* { return &o.registry_min_signatures; }, 1, 16},
      {"registry-min-revision", "LLMIX_REGISTRY_MIN_REVISION", Kind::kString,
       "Refuse revisions that sort before this one (rollback protection)",
       [](ServeOptions& o) -> void* { return &o.registry_min_revision; }},
      {"registry-trust-manifest", "LLMIX_REGISTRY_TRUST_MANIFEST", Kind::kString,
       "LLMix trust manifest (JSON): refuse revisions below its minimumRevision/highWatermark "
       "or published before its minimumPublishedAt",
       [](ServeOptions& o) -> void* { return &o.registry_trust_manifest; }},
      {"registry-poll-ms", "LLMIX_REGISTRY_POLL_MS", Kind::kInt,
       "Fallback poll interval for current.json (changes are normally seen at once via inotify)",
       [](ServeOptions& o) -> void* { return &o.registry_poll_ms; }, 100, 3600000},
      {"state-dir", "LLMIX_STATE_DIR", Kind::kString,
       "State directory (unix socket, kill switch). Default: $XDG_STATE_HOME/llmix or "
       "~/.local/state/llmix",
       [](ServeOptions& o) -> void* { return &o.state_dir; }},
      {"dummy-upstream", "LLMIX_DUMMY_UPSTREAM", Kind::kBool,
       "Answer every provider call with the built-in offline responder",
       [](ServeOptions& o) -> void* { return &o.dummy_upstream; }},
      {"workers", "LLMIX_WORKERS", Kind::kInt, "Worker threads running calls",
       [](ServeOptions& o) -> void* { return &o.workers; }, 1, 4096},
      {"queue-size", "LLMIX_QUEUE_SIZE", Kind::kInt,
       "Calls waiting for a worker before RESOURCE_EXHAUSTED",
       [](ServeOptions& o) -> void* { return &o.queue_size; }, 1, 1 << 20},
      {"drain-grace-ms", "LLMIX_DRAIN_GRACE_MS", Kind::kInt,
       "On SIGTERM, how long in-flight calls may take to finish",
       [](ServeOptions& o) -> void* { return &o.drain_grace_ms; }, 0, 3600000},
      {"default-timeout-ms", "LLMIX_DEFAULT_TIMEOUT_MS", Kind::kInt,
       "Call deadline when neither the caller nor the preset sets one",
       [](ServeOptions& o) -> void* { return &o.default_timeout_ms; }, 1, 3600000},
      {"max-request-bytes", "LLMIX_MAX_REQUEST_BYTES", Kind::kInt, "Largest accepted request",
       [](ServeOptions& o) -> void* { return &o.max_request_bytes; }, 1024, 1 << 30},
      {"max-messages", "LLMIX_MAX_MESSAGES", Kind::kInt, "Most messages in one call",
       [](ServeOptions& o) -> void* { return &o.max_messages; }, 1, 1 << 20},
      {"max-response-bytes", "LLMIX_MAX_RESPONSE_BYTES", Kind::kInt,
       "Largest upstream response body accepted",
       [](ServeOptions& o) -> void* { return &o.max_response_bytes; }, 1024, 1 << 30},
      {"connect-timeout-ms", "LLMIX_CONNECT_TIMEOUT_MS", Kind::kInt, "Upstream connect timeout",
       [](ServeOptions& o) -> void* { return &o.connect_timeout_ms; }, 1, 600000},
      {"stream-idle-timeout-ms", "LLMIX_STREAM_IDLE_TIMEOUT_MS", Kind::kInt,
       "Streamed calls: longest silence of the provider's stream before UPSTREAM_TIMEOUT",
       [](ServeOptions& o) -> void* { return &o.stream_idle_timeout_ms; }, 1, 3600000},
      {"ca-file", "LLMIX_CA_FILE", Kind::kString,
       "PEM CA bundle for upstream TLS (default: system store)",
       [](ServeOptions& o) -> void* { return &o.ca_file; }},
      {"allow-link-local-upstreams", "LLMIX_ALLOW_LINK_LOCAL_UPSTREAMS", Kind::kBool,
       "allow upstream hosts resolving to link-local / cloud metadata addresses "
       "(169.254.0.0/16, fd00:ec2::254); refused by default",
       [](ServeOptions& o) -> void* { return &o.allow_link_local_upstreams; }},
      {"log-level", "LLMIX_LOG_LEVEL", Kind::kString, "debug | info | warn | error",
       [](ServeOptions& o) -> void* { return &o.log_level; }},
      {"trace-content", "LLMIX_TRACE_CONTENT", Kind::kBool,
       "put prompts and completions on call spans (gen_ai.prompt / gen_ai.completion; also "
       "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true); off: spans leave the pod",
       [](ServeOptions& o) -> void* { return &o.trace_content; }},
      {"ready-file", "LLMIX_READY_FILE", Kind::kString,
       "Write the bound addresses as JSON here once serving (for scripts and tests)",
       [](ServeOptions& o) -> void* { return &o.ready_file; }},
      {"pricing-file", "LLMIX_PRICING_FILE", Kind::kString,
       "JSON object mapping model -> {\"input\": USD, \"output\": USD} per 1M tokens; these "
       "prices win over LLMix's built-in table (README \"Cost and budgets\")",
       [](ServeOptions& o) -> void* { return &o.pricing_file; }},
      // Resilience (README "Resilience").
      {"max-retries", "LLMIX_MAX_RETRIES", Kind::kInt,
       "Retries after the first upstream attempt (a preset's common.maxRetries wins)",
       [](ServeOptions& o) -> void* { return &o.max_retries; }, 0, 100},
      {"retry-base-ms", "LLMIX_RETRY_BASE_MS", Kind::kInt,
       "Backoff before retry n: min(2^n * base, max) + random jitter",
       [](ServeOptions& o) -> void* { return &o.retry_base_ms; }, 0, 3600000},
      {"retry-max-delay-ms", "LLMIX_RETRY_MAX_DELAY_MS", Kind::kInt,
       "Cap of the exponential part of the backoff",
       [](ServeOptions& o) -> void* { return &o.retry_max_delay_ms; }, 0, 3600000},
      {"retry-jitter-ms", "LLMIX_RETRY_JITTER_MS", Kind::kInt,
       "Random jitter added to each backoff: [0, jitter]",
       [](ServeOptions& o) -> void* { return &o.retry_jitter_ms; }, 0, 3600000},
      {"retry-after-cap-ms", "LLMIX_RETRY_AFTER_CAP_MS", Kind::kInt,
       "Longest Retry-After honoured (longer values are capped)",
       [](ServeOptions& o) -> void* { return &o.retry_after_cap_ms; }, 0, 3600000},
      {"breaker-threshold", "LLMIX_BREAKER_THRESHOLD", Kind::kInt,
       "Consecutive failed calls (retryable status or network error) that open a breaker",
       [](ServeOptions& o) -> void* { return &o.breaker_threshold; }, 1, 1000000},
      {"breaker-cooldown-ms", "LLMIX_BREAKER_COOLDOWN_MS", Kind::kInt,
       "How long an open breaker refuses calls before half-open probes (doubles up to 300 s "
       "after a failed probe round)",
       [](ServeOptions& o) -> void* { return &o.breaker_cooldown_ms; }, 0, 3600000},
      {"breaker-half-open-probes", "LLMIX_BREAKER_HALF_OPEN_PROBES", Kind::kInt,
       "Probe calls a half-open breaker admits; a majority of successes closes it",
       [](ServeOptions& o) -> void* { return &o.breaker_half_open_probes; }, 1, 100000},
      {"aimd-initial", "LLMIX_AIMD_INITIAL", Kind::kInt,
       "Concurrent upstream calls per provider at start (and the most it grows back to)",
       [](ServeOptions& o) -> void* { return &o.aimd_initial; }, 1, 100000},
      {"aimd-min", "LLMIX_AIMD_MIN", Kind::kInt,
       "Floor of the per-provider concurrency window when it shrinks on 429",
       [](ServeOptions& o) -> void* { return &o.aimd_min; }, 1, 100000},
      {"global-concurrency", "LLMIX_GLOBAL_CONCURRENCY", Kind::kInt,
       "Concurrent upstream calls across all providers (0: LLM_GLOBAL_CONCURRENCY, else no cap)",
       [](ServeOptions& o) -> void* { return &o.global_concurrency; }, 0, 1000000},
      {"singleflight", "LLMIX_SINGLEFLIGHT", Kind::kBool,
       "Identical concurrent calls share one upstream request (--singleflight=false to disable)",
       [](ServeOptions& o) -> void* { return &o.singleflight; }},
      {"cache-max-entries", "LLMIX_CACHE_MAX_ENTRIES", Kind::kInt,
       "Response cache (L1, in process): most entries",
       [](ServeOptions& o) -> void* { return &o.cache_max_entries; }, 1, 1 << 28},
      {"cache-max-bytes", "LLMIX_CACHE_MAX_BYTES", Kind::kInt,
       "Response cache (L1, in process): most bytes (keys + values + overhead)",
       [](ServeOptions& o) -> void* { return &o.cache_max_bytes; }, 4096, 1 << 30},
      {"redis-url", "REDIS_URL", Kind::kString,
       "Shared L2 response cache: redis://[[user]:password@]host:port[/db] or "
       "unix:///path/redis.sock (empty: L1 only; no TLS, see README)",
       [](ServeOptions& o) -> void* { return &o.redis_url; }},
      {"redis-timeout-ms", "LLMIX_REDIS_TIMEOUT_MS", Kind::kInt,
       "L2 GET timeout on the call path (a timeout is a miss and marks Redis down)",
       [](ServeOptions& o) -> void* { return &o.redis_timeout_ms; }, 1, 60000},
      {"redis-connect-timeout-ms", "LLMIX_REDIS_CONNECT_TIMEOUT_MS", Kind::kInt,
       "Redis connect timeout (connections are made off the call path)",
       [](ServeOptions& o) -> void* { return &o.redis_connect_timeout_ms; }, 1, 60000},
      {"redis-write-timeout-ms", "LLMIX_REDIS_WRITE_TIMEOUT_MS", Kind::kInt,
       "L2 SETEX timeout on the background writer",
       [](ServeOptions& o) -> void* { return &o.redis_write_timeout_ms; }, 1, 60000},
      {"redis-pool-size", "LLMIX_REDIS_POOL_SIZE", Kind::kInt,
       "Redis connections for L2 reads (each used by one worker at a time)",
       [](ServeOptions& o) -> void* { return &o.redis_pool_size; }, 1, 1024},
      {"redis-write-queue", "LLMIX_REDIS_WRITE_QUEUE", Kind::kInt,
       "Pending L2 writes before new ones are dropped (and counted)",
       [](ServeOptions& o) -> void* { return &o.redis_write_queue; }, 1, 1 << 20},
  };
  return specs;
}

absl::Status Apply(const OptionSpec& spec, ServeOptions& o, const std::string& value,
                   const std::string& source, bool from_env) {
  void* field = spec.field(o);
  switch (spec.kind) {
    case Kind::kString:
      *static_cast<std::string*>(field) = value;
      return absl::OkStatus();
    case Kind::kList: {
      auto* list = static_cast<std::vector<std::string>*>(field);
      if (from_env) {
        list->clear();
        for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
          list->emplace_back(absl::StripAsciiWhitespace(part));
        }
      } else {
        list->push_back(value);
      }
      return absl::OkStatus();
    }
    case Kind::kInt: {
      int v = 0;
      if (!absl::SimpleAtoi(value, &v) || v < spec.min || v > spec.max) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": expected an integer in [",
                                                       spec.min, ", ", spec.max, "], got \"",
                                                       value, "\""));
      }
      *static_cast<int*>(field) = v;
      return absl::OkStatus();
    }
    case Kind::kBool: {
      bool v = false;
      if (value == "1" || value == "true" || value == "yes" || value == "on") {
        v = true;
      } else if (value == "0" || value == "false" || value == "no" || value == "off" ||
                 value.empty()) {
        v = false;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": expected true/false/1/0, got \"", value, "\""));
      }
      *static_cast<bool*>(field) = v;
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServeOptions> ParseServeOptions(const std::vector<std::string>& args,
                                               const Env& env) {
  ServeOptions o;
  for (const auto& spec : Specs()) {
    if (auto v = env.Get(spec.env); v.has_value()) {
      if (auto st = Apply(spec, o, *v, spec.env, true); !st.ok()) return st;
    }
  }
  std::set<const OptionSpec*> cli_lists;  // list options given on the command line
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", a, "\""));
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const auto& s : Specs()) {
      if (name == s.flag) spec = &s;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (spec->kind == Kind::kBool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": missing value"));
      }
    }
    if (spec->kind == Kind::kList && cli_lists.insert(spec).second) {
      static_cast<std::vector<std::string>*>(spec->field(o))->clear();  // flags replace env
    }
    if (auto st = Apply(*spec, o, value, "--" + name, false); !st.ok()) return st;
  }
  if (o.state_dir.empty()) o.state_dir = ResolveStateDir(env);
  if (LogLevel level; !ParseLogLevel(o.log_level, &level)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-level / LLMIX_LOG_LEVEL: expected debug, info, warn or error, got \"",
        o.log_level, "\""));
  }
  if (o.grpc_listen.empty()) {
    o.grpc_listen = {"unix://" + o.state_dir + "/llmix.sock", "127.0.0.1:7070"};
  }
  return o;
}

std::string ServeOptionsHelp() {
  std::string out = "llmix-sidecar serve [flags]\n\nFlags (each also read from its env var):\n";
  for (const auto& s : Specs()) {
    absl::StrAppend(&out, "  --", s.flag, s.kind == Kind::kBool ? "" : " VALUE", "  (", s.env,
                    ")\n      ", s.help, "\n");
  }
  return out;
}

}  // namespace llmix::sidecar
