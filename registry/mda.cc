#include "registry/mda.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/canonical_json.h"
#include "registry/errors.h"
#include "registry/fs_util.h"
#include "registry/names.h"
#include "registry/preset_schema.h"

namespace llmix::registry {

namespace {

using nlohmann::json;
using JsonPath = std::vector<std::string>;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr int kMaxDepth = 128;
// Bounds alias expansion ("billion laughs"). Each node costs a scalar resolution and a `lines`
// entry, so 1'000'000 let a 400-byte file take over a minute and 1 GB (found by
// tests/fuzz/mda_preset_fuzzer); a hand-written preset front matter has a few hundred nodes.
constexpr size_t kMaxNodes = 5'000;
// Bounds what the expansion copies: every node's path (kept in `lines`), its JSON value and its
// scalar text, counted as the memory they take (kNodeCost, kSegmentCost), not just their text.
// Long anchored keys or strings repeated by aliases reached 2 GB (found by the fuzzer). A real
// preset's front matter costs a few tens of KB; the bounds keep one file's expansion to a few
// MB (an ASan fuzzing process keeps much of what each input allocated).
constexpr size_t kMaxExpandedBytes = 2u << 20;
constexpr size_t kNodeCost = 128;                        // json value + `lines` map node
constexpr size_t kSegmentCost = sizeof(std::string) + 1;  // one path segment, before its text

// A double as JSON: exact integers as integers (so they print without ".0"), others as doubles.
json NumberJson(double v) {
  if (std::isfinite(v) && std::trunc(v) == v && std::fabs(v) <= 9007199254740992.0 &&
      !(v == 0 && std::signbit(v))) {
    return json(static_cast<int64_t>(v));
  }
  return json(v);
}

// TextDecoder("utf-8") semantics: every maximal invalid subpart becomes U+FFFD.
std::string DecodeUtf8LossyImpl(std::string_view in) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    unsigned char b = static_cast<unsigned char>(in[i]);
    if (b <= 0x7F) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    int needed = 0;
    unsigned char lower = 0x80, upper = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      needed = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      needed = 2;
      if (b == 0xE0) lower = 0xA0;
      if (b == 0xED) upper = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      needed = 3;
      if (b == 0xF0) lower = 0x90;
      if (b == 0xF4) upper = 0x8F;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t j = i + 1;
    int seen = 0;
    while (seen < needed && j < in.size()) {
      unsigned char c = static_cast<unsigned char>(in[j]);
      if (c < lower || c > upper) break;
      lower = 0x80;
      upper = 0xBF;
      ++seen;
      ++j;
    }
    if (seen == needed) {
      out.append(in.data() + i, j - i);
    } else {
      out += kReplacement;  // the invalid prefix; the offending byte is read again
    }
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// js-yaml CORE_SCHEMA (== JSON_SCHEMA in js-yaml 4) implicit resolvers.

bool IsNullScalar(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> BoolScalar(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsYamlInteger(const std::string& s) {
  const size_t n = s.size();
  if (n == 0) return false;
  size_t i = 0;
  auto at = [&](size_t j) -> char { return j < n ? s[j] : '\0'; };
  char ch = at(i);
  if (ch == '-' || ch == '+') ch = at(++i);
  if (ch == '0') {
    if (i + 1 == n) return true;
    ch = at(++i);
    auto radix_digits = [&](auto valid) {
      bool has_digits = false;
      ++i;
      for (; i < n; ++i) {
        ch = s[i];
        if (ch == '_') continue;
        if (!valid(ch)) return false;
        has_digits = true;
      }
      return has_digits && ch != '_';
    };
    if (ch == 'b') return radix_digits([](char c) { return c == '0' || c == '1'; });
    if (ch == 'x') return radix_digits(IsHex);
    if (ch == 'o') return radix_digits([](char c) { return c >= '0' && c <= '7'; });
  }
  if (ch == '_') return false;
  bool has_digits = false;
  for (; i < n; ++i) {
    ch = s[i];
    if (ch == '_') continue;
    if (ch < '0' || ch > '9') return false;
    has_digits = true;
  }
  return has_digits && ch != '_';
}

// parseInt(digits, radix) for radix 2/8/16, correctly rounded to a double.
double ParsePow2Radix(const std::string& digits, int bits_per_digit) {
  std::string bits;
  for (char c : digits) {
    int d = c <= '9' ? c - '0' : (absl::ascii_tolower(c) - 'a' + 10);
    for (int b = bits_per_digit - 1; b >= 0; --b) bits.push_back(((d >> b) & 1) ? '1' : '0');
  }
  size_t first = bits.find('1');
  if (first == std::string::npos) return 0;
  bits = bits.substr(first);
  if (bits.size() <= 64) {
    uint64_t m = 0;
    for (char b : bits) m = (m << 1) | (b == '1' ? 1 : 0);
    return static_cast<double>(m);
  }
  uint64_t m = 0;
  for (size_t j = 0; j < 64; ++j) m = (m << 1) | (bits[j] == '1' ? 1 : 0);
  bool sticky = bits.find('1', 64) != std::string::npos;
  if (sticky) m |= 1;  // below the rounding bit: keeps round-to-nearest-even exact
  return std::ldexp(static_cast<double>(m), static_cast<int>(bits.size() - 64));
}

double ParseDecimal(const std::string& digits) {
  double v = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), v);
  return v;
}

double ConstructYamlInteger(std::string value) {
  value.erase(std::remove(value.begin(), value.end(), '_'), value.end());
  double sign = 1;
  if (!value.empty() && (value[0] == '-' || value[0] == '+')) {
    if (value[0] == '-') sign = -1;
    value.erase(0, 1);
  }
  if (value == "0") return 0;
  if (value.size() >= 2 && value[0] == '0') {
    if (value[1] == 'b') return sign * ParsePow2Radix(value.substr(2), 1);
    if (value[1] == 'x') return sign * ParsePow2Radix(value.substr(2), 4);
    if (value[1] == 'o') return sign * ParsePow2Radix(value.substr(2), 3);
  }
  return sign * ParseDecimal(value);
}

// js-yaml's CORE_SCHEMA float pattern, matched by hand:
//   ^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
//     |\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$
// and not ending in '_'. (std::regex allocated per character and recursed per character: a long
// plain scalar cost hundreds of MB under ASan, found by tests/fuzz/mda_preset_fuzzer.)
bool IsYamlFloat(const std::string& s) {
  if (s.empty() || s.back() == '_') return false;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
  const size_t n = s.size();
  size_t i = 0;
  const bool signed_number = s[0] == '-' || s[0] == '+';
  if (signed_number) ++i;
  const std::string_view rest = std::string_view(s).substr(i);
  if (rest == ".inf" || rest == ".Inf" || rest == ".INF") return true;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto digits_or_underscores = [&] {
    size_t start = i;
    while (i < n && (digit(s[i]) || s[i] == '_')) ++i;
    return i - start;
  };
  if (i < n && digit(s[i])) {
    digits_or_underscores();
    if (i < n && s[i] == '.') {
      ++i;
      digits_or_underscores();
    }
  } else if (!signed_number && i < n && s[i] == '.') {
    ++i;
    if (digits_or_underscores() == 0) return false;
  } else {
    return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '-' || s[i] == '+')) ++i;
    if (i == n) return false;
    while (i < n && digit(s[i])) ++i;
  }
  return i == n;
}

