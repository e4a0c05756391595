// A JSON reader with ECMAScript `JSON.parse` semantics, for values whose bytes must hash exactly
// as LLMix (Node.js) would: every number becomes a double (`9007199254740993` -> 2^53), strings
// are WTF-8 (lone-surrogate `\ud800` escapes kept as 3-byte sequences, escaped pairs combined),
// a duplicate key's last value wins, `__proto__` is an ordinary key. Input must be UTF-8; depth
// and size are bounded. Never throws. Stateless free functions; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace llmix {

struct JsJsonLimits {
  // Maximum nesting of arrays/objects (a scalar is depth 0, `[]` depth 1).
  int max_depth = 128;
  // Maximum input size in bytes.
  size_t max_bytes = 64u << 20;
};

// Parses `text` as one JSON document (RFC 8259 grammar, JSON whitespace only, no BOM).
// Errors are InvalidArgument "JSON parse error at byte <offset>: <reason>" for invalid syntax,
// trailing characters, invalid UTF-8, raw control characters in strings, or exceeded limits.
// Numbers whose magnitude overflows a double become ±Infinity, underflows ±0 (as in JS).
absl::StatusOr<nlohmann::json> ParseJsJson(std::string_view text, const JsJsonLimits& limits = {});

// Same, keeping object members in first-appearance order (a duplicate key keeps the position of
// its first occurrence and the value of its last, as a JS object does).
absl::StatusOr<nlohmann::ordered_json> ParseJsJsonOrdered(std::string_view text,
                                                          const JsJsonLimits& limits = {});

}  // namespace llmix
