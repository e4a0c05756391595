#include "common/canonical_json.h"

#include <openssl/evp.h>
#include <unicode/coll.h>
#include <unicode/locid.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/js_text.h"

namespace llmix {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

struct Decoded {
  uint32_t cp;  // a code point, possibly a lone surrogate; U+FFFD for a byte that is not WTF-8
  size_t len;   // bytes consumed (>= 1)
};

// Decodes the WTF-8 sequence at s[i] (UTF-8 that may also encode surrogates as 3 bytes).
Decoded DecodeWtf8(std::string_view s, size_t i) {
  auto byte = [&](size_t k) -> uint32_t { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, uint32_t lo = 0x80, uint32_t hi = 0xBF) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  uint32_t b0 = byte(i);
  if (b0 < 0x80) return {b0, 1};
  if (b0 >= 0xC2 && b0 <= 0xDF && cont(i + 1))
    return {((b0 & 0x1F) << 6) | (byte(i + 1) & 0x3F), 2};
  if (b0 >= 0xE0 && b0 <= 0xEF && cont(i + 1, b0 == 0xE0 ? 0xA0 : 0x80) && cont(i + 2)) {
    return {((b0 & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F), 3};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && cont(i + 1, b0 == 0xF0 ? 0x90 : 0x80, b0 == 0xF4 ? 0x8F : 0xBF) &&
      cont(i + 2) && cont(i + 3)) {
    return {((b0 & 0x07) << 18) | ((byte(i + 1) & 0x3F) << 12) | ((byte(i + 2) & 0x3F) << 6) |
                (byte(i + 3) & 0x3F),
            4};
  }
  return {0xFFFD, 1};
}

bool IsHighSurrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDBFF; }
bool IsLowSurrogate(uint32_t cp) { return cp >= 0xDC00 && cp <= 0xDFFF; }

void AppendUnicodeEscape(uint32_t unit, std::string& out) {
  out += "\\u";
  out.push_back(kHexDigits[(unit >> 12) & 0xF]);
  out.push_back(kHexDigits[(unit >> 8) & 0xF]);
  out.push_back(kHexDigits[(unit >> 4) & 0xF]);
  out.push_back(kHexDigits[unit & 0xF]);
}

// The string as JS sees it: UTF-16 code units.
std::u16string ToUtf16(std::string_view wtf8) {
  std::u16string out;
  out.reserve(wtf8.size());
  for (size_t i = 0; i < wtf8.size();) {
    Decoded d = DecodeWtf8(wtf8, i);
    i += d.len;
    if (d.cp >= 0x10000) {
      out.push_back(static_cast<char16_t>(0xD800 + ((d.cp - 0x10000) >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + ((d.cp - 0x10000) & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(d.cp));
    }
  }
  return out;
}

// The en-US collator of this thread (ICU collators are not shared across threads), or nullptr
// when ICU cannot provide one.
const icu::Collator* EnUsCollator() {
  thread_local std::unique_ptr<icu::Collator> collator = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::Collator> c(
        icu::Collator::createInstance(icu::Locale("en", "US"), status));
    if (U_FAILURE(status) || c == nullptr) return std::unique_ptr<icu::Collator>();
    // V8's Intl.Collator (and so localeCompare) turns normalization on (ECMA-402).
    c->setAttribute(UCOL_NORMALIZATION_MODE, UCOL_ON, status);
    return c;
  }();
  return collator.get();
}

int CompareUtf16Collated(const std::u16string& a, const std::u16string& b) {
  const icu::Collator* collator = EnUsCollator();
  if (collator == nullptr) return a.compare(b);  // no ICU data: code-unit order
  UErrorCode status = U_ZERO_ERROR;
  UCollationResult r = collator->compare(a.data(), static_cast<int32_t>(a.size()), b.data(),
                                         static_cast<int32_t>(b.size()), status);
  if (U_FAILURE(status)) return a.compare(b);
  return r == UCOL_LESS ? -1 : (r == UCOL_GREATER ? 1 : 0);
}

uint32_t ArrayIndexValue(std::string_view key) {
  uint64_t v = 0;
  for (char c : key) v = v * 10 + static_cast<uint64_t>(c - '0');
  return static_cast<uint32_t>(v);
}

enum class KeyOrder { kCodeUnits, kCollation };

template <typename Json>
struct Member {
  const std::string* key;
  const Json* value;
  std::u16string u16;
};

// The members that print, in the canonicaliser's order.
template <typename Json>
std::vector<Member<Json>> OrderedMembers(const Json& object, KeyOrder order) {
  std::vector<Member<Json>> members;
  members.reserve(object.size());
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key() == "__proto__" || it.value().is_discarded()) continue;
    members.push_back({&it.key(), &it.value(), ToUtf16(it.key())});
  }
  if (order == KeyOrder::kCodeUnits) {
    std::sort(members.begin(), members.end(),
              [](const Member<Json>& a, const Member<Json>& b) { return a.u16 < b.u16; });
  } else {
    std::stable_sort(members.begin(), members.end(),
                     [](const Member<Json>& a, const Member<Json>& b) {
                       return CompareUtf16Collated(a.u16, b.u16) < 0;
                     });
  }
  // A JS object enumerates array-index keys first, in ascending numeric order.
  auto index_end = std::stable_partition(members.begin(), members.end(), [](const Member<Json>& m) {
    return IsArrayIndexKey(*m.key);
  });
  std::sort(members.begin(), index_end, [](const Member<Json>& a, const Member<Json>& b) {
    return ArrayIndexValue(*a.key) < ArrayIndexValue(*b.key);
  });
  return members;
}

template <typename Json>
class CanonicalWriter {
 public:
  CanonicalWriter(KeyOrder order, bool pretty) : order_(order), pretty_(pretty) {}

