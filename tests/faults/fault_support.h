// Shared pieces of the fault matrix: run a bounded batch of concurrent calls and tally how
// each one ended (every call must end exactly once, within its deadline), and read a
// Prometheus series from a sidecar's /metrics.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "tests/e2e/sidecar_process.h"

namespace llmix::testing {

// How calls ended: "success", an error code name for a structured failure (e.g.
// "ERROR_CODE_UPSTREAM_TIMEOUT"), or "grpc:<CODE>" for a gRPC status (e.g.
// "grpc:RESOURCE_EXHAUSTED").
struct Tally {
  std::map<std::string, int> outcomes;
  int calls = 0;
  std::chrono::milliseconds slowest{0};
  int Count(const std::string& outcome) const;
  std::string ToString() const;  // "success=3 grpc:UNAVAILABLE=1 (slowest 120 ms)"
};

// `threads` client threads each make `per_thread` calls in a row, request i of thread t built
// by make(t, i), each with `deadline`. Returns once every call has returned.
Tally RunCalls(SidecarProcess& sidecar, int threads, int per_thread,
               const std::function<v1::CallRequest(int t, int i)>& make,
               std::chrono::milliseconds deadline);

// The outcome label of one finished call (as in Tally).
std::string OutcomeOf(const grpc::Status& status, const v1::CallResponse& resp);

// GET /metrics and read one series (MetricValue); 0 when absent, -1 when unreachable.
double Metric(SidecarProcess& sidecar, const std::string& series);

// An OpenAI-protocol inline config, with an optional "caching" object.
std::string OpenAiConfig(const std::string& caching_json = "");

}  // namespace llmix::testing
