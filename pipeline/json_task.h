// The text rules of JSON tasks (pipeline/json_stage.h): how a JSON value is read from a reply,
// how it is printed back, and the exact user message of a repair request. Pure functions;
// thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/json_schema.h"
#include "nlohmann/json.hpp"

namespace llmix::pipeline {

// Bounds on a request's JSON task schema text (`json_task.schema_json`).
inline constexpr size_t kMaxJsonTaskSchemaBytes = 256 << 10;
inline constexpr int kMaxJsonTaskSchemaNesting = 64;
inline constexpr int kDefaultJsonRepairs = 2;
inline constexpr int kMaxJsonRepairs = 5;

// The JSON value of a reply:
//  1. the whole reply, without leading/trailing whitespace, when it parses as one JSON value;
//  2. else the first fenced block whose opening fence line is ``` or ```json (any case, at the
//     start of a line, up to the next line starting with ``` or the end of the reply); blocks
//     in other languages (```python) are skipped; prose before and after the fence is ignored;
//  3. else (prose around unfenced JSON included) it is not JSON.
// JSON is read as JavaScript's JSON.parse does (numbers are doubles), nested at most 128 deep.
// InvalidArgument with the problem as one sentence ("the reply is not JSON: JSON parse error at
// byte 0: ...") otherwise.
absl::StatusOr<nlohmann::ordered_json> ExtractJsonReply(std::string_view content);

// JSON.stringify(value): compact, members in the reply's order, numbers as JavaScript prints
// them (2, not 2.0).
std::string CompactJsonText(const nlohmann::ordered_json& value);

// The user message that asks for a repair after a reply that is not JSON (`problem` from
// ExtractJsonReply):
//   Your reply could not be used: <problem>.
//   Reply again with only the JSON value, valid against the required schema, and no other text.
std::string RepairMessageForParseError(std::string_view problem);

// ... and after a reply whose JSON does not match the schema:
//   Your reply does not match the required JSON schema:
//   <one error per line, e.g. "/items/2/name: expected string, got number">
//   Reply again with only the corrected JSON value and no other text.
std::string RepairMessageForSchemaErrors(const JsonSchemaErrors& errors);

}  // namespace llmix::pipeline
