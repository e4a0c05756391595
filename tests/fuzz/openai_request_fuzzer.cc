// The HTTP front door's request path (sidecar/openai_mapping.h) as
// front_door.cc runs it: ParseJsJson of the body, then ChatRequestToCallInput;
// plus the x-llmix-* header parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/js_json.h"
#include "sidecar/openai_mapping.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  absl::StatusOr<nlohmann::json> body = llmix::ParseJsJson(text);
  if (body.ok()) {
    absl::StatusOr<llmix::pipeline::CallInput> in = llmix::sidecar::ChatRequestToCallInput(*body);
    if (!in.ok()) {
      (void)llmix::sidecar::ErrorBody(llmix::sidecar::ErrorFromStatus(in.status()));
    }
  }
  // Headers: the first line is x-llmix-cache-mode, the rest x-llmix-timeout-ms.
  size_t nl = text.find('\n');
  std::string mode(text.substr(0, nl == std::string_view::npos ? text.size() : nl));
  std::string timeout(nl == std::string_view::npos ? "" : text.substr(nl + 1));
  llmix::pipeline::CallInput in;
  (void)llmix::sidecar::ApplyLlmixHeaders(mode, timeout, &in);
  return 0;
}
