#include "sidecar/options.h"

#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

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
       "OpenAI-compatible front door address (reserved; served from the front-door release)",
       [](ServeOptions& o) -> void* { return &o.http_listen; }},
      {"admin-listen", "LLMIX_ADMIN_LISTEN", Kind::kString,
       "Admin HTTP address (/healthz, /readyz)",
       [](ServeOptions& o) -> void* { return &o.admin_listen; }},
      {"registry", "LLMIX_REGISTRY_DIR", Kind::kString,
       "Config registry directory (the one holding current.json)",
       [](ServeOptions& o) -> void* { return &o.registry_dir; }},
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
      {"ca-file", "LLMIX_CA_FILE", Kind::kString,
       "PEM CA bundle for upstream TLS (default: system store)",
       [](ServeOptions& o) -> void* { return &o.ca_file; }},
      {"log-level", "LLMIX_LOG_LEVEL", Kind::kString, "debug | info | warn | error",
       [](ServeOptions& o) -> void* { return &o.log_level; }},
      {"ready-file", "LLMIX_READY_FILE", Kind::kString,
       "Write the bound addresses as JSON here once serving (for scripts and tests)",
       [](ServeOptions& o) -> void* { return &o.ready_file; }},
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
  bool cli_grpc_listen = false;
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
    if (spec->kind == Kind::kList && !cli_grpc_listen) {
      o.grpc_listen.clear();  // flags replace the env/default list
      cli_grpc_listen = true;
    }
    if (auto st = Apply(*spec, o, value, "--" + name, false); !st.ok()) return st;
  }
  if (o.state_dir.empty()) o.state_dir = ResolveStateDir(env);
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
