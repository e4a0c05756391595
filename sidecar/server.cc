#include "sidecar/server.h"

#include "absl/strings/ascii.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/dispatcher.h"
#include "adapters/http_transport.h"
#include "nlohmann/json.hpp"
#include "pipeline/cache/cache_policy.h"
#include "pipeline/pipeline_builder.h"
#include "registry/snapshot_loader.h"
#include "registry/watcher.h"
#include "sidecar/admin_server.h"
#include "sidecar/auth.h"
#include "sidecar/batch_service.h"
#include "adapters/provider_batch.h"
#include "sidecar/front_door.h"
#include "sidecar/cache_setup.h"
#include "sidecar/cost_setup.h"
#include "sidecar/grpc_service.h"
#include "sidecar/priority_setup.h"
#include "sidecar/prometheus_text.h"
#include "sidecar/resilience_setup.h"
#include "sidecar/telemetry_setup.h"
#include "sidecar/worker_pool.h"

namespace llmix::sidecar {

namespace {

// "https://user@api.example.com:8443/v1" -> "api.example.com:8443": a bounded, secret-free
// label (base URLs come from config; the scheme and path add nothing).
std::string UpstreamLabel(const std::string& base_url) {
  return base_url.empty() ? "default" : adapters::UrlAuthority(base_url);
}

LogLevel LevelOf(const std::string& text) {
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(text, &level);
  return level;
}

// "unix:/p", "unix:///p" or "unix://rel/p" -> absolute socket path; empty for TCP addresses.
std::string UnixSocketPath(const std::string& address) {
  if (!absl::StartsWith(address, "unix:")) return "";
  std::string path = address.substr(5);
  if (absl::StartsWith(path, "//")) path = path.substr(2);
  return std::filesystem::absolute(path).lexically_normal().string();
}

absl::Status PrepareUnixSocket(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot create the directory of ", path, ": ",
                                               ec.message()));
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
    }
    unlink(path.c_str());  // a stale socket from a previous run
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Sidecar::StartBatches(const adapters::HttpTransportOptions& transport) {
  adapters::HttpTransportOptions topts = transport;
  topts.max_response_bytes = std::max<size_t>(options_.max_response_bytes, kBatchMaxResponseBytes);
  batch_transport_ = std::make_unique<adapters::HttpTransport>(topts);
  batch_http_ = std::make_unique<adapters::TransportBatchHttpClient>(*batch_transport_);
  BatchServiceOptions bopts;
  bopts.state_dir = options_.state_dir.empty() ? ResolveStateDir(env_) : options_.state_dir;
  bopts.max_prompt_bytes = static_cast<size_t>(options_.max_request_bytes);
  batches_ = std::make_unique<BatchService>(*state_, *batch_http_, metrics_, bopts);
  service_->SetBatchService(batches_.get());
  // Embeddings and rerank: their own transport; the semantic cache embeds through them too.
  embed_transport_ = std::make_unique<adapters::HttpTransport>(transport);
  EmbedServiceOptions eopts;
  eopts.max_input_bytes = static_cast<size_t>(options_.max_request_bytes);
  embeddings_ = std::make_unique<EmbedService>(*state_, *embed_transport_, metrics_, eopts);
  service_->SetEmbedService(embeddings_.get());
  state_->embedder = embeddings_.get();
  return absl::OkStatus();
}

Sidecar::Sidecar(ServeOptions options, const Env& env)
    : options_(std::move(options)), env_(env), logger_(LevelOf(options_.log_level)) {}

Sidecar::~Sidecar() { Drain(); }

