#include "registry/budget_settings.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace llmix::registry {

namespace {

constexpr int64_t kMaxWindowSeconds = 31536000;

}  // namespace

absl::Time BudgetWindow::Start(absl::Time now) const {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilSecond t = absl::ToCivilSecond(now, utc);
  switch (kind) {
    case Kind::kHour:
      return absl::FromCivil(absl::CivilHour(t), utc);
    case Kind::kDay:
      return absl::FromCivil(absl::CivilDay(t), utc);
    case Kind::kMonth:
      return absl::FromCivil(absl::CivilMonth(t), utc);
    case Kind::kSeconds: {
      const int64_t s = absl::ToUnixSeconds(now);
      int64_t start = s - s % seconds;
      if (s % seconds < 0) start -= seconds;
      return absl::FromUnixSeconds(start);
    }
  }
  return now;
}

absl::Time BudgetWindow::End(absl::Time now) const {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::Time start = Start(now);
  const absl::CivilSecond t = absl::ToCivilSecond(start, utc);
  switch (kind) {
    case Kind::kHour:
      return absl::FromCivil(absl::CivilHour(t) + 1, utc);
    case Kind::kDay:
      return absl::FromCivil(absl::CivilDay(t) + 1, utc);
    case Kind::kMonth:
      return absl::FromCivil(absl::CivilMonth(t) + 1, utc);
    case Kind::kSeconds:
      return start + absl::Seconds(seconds);
  }
  return now;
}

absl::StatusOr<BudgetWindow> ParseBudgetWindow(std::string_view text) {
  BudgetWindow w;
  w.text = std::string(text);
  if (text == "hour") {
    w.kind = BudgetWindow::Kind::kHour;
    w.seconds = 3600;
    return w;
  }
  if (text == "day") return w;
  if (text == "month") {
    w.kind = BudgetWindow::Kind::kMonth;
    w.seconds = 0;
    return w;
  }
  int64_t n = 0;
  if (text.size() >= 2 && text.back() == 's' && text[0] >= '1' && text[0] <= '9' &&
      absl::SimpleAtoi(absl::string_view(text.data(), text.size() - 1), &n) && n >= 1 &&
      n <= kMaxWindowSeconds) {
    bool digits = true;
    for (char c : text.substr(0, text.size() - 1)) digits = digits && c >= '0' && c <= '9';
    if (digits) {
      w.kind = BudgetWindow::Kind::kSeconds;
      w.seconds = n;
      return w;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "expected \"hour\", \"day\", \"month\" or \"<n>s\" (1 <= n <= ", kMaxWindowSeconds,
      "), got \"", absl::string_view(text.data(), text.size()), "\""));
}

std::optional<ModelPrice> PricingOf(const nlohmann::json& object) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find("pricing");
  if (it == object.end() || !it->is_object()) return std::nullopt;
  return ModelPrice{it->value("input", 0.0), it->value("output", 0.0)};
}

std::optional<BudgetSettings> BudgetOf(const nlohmann::json& ns) {
  if (!ns.is_object()) return std::nullopt;
  auto it = ns.find("budget");
  if (it == ns.end() || !it->is_object()) return std::nullopt;
  const nlohmann::json& b = *it;
  BudgetSettings out;
  if (auto v = b.find("limitUsd"); v != b.end() && v->is_number()) out.limit_usd = v->get<double>();
  if (auto v = b.find("perTenantUsd"); v != b.end() && v->is_number()) {
    out.per_tenant_usd = v->get<double>();
  }
  if (auto v = b.find("window"); v != b.end() && v->is_string()) {
    if (auto w = ParseBudgetWindow(v->get<std::string>()); w.ok()) out.window = *w;
  }
  if (auto v = b.find("estimateOutputTokens"); v != b.end() && v->is_number()) {
    out.estimate_output_tokens = static_cast<int64_t>(v->get<double>());
  }
  return out;
}

}  // namespace llmix::registry
