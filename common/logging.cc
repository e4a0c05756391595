#include "common/logging.h"

#include <cmath>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace llmix {

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  std::string t = absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
  if (t == "debug") *out = LogLevel::kDebug;
  else if (t == "info") *out = LogLevel::kInfo;
  else if (t == "warn" || t == "warning") *out = LogLevel::kWarn;
  else if (t == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

std::string RedactSecrets(std::string_view text) {
  static const std::regex kPatterns(
      R"((sk-[A-Za-z0-9_\-]{8,})|(Bearer\s+[A-Za-z0-9_\-\.=]{8,})|(AIza[0-9A-Za-z_\-]{20,}))");
  return std::regex_replace(std::string(text), kPatterns, "[REDACTED]");
}

void Logger::Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!Enabled(level)) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  nlohmann::ordered_json j;
  j["ts"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  j["level"] = kNames[static_cast<int>(level)];
  j["msg"] = RedactSecrets(msg);
  for (const auto& [k, v] : fields) {
    std::string key(k);
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            j[key] = RedactSecrets(x);
          } else if constexpr (std::is_same_v<T, double>) {
            j[key] = std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json(nullptr);
          } else {
            j[key] = x;
          }
        },
        v);
  }
  std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  line.push_back('\n');
  absl::MutexLock l(&mu_);
  std::fwrite(line.data(), 1, line.size(), sink_);
  std::fflush(sink_);
}

}  // namespace llmix
