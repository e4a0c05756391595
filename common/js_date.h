// JavaScript's Date.parse as V8 implements it (ES5 ISO-8601 first, then the legacy grammar:
// RFC 1123 / RFC 850 / asctime / free forms), with the local time zone fixed to UTC. LLMix reads
// Retry-After dates and registry timestamps with it, so the sidecar must accept exactly the same
// strings. Pure function; thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace llmix {

// Milliseconds since the epoch, or nullopt where Date.parse would return NaN. UTF-8 input.
std::optional<double> ParseJsDateMs(std::string_view text);

}  // namespace llmix
