#include "common/js_text.h"

namespace llmix {

namespace {

// Decodes one UTF-8 sequence at `*pos` (advancing it); invalid bytes decode as U+FFFD.
uint32_t DecodeUtf8(std::string_view s, size_t* pos) {
  const size_t i = *pos;
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    *pos = i + 1;
    return len == 1 ? b0 : 0xFFFD;
  }
  uint32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      *pos = i + 1;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  *pos = i + len;
  return cp;
}

// Length of the strict UTF-8 sequence at s[i], or 0 when it is invalid (including overlong
// forms and surrogates).
size_t ValidUtf8At(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = b(i);
  if (b0 < 0x80) return 1;
  const auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (b0 == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (b0 == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (b0 == 0xF0 && b(i + 1) < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

std::string ToValidUtf8(std::string text) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = ValidUtf8At(text, i);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return text;
  std::string out = text.substr(0, i);
  while (i < text.size()) {
    const size_t n = ValidUtf8At(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      // Skip a whole encoded surrogate (3 bytes) as one character, else one byte.
      const bool surrogate = i + 2 < text.size() && static_cast<unsigned char>(text[i]) == 0xED &&
                             (static_cast<unsigned char>(text[i + 1]) & 0xE0) == 0xA0 &&
                             (static_cast<unsigned char>(text[i + 2]) & 0xC0) == 0x80;
      i += surrogate ? 3 : 1;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

bool IsJsWhitespace(uint32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string_view TrimJsWhitespace(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    size_t next = begin;
    if (!IsJsWhitespace(DecodeUtf8(text, &next))) break;
    begin = next;
  }
  size_t end = begin;
  size_t pos = begin;
  while (pos < text.size()) {
    if (!IsJsWhitespace(DecodeUtf8(text, &pos))) end = pos;
  }
  return text.substr(begin, end - begin);
}

void AppendWtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace llmix
