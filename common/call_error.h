// The structured error of a failed call (LLMix reports these as `success = false`), its
// stable code, and the one table that maps an upstream HTTP status to a code and a
// retryable flag (CONTRACT.md §4: 408, 429, 5xx retry). Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmix {

// Mirrors llmix.sidecar.v1.ErrorCode (same numbers); the edge converts.
enum class CallErrorCode : int {
  kUnspecified = 0,
  kUpstreamError = 1,
  kUpstreamUnreachable = 2,
  kUpstreamTimeout = 3,
  kUpstreamBadResponse = 4,
  kRateLimited = 5,
  kAuthentication = 6,
  kInvalidRequest = 7,
  kCircuitOpen = 8,
  kKeyPoolExhausted = 9,
  kNoApiKey = 10,
  kKillSwitch = 11,
  kConfig = 12,
  kBudgetExhausted = 13,
  kInternal = 14,
  // A JSON task's reply was not valid JSON for its schema after every repair.
  kJsonInvalid = 15,
};

struct CallError {
  CallErrorCode code = CallErrorCode::kUnspecified;
  std::string message;  // never contains an API key
  bool retryable = false;
  int http_status = 0;  // 0: no HTTP status (network, local)
  std::string provider;
  std::optional<int64_t> retry_after_ms;
  std::string provider_error_type;
};

// CONTRACT §4: 408, 429 and 500-599 are retryable; nothing else is.
bool IsRetryableHttpStatus(int status);

struct HttpStatusClass {
  CallErrorCode code;
  bool retryable;
};
// The one table: upstream HTTP status -> error code + retryable.
HttpStatusClass ClassifyHttpStatus(int status);

std::string_view CallErrorCodeName(CallErrorCode code);

}  // namespace llmix
