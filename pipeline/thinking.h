// `<think>…</think>` handling for reasoning-model replies (CONTRACT.md §3), matching LLMix's
// stripThinking byte for byte: closed blocks and the whitespace after them are removed and
// collected, then one unclosed `<think>` through the end, then the rest is trimmed with JS
// whitespace rules. Text is UTF-8 (WTF-8 tolerated). Pure functions; thread-safe.
#pragma once

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

}  // namespace llmix::pipeline
