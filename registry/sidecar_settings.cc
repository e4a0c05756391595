// metadata.llmix-sidecar -> SidecarSettings (after CheckSidecarNamespaceSchema).
#include "absl/strings/str_cat.h"
#include "registry/errors.h"
#include "registry/snapshot.h"

namespace llmix::registry {

using nlohmann::json;

namespace {

// `json: {schema, maxRepairs}` (types checked by the namespace schema): the schema is compiled
// here, so a malformed one fails publish and load naming its JSON pointer.
absl::Status ReadJsonTaskSettings(const json& ns, SidecarSettings& out) {
  auto task = ns.find("json");
  if (task == ns.end() || !task->is_object() || !task->contains("schema")) {
    return absl::OkStatus();
  }
  absl::StatusOr<JsonSchema> schema = JsonSchema::Compile((*task)["schema"]);
  if (!schema.ok()) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("json.schema: ", schema.status().message()));
  }
  JsonTaskSettings settings{*std::move(schema), 2};
  if (auto n = task->find("maxRepairs"); n != task->end() && n->is_number()) {
    settings.max_repairs = static_cast<int>(n->get<double>());
  }
  out.json_task = std::move(settings);
  return absl::OkStatus();
}

// The provider model `model` names for `provider`: `model` itself unless it is "@<logical>" and
// the namespace has a modelMap, then modelMap[provider][logical]. `field` names it in errors.
absl::StatusOr<std::string> ResolveModelName(const json& ns, const std::string& provider,
                                             const std::string& model, std::string_view field) {
  if (model.empty() || model[0] != '@' || !ns.is_object()) return model;
  auto map = ns.find("modelMap");
  if (map == ns.end() || !map->is_object()) return model;  // no modelMap: LLMix semantics
  std::string logical = model.substr(1);
  auto entries = map->find(provider);
  if (entries != map->end() && entries->is_object()) {
    auto entry = entries->find(logical);
    if (entry != entries->end() && entry->is_string()) return entry->get<std::string>();
  }
  return MakeError(ErrorKind::kInvalidConfig,
                   absl::StrCat(std::string(field), ": \"", model,
                                "\" has no modelMap entry for provider \"", provider, "\""));
}

// `semanticCache` (types and ranges checked by the namespace schema). The semantic cache sits
// behind the exact-key cache, so the preset must consult the response cache.
absl::Status ReadSemanticCacheSettings(const json& ns, const LlmConfig& primary,
                                       SidecarSettings& out) {
  auto sc = ns.find("semanticCache");
  if (sc == ns.end() || !sc->is_object()) return absl::OkStatus();
  SemanticCacheSettings settings;
  settings.embedding_preset = sc->value("embeddingPreset", std::string());
  const size_t slash = settings.embedding_preset.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == settings.embedding_preset.size()) {
    return MakeError(ErrorKind::kInvalidConfig,
                     absl::StrCat("semanticCache.embeddingPreset: expected \"module/preset\", ",
                                  "got \"", settings.embedding_preset, "\""));
  }
  const std::string strategy = primary.caching ? primary.caching->strategy : "";
  if (strategy.empty() || strategy == "disabled" || strategy == "native" ||
      strategy == "gateway") {
    return MakeError(ErrorKind::kInvalidConfig,
                     "semanticCache: needs the preset's caching.strategy to be memory, redis or "
                     "redis-or-memory (the semantic cache is looked up after the response cache)");
  }
  if (auto t = sc->find("threshold"); t != sc->end() && t->is_number()) {
    settings.threshold = t->get<double>();
  }
  if (auto t = sc->find("maxTemperature"); t != sc->end() && t->is_number()) {
    settings.max_temperature = t->get<double>();
  }
  if (auto n = sc->find("maxEntries"); n != sc->end() && n->is_number()) {
    settings.max_entries = static_cast<size_t>(n->get<double>());
  }
  if (auto n = sc->find("ttlSeconds"); n != sc->end() && n->is_number()) {
    settings.ttl = absl::Seconds(n->get<double>());
  }
  if (auto b = sc->find("shared"); b != sc->end() && b->is_boolean()) {
    settings.shared = b->get<bool>();
  }
  out.semantic_cache = std::move(settings);
  return absl::OkStatus();
}

}  // namespace

