#include "registry/preset_schema.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/canonical_json.h"
#include "common/env_refs.h"
#include "registry/budget_settings.h"

namespace llmix::registry {

namespace {

using nlohmann::json;
using Issues = std::vector<SchemaIssue>;
using Path = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// A minimal zod v4 model: each schema checks a value (nullptr = JS undefined) at a path and
// appends issues. Schemas are immutable once built.

class Schema {
 public:
  virtual ~Schema() = default;
  virtual void Check(const json* v, Path& path, Issues& out) const = 0;
  // `.optional()`: undefined passes.
  bool optional = false;
};
using SchemaPtr = std::shared_ptr<Schema>;

bool IsUndefined(const json* v) { return v == nullptr || v->is_discarded(); }

void AddIssue(Issues& out, const Path& path, std::string code, std::string message,
              bool aborts = true) {
  out.push_back(SchemaIssue{path, std::move(code), std::move(message), aborts});
}

bool Aborted(const Issues& issues, size_t from) {
  for (size_t i = from; i < issues.size(); ++i) {
    if (issues[i].aborts) return true;
  }
  return false;
}

// zod's parsedType(): the "received" word of invalid_type messages.
std::string ReceivedType(const json* v) {
  if (IsUndefined(v)) return "undefined";
  if (v->is_null()) return "null";
  if (v->is_array()) return "array";
  if (v->is_object()) return "object";
  if (v->is_string()) return "string";
  if (v->is_boolean()) return "boolean";
  if (v->is_number_float() && std::isnan(v->get<double>())) return "NaN";
  return "number";
}

void InvalidType(Issues& out, const Path& path, const std::string& expected, const json* v) {
  AddIssue(out, path, "invalid_type",
           absl::StrCat("Invalid input: expected ", expected, ", received ", ReceivedType(v)));
}

// JS String(n) for the small integral bounds used in messages.
std::string Num(double n) { return JsNumberToString(n); }

std::string Quote(const std::string& s) { return JsJsonQuote(s); }

void RunChecked(const Schema& s, const json* v, Path& path, Issues& out) {
  if (s.optional && IsUndefined(v)) return;
  s.Check(v, path, out);
}

class AnySchema final : public Schema {
 public:
  void Check(const json*, Path&, Issues&) const override {}
};

class BoolSchema final : public Schema {
 public:
  void Check(const json* v, Path& path, Issues& out) const override {
    if (IsUndefined(v) || !v->is_boolean()) InvalidType(out, path, "boolean", v);
  }
};

class StringSchema final : public Schema {
 public:
  std::optional<size_t> min_length;
  void Check(const json* v, Path& path, Issues& out) const override {
    if (IsUndefined(v) || !v->is_string()) return InvalidType(out, path, "string", v);
    if (min_length && v->get_ref<const std::string&>().size() < *min_length) {
      AddIssue(out, path, "too_small",
               absl::StrCat("Too small: expected string to have >=", *min_length, " characters"),
               false);
    }
  }
};

class NumberSchema final : public Schema {
 public:
  enum class Op { kInt, kGt, kGe, kLe };
  std::vector<std::pair<Op, double>> checks;