absl::Status Sidecar::Start() {
  auto tracing = TracingSetup::Create(env_, metrics_, logger_);
  if (!tracing.ok()) return tracing.status();
  tracing_ = *std::move(tracing);
  pipeline_metrics_ = std::make_unique<pipeline::PipelineMetrics>(metrics_);
  service_metrics_ = std::make_unique<ServiceMetrics>(metrics_);
  adapters::DispatcherOptions dopts;
  dopts.dummy_upstream = options_.dummy_upstream;
  dopts.transport.connect_timeout = absl::Milliseconds(options_.connect_timeout_ms);
  dopts.transport.max_response_bytes = options_.max_response_bytes;
  dopts.transport.ca_cert_file = options_.ca_file;
  dopts.logger = &logger_;
  dopts.transport.allow_link_local = options_.allow_link_local_upstreams;
  // Standard proxy variables, as curl reads them (upstreams are HTTPS in production).
  for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}) {
    if (auto v = env_.Get(name); v && !v->empty()) {
      dopts.transport.proxy_url = *v;
      break;
    }
  }
  if (auto key = env_.Get("HELICONE_API_KEY"); key && !key->empty()) {
    dopts.helicone.api_key = *key;
    for (auto [var, field] : {std::pair{"HELICONE_OPENAI_BASE_URL", &dopts.helicone.openai_base_url},
                              std::pair{"HELICONE_ANTHROPIC_BASE_URL", &dopts.helicone.anthropic_base_url}}) {
      if (auto v = env_.Get(var)) {
        std::string trimmed(absl::StripAsciiWhitespace(*v));
        if (!trimmed.empty()) *field = std::move(trimmed);
      }
    }
  }
  for (const char* name : {"NO_PROXY", "no_proxy"}) {
    if (auto v = env_.Get(name); v && !v->empty()) {
      dopts.transport.no_proxy = *v;
      break;
    }
  }
  dispatcher_ = std::make_unique<adapters::Dispatcher>(dopts);

  pipeline::PipelineOptions popts;
  popts.default_timeout = absl::Milliseconds(options_.default_timeout_ms);
  popts.stream_idle_timeout = absl::Milliseconds(options_.stream_idle_timeout_ms);
  popts.max_messages = options_.max_messages;
  popts.max_request_bytes = options_.max_request_bytes;
  popts.trace_content =
      options_.trace_content ||
      absl::AsciiStrToLower(env_.Get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
                                .value_or("")) == "true";
  state_.reset(new pipeline::PipelineState{popts, clock_, env_, logger_, tracing_->tracer(),
                                           *pipeline_metrics_, *dispatcher_, {}});
  if (auto st = InstallCaches(options_, *state_); !st.ok()) return st;
  if (auto st = InstallCostAccounting(options_, metrics_, *state_); !st.ok()) return st;
  pool_ = std::make_unique<WorkerPool>(options_.workers, options_.queue_size);
  scheduler_ = std::make_unique<ThreadScheduler>(clock_);
  if (auto st = InstallResilience(options_, env_, *state_, *scheduler_, *pool_); !st.ok()) {
    return st;
  }
  InstallPriority(metrics_, *state_, *pool_);
  pipeline_ = pipeline::BuildPipeline(*state_);
  reload_status_ = std::make_unique<ReloadStatus>();
  service_ = std::make_unique<LlmixService>(*state_, *pipeline_, *pool_, *service_metrics_,
                                            *reload_status_, options_.registry_dir);

  if (absl::Status st = StartBatches(dopts.transport); !st.ok()) return st;

  auto auth = BearerAuth::FromFile(options_.auth_token_file);
  if (!auth.ok()) return auth.status();
  auth_ = std::make_unique<BearerAuth>(*std::move(auth));
  service_->RequireAuth(*auth_);

  if (absl::Status st = StartRegistry(); !st.ok()) return st;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Oversized requests must reach validation (INVALID_ARGUMENT naming the field) rather than
  // be cut by the transport; the transport limit only bounds memory.
  builder.SetMaxReceiveMessageSize(std::max(options_.max_request_bytes * 2, 8 << 20));
  std::vector<int> ports(options_.grpc_listen.size(), 0);
  std::vector<std::string> addrs;
  for (size_t i = 0; i < options_.grpc_listen.size(); ++i) {
    std::string addr = options_.grpc_listen[i];
    if (std::string path = UnixSocketPath(addr); !path.empty()) {
      if (auto st = PrepareUnixSocket(path); !st.ok()) return st;
      unix_sockets_.push_back(path);
      addr = "unix:" + path;
    }
    addrs.push_back(addr);
    builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &ports[i]);
  }
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_) {
    return absl::UnavailableError("gRPC server failed to start (address in use or invalid?)");
  }
  for (size_t i = 0; i < addrs.size(); ++i) {
    if (absl::StartsWith(addrs[i], "unix:")) {
      grpc_addresses_.push_back(addrs[i]);
      continue;
    }
    if (ports[i] == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", addrs[i]));
    }
    grpc_addresses_.push_back(addrs[i].substr(0, addrs[i].rfind(':') + 1) +
                              std::to_string(ports[i]));
  }
  for (const std::string& path : unix_sockets_) chmod(path.c_str(), 0660);

  RegisterStateGauges();
  AdminServer::Handlers admin_handlers;
  admin_handlers.ready = [this] { return service_ && !service_->draining(); };
  admin_handlers.metrics = [this] { return RenderPrometheusText(metrics_); };
  admin_handlers.config = [this] { return ConfigJson(); };
  admin_ = std::make_unique<AdminServer>(std::move(admin_handlers));
  auto admin = admin_->Start(options_.admin_listen);
  if (!admin.ok()) return admin.status();
  admin_address_ = *admin;

  if (!options_.http_listen.empty()) {
    front_door_ = std::make_unique<FrontDoor>(*service_, *state_, *auth_, options_.workers);
    auto http = front_door_->Start(options_.http_listen);
    if (!http.ok()) return http.status();
    http_address_ = *http;
    logger_.Info("http front door listening", {{"address", std::string_view(http_address_)}});
  }

  for (const auto& a : grpc_addresses_) {
    logger_.Info("grpc listening", {{"address", std::string_view(a)}});
  }
  logger_.Info("admin listening", {{"address", std::string_view(admin_address_)}});
  if (options_.dummy_upstream) {
    logger_.Info("offline mode: every provider call is answered by the dummy responder");
  }
  return WriteReadyFile();
}

