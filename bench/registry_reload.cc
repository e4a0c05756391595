// Registry reload figures: (1) publish and load time of a registry with N presets (default
// 1000); (2) a running sidecar under a bounded concurrent load while the registry is
// re-published R times (default 100): reload pick-up latency and failed calls (must be 0).
//   registry_reload [N] [R]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/clock.h"
#include "registry/publisher.h"
#include "registry/snapshot_loader.h"
#include "tests/e2e/sidecar_process.h"

namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Preset(int i, const std::string& model) {
  return "---\nname: p" + std::to_string(i) +
         "\ndescription: generated\nmetadata:\n  snoai-llmix:\n    common:\n      provider: "
         "openai\n      model: " +
         model + "\n      temperature: 0.2\n---\nbody\n";
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int reloads = argc > 2 ? std::atoi(argv[2]) : 100;
  llmix::testing::TempDir dir;
  const std::string root = dir.File("llm");
  std::filesystem::create_directories(root + "/source/bench");
  for (int i = 0; i < n; ++i) {
    llmix::testing::WriteFile(root + "/source/bench/p" + std::to_string(i) + ".mda",
                              Preset(i, "m0"));
  }
  llmix::SystemClock clock;
  llmix::registry::RegistryPublisher publisher(root, clock);
  auto t0 = Clock::now();
  auto pub = publisher.Publish();
  auto t1 = Clock::now();
  if (!pub.ok()) return 1;
  auto snap = llmix::registry::LoadSnapshot(root, clock);
  auto t2 = Clock::now();
  if (!snap.ok()) return 1;
  std::printf("| registry of %d presets | ms |\n|---|---|\n| publish (validate + write + fsync) | %.1f |\n"
              "| load + verify (what a reload costs) | %.1f |\n\n",
              n, Ms(t1 - t0), Ms(t2 - t1));

  llmix::testing::SidecarProcess sidecar({"--registry", root, "--dummy-upstream"}, {});
  if (!sidecar.ready()) return 1;
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failed{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      for (int i = 0; i < 200000 && !stop.load(); ++i) {  // bounded
        llmix::sidecar::v1::CallRequest req;
        req.set_preset("bench/p" + std::to_string(i % n));
        req.add_messages()->set_role("user");
        req.mutable_messages(0)->set_text("hi");
        llmix::sidecar::v1::CallResponse resp;
        auto st = sidecar.Call(req, &resp);
        calls++;
        if (!st.ok() || !resp.success()) failed++;
      }
    });
  }
  std::vector<double> pickup_ms;
  for (int r = 1; r <= reloads; ++r) {
    const std::string model = "m" + std::to_string(r);
    llmix::testing::WriteFile(root + "/source/bench/p0.mda", Preset(0, model));
    auto s = Clock::now();
    if (!publisher.Publish().ok()) return 1;
    bool seen = llmix::testing::WaitFor([&] {
      llmix::sidecar::v1::CallRequest req;
      req.set_preset("bench/p0");
      req.add_messages()->set_role("user");
      req.mutable_messages(0)->set_text("probe");
      llmix::sidecar::v1::CallResponse resp;
      return sidecar.Call(req, &resp).ok() && resp.model() == model;
    });
    if (!seen) return 1;
    pickup_ms.push_back(Ms(Clock::now() - s));
  }
  stop = true;
  for (auto& t : load) t.join();
  std::sort(pickup_ms.begin(), pickup_ms.end());
  std::printf("| %d reloads under load (4 callers) | value |\n|---|---|\n", reloads);
  std::printf("| calls made | %d |\n| calls failed | %d |\n", calls.load(), failed.load());
  std::printf("| publish-to-served p50 ms | %.1f |\n| publish-to-served max ms | %.1f |\n",
              pickup_ms[pickup_ms.size() / 2], pickup_ms.back());
  return failed.load() == 0 ? 0 : 1;
}