  void Check(const json* v, Path& path, Issues& out) const override {
    if (IsUndefined(v) || !v->is_number() || !std::isfinite(v->get<double>())) {
      return InvalidType(out, path, "number", v);
    }
    double x = v->get<double>();
    for (const auto& [op, bound] : checks) {
      switch (op) {
        case Op::kInt:
          if (std::trunc(x) != x) {
            AddIssue(out, path, "invalid_type", "Invalid input: expected int, received number");
            return;  // `continue: false`
          }
          if (std::fabs(x) > 9007199254740991.0) {
            if (x > 0) {
              AddIssue(out, path, "too_big", "Too big: expected int to be <=9007199254740991",
                       false);
            } else {
              AddIssue(out, path, "too_small", "Too small: expected int to be >=-9007199254740991",
                       false);
            }
          }
          break;
        case Op::kGt:
          if (!(x > bound)) {
            AddIssue(out, path, "too_small",
                     absl::StrCat("Too small: expected number to be >", Num(bound)), false);
          }
          break;
        case Op::kGe:
          if (!(x >= bound)) {
            AddIssue(out, path, "too_small",
                     absl::StrCat("Too small: expected number to be >=", Num(bound)), false);
          }
          break;
        case Op::kLe:
          if (!(x <= bound)) {
            AddIssue(out, path, "too_big",
                     absl::StrCat("Too big: expected number to be <=", Num(bound)), false);
          }
          break;
      }
    }
  }
};

class EnumSchema final : public Schema {
 public:
  std::vector<std::string> values;
  void Check(const json* v, Path& path, Issues& out) const override {
    if (!IsUndefined(v) && v->is_string()) {
      for (const auto& value : values) {
        if (v->get_ref<const std::string&>() == value) return;
      }
    }
    std::vector<std::string> quoted;
    for (const auto& value : values) quoted.push_back(Quote(value));
    if (values.size() == 1) {
      AddIssue(out, path, "invalid_value", absl::StrCat("Invalid input: expected ", quoted[0]));
    } else {
      AddIssue(out, path, "invalid_value",
               absl::StrCat("Invalid option: expected one of ", absl::StrJoin(quoted, "|")));
    }
  }
};

class ArraySchema final : public Schema {
 public:
  SchemaPtr element;
  void Check(const json* v, Path& path, Issues& out) const override {
    if (IsUndefined(v) || !v->is_array()) return InvalidType(out, path, "array", v);
    for (size_t i = 0; i < v->size(); ++i) {
      path.push_back(std::to_string(i));
      const json& item = (*v)[i];
      RunChecked(*element, &item, path, out);
      path.pop_back();
    }
  }
};

class RecordSchema final : public Schema {
 public:
  bool digit_keys = false;  // key schema z.string().regex(/^\d+$/)
  SchemaPtr value;
  void Check(const json* v, Path& path, Issues& out) const override {
    if (IsUndefined(v) || !v->is_object()) return InvalidType(out, path, "record", v);
    for (auto it = v->begin(); it != v->end(); ++it) {
      const std::string& key = it.key();
      if (key == "__proto__") continue;
      path.push_back(key);
      bool key_ok = true;
      if (digit_keys) {
        key_ok = !key.empty();
        for (char c : key) key_ok = key_ok && c >= '0' && c <= '9';
      }
      if (!key_ok) {
        AddIssue(out, path, "invalid_key", "Invalid key in record");
      } else {
        RunChecked(*value, &it.value(), path, out);
      }
      path.pop_back();
    }
  }
};

class ObjectSchema final : public Schema {
 public:
  enum class Extra { kStrict, kPassthrough };
  std::vector<std::pair<std::string, SchemaPtr>> shape;
  Extra extra = Extra::kStrict;
  // A `.superRefine` that runs only when nothing so far aborted.
  std::function<void(const json&, Path&, Issues&)> refine;