absl::Status ResolveModelTier(const json& ns, std::string_view field, LlmConfig& config) {
  absl::StatusOr<std::string> model = ResolveModelName(ns, config.provider, config.model, field);
  if (!model.ok()) return model.status();
  if (*model == config.model) return absl::OkStatus();
  config.model = *model;
  if (config.raw.is_object()) config.raw["model"] = *model;
  return absl::OkStatus();
}

absl::StatusOr<SidecarSettings> SidecarSettingsOf(const json& ns, const LlmConfig& primary) {
  SidecarSettings out;
  if (!ns.is_object()) return out;
  if (auto url = ns.find("baseUrl"); url != ns.end() && url->is_string()) {
    out.base_url = url->get<std::string>();
  }
  out.pricing = PricingOf(ns);
  out.budget = BudgetOf(ns);
  if (absl::Status st = ReadJsonTaskSettings(ns, out); !st.ok()) return st;
  if (absl::Status st = ReadSemanticCacheSettings(ns, primary, out); !st.ok()) return st;
  if (auto routing = ns.find("routing"); routing != ns.end() && routing->is_object()) {
    out.routing = RoutingRuleOf(*routing);
  }
  auto fallback = ns.find("fallback");
  if (fallback == ns.end() || !fallback->is_object()) {
    if (out.routing && out.routing->low_priority == RoutingRule::Action::kFallback) {
      return MakeError(ErrorKind::kInvalidConfig,
                       "routing.lowPriority: \"fallback\" needs fallback.targets to send calls "
                       "to (use \"reject\")");
    }
    return out;
  }
  if (auto sticky = fallback->find("stickyMs"); sticky != fallback->end() && sticky->is_number()) {
    out.fallback_sticky = absl::Milliseconds(sticky->get<double>());
  }
  const json& targets = (*fallback)["targets"];
  for (size_t i = 0; i < targets.size(); ++i) {
    const json& t = targets[i];
    // The preset's own config with this target's provider, model and providerOptions: the
    // common parameters, caching and timeout carry over, so each target is a whole preset.
    json raw = primary.raw;
    raw["provider"] = t["provider"];
    absl::StatusOr<std::string> model =
        ResolveModelName(ns, t["provider"].get<std::string>(), t["model"].get<std::string>(),
                         absl::StrCat("fallback.targets[", i, "].model"));
    if (!model.ok()) return model.status();
    raw["model"] = *model;
    if (auto po = t.find("providerOptions"); po != t.end()) raw["providerOptions"] = *po;
    absl::StatusOr<LlmConfig> config = ParseLlmConfig(raw, Strictness::kStrict);
    if (!config.ok()) {
      return MakeError(ErrorKind::kInvalidConfig,
                       absl::StrCat("fallback.targets[", i, "]: ", config.status().message()));
    }
    FallbackTarget target{*std::move(config), std::nullopt, PricingOf(t), std::nullopt};
    if (auto url = t.find("baseUrl"); url != t.end() && url->is_string()) {
      target.base_url = url->get<std::string>();
    }
    if (auto routing = t.find("routing"); routing != t.end() && routing->is_object()) {
      target.routing = RoutingRuleOf(*routing);
    }
    out.fallback.push_back(std::move(target));
  }
  return out;
}

}  // namespace llmix::registry

namespace llmix::registry {

RoutingRule RoutingRuleOf(const nlohmann::json& routing) {
  RoutingRule rule;
  if (auto depth = routing.find("maxQueueDepth"); depth != routing.end() && depth->is_number()) {
    rule.max_queue_depth = static_cast<int>(depth->get<double>());
  }
  if (auto action = routing.find("lowPriority"); action != routing.end() && action->is_string()) {
    rule.low_priority = action->get<std::string>() == "fallback" ? RoutingRule::Action::kFallback
                                                                  : RoutingRule::Action::kReject;
  }
  if (auto min = routing.find("minPriorityWhenBusy"); min != routing.end() && min->is_string()) {
    rule.min_priority_when_busy = ParsePriority(min->get<std::string>()).value_or(Priority::kNormal);
  }
  return rule;
}

}  // namespace llmix::registry
