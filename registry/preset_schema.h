// LLMix's zod schemas, reproduced issue for issue: LLMConfigSchema (a strict LLM config, with the
// Anthropic budgetTokens cross-field rule) and LLMixMdaPresetSchema (the MDA front matter of a
// preset). Each check returns zod v4's issues: path, code and English message.
// Stateless free functions over immutable schema tables; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace llmix::registry {

struct SchemaIssue {
  std::vector<std::string> path;  // object keys and array indices (decimal), outermost first
  std::string code;     // invalid_type | invalid_value | too_small | too_big | unrecognized_keys |
                        // invalid_key | invalid_union | custom
  std::string message;  // zod's message, e.g. "Unrecognized key: \"temp\""
  bool aborts = true;   // zod's `continue: false`: later refinements of the parent are skipped
};

// A `modelMap` logical model name: ^[a-z][a-z0-9_-]{0,63}$.
bool IsLogicalModelName(std::string_view name);

// "common.topP" (JS `path.join(".")`; empty for the root).
std::string IssuePath(const SchemaIssue& issue);
// One line per issue: "<path>: <code>: <message>" joined with "; " ("<root>" for an empty path).
std::string FormatIssues(const std::vector<SchemaIssue>& issues);

// LLMConfigSchema.safeParse(config).error.issues (empty when valid). A `discarded` JSON value is
// JS `undefined` (an absent optional field).
std::vector<SchemaIssue> CheckLlmConfigSchema(const nlohmann::json& config);

// LLMixMdaPresetSchema.safeParse(frontMatter).error.issues (empty when valid).
std::vector<SchemaIssue> CheckMdaPresetSchema(const nlohmann::json& front_matter);

// The `metadata.llmix-sidecar` namespace (sidecar-only settings; strict): `baseUrl` string.
std::vector<SchemaIssue> CheckSidecarNamespaceSchema(const nlohmann::json& ns);

// A copy of `value` without `discarded` (JS undefined) object members; undefined array items
// become null (JSON.parse(JSON.stringify(x)) for the values the schemas accept).
nlohmann::json StripUndefined(const nlohmann::json& value);

}  // namespace llmix::registry