  void Check(const json* v, Path& path, Issues& out) const override {
    if (IsUndefined(v) || !v->is_object()) return InvalidType(out, path, "object", v);
    size_t start = out.size();
    std::set<std::string> known;
    for (const auto& [key, schema] : shape) {
      known.insert(key);
      auto it = v->find(key);
      const json* field = it == v->end() ? nullptr : &*it;
      path.push_back(key);
      RunChecked(*schema, field, path, out);
      path.pop_back();
    }
    if (extra == Extra::kStrict) {
      std::vector<std::string> unknown;
      for (auto it = v->begin(); it != v->end(); ++it) {
        if (known.count(it.key()) == 0) unknown.push_back(Quote(it.key()));
      }
      if (!unknown.empty()) {
        AddIssue(out, path, "unrecognized_keys",
                 absl::StrCat(unknown.size() > 1 ? "Unrecognized keys: " : "Unrecognized key: ",
                              absl::StrJoin(unknown, ", ")));
      }
    }
    if (refine && !Aborted(out, start)) refine(*v, path, out);
  }
};

class UnionSchema final : public Schema {
 public:
  std::vector<SchemaPtr> options;
  void Check(const json* v, Path& path, Issues& out) const override {
    std::vector<Issues> results;
    for (const auto& option : options) {
      Issues local;
      RunChecked(*option, v, path, local);
      if (local.empty()) return;
      results.push_back(std::move(local));
    }
    const Issues* only = nullptr;
    int nonaborted = 0;
    for (const auto& r : results) {
      if (!Aborted(r, 0)) {
        ++nonaborted;
        only = &r;
      }
    }
    if (nonaborted == 1) {
      out.insert(out.end(), only->begin(), only->end());
      return;
    }
    AddIssue(out, path, "invalid_union", "Invalid input");
  }
};

// ---------------------------------------------------------------------------------------------
// Builders.

template <typename T>
std::shared_ptr<T> Make() {
  return std::make_shared<T>();
}

template <typename T>
std::shared_ptr<T> Opt(std::shared_ptr<T> s) {
  s->optional = true;
  return s;
}

std::shared_ptr<StringSchema> Str(std::optional<size_t> min = std::nullopt) {
  auto s = Make<StringSchema>();
  s->min_length = min;
  return s;
}

std::shared_ptr<NumberSchema> NumberOf(std::vector<std::pair<NumberSchema::Op, double>> checks) {
  auto s = Make<NumberSchema>();
  s->checks = std::move(checks);
  return s;
}

using Op = NumberSchema::Op;
std::shared_ptr<NumberSchema> Number() { return NumberOf({}); }
std::shared_ptr<NumberSchema> IntPositive() { return NumberOf({{Op::kInt, 0}, {Op::kGt, 0}}); }
std::shared_ptr<NumberSchema> IntNonNegative() { return NumberOf({{Op::kInt, 0}, {Op::kGe, 0}}); }
std::shared_ptr<NumberSchema> Int() { return NumberOf({{Op::kInt, 0}}); }
std::shared_ptr<NumberSchema> Positive() { return NumberOf({{Op::kGt, 0}}); }
std::shared_ptr<NumberSchema> Range(double lo, double hi) {
  return NumberOf({{Op::kGe, lo}, {Op::kLe, hi}});
}

std::shared_ptr<BoolSchema> Bool() { return Make<BoolSchema>(); }
std::shared_ptr<AnySchema> Any() { return Make<AnySchema>(); }

std::shared_ptr<EnumSchema> Enum(std::vector<std::string> values) {
  auto s = Make<EnumSchema>();
  s->values = std::move(values);
  return s;
}

std::shared_ptr<ArraySchema> ArrayOf(SchemaPtr element) {
  auto s = Make<ArraySchema>();
  s->element = std::move(element);
  return s;
}

std::shared_ptr<RecordSchema> Record(SchemaPtr value, bool digit_keys = false) {
  auto s = Make<RecordSchema>();
  s->value = std::move(value);
  s->digit_keys = digit_keys;
  return s;
}

std::shared_ptr<ObjectSchema> Object(std::vector<std::pair<std::string, SchemaPtr>> shape,
                                     ObjectSchema::Extra extra = ObjectSchema::Extra::kStrict) {
  auto s = Make<ObjectSchema>();
  s->shape = std::move(shape);
  s->extra = extra;
  return s;
}

std::shared_ptr<UnionSchema> Union(std::vector<SchemaPtr> options) {
  auto s = Make<UnionSchema>();
  s->options = std::move(options);
  return s;
}

// ---------------------------------------------------------------------------------------------
// LLMix's schemas (mda-loader.ts).

using Shape = std::vector<std::pair<std::string, SchemaPtr>>;

Shape CommonParamsShape() {
  return {
      {"maxOutputTokens", Opt(IntPositive())},
      {"temperature", Opt(Range(0, 2))},
      {"topP", Opt(Range(0, 1))},
      {"topK", Opt(IntPositive())},
      {"presencePenalty", Opt(Number())},
      {"frequencyPenalty", Opt(Number())},
      {"stopSequences", Opt(ArrayOf(Str()))},
      {"seed", Opt(Int())},
      {"maxRetries", Opt(IntNonNegative())},
      {"enableThinking", Opt(Bool())},
      {"keepThinkingOutput", Opt(Bool())},
  };
}

std::vector<std::string> ProviderNames() {
  return {"openai",  "anthropic", "google", "deepseek", "openrouter",
          "sno-gpu", "deepinfra", "novita", "together"};
}

SchemaPtr ProviderOptionsSchema() {
  auto openai = Object({
      {"reasoningEffort", Opt(Enum({"minimal", "low", "medium", "high", "xhigh"}))},
      {"parallelToolCalls", Opt(Bool())},
      {"user", Opt(Str())},
      {"logprobs", Opt(Union({Bool(), IntNonNegative()}))},
      {"logitBias", Opt(Record(Number(), /*digit_keys=*/true))},
      {"structuredOutputs", Opt(Bool())},
      {"strictJsonSchema", Opt(Bool())},
      {"maxCompletionTokens", Opt(IntPositive())},
      {"store", Opt(Bool())},
      {"metadata", Opt(Record(Str()))},
      {"prediction", Opt(Record(Any()))},
      {"serviceTier", Opt(Enum({"auto", "flex", "priority", "default"}))},
      {"textVerbosity", Opt(Enum({"low", "medium", "high"}))},
      {"promptCacheKey", Opt(Str())},
      {"promptCacheRetention", Opt(Enum({"in_memory", "24h"}))},
      {"safetyIdentifier", Opt(Str())},
  });
  auto anthropic = Object({
      {"thinking", Opt(Object({
                       {"type", Enum({"enabled", "disabled"})},
                       {"budgetTokens", Opt(IntPositive())},
                   }))},
      {"cacheControl", Opt(Object({
                           {"type", Enum({"ephemeral"})},
                           {"ttl", Opt(Str())},
                       }))},
      {"disableParallelToolUse", Opt(Bool())},
      {"sendReasoning", Opt(Bool())},
      {"effort", Opt(Enum({"high", "medium", "low"}))},
      {"toolStreaming", Opt(Bool())},
      {"structuredOutputMode", Opt(Enum({"outputFormat", "jsonTool", "auto"}))},
  });
  auto google = Object({
      {"thinkingConfig", Opt(Object({
                             {"thinkingLevel", Opt(Enum({"low", "high"}))},
                             {"thinkingBudget", Opt(IntPositive())},
                             {"includeThoughts", Opt(Bool())},
                         }))},
      {"cachedContent", Opt(Str())},
      {"structuredOutputs", Opt(Bool())},
      {"safetySettings", Opt(ArrayOf(Object({{"category", Str()}, {"threshold", Str()}})))},
      {"responseModalities", Opt(ArrayOf(Str()))},
  });
  auto deepseek = Object({{"thinking", Opt(Object({{"type", Enum({"enabled", "disabled"})}}))}});
  auto openrouter = Object({
      {"provider", Opt(Record(Any()))},
      {"reasoning", Opt(Record(Any()))},
  });
  auto sno_gpu = Object({
      {"enableThinking", Opt(Bool())},
      {"thinkingBudget", Opt(IntPositive())},
      {"gpuPath", Opt(Str())},
  });
  return Object({
      {"openai", Opt(openai)},
      {"anthropic", Opt(anthropic)},
      {"google", Opt(google)},
      {"deepseek", Opt(deepseek)},
      {"openrouter", Opt(openrouter)},
      {"sno-gpu", Opt(sno_gpu)},
      {"deepinfra", Opt(Record(Any()))},
      {"novita", Opt(Record(Any()))},
      {"together", Opt(Record(Any()))},
  });
}

SchemaPtr TimeoutSchema() {
  return Object({
      {"totalTime", Opt(Positive())},
      {"streamFirstChunkTime", Opt(Positive())},
  });
}

SchemaPtr CachingSchema() {
  return Object({
      {"strategy", Enum({"native", "gateway", "disabled", "redis", "redis-or-memory", "memory"})},
      {"key", Opt(Str())},
      {"ttl", Opt(Positive())},
      {"maxItems", Opt(IntPositive())},
  });
}

// The superRefine of LLMConfigSchema: Anthropic budgetTokens >= 1024 when thinking is enabled.
void AnthropicBudgetRule(const json& data, Path& path, Issues& out) {
  if (data.value("provider", json()) != "anthropic") return;
  const json* thinking = nullptr;
  if (auto po = data.find("providerOptions"); po != data.end() && po->is_object()) {
    if (auto a = po->find("anthropic"); a != po->end() && a->is_object()) {
      if (auto t = a->find("thinking"); t != a->end() && t->is_object()) thinking = &*t;
    }
  }
  if (thinking == nullptr || thinking->value("type", json()) != "enabled") return;
  auto budget = thinking->find("budgetTokens");
  if (budget == thinking->end() || !budget->is_number()) return;
  double tokens = budget->get<double>();
  if (tokens < 1024) {
    Path p = path;
    for (const char* k : {"providerOptions", "anthropic", "thinking", "budgetTokens"}) {
      p.push_back(k);
    }
    AddIssue(out, p, "custom",
             absl::StrCat("Anthropic budgetTokens must be >= 1024 when thinking is enabled, got ",
                          Num(tokens)),
             false);
  }
}

const Schema& LlmConfigSchema() {
  static const SchemaPtr* schema = [] {
    auto s = Object({
        {"provider", Enum(ProviderNames())},
        {"model", Str(1)},
        {"common", Opt(Object(CommonParamsShape()))},
        {"providerOptions", Opt(ProviderOptionsSchema())},
        {"timeout", Opt(TimeoutSchema())},
        {"description", Opt(Str())},
        {"deprecated", Opt(Bool())},
        {"tags", Opt(ArrayOf(Str()))},
        {"caching", Opt(CachingSchema())},
        {"bypassGateway", Opt(Bool())},
    });
    s->refine = AnthropicBudgetRule;
    return new SchemaPtr(s);
  }();
  return **schema;
}

const Schema& MdaPresetSchema() {
  static const SchemaPtr* schema = [] {
    Shape common = CommonParamsShape();
    common.push_back({"provider", Enum(ProviderNames())});
    common.push_back({"model", Str(1)});
    auto ns = Object({
        {"module", Opt(Str(1))},
        {"preset", Opt(Str(1))},
        {"common", Object(std::move(common))},
        {"providerOptions", Opt(ProviderOptionsSchema())},
        {"timeout", Opt(TimeoutSchema())},
        {"description", Opt(Str())},
        {"deprecated", Opt(Bool())},
        {"tags", Opt(ArrayOf(Str()))},
        {"caching", Opt(CachingSchema())},
        {"bypassGateway", Opt(Bool())},
    });
    auto network = Union({Enum({"none"}), Enum({"local"}), Enum({"public"}), ArrayOf(Str())});
    auto s = Object({
        {"name", Str(1)},
        {"description", Str(1)},
        {"license", Opt(Str())},
        {"compatibility", Opt(Str())},
        {"allowed-tools", Opt(Str())},
        {"metadata", Object({{"snoai-llmix", ns}}, ObjectSchema::Extra::kPassthrough)},
        {"integrity", Opt(Record(Any()))},
        {"signatures", Opt(ArrayOf(Record(Any())))},
        {"doc-id", Opt(Str())},
        {"title", Opt(Str())},
        {"version", Opt(Str())},
        {"requires", Opt(Object({{"network", Opt(network)}}, ObjectSchema::Extra::kPassthrough))},
        {"depends-on", Opt(ArrayOf(Record(Any())))},
        {"author", Opt(Str())},
        {"tags", Opt(ArrayOf(Str()))},
        {"created-date", Opt(Str())},
        {"updated-date", Opt(Str())},
        {"relationships", Opt(ArrayOf(Record(Any())))},
    });
    return new SchemaPtr(s);
  }();
  return **schema;
}

// Sidecar-only rule: baseUrl must be an http(s) URL.
void BaseUrlRule(const json& data, Path& path, Issues& out) {
  auto it = data.find("baseUrl");
  if (it == data.end() || !it->is_string()) return;
  const std::string& url = it->get_ref<const std::string&>();
  Path p = path;
  p.push_back("baseUrl");
  if (std::string problem = CheckEnvRefs(url); !problem.empty()) {
    AddIssue(out, p, "custom", problem, false);
  } else if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://") &&
             !absl::StartsWith(url, "${")) {
    // A URL that starts with a ${...} reference is checked once expanded, at call time.
    AddIssue(out, p, "custom",
             "baseUrl must be an http:// or https:// URL (or start with a ${VAR} reference)",
             false);
  }
}

// Sidecar-only `pricing` (USD per 1M tokens) and `budget` (pipeline/budget_stage.h).
SchemaPtr PricingSchema() {
  return Object({{"input", NumberOf({{Op::kGe, 0}})}, {"output", NumberOf({{Op::kGe, 0}})}});
}

SchemaPtr BudgetSchema() {
  auto s = Object({
      {"limitUsd", Opt(Positive())},
      {"perTenantUsd", Opt(Positive())},
      {"window", Opt(Str(1))},
      {"estimateOutputTokens", Opt(IntPositive())},
  });
  s->refine = [](const json& data, Path& path, Issues& out) {
    if (!data.contains("limitUsd") && !data.contains("perTenantUsd")) {
      AddIssue(out, path, "custom", "set limitUsd, perTenantUsd or both", false);
    }
    if (auto w = data.find("window"); w != data.end() && w->is_string()) {
      if (auto parsed = ParseBudgetWindow(w->get<std::string>()); !parsed.ok()) {
        Path p = path;
        p.push_back("window");
        AddIssue(out, p, "custom", std::string(parsed.status().message()), false);
      }
    }
  };
  return s;
}

// `routing` (README "Backpressure"): backpressure per target.
SchemaPtr RoutingSchema() {
  return Object({
      {"maxQueueDepth", NumberOf({{Op::kInt, 0}, {Op::kGe, 0}, {Op::kLe, 1000000}})},
      {"lowPriority", Opt(Enum({"reject", "fallback"}))},
      {"minPriorityWhenBusy", Opt(Enum({"critical", "high", "normal"}))},
  });
}

// `semanticCache` (README "Semantic cache").
SchemaPtr SemanticCacheSchema() {
  return Object({
      {"embeddingPreset", Str(1)},
      {"threshold", Opt(NumberOf({{Op::kGt, 0}, {Op::kLe, 1}}))},
      {"maxTemperature", Opt(NumberOf({{Op::kGe, 0}, {Op::kLe, 2}}))},
      {"maxEntries", Opt(NumberOf({{Op::kInt, 0}, {Op::kGt, 0}, {Op::kLe, 1000000}}))},
      {"ttlSeconds", Opt(IntPositive())},
      {"shared", Opt(Bool())},
  });
}

// `modelMap` (README "Model tiers"): {<provider>: {<logical name>: <provider model>}}.
class ModelMapSchema final : public Schema {
 public:
  void Check(const json* v, Path& path, Issues& out) const override {
    if (IsUndefined(v) || !v->is_object()) return InvalidType(out, path, "record", v);
    static const std::vector<std::string>* providers =
        new std::vector<std::string>(ProviderNames());
    for (auto it = v->begin(); it != v->end(); ++it) {
      path.push_back(it.key());
      if (std::find(providers->begin(), providers->end(), it.key()) == providers->end()) {
        AddIssue(out, path, "invalid_key",
                 absl::StrCat("Unknown provider ", Quote(it.key()), " in modelMap"));
      } else if (!it->is_object()) {
        InvalidType(out, path, "record", &*it);
      } else {
        for (auto entry = it->begin(); entry != it->end(); ++entry) {
          path.push_back(entry.key());
          if (!IsLogicalModelName(entry.key())) {
            AddIssue(out, path, "invalid_key",
                     "Invalid logical model name: expected ^[a-z][a-z0-9_-]{0,63}$");
          } else if (!entry->is_string() || entry->get_ref<const std::string&>().empty()) {
            AddIssue(out, path, "invalid_type",
                     absl::StrCat("Invalid input: expected a non-empty model name, received ",
                                  ReceivedType(&*entry)));
          } else if (entry->get_ref<const std::string&>()[0] == '@') {
            AddIssue(out, path, "custom",
                     "a modelMap entry names a provider model, not another @name");
          }
          path.pop_back();
        }
      }
      path.pop_back();
    }
  }
};

const Schema& SidecarNamespaceSchema() {
  static const SchemaPtr* schema = [] {
    auto target = Object({
        {"provider", Enum(ProviderNames())},
        {"model", Str(1)},
        {"providerOptions", Opt(Record(Any()))},
        {"baseUrl", Opt(Str(1))},
        {"pricing", Opt(PricingSchema())},
        {"routing", Opt(RoutingSchema())},
    });
    target->refine = BaseUrlRule;
    auto fallback = Object({
        {"targets", ArrayOf(target)},
        {"stickyMs", Opt(IntPositive())},
    });
    // `json`: a JSON task for every call (the schema's own keywords are checked when it is
    // compiled, in SidecarSettingsOf).
    auto json_task = Object({
        {"schema", Union({Record(Any()), Bool()})},
        {"maxRepairs", Opt(NumberOf({{Op::kInt, 0}, {Op::kGe, 0}, {Op::kLe, 5}}))},
    });
    auto s = Object({{"baseUrl", Opt(Str(1))}, {"fallback", Opt(fallback)}});
    s->shape.push_back({"pricing", Opt(PricingSchema())});
    s->shape.push_back({"budget", Opt(BudgetSchema())});
    s->shape.push_back({"json", Opt(json_task)});
    s->shape.push_back({"routing", Opt(RoutingSchema())});
    s->shape.push_back({"modelMap", Opt(std::make_shared<ModelMapSchema>())});
    s->shape.push_back({"semanticCache", Opt(SemanticCacheSchema())});
    s->refine = BaseUrlRule;
    return new SchemaPtr(s);
  }();
  return **schema;
}

std::vector<SchemaIssue> Run(const Schema& schema, const json& value) {
  Issues out;
  Path path;
  schema.Check(&value, path, out);
  return out;
}

}  // namespace

