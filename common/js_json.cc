#include "common/js_json.h"

#include "common/js_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace llmix {

namespace {

bool IsJsonWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the well-formed UTF-8 sequence (no surrogates, no overlongs, <= U+10FFFF) starting
// at s[i] (a byte >= 0x80), or 0 when it is not well formed.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) -> unsigned { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  unsigned b0 = byte(i);
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b0 == 0xE0) return cont(i + 1, 0xA0, 0xBF) && cont(i + 2) ? 3 : 0;
  if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
    return cont(i + 1) && cont(i + 2) ? 3 : 0;
  }
  if (b0 == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
  if (b0 == 0xF0) return cont(i + 1, 0x90, 0xBF) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (b0 >= 0xF1 && b0 <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (b0 == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

template <typename Json>
class JsJsonParser {
 public:
  JsJsonParser(std::string_view text, const JsJsonLimits& limits) : s_(text), limits_(limits) {}

  absl::StatusOr<Json> Run() {
    if (s_.size() > limits_.max_bytes) {
      return Error(0, absl::StrCat("input is larger than ", limits_.max_bytes, " bytes"));
    }
    SkipWs();
    Json value;
    while (true) {
      // Parse one value at pos_; containers push a frame and continue with their first member.
      bool have_value = false;
      if (absl::Status st = ParseValueStart(value, have_value); !st.ok()) return st;
      if (!have_value) continue;
      // Attach the finished value to enclosing containers, closing as many as end here.
      while (true) {
        if (stack_.empty()) {
          SkipWs();
          if (pos_ != s_.size()) return Error(pos_, "unexpected trailing characters");
          return value;
        }
        Frame& top = stack_.back();
        if (top.is_object) {
          top.value[top.key] = std::move(value);
        } else {
          top.value.push_back(std::move(value));
        }
        SkipWs();
        if (pos_ >= s_.size()) return Error(pos_, "unexpected end of input");
        char c = s_[pos_];
        if (c == ',') {
          ++pos_;
          SkipWs();
          if (top.is_object) {
            if (absl::Status st = ParseMemberKey(top); !st.ok()) return st;
          }
          break;  // parse the next member value
        }
        if (c == (top.is_object ? '}' : ']')) {
          ++pos_;
          value = std::move(top.value);
          stack_.pop_back();
          continue;
        }
        return Error(pos_, top.is_object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
  }

 private:
  struct Frame {
    Json value;
    std::string key;
    bool is_object;
  };

  absl::Status Error(size_t at, absl::string_view reason) const {
    return absl::InvalidArgumentError(absl::StrCat("JSON parse error at byte ", at, ": ", reason));
  }

  void SkipWs() {
    while (pos_ < s_.size() && IsJsonWs(s_[pos_])) ++pos_;
  }

  absl::Status PushFrame(bool is_object) {
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      return Error(pos_, absl::StrCat("nesting deeper than ", limits_.max_depth));
    }
    ++pos_;
    stack_.push_back(Frame{is_object ? Json::object() : Json::array(), std::string(), is_object});
    SkipWs();
    return absl::OkStatus();
  }

  // Reads `"key" :` into the frame, leaving pos_ at the member value.
  absl::Status ParseMemberKey(Frame& frame) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return Error(pos_, "expected a string key");
    if (absl::Status st = ParseString(frame.key); !st.ok()) return st;
    SkipWs();
    if (pos_ >= s_.size() || s_[pos_] != ':') return Error(pos_, "expected ':'");
    ++pos_;
    SkipWs();
    return absl::OkStatus();
  }

  // Parses a scalar into `out` (have_value = true), or opens a container: an empty one is
  // complete at once; otherwise the frame is pushed and pos_ left at its first value.
  absl::Status ParseValueStart(Json& out, bool& have_value) {
    if (pos_ >= s_.size()) return Error(pos_, "unexpected end of input");
    char c = s_[pos_];
    switch (c) {
      case '{':
      case '[': {
        bool is_object = c == '{';
        if (absl::Status st = PushFrame(is_object); !st.ok()) return st;
        if (pos_ < s_.size() && s_[pos_] == (is_object ? '}' : ']')) {
          ++pos_;
          out = std::move(stack_.back().value);
          stack_.pop_back();
          have_value = true;
          return absl::OkStatus();
        }
        if (is_object) return ParseMemberKey(stack_.back());
        return absl::OkStatus();
      }
      case '"': {
        std::string str;
        if (absl::Status st = ParseString(str); !st.ok()) return st;
        out = Json(std::move(str));
        have_value = true;
        return absl::OkStatus();
      }
      case 't':
        return ParseLiteral("true", Json(true), out, have_value);
      case 'f':
        return ParseLiteral("false", Json(false), out, have_value);
      case 'n':
        return ParseLiteral("null", Json(nullptr), out, have_value);
      default:
        if (c == '-' || IsDigit(c)) {
          double d = 0;
          if (absl::Status st = ParseNumber(d); !st.ok()) return st;
          out = Json(d);
          have_value = true;
          return absl::OkStatus();
        }
        return Error(pos_, "unexpected character");
    }
  }

  absl::Status ParseLiteral(std::string_view word, Json value, Json& out, bool& have_value) {
    if (s_.substr(pos_, word.size()) != word) return Error(pos_, "invalid literal");
    pos_ += word.size();
    out = std::move(value);
    have_value = true;
    return absl::OkStatus();
  }

  absl::Status ParseNumber(double& out) {
    const size_t start = pos_;
    size_t i = pos_;
    bool negative = false;
    if (s_[i] == '-') {
      negative = true;
      ++i;
    }
    if (i >= s_.size() || !IsDigit(s_[i])) return Error(i, "invalid number");
    // Decimal exponent of the leading significant digit, to tell overflow from underflow.
    int64_t int_digits = 0;
    int64_t leading_frac_zeros = 0;
    bool nonzero_int = false;
    if (s_[i] == '0') {
      ++i;
    } else {
      nonzero_int = true;
      while (i < s_.size() && IsDigit(s_[i])) {
        ++int_digits;
        ++i;
      }
    }
    if (i < s_.size() && s_[i] == '.') {
      ++i;
      if (i >= s_.size() || !IsDigit(s_[i])) return Error(i, "invalid number");
      bool seen_nonzero = false;
      while (i < s_.size() && IsDigit(s_[i])) {
        if (s_[i] != '0') seen_nonzero = true;
        if (!seen_nonzero) ++leading_frac_zeros;
        ++i;
      }
    }
    int64_t exponent = 0;
    if (i < s_.size() && (s_[i] == 'e' || s_[i] == 'E')) {
      ++i;
      bool exp_negative = false;
      if (i < s_.size() && (s_[i] == '+' || s_[i] == '-')) {
        exp_negative = s_[i] == '-';
        ++i;
      }
      if (i >= s_.size() || !IsDigit(s_[i])) return Error(i, "invalid number");
      while (i < s_.size() && IsDigit(s_[i])) {
        if (exponent < 1'000'000'000) exponent = exponent * 10 + (s_[i] - '0');
        ++i;
      }
      if (exp_negative) exponent = -exponent;
    }
    pos_ = i;
    double value = 0;
    auto [ptr, ec] = std::from_chars(s_.data() + start, s_.data() + i, value);
    if (ec == std::errc::result_out_of_range) {
      int64_t magnitude = exponent + (nonzero_int ? int_digits : -leading_frac_zeros);
      value = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
      if (negative) value = -value;
    } else if (ec != std::errc() || ptr != s_.data() + i) {
      return Error(start, "invalid number");
    }
    out = value;
    return absl::OkStatus();
  }

  // Reads 4 hex digits at s_[at..]; -1 when they are not hex.
  int32_t Hex4(size_t at) const {
    if (at + 4 > s_.size()) return -1;
    int32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int h = HexValue(s_[at + k]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  }

  absl::Status ParseString(std::string& out) {
    out.clear();
    ++pos_;  // opening quote
    while (true) {
      size_t run = pos_;
      while (run < s_.size()) {
        unsigned char c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      out.append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= s_.size()) return Error(pos_, "unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error(pos_, "control character in string");
      if (c >= 0x80) {
        size_t len = Utf8SequenceLength(s_, pos_);
        if (len == 0) return Error(pos_, "invalid UTF-8");
        out.append(s_.data() + pos_, len);
        pos_ += len;
        continue;
      }
      // Backslash escape.
      if (pos_ + 1 >= s_.size()) return Error(pos_, "unterminated string");
      char e = s_[pos_ + 1];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          pos_ += 2;
          continue;
        case 'b':
          out.push_back('\b');
          pos_ += 2;
          continue;
        case 'f':
          out.push_back('\f');
          pos_ += 2;
          continue;
        case 'n':
          out.push_back('\n');
          pos_ += 2;
          continue;
        case 'r':
          out.push_back('\r');
          pos_ += 2;
          continue;
        case 't':
          out.push_back('\t');
          pos_ += 2;
          continue;
        case 'u':
          break;
        default:
          return Error(pos_, "invalid escape");
      }
      int32_t unit = Hex4(pos_ + 2);
      if (unit < 0) return Error(pos_, "invalid \\u escape");
      pos_ += 6;
      uint32_t cp = static_cast<uint32_t>(unit);
      if (cp >= 0xD800 && cp <= 0xDBFF && pos_ + 1 < s_.size() && s_[pos_] == '\\' &&
          s_[pos_ + 1] == 'u') {
        int32_t low = Hex4(pos_ + 2);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(low) - 0xDC00);
          pos_ += 6;
        }
      }
      AppendWtf8(cp, out);
    }
  }

  std::string_view s_;
  JsJsonLimits limits_;
  size_t pos_ = 0;
  std::vector<Frame> stack_;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseJsJson(std::string_view text, const JsJsonLimits& limits) {
  try {
    return JsJsonParser<nlohmann::json>(text, limits).Run();
  } catch (const std::exception& e) {  // allocation failure; nlohmann itself does not throw here
    return absl::ResourceExhaustedError(absl::StrCat("JSON parse failed: ", e.what()));
  }
}

absl::StatusOr<nlohmann::ordered_json> ParseJsJsonOrdered(std::string_view text,
                                                          const JsJsonLimits& limits) {
  try {
    return JsJsonParser<nlohmann::ordered_json>(text, limits).Run();
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("JSON parse failed: ", e.what()));
  }
}

}  // namespace llmix
