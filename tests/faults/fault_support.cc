#include "tests/faults/fault_support.h"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace llmix::testing {

int Tally::Count(const std::string& outcome) const {
  auto it = outcomes.find(outcome);
  return it == outcomes.end() ? 0 : it->second;
}

std::string Tally::ToString() const {
  std::string out;
  for (const auto& [k, v] : outcomes) absl::StrAppend(&out, k, "=", v, " ");
  return absl::StrCat(out, "(", calls, " calls, slowest ", slowest.count(), " ms)");
}

std::string OutcomeOf(const grpc::Status& status, const v1::CallResponse& resp) {
  if (!status.ok()) {
    // gRPC and absl share the canonical status codes.
    const std::string name =
        absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
    return "grpc:" + name;
  }
  if (resp.success()) return "success";
  return v1::ErrorCode_Name(resp.error().code());
}

Tally RunCalls(SidecarProcess& sidecar, int threads, int per_thread,
               const std::function<v1::CallRequest(int t, int i)>& make,
               std::chrono::milliseconds deadline) {
  Tally tally;
  std::mutex mu;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const v1::CallRequest req = make(t, i);
        const auto start = std::chrono::steady_clock::now();
        v1::CallResponse resp;
        const grpc::Status st = sidecar.Call(req, &resp, deadline);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        std::lock_guard<std::mutex> l(mu);
        tally.outcomes[OutcomeOf(st, resp)] += 1;
        tally.calls += 1;
        tally.slowest = std::max(tally.slowest, took);
      }
    });
  }
  for (auto& th : pool) th.join();
  return tally;
}

double Metric(SidecarProcess& sidecar, const std::string& series) {
  std::string body;
  if (sidecar.AdminGet("/metrics", &body) != 200) return -1;
  return MetricValue(body, series).value_or(0);
}

std::string OpenAiConfig(const std::string& caching_json) {
  std::string cfg = R"({"provider":"openai","model":"gpt-4o")";
  if (!caching_json.empty()) absl::StrAppend(&cfg, R"(,"caching":)", caching_json);
  return cfg + "}";
}

}  // namespace llmix::testing
