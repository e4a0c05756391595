// A validator for a documented subset of JSON Schema (draft 2020-12 wording), used by JSON
// tasks (a reply must be JSON valid against a caller's schema). Debian 12 packages no C++ JSON
// Schema validator, so this is our own, deliberately small:
//
//   type                  a name or an array of names: object, array, string, number, integer,
//                         boolean, null ("integer": a number with no fractional part)
//   properties            object of name -> schema (checked for members that are present)
//   required              array of member names
//   additionalProperties  false, true or a schema, for members not in `properties`
//   items                 one schema for every array element (the tuple form is refused)
//   enum, const           JSON equality (numbers by value: 1 == 1.0)
//   minItems, maxItems, minLength, maxLength (Unicode code points), minimum, maximum,
//   exclusiveMinimum, exclusiveMaximum (numbers, the draft 6+ form)
//   `true` / `false`      as whole schemas (anything / nothing)
//
// Every other keyword is ignored: annotations ($schema, $id, $comment, title, description,
// default, examples, format, ...) and the assertions outside the subset (anyOf, oneOf, allOf,
// not, $ref, $defs, pattern, patternProperties, propertyNames, uniqueItems, contains,
// prefixItems, multipleOf, minProperties, maxProperties, if/then/else, dependent*,
// unevaluated*). Ignoring one only ever checks less: a reply the full schema accepts is never
// refused here.
//
// A schema is compiled (checked) once, when it is received: a malformed keyword is an
// InvalidArgument naming its JSON pointer ("/properties/age/type: unknown type \"int\" ..."),
// and the schema's nesting and size are bounded. Validation collects errors as
// "<pointer>: <what>" ("/items/2/name: expected string, got number"; the root is "/"), up to a
// bounded count. A compiled JsonSchema is immutable and thread-safe; copies share the tree.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace llmix {

struct JsonSchemaLimits {
  // Subschemas nested inside each other (properties, items, additionalProperties).
  int max_depth = 32;
  // Subschemas in the whole schema.
  size_t max_nodes = 2000;
  // Nesting of `enum` / `const` values.
  int max_value_depth = 64;
  // Errors reported by one Validate (the rest are counted, not listed).
  size_t max_errors = 10;
};

// What Validate found; `errors` empty means valid.
struct JsonSchemaErrors {
  std::vector<std::string> errors;  // "<pointer>: <what>", in document order
  bool truncated = false;           // more errors existed than max_errors
  bool ok() const { return errors.empty(); }
  // The errors one per line, with a last line saying more were left out when truncated.
  std::string ToString() const;
};

class JsonSchema {
 public:
  // Checks and compiles `schema`. Errors are InvalidArgument "<pointer>: <why>".
  static absl::StatusOr<JsonSchema> Compile(const nlohmann::json& schema,
                                            const JsonSchemaLimits& limits = {});

  JsonSchemaErrors Validate(const nlohmann::json& value) const;

  struct Node;

 private:
  JsonSchema(std::shared_ptr<const Node> root, JsonSchemaLimits limits)
      : root_(std::move(root)), limits_(limits) {}
  std::shared_ptr<const Node> root_;
  JsonSchemaLimits limits_;
};

// "/a/b~1c" for the path {"a", "b/c"} (RFC 6901 escaping); "/" for the root.
std::string JsonPointerString(const std::vector<std::string>& path);

}  // namespace llmix
