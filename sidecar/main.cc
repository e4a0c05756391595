// llmix-sidecar: parses the subcommand and hands off; all wiring lives in server.cc.
#include <signal.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/env.h"
#include "sidecar/cache_key_command.h"
#include "sidecar/call_command.h"
#include "sidecar/inject_webhook_command.h"
#include "sidecar/options.h"
#include "sidecar/registry_commands.h"
#include "sidecar/server.h"
#include "sidecar/version.h"

namespace {

constexpr const char* kUsage =
    "usage: llmix-sidecar <command> [flags]\n"
    "commands:\n"
    "  serve     run the sidecar (see `llmix-sidecar serve --help`)\n"
    "  call      send one Call to a running sidecar (see `llmix-sidecar call --help`)\n"
    "  publish   validate presets and publish a registry revision (--root DIR ...)\n"
    "  validate  check every preset of a registry source tree (--root DIR)\n"
    "  activate  point current.json at a compiled revision (--root DIR REVISION)\n"
    "  cache-key print the response-cache key of a call (JSON on stdin; see --help)\n"
    "  inject-webhook  Kubernetes admission webhook injecting the sidecar (see --help)\n"
    "  --version print the version\n";

int Serve(const std::vector<std::string>& args, const llmix::Env& env) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << llmix::sidecar::ServeOptionsHelp();
      return 0;
    }
  }
  auto options = llmix::sidecar::ParseServeOptions(args, env);
  if (!options.ok()) {
    std::cerr << "llmix-sidecar serve: " << options.status().message() << "\n";
    return 2;
  }
  // Signals are taken synchronously by this thread; block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  llmix::sidecar::Sidecar sidecar(std::move(*options), env);
  if (auto st = sidecar.Start(); !st.ok()) {
    const std::string error(st.message());
    sidecar.logger().Error("startup failed", {{"error", std::string_view(error)}});
    return 1;
  }
  int sig = 0;
  while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
    sidecar.logger().Info("SIGHUP: re-reading the registry");
    sidecar.ReloadNow();
  }
  sidecar.logger().Info("signal received", {{"signal", std::string_view(strsignal(sig))}});
  sidecar.Drain();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil runs Mutex deadlock detection (a lock-order graph updated on every
  // acquisition) unless told not to; it was ~5% of the instructions of a cache hit.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  signal(SIGPIPE, SIG_IGN);  // a peer closing a socket must not kill the process
  std::vector<std::string> args(argv + 1, argv + argc);
  llmix::ProcessEnv env;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "--version" || cmd == "version") {
    std::cout << "llmix-sidecar " << LLMIX_SIDECAR_VERSION << "\n";
    return 0;
  }
  if (cmd == "serve") return Serve(rest, env);
  if (cmd == "call") return llmix::sidecar::RunCallCommand(rest, env);
  if (cmd == "cache-key") {
    return llmix::sidecar::RunCacheKeyCommand(rest, env, std::cin, std::cout, std::cerr);
  }
  if (cmd == "inject-webhook") return llmix::sidecar::RunInjectWebhookCommand(rest, env);
  if (cmd == "publish") return llmix::sidecar::RunPublishCommand(rest);
  if (cmd == "validate") return llmix::sidecar::RunValidateCommand(rest);
  if (cmd == "activate") return llmix::sidecar::RunActivateCommand(rest);
  std::cerr << "llmix-sidecar: unknown command \"" << cmd << "\"\n" << kUsage;
  return 2;
}
