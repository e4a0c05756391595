// Retry-After header values (pipeline/resilience/retry_policy.h): delta-seconds
// or a JS Date.parse date, against a fixed `now` and both a default and an
// extreme cap.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/time/time.h"
#include "common/js_date.h"
#include "pipeline/resilience/retry_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view header(reinterpret_cast<const char *>(data), size);
  const absl::Time now = absl::FromUnixMillis(1767225600000);  // 2026-01-01T00:00:00Z
  (void)llmix::resilience::ParseRetryAfterMs(header, now);
  (void)llmix::resilience::ParseRetryAfterMs(header, absl::UnixEpoch(), 1e300);
  (void)llmix::ParseJsDateMs(header);
  return 0;
}