double ConstructYamlFloat(const std::string& s) {
  std::string value = absl::AsciiStrToLower(absl::StrReplaceAll(s, {{"_", ""}}));
  double sign = value[0] == '-' ? -1 : 1;
  if (value[0] == '+' || value[0] == '-') value.erase(0, 1);
  if (value == ".inf") return sign * INFINITY;
  if (value == ".nan") return NAN;
  return sign * ParseDecimal(value);
}

// A plain (untagged) scalar under the core schema.
json ResolvePlain(const std::string& s) {
  if (IsNullScalar(s)) return json(nullptr);
  if (auto b = BoolScalar(s)) return json(*b);
  if (IsYamlInteger(s)) return NumberJson(ConstructYamlInteger(s));
  if (IsYamlFloat(s)) return NumberJson(ConstructYamlFloat(s));
  return json(s);
}

constexpr char kTagPrefix[] = "tag:yaml.org,2002:";

// ---------------------------------------------------------------------------------------------

class Converter {
 public:
  Converter(std::string_view file, int first_line, std::map<JsonPath, int>* lines)
      : file_(file), first_line_(first_line), lines_(lines) {}

  absl::StatusOr<json> Convert(const YAML::Node& node, JsonPath& path, int depth) {
    if (++nodes_ > kMaxNodes) return Error(node, "front matter is too large (alias expansion)");
    bytes_ += kNodeCost;
    for (const std::string& key : path) bytes_ += kSegmentCost + key.size();
    if (node.IsScalar()) bytes_ += node.Scalar().size();
    if (bytes_ > kMaxExpandedBytes) {
      return Error(node, "front matter is too large (alias expansion)");
    }
    if (depth > kMaxDepth) return Error(node, "front matter is nested too deeply");
    const std::string& tag = node.Tag();
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        if (tag == absl::StrCat(kTagPrefix, "str")) return json("");
        return json(nullptr);
      case YAML::NodeType::Scalar:
        return ConvertScalar(node);
      case YAML::NodeType::Sequence: {
        if (!IsCollectionTag(tag, "seq")) return UnknownTag(node);
        json out = json::array();
        size_t index = 0;
        for (const YAML::Node& item : node) {
          path.push_back(std::to_string(index++));
          RecordLine(path, item);
          absl::StatusOr<json> v = Convert(item, path, depth + 1);
          path.pop_back();
          if (!v.ok()) return v.status();
          out.push_back(*std::move(v));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        if (!IsCollectionTag(tag, "map")) return UnknownTag(node);
        json out = json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          absl::StatusOr<std::string> key = KeyString(it->first);
          if (!key.ok()) return key.status();
          if (out.contains(*key)) {
            return Error(it->first, absl::StrCat("duplicated mapping key \"", *key, "\""));
          }
          path.push_back(*key);
          RecordLine(path, it->first);
          absl::StatusOr<json> v = Convert(it->second, path, depth + 1);
          path.pop_back();
          if (!v.ok()) return v.status();
          out[*key] = *std::move(v);
        }
        return out;
      }
    }
    return json(nullptr);
  }

  absl::Status Error(const YAML::Node& node, std::string_view message) const {
    return MakeError(
        ErrorKind::kInvalidConfig,
        absl::StrCat(AV(file_), ":", Line(node), ": invalid YAML front matter: ", AV(message)));
  }

 private:
  int Line(const YAML::Node& node) const {
    int line = node.Mark().line;
    return line < 0 ? first_line_ : first_line_ + line;
  }

  void RecordLine(const JsonPath& path, const YAML::Node& node) {
    if (lines_ != nullptr && node.Mark().line >= 0) (*lines_)[path] = Line(node);
  }

  static bool IsCollectionTag(const std::string& tag, std::string_view kind) {
    return tag.empty() || tag == "?" || tag == "!" || tag == absl::StrCat(kTagPrefix, AV(kind));
  }

  absl::Status UnknownTag(const YAML::Node& node) const {
    return Error(node, absl::StrCat("unknown tag !<", node.Tag(), ">"));
  }

  absl::StatusOr<json> ConvertScalar(const YAML::Node& node) const {
    const std::string& tag = node.Tag();
    const std::string& s = node.Scalar();
    if (tag == "?") return ResolvePlain(s);
    if (tag == "!") return json(s);
    if (!absl::StartsWith(tag, kTagPrefix)) return UnknownTag(node);
    std::string type = tag.substr(sizeof(kTagPrefix) - 1);
    if (type == "str") return json(s);
    if (type == "null" && IsNullScalar(s)) return json(nullptr);
    if (type == "bool") {
      if (auto b = BoolScalar(s)) return json(*b);
    }
    if (type == "int" && IsYamlInteger(s)) return NumberJson(ConstructYamlInteger(s));
    if (type == "float" && IsYamlFloat(s)) return NumberJson(ConstructYamlFloat(s));
    if (type == "null" || type == "bool" || type == "int" || type == "float") {
      return Error(node, absl::StrCat("cannot resolve a node with !<", tag, "> explicit tag"));
    }
    return UnknownTag(node);
  }

  // js-yaml stores every mapping key as String(key).
  absl::StatusOr<std::string> KeyString(const YAML::Node& key) const {
    if (key.Type() == YAML::NodeType::Null || key.Type() == YAML::NodeType::Undefined) {
      return std::string("null");
    }
    if (key.Type() != YAML::NodeType::Scalar) {
      return Error(key, "complex mapping keys are not supported");
    }
    absl::StatusOr<json> v = ConvertScalar(key);
    if (!v.ok()) return v.status();
    if (v->is_string()) return v->get<std::string>();
    if (v->is_null()) return std::string("null");
    if (v->is_boolean()) return std::string(v->get<bool>() ? "true" : "false");
    return JsNumberToString(v->get<double>());
  }

  std::string_view file_;
  int first_line_;
  std::map<JsonPath, int>* lines_;
  size_t nodes_ = 0;
  size_t bytes_ = 0;  // memory the expansion has cost so far (kMaxExpandedBytes)
};

