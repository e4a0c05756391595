#include "pipeline/validate_stage.h"

#include "absl/strings/str_cat.h"

namespace llmix::pipeline {

namespace {

constexpr std::string_view kRoles[] = {"system", "developer", "user", "assistant", "tool"};

absl::Status Invalid(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(absl::string_view(field.data(), field.size()),
                                                 ": ", absl::string_view(why.data(), why.size())));
}

absl::Status CheckMessage(const nlohmann::json& m, size_t i) {
  const std::string at = absl::StrCat("messages[", i, "]");
  if (!m.is_object()) return Invalid(at, "expected a message object");
  auto role = m.find("role");
  if (role == m.end() || !role->is_string() || role->get_ref<const std::string&>().empty()) {
    return Invalid(at + ".role", "required");
  }
  const std::string& r = role->get_ref<const std::string&>();
  bool known = false;
  for (auto k : kRoles) known = known || r == k;
  if (!known) {
    return Invalid(at + ".role",
                   absl::StrCat("unknown role \"", r,
                                "\" (expected system, developer, user, assistant or tool)"));
  }
  if (auto c = m.find("content"); c != m.end() && !c->is_string() && !c->is_array() &&
                                  !c->is_null()) {
    return Invalid(at + ".content", "expected a string or an array of parts");
  } else if (c != m.end() && c->is_array()) {
    for (size_t p = 0; p < c->size(); ++p) {
      if (!(*c)[p].is_object()) {
        return Invalid(absl::StrCat(at, ".content[", p, "]"), "expected a part object");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenantBytes) {
    return Invalid("tenant", absl::StrCat("must be 1..", kMaxTenantBytes, " bytes"));
  }
  for (char c : tenant) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':' || c == '@' || c == '/' ||
                    c == '+' || c == '=';
    if (!ok) {
      return Invalid("tenant", "may hold only letters, digits and - _ . : @ / + =");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateStage::Check(const CallInput& in, const PipelineOptions& options) {
  if (in.preset.has_value() && in.config_json.has_value()) {
    return Invalid("preset", "set either preset or config_json, not both");
  }
  if (!in.preset.has_value() && !in.config_json.has_value()) {
    return Invalid("preset", "one of preset or config_json is required");
  }
  if (in.preset.has_value()) {
    const std::string& p = *in.preset;
    auto slash = p.find('/');
    if (p.empty() || slash == std::string::npos || slash == 0 || slash + 1 == p.size() ||
        p.find('/', slash + 1) != std::string::npos) {
      return Invalid("preset", absl::StrCat("expected \"module/preset\", got \"", p, "\""));
    }
  }
  if (in.config_json.has_value() && in.config_json->empty()) {
    return Invalid("config_json", "empty");
  }
  if (in.request_bytes > options.max_request_bytes) {
    return Invalid("request", absl::StrCat(in.request_bytes, " bytes exceed the limit of ",
                                           options.max_request_bytes));
  }
  if (!in.messages.is_array() || in.messages.empty()) {
    return Invalid("messages", "at least one message is required");
  }
  if (in.messages.size() > options.max_messages) {
    return Invalid("messages", absl::StrCat(in.messages.size(), " messages exceed the limit of ",
                                            options.max_messages));
  }
  for (size_t i = 0; i < in.messages.size(); ++i) {
    if (auto st = CheckMessage(in.messages[i], i); !st.ok()) return st;
  }
  if (!in.tools.is_null() && !in.tools.is_array()) return Invalid("tools", "expected an array");
  if (in.tenant.has_value()) {
    if (auto st = CheckTenant(*in.tenant); !st.ok()) return st;
  }
  return absl::OkStatus();
}

void ValidateStage::Run(CallContext& ctx, const Next& next, Done done) const {
  ctx.status = Check(ctx.input, state_.options);
  if (!ctx.status.ok()) {
    std::move(done)();
    return;
  }
  next(ctx, std::move(done));
}

}  // namespace llmix::pipeline
