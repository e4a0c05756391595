#include "sidecar/cache_key_command.h"

#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include "common/canonical_json.h"
#include "common/js_json.h"
#include "pipeline/cache/cache_key.h"
#include "registry/llm_config.h"

namespace llmix::sidecar {

namespace {

constexpr const char* kHelp =
    "usage: llmix-sidecar cache-key < request.json\n"
    "\n"
    "Prints the response-cache key LLMix (Python, TypeScript, this sidecar) computes for a\n"
    "call, and the exact canonical text that is hashed. Compare the canonical texts of two\n"
    "callers to see why they miss each other's cache entries.\n"
    "\n"
    "stdin:  {\"config\": {...LLMix config...}, \"messages\": [...],\n"
    "         \"env\": {\"GPU_BASE_URL\": \"...\"}}   (env is optional; null unsets a variable)\n"
    "stdout: {\"key\": \"llmix:resp:<sha256>\", \"canonical\": \"...\"}\n"
    "        key and canonical are null when caching.strategy is missing, \"disabled\",\n"
    "        \"native\" or \"gateway\" (such calls never consult the response cache).\n"
    "exit:   0 ok, 1 the call would fail before the cache lookup, 2 bad input\n";

// The process environment with the request's `env` applied on top.
class OverlayEnv final : public Env {
 public:
  explicit OverlayEnv(const Env& base) : base_(base) {}
  void Set(std::string name, std::optional<std::string> value) {
    vars_[std::move(name)] = std::move(value);
  }
  std::optional<std::string> Get(std::string_view name) const override {
    if (auto it = vars_.find(name); it != vars_.end()) return it->second;
    return base_.Get(name);
  }

 private:
  const Env& base_;
  std::map<std::string, std::optional<std::string>, std::less<>> vars_;
};

}  // namespace

int RunCacheKeyCommand(const std::vector<std::string>& args, const Env& env, std::istream& in,
                       std::ostream& out, std::ostream& err) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      out << kHelp;
      return 0;
    }
    err << "llmix-sidecar cache-key: unexpected argument \"" << a << "\" (the request is read "
        << "from stdin; see --help)\n";
    return 2;
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    err << "llmix-sidecar cache-key: no input on stdin; expected "
           "{\"config\": {...}, \"messages\": [...]} (see --help)\n";
    return 2;
  }
  auto parsed = ParseJsJson(text);
  if (!parsed.ok()) {
    err << "llmix-sidecar cache-key: stdin is not valid JSON: " << parsed.status().message()
        << "\n";
    return 2;
  }
  const nlohmann::json& req = *parsed;
  if (!req.is_object()) {
    err << "llmix-sidecar cache-key: expected a JSON object {\"config\": ..., \"messages\": ...}\n";
    return 2;
  }
  auto config = req.find("config");
  if (config == req.end() || !config->is_object()) {
    err << "llmix-sidecar cache-key: \"config\" must be an LLMix config object\n";
    return 2;
  }
  auto messages = req.find("messages");
  if (messages == req.end() || !messages->is_array()) {
    err << "llmix-sidecar cache-key: \"messages\" must be an array of message objects\n";
    return 2;
  }
  OverlayEnv overlay(env);
  if (auto e = req.find("env"); e != req.end() && !e->is_null()) {
    if (!e->is_object()) {
      err << "llmix-sidecar cache-key: \"env\" must be an object of NAME: string|null\n";
      return 2;
    }
    for (auto it = e->begin(); it != e->end(); ++it) {
      if (it.value().is_string()) {
        overlay.Set(it.key(), it.value().get<std::string>());
      } else if (it.value().is_null()) {
        overlay.Set(it.key(), std::nullopt);
      } else {
        err << "llmix-sidecar cache-key: env." << it.key() << " must be a string or null\n";
        return 2;
      }
    }
  }
  // The key does not depend on it, but say so when the sidecar would refuse the call anyway.
  if (auto checked = registry::ParseLlmConfig(*config, registry::Strictness::kLenient);
      !checked.ok()) {
    err << "llmix-sidecar cache-key: warning: the sidecar would reject this config: "
        << checked.status().message() << "\n";
  }
  auto params = cache::CacheKeyParamsForCall(*config, *messages, overlay);
  if (!params.ok()) {
    err << "llmix-sidecar cache-key: the call fails before the cache lookup: "
        << params.status().message() << "\n";
    return 1;
  }
  if (!params->has_value()) {
    err << "llmix-sidecar cache-key: note: caching.strategy is missing, \"disabled\", "
           "\"native\" or \"gateway\": this call never consults the response cache\n";
    out << "{\"key\":null,\"canonical\":null}\n";
    return 0;
  }
  const std::string canonical = cache::CanonicalCacheText(**params);
  out << "{\"key\":" << JsJsonQuote(cache::CacheKey(**params))
      << ",\"canonical\":" << JsJsonQuote(canonical) << "}\n";
  return 0;
}

}  // namespace llmix::sidecar
