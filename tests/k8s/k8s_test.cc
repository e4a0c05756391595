// The Helm chart and the injector, checked offline with real tools: helm lint/template (real
// helm 3 binary), Kubernetes schema validation plus an unknown-field check (validate.js), and
// agreement between the chart's sidecar snippet, its webhook settings and what the injector
// actually injects.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/env.h"
#include "nlohmann/json.hpp"
#include "sidecar/inject_webhook_command.h"
#include "sidecar/injector.h"
#include "tests/support/process.h"

namespace llmix::testing {
namespace {

using nlohmann::json;

const std::string kK8sDir = LLMIX_K8S_DIR;
const std::string kChart = std::string(LLMIX_SOURCE_DIR) + "/helm/llmix-sidecar";
const std::string kValuesDir = std::string(LLMIX_K8S_SOURCE_DIR) + "/values";
const std::vector<std::string> kValuesFiles = {
    "",          "cert-manager.yaml", "cert-manager-issuer.yaml",
    "full.yaml", "sidecar-only.yaml", "existing-registry.yaml"};

CommandResult Helm(std::vector<std::string> args) {
  args.insert(args.begin(), kK8sDir + "/bin/helm");
  return RunCommand(args, "",
                    {{"HELM_CACHE_HOME", kK8sDir + "/helm-home/cache"},
                     {"HELM_CONFIG_HOME", kK8sDir + "/helm-home/config"},
                     {"HELM_DATA_HOME", kK8sDir + "/helm-home/data"}},
                    std::chrono::seconds(60));
}

CommandResult Template(const std::string& values_file, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"template", "rel", kChart, "--namespace", "llm-system"};
  if (!values_file.empty()) args.insert(args.end(), {"-f", kValuesDir + "/" + values_file});
  args.insert(args.end(), extra.begin(), extra.end());
  return Helm(args);
}

CommandResult Validate(const std::string& manifests) {
  return RunCommand({"node", kK8sDir + "/validate.js"}, manifests, {}, std::chrono::seconds(60));
}

json ToJson(const std::string& yaml) {
  auto r = RunCommand({"node", kK8sDir + "/to-json.js"}, yaml, {}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json::array();
}

json Rendered(const std::string& values_file, std::vector<std::string> extra = {}) {
  auto r = Template(values_file, std::move(extra));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return ToJson(r.out);
}

const json* FindKind(const json& docs, const std::string& kind) {
  for (const auto& d : docs) {
    if (d["kind"] == kind) return &d;
  }
  return nullptr;
}

std::vector<std::string> Kinds(const json& docs) {
  std::vector<std::string> kinds;
  for (const auto& d : docs) kinds.push_back(d["kind"]);
  std::sort(kinds.begin(), kinds.end());
  return kinds;
}

// The injector as the chart's webhook Deployment configures it (its LLMIX_INJECT_* env).
sidecar::InjectorConfig WebhookConfig(const json& docs) {
  const json* deploy = FindKind(docs, "Deployment");
  EXPECT_NE(deploy, nullptr);
  MapEnv env;
  if (deploy) {
    for (const auto& e : (*deploy)["spec"]["template"]["spec"]["containers"][0]["env"]) {
      env.Set(e["name"], e["value"]);
    }
  }
  auto options = sidecar::ParseInjectWebhookOptions({}, env);
  EXPECT_TRUE(options.ok()) << options.status();
  return options.ok() ? options->injector : sidecar::InjectorConfig{};
}

json Inject(const json& pod, const sidecar::InjectorConfig& config) {
  auto patch = sidecar::BuildInjectionPatch(pod, config);
  EXPECT_TRUE(patch.ok()) << patch.status();
  return patch.ok() ? pod.patch(*patch) : pod;
}

json SamplePod(json annotations = {{"llmix.io/inject", "true"}}) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "app"}, {"annotations", annotations}}},
          {"spec",
           {{"initContainers", {{{"name", "migrate"}, {"image", "example/migrate:1"}}}},
            {"containers",
             {{{"name", "app"},
               {"image", "example/app:1"},
               {"env", {{{"name", "MODE"}, {"value", "prod"}}}},
               {"volumeMounts", {{{"name", "data"}, {"mountPath", "/data"}}}}}}},
            {"volumes", {{{"name", "data"}, {"emptyDir", json::object()}}}}}}};
}

