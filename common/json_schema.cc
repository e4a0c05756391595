#include "common/json_schema.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/canonical_json.h"

namespace llmix {

using nlohmann::json;

namespace {

enum TypeBit : uint8_t {
  kObject = 1 << 0,
  kArray = 1 << 1,
  kString = 1 << 2,
  kNumber = 1 << 3,
  kInteger = 1 << 4,
  kBoolean = 1 << 5,
  kNull = 1 << 6,
};

constexpr std::pair<const char*, TypeBit> kTypeNames[] = {
    {"object", kObject},   {"array", kArray},     {"string", kString}, {"number", kNumber},
    {"integer", kInteger}, {"boolean", kBoolean}, {"null", kNull},
};

// The JSON Schema type name of a value ("integer" is never returned: a number is a number).
const char* TypeOf(const json& v) {
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  if (v.is_string()) return "string";
  if (v.is_number()) return "number";
  if (v.is_boolean()) return "boolean";
  return "null";
}

bool IsInteger(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::trunc(d) == d;
}

bool HasType(uint8_t types, const json& v) {
  if (v.is_object()) return types & kObject;
  if (v.is_array()) return types & kArray;
  if (v.is_string()) return types & kString;
  if (v.is_boolean()) return types & kBoolean;
  if (v.is_null()) return types & kNull;
  if (v.is_number()) return (types & kNumber) || ((types & kInteger) && IsInteger(v));
  return false;
}

std::string TypeList(uint8_t types) {
  std::vector<std::string> names;
  for (const auto& [name, bit] : kTypeNames) {
    if (types & bit) names.push_back(name);
  }
  if (names.size() <= 1) return absl::StrJoin(names, "");
  std::string last = names.back();
  names.pop_back();
  return absl::StrCat(absl::StrJoin(names, ", "), " or ", last);
}

// Compact text of a value for a message (JSON.stringify with sorted keys), cut at 80 bytes.
std::string Brief(const json& v) {
  std::string s = CacheCanonicalJson(v);
  if (s.size() > 80) {
    size_t cut = 77;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    s = s.substr(0, cut) + "...";
  }
  return s;
}

std::string Num(double d) { return JsNumberToString(d); }

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

int DepthOf(const json& v, int limit) {
  if (limit < 0 || !v.is_structured()) return 0;
  int deepest = 0;
  for (const auto& item : v) {
    deepest = std::max(deepest, DepthOf(item, limit - 1));
    if (deepest > limit) break;
  }
  return deepest + 1;
}

}  // namespace

struct JsonSchema::Node {
  bool reject_all = false;  // the `false` schema
  uint8_t types = 0;        // 0: any type
  std::map<std::string, std::unique_ptr<Node>> properties;
  std::vector<std::string> required;
  bool additional_allowed = true;
  std::unique_ptr<Node> additional;  // schema for members not in `properties`
  std::unique_ptr<Node> items;
  std::optional<std::vector<json>> enum_values;
  std::optional<json> const_value;
  std::optional<double> min_items, max_items, min_length, max_length;
  std::optional<double> minimum, maximum, exclusive_minimum, exclusive_maximum;
};

namespace {

using Node = JsonSchema::Node;

class Compiler {
 public:
  explicit Compiler(const JsonSchemaLimits& limits) : limits_(limits) {}

  absl::StatusOr<std::unique_ptr<Node>> Compile(const json& s, std::vector<std::string>& path) {
    if (++nodes_ > limits_.max_nodes) {
      return Error(path, absl::StrCat("schema has more than ", limits_.max_nodes, " subschemas"));
    }
    if (depth_ >= limits_.max_depth) {
      return Error(path, absl::StrCat("schema nested deeper than ", limits_.max_depth, " levels"));
    }
    ++depth_;
    auto node = CompileNode(s, path);
    --depth_;
    return node;
  }

 private:
  absl::StatusOr<std::unique_ptr<Node>> CompileNode(const json& s, std::vector<std::string>& path) {
    auto node = std::make_unique<Node>();
    if (s.is_boolean()) {
      node->reject_all = !s.get<bool>();
      return node;
    }
    if (!s.is_object()) {
      return Error(path,
                   absl::StrCat("expected a schema (an object or a boolean), got ", TypeOf(s)));
    }
    for (const auto& [key, value] : s.items()) {
      path.push_back(key);
      absl::Status st = Keyword(key, value, *node, path);
      path.pop_back();
      if (!st.ok()) return st;
    }
    return node;
  }

  absl::Status Error(const std::vector<std::string>& path, std::string why) const {
    return absl::InvalidArgumentError(absl::StrCat(JsonPointerString(path), ": ", why));
  }

