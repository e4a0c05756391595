#include "pipeline/thinking.h"

#include "common/js_text.h"

#include <cstdint>
#include <vector>

namespace llmix::pipeline {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

// Byte length of the JS whitespace character starting at s[i], or 0.
size_t WhitespaceAt(std::string_view s, size_t i) {
  auto b = [&](size_t k) -> uint32_t { return static_cast<unsigned char>(s[k]); };
  uint32_t b0 = b(i);
  if (b0 < 0x80) return IsJsWhitespace(b0) ? 1 : 0;
  if (b0 >= 0xC2 && b0 <= 0xDF && i + 1 < s.size()) {
    return IsJsWhitespace(((b0 & 0x1F) << 6) | (b(i + 1) & 0x3F)) && (b(i + 1) & 0xC0) == 0x80 ? 2
                                                                                               : 0;
  }
  if (b0 >= 0xE1 && b0 <= 0xEF && i + 2 < s.size() && (b(i + 1) & 0xC0) == 0x80 &&
      (b(i + 2) & 0xC0) == 0x80) {
    return IsJsWhitespace(((b0 & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F)) ? 3
                                                                                              : 0;
  }
  return 0;  // no whitespace needs 4 bytes or starts with E0
}

// Byte length of the JS whitespace character that ends at s[end-1], or 0.
size_t WhitespaceBefore(std::string_view s, size_t end) {
  for (size_t len = 1; len <= 3 && len <= end; ++len) {
    size_t start = end - len;
    if ((static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) continue;  // continuation byte
    return WhitespaceAt(s, start) == len ? len : 0;
  }
  return 0;
}

std::string_view JsTrim(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    size_t n = WhitespaceAt(s, begin);
    if (n == 0) break;
    begin += n;
  }
  size_t end = s.size();
  while (end > begin) {
    size_t n = WhitespaceBefore(s, end);
    if (n == 0) break;
    end -= n;
  }
  return s.substr(begin, end - begin);
}

}  // namespace

ThinkingResult StripThinking(std::string_view text) {
  if (text.find(kOpen) == std::string_view::npos) return {std::string(text), std::nullopt};

  std::vector<std::string_view> blocks;
  // /<think>.*?<\/think>\s*/gs: remove each closed block and the whitespace after it.
  std::string stripped;
  stripped.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t open = text.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    size_t close = text.find(kClose, open + kOpen.size());
    if (close == std::string_view::npos) break;
    blocks.push_back(text.substr(open + kOpen.size(), close - open - kOpen.size()));
    stripped.append(text.substr(pos, open - pos));
    size_t after = close + kClose.size();
    while (after < text.size()) {
      size_t n = WhitespaceAt(text, after);
      if (n == 0) break;
      after += n;
    }
    pos = after;
  }
  stripped.append(text.substr(pos));

  // /<think>.*$/s: one unclosed block through the end of the remaining text.
  std::string unclosed;
  bool has_unclosed = false;
  if (size_t open = stripped.find(kOpen); open != std::string::npos) {
    unclosed = stripped.substr(open + kOpen.size());
    has_unclosed = true;
    stripped.resize(open);
  }

  ThinkingResult result{std::string(JsTrim(stripped)), std::nullopt};
  if (!blocks.empty() || has_unclosed) {
    std::string joined;
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (i > 0) joined.push_back('\n');
      joined.append(blocks[i]);
    }
    if (has_unclosed) {
      if (!blocks.empty()) joined.push_back('\n');
      joined.append(unclosed);
    }
    result.thinking = std::move(joined);
  }
  return result;
}

ThinkingResult ApplyThinkingPolicy(std::string_view text, bool keep_thinking_output) {
  if (keep_thinking_output) return {std::string(text), std::nullopt};
  return StripThinking(text);
}

}  // namespace llmix::pipeline
