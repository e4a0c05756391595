// Quick latency comparison on loopback: N sequential chat completions sent directly to the
// fake OpenAI upstream (keep-alive httplib client) vs through a real llmix-sidecar process
// (gRPC Call over TCP). Prints p50/p99 and the sidecar's added latency.
//   call_latency <path/to/llmix-sidecar> [N]
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "llmix/sidecar/v1/sidecar.grpc.pb.h"
#include "tests/e2e/sidecar_process.h"
#include "tests/fakes/fake_openai.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double p50_us, p99_us, mean_us;
};

Stats Summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  double sum = 0;
  for (double v : us) sum += v;
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], sum / us.size()};
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  llmix::testing::FakeOpenAi fake;
  const std::string body =
      R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi in five words."}],"temperature":0.2})";

  httplib::Client direct("http://127.0.0.1:" + std::to_string(fake.port()));
  direct.set_keep_alive(true);
  direct.set_tcp_nodelay(true);
  std::vector<double> direct_us;
  for (int i = 0; i < n + 100; ++i) {
    auto t0 = Clock::now();
    auto res = direct.Post("/v1/chat/completions", body, "application/json");
    auto t1 = Clock::now();
    if (!res || res->status != 200) return 1;
    if (i >= 100) direct_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }

  llmix::testing::SidecarProcess sidecar(
      {}, {{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "bench-key"}});
  if (!sidecar.ready()) {
    std::fprintf(stderr, "%s\n", sidecar.error().c_str());
    return 1;
  }
  auto req = llmix::testing::InlineRequest(
      R"({"provider":"openai","model":"gpt-4o-mini","common":{"temperature":0.2}})",
      "Say hi in five words.");
  std::vector<double> sidecar_us;
  for (int i = 0; i < n + 100; ++i) {
    llmix::sidecar::v1::CallResponse resp;
    auto t0 = Clock::now();
    auto st = sidecar.Call(req, &resp);
    auto t1 = Clock::now();
    if (!st.ok() || !resp.success()) return 1;
    if (i >= 100) sidecar_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  Stats d = Summarize(direct_us), s = Summarize(sidecar_us);
  std::printf("| path (n=%d, 1 connection) | p50 µs | p99 µs | mean µs |\n|---|---|---|---|\n", n);
  std::printf("| direct to fake upstream | %.0f | %.0f | %.0f |\n", d.p50_us, d.p99_us, d.mean_us);
  std::printf("| via sidecar gRPC Call | %.0f | %.0f | %.0f |\n", s.p50_us, s.p99_us, s.mean_us);
  std::printf("| added by sidecar | %.0f | %.0f | %.0f |\n", s.p50_us - d.p50_us,
              s.p99_us - d.p99_us, s.mean_us - d.mean_us);
  std::printf("\nratio sidecar/direct p50: %.2fx\n", s.p50_us / d.p50_us);
  return 0;
}