// ---------------------------------------------------------------------------------------------

const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_discarded()) return nullptr;
  return &*it;
}

std::string IssueLines(const std::vector<SchemaIssue>& issues, const MdaDocument* doc,
                       const JsonPath& prefix) {
  std::vector<std::string> lines;
  for (const SchemaIssue& issue : issues) {
    JsonPath full = prefix;
    full.insert(full.end(), issue.path.begin(), issue.path.end());
    int line = doc != nullptr ? doc->LineOf(full) : 0;
    std::string path = absl::StrJoin(full, ".");
    lines.push_back(absl::StrCat("  - ", line > 0 ? absl::StrCat("line ", line, ": ") : "",
                                 path.empty() ? "<root>" : path, ": ", issue.code, ": ",
                                 issue.message));
  }
  return absl::StrJoin(lines, "\n");
}

// The front matter path a projected-config issue path came from.
JsonPath FrontMatterPath(const JsonPath& projected, const json& ns) {
  JsonPath out = {"metadata", "snoai-llmix"};
  if (projected.empty()) return out;
  const std::string& head = projected[0];
  if (head == "provider" || head == "model") {
    out.push_back("common");
  } else if ((head == "description" || head == "tags") && Member(ns, head.c_str()) == nullptr) {
    out.clear();
  }
  out.insert(out.end(), projected.begin(), projected.end());
  return out;
}

