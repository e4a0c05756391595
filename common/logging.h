// Structured logs: one JSON object per line on a sink (stderr by default). Each event has
// `ts`, `level`, `msg` and string/number fields. Callers never pass secrets; values
// that look like API keys are still redacted as a second line of defence. Thread-safe.
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "absl/synchronization/mutex.h"

namespace llmix {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug" | "info" | "warn" | "error" (case-insensitive).
bool ParseLogLevel(std::string_view text, LogLevel* out);

using LogValue = std::variant<std::string_view, int64_t, double, bool>;
using LogField = std::pair<std::string_view, LogValue>;

class Logger {
 public:
  explicit Logger(LogLevel min_level = LogLevel::kInfo, FILE* sink = stderr)
      : min_level_(min_level), sink_(sink) {}

  bool Enabled(LogLevel level) const { return level >= min_level_; }
  void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  void Debug(std::string_view msg, std::initializer_list<LogField> f = {}) { Log(LogLevel::kDebug, msg, f); }
  void Info(std::string_view msg, std::initializer_list<LogField> f = {}) { Log(LogLevel::kInfo, msg, f); }
  void Warn(std::string_view msg, std::initializer_list<LogField> f = {}) { Log(LogLevel::kWarn, msg, f); }
  void Error(std::string_view msg, std::initializer_list<LogField> f = {}) { Log(LogLevel::kError, msg, f); }

 private:
  LogLevel min_level_;
  FILE* sink_;
  absl::Mutex mu_;
};

// Replaces substrings that look like provider API keys (sk-..., Bearer ..., long opaque
// tokens after "key=") with "[REDACTED]".
std::string RedactSecrets(std::string_view text);

}  // namespace llmix
