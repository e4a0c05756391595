// The real `llmix-sidecar inject-webhook` over real HTTPS: a throwaway CA and server
// certificate are made with the openssl CLI, the client trusts only that CA.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"

namespace llmix::testing {
namespace {

using nlohmann::json;

void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// A CA and a server certificate for 127.0.0.1 / localhost, signed by it, in
// <prefix>ca.crt, <prefix>tls.crt and <prefix>tls.key.
void MakeCerts(const TempDir& dir, const std::string& prefix = "") {
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                       "-nodes"};
  std::vector<std::string> ca = {"req",     "-x509",
                                 "-days",   "1",
                                 "-subj",   "/CN=llmix-test-ca",
                                 "-keyout", dir.File(prefix + "ca.key"),
                                 "-out",    dir.File(prefix + "ca.crt")};
  ca.insert(ca.begin() + 2, ec.begin(), ec.end());
  Openssl(ca);
  std::vector<std::string> csr = {"req",
                                  "-subj",
                                  "/CN=localhost",
                                  "-keyout",
                                  dir.File(prefix + "tls.key"),
                                  "-out",
                                  dir.File(prefix + "tls.csr")};
  csr.insert(csr.begin() + 1, ec.begin(), ec.end());
  Openssl(csr);
  WriteFile(dir.File(prefix + "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  Openssl({"x509", "-req", "-days", "1", "-in", dir.File(prefix + "tls.csr"), "-CA",
           dir.File(prefix + "ca.crt"), "-CAkey", dir.File(prefix + "ca.key"), "-CAcreateserial",
           "-extfile", dir.File(prefix + "ext.cnf"), "-out", dir.File(prefix + "tls.crt")});
}

json Pod(json annotations) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "app"}, {"namespace", "default"}, {"annotations", annotations}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "example/app:1"}}}}}}};
}

json Review(const json& pod) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "0b7e1c0a-1d2b-4c4e-9d1a-2f5f3e6a7b8c"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"operation", "CREATE"},
            {"object", pod}}}};
}

int CountSidecars(const json& pod) {
  int n = 0;
  for (const char* list : {"containers", "initContainers"}) {
    for (const auto& c : pod["spec"].value(list, json::array())) n += c["name"] == "llmix-sidecar";
  }
  return n;
}

class InjectWebhookTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(MakeCerts(dir_)); }

  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        LLMIX_SIDECAR_BIN, "inject-webhook",        "--listen",  "127.0.0.1:0",
        "--tls-cert",      dir_.File("tls.crt"),    "--tls-key", dir_.File("tls.key"),
        "--ready-file",    dir_.File("ready.json"), "--image",   "registry.test/llmix-sidecar:1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(
        argv, std::map<std::string, std::optional<std::string>>{}, dir_.path());
    ASSERT_TRUE(WaitFor(
        [&] { return !ReadFile(dir_.File("ready.json")).empty() || !process_->Running(); }));
    ASSERT_TRUE(process_->Running()) << process_->Stderr();
    const std::string listen = json::parse(ReadFile(dir_.File("ready.json")))["listen"];
    port_ = std::stoi(listen.substr(listen.rfind(':') + 1));
  }

  // A client trusting only `ca_file` (empty: only the system store).
  std::unique_ptr<httplib::SSLClient> Client(const std::string& ca_file = "ca.crt") {
    auto cli = std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    if (!ca_file.empty()) cli->set_ca_cert_path(dir_.File(ca_file).c_str());
    cli->enable_server_certificate_verification(true);
    cli->set_connection_timeout(5);
    cli->set_read_timeout(10);
    return cli;
  }

  // POSTs `body` to /mutate and returns the AdmissionReview response object.
  json Mutate(const std::string& body) {
    auto res = Client()->Post("/mutate", body, "application/json");
    EXPECT_TRUE(res) << httplib::to_string(res.error());
    if (!res) return json();
    EXPECT_EQ(res->status, 200);
    json out = json::parse(res->body);
    EXPECT_EQ(out["kind"], "AdmissionReview");
    return out["response"];
  }

  static json Apply(const json& pod, const json& response) {
    std::string patch;
    EXPECT_EQ(response["patchType"], "JSONPatch");
    EXPECT_TRUE(absl::Base64Unescape(response["patch"].get<std::string>(), &patch));
    return pod.patch(json::parse(patch));
  }

  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  int port_ = 0;
};