class HelmChart : public ::testing::TestWithParam<std::string> {};

TEST_P(HelmChart, LintsStrictly) {
  std::vector<std::string> args = {"lint", "--strict", kChart, "--namespace", "llm-system"};
  if (!GetParam().empty()) args.insert(args.end(), {"-f", kValuesDir + "/" + GetParam()});
  auto r = Helm(args);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("0 chart(s) failed"), std::string::npos) << r.out;
}

TEST_P(HelmChart, RendersManifestsThatValidate) {
  auto r = Template(GetParam());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = Validate(r.out);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find(" 0 problem(s)"), std::string::npos) << v.out;
}

INSTANTIATE_TEST_SUITE_P(ValuesFiles, HelmChart, ::testing::ValuesIn(kValuesFiles),
                         [](const auto& info) {
                           std::string name = info.param.empty() ? "defaults" : info.param;
                           name = name.substr(0, name.find('.'));
                           for (char& c : name)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

TEST(HelmChartContent, DefaultInstallsTheWebhookWithAGeneratedCa) {
  const json docs = Rendered("");
  EXPECT_EQ(Kinds(docs), (std::vector<std::string>{"Deployment", "MutatingWebhookConfiguration",
                                                   "PodDisruptionBudget", "Secret", "Service",
                                                   "ServiceAccount"}));
  const json& hook = (*FindKind(docs, "MutatingWebhookConfiguration"))["webhooks"][0];
  EXPECT_EQ(hook["failurePolicy"], "Ignore");
  EXPECT_EQ(hook["timeoutSeconds"], 5);
  EXPECT_EQ(hook["clientConfig"]["service"]["path"], "/mutate");
  EXPECT_EQ(hook["namespaceSelector"]["matchExpressions"][0]["values"][2], "llm-system");
  // The caBundle is the CA that signed the Secret's serving certificate.
  const json& secret = *FindKind(docs, "Secret");
  EXPECT_EQ(hook["clientConfig"]["caBundle"], secret["data"]["ca.crt"]);
  TempDir dir;
  std::string ca, crt;
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["ca.crt"].get<std::string>(), &ca));
  ASSERT_TRUE(absl::Base64Unescape(secret["data"]["tls.crt"].get<std::string>(), &crt));
  WriteFile(dir.File("ca.crt"), ca);
  WriteFile(dir.File("tls.crt"), crt);
  auto verify =
      RunCommand({"openssl", "verify", "-CAfile", dir.File("ca.crt"), dir.File("tls.crt")});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto san = RunCommand(
      {"openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", dir.File("tls.crt")});
  EXPECT_NE(san.out.find("rel-llmix-sidecar-webhook.llm-system.svc"), std::string::npos) << san.out;
  // The webhook container runs restricted, with its TLS from that Secret.
  const json& pod = (*FindKind(docs, "Deployment"))["spec"]["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(pod["volumes"][0]["secret"]["secretName"], secret["metadata"]["name"]);
}

TEST(HelmChartContent, RegistryConfigMapInEachAppNamespace) {
  const json docs = Rendered("full.yaml");
  std::vector<std::string> namespaces;
  for (const auto& d : docs) {
    if (d["kind"] == "ConfigMap") namespaces.push_back(d["metadata"]["namespace"]);
  }
  EXPECT_EQ(namespaces, (std::vector<std::string>{"team-a", "team-b"}));
}

TEST(HelmChartContent, NoDisruptionBudgetForASingleReplica) {
  const json one = Rendered("", {"--set", "webhook.replicas=1"});
  EXPECT_EQ(FindKind(one, "PodDisruptionBudget"), nullptr);
  const json three = Rendered("", {"--set", "webhook.replicas=3"});
  const json* pdb = FindKind(three, "PodDisruptionBudget");
  ASSERT_NE(pdb, nullptr);
  EXPECT_EQ((*pdb)["spec"]["minAvailable"], 1);
}

TEST(HelmChartContent, CertManagerModeUsesACertificateAndCaInjection) {
  const json docs = Rendered("cert-manager.yaml");
  EXPECT_EQ(FindKind(docs, "Secret"), nullptr);
  const json* cert = FindKind(docs, "Certificate");
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ((*cert)["spec"]["issuerRef"]["name"], (*FindKind(docs, "Issuer"))["metadata"]["name"]);
  const json& mwc = *FindKind(docs, "MutatingWebhookConfiguration");
  EXPECT_EQ(mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "llm-system/" + (*cert)["metadata"]["name"].get<std::string>());
  EXPECT_FALSE(mwc["webhooks"][0]["clientConfig"].contains("caBundle"));
}

TEST(HelmChartContent, ValuesOutsideTheSchemaAreRefusedByName) {
  const std::pair<std::string, std::string> bad[] = {
      {"webhook.replcas=2", "replcas"},
      {"webhook.failurePolicy=Sometimes", "webhook.failurePolicy"},
      {"sidecar.resources.limits.memory=lots", "sidecar.resources.limits.memory"},
      {"webhook.timeoutSeconds=60", "webhook.timeoutSeconds"},
      {"registry.pvc=a", "registry.configMap"},  // with configMap set below: exclusive
  };
  for (const auto& [set, field] : bad) {
    auto r = Template("", {"--set", set, "--set", "registry.configMap=b"});
    EXPECT_NE(r.exit_code, 0) << set;
    EXPECT_NE(r.err.find(field), std::string::npos) << set << ": " << r.err;
  }
}

// NOTES.txt only renders on install (which needs a cluster); rendered here as a plain template
// of a copy of the chart.
TEST(HelmChartContent, NotesRenderForBothModes) {
  TempDir dir;
  const std::string chart = dir.File("chart");
  ASSERT_EQ(RunCommand({"cp", "-r", kChart, chart}).exit_code, 0);
  ASSERT_EQ(
      rename((chart + "/templates/NOTES.txt").c_str(), (chart + "/templates/notes.txt").c_str()),
      0);
  auto notes = [&](std::vector<std::string> sets) {
    std::vector<std::string> args = {"template",   "rel",     chart,         "-n",
                                     "llm-system", "--debug", "--show-only", "templates/notes.txt"};
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    // Not YAML, so helm exits 1 after printing it (--debug prints what it rendered).
    auto r = Helm(args);
    EXPECT_EQ(r.err.find("template:"), std::string::npos) << r.err;  // no template error
    return r.out;
  };
  const std::string webhook =
      notes({"sidecar.apiKeySecret=llm-keys", "registry.configMap=llm-reg"});
  EXPECT_NE(webhook.find("llmix.io/inject: \"true\""), std::string::npos) << webhook;
  EXPECT_NE(webhook.find("LLMIX_SIDECAR_ADDR=unix:///var/run/llmix/llmix.sock"), std::string::npos);
  EXPECT_NE(webhook.find("Secret \"llm-keys\""), std::string::npos) << webhook;
  EXPECT_NE(webhook.find("ConfigMap \"llm-reg\""), std::string::npos) << webhook;
  const std::string snippet = notes({"sidecarOnly=true"});
  EXPECT_NE(snippet.find("kubectl get podtemplate rel-llmix-sidecar-snippet -n llm-system"),
            std::string::npos)
      << snippet;
}

TEST(Validator, CatchesMisspelledFieldsAndWrongTypes) {
  const std::string good =
      "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n";
  EXPECT_EQ(Validate(good).exit_code, 0);
  const std::pair<std::string, std::string> bad[] = {
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {prots: [{port: 80}]}\n",
       "/spec/prots: unknown field"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: http}]}\n",
       "/spec/ports/0/port"},
      {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {}\n"
       "  template:\n    spec:\n      containers: [{name: c, image: i, imagePullPolcy: Always}]\n",
       "/spec/template/spec/containers/0/imagePullPolcy: unknown field"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}], "
       "securityContext: {runAsNonRoot: yes please}}\n",
       "/spec/securityContext/runAsNonRoot"},
      {"apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n", "unknown kind"},
      {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name}\n", "metadata.name"},
  };
  for (const auto& [manifest, expected] : bad) {
    auto r = Validate(manifest);
    EXPECT_EQ(r.exit_code, 1) << manifest;
    EXPECT_NE(r.out.find(expected), std::string::npos) << manifest << "\n" << r.out;
  }
}

