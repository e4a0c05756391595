#include "common/env_refs.h"

#include <cctype>
#include <optional>
#include <vector>

namespace llmix {

namespace {

struct EnvRef {
  size_t begin = 0, end = 0;  // [begin, end) covers "${...}"
  std::string name;
  std::optional<std::string> fallback;
};

bool NameChar(char c, bool first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (!first && c >= '0' && c <= '9');
}

bool LooksSecret(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* word : {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH"}) {
    if (upper.find(word) != std::string::npos) return true;
  }
  return false;
}

// Every reference in `text`, or the first problem.
std::string ParseRefs(std::string_view text, std::vector<EnvRef>* refs) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size() || text[i + 1] != '{') continue;
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) return "unterminated ${ reference";
    std::string_view body = text.substr(i + 2, close - i - 2);
    EnvRef ref;
    ref.begin = i;
    ref.end = close + 1;
    const size_t dash = body.find(":-");
    ref.name = std::string(body.substr(0, dash));
    if (dash != std::string_view::npos) ref.fallback = std::string(body.substr(dash + 2));
    bool ok = !ref.name.empty();
    for (size_t k = 0; k < ref.name.size() && ok; ++k) ok = NameChar(ref.name[k], k == 0);
    if (!ok) return "${" + std::string(body) + "}: not a variable name (letters, digits, _)";
    if (LooksSecret(ref.name)) {
      return "${" + ref.name +
             "}: names a secret; credentials come from the key pool, never "
             "from a preset";
    }
    refs->push_back(std::move(ref));
    i = close;
  }
  return "";
}

}  // namespace

std::string CheckEnvRefs(std::string_view text) {
  std::vector<EnvRef> refs;
  return ParseRefs(text, &refs);
}

bool ExpandEnvRefs(std::string_view text, const Env& env, std::string* out, std::string* error) {
  std::vector<EnvRef> refs;
  if (std::string problem = ParseRefs(text, &refs); !problem.empty()) {
    *error = std::move(problem);
    return false;
  }
  out->clear();
  size_t at = 0;
  for (const EnvRef& ref : refs) {
    out->append(text.substr(at, ref.begin - at));
    std::optional<std::string> value = env.Get(ref.name);
    if (!value.has_value() || value->empty()) {
      if (!ref.fallback.has_value()) {
        *error = "${" + ref.name + "} is not set";
        return false;
      }
      value = ref.fallback;
    }
    out->append(*value);
    at = ref.end;
  }
  out->append(text.substr(at));
  return true;
}

}  // namespace llmix
