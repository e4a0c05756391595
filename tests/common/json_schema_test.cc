#include "common/json_schema.h"

#include <string>
#include <vector>

#include "common/js_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llmix {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

json J(std::string_view text) {
  auto v = ParseJsJson(text);
  EXPECT_TRUE(v.ok()) << v.status() << " for " << text;
  return v.ok() ? *v : json();
}

JsonSchema S(std::string_view schema, const JsonSchemaLimits& limits = {}) {
  auto s = JsonSchema::Compile(J(schema), limits);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : *JsonSchema::Compile(json(true));
}

std::vector<std::string> Errors(std::string_view schema, std::string_view value) {
  return S(schema).Validate(J(value)).errors;
}

std::string CompileError(std::string_view schema, const JsonSchemaLimits& limits = {}) {
  auto s = JsonSchema::Compile(J(schema), limits);
  EXPECT_FALSE(s.ok()) << "accepted: " << schema;
  if (s.ok()) return "";
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.status().message());
}

TEST(JsonSchemaTest, TypeNamesAndArrays) {
  EXPECT_THAT(Errors(R"({"type":"string"})", R"("x")"), IsEmpty());
  EXPECT_THAT(Errors(R"({"type":"string"})", "1"), ElementsAre("/: expected string, got number"));
  EXPECT_THAT(Errors(R"({"type":"object"})", "[]"), ElementsAre("/: expected object, got array"));
  EXPECT_THAT(Errors(R"({"type":"array"})", "{}"), ElementsAre("/: expected array, got object"));
  EXPECT_THAT(Errors(R"({"type":"boolean"})", "null"),
              ElementsAre("/: expected boolean, got null"));
  EXPECT_THAT(Errors(R"({"type":"null"})", "false"), ElementsAre("/: expected null, got boolean"));
  EXPECT_THAT(Errors(R"({"type":"number"})", "1.5"), IsEmpty());
  EXPECT_THAT(Errors(R"({"type":"number"})", "\"1\""),
              ElementsAre("/: expected number, got string"));
  // integer: a number without a fractional part (1.0 counts, as in JSON Schema).
  EXPECT_THAT(Errors(R"({"type":"integer"})", "3"), IsEmpty());
  EXPECT_THAT(Errors(R"({"type":"integer"})", "3.0"), IsEmpty());
  EXPECT_THAT(Errors(R"({"type":"integer"})", "3.5"),
              ElementsAre("/: expected integer, got number 3.5"));
  EXPECT_THAT(Errors(R"({"type":["string","null"]})", "null"), IsEmpty());
  EXPECT_THAT(Errors(R"({"type":["string","null"]})", "7"),
              ElementsAre("/: expected string or null, got number"));
  EXPECT_THAT(Errors(R"({"type":["integer","string","boolean"]})", "{}"),
              ElementsAre("/: expected string, integer or boolean, got object"));
  // No type: anything.
  EXPECT_THAT(Errors(R"({})", R"({"a":[1,"x",null]})"), IsEmpty());
}

TEST(JsonSchemaTest, PropertiesRequiredAndPointers) {
  const char* schema = R"({
    "type":"object",
    "required":["name","items"],
    "properties":{
      "name":{"type":"string"},
      "items":{"type":"array","items":{"type":"object","required":["id"],
               "properties":{"id":{"type":"integer"},"name":{"type":"string"}}}}}})";
  EXPECT_THAT(Errors(schema, R"({"name":"n","items":[{"id":1},{"id":2,"name":"b"}]})"), IsEmpty());
  EXPECT_THAT(Errors(schema, R"({"items":[{"id":1},{"id":2},{"id":3,"name":4},{}]})"),
              ElementsAre("/: missing required property \"name\"",
                          "/items/2/name: expected string, got number",
                          "/items/3: missing required property \"id\""));
  // Members without a schema are allowed by default.
  EXPECT_THAT(Errors(schema, R"({"name":"n","items":[],"extra":{"x":1}})"), IsEmpty());
  // Pointer escaping (RFC 6901).
  EXPECT_THAT(Errors(R"({"properties":{"a/b":{"properties":{"c~d":{"type":"string"}}}}})",
                     R"({"a/b":{"c~d":0}})"),
              ElementsAre("/a~1b/c~0d: expected string, got number"));
}

TEST(JsonSchemaTest, AdditionalProperties) {
  EXPECT_THAT(
      Errors(R"({"properties":{"a":{}},"additionalProperties":false})", R"({"a":1,"b":2,"c":3})"),
      ElementsAre("/: property \"b\" is not allowed", "/: property \"c\" is not allowed"));
  EXPECT_THAT(Errors(R"({"properties":{"a":{}},"additionalProperties":true})", R"({"b":2})"),
              IsEmpty());
  EXPECT_THAT(Errors(R"({"properties":{"a":{"type":"string"}},
                        "additionalProperties":{"type":"number"}})",
                     R"({"a":"x","b":2,"c":"three"})"),
              ElementsAre("/c: expected number, got string"));
}

