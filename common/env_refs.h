// ${VAR} references in sidecar settings, expanded from the sidecar's environment.
#pragma once

#include <string>
#include <string_view>

#include "common/env.h"

namespace llmix {

// `${NAME}` and `${NAME:-default}` references in sidecar settings (metadata.llmix-sidecar string
// values such as base URLs). NAME is [A-Za-z_][A-Za-z0-9_]*; a name that looks like a secret
// (contains KEY, TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL or AUTH, any case) is refused, so
// a preset can never pull a credential into a URL, a log line or a span. `$` not followed by
// `{` is literal.
//  - CheckEnvRefs: empty when `text` is well-formed, else what is wrong ("${OPENAI_API_KEY}:
//    names a secret").
//  - ExpandEnvRefs: the text with every reference replaced (unset or empty without a default
//    -> error naming the variable).
std::string CheckEnvRefs(std::string_view text);
bool ExpandEnvRefs(std::string_view text, const Env& env, std::string* out, std::string* error);

}  // namespace llmix
