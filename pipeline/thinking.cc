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

enum class SpaceMatch { kNo, kPartial, kYes };

// Whether `s` (non-empty) is exactly one JS white-space character, could still become one
// with more bytes, or is not one — by the rules of WhitespaceAt.
SpaceMatch MatchSpace(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  const size_t need = b0 < 0x80                    ? 1
                      : (b0 >= 0xC2 && b0 <= 0xDF) ? 2
                      : (b0 >= 0xE1 && b0 <= 0xEF) ? 3
                                                   : 0;
  if (need == 0 || s.size() > need) return SpaceMatch::kNo;
  for (size_t k = 1; k < s.size(); ++k) {
    if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) return SpaceMatch::kNo;
  }
  if (s.size() < need) return SpaceMatch::kPartial;
  return WhitespaceAt(s, 0) == need ? SpaceMatch::kYes : SpaceMatch::kNo;
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

// --- streaming -------------------------------------------------------------------------------

void StreamingThinkingExtractor::Feed(std::string_view chunk, ThinkingDelta* out) {
  if (keep_) {
    out->content.append(chunk);
    return;
  }
  out_ = out;
  FeedOriginal(chunk);
  out_ = nullptr;
}

void StreamingThinkingExtractor::FeedOriginal(std::string_view chunk) {
  size_t i = 0;
  while (i < chunk.size()) {
    if (mode_ == Mode::kSkipSpace) {
      pending_.push_back(chunk[i++]);
      const SpaceMatch m = MatchSpace(pending_);
      if (m == SpaceMatch::kYes) pending_.clear();
      if (m != SpaceMatch::kNo) continue;
      // The first byte that is not white space: back to the answer, with the held bytes.
      mode_ = Mode::kContent;
      std::string held;
      held.swap(pending_);
      FeedOriginal(held);
      continue;
    }
    const bool content = mode_ == Mode::kContent;
    const std::string_view tag = content ? kOpen : kClose;
    if (pending_.empty()) {
      const size_t lt = chunk.find('<', i);
      const size_t end = lt == std::string_view::npos ? chunk.size() : lt;
      if (end > i) {
        if (content) {
          StrippedContent(chunk.substr(i, end - i));
        } else {
          BlockText(chunk.substr(i, end - i));
        }
      }
      i = end;
      if (lt == std::string_view::npos) break;
      pending_ = "<";
      ++i;
      continue;
    }
    if (chunk[i] == tag[pending_.size()]) {
      pending_.push_back(chunk[i++]);
      if (pending_.size() < tag.size()) continue;
      pending_.clear();
      if (content) {
        mode_ = Mode::kBlock;
        BlockBegin();
      } else {
        mode_ = Mode::kSkipSpace;
        BlockEnd();
      }
      continue;
    }
    // Not the tag after all: the held bytes are text; chunk[i] is looked at again.
    std::string held;
    held.swap(pending_);
    if (content) {
      StrippedContent(held);
    } else {
      BlockText(held);
    }
  }
}

void StreamingThinkingExtractor::StrippedContent(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (formed_) {
      deferred_.append(bytes.substr(i));
      return;
    }
    if (stripped_pending_.empty()) {
      const size_t lt = bytes.find('<', i);
      const size_t end = lt == std::string_view::npos ? bytes.size() : lt;
      PutContent(bytes.substr(i, end - i));
      i = end;
      if (lt == std::string_view::npos) break;
      stripped_pending_ = "<";
      ++i;
      continue;
    }
    if (bytes[i] == kOpen[stripped_pending_.size()]) {
      stripped_pending_.push_back(bytes[i++]);
      if (stripped_pending_.size() < kOpen.size()) continue;
      // Removing blocks joined the pieces of a `<think>`: the rest is one unclosed block,
      // collected after every block that still closes (unary order), so it waits for Finish.
      stripped_pending_.clear();
      formed_ = true;
      if (!utf8_hold_.empty()) {
        std::string held;
        held.swap(utf8_hold_);
        EmitVisible(held);
      }
      continue;
    }
    std::string held;
    held.swap(stripped_pending_);
    PutContent(held);
  }
}

void StreamingThinkingExtractor::PutContent(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (utf8_hold_.empty() && b >= 0x21 && b < 0x80) {
      // Fast path: a run of visible ASCII.
      size_t end = i + 1;
      while (end < bytes.size() && static_cast<unsigned char>(bytes[end]) >= 0x21 &&
             static_cast<unsigned char>(bytes[end]) < 0x80) {
        ++end;
      }
      EmitVisible(bytes.substr(i, end - i));
      i = end - 1;
      continue;
    }
    utf8_hold_.push_back(bytes[i]);
    while (!utf8_hold_.empty()) {
      const SpaceMatch m = MatchSpace(utf8_hold_);
      if (m == SpaceMatch::kPartial) break;
      if (m == SpaceMatch::kYes) {
        held_space_.append(utf8_hold_);
        utf8_hold_.clear();
        break;
      }
      // Its first byte is visible; the others may start a white-space character.
      EmitVisible(std::string_view(utf8_hold_).substr(0, 1));
      utf8_hold_.erase(0, 1);
    }
  }
}

void StreamingThinkingExtractor::EmitVisible(std::string_view bytes) {
  if (!held_space_.empty()) {
    // Leading white space is trimmed when the reply has a `<think>` (known so far).
    if (visible_ || !seen_tag_) out_->content.append(held_space_);
    held_space_.clear();
  }
  out_->content.append(bytes);
  visible_ = true;
}

void StreamingThinkingExtractor::BlockBegin() {
  seen_tag_ = true;
  if (formed_) return;
  if (parts_++ > 0) out_->thinking.push_back('\n');
}

void StreamingThinkingExtractor::BlockText(std::string_view bytes) {
  if (formed_) {
    block_.append(bytes);
  } else {
    out_->thinking.append(bytes);
  }
}

void StreamingThinkingExtractor::BlockEnd() {
  if (!formed_) return;
  if (parts_++ > 0) out_->thinking.push_back('\n');
  out_->thinking.append(block_);
  block_.clear();
}

void StreamingThinkingExtractor::Finish(ThinkingDelta* out) {
  if (keep_) return;
  out_ = out;
  std::string held;
  held.swap(pending_);
  const bool open_block = mode_ == Mode::kBlock;
  if (open_block) {
    BlockText(held);
  } else {
    StrippedContent(held);  // a partial tag, or an incomplete sequence after a block
  }
  if (formed_) {
    if (open_block) {
      // Pass 1 found no `</think>`: the tag and its text stay in the unclosed rest.
      deferred_.append(kOpen);
      deferred_.append(block_);
    }
    if (parts_++ > 0) out->thinking.push_back('\n');
    out->thinking.append(deferred_);
  } else {
    std::string partial;
    partial.swap(stripped_pending_);
    PutContent(partial);
    if (!utf8_hold_.empty()) {  // incomplete at the end: never white space
      std::string hold = std::move(utf8_hold_);
      utf8_hold_.clear();
      EmitVisible(hold);
    }
  }
  // Trailing white space: trimmed only when the reply had a `<think>`.
  if (!seen_tag_) out->content.append(held_space_);
  held_space_.clear();
  deferred_.clear();
  block_.clear();
  mode_ = Mode::kContent;
  out_ = nullptr;
}

}  // namespace llmix::pipeline
