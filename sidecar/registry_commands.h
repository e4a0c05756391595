// Registry subcommands of the `llmix-sidecar` binary: `publish`, `validate`, `activate`.
// Each prints a short JSON report on stdout; errors go to stderr. Exit status: 0 ok,
// 1 the registry refused (invalid preset, unknown revision), 2 usage.
#pragma once

#include <string>
#include <vector>

namespace llmix::sidecar {

int RunPublishCommand(const std::vector<std::string>& args);
int RunValidateCommand(const std::vector<std::string>& args);
int RunActivateCommand(const std::vector<std::string>& args);

}  // namespace llmix::sidecar
