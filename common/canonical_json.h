// ECMAScript-exact JSON text for hashing (CONTRACT.md §2): `JSON.stringify` number and string
// rules, and LLMix's two canonicalisers — the response-cache one (keys by UTF-16 code units) and
// the Config Registry one (keys by ICU en-US collation, compact or pretty). Strings are read as
// WTF-8 (lone surrogates print as `\udxxx`). Stateless free functions; thread-safe (the ICU
// collator is per thread).
#pragma once

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace llmix {

// ECMAScript Number::toString(x): shortest round-trip digits, `1e+21`, `1e-7`, `0.000001`,
// `-0` -> "0"; "NaN", "Infinity", "-Infinity" for non-finite values.
std::string JsNumberToString(double value);

// `JSON.stringify(string)`: quotes; `\"` `\\` `\b` `\f` `\n` `\r` `\t`; other code units < 0x20
// and lone surrogates as lowercase `\uxxxx`; everything else raw UTF-8. Bytes that are not
// WTF-8 are read as U+FFFD.
std::string JsJsonQuote(std::string_view wtf8);
void AppendJsJsonQuoted(std::string_view wtf8, std::string& out);

// True for canonical array-index keys: "0" or [1-9][0-9]* with value <= 4294967294.
bool IsArrayIndexKey(std::string_view key);

// JS `a.localeCompare(b)` for locale en-US (ICU, default strength, normalization on): <0, 0, >0.
int LocaleCompareEnUs(std::string_view a, std::string_view b);

// Serialisation shared by both canonicalisers: `__proto__` members are dropped at every level,
// `discarded` (JS undefined) members omitted and array items printed as null, NaN/±Infinity
// print null, every number (integers included) prints as a double. Serialisation recurses once
// per nesting level: bound the depth of untrusted values first (ParseJsJson does).
//
// Response-cache canonicaliser (`JSON.stringify(value, sortReplacer)`): compact, keys sorted by
// UTF-16 code units with array-index keys first in numeric order. A top-level `discarded`
// value prints "null".
std::string CacheCanonicalJson(const nlohmann::json& value);
std::string CacheCanonicalJson(const nlohmann::ordered_json& value);
// Appends CacheCanonicalJson(value) to `out` (for callers assembling a larger text).
void AppendCacheCanonicalJson(const nlohmann::json& value, std::string& out);

// Config Registry canonicaliser: keys by LocaleCompareEnUs, stable for collation-equal keys
// (input order: nlohmann::json iterates by bytes, ordered_json by insertion), then array-index
// keys first. kPretty is `JSON.stringify(v, null, 2) + "\n"` (canonicalJsonString), kCompact
// has no whitespace (canonicalCompactJsonString).
enum class RegistryJsonLayout { kCompact, kPretty };
std::string RegistryCanonicalJson(const nlohmann::json& value, RegistryJsonLayout layout);
std::string RegistryCanonicalJson(const nlohmann::ordered_json& value, RegistryJsonLayout layout);

// Lowercase hex SHA-256 of `bytes` (OpenSSL EVP).
std::string Sha256Hex(std::string_view bytes);

}  // namespace llmix
