#include "common/js_date.h"

#include "common/js_text.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

namespace llmix {
namespace {

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

}  // namespace llmix
