// JavaScript string semantics shared by the LLMix-compatibility code: the ECMAScript white-space
// set (what trim(), parseInt() and Date.parse() skip) and WTF-8, the UTF-8 superset that can
// also carry lone surrogates, as JavaScript strings can. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace llmix {

// ECMAScript WhiteSpace + LineTerminator: TAB VT FF SP NBSP ZWNBSP, Zs (U+1680,
// U+2000-U+200A, U+202F, U+205F, U+3000), LF CR LS PS.
bool IsJsWhitespace(uint32_t code_point);

// `text` without leading and trailing JS white space (String.prototype.trim). UTF-8 in and out;
// invalid bytes are never white space.
std::string_view TrimJsWhitespace(std::string_view text);

// Appends `code_point` encoded as WTF-8 (surrogates U+D800-U+DFFF as 3-byte sequences).
void AppendWtf8(uint32_t code_point, std::string& out);

// `text` as strict UTF-8 (what protobuf string fields require): every invalid byte sequence,
// overlong form and encoded surrogate (WTF-8) becomes U+FFFD. Valid input is returned as is.
std::string ToValidUtf8(std::string text);

}  // namespace llmix