  absl::Status Keyword(const std::string& key, const json& v, Node& node,
                       std::vector<std::string>& path) {
    if (key == "type") return Type(v, node, path);
    if (key == "properties") {
      if (!v.is_object()) return Error(path, "expected an object of schemas");
      for (const auto& [name, sub] : v.items()) {
        path.push_back(name);
        auto compiled = Compile(sub, path);
        path.pop_back();
        if (!compiled.ok()) return compiled.status();
        node.properties[name] = *std::move(compiled);
      }
      return absl::OkStatus();
    }
    if (key == "required") {
      if (!v.is_array()) return Error(path, "expected an array of property names");
      for (const auto& name : v) {
        if (!name.is_string()) return Error(path, "expected an array of property names");
        node.required.push_back(name.get<std::string>());
      }
      return absl::OkStatus();
    }
    if (key == "additionalProperties") {
      if (v.is_boolean()) {
        node.additional_allowed = v.get<bool>();
        return absl::OkStatus();
      }
      auto compiled = Compile(v, path);
      if (!compiled.ok()) return compiled.status();
      node.additional = *std::move(compiled);
      return absl::OkStatus();
    }
    if (key == "items") {
      if (v.is_array()) {
        return Error(path, "only a single schema is supported (not the tuple form)");
      }
      auto compiled = Compile(v, path);
      if (!compiled.ok()) return compiled.status();
      node.items = *std::move(compiled);
      return absl::OkStatus();
    }
    if (key == "enum" || key == "const") {
      if (DepthOf(v, limits_.max_value_depth) > limits_.max_value_depth) {
        return Error(path,
                     absl::StrCat("value nested deeper than ", limits_.max_value_depth, " levels"));
      }
      if (key == "const") {
        node.const_value = v;
        return absl::OkStatus();
      }
      if (!v.is_array() || v.empty()) return Error(path, "expected a non-empty array");
      node.enum_values.emplace(v.begin(), v.end());
      return absl::OkStatus();
    }
    if (key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength") {
      if (!v.is_number() || !IsInteger(v) || v.get<double>() < 0) {
        return Error(path, absl::StrCat("expected a non-negative integer, got ", Brief(v)));
      }
      const double n = v.get<double>();
      (key == "minItems"    ? node.min_items
       : key == "maxItems"  ? node.max_items
       : key == "minLength" ? node.min_length
                            : node.max_length) = n;
      return absl::OkStatus();
    }
    if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" ||
        key == "exclusiveMaximum") {
      if (!v.is_number() || !std::isfinite(v.get<double>())) {
        return Error(path, absl::StrCat("expected a number, got ", Brief(v),
                                        v.is_boolean() ? " (the draft 4 boolean form of "
                                                         "exclusiveMinimum/Maximum is not "
                                                         "supported)"
                                                       : ""));
      }
      const double n = v.get<double>();
      (key == "minimum"            ? node.minimum
       : key == "maximum"          ? node.maximum
       : key == "exclusiveMinimum" ? node.exclusive_minimum
                                   : node.exclusive_maximum) = n;
      return absl::OkStatus();
    }
    return absl::OkStatus();  // outside the subset: ignored (see the header)
  }

  absl::Status Type(const json& v, Node& node, const std::vector<std::string>& path) {
    auto add = [&](const json& name) -> absl::Status {
      if (name.is_string()) {
        for (const auto& [known, bit] : kTypeNames) {
          if (name.get_ref<const std::string&>() == known) {
            node.types |= bit;
            return absl::OkStatus();
          }
        }
      }
      return Error(path, absl::StrCat("unknown type ", Brief(name),
                                      " (expected object, array, string, number, integer, "
                                      "boolean or null)"));
    };
    if (v.is_array()) {
      if (v.empty()) return Error(path, "expected a type name or a non-empty array of them");
      for (const auto& name : v) {
        if (absl::Status st = add(name); !st.ok()) return st;
      }
      return absl::OkStatus();
    }
    return add(v);
  }

  JsonSchemaLimits limits_;
  size_t nodes_ = 0;
  int depth_ = 0;
};

class Validator {
 public:
  Validator(size_t max_errors, JsonSchemaErrors& out) : max_errors_(max_errors), out_(out) {}

  void Check(const Node& node, const json& v, std::vector<std::string>& path) {
    if (Full()) return;
    if (node.reject_all) return Add(path, "no value is allowed here (schema false)");
    if (node.types != 0 && !HasType(node.types, v)) {
      const bool non_integer = v.is_number() && (node.types & kInteger) && !(node.types & kNumber);
      return Add(path, absl::StrCat("expected ", TypeList(node.types), ", got ",
                                    non_integer ? absl::StrCat("number ", Brief(v)) : TypeOf(v)));
    }
    if (node.const_value.has_value() && v != *node.const_value) {
      Add(path, absl::StrCat("expected ", Brief(*node.const_value), ", got ", Brief(v)));
    }
    if (node.enum_values.has_value()) {
      bool found = false;
      for (const auto& e : *node.enum_values) found = found || v == e;
      if (!found) {
        Add(path,
            absl::StrCat("expected one of ", Brief(json(*node.enum_values)), ", got ", Brief(v)));
      }
    }
    if (v.is_object()) return Object(node, v, path);
    if (v.is_array()) return Array(node, v, path);
    if (v.is_string()) return String(node, v.get_ref<const std::string&>(), path);
    if (v.is_number()) return Number(node, v.get<double>(), path);
  }

