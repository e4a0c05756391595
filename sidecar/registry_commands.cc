#include "sidecar/registry_commands.h"

#include <iostream>
#include <optional>

#include "absl/time/time.h"
#include "common/clock.h"
#include "nlohmann/json.hpp"
#include "registry/publisher.h"
#include "registry/root_signature.h"

namespace llmix::sidecar {

namespace {

struct RegistryArgs {
  std::string root;
  std::optional<std::string> revision;
  std::optional<std::string> published_at;
  bool no_activate = false;
  std::optional<std::string> sign_key;  // KEY_ID=PRIVATE_PEM
  std::string signer = "llmix-sidecar";
  std::vector<std::string> positional;
};

constexpr const char* kUsage =
    "usage:\n"
    "  llmix-sidecar publish --root DIR [--revision ID] [--published-at ISO8601] [--no-activate]\n"
    "                        [--sign-key KEY_ID=PRIVATE_PEM [--signer NAME]]\n"
    "  llmix-sidecar validate --root DIR\n"
    "  llmix-sidecar activate --root DIR REVISION\n"
    "DIR holds source/<module>/<preset>.mda, compiled/ and current.json.\n";

int Usage(const std::string& command, const std::string& error) {
  std::cerr << "llmix-sidecar " << command << ": " << error << "\n" << kUsage;
  return 2;
}

// Parses the shared flags; returns a usage error message or empty.
std::string Parse(const std::vector<std::string>& args, RegistryArgs* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= args.size()) return false;
      *v = args[++i];
      return true;
    };
    std::string v;
    if (a == "--root") {
      if (!value(&out->root)) return "--root: missing value";
    } else if (a == "--revision") {
      if (!value(&v)) return "--revision: missing value";
      out->revision = v;
    } else if (a == "--published-at") {
      if (!value(&v)) return "--published-at: missing value";
      out->published_at = v;
    } else if (a == "--sign-key") {
      if (!value(&v)) return "--sign-key: missing value";
      out->sign_key = v;
    } else if (a == "--signer") {
      if (!value(&out->signer)) return "--signer: missing value";
    } else if (a == "--no-activate") {
      out->no_activate = true;
    } else if (a.rfind("--", 0) == 0) {
      return "unknown flag " + a;
    } else {
      out->positional.push_back(a);
    }
  }
  if (out->root.empty()) return "--root is required";
  return "";
}

int Fail(const absl::Status& st) {
  std::cerr << "error: " << st.message() << "\n";
  return 1;
}

}  // namespace

int RunPublishCommand(const std::vector<std::string>& args) {
  RegistryArgs a;
  if (std::string err = Parse(args, &a); !err.empty()) return Usage("publish", err);
  if (!a.positional.empty()) return Usage("publish", "unexpected argument " + a.positional[0]);
  // A reproducible publish takes its time from --published-at instead of the clock.
  SystemClock system_clock;
  std::optional<FakeClock> fixed_clock;
  if (a.published_at) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*SZ", *a.published_at, &t, &error)) {
      return Usage("publish", "--published-at: expected ISO 8601 UTC such as "
                              "2026-03-04T05:06:07.890Z, got \"" + *a.published_at + "\"");
    }
    fixed_clock.emplace(t);
  }
  const Clock& clock = fixed_clock ? static_cast<const Clock&>(*fixed_clock) : system_clock;
  registry::RegistryPublisher publisher(a.root, clock);
  registry::PublishOptions options;
  options.revision = a.revision;
  options.activate = !a.no_activate;
  if (a.sign_key) {
    auto key = registry::LoadRootKey(*a.sign_key, /*is_private=*/true);
    if (!key.ok()) return Usage("publish", std::string(key.status().message()));
    options.registry_root_signer = registry::MakeRootSigner(*std::move(key), a.signer);
  }
  auto result = publisher.Publish(options);
  if (!result.ok()) return Fail(result.status());
  nlohmann::json out = {{"revision", result->revision},
                        {"manifest_sha256", result->manifest_sha256},
                        {"compiled_path", result->compiled_path},
                        {"activated", result->activated},
                        {"unchanged", result->unchanged},
                        {"presets", result->preset_ids}};
  std::cout << out.dump(2) << "\n";
  return 0;
}

int RunValidateCommand(const std::vector<std::string>& args) {
  RegistryArgs a;
  if (std::string err = Parse(args, &a); !err.empty()) return Usage("validate", err);
  SystemClock clock;
  registry::RegistryPublisher publisher(a.root, clock);
  auto report = publisher.Validate();
  if (!report.ok()) return Fail(report.status());
  nlohmann::json errors = nlohmann::json::array();
  for (const absl::Status& e : report->errors) errors.push_back(std::string(e.message()));
  nlohmann::json out = {{"valid", report->errors.empty()},
                        {"presets", report->preset_ids},
                        {"errors", errors}};
  std::cout << out.dump(2) << "\n";
  for (const absl::Status& e : report->errors) std::cerr << "error: " << e.message() << "\n";
  return report->errors.empty() ? 0 : 1;
}

int RunActivateCommand(const std::vector<std::string>& args) {
  RegistryArgs a;
  if (std::string err = Parse(args, &a); !err.empty()) return Usage("activate", err);
  if (a.positional.size() != 1) return Usage("activate", "expected exactly one REVISION");
  SystemClock clock;
  registry::RegistryPublisher publisher(a.root, clock);
  if (absl::Status st = publisher.Activate(a.positional[0]); !st.ok()) return Fail(st);
  std::cout << nlohmann::json{{"revision", a.positional[0]}, {"activated", true}}.dump(2) << "\n";
  return 0;
}

}  // namespace llmix::sidecar