TEST_F(InjectWebhookTest, AnnotatedPodGetsTheSidecarExactlyOnce) {
  ASSERT_NO_FATAL_FAILURE(Start({"--registry-configmap", "llm-registry"}));
  const json pod = Pod({{"llmix.io/inject", "true"}});
  const json r = Mutate(Review(pod).dump());
  EXPECT_EQ(r["uid"], "0b7e1c0a-1d2b-4c4e-9d1a-2f5f3e6a7b8c");
  EXPECT_EQ(r["allowed"], true);
  const json patched = Apply(pod, r);
  ASSERT_EQ(CountSidecars(patched), 1);
  const json& sidecar = patched["spec"]["initContainers"][0];
  EXPECT_EQ(sidecar["image"], "registry.test/llmix-sidecar:1");
  EXPECT_EQ(sidecar["restartPolicy"], "Always");
  EXPECT_EQ(patched["spec"]["volumes"][1]["configMap"]["name"], "llm-registry");
  EXPECT_EQ(patched["spec"]["containers"][0]["env"][0]["name"], "LLMIX_SIDECAR_ADDR");

  // Already injected: sending the patched pod back gives no second sidecar.
  const json again = Mutate(Review(patched).dump());
  EXPECT_EQ(again["allowed"], true);
  EXPECT_FALSE(again.contains("patch"));
}

// What the webhook injects really runs: the sidecar container's env (state dir moved to a temp
// dir, fixed ports to free ones) starts `llmix-sidecar serve`, its probes answer on the admin
// listener, and the app's LLMIX_SIDECAR_ADDR reaches it.
TEST_F(InjectWebhookTest, InjectedSidecarStartsAndTheAppFindsIt) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const json pod = Pod({{"llmix.io/inject", "true"}});
  const json patched = Apply(pod, Mutate(Review(pod).dump()));
  const json& sidecar = patched["spec"]["initContainers"][0];
  ASSERT_EQ(sidecar["args"], json::array({"serve"}));
  const std::string run_dir = dir_.File("run");
  auto remap = [&](std::string v) {
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"/var/run/llmix", run_dir},
                                                          {"0.0.0.0:9464", "0.0.0.0:0"},
                                                          {"127.0.0.1:7070", "127.0.0.1:0"}}) {
      for (size_t at; (at = v.find(from)) != std::string::npos;) v.replace(at, from.size(), to);
    }
    return v;
  };
  std::map<std::string, std::optional<std::string>> env = {
      {"LLMIX_DUMMY_UPSTREAM", "true"},
      {"LLMIX_HTTP_LISTEN", "127.0.0.1:0"},
      {"LLMIX_READY_FILE", dir_.File("sidecar-ready.json")}};
  for (const auto& e : sidecar["env"]) env[e["name"]] = remap(e["value"]);
  ASSERT_EQ(mkdir(run_dir.c_str(), 0700), 0);
  std::vector<std::string> argv = {LLMIX_SIDECAR_BIN};
  for (const auto& a : sidecar["args"]) argv.push_back(a);
  ChildProcess serve(argv, env, dir_.File("run"));
  ASSERT_TRUE(WaitFor(
      [&] { return !ReadFile(dir_.File("sidecar-ready.json")).empty() || !serve.Running(); }));
  ASSERT_TRUE(serve.Running()) << serve.Stderr();
  const std::string admin = json::parse(ReadFile(dir_.File("sidecar-ready.json")))["admin"];
  EXPECT_EQ(admin.rfind("0.0.0.0:", 0), 0u) << admin;  // the pod IP, for the kubelet
  httplib::Client probe("127.0.0.1", std::stoi(admin.substr(admin.rfind(':') + 1)));
  probe.set_connection_timeout(5);
  for (const char* kind : {"startupProbe", "livenessProbe", "readinessProbe"}) {
    const std::string path = sidecar[kind]["httpGet"]["path"];
    EXPECT_TRUE(WaitFor([&] {
      auto res = probe.Get(path);
      return res && res->status == 200;
    })) << kind
        << " " << path;
  }
  std::string app_addr;
  for (const auto& e : patched["spec"]["containers"][0]["env"]) {
    if (e["name"] == "LLMIX_SIDECAR_ADDR") app_addr = remap(e["value"]);
  }
  ASSERT_EQ(app_addr, "unix://" + run_dir + "/llmix.sock");
  auto call = RunCommand({LLMIX_SIDECAR_BIN, "call", "--config-json",
                          R"({"provider":"openai","model":"gpt-4o-mini"})", "Hi"},
                         "", {{"LLMIX_SIDECAR_ADDR", app_addr}});
  EXPECT_EQ(call.exit_code, 0) << call.out << call.err;
  EXPECT_NE(call.out.find("offline reply to: Hi"), std::string::npos) << call.out;
}

