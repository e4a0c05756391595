// `<think>…</think>` handling for reasoning-model replies (CONTRACT.md §3), matching LLMix's
// stripThinking byte for byte: closed blocks and the whitespace after them are removed and
// collected, then one unclosed `<think>` through the end, then the rest is trimmed with JS
// whitespace rules. Text is UTF-8 (WTF-8 tolerated). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace llmix::pipeline {

struct ThinkingResult {
  std::string content;
  // The collected block texts joined with "\n" (possibly ""), or nullopt when none was found.
  std::optional<std::string> thinking;
};

// LLMix stripThinking(text). Text without "<think>" is returned unchanged (not trimmed).
ThinkingResult StripThinking(std::string_view text);

// What the pipeline returns for a reply (or a cached raw reply): the raw text and no thinking
// when `keep_thinking_output` (common.keepThinkingOutput is JS-truthy), else StripThinking.
ThinkingResult ApplyThinkingPolicy(std::string_view text, bool keep_thinking_output);

// What one Feed/Finish of the streaming extractor adds to the visible answer and to the
// thinking text (either may be empty).
struct ThinkingDelta {
  std::string content;
  std::string thinking;
};

// ApplyThinkingPolicy applied incrementally to a reply that arrives in chunks (content deltas
// of a stream), split at any byte. Concatenating every delta's `content` and `thinking` gives
// what ApplyThinkingPolicy returns on the whole text, with one exception (below).
//
// Held back, never more: a possible prefix of `<think>` / `</think>` at the end of a chunk; a
// run of JS white space (it is dropped if the reply ends there and had a `<think>`); an
// incomplete UTF-8 sequence that may turn out to be white space. Thinking text streams as it
// comes, with "\n" between blocks. Two pathological shapes are resolved only at Finish: a tag
// formed by removing a block (`<thi<think>x</think>nk>`: the rest of the reply is then thinking
// after all later blocks, as in the unary extractor) and an unclosed `<think>` after such a tag.
//
// The exception: white space at the very start of the reply, followed by visible text before
// any `<think>`, is sent before it is known whether a `<think>` follows later ("  Hi <think>…"
// — the unary extractor trims it, the stream has already sent it). A stream that starts with
// `<think>` (what reasoning models send) or has no `<think>` at all is always identical.
// Not thread-safe: one instance per stream.
class StreamingThinkingExtractor {
 public:
  explicit StreamingThinkingExtractor(bool keep_thinking_output = false)
      : keep_(keep_thinking_output) {}

  // Appends what `chunk` releases to `out`.
  void Feed(std::string_view chunk, ThinkingDelta* out);
  // End of the reply: appends everything still held. Feed must not be called afterwards.
  void Finish(ThinkingDelta* out);
  // Whether the reply had a `<think>` (the unary thinking is then non-null, maybe "").
  bool has_thinking() const { return seen_tag_; }

 private:
  enum class Mode { kContent, kBlock, kSkipSpace };

  // Pass 1 (over the original text): finds blocks, removes the white space after them.
  void FeedOriginal(std::string_view chunk);
  // Pass 2 (over the text with closed blocks removed): a `<think>` formed there, white space.
  void StrippedContent(std::string_view bytes);
  void BlockBegin();
  void BlockText(std::string_view bytes);
  void BlockEnd();
  void PutContent(std::string_view bytes);
  void EmitVisible(std::string_view bytes);

  const bool keep_;
  ThinkingDelta* out_ = nullptr;
  Mode mode_ = Mode::kContent;
  std::string pending_;           // pass 1: a proper prefix of the tag looked for
  std::string stripped_pending_;  // pass 2: a proper prefix of `<think>`
  std::string utf8_hold_;         // an incomplete sequence that may be white space
  std::string held_space_;        // white space not yet known to be inside the answer
  bool visible_ = false;          // a non-space byte of the answer was sent
  bool seen_tag_ = false;
  bool formed_ = false;           // pass 2 found a `<think>`: the rest is deferred thinking
  size_t parts_ = 0;              // thinking parts sent (for the "\n" joiner)
  std::string block_;             // a block's text while formed_ (sent when it closes)
  std::string deferred_;          // the unclosed part after a formed tag
};

}  // namespace llmix::pipeline