// Sees where each document of a YAML stream starts, and nothing else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// YAML::LoadAll without its endless loop: yaml-cpp 0.7 (Debian 12) reports a document for a
// token it cannot place (a ',' outside a flow collection, e.g. ",a") without consuming it, so
// LoadAll appends null documents until memory runs out (jbeder/yaml-cpp#1040, fixed upstream
// by #1319; found by tests/fuzz/mda_preset_fuzzer). Reads at most two documents — enough to
// tell "one" from "more than one" — and refuses a document that starts where the previous one
// did. The first document's node (none for an empty stream), and where a second one starts.
// Throws YAML::Exception as LoadAll does.
std::optional<YAML::Node> LoadFirstDocument(const std::string& yaml,
                                            std::optional<YAML::Mark>* second) {
  DocumentStarts events;
  {
    std::istringstream stream(yaml);
    YAML::Parser parser(stream);
    while (events.starts.size() < 2 && parser.HandleNextDocument(events)) {
    }
  }
  if (events.starts.empty()) return std::nullopt;
  if (events.starts.size() == 2) {
    if (events.starts[1].pos <= events.starts[0].pos) {
      throw YAML::ParserException(events.starts[1],
                                  "unexpected character outside a flow collection");
    }
    *second = events.starts[1];
  }
  return YAML::Load(yaml);  // one HandleNextDocument: cannot loop
}

}  // namespace

std::string DecodeUtf8Lossy(std::string_view bytes) { return DecodeUtf8LossyImpl(bytes); }

int MdaDocument::LineOf(const std::vector<std::string>& path) const {
  std::vector<std::string> p = path;
  while (true) {
    auto it = lines.find(p);
    if (it != lines.end()) return it->second;
    if (p.empty()) return 0;
    p.pop_back();
  }
}