bool IsLogicalModelName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string IssuePath(const SchemaIssue& issue) { return absl::StrJoin(issue.path, "."); }

std::string FormatIssues(const std::vector<SchemaIssue>& issues) {
  std::vector<std::string> lines;
  for (const auto& issue : issues) {
    std::string path = IssuePath(issue);
    lines.push_back(
        absl::StrCat(path.empty() ? "<root>" : path, ": ", issue.code, ": ", issue.message));
  }
  return absl::StrJoin(lines, "; ");
}

std::vector<SchemaIssue> CheckLlmConfigSchema(const nlohmann::json& config) {
  return Run(LlmConfigSchema(), config);
}

std::vector<SchemaIssue> CheckMdaPresetSchema(const nlohmann::json& front_matter) {
  return Run(MdaPresetSchema(), front_matter);
}

std::vector<SchemaIssue> CheckSidecarNamespaceSchema(const nlohmann::json& ns) {
  return Run(SidecarNamespaceSchema(), ns);
}

nlohmann::json StripUndefined(const nlohmann::json& value) {
  if (value.is_object()) {
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.value().is_discarded()) continue;
      out[it.key()] = StripUndefined(it.value());
    }
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) {
      out.push_back(item.is_discarded() ? json(nullptr) : StripUndefined(item));
    }
    return out;
  }
  return value;
}

}  // namespace llmix::registry
