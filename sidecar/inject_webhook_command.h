// `llmix-sidecar inject-webhook`: the mutating admission webhook that injects the sidecar
// into pods annotated `llmix.io/inject: "true"` (see injector.h). Serves HTTPS
// (POST /mutate, GET /healthz) until SIGTERM/SIGINT. Exit status: 0 on signal, 1 startup
// failure, 2 usage.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/env.h"
#include "sidecar/injector.h"

namespace llmix::sidecar {

struct InjectWebhookOptions {
  std::string listen = "0.0.0.0:8443";
  std::string tls_cert;    // PEM certificate chain
  std::string tls_key;     // PEM private key
  std::string ready_file;  // written ({"listen": "host:port"}) once serving
  InjectorConfig injector;
};

// Flags win over LLMIX_INJECT_* env vars; errors name the flag.
absl::StatusOr<InjectWebhookOptions> ParseInjectWebhookOptions(const std::vector<std::string>& args,
                                                               const Env& env);
std::string InjectWebhookHelp();

int RunInjectWebhookCommand(const std::vector<std::string>& args, const Env& env);

}  // namespace llmix::sidecar
