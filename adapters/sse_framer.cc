#include "adapters/sse_framer.h"

#include "absl/strings/str_cat.h"

namespace llmix::adapters {

absl::Status SseFramer::TooLarge() const {
  return absl::ResourceExhaustedError(
      absl::StrCat("server-sent event larger than ", max_event_bytes_, " bytes"));
}

absl::Status SseFramer::Feed(std::string_view bytes, std::vector<SseEvent>* out) {
  if (!failed_.ok()) return failed_;
  size_t i = 0;
  while (i < bytes.size()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    const size_t eol = bytes.find_first_of("\r\n", i);
    const size_t end = eol == std::string_view::npos ? bytes.size() : eol;
    if (buffered_bytes() + (end - i) > max_event_bytes_) {
      failed_ = TooLarge();
      line_.clear();
      data_.clear();
      return failed_;
    }
    if (eol == std::string_view::npos) {
      line_.append(bytes.substr(i));
      break;
    }
    absl::Status s;
    if (line_.empty()) {
      s = Line(bytes.substr(i, eol - i), out);
    } else {
      line_.append(bytes.substr(i, eol - i));
      std::string line;
      line.swap(line_);
      s = Line(line, out);
    }
    if (!s.ok()) {
      failed_ = s;
      return s;
    }
    after_cr_ = bytes[eol] == '\r';
    i = eol + 1;
  }
  return absl::OkStatus();
}

absl::Status SseFramer::Line(std::string_view line, std::vector<SseEvent>* out) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {  // dispatch
    has_fields_ = false;
    if (data_.empty()) {
      type_.clear();
      return absl::OkStatus();
    }
    SseEvent e;
    data_.pop_back();  // the last "\n"
    e.data.swap(data_);
    if (!type_.empty()) e.type.swap(type_);
    type_.clear();
    e.id = last_id_;
    out->push_back(std::move(e));
    return absl::OkStatus();
  }
  if (line[0] == ':') return absl::OkStatus();  // comment
  has_fields_ = true;
  std::string_view field = line, value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (buffered_bytes() + value.size() + 1 > max_event_bytes_) return TooLarge();
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    if (buffered_bytes() + value.size() > max_event_bytes_) return TooLarge();
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos && value.size() <= max_event_bytes_) {
      last_id_.assign(value);
    }
  }
  // `retry` and unknown fields are ignored.
  return absl::OkStatus();
}

bool SseFramer::Finish() {
  const bool discarded = has_fields_ || !line_.empty();
  line_.clear();
  data_.clear();
  type_.clear();
  has_fields_ = false;
  return discarded && failed_.ok();
}

}  // namespace llmix::adapters
