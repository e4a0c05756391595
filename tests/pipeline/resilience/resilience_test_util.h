// Small helpers shared by the resilience tests for reading fixture JSON (CONTRACT.md §0).
// Stateless; thread-safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace llmix::resilience::testing {

// JS null or undefined (undefined arrives as a `discarded` value).
inline bool IsAbsent(const nlohmann::json& v) { return v.is_null() || v.is_discarded(); }

// obj[key] when present and neither null nor undefined.
inline const nlohmann::json* Field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || IsAbsent(*it)) return nullptr;
  return &*it;
}

// Same IEEE value (NaN equals NaN; -0 and +0 differ only when `signed_zero`).
inline bool SameNumber(double a, double b, bool signed_zero = false) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (signed_zero && a == 0 && b == 0) return std::signbit(a) == std::signbit(b);
  return a == b;
}

inline absl::Time TimeFromMs(const nlohmann::json& ms) {
  return absl::FromUnixMillis(static_cast<int64_t>(ms.get<double>()));
}

}  // namespace llmix::resilience::testing