absl::StatusOr<nlohmann::json> YamlToJson(std::string_view yaml, std::string_view file,
                                          int first_line,
                                          std::map<std::vector<std::string>, int>* lines) {
  std::optional<YAML::Node> doc;
  std::optional<YAML::Mark> second;
  try {
    doc = LoadFirstDocument(std::string(yaml), &second);
  } catch (const YAML::Exception& e) {
    int line = e.mark.line < 0 ? first_line : first_line + e.mark.line;
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat(AV(file), ":", line, ": invalid YAML front matter: ", e.msg));
  } catch (const std::exception& e) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat(AV(file), ": invalid YAML front matter: ", e.what()));
  }
  if (second.has_value()) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat(AV(file), ":", first_line + second->line,
                                  ": invalid YAML front matter: expected a single document in "
                                  "the front matter"));
  }
  if (!doc.has_value()) return json(nullptr);
  Converter converter(file, first_line, lines);
  try {
    JsonPath path;
    return converter.Convert(*doc, path, 0);
  } catch (const std::exception& e) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat(AV(file), ": invalid YAML front matter: ", e.what()));
  }
}

absl::StatusOr<MdaDocument> ParseMdaText(std::string_view text, std::string_view file) {
  if (absl::StartsWith(AV(text), "\xEF\xBB\xBF")) text.remove_prefix(3);
  std::string decoded = DecodeUtf8LossyImpl(text);
  std::string normalized = absl::StrReplaceAll(decoded, {{"\r\n", "\n"}});
  absl::StrReplaceAll({{"\r", "\n"}}, &normalized);

  auto is_fence = [](std::string_view line) {
    if (line.substr(0, 3) != "---") return false;
    for (char c : line.substr(3)) {
      if (c != ' ' && c != '\t') return false;
    }
    return true;
  };
  // Split into lines, keeping offsets.
  size_t first_end = normalized.find('\n');
  std::string_view first_line = std::string_view(normalized).substr(0, first_end);
  if (!is_fence(first_line)) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat(AV(file),
                                  ":1: MDA file must start with a '---' front matter "
                                  "line"));
  }
  if (first_end == std::string::npos) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat(AV(file), ": MDA front matter is not closed by a '---' line"));
  }
  size_t yaml_begin = first_end + 1;
  size_t pos = yaml_begin;
  int line_no = 2;
  while (true) {
    size_t end = normalized.find('\n', pos);
    std::string_view line =
        std::string_view(normalized)
            .substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (is_fence(line)) {
      MdaDocument doc;
      std::string_view yaml = std::string_view(normalized).substr(yaml_begin, pos - yaml_begin);
      absl::StatusOr<json> fm = YamlToJson(yaml, file, 2, &doc.lines);
      if (!fm.ok()) return fm.status();
      doc.front_matter = *std::move(fm);
      doc.body = end == std::string::npos ? "" : normalized.substr(end + 1);
      return doc;
    }
    if (end == std::string::npos) break;
    pos = end + 1;
    ++line_no;
  }
  return MakeError(ErrorKind::kInvalidConfig,
                   absl::StrCat(AV(file), ": MDA front matter is not closed by a '---' line"));
}

