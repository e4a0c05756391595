#include "common/pricing.h"

#include <unicode/locid.h>
#include <unicode/unistr.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/js_json.h"

namespace llmix {

// The text of common/data/llmix_pricing.json (generated into the build tree by CMake).
extern const char kLlmixPricingJson[];

namespace {

// JavaScript String.prototype.toLowerCase (Unicode default case mapping, locale-independent).
std::string JsToLower(std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
  icu::UnicodeString u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  u.toLower(icu::Locale::getRoot());
  std::string out;
  u.toUTF8String(out);
  return out;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// `s` ends with "-" followed by a digit pattern: `groups` digit runs of the given lengths,
// separated by '-' (e.g. {4,2,2} is -YYYY-MM-DD). Returns the suffix length, or 0.
size_t DateSuffix(std::string_view s, std::initializer_list<size_t> groups) {
  size_t len = 0;
  for (size_t g : groups) len += 1 + g;
  if (s.size() < len) return 0;
  std::string_view tail = s.substr(s.size() - len);
  size_t at = 0;
  for (size_t g : groups) {
    if (tail[at] != '-' || !AllDigits(tail.substr(at + 1, g))) return 0;
    at += 1 + g;
  }
  return len;
}

void StripSuffix(std::string& s, std::initializer_list<size_t> groups) {
  if (size_t n = DateSuffix(s, groups); n > 0) s.resize(s.size() - n);
}

}  // namespace

PriceTable PriceTableFromLlmixJson(const nlohmann::json& data) {
  PriceTable out;
  if (!data.is_object()) return out;
  for (auto it = data.begin(); it != data.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (!key.empty() && key[0] == '_') continue;
    if (!v.is_object()) continue;
    auto in = v.find("input");
    auto out_price = v.find("output");
    if (in == v.end() || out_price == v.end() || !in->is_number() || !out_price->is_number()) {
      continue;
    }
    out[key] = ModelPrice{in->get<double>(), out_price->get<double>()};
  }
  return out;
}

const PriceTable& BuiltinPriceTable() {
  static const PriceTable* table = [] {
    auto parsed = ParseJsJson(kLlmixPricingJson);
    // The embedded file is checked by the pricing vector test; a broken one gives no prices.
    return new PriceTable(parsed.ok() ? PriceTableFromLlmixJson(*parsed) : PriceTable{});
  }();
  return *table;
}

std::string NormalizeModelName(std::string_view model) {
  std::string n = JsToLower(model);
  if (size_t slash = n.rfind('/'); slash != std::string::npos) n.erase(0, slash + 1);
  StripSuffix(n, {4, 2, 2});  // -2025-08-07
  StripSuffix(n, {8});        // -20251001
  StripSuffix(n, {4});        // -2411
  // ^claude-(haiku|sonnet|opus)-(\d+)-(\d+)$ -> claude-<major>.<minor>-<tier>
  constexpr std::string_view kClaude = "claude-";
  if (n.rfind(kClaude, 0) == 0) {
    std::string_view rest = std::string_view(n).substr(kClaude.size());
    for (std::string_view tier : {"haiku", "sonnet", "opus"}) {
      if (rest.size() <= tier.size() + 1 || rest.substr(0, tier.size()) != tier ||
          rest[tier.size()] != '-') {
        continue;
      }
      std::string_view version = rest.substr(tier.size() + 1);
      size_t dash = version.find('-');
      if (dash == std::string_view::npos) break;
      std::string_view major = version.substr(0, dash);
      std::string_view minor = version.substr(dash + 1);
      if (AllDigits(major) && AllDigits(minor)) {
        n = absl::StrCat("claude-", absl::string_view(major.data(), major.size()), ".",
                         absl::string_view(minor.data(), minor.size()), "-",
                         absl::string_view(tier.data(), tier.size()));
      }
      break;
    }
  }
  return n;
}

std::optional<ModelPrice> LookupModelPrice(const PriceTable& table, std::string_view model) {
  auto find = [&table](std::string_view key) -> std::optional<ModelPrice> {
    auto it = table.find(absl::string_view(key.data(), key.size()));
    if (it == table.end()) return std::nullopt;
    return it->second;
  };
  if (auto p = find(model)) return p;
  if (auto p = find(NormalizeModelName(model))) return p;
  return find(JsToLower(model));
}

std::optional<ModelPrice> GetModelPricing(std::string_view model) {
  return LookupModelPrice(BuiltinPriceTable(), model);
}

double JsToFixedNumber(double x, int digits) {
  if (std::isnan(x) || std::fabs(x) >= 1e21) return x;
  const bool negative = std::signbit(x) && x != 0;
  // The exact decimal expansion (a double has at most 1074 fractional binary digits, so 1100
  // decimal places are exact), then toFixed's rounding: the nearest n / 10^digits, the larger n
  // on a tie.
  char buf[1200];
  std::snprintf(buf, sizeof(buf), "%.1100f", std::fabs(x));
  std::string text(buf);
  const size_t point = text.find('.');
  std::string kept = text.substr(0, point + 1 + static_cast<size_t>(digits));
  const std::string_view rest = std::string_view(text).substr(point + 1 + digits);
  // A first dropped digit >= 5 means at or above half: toFixed picks the larger n either way.
  if (!rest.empty() && rest[0] >= '5') {
    // Add one unit in the last kept place, carrying leftwards over the '.'.
    int i = static_cast<int>(kept.size()) - 1;
    while (i >= 0) {
      if (kept[i] == '.') {
        --i;
        continue;
      }
      if (kept[i] == '9') {
        kept[i] = '0';
        --i;
        continue;
      }
      ++kept[i];
      break;
    }
    if (i < 0) kept.insert(kept.begin(), '1');
  }
  double v = std::strtod(kept.c_str(), nullptr);
  return negative ? -v : v;
}

absl::StatusOr<CostBreakdown> CostOf(const ModelPrice& price, double input_tokens,
                                     double output_tokens) {
  if (!std::isfinite(input_tokens) || !std::isfinite(output_tokens)) {
    return absl::InvalidArgumentError("inputTokens/outputTokens must be finite numbers");
  }
  if (input_tokens < 0 || output_tokens < 0) {
    return absl::InvalidArgumentError("inputTokens/outputTokens must be >= 0");
  }
  const double input = (input_tokens / 1'000'000) * price.input;
  const double output = (output_tokens / 1'000'000) * price.output;
  const double total = input + output;
  return CostBreakdown{JsToFixedNumber(input, 6), JsToFixedNumber(output, 6),
                       JsToFixedNumber(total, 6)};
}

absl::StatusOr<CostBreakdown> CalculateCost(std::string_view model, double input_tokens,
                                            double output_tokens) {
  // LLMix validates the counts before it looks the model up.
  auto checked = CostOf(ModelPrice{}, input_tokens, output_tokens);
  if (!checked.ok()) return checked.status();
  std::optional<ModelPrice> price = GetModelPricing(model);
  if (!price.has_value()) return CostBreakdown{};
  return CostOf(*price, input_tokens, output_tokens);
}

double CalculateRerankCost(std::string_view model, double search_count) {
  auto cost = CalculateCost(model, search_count * 1000, 0);
  return cost.ok() ? cost->total_usd : 0;
}

}  // namespace llmix