TEST(JsonSchemaTest, EnumAndConst) {
  EXPECT_THAT(Errors(R"({"enum":["red","green",1,null,{"a":[1]}]})", R"("green")"), IsEmpty());
  EXPECT_THAT(Errors(R"({"enum":["red","green",1,null,{"a":[1]}]})", R"({"a":[1]})"), IsEmpty());
  EXPECT_THAT(Errors(R"({"enum":["red","green"]})", R"("blue")"),
              ElementsAre(R"(/: expected one of ["red","green"], got "blue")"));
  // Numbers compare by value: 1 == 1.0, also against integers from a YAML preset.
  EXPECT_THAT(Errors(R"({"enum":[1,2]})", "1.0"), IsEmpty());
  auto yaml_like = JsonSchema::Compile(json{{"const", 2}});  // integer, as YAML gives
  ASSERT_TRUE(yaml_like.ok());
  EXPECT_TRUE(yaml_like->Validate(J("2")).ok());  // ParseJsJson gives a double
  EXPECT_THAT(Errors(R"({"const":{"v":1}})", R"({"v":2})"),
              ElementsAre(R"(/: expected {"v":1}, got {"v":2})"));
  EXPECT_THAT(Errors(R"({"const":"x"})", R"("x")"), IsEmpty());
}

TEST(JsonSchemaTest, Bounds) {
  EXPECT_THAT(Errors(R"({"minItems":2,"maxItems":3})", "[1]"),
              ElementsAre("/: expected at least 2 items, got 1"));
  EXPECT_THAT(Errors(R"({"minItems":2,"maxItems":3})", "[1,2,3,4]"),
              ElementsAre("/: expected at most 3 items, got 4"));
  EXPECT_THAT(Errors(R"({"minItems":2,"maxItems":3})", "[1,2]"), IsEmpty());
  // Lengths count Unicode code points: "héé" is 3 characters in 5 bytes.
  EXPECT_THAT(Errors(R"({"minLength":2,"maxLength":3})", "\"h\u00e9\u00e9\""), IsEmpty());
  EXPECT_THAT(Errors(R"({"minLength":2})", R"("a")"),
              ElementsAre("/: expected at least 2 characters, got 1"));
  EXPECT_THAT(Errors(R"({"maxLength":3})", R"("abcd")"),
              ElementsAre("/: expected at most 3 characters, got 4"));
  EXPECT_THAT(Errors(R"({"minimum":0,"maximum":10})", "-1"),
              ElementsAre("/: expected a number >= 0, got -1"));
  EXPECT_THAT(Errors(R"({"minimum":0,"maximum":10})", "10.5"),
              ElementsAre("/: expected a number <= 10, got 10.5"));
  EXPECT_THAT(Errors(R"({"minimum":0,"maximum":10})", "10"), IsEmpty());
  EXPECT_THAT(Errors(R"({"exclusiveMinimum":0,"exclusiveMaximum":1})", "0"),
              ElementsAre("/: expected a number > 0, got 0"));
  EXPECT_THAT(Errors(R"({"exclusiveMinimum":0,"exclusiveMaximum":1})", "1"),
              ElementsAre("/: expected a number < 1, got 1"));
  // Bounds apply only to their own kind of value.
  EXPECT_THAT(Errors(R"({"minLength":5,"minimum":3,"minItems":2})", "{}"), IsEmpty());
}

TEST(JsonSchemaTest, BooleanSchemasAndIgnoredKeywords) {
  EXPECT_THAT(Errors("true", R"({"anything":1})"), IsEmpty());
  EXPECT_THAT(Errors(R"({"properties":{"never":false}})", R"({"never":1})"),
              ElementsAre("/never: no value is allowed here (schema false)"));
  // Keywords outside the subset are ignored: they only ever check less.
  EXPECT_THAT(Errors(R"({"type":"string","pattern":"^a$","format":"email","title":"t",
                        "anyOf":[{"type":"number"}],"$ref":"#/nope","multipleOf":7})",
                     R"("zzz")"),
              IsEmpty());
}