absl::StatusOr<ProjectedPreset> ProjectMdaFrontMatter(const nlohmann::json& front_matter,
                                                      std::string_view source_path,
                                                      const MdaDocument* doc) {
  std::vector<SchemaIssue> issues = CheckMdaPresetSchema(front_matter);
  if (!issues.empty()) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("MDA front matter validation failed for ", AV(source_path), ":\n",
                                  IssueLines(issues, doc, {})));
  }
  json fm = StripUndefined(front_matter);
  const json& ns = fm["metadata"]["snoai-llmix"];

  ProjectedPreset out;
  if (const json* sidecar = Member(fm["metadata"], "llmix-sidecar")) {
    std::vector<SchemaIssue> sidecar_issues = CheckSidecarNamespaceSchema(*sidecar);
    if (!sidecar_issues.empty()) {
      return MakeError(
          ErrorKind::kInvalidConfig,
          absl::StrCat("Invalid metadata.llmix-sidecar in ", AV(source_path), ":\n",
                       IssueLines(sidecar_issues, doc, {"metadata", "llmix-sidecar"})));
    }
  }

  // projectMdaPresetToConfig
  json config = json::object();
  json common = ns["common"];
  config["provider"] = common["provider"];
  config["model"] = common["model"];
  common.erase("provider");
  common.erase("model");
  if (!common.empty()) config["common"] = common;
  for (const char* key : {"providerOptions", "timeout"}) {
    if (const json* v = Member(ns, key)) config[key] = *v;
  }
  if (const json* d = Member(ns, "description"); d != nullptr && !d->is_null()) {
    config["description"] = *d;
  } else {
    config["description"] = fm["description"];
  }
  if (const json* v = Member(ns, "deprecated")) config["deprecated"] = *v;
  if (const json* t = Member(ns, "tags"); t != nullptr && !t->is_null()) {
    config["tags"] = *t;
  } else if (const json* top = Member(fm, "tags"); top != nullptr && !top->is_null()) {
    config["tags"] = *top;
  }
  for (const char* key : {"caching", "bypassGateway"}) {
    if (const json* v = Member(ns, key)) config[key] = *v;
  }

  std::vector<SchemaIssue> projected = CheckLlmConfigSchema(config);
  if (!projected.empty()) {
    std::vector<std::string> lines;
    for (const SchemaIssue& issue : projected) {
      lines.push_back(absl::StrCat("  - ", IssuePath(issue), ": ", issue.message));
    }
    std::string message = absl::StrCat("Projected MDA config validation failed for ",
                                       AV(source_path), ":\n", absl::StrJoin(lines, "\n"));
    JsonPath origin = FrontMatterPath(projected[0].path, ns);
    int line = doc != nullptr ? doc->LineOf(origin) : 0;
    absl::StrAppend(&message, "\n  (", line > 0 ? absl::StrCat("line ", line, ": ") : "",
                    absl::StrJoin(origin, "."), ")");
    return MakeError(ErrorKind::kInvalidConfig, message);
  }
  absl::StatusOr<LlmConfig> parsed = ParseLlmConfig(config, Strictness::kStrict);
  if (!parsed.ok()) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat(AV(source_path), ": ", parsed.status().message()));
  }
  if (const json* sidecar = Member(fm["metadata"], "llmix-sidecar")) {
    // `@<logical>` models (modelMap): the config is the concrete model's; `resolved` (LLMix's
    // projection) keeps what the file says.
    if (absl::Status st = ResolveModelTier(*sidecar, "metadata.snoai-llmix.common.model", *parsed);
        !st.ok()) {
      return MakeError(ErrorKind::kInvalidConfig,
                       absl::StrCat(AV(source_path), ": ", st.message()));
    }
    absl::StatusOr<SidecarSettings> settings = SidecarSettingsOf(*sidecar, *parsed);
    if (!settings.ok()) {
      return MakeError(ErrorKind::kInvalidConfig,
                       absl::StrCat("Invalid metadata.llmix-sidecar in ", AV(source_path), ": ",
                                    settings.status().message()));
    }
    out.sidecar = *std::move(settings);
  }
  out.config = *std::move(parsed);
  out.resolved = std::move(config);
  return out;
}

absl::Status CheckMdaPresetPath(std::string_view path) {
  std::string lower = absl::AsciiStrToLower(AV(path));
  if (absl::EndsWith(lower, ".yaml") || absl::EndsWith(lower, ".yml")) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("TypeScript LLMix presets use .mda files; YAML presets are no "
                                  "longer supported: ",
                                  AV(path)));
  }
  if (!absl::EndsWith(lower, ".mda")) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("TypeScript LLMix presets must use .mda files: ", AV(path)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProjectedPreset> LoadMdaPresetText(std::string_view text,
                                                  std::string_view source_path) {
  absl::StatusOr<MdaDocument> doc = ParseMdaText(text, source_path);
  if (!doc.ok()) return doc.status();
  return ProjectMdaFrontMatter(doc->front_matter, source_path, &*doc);
}

absl::StatusOr<ProjectedPreset> LoadMdaPresetFile(std::string_view path) {
  if (absl::Status s = CheckMdaPresetPath(path); !s.ok()) return s;
  std::string file = PosixResolve({}, path);
  absl::StatusOr<std::string> text = ReadFileBytes(file);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) {
      return MakeError(ErrorKind::kConfigNotFound, absl::StrCat("Config file not found: ", file));
    }
    if (absl::IsPermissionDenied(text.status())) {
      return MakeError(ErrorKind::kConfigAccess,
                       absl::StrCat("Permission denied reading config file: ", file));
    }
    return text.status();
  }
  return LoadMdaPresetText(*text, file);
}

}  // namespace llmix::registry
