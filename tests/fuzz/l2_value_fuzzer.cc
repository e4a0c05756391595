// Values read back from the shared Redis L2 (pipeline/cache/redis_l2.h): any process that can
// write the Redis may have put them there. DecodeL2Value must give an entry or a miss; the
// Redis URL parser runs on the same bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/time/time.h"
#include "pipeline/cache/redis_l2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  (void)llmix::cache::DecodeL2Value(text, absl::Hours(1), now);
  (void)llmix::cache::DecodeL2Value(text, absl::InfiniteDuration(), absl::UnixEpoch());
  (void)llmix::cache::ParseRedisUrl(text);
  return 0;
}
