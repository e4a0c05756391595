// `llmix-sidecar call`: a small gRPC client that sends one Call and prints the CallResponse
// as JSON. Exit status: 0 success, 1 call failed (success = false), 2 gRPC error or usage.
#pragma once

#include <string>
#include <vector>

#include "common/env.h"

namespace llmix::sidecar {

int RunCallCommand(const std::vector<std::string>& args, const Env& env);

}  // namespace llmix::sidecar
