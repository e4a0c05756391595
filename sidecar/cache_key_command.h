// `llmix-sidecar cache-key`: prints the response-cache key LLMix computes for a call, for the
// day a Python service and the sidecar miss each other's cache entries.
// stdin: {"config": {...LLMix config...}, "messages": [...], "env"?: {"NAME": "value"|null}}
// stdout: {"key": "llmix:resp:<sha256>", "canonical": "<the exact hashed text>"}
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "common/env.h"

namespace llmix::sidecar {

// Returns the exit code: 0 printed a key (or null for a strategy that skips the cache),
// 1 the call would fail before the cache (e.g. sno-gpu base URL), 2 bad input or usage.
int RunCacheKeyCommand(const std::vector<std::string>& args, const Env& env, std::istream& in,
                       std::ostream& out, std::ostream& err);

}  // namespace llmix::sidecar