 private:
  bool Full() const { return out_.truncated; }

  void Add(const std::vector<std::string>& path, std::string what) {
    if (out_.errors.size() >= max_errors_) {
      out_.truncated = true;
      return;
    }
    out_.errors.push_back(absl::StrCat(JsonPointerString(path), ": ", what));
  }

  void Object(const Node& node, const json& v, std::vector<std::string>& path) {
    for (const std::string& name : node.required) {
      if (!v.contains(name)) Add(path, absl::StrCat("missing required property ", Brief(name)));
    }
    for (const auto& [name, member] : v.items()) {
      if (Full()) return;
      auto it = node.properties.find(name);
      const Node* sub = it == node.properties.end() ? nullptr : it->second.get();
      path.push_back(name);
      if (sub != nullptr) {
        Check(*sub, member, path);
      } else if (!node.additional_allowed) {
        path.pop_back();
        Add(path, absl::StrCat("property ", Brief(name), " is not allowed"));
        continue;
      } else if (node.additional != nullptr) {
        Check(*node.additional, member, path);
      }
      path.pop_back();
    }
  }

  void Array(const Node& node, const json& v, std::vector<std::string>& path) {
    const double n = static_cast<double>(v.size());
    if (node.min_items && n < *node.min_items) {
      Add(path, absl::StrCat("expected at least ", Num(*node.min_items), " items, got ", v.size()));
    }
    if (node.max_items && n > *node.max_items) {
      Add(path, absl::StrCat("expected at most ", Num(*node.max_items), " items, got ", v.size()));
    }
    if (node.items == nullptr) return;
    for (size_t i = 0; i < v.size() && !Full(); ++i) {
      path.push_back(std::to_string(i));
      Check(*node.items, v[i], path);
      path.pop_back();
    }
  }

  void String(const Node& node, const std::string& s, const std::vector<std::string>& path) {
    if (!node.min_length && !node.max_length) return;
    const double n = static_cast<double>(CodePoints(s));
    if (node.min_length && n < *node.min_length) {
      Add(path,
          absl::StrCat("expected at least ", Num(*node.min_length), " characters, got ", Num(n)));
    }
    if (node.max_length && n > *node.max_length) {
      Add(path,
          absl::StrCat("expected at most ", Num(*node.max_length), " characters, got ", Num(n)));
    }
  }

  void Number(const Node& node, double d, const std::vector<std::string>& path) {
    auto bound = [&](const std::optional<double>& b, bool ok, const char* op) {
      if (b && !ok)
        Add(path, absl::StrCat("expected a number ", op, " ", Num(*b), ", got ", Num(d)));
    };
    bound(node.minimum, node.minimum && d >= *node.minimum, ">=");
    bound(node.maximum, node.maximum && d <= *node.maximum, "<=");
    bound(node.exclusive_minimum, node.exclusive_minimum && d > *node.exclusive_minimum, ">");
    bound(node.exclusive_maximum, node.exclusive_maximum && d < *node.exclusive_maximum, "<");
  }

  size_t max_errors_;
  JsonSchemaErrors& out_;
};

}  // namespace

std::string JsonPointerString(const std::vector<std::string>& path) {
  if (path.empty()) return "/";
  std::string out;
  for (const std::string& token : path) {
    out += '/';
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }
  return out;
}

std::string JsonSchemaErrors::ToString() const {
  std::string out = absl::StrJoin(errors, "\n");
  if (truncated) absl::StrAppend(&out, "\n(further errors not listed)");
  return out;
}

absl::StatusOr<JsonSchema> JsonSchema::Compile(const json& schema, const JsonSchemaLimits& limits) {
  Compiler compiler(limits);
  std::vector<std::string> path;
  auto root = compiler.Compile(schema, path);
  if (!root.ok()) return root.status();
  return JsonSchema(std::shared_ptr<const Node>(*std::move(root)), limits);
}

JsonSchemaErrors JsonSchema::Validate(const json& value) const {
  JsonSchemaErrors out;
  Validator validator(limits_.max_errors, out);
  std::vector<std::string> path;
  validator.Check(*root_, value, path);
  return out;
}

}  // namespace llmix
