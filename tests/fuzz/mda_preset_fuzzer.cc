// MDA preset files (registry/mda.h): front matter split, YAML -> JSON with
// js-yaml CORE_SCHEMA scalars, the preset schema and the LLMix projection. Any
// input must give a value or a Status.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "registry/mda.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  // The whole file path: ParseMdaText + ProjectMdaFrontMatter.
  (void)llmix::registry::LoadMdaPresetText(text, "fuzz/preset.mda");
  // The YAML reader on its own (bodies after the front matter never reach it
  // otherwise).
  std::map<std::vector<std::string>, int> lines;
  (void)llmix::registry::YamlToJson(text, "fuzz/preset.mda", 1, &lines);
  (void)llmix::registry::DecodeUtf8Lossy(text);
  return 0;
}
