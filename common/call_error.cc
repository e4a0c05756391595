#include "common/call_error.h"

namespace llmix {

bool IsRetryableHttpStatus(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

HttpStatusClass ClassifyHttpStatus(int status) {
  const bool retryable = IsRetryableHttpStatus(status);
  switch (status) {
    case 429:
      return {CallErrorCode::kRateLimited, retryable};
    case 401:
    case 403:
      return {CallErrorCode::kAuthentication, retryable};
    case 408:
    case 504:
      return {CallErrorCode::kUpstreamTimeout, retryable};
    case 400:
    case 404:
    case 413:
    case 422:
      return {CallErrorCode::kInvalidRequest, retryable};
    default:
      return {CallErrorCode::kUpstreamError, retryable};
  }
}

std::string_view CallErrorCodeName(CallErrorCode code) {
  switch (code) {
    case CallErrorCode::kUnspecified: return "UNSPECIFIED";
    case CallErrorCode::kUpstreamError: return "UPSTREAM_ERROR";
    case CallErrorCode::kUpstreamUnreachable: return "UPSTREAM_UNREACHABLE";
    case CallErrorCode::kUpstreamTimeout: return "UPSTREAM_TIMEOUT";
    case CallErrorCode::kUpstreamBadResponse: return "UPSTREAM_BAD_RESPONSE";
    case CallErrorCode::kRateLimited: return "RATE_LIMITED";
    case CallErrorCode::kAuthentication: return "AUTHENTICATION";
    case CallErrorCode::kInvalidRequest: return "INVALID_REQUEST";
    case CallErrorCode::kCircuitOpen: return "CIRCUIT_OPEN";
    case CallErrorCode::kKeyPoolExhausted: return "KEY_POOL_EXHAUSTED";
    case CallErrorCode::kNoApiKey: return "NO_API_KEY";
    case CallErrorCode::kKillSwitch: return "KILL_SWITCH";
    case CallErrorCode::kConfig: return "CONFIG";
    case CallErrorCode::kBudgetExhausted: return "BUDGET_EXHAUSTED";
    case CallErrorCode::kInternal: return "INTERNAL";
    case CallErrorCode::kJsonInvalid: return "JSON_INVALID";
  }
  return "UNKNOWN";
}

}  // namespace llmix