TEST(JsonSchemaTest, ErrorsAreBoundedInCount) {
  JsonSchemaLimits limits;
  limits.max_errors = 3;
  JsonSchema s = S(R"({"items":{"type":"string"}})", limits);
  JsonSchemaErrors e = s.Validate(J("[1,2,3,4,5,6,7,8,9,10]"));
  EXPECT_THAT(e.errors,
              ElementsAre("/0: expected string, got number", "/1: expected string, got number",
                          "/2: expected string, got number"));
  EXPECT_TRUE(e.truncated);
  EXPECT_EQ(e.ToString(),
            "/0: expected string, got number\n/1: expected string, got number\n"
            "/2: expected string, got number\n(further errors not listed)");
  EXPECT_FALSE(s.Validate(J("[1,2]")).truncated);
}

TEST(JsonSchemaTest, MalformedSchemasNameTheKeywordsPointer) {
  EXPECT_EQ(CompileError("[]"), "/: expected a schema (an object or a boolean), got array");
  EXPECT_EQ(CompileError(R"({"properties":{"age":{"type":"int"}}})"),
            "/properties/age/type: unknown type \"int\" (expected object, array, string, "
            "number, integer, boolean or null)");
  EXPECT_EQ(CompileError(R"({"type":[]})"),
            "/type: expected a type name or a non-empty array of them");
  EXPECT_EQ(CompileError(R"({"type":["string",3]})"),
            "/type: unknown type 3 (expected object, array, string, number, integer, boolean "
            "or null)");
  EXPECT_EQ(CompileError(R"({"properties":[]})"), "/properties: expected an object of schemas");
  EXPECT_EQ(CompileError(R"({"properties":{"a":"string"}})"),
            "/properties/a: expected a schema (an object or a boolean), got string");
  EXPECT_EQ(CompileError(R"({"required":"a"})"), "/required: expected an array of property names");
  EXPECT_EQ(CompileError(R"({"required":["a",1]})"),
            "/required: expected an array of property names");
  EXPECT_EQ(CompileError(R"({"items":[{},{}]})"),
            "/items: only a single schema is supported (not the tuple form)");
  EXPECT_EQ(CompileError(R"({"items":{"items":7}})"),
            "/items/items: expected a schema (an object or a boolean), got number");
  EXPECT_EQ(CompileError(R"({"additionalProperties":"no"})"),
            "/additionalProperties: expected a schema (an object or a boolean), got string");
  EXPECT_EQ(CompileError(R"({"enum":[]})"), "/enum: expected a non-empty array");
  EXPECT_EQ(CompileError(R"({"enum":"a"})"), "/enum: expected a non-empty array");
  EXPECT_EQ(CompileError(R"({"minItems":-1})"),
            "/minItems: expected a non-negative integer, got -1");
  EXPECT_EQ(CompileError(R"({"maxLength":1.5})"),
            "/maxLength: expected a non-negative integer, got 1.5");
  EXPECT_EQ(CompileError(R"({"minimum":"0"})"), "/minimum: expected a number, got \"0\"");
  EXPECT_THAT(CompileError(R"({"exclusiveMinimum":true})"), HasSubstr("draft 4 boolean form"));
}

TEST(JsonSchemaTest, DepthAndSizeAreBounded) {
  // 33 nested `items` levels: over the default 32.
  std::string deep = "{}";
  for (int i = 0; i < 33; ++i) deep = R"({"items":)" + deep + "}";
  std::string error = CompileError(deep);
  EXPECT_THAT(error, HasSubstr("schema nested deeper than 32 levels"));
  EXPECT_THAT(error, ::testing::StartsWith(
                         "/items/items/items/items/items/items/items/items/items/items/items"));
  // 32 levels pass.
  std::string ok = "{}";
  for (int i = 0; i < 31; ++i) ok = R"({"items":)" + ok + "}";
  EXPECT_TRUE(JsonSchema::Compile(J(ok)).ok());

  // Too many subschemas.
  JsonSchemaLimits small;
  small.max_nodes = 10;
  std::string wide = R"({"properties":{)";
  for (int i = 0; i < 20; ++i) wide += (i ? "," : "") + ("\"p" + std::to_string(i)) + "\":{}";
  wide += "}}";
  EXPECT_THAT(CompileError(wide, small), HasSubstr("schema has more than 10 subschemas"));

  // Deep enum/const values.
  std::string value = "1";
  for (int i = 0; i < 70; ++i) value = "[" + value + "]";
  EXPECT_EQ(CompileError(R"({"const":)" + value + "}"),
            "/const: value nested deeper than 64 levels");

  // A deeply nested instance is validated without trouble (the walk follows the schema).
  std::string instance = "0";
  for (int i = 0; i < 120; ++i) instance = "[" + instance + "]";
  EXPECT_THAT(Errors(R"({"type":"array","items":{"type":"array"}})", instance), IsEmpty());
}

}  // namespace
}  // namespace llmix