absl::Status Sidecar::StartRegistry() {
  if (options_.registry_dir.empty()) return absl::OkStatus();
  // The first load happens here, before serving, so a healthy registry is live at once; a
  // broken one is reported and the watcher keeps trying (inline configs still work).
  registry::SnapshotWatcher::Options wopts;
  wopts.poll_interval = absl::Milliseconds(options_.registry_poll_ms);
  wopts.trust.min_signatures = options_.registry_min_signatures;
  if (!options_.registry_min_revision.empty()) {
    wopts.trust.minimum_revision = options_.registry_min_revision;
  }
  if (!options_.registry_trust_manifest.empty()) {
    absl::Status st = registry::ApplyTrustManifest(options_.registry_trust_manifest, &wopts.trust);
    if (!st.ok()) return st;
  }
  for (const std::string& spec : options_.registry_trusted_keys) {
    auto key = registry::LoadRootKey(spec, /*is_private=*/false);
    if (!key.ok()) return key.status();
    wopts.trust.trusted_keys.push_back(*std::move(key));
  }
  auto first = registry::LoadSnapshot(options_.registry_dir, clock_, &wopts.trust);
  std::shared_ptr<const registry::Snapshot> current = first.ok() ? *first : nullptr;
  OnSnapshot(std::move(first));
  watcher_ = std::make_unique<registry::SnapshotWatcher>(
      options_.registry_dir, clock_, wopts,
      [this](absl::StatusOr<std::shared_ptr<const registry::Snapshot>> s) {
        OnSnapshot(std::move(s));
      },
      current);
  if (absl::Status st = watcher_->Start(); !st.ok()) {
    const std::string error(st.message());
    logger_.Error("registry watcher failed to start", {{"error", std::string_view(error)}});
  }
  return absl::OkStatus();
}

