#include "pipeline/resilience/retry_policy.h"

#include "common/canonical_json.h"
#include "common/js_text.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llmix::resilience {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------------------------------------
// Text helpers (JS strings are UTF-16; we receive UTF-8, possibly WTF-8 with lone surrogates).
// ---------------------------------------------------------------------------------------------

// Decodes the code point starting at text[*pos] and advances *pos. Malformed bytes decode as
// U+FFFD one byte at a time.
char32_t DecodeUtf8(std::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const size_t i = *pos;
  const unsigned char b0 = byte(i);
  int len = 0;
  char32_t cp = 0;
  if (b0 < 0x80) {
    *pos = i + 1;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    *pos = i + 1;
    return 0xFFFD;
  }
  if (i + len > text.size()) {
    *pos = i + 1;
    return 0xFFFD;
  }
  for (int k = 1; k < len; ++k) {
    const unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) {
      *pos = i + 1;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF) {
    *pos = i + 1;
    return 0xFFFD;
  }
  *pos = i + len;
  return cp;
}

// The UTF-16 code units JS would see for `text`.
std::u16string ToUtf16(std::string_view text) {
  std::u16string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const char32_t cp = DecodeUtf8(text, &pos);
    if (cp >= 0x10000) {
      const char32_t v = cp - 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (v >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (v & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

// Math.min on two numbers: NaN wins, and -0 is smaller than +0.
double JsMin(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  if (a == 0 && b == 0) return std::signbit(a) ? a : b;
  return b < a ? b : a;
}

// ---------------------------------------------------------------------------------------------
// 2 ** y as V8 computes it. V8 evaluates `**` with fdlibm's pow, which is not always correctly
// rounded (2 ** 1.5 is 2.82842712474619, one ulp below the true value), so the C library's pow
// cannot be used. With x = 2 fdlibm's log2(x) step is exact (t1 = 1, t2 = 0) and only its
// exp2 reconstruction remains; the steps and constants below follow fdlibm e_pow.c:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunSoft, a Sun Microsystems, Inc. business. Permission to use, copy, modify,
//   and distribute this software is freely granted, provided that this notice is preserved.
// ---------------------------------------------------------------------------------------------

int32_t HighWord(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return static_cast<int32_t>(bits >> 32);
}

uint32_t LowWord(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return static_cast<uint32_t>(bits);
}

double WithWords(uint32_t high, uint32_t low) {
  const uint64_t bits = (static_cast<uint64_t>(high) << 32) | low;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

double JsPow2(double y) {
  constexpr double kLn2 = 6.93147180559945286227e-01;     // 0x3FE62E42 FEFA39EF
  constexpr double kLn2Hi = 6.93147182464599609375e-01;   // 0x3FE62E43 00000000
  constexpr double kLn2Lo = -1.90465429995776804525e-09;  // 0xBE205C61 0CA86C39
  constexpr double kOverflowTail = 8.0085662595372944372e-17;
  constexpr double kP1 = 1.66666666666666019037e-01;
  constexpr double kP2 = -2.77777777770155933842e-03;
  constexpr double kP3 = 6.61375632143793436117e-05;
  constexpr double kP4 = -1.65339022054652515390e-06;
  constexpr double kP5 = 4.13813679705723846039e-08;

  if (std::isnan(y)) return kNaN;
  if (y == 0) return 1.0;
  if (std::isinf(y)) return y > 0 ? kInf : 0.0;
  const int32_t hy = HighWord(y);
  const int32_t iy = hy & 0x7FFFFFFF;
  if (LowWord(y) == 0) {
    if (iy == 0x3FF00000) return hy < 0 ? 0.5 : 2.0;
    if (hy == 0x40000000) return 4.0;
    if (hy == 0x3FE00000) return std::sqrt(2.0);
  }
  if (iy > 0x41E00000) return hy > 0 ? kInf : 0.0;  // |y| > 2^31: certain over/underflow

  // y * log2(2) split as p_h + p_l, p_h having its low 32 bits clear.
  const double y_hi = WithWords(static_cast<uint32_t>(hy), 0);
  double p_l = (y - y_hi) * 1.0 + y * 0.0;
  double p_h = y_hi;
  double z = p_l + p_h;
  int32_t j = HighWord(z);
  const uint32_t i_low = LowWord(z);
  if (j >= 0x40900000) {  // z >= 1024
    if (((static_cast<uint32_t>(j) - 0x40900000u) | i_low) != 0) return kInf;
    if (p_l + kOverflowTail > z - p_h) return kInf;
  } else if ((j & 0x7FFFFFFF) >= 0x4090CC00) {  // z <= -1075
    if (((static_cast<uint32_t>(j) - 0xC090CC00u) | i_low) != 0) return 0.0;
    if (p_l <= z - p_h) return 0.0;
  }

  // Split z = n + r with |r| <= 0.5, then 2^r by the rational approximation of exp.
  const int32_t i = j & 0x7FFFFFFF;
  int32_t k = (i >> 20) - 0x3FF;
  int32_t n = 0;
  if (i > 0x3FE00000) {
    n = j + (0x00100000 >> (k + 1));
    k = ((n & 0x7FFFFFFF) >> 20) - 0x3FF;
    const double whole = WithWords(static_cast<uint32_t>(n & ~(0x000FFFFF >> k)), 0);
    n = ((n & 0x000FFFFF) | 0x00100000) >> (20 - k);
    if (j < 0) n = -n;
    p_h -= whole;
  }
  double t = WithWords(static_cast<uint32_t>(HighWord(p_l + p_h)), 0);
  const double u = t * kLn2Hi;
  const double v = (p_l - (t - p_h)) * kLn2 + t * kLn2Lo;
  z = u + v;
  const double w = v - (z - u);
  t = z * z;
  const double t1 = z - t * (kP1 + t * (kP2 + t * (kP3 + t * (kP4 + t * kP5))));
  const double r = (z * t1) / ((t1 - 2.0) - (w + z * w));
  z = 1.0 - (r - z);
  j = HighWord(z) + static_cast<int32_t>(static_cast<uint32_t>(n) << 20);
  if ((j >> 20) <= 0) return std::scalbn(z, n);  // subnormal result
  return WithWords(static_cast<uint32_t>(j), LowWord(z));
}

// ---------------------------------------------------------------------------------------------
// Date.parse, following the behaviour of V8's date parser (ES5 ISO-8601 first, then the legacy
// Safari-compatible grammar) with the local time zone fixed to UTC.
// ---------------------------------------------------------------------------------------------

constexpr int kNone = std::numeric_limits<int>::max();
constexpr int kMaxSignificantDigits = 9;

bool InRange(int x, int lo, int hi) { return x >= lo && x <= hi; }
bool IsMonth(int x) { return InRange(x, 1, 12); }
bool IsDay(int x) { return InRange(x, 1, 31); }
bool IsHour(int x) { return InRange(x, 0, 23); }
bool IsMinute(int x) { return InRange(x, 0, 59); }
bool IsSecond(int x) { return InRange(x, 0, 59); }
bool IsHour12(int x) { return InRange(x, 0, 12); }
bool IsMillisecond(int x) { return InRange(x, 0, 999); }

enum class TokenKind { kInvalid, kUnknown, kWhiteSpace, kNumber, kSymbol, kEnd, kWord };
enum class WordKind { kOther, kMonth, kTimeZone, kTimeSeparator, kAmPm };

struct DateToken {
  TokenKind kind = TokenKind::kInvalid;
  int length = 0;
  int value = 0;  // number value, symbol character, or keyword value
  WordKind word = WordKind::kOther;

  bool IsInvalid() const { return kind == TokenKind::kInvalid; }
  bool IsEnd() const { return kind == TokenKind::kEnd; }
  bool IsNumber() const { return kind == TokenKind::kNumber; }
  bool IsNumberOfLength(int n) const { return IsNumber() && length == n; }
  bool IsWhiteSpace() const { return kind == TokenKind::kWhiteSpace; }
  bool IsWord() const { return kind == TokenKind::kWord; }
  bool IsWordOf(WordKind w) const { return IsWord() && word == w; }
  bool IsSymbol(char c) const { return kind == TokenKind::kSymbol && value == c; }
  bool IsSign() const { return IsSymbol('+') || IsSymbol('-'); }
  int Sign() const { return value == '+' ? 1 : -1; }
  // A lone "z"/"Z" word: the ISO zone designator.
  bool IsZ() const { return IsWordOf(WordKind::kTimeZone) && length == 1 && value == 0; }
};

DateToken MakeToken(TokenKind kind, int length = 0, int value = 0,
                    WordKind word = WordKind::kOther) {
  DateToken t;
  t.kind = kind;
  t.length = length;
  t.value = value;
  t.word = word;
  return t;
}

struct DateKeyword {
  char prefix[3];
  WordKind word;
  int value;
};

// Words are matched on their first three letters, lower-cased; only month names may be
// longer than the table entry ("January", "Sept.").
constexpr DateKeyword kDateKeywords[] = {
    {{'j', 'a', 'n'}, WordKind::kMonth, 1},     {{'f', 'e', 'b'}, WordKind::kMonth, 2},
    {{'m', 'a', 'r'}, WordKind::kMonth, 3},     {{'a', 'p', 'r'}, WordKind::kMonth, 4},
    {{'m', 'a', 'y'}, WordKind::kMonth, 5},     {{'j', 'u', 'n'}, WordKind::kMonth, 6},
    {{'j', 'u', 'l'}, WordKind::kMonth, 7},     {{'a', 'u', 'g'}, WordKind::kMonth, 8},
    {{'s', 'e', 'p'}, WordKind::kMonth, 9},     {{'o', 'c', 't'}, WordKind::kMonth, 10},
    {{'n', 'o', 'v'}, WordKind::kMonth, 11},    {{'d', 'e', 'c'}, WordKind::kMonth, 12},
    {{'a', 'm', 0}, WordKind::kAmPm, 0},        {{'p', 'm', 0}, WordKind::kAmPm, 12},
    {{'u', 't', 0}, WordKind::kTimeZone, 0},    {{'u', 't', 'c'}, WordKind::kTimeZone, 0},
    {{'z', 0, 0}, WordKind::kTimeZone, 0},      {{'g', 'm', 't'}, WordKind::kTimeZone, 0},
    {{'c', 'd', 't'}, WordKind::kTimeZone, -5}, {{'c', 's', 't'}, WordKind::kTimeZone, -6},
    {{'e', 'd', 't'}, WordKind::kTimeZone, -4}, {{'e', 's', 't'}, WordKind::kTimeZone, -5},
    {{'m', 'd', 't'}, WordKind::kTimeZone, -6}, {{'m', 's', 't'}, WordKind::kTimeZone, -7},
    {{'p', 'd', 't'}, WordKind::kTimeZone, -7}, {{'p', 's', 't'}, WordKind::kTimeZone, -8},
    {{'t', 0, 0}, WordKind::kTimeSeparator, 0},
};

class DateScanner {
 public:
  explicit DateScanner(const std::u16string& text) : text_(text) {
    Advance();
    next_ = Scan();
  }

  DateToken Next() {
    DateToken t = next_;
    next_ = Scan();
    return t;
  }
  const DateToken& Peek() const { return next_; }
  bool SkipSymbol(char c) {
    if (!next_.IsSymbol(c)) return false;
    next_ = Scan();
    return true;
  }

 private:
  // A NUL code unit ends the input, as it does for V8.
  void Advance() {
    ch_ = pos_ < text_.size() ? text_[pos_] : 0;
    ++pos_;
  }
  bool Skip(char32_t c) {
    if (ch_ != c) return false;
    Advance();
    return true;
  }
  bool AtDigit() const { return ch_ >= '0' && ch_ <= '9'; }
  // Words are runs of code units from 'A' up, non-ASCII ones included, but not white space
  // (U+2028/U+2029 are line terminators, not white space, so they are word characters).
  bool AtWordChar() const {
    const bool line_terminator = ch_ == 0x2028 || ch_ == 0x2029;
    return ch_ >= 'A' && (line_terminator || !IsJsWhitespace(ch_));
  }

  DateToken Scan() {
    const size_t start = pos_;
    if (ch_ == 0) return MakeToken(TokenKind::kEnd);
    if (AtDigit()) {
      int n = 0;
      int digits = 0;
      while (AtDigit()) {
        if (digits < kMaxSignificantDigits) n = n * 10 + static_cast<int>(ch_ - '0');
        ++digits;
        Advance();
      }
      return MakeToken(TokenKind::kNumber, static_cast<int>(pos_ - start), n);
    }
    for (char c : {':', '-', '+', '.', ')'}) {
      if (Skip(static_cast<char32_t>(c))) return MakeToken(TokenKind::kSymbol, 1, c);
    }
    if (AtWordChar()) {
      uint32_t prefix[3] = {0, 0, 0};
      int len = 0;
      for (; AtWordChar(); Advance(), ++len) {
        if (len < 3) prefix[len] = static_cast<uint32_t>(ch_) | 0x20;
      }
      for (const DateKeyword& kw : kDateKeywords) {
        bool same = true;
        for (int i = 0; i < 3; ++i) {
          same =
              same && prefix[i] == static_cast<uint32_t>(static_cast<unsigned char>(kw.prefix[i]));
        }
        if (same && (len <= 3 || kw.word == WordKind::kMonth)) {
          return MakeToken(TokenKind::kWord, len, kw.value, kw.word);
        }
      }
      return MakeToken(TokenKind::kWord, len, 0, WordKind::kOther);
    }
    if (IsJsWhitespace(ch_)) {
      Advance();
      return MakeToken(TokenKind::kWhiteSpace, static_cast<int>(pos_ - start));
    }
    if (ch_ == '(') {  // a parenthesised comment, nesting allowed
      int depth = 0;
      do {
        if (ch_ == ')') {
          --depth;
        } else if (ch_ == '(') {
          ++depth;
        }
        Advance();
      } while (depth > 0 && ch_ != 0);
      return MakeToken(TokenKind::kUnknown, 1);
    }
    Advance();
    return MakeToken(TokenKind::kUnknown, 1);
  }

  const std::u16string& text_;
  size_t pos_ = 0;
  char32_t ch_ = 0;
  DateToken next_;
};

// First three significant digits of a fraction, from its value and digit count.
int FractionToMillis(const DateToken& token) {
  int number = token.value;
  int length = token.length;
  if (length == 1) {
    number *= 100;
  } else if (length == 2) {
    number *= 10;
  } else if (length > 3) {
    if (length > kMaxSignificantDigits) length = kMaxSignificantDigits;
    int factor = 1;
    for (; length > 3; --length) factor *= 10;
    number /= factor;
  }
  return number;
}

struct DateFields {
  int year = 0, month0 = 0, day = 1;
  int hour = 0, minute = 0, second = 0, millisecond = 0;
  std::optional<int> utc_offset_seconds;
};

class ZonePart {
 public:
  void SetHours(int offset_hours) {
    sign_ = offset_hours < 0 ? -1 : 1;
    hour_ = offset_hours * sign_;
    minute_ = 0;
  }
  void SetSign(int sign) { sign_ = sign < 0 ? -1 : 1; }
  void SetAbsoluteHour(int hour) { hour_ = hour; }
  void SetAbsoluteMinute(int minute) { minute_ = minute; }
  bool ExpectsMinute(int n) const { return hour_ != kNone && minute_ == kNone && IsMinute(n); }
  bool IsUtc() const { return hour_ == 0 && minute_ == 0; }
  bool IsEmpty() const { return hour_ == kNone; }

  bool Write(DateFields* out) {
    if (sign_ == kNone) {
      out->utc_offset_seconds.reset();
      return true;
    }
    if (hour_ == kNone) hour_ = 0;
    if (minute_ == kNone) minute_ = 0;
    // 32-bit unsigned arithmetic, bounded by the largest small integer V8 stores.
    const uint32_t total =
        static_cast<uint32_t>(hour_) * 3600u + static_cast<uint32_t>(minute_) * 60u;
    if (total > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) return false;
    out->utc_offset_seconds = sign_ < 0 ? -static_cast<int>(total) : static_cast<int>(total);
    return true;
  }

 private:
  int sign_ = kNone;
  int hour_ = kNone;
  int minute_ = kNone;
};

class TimePart {
 public:
  bool IsEmpty() const { return count_ == 0; }
  bool Expects(int n) const {
    return (count_ == 1 && IsMinute(n)) || (count_ == 2 && IsSecond(n)) ||
           (count_ == 3 && IsMillisecond(n));
  }
  bool Add(int n) {
    if (count_ >= 4) return false;
    parts_[count_++] = n;
    return true;
  }
  bool AddFinal(int n) {
    if (!Add(n)) return false;
    while (count_ < 4) parts_[count_++] = 0;
    return true;
  }
  void SetHourOffset(int n) { hour_offset_ = n; }

  bool Write(DateFields* out) {
    while (count_ < 4) parts_[count_++] = 0;
    int hour = parts_[0];
    const int minute = parts_[1], second = parts_[2], millisecond = parts_[3];
    if (hour_offset_ != kNone) {
      if (!IsHour12(hour)) return false;
      hour = hour % 12 + hour_offset_;
    }
    if (!IsHour(hour) || !IsMinute(minute) || !IsSecond(second) || !IsMillisecond(millisecond)) {
      // 24:00:00.000 is the only out-of-range time allowed.
      if (hour != 24 || minute != 0 || second != 0 || millisecond != 0) return false;
    }
    out->hour = hour;
    out->minute = minute;
    out->second = second;
    out->millisecond = millisecond;
    return true;
  }

 private:
  int parts_[4] = {0, 0, 0, 0};
  int count_ = 0;
  int hour_offset_ = kNone;
};

class DayPart {
 public:
  bool IsEmpty() const { return count_ == 0; }
  bool Add(int n) {
    if (count_ >= 3) return false;
    parts_[count_++] = n;
    return true;
  }
  void SetNamedMonth(int n) { named_month_ = n; }
  void SetIsoDate() { iso_ = true; }

  bool Write(DateFields* out) {
    if (count_ < 1) return false;
    while (count_ < 3) parts_[count_++] = 1;  // missing month and day default to 1
    int year = 0;                             // a missing year is 0, i.e. 2000
    int month = kNone;
    int day = kNone;
    if (named_month_ == kNone) {
      if (iso_ || !IsDay(parts_[0])) {  // YMD
        year = parts_[0];
        month = parts_[1];
        day = parts_[2];
      } else {  // MDY
        month = parts_[0];
        day = parts_[1];
        year = parts_[2];
      }
    } else {
      month = named_month_;
      if (!IsDay(parts_[0])) {  // YMD, MYD or YDM
        year = parts_[0];
        day = parts_[1];
      } else {  // DMY, MDY or DYM
        day = parts_[0];
        year = parts_[1];
      }
    }
    if (!iso_) {
      if (InRange(year, 0, 49)) {
        year += 2000;
      } else if (InRange(year, 50, 99)) {
        year += 1900;
      }
    }
    if (!IsMonth(month) || !IsDay(day)) return false;
    out->year = year;
    out->month0 = month - 1;
    out->day = day;
    return true;
  }

 private:
  int parts_[3] = {0, 0, 0};
  int count_ = 0;
  int named_month_ = kNone;
  bool iso_ = false;
};

// ES5 date-time string: [+-yyyyyy | yyyy][-MM[-DD]][THH:mm[:ss[.s+]][Z | +-hh:mm | +-hhmm]].
// Returns the first token it did not consume (the legacy grammar continues from there), End
// when the whole input was an ES5 string, or Invalid when the input can no longer be a date.
DateToken ParseIsoPrefix(DateScanner* in, DayPart* day, TimePart* time, ZonePart* zone) {
  if (in->Peek().IsSign()) {
    const DateToken sign = in->Next();
    if (!in->Peek().IsNumberOfLength(6)) return sign;
    const int year = in->Next().value;
    if (sign.Sign() < 0 && year == 0) return sign;
    day->Add(sign.Sign() * year);
  } else if (in->Peek().IsNumberOfLength(4)) {
    day->Add(in->Next().value);
  } else {
    return in->Next();
  }
  if (in->SkipSymbol('-')) {
    if (!in->Peek().IsNumberOfLength(2) || !IsMonth(in->Peek().value)) return in->Next();
    day->Add(in->Next().value);
    if (in->SkipSymbol('-')) {
      if (!in->Peek().IsNumberOfLength(2) || !IsDay(in->Peek().value)) return in->Next();
      day->Add(in->Next().value);
    }
  }
  if (!in->Peek().IsWordOf(WordKind::kTimeSeparator)) {
    if (!in->Peek().IsEnd()) return in->Next();
  } else {
    in->Next();
    if (!in->Peek().IsNumberOfLength(2) || !InRange(in->Peek().value, 0, 24)) {
      return MakeToken(TokenKind::kInvalid);
    }
    const bool hour_is_24 = in->Peek().value == 24;  // only 24:00[:00[.000]]
    time->Add(in->Next().value);
    if (!in->SkipSymbol(':')) return MakeToken(TokenKind::kInvalid);
    if (!in->Peek().IsNumberOfLength(2) || !IsMinute(in->Peek().value) ||
        (hour_is_24 && in->Peek().value > 0)) {
      return MakeToken(TokenKind::kInvalid);
    }
    time->Add(in->Next().value);
    if (in->SkipSymbol(':')) {
      if (!in->Peek().IsNumberOfLength(2) || !IsSecond(in->Peek().value) ||
          (hour_is_24 && in->Peek().value > 0)) {
        return MakeToken(TokenKind::kInvalid);
      }
      time->Add(in->Next().value);
      if (in->SkipSymbol('.')) {
        if (!in->Peek().IsNumber() || (hour_is_24 && in->Peek().value > 0)) {
          return MakeToken(TokenKind::kInvalid);
        }
        time->Add(FractionToMillis(in->Next()));
      }
    }
    if (in->Peek().IsZ()) {
      in->Next();
      zone->SetHours(0);
    } else if (in->Peek().IsSign()) {
      zone->SetSign(in->Next().Sign());
      if (in->Peek().IsNumberOfLength(4)) {  // +hhmm
        const int hhmm = in->Next().value;
        if (!IsHour(hhmm / 100) || !IsMinute(hhmm % 100)) return MakeToken(TokenKind::kInvalid);
        zone->SetAbsoluteHour(hhmm / 100);
        zone->SetAbsoluteMinute(hhmm % 100);
      } else {  // +hh:mm
        if (!in->Peek().IsNumberOfLength(2) || !IsHour(in->Peek().value)) {
          return MakeToken(TokenKind::kInvalid);
        }
        zone->SetAbsoluteHour(in->Next().value);
        if (!in->SkipSymbol(':')) return MakeToken(TokenKind::kInvalid);
        if (!in->Peek().IsNumberOfLength(2) || !IsMinute(in->Peek().value)) {
          return MakeToken(TokenKind::kInvalid);
        }
        zone->SetAbsoluteMinute(in->Next().value);
      }
    }
    if (!in->Peek().IsEnd()) return MakeToken(TokenKind::kInvalid);
  }
  // Date-only forms are UTC; date-time forms without an offset are local time.
  if (zone->IsEmpty() && time->IsEmpty()) zone->SetHours(0);
  day->SetIsoDate();
  return MakeToken(TokenKind::kEnd);
}

bool ParseDateFields(const std::u16string& text, DateFields* out) {
  DateScanner in(text);
  DayPart day;
  TimePart time;
  ZonePart zone;

  DateToken token = ParseIsoPrefix(&in, &day, &time, &zone);
  if (token.IsInvalid()) return false;
  bool has_read_number = !day.IsEmpty();
  for (; !token.IsEnd(); token = in.Next()) {
    if (token.IsNumber()) {
      has_read_number = true;
      const int n = token.value;
      if (in.SkipSymbol(':')) {
        if (in.SkipSymbol(':')) {  // "n::" is hours then zero minutes
          if (!time.IsEmpty()) return false;
          time.Add(n);
          time.Add(0);
        } else {  // "n:"
          if (!time.Add(n)) return false;
          if (in.Peek().IsSymbol('.')) in.Next();
        }
      } else if (in.SkipSymbol('.') && time.Expects(n)) {  // seconds, then a fraction
        time.Add(n);
        if (!in.Peek().IsNumber()) return false;
        const int millis = FractionToMillis(in.Next());
        if (millis < 0) return false;
        time.AddFinal(millis);
      } else if (zone.ExpectsMinute(n)) {
        zone.SetAbsoluteMinute(n);
      } else if (time.Expects(n)) {
        time.AddFinal(n);
        // The time must be followed by the end, white space, "Z" or a sign.
        const DateToken& peek = in.Peek();
        if (!peek.IsEnd() && !peek.IsWhiteSpace() && !peek.IsZ() && !peek.IsSign()) {
          return false;
        }
      } else {
        if (!day.Add(n)) return false;
        in.SkipSymbol('-');
      }
    } else if (token.IsWord()) {
      if (token.word == WordKind::kAmPm && !time.IsEmpty()) {
        time.SetHourOffset(token.value);
      } else if (token.word == WordKind::kMonth) {
        day.SetNamedMonth(token.value);
        in.SkipSymbol('-');
      } else if (token.word == WordKind::kTimeZone && has_read_number) {
        zone.SetHours(token.value);
      } else {
        // Other words are allowed only before the first number, and not glued to it.
        if (has_read_number) return false;
        if (in.Peek().IsNumber()) return false;
      }
    } else if (token.IsSign() && (zone.IsUtc() || !time.IsEmpty())) {
      // A UTC offset, only after a zone name or a time: +h, +hh, +hmm, +hhmm or +h...:
      zone.SetSign(token.Sign());
      int n = 0;
      int length = 0;
      if (in.Peek().IsNumber()) {
        const DateToken number = in.Next();
        length = number.length;
        n = number.value;
      }
      has_read_number = true;
      if (in.Peek().IsSymbol(':')) {
        zone.SetAbsoluteHour(n);
        zone.SetAbsoluteMinute(kNone);
      } else if (length == 1 || length == 2) {
        zone.SetAbsoluteHour(n);
        zone.SetAbsoluteMinute(0);
      } else if (length == 3 || length == 4) {
        zone.SetAbsoluteHour(n / 100);
        zone.SetAbsoluteMinute(n % 100);
      } else {
        return false;
      }
    } else if ((token.IsSign() || token.IsSymbol(')')) && has_read_number) {
      return false;  // a stray sign or ')' after a number
    }
    // Anything else (white space, punctuation, comments) is ignored.
  }
  return day.Write(out) && time.Write(out) && zone.Write(out);
}

// Days from 1970-01-01 to the first of (year, month0), proleptic Gregorian.
int64_t DaysFromCivil(int64_t year, int64_t month0) {
  year += month0 / 12;
  month0 %= 12;
  if (month0 < 0) {
    month0 += 12;
    year -= 1;
  }
  const int64_t m = month0 + 1;
  const int64_t y = m <= 2 ? year - 1 : year;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public helpers
// ---------------------------------------------------------------------------------------------

std::optional<double> ParseJsDateMs(std::string_view text) {
  DateFields f;
  if (!ParseDateFields(ToUtf16(text), &f)) return std::nullopt;
  constexpr int kMaxYear = 1000000;
  if (f.year < -kMaxYear || f.year > kMaxYear) return std::nullopt;
  const double days = static_cast<double>(DaysFromCivil(f.year, f.month0)) + (f.day - 1);
  const double time_of_day =
      ((static_cast<double>(f.hour) * 60 + f.minute) * 60 + f.second) * 1000 + f.millisecond;
  double ms = days * 86400000.0 + time_of_day;
  if (f.utc_offset_seconds.has_value()) ms -= *f.utc_offset_seconds * 1000.0;
  constexpr double kMaxTimeMs = 8.64e15;  // TimeClip
  if (!(std::fabs(ms) <= kMaxTimeMs)) return std::nullopt;
  return std::trunc(ms) + 0.0;
}

bool IsRetryableStatus(double status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool IsRetryableStatus(int status) { return IsRetryableStatus(static_cast<double>(status)); }

absl::Status ValidateRetryOptions(const RetryOptions& o) {
  const auto is_integer = [](double v) { return std::isfinite(v) && std::trunc(v) == v; };
  if (!is_integer(o.max_retries) || o.max_retries < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maxRetries must be a non-negative integer, got ", JsNumberToString(o.max_retries)));
  }
  const std::pair<const char*, double> finite_fields[] = {
      {"baseMs", o.base_ms},
      {"maxDelayMs", o.max_delay_ms},
      {"jitterMs", o.jitter_ms},
      {"maxRetryAfterMs", o.retry_after_cap_ms},
  };
  for (const auto& [name, v] : finite_fields) {
    if (!std::isfinite(v) || v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be a non-negative finite number, got ", JsNumberToString(v)));
    }
  }
  return absl::OkStatus();
}

double CalculateDelayMs(double attempt, const RetryOptions& options, double random) {
  const double exponential = JsMin(JsPow2(attempt) * options.base_ms, options.max_delay_ms);
  const double jitter = std::floor(random * (options.jitter_ms + 1));
  return exponential + jitter;
}

std::optional<double> ParseRetryAfterMs(std::string_view header, absl::Time now, double cap_ms) {
  const std::string_view trimmed = TrimJsWhitespace(header);
  bool all_digits = !trimmed.empty();
  for (char c : trimmed) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) {
    double seconds = 0;
    const auto res = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), seconds);
    if (res.ec == std::errc::result_out_of_range) seconds = kInf;  // parseInt gives Infinity
    return JsMin(seconds * 1000, cap_ms);
  }
  const std::optional<double> date_ms = ParseJsDateMs(header);
  if (date_ms.has_value()) {
    const double delta = *date_ms - static_cast<double>(absl::ToUnixMillis(now));
    if (delta > 0) return JsMin(delta, cap_ms);
  }
  return std::nullopt;
}

absl::StatusOr<RetryPolicy> RetryPolicy::Create(const RetryOptions& options) {
  if (absl::Status s = ValidateRetryOptions(options); !s.ok()) return s;
  return RetryPolicy(options);
}

double RetryPolicy::GetDelayMs(double attempt, std::optional<std::string_view> retry_after,
                               absl::Time now, double random) const {
  if (retry_after.has_value()) {
    if (std::optional<double> ms =
            ParseRetryAfterMs(*retry_after, now, options_.retry_after_cap_ms)) {
      return *ms;
    }
  }
  return CalculateDelayMs(attempt, options_, random);
}

std::optional<double> RetryPolicy::NextRetryDelayMs(double attempt, bool retryable,
                                                    std::optional<std::string_view> retry_after,
                                                    absl::Time now, double random) const {
  if (attempt >= options_.max_retries) return std::nullopt;
  if (!retryable) return std::nullopt;
  return GetDelayMs(attempt, retry_after, now, random);
}

}  // namespace llmix::resilience
