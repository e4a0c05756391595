#include "pipeline/json_task.h"

#include <cmath>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/canonical_json.h"
#include "common/js_json.h"

namespace llmix::pipeline {

namespace {

using nlohmann::ordered_json;

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsJsonSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsJsonSpace(s.back())) s.remove_suffix(1);
  return s;
}

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The lines of `text` with their start offsets, one at a time.
struct LineCursor {
  std::string_view text;
  size_t pos = 0;
  bool Next(std::string_view* line, size_t* start) {
    if (pos >= text.size()) return false;
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    *start = pos;
    *line = text.substr(pos, end - pos);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    pos = end + 1;
    return true;
  }
};

// The body of the first ``` / ```json fence, or nullopt when there is none.
std::optional<std::string_view> FirstJsonFence(std::string_view text) {
  LineCursor lines{text};
  std::string_view line;
  size_t start = 0;
  while (lines.Next(&line, &start)) {
    if (!absl::StartsWith(AV(line), "```")) continue;
    const std::string info = absl::AsciiStrToLower(AV(Trim(line.substr(3))));
    const size_t body = lines.pos;
    bool closed = false;
    while (!closed && lines.Next(&line, &start)) closed = absl::StartsWith(AV(line), "```");
    if (!info.empty() && info != "json") continue;  // another language's block, skipped whole
    if (closed) return text.substr(body, start - body);
    return body < text.size() ? text.substr(body) : std::string_view();
  }
  return std::nullopt;
}

void Append(const ordered_json& v, std::string& out) {
  switch (v.type()) {
    case ordered_json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : v.items()) {
        if (!first) out += ',';
        first = false;
        AppendJsJsonQuoted(key, out);
        out += ':';
        Append(member, out);
      }
      out += '}';
      return;
    }
    case ordered_json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out += ',';
        Append(v[i], out);
      }
      out += ']';
      return;
    }
    case ordered_json::value_t::string:
      AppendJsJsonQuoted(v.get_ref<const std::string&>(), out);
      return;
    case ordered_json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case ordered_json::value_t::number_integer:
    case ordered_json::value_t::number_unsigned:
    case ordered_json::value_t::number_float: {
      const double d = v.get<double>();
      out += std::isfinite(d) ? JsNumberToString(d) : "null";
      return;
    }
    default:
      out += "null";
      return;
  }
}

}  // namespace

absl::StatusOr<ordered_json> ExtractJsonReply(std::string_view content) {
  const std::string_view whole = Trim(content);
  if (whole.empty()) return absl::InvalidArgumentError("the reply is empty");
  absl::StatusOr<ordered_json> plain = ParseJsJsonOrdered(whole);
  if (plain.ok()) return plain;
  std::optional<std::string_view> fence = FirstJsonFence(content);
  if (!fence.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the reply is not JSON (", plain.status().message(), ") and has no ```json block"));
  }
  absl::StatusOr<ordered_json> fenced = ParseJsJsonOrdered(Trim(*fence));
  if (!fenced.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ```json block is not valid JSON (", fenced.status().message(), ")"));
  }
  return fenced;
}

std::string CompactJsonText(const ordered_json& value) {
  std::string out;
  Append(value, out);
  return out;
}

std::string RepairMessageForParseError(std::string_view problem) {
  return absl::StrCat("Your reply could not be used: ", AV(problem),
                      ".\nReply again with only the JSON value, valid against the required "
                      "schema, and no other text.");
}

std::string RepairMessageForSchemaErrors(const JsonSchemaErrors& errors) {
  return absl::StrCat("Your reply does not match the required JSON schema:\n", errors.ToString(),
                      "\nReply again with only the corrected JSON value and no other text.");
}

}  // namespace llmix::pipeline