void Sidecar::OnSnapshot(absl::StatusOr<std::shared_ptr<const registry::Snapshot>> snapshot) {
  const absl::Time now = clock_.Wall();
  if (snapshot.ok()) {
    // A revision whose presets need what this process lacks (e.g. strict `redis` caching
    // without REDIS_URL) is refused like any other invalid revision.
    if (absl::Status st = cache::CheckCacheRequirements(**snapshot, state_->l2_cache != nullptr);
        !st.ok()) {
      snapshot = st;
    }
  }
  if (!snapshot.ok()) {
    // Keep serving the revision we have; say why the new one was refused.
    const std::string error(snapshot.status().message());
    reload_status_->Record(now, error);
    service_metrics_->config_reloads.With({"error"}).Add();
    service_metrics_->config_last_reload_ok.Set(0);
    const std::string active = state_->snapshots.Get()->revision;
    logger_.Warn("config reload failed; keeping the active revision",
                 {{"error", std::string_view(error)}, {"active_revision", std::string_view(active)}});
    return;
  }
  const registry::Snapshot& s = **snapshot;
  state_->snapshots.Set(*snapshot);
  reload_status_->Record(now, "");
  service_metrics_->config_reloads.With({"ok"}).Add();
  service_metrics_->config_last_reload_ok.Set(1);
  service_metrics_->config_presets.Set(static_cast<double>(s.presets.size()));
  logger_.Info("config revision active", {{"revision", std::string_view(s.revision)},
                                          {"presets", static_cast<int64_t>(s.presets.size())}});
}

void Sidecar::RegisterStateGauges() {
  pipeline::PipelineState* state = state_.get();
  WorkerPool* pool = pool_.get();
  LlmixService* service = service_.get();
  metrics_.AddCallbackGauge(
      "llmix_breaker_state",
      "Circuit breaker state per provider and upstream host: 0 closed, 1 half-open, 2 open.",
      {"provider", "upstream"}, [state]() {
        std::vector<GaugeSample> out;
        for (resilience::CircuitBreaker* b : state->resilience->breakers().All()) {
          const resilience::CircuitState s = b->state();
          const double v = s == resilience::CircuitState::kOpen       ? 2
                           : s == resilience::CircuitState::kHalfOpen ? 1
                                                                      : 0;
          out.push_back({{b->provider(), UpstreamLabel(b->base_url())}, v});
        }
        return out;
      });
  metrics_.AddCallbackGauge("llmix_aimd_limit",
                            "Adaptive (AIMD) concurrency window per provider.", {"provider"},
                            [state]() {
                              std::vector<GaugeSample> out;
                              for (const auto& [p, sem] : state->resilience->limiters().All()) {
                                out.push_back({{p}, static_cast<double>(sem->window())});
                              }
                              return out;
                            });
  metrics_.AddCallbackGauge(
      "llmix_key_pool_keys", "API keys per provider pool by state (alive | dead).",
      {"provider", "state"}, [state]() {
        std::vector<GaugeSample> out;
        for (const auto& [p, keys] : state->resilience->keys().All()) {
          const double alive = static_cast<double>(keys->alive_count());
          out.push_back({{p, "alive"}, alive});
          out.push_back({{p, "dead"}, static_cast<double>(keys->total_count()) - alive});
        }
        return out;
      });
  RegisterKeyLimitMetrics(metrics_, *state->resilience);
  metrics_.AddCallbackGauge("llmix_worker_queue_depth", "Calls waiting for a worker thread.", {},
                            [pool]() -> std::vector<GaugeSample> {
                              return {{{}, static_cast<double>(pool->queue_depth())}};
                            });
  metrics_.AddCallbackGauge("llmix_worker_queue_capacity",
                            "Calls that may wait for a worker before RESOURCE_EXHAUSTED.", {},
                            [pool]() -> std::vector<GaugeSample> {
                              return {{{}, static_cast<double>(pool->capacity())}};
                            });
  metrics_.AddCallbackGauge(
      "llmix_config_info", "The active registry revision (value 1; empty when none is loaded).",
      {"revision"}, [state]() -> std::vector<GaugeSample> {
        return {{{state->snapshots.Get()->revision}, 1.0}};
      });
  metrics_.AddCallbackGauge("llmix_draining", "1 once SIGTERM started a graceful drain.", {},
                            [service]() -> std::vector<GaugeSample> {
                              return {{{}, service->draining() ? 1.0 : 0.0}};
                            });
}