  std::string Finish(const Json& value) {
    Write(value, 0);
    if (pretty_) out_.push_back('\n');
    return std::move(out_);
  }
  // Compact layouts only: appends `value` to `out`.
  void AppendTo(const Json& value, std::string& out) {
    out_.swap(out);
    Write(value, 0);
    out_.swap(out);
  }

 private:
  void Newline(int depth) {
    out_.push_back('\n');
    out_.append(static_cast<size_t>(depth) * 2, ' ');
  }

  void WriteNumber(double d) {
    if (!std::isfinite(d)) {
      out_ += "null";
    } else {
      out_ += JsNumberToString(d);
    }
  }

  void Write(const Json& v, int depth) {
    switch (v.type()) {
      case nlohmann::json::value_t::null:
      case nlohmann::json::value_t::discarded:
      case nlohmann::json::value_t::binary:
        out_ += "null";
        return;
      case nlohmann::json::value_t::boolean:
        out_ += v.template get<bool>() ? "true" : "false";
        return;
      case nlohmann::json::value_t::number_integer:
        WriteNumber(static_cast<double>(v.template get<int64_t>()));
        return;
      case nlohmann::json::value_t::number_unsigned:
        WriteNumber(static_cast<double>(v.template get<uint64_t>()));
        return;
      case nlohmann::json::value_t::number_float:
        WriteNumber(v.template get<double>());
        return;
      case nlohmann::json::value_t::string:
        AppendJsJsonQuoted(v.template get_ref<const std::string&>(), out_);
        return;
      case nlohmann::json::value_t::array: {
        if (v.empty()) {
          out_ += "[]";
          return;
        }
        out_.push_back('[');
        bool first = true;
        for (const Json& item : v) {
          if (!first) out_.push_back(',');
          first = false;
          if (pretty_) Newline(depth + 1);
          Write(item, depth + 1);
        }
        if (pretty_) Newline(depth);
        out_.push_back(']');
        return;
      }
      case nlohmann::json::value_t::object: {
        if (WriteInMapOrder(v)) return;
        std::vector<Member<Json>> members = OrderedMembers(v, order_);
        if (members.empty()) {
          out_ += "{}";
          return;
        }
        out_.push_back('{');
        bool first = true;
        for (const Member<Json>& m : members) {
          if (!first) out_.push_back(',');
          first = false;
          if (pretty_) Newline(depth + 1);
          AppendJsJsonQuoted(*m.key, out_);
          out_ += pretty_ ? ": " : ":";
          Write(*m.value, depth + 1);
        }
        if (pretty_) Newline(depth);
        out_.push_back('}');
        return;
      }
    }
    out_ += "null";
  }

  // nlohmann::json keeps members in byte order, which is UTF-16 code-unit order when every
  // key is ASCII; with no array-index key among them that is already the cache order, so the
  // members print as they are (no copy, no sort). False when the general path must run.
  bool WriteInMapOrder(const Json& v) {
    if constexpr (!std::is_same_v<Json, nlohmann::json>) {
      return false;
    } else {
      if (order_ != KeyOrder::kCodeUnits || pretty_) return false;
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& k = it.key();
        for (char c : k) {
          if (static_cast<unsigned char>(c) >= 0x80) return false;
        }
        if (IsArrayIndexKey(k)) return false;
      }
      out_.push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.value().is_discarded() || it.key() == "__proto__") continue;
        if (!first) out_.push_back(',');
        first = false;
        AppendJsJsonQuoted(it.key(), out_);
        out_.push_back(':');
        Write(it.value(), 1);
      }
      out_.push_back('}');
      return true;
    }
  }

  KeyOrder order_;
  bool pretty_;
  std::string out_;
};

}  // namespace

