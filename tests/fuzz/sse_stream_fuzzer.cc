// A provider's streaming body (adapters/sse_framer.h, adapters/stream_parser.h): the first byte
// picks the wire protocol, the second a chunk size; the rest is the body. It is parsed whole
// and in chunks; both must give the same events and the same status (a split never changes
// the result), and the framer never holds more than its limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/sse_framer.h"
#include "adapters/stream_parser.h"

namespace {

using llmix::adapters::StreamEvent;

constexpr size_t kMaxEvent = 4096;

struct Result {
  std::vector<std::string> events;
  std::string status;
};

Result Run(llmix::WireProtocol protocol, std::string_view body, size_t chunk) {
  auto parser = llmix::adapters::MakeStreamParser(protocol, "fuzz", {kMaxEvent});
  std::vector<StreamEvent> events;
  absl::Status s;
  for (size_t i = 0; i < body.size() && s.ok(); i += chunk)
    s = parser->Feed(body.substr(i, chunk), &events);
  if (s.ok()) s = parser->Finish(&events);
  Result r;
  for (const StreamEvent &e : events) r.events.push_back(llmix::adapters::DebugString(e));
  r.status = s.ToString();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const auto protocol = static_cast<llmix::WireProtocol>(data[0] % 3);
  const size_t chunk = 1 + data[1] % 64;
  std::string_view body(reinterpret_cast<const char *>(data + 2), size - 2);

  llmix::adapters::SseFramer framer(kMaxEvent);
  std::vector<llmix::adapters::SseEvent> framed;
  for (size_t i = 0; i < body.size(); i += chunk) {
    if (!framer.Feed(body.substr(i, chunk), &framed).ok()) break;
    if (framer.buffered_bytes() > kMaxEvent) abort();
  }
  (void)framer.Finish();

  const Result whole = Run(protocol, body, body.size() + 1);
  const Result split = Run(protocol, body, chunk);
  if (whole.events != split.events || whole.status != split.status) abort();
  return 0;
}