TEST(Injector, PatchedPodsValidate) {
  sidecar::InjectorConfig everything;
  everything.registry_configmap = "llm-registry";
  everything.api_key_secret = "llm-api-keys";
  everything.redis_url = "redis://redis:6379/0";
  everything.otlp_endpoint = "http://otel:4317";
  const json pods[] = {
      Inject(SamplePod(), {}),
      Inject(SamplePod(), everything),
      Inject(SamplePod({{"llmix.io/inject", "true"},
                        {"llmix.io/mode", "container"},
                        {"llmix.io/registry-pvc", "regs"},
                        {"llmix.io/cpu-limit", "1500m"}}),
             everything),
  };
  for (const json& pod : pods) {
    ASSERT_TRUE(pod["metadata"]["annotations"].contains("llmix.io/status")) << pod.dump();
    auto v = Validate(pod.dump());
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err << "\n" << pod.dump(2);
  }
}

TEST(Injector, ExampleAppDeploymentValidatesBeforeAndAfterInjection) {
  const std::string example =
      ReadFile(std::string(LLMIX_SOURCE_DIR) + "/examples/k8s/app-deployment.yaml");
  auto before = Validate(example);
  ASSERT_EQ(before.exit_code, 0) << before.out;
  json deploy = ToJson(example)[0];
  // What the API server sends the webhook: a Pod made from the template.
  const json pod = {{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", deploy["spec"]["template"]["metadata"]},
                    {"spec", deploy["spec"]["template"]["spec"]}};
  const json review = {{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"request", {{"uid", "u1"}, {"kind", {{"kind", "Pod"}}}, {"object", pod}}}};
  const json r = sidecar::ReviewAdmission(review.dump(), {})["response"];
  ASSERT_EQ(r["patchType"], "JSONPatch") << r.dump();
  std::string patch;
  ASSERT_TRUE(absl::Base64Unescape(r["patch"].get<std::string>(), &patch));
  const json injected = pod.patch(json::parse(patch));
  EXPECT_EQ(injected["spec"]["initContainers"][0]["envFrom"][0]["secretRef"]["name"],
            "llm-api-keys");
  EXPECT_EQ(injected["spec"]["initContainers"][0]["resources"]["limits"]["memory"], "512Mi");
  deploy["spec"]["template"]["metadata"] = injected["metadata"];
  deploy["spec"]["template"]["spec"] = injected["spec"];
  auto after = Validate(deploy.dump());
  EXPECT_EQ(after.exit_code, 0) << after.out;
}

// The chart's hand-add snippet (sidecarOnly) and what its webhook injects with the same values
// are the same container and volumes.
TEST(Injector, ChartSnippetMatchesWhatTheWebhookInjects) {
  for (const std::string& values :
       {std::string(""), std::string("full.yaml"), std::string("sidecar-only.yaml"),
        std::string("existing-registry.yaml")}) {
    SCOPED_TRACE(values);
    const json webhook_docs = Rendered(values, {"--set", "sidecarOnly=false"});
    const json snippet_docs = Rendered(values, {"--set", "sidecarOnly=true"});
    ASSERT_EQ(Kinds(snippet_docs).back(), "PodTemplate");
    const json& snippet = (*FindKind(snippet_docs, "PodTemplate"))["template"]["spec"];
    const sidecar::InjectorConfig config = WebhookConfig(webhook_docs);
    json pod = SamplePod();
    pod["spec"].erase("initContainers");
    pod["spec"].erase("volumes");
    pod["spec"]["containers"][0].erase("volumeMounts");
    const json injected = Inject(pod, config)["spec"];
    const bool native = config.native_sidecar;
    const json& sidecar_from_chart =
        native ? snippet["initContainers"][0] : snippet["containers"][1];
    const json& sidecar_injected =
        native ? injected["initContainers"][0] : injected["containers"][1];
    EXPECT_EQ(sidecar_from_chart, sidecar_injected) << "chart:\n"
                                                    << sidecar_from_chart.dump(2) << "\ninjector:\n"
                                                    << sidecar_injected.dump(2);
    EXPECT_EQ(snippet["volumes"], injected["volumes"]);
    EXPECT_EQ(snippet["containers"][0]["env"][0], injected["containers"][0]["env"][1]);
  }
}

// A published registry shipped through the chart's ConfigMap: registry-values.sh turns it into
// values, the chart renders the ConfigMap and the items, the files land where the kubelet would
// put them, and a real sidecar serves a preset from them.
TEST(Injector, RegistryShippedInTheChartConfigMapServesPresets) {
  TempDir dir;
  const std::string root = dir.File("llm");
  ASSERT_EQ(RunCommand({"cp", "-r", std::string(LLMIX_SOURCE_DIR) + "/examples/config/llm", root})
                .exit_code,
            0);
  auto publish = RunCommand({LLMIX_SIDECAR_BIN, "publish", "--root", root});
  ASSERT_EQ(publish.exit_code, 0) << publish.err;
  auto values = RunCommand({"sh", kChart + "/registry-values.sh", root});
  ASSERT_EQ(values.exit_code, 0) << values.err;
  WriteFile(dir.File("values.yaml"), values.out);
  auto r = Helm({"template", "rel", kChart, "-n", "llm-system", "-f", dir.File("values.yaml"),
                 "--set", "sidecarOnly=true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Validate(r.out).exit_code, 0);
  const json docs = ToJson(r.out);
  const json* cm = FindKind(docs, "ConfigMap");
  ASSERT_NE(cm, nullptr);
  json volume;
  for (const auto& v : (*FindKind(docs, "PodTemplate"))["template"]["spec"]["volumes"]) {
    if (v["name"] == "llmix-registry") volume = v;
  }
  ASSERT_EQ(volume["configMap"]["name"], (*cm)["metadata"]["name"]);
  // What the kubelet mounts: each item's key written at its path.
  const std::string mount = dir.File("mount");
  for (const auto& item : volume["configMap"]["items"]) {
    const std::string path = mount + "/" + item["path"].get<std::string>();
    ASSERT_EQ(RunCommand({"mkdir", "-p", path.substr(0, path.rfind('/'))}).exit_code, 0);
    WriteFile(path, (*cm)["data"][item["key"].get<std::string>()].get<std::string>());
  }
  const std::string sock = "unix://" + dir.File("llmix.sock");
  ChildProcess serve({LLMIX_SIDECAR_BIN, "serve", "--registry", mount, "--dummy-upstream",
                      "--grpc-listen", sock, "--admin-listen", "127.0.0.1:0", "--state-dir",
                      dir.File("state"), "--ready-file", dir.File("ready.json")},
                     {{"LLMIX_HTTP_LISTEN", ""}}, dir.path());
  ASSERT_TRUE(
      WaitFor([&] { return !ReadFile(dir.File("ready.json")).empty() || !serve.Running(); }));
  ASSERT_TRUE(serve.Running()) << serve.Stderr();
  auto call =
      RunCommand({LLMIX_SIDECAR_BIN, "call", "--addr", sock, "--preset", "demo/hello", "Hi"});
  EXPECT_EQ(call.exit_code, 0) << call.out << call.err << serve.Stderr();
  EXPECT_NE(call.out.find("offline reply to: Hi"), std::string::npos) << call.out;
}

}  // namespace
}  // namespace llmix::testing