TEST_F(InjectWebhookTest, UnannotatedPodIsAllowedUnpatched) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const json r = Mutate(Review(Pod(json::object())).dump());
  EXPECT_EQ(r["allowed"], true);
  EXPECT_FALSE(r.contains("patch"));
  EXPECT_FALSE(r.contains("warnings"));
}

TEST_F(InjectWebhookTest, MalformedReviewsGetCleanAnswersAndTheServerKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(Start());
  for (const std::string body : {"", "{not json", "[1,2]", "{\"request\":{\"uid\":7}}",
                                 "{\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
                                 "\"object\":{\"metadata\":{\"annotations\":{\"llmix.io/inject\":"
                                 "\"true\"}},\"spec\":{\"containers\":{}}}}}"}) {
    const json r = Mutate(body);
    EXPECT_EQ(r["allowed"], true) << body;
    EXPECT_FALSE(r.contains("patch")) << body;
    ASSERT_TRUE(r.contains("warnings")) << body;
    EXPECT_NE(r["warnings"][0].get<std::string>().find("llmix-sidecar injector"),
              std::string::npos);
  }
  EXPECT_TRUE(process_->Running());
  auto health = Client()->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // SIGTERM ends it cleanly.
  process_->Signal(SIGTERM);
  auto status = process_->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << process_->Stderr();
}

TEST_F(InjectWebhookTest, DenyOnErrorDeniesBadAnnotationsWithTheirName) {
  ASSERT_NO_FATAL_FAILURE(Start({"--deny-on-error"}));
  const json r =
      Mutate(Review(Pod({{"llmix.io/inject", "true"}, {"llmix.io/cpu-limit", "many"}})).dump());
  EXPECT_EQ(r["allowed"], false);
  EXPECT_NE(r["status"]["message"].get<std::string>().find("llmix.io/cpu-limit"),
            std::string::npos);
}

TEST_F(InjectWebhookTest, ServesOnlyTlsWithItsCertificate) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto untrusted = Client("")->Get("/healthz");
  EXPECT_FALSE(untrusted);  // the system store does not know the throwaway CA
  httplib::Client plain("127.0.0.1", port_);
  plain.set_connection_timeout(5);
  plain.set_read_timeout(5);
  auto res = plain.Get("/healthz");
  EXPECT_TRUE(!res || res->status != 200);
}

// cert-manager renews the Secret in place; new connections get the new certificate without a
// restart.
TEST_F(InjectWebhookTest, RenewedCertificateIsServedWithoutARestart) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto before = Client("ca.crt")->Get("/healthz");
  ASSERT_TRUE(before) << httplib::to_string(before.error());
  ASSERT_NO_FATAL_FAILURE(MakeCerts(dir_, "new-"));
  ASSERT_FALSE(Client("new-ca.crt")->Get("/healthz"));  // still the old certificate
  ASSERT_EQ(rename(dir_.File("new-tls.key").c_str(), dir_.File("tls.key").c_str()), 0);
  ASSERT_EQ(rename(dir_.File("new-tls.crt").c_str(), dir_.File("tls.crt").c_str()), 0);
  EXPECT_TRUE(WaitFor([&] { return static_cast<bool>(Client("new-ca.crt")->Get("/healthz")); }));
  EXPECT_FALSE(Client("ca.crt")->Get("/healthz"));
  EXPECT_NE(process_->Stderr().find("tls certificate reloaded"), std::string::npos);
  EXPECT_TRUE(process_->Running());
}

TEST(InjectWebhookFlags, MissingCertificateIsAUsageError) {
  auto r = RunCommand({LLMIX_SIDECAR_BIN, "inject-webhook", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--tls-cert"), std::string::npos) << r.err;
  auto bad = RunCommand({LLMIX_SIDECAR_BIN, "inject-webhook", "--tls-cert", "a", "--tls-key", "b",
                         "--admin-port", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--admin-port"), std::string::npos) << bad.err;
  auto items = RunCommand({LLMIX_SIDECAR_BIN, "inject-webhook", "--tls-cert", "a", "--tls-key", "b",
                           "--registry-items", "current.json=/etc/passwd"});
  EXPECT_EQ(items.exit_code, 2);
  EXPECT_NE(items.err.find("--registry-items"), std::string::npos) << items.err;
  auto unreadable = RunCommand({LLMIX_SIDECAR_BIN, "inject-webhook", "--listen", "127.0.0.1:0",
                                "--tls-cert", "/nonexistent.crt", "--tls-key", "/nonexistent.key"});
  EXPECT_EQ(unreadable.exit_code, 1);
  EXPECT_NE(unreadable.err.find("tls"), std::string::npos) << unreadable.err;
}

}  // namespace
}  // namespace llmix::testing