std::string Sidecar::ConfigJson() const {
  auto snapshot = state_->snapshots.Get();
  nlohmann::json j = {{"revision", snapshot->revision},
                      {"manifest_sha256", snapshot->manifest_sha256},
                      {"registry_dir", options_.registry_dir}};
  if (snapshot->loaded_at != absl::InfinitePast()) {
    j["loaded_at"] = absl::FormatTime(absl::RFC3339_full, snapshot->loaded_at, absl::UTCTimeZone());
  }
  std::vector<const registry::Preset*> presets;
  for (const auto& [id, p] : snapshot->presets) presets.push_back(p.get());
  std::sort(presets.begin(), presets.end(), [](auto* a, auto* b) { return a->id < b->id; });
  j["presets"] = nlohmann::json::array();
  for (const registry::Preset* p : presets) {
    j["presets"].push_back({{"id", p->id}, {"provider", p->config.provider}, {"model", p->config.model}});
  }
  auto [at, error] = reload_status_->Get();
  j["last_reload_error"] = error;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void Sidecar::ReloadNow() {
  if (watcher_) watcher_->CheckNow();
}

absl::Status Sidecar::WriteReadyFile() const {
  if (options_.ready_file.empty()) return absl::OkStatus();
  nlohmann::json j = {{"pid", getpid()}, {"grpc", grpc_addresses_}, {"admin", admin_address_}};
  if (!http_address_.empty()) j["http"] = http_address_;
  const std::string tmp = options_.ready_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump() << "\n";
    if (!f) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), options_.ready_file.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", options_.ready_file));
  }
  return absl::OkStatus();
}

void Sidecar::Drain() {
  if (!grpc_server_) return;
  logger_.Info("draining", {{"grace_ms", int64_t{options_.drain_grace_ms}}});
  service_->BeginDrain();
  if (auto* health = grpc_server_->GetHealthCheckService()) health->SetServingStatus(false);
  // In-flight calls may finish within the grace period; new ones get UNAVAILABLE meanwhile.
  // Then shut the transport down at once: gRPC's own graceful wait would also hold idle
  // client connections open (GOAWAY round trips), which only delays the exit.
  const bool idle = service_->WaitIdle(absl::Milliseconds(options_.drain_grace_ms));
  if (!idle) logger_.Warn("drain grace period over; cancelling the calls still in flight");
  // Calls parked in a backoff or an AIMD queue end now rather than at their timers.
  if (state_ && state_->resilience) state_->resilience->BeginShutdown();
  if (scheduler_) scheduler_->FireAllNow();
  service_->CancelWaiting();             // front-door calls still running after the grace
  if (front_door_) front_door_->Stop();
  grpc_server_->Shutdown(std::chrono::system_clock::now());
  grpc_server_->Wait();
  if (watcher_) watcher_->Stop();
  pool_->Shutdown();
  if (scheduler_) scheduler_->Shutdown();
  if (admin_) admin_->Stop();
  for (const std::string& path : unix_sockets_) unlink(path.c_str());
  grpc_server_.reset();
  // The last calls' spans go out before the process exits (bounded: a dead collector does
  // not hold the exit).
  if (tracing_) tracing_->Shutdown(absl::Seconds(2));
  logger_.Info("stopped");
}

}  // namespace llmix::sidecar
