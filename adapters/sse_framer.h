// Server-sent events framing (WHATWG HTML "Parsing an event stream"): bytes in, complete events
// out. Lines end with CRLF, LF or CR (a CRLF split across chunks counts once); `:` lines are
// comments; `data:` lines join with "\n"; one leading space of a value is dropped; a leading
// UTF-8 BOM is skipped; an event is dispatched at a blank line and only if it has data. At the
// end of the stream an unterminated event is discarded, as the spec says (`Finish` reports it).
// Memory is bounded: a line or an event larger than `max_event_bytes` is an error, and the
// framer then refuses further input. Not thread-safe: one instance per stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace llmix::adapters {

struct SseEvent {
  std::string type = "message";  // the `event:` field, "message" when absent
  std::string data;              // `data:` lines joined with "\n"
  std::string id;                // the last `id:` seen in the stream so far
};

class SseFramer {
 public:
  static constexpr size_t kDefaultMaxEventBytes = 1 << 20;

  explicit SseFramer(size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Appends the events completed by `bytes`. ResourceExhausted when a line or an event grows
  // past the limit (the message says how large); the same error for every later call.
  absl::Status Feed(std::string_view bytes, std::vector<SseEvent>* out);

  // End of the stream. Whether a started event (fields seen, no blank line yet) or a partial
  // line was discarded.
  bool Finish();

  // Bytes held for the event being read (line + fields): never more than the limit.
  size_t buffered_bytes() const { return line_.size() + data_.size() + type_.size(); }

 private:
  absl::Status Line(std::string_view line, std::vector<SseEvent>* out);
  absl::Status TooLarge() const;

  const size_t max_event_bytes_;
  absl::Status failed_;
  std::string line_;  // the current line (no terminator)
  std::string data_;  // data buffer, each line followed by "\n"
  std::string type_;  // event type buffer
  std::string last_id_;
  bool has_fields_ = false;  // a field line of the current event was read
  bool after_cr_ = false;    // the previous byte was CR: a following LF ends nothing
  bool first_line_ = true;   // for the BOM
};

}  // namespace llmix::adapters