std::string JsNumberToString(double value) {
  if (std::isnan(value)) return "NaN";
  if (value == 0) return "0";  // also -0
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  if (std::fabs(value) < 9007199254740992.0 && std::trunc(value) == value) {
    // Below 2^53 every integer is exact and its shortest round-trip form is its own digits.
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(value));
    return std::string(buf, res.ptr);
  }
  std::string out;
  if (value < 0) {
    out.push_back('-');
    value = -value;
  }
  // Shortest round-trip digits d1.d2...dk and exponent e: value = 0.d1...dk × 10^n, n = e + 1.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  size_t epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos)) {
    if (c != '.') digits.push_back(c);
  }
  int e = std::atoi(std::string(sci.substr(epos + 1)).c_str());
  const int k = static_cast<int>(digits.size());
  const int n = e + 1;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<size_t>(n));
    out.push_back('.');
    out.append(digits, static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out.push_back('e');
    out.push_back(n - 1 < 0 ? '-' : '+');
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

void AppendJsJsonQuoted(std::string_view s, std::string& out) {
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i;
    while (run < s.size()) {
      const unsigned char b = static_cast<unsigned char>(s[run]);
      if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            AppendUnicodeEscape(c, out);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    Decoded d = DecodeWtf8(s, i);
    if (IsHighSurrogate(d.cp) && i + d.len < s.size()) {
      Decoded next = DecodeWtf8(s, i + d.len);
      if (IsLowSurrogate(next.cp)) {  // two WTF-8 halves of one pair: a well-formed code point
        AppendWtf8(0x10000 + ((d.cp - 0xD800) << 10) + (next.cp - 0xDC00), out);
        i += d.len + next.len;
        continue;
      }
    }
    if (IsHighSurrogate(d.cp) || IsLowSurrogate(d.cp)) {
      AppendUnicodeEscape(d.cp, out);
    } else if (d.cp == 0xFFFD && d.len == 1) {
      AppendWtf8(0xFFFD, out);
    } else {
      out.append(s.data() + i, d.len);
    }
    i += d.len;
  }
  out.push_back('"');
}

std::string JsJsonQuote(std::string_view wtf8) {
  std::string out;
  out.reserve(wtf8.size() + 2);
  AppendJsJsonQuoted(wtf8, out);
  return out;
}

bool IsArrayIndexKey(std::string_view key) {
  if (key.empty() || key.size() > 10) return false;
  if (key.size() > 1 && key[0] == '0') return false;
  uint64_t v = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v <= 4294967294ULL;
}

int LocaleCompareEnUs(std::string_view a, std::string_view b) {
  return CompareUtf16Collated(ToUtf16(a), ToUtf16(b));
}

std::string CacheCanonicalJson(const nlohmann::json& value) {
  return CanonicalWriter<nlohmann::json>(KeyOrder::kCodeUnits, false).Finish(value);
}

void AppendCacheCanonicalJson(const nlohmann::json& value, std::string& out) {
  CanonicalWriter<nlohmann::json>(KeyOrder::kCodeUnits, false).AppendTo(value, out);
}

std::string CacheCanonicalJson(const nlohmann::ordered_json& value) {
  return CanonicalWriter<nlohmann::ordered_json>(KeyOrder::kCodeUnits, false).Finish(value);
}

std::string RegistryCanonicalJson(const nlohmann::json& value, RegistryJsonLayout layout) {
  return CanonicalWriter<nlohmann::json>(KeyOrder::kCollation,
                                         layout == RegistryJsonLayout::kPretty)
      .Finish(value);
}

std::string RegistryCanonicalJson(const nlohmann::ordered_json& value, RegistryJsonLayout layout) {
  return CanonicalWriter<nlohmann::ordered_json>(KeyOrder::kCollation,
                                                 layout == RegistryJsonLayout::kPretty)
      .Finish(value);
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // Fetched once per process: an implicit fetch on every digest costs more than hashing a
  // cache key. The fetched algorithm is immutable and safe to share across threads.
  static const EVP_MD* const sha256 = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, sha256, nullptr) != 1) return "";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHexDigits[md[i] >> 4]);
    out.push_back(kHexDigits[md[i] & 0xF]);
  }
  return out;
}

}  // namespace llmix
