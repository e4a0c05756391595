// Wires one sidecar process: telemetry, upstream dispatcher, pipeline, worker pool, the gRPC
// service (with health and reflection) and the admin listener, plus graceful drain.
// Start/Drain are called from the main thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/logging.h"
#include "common/scheduler.h"
#include "common/telemetry.h"
#include "sidecar/options.h"

namespace grpc {
class Server;
}

namespace llmix::adapters {
class BatchHttpClient;
class Dispatcher;
class HttpTransport;
struct HttpTransportOptions;
}  // namespace llmix::adapters
namespace llmix::registry {
class SnapshotWatcher;
struct Snapshot;
}  // namespace llmix::registry
namespace llmix::pipeline {
class Pipeline;
struct PipelineMetrics;
struct PipelineState;
}  // namespace llmix::pipeline

namespace llmix::sidecar {

class AdminServer;
class BatchService;
class EmbedService;
class BearerAuth;
class FrontDoor;
class LlmixService;
class ReloadStatus;
class TracingSetup;
class WorkerPool;
struct ServiceMetrics;

class Sidecar {
 public:
  Sidecar(ServeOptions options, const Env& env);
  ~Sidecar();

  // Binds every listener and starts serving; writes the ready file last.
  absl::Status Start();
  // Graceful stop: refuse new calls, let in-flight ones finish within the grace period,
  // then stop the listeners and workers.
  void Drain();
  // Re-reads current.json now (SIGHUP); the watcher normally notices changes by itself.
  void ReloadNow();

  const std::vector<std::string>& grpc_addresses() const { return grpc_addresses_; }
  Logger& logger() { return logger_; }

 private:
  absl::Status WriteReadyFile() const;
  absl::Status StartRegistry();  // bad trust settings are a startup error
  // The provider batch RPCs over their own transport (same guard, proxy and CA settings).
  absl::Status StartBatches(const adapters::HttpTransportOptions& transport);
  // Result files of provider batches may be large: their body cap is at least this.
  static constexpr size_t kBatchMaxResponseBytes = 64u << 20;
  void OnSnapshot(absl::StatusOr<std::shared_ptr<const registry::Snapshot>> snapshot);
  // Gauges read at scrape time: breakers, AIMD windows, key pools, worker queue, revision.
  void RegisterStateGauges();
  std::string ConfigJson() const;

  ServeOptions options_;
  const Env& env_;
  SystemClock clock_;
  Logger logger_;
  MetricRegistry metrics_;
  std::unique_ptr<TracingSetup> tracing_;
  std::unique_ptr<pipeline::PipelineMetrics> pipeline_metrics_;
  std::unique_ptr<ServiceMetrics> service_metrics_;
  std::unique_ptr<adapters::Dispatcher> dispatcher_;
  // Provider batch APIs: their own transport (a larger body cap for result files).
  std::unique_ptr<adapters::HttpTransport> batch_transport_;
  std::unique_ptr<adapters::BatchHttpClient> batch_http_;
  std::unique_ptr<BatchService> batches_;
  // Embeddings / rerank (Embed RPC, /v1/embeddings, /v1/rerank, pipeline::Embedder).
  std::unique_ptr<adapters::HttpTransport> embed_transport_;
  std::unique_ptr<EmbedService> embeddings_;
  std::unique_ptr<pipeline::PipelineState> state_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<ThreadScheduler> scheduler_;  // retry backoffs and wait deadlines
  std::unique_ptr<ReloadStatus> reload_status_;
  std::unique_ptr<LlmixService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<BearerAuth> auth_;
  std::unique_ptr<FrontDoor> front_door_;
  std::string http_address_;
  std::unique_ptr<registry::SnapshotWatcher> watcher_;
  std::vector<std::string> grpc_addresses_;
  std::vector<std::string> unix_sockets_;
  std::string admin_address_;
};

}  // namespace llmix::sidecar
