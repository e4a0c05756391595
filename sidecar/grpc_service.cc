#include "sidecar/grpc_service.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/util/time_util.h"
#include "pipeline/call_telemetry.h"
#include "pipeline/routing_stage.h"
#include "sidecar/proto_mapping.h"

namespace llmix::sidecar {

namespace {

// A call in flight: its pipeline context and when it started. Freed when the call finishes.
struct CallJob {
  pipeline::CallContext ctx;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// Transport attributes of the call span, from its name: "pkg.Service/Method" is a gRPC call,
// "METHOD /route" an HTTP one (OTel rpc.* / http.* conventions).
void SetTransportAttributes(Span& span, std::string_view name) {
  if (size_t sp = name.find(' '); sp != std::string_view::npos) {
    span.SetAttribute("http.request.method", std::string(name.substr(0, sp)));
    span.SetAttribute("http.route", std::string(name.substr(sp + 1)));
    return;
  }
  span.SetAttribute("rpc.system", std::string("grpc"));
  if (size_t slash = name.rfind('/'); slash != std::string_view::npos) {
    span.SetAttribute("rpc.service", std::string(name.substr(0, slash)));
    span.SetAttribute("rpc.method", std::string(name.substr(slash + 1)));
  }
}

Priority PriorityOf(const v1::CallRequest& request) {
  switch (request.priority()) {
    case v1::PRIORITY_CRITICAL: return Priority::kCritical;
    case v1::PRIORITY_HIGH: return Priority::kHigh;
    case v1::PRIORITY_LOW: return Priority::kLow;
    default: return Priority::kNormal;
  }
}

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

}  // namespace

ServiceMetrics::ServiceMetrics(MetricRegistry& registry)
    : rejected(registry.AddCounter("llmix_calls_rejected_total",
                                   "Calls refused before running, by reason.", {"reason"})),
      rejected_queue_full(rejected.With({"queue_full"})),
      rejected_draining(rejected.With({"draining"})),
      in_flight(registry.AddGauge("llmix_calls_in_flight", "Calls inside the sidecar.", {})
                    .With({})),
      config_reloads(registry.AddCounter("llmix_config_reloads_total",
                                         "Registry reload attempts by result.", {"result"})),
      config_presets(registry.AddGauge("llmix_config_presets",
                                       "Presets in the active registry revision.", {})
                         .With({})),
      config_last_reload_ok(registry.AddGauge("llmix_config_last_reload_success",
                                              "1 when the last registry reload succeeded.", {})
                                .With({})),
      stream_ttft(registry
                      .AddHistogram("llmix_stream_time_to_first_token_seconds",
                                    "Streamed calls: from the request to the first delta sent.",
                                    {}, {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})
                      .With({})),
      stream_tokens_per_s(
          registry
              .AddHistogram("llmix_stream_tokens_per_second",
                            "Streamed calls: output tokens per second after the first delta.",
                            {}, {1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000})
              .With({})),
      streams_aborted(registry.AddCounter(
          "llmix_streams_aborted_total",
          "Streamed calls that ended with an error after the first delta, by reason.",
          {"reason"})) {}

LlmixService::LlmixService(pipeline::PipelineState& state, const pipeline::Pipeline& pipeline,
                           WorkerPool& pool, ServiceMetrics& metrics,
                           const ReloadStatus& reload_status, std::string registry_dir)
    : state_(state),
      pipeline_(pipeline),
      pool_(pool),
      metrics_(metrics),
      handoff_(pool, metrics.rejected_queue_full, state),
      reload_status_(reload_status),
      registry_dir_(std::move(registry_dir)),
      inline_max_in_flight_(std::max<int64_t>(1, std::thread::hardware_concurrency())) {}

// A Call's reactor: counts the RPC as in flight from creation until gRPC reports it fully
// done (response flushed or cancelled), which is what a graceful drain must wait for.
class LlmixService::CallReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit CallReactor(LlmixService* service) : service_(service) { service_->CallStarted(); }
  void OnDone() override {
    service_->CallEnded();
    delete this;
  }
  // The client went away (or the server is shutting down): stop retries and wake any wait
  // the call is parked in (backoff, AIMD queue, singleflight).
  void OnCancel() override {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
    if (ctx_ != nullptr) Cancel(*ctx_);
  }
  // The pipeline context of this call, while it exists (Detach before freeing it).
  void Attach(pipeline::CallContext* ctx) {
    absl::MutexLock l(&mu_);
    ctx_ = ctx;
    if (cancelled_) Cancel(*ctx_);
  }
  void Detach() {
    absl::MutexLock l(&mu_);
    ctx_ = nullptr;
  }

 private:
  static void Cancel(pipeline::CallContext& ctx) {
    ctx.cancelled.store(true);
    ctx.upstream.cancel.Cancel();
  }

  LlmixService* service_;
  absl::Mutex mu_;
  pipeline::CallContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

bool LlmixService::PoolHandoff::TryHandOff(absl::AnyInvocable<void() &&> task,
                                           Priority priority) {
  if (pool_.TrySubmit(std::move(task), priority)) return true;
  rejected_.Add();
  if (state_.routing) {
    state_.routing->shed.With({std::string(PriorityName(priority)), "queue_full"}).Add();
  }
  return false;
}

grpc::ServerUnaryReactor* LlmixService::Call(grpc::CallbackServerContext* context,
                                             const v1::CallRequest* request,
                                             v1::CallResponse* response) {
  auto* reactor = new CallReactor(this);
  if (std::optional<grpc::Status> refused = Refusal(*context)) {
    reactor->Finish(*refused);
    return reactor;
  }
  // Under load, an idle worker runs the call so this thread goes back to reading requests;
  // otherwise (few calls, or no idle worker) the call starts here.
  if (in_flight_now_.load(std::memory_order_relaxed) > inline_max_in_flight_ &&
      pool_.TrySubmitToIdle(
          [this, context, request, response, reactor]() mutable {
            RunCall(context, request, response, reactor, /*on_worker=*/true);
          },
          PriorityOf(*request))) {
    return reactor;
  }
  RunCall(context, request, response, reactor, /*on_worker=*/false);
  return reactor;
}

void LlmixService::Execute(pipeline::CallContext& ctx, const std::string& span_name,
                           std::chrono::steady_clock::time_point started,
                           absl::AnyInvocable<void(pipeline::CallContext&) &&> finish,
                           absl::AnyInvocable<void(pipeline::CallContext&) &&> before_end) {
  ctx.span = state_.tracer.StartSpan(span_name, &ctx.input.parent, SpanKind::kServer);
  SetTransportAttributes(*ctx.span, span_name);
  ctx.span->SetAttribute("llmix.priority", std::string(PriorityName(ctx.input.priority)));
  ctx.result.trace_id = ctx.span->context().TraceIdHex();
  auto complete = [this, &ctx, started, finish = std::move(finish),
                   before_end = std::move(before_end)]() mutable {
    if (before_end) std::move(before_end)(ctx);
    pipeline::RecordCallTelemetry(
        state_, ctx,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    ctx.span->End();
    std::move(finish)(ctx);
  };
  if (!ctx.status.ok()) {  // refused by the front end's own mapping (INVALID_ARGUMENT, ...)
    complete();
    return;
  }
  pipeline_.Run(ctx, std::move(complete));
}

void LlmixService::RunCall(grpc::CallbackServerContext* context, const v1::CallRequest* request,
                           v1::CallResponse* response, grpc::ServerUnaryReactor* reactor,
                           bool on_worker) {
  auto job = std::make_unique<CallJob>();
  pipeline::CallContext& ctx = job->ctx;

  ctx.status = CallInputOf(*context, *request, &ctx.input);
  ctx.handoff = on_worker ? nullptr : &handoff_;

  auto* call_reactor = static_cast<CallReactor*>(reactor);
  CallJob* raw = job.release();
  if (ctx.status.ok()) call_reactor->Attach(&raw->ctx);
  Execute(raw->ctx, "llmix.sidecar.v1.Llmix/Call", raw->started,
          [raw, response, call_reactor](pipeline::CallContext& c) mutable {
            std::unique_ptr<CallJob> done_job(raw);
            call_reactor->Detach();
            grpc::Status status = ToGrpcStatus(c.status);
            if (c.status.ok()) ToCallResponse(std::move(c.result), response);
            done_job.reset();
            call_reactor->Finish(status);
          });
}

absl::Status LlmixService::RunAndWait(pipeline::CallContext& ctx, const std::string& span_name) {
  if (draining_.load()) {
    metrics_.rejected_draining.Add();
    return absl::UnavailableError("sidecar is draining");
  }
  CallStarted();
  {
    absl::MutexLock l(&in_flight_mu_);
    waiting_.insert(&ctx);
  }
  absl::Notification done;
  ctx.handoff = &handoff_;
  Execute(ctx, span_name, std::chrono::steady_clock::now(),
          [&done](pipeline::CallContext&) { done.Notify(); });
  done.WaitForNotification();
  {
    absl::MutexLock l(&in_flight_mu_);
    waiting_.erase(&ctx);
  }
  CallEnded();
  return absl::OkStatus();
}

void LlmixService::CancelWaiting() {
  absl::MutexLock l(&in_flight_mu_);
  for (pipeline::CallContext* ctx : waiting_) {
    ctx->cancelled.store(true);
    ctx->upstream.cancel.Cancel();
  }
}

absl::Status LlmixService::CallInputOf(const grpc::CallbackServerContext& context,
                                       const v1::CallRequest& request, pipeline::CallInput* in) {
  const auto& md = context.client_metadata();
  if (auto it = md.find("traceparent"); it != md.end()) {
    in->parent =
        SpanContext::FromTraceparent(std::string_view(it->second.data(), it->second.size()));
  }
  const auto deadline = context.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    in->timeout = absl::FromChrono(deadline - std::chrono::system_clock::now());
  }
  return ToCallInput(request, in);
}

std::optional<grpc::Status> LlmixService::Refusal(const grpc::CallbackServerContext& context) {
  if (!Authorized(context)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing or wrong bearer token (authorization metadata)");
  }
  if (draining_.load()) {
    metrics_.rejected_draining.Add();
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "sidecar is draining");
  }
  return std::nullopt;
}

bool LlmixService::Authorized(const grpc::CallbackServerContext& context) const {
  if (auth_ == nullptr || !auth_->enabled()) return true;
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return false;
  return auth_->Allows(std::string_view(it->second.data(), it->second.size()));
}

void LlmixService::CallStarted() {
  metrics_.in_flight.Add(1);
  in_flight_now_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock l(&in_flight_mu_);
  ++in_flight_;
}

void LlmixService::CallEnded() {
  metrics_.in_flight.Add(-1);
  in_flight_now_.fetch_sub(1, std::memory_order_relaxed);
  absl::MutexLock l(&in_flight_mu_);
  --in_flight_;
}

bool LlmixService::WaitIdle(absl::Duration timeout) {
  absl::MutexLock l(&in_flight_mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(in_flight_mu_) { return in_flight_ == 0; };
  return in_flight_mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

grpc::ServerUnaryReactor* LlmixService::GetConfigInfo(grpc::CallbackServerContext* context,
                                                      const v1::GetConfigInfoRequest*,
                                                      v1::ConfigInfo* response) {
  if (!Authorized(*context)) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                 "missing or wrong bearer token (authorization metadata)"));
    return reactor;
  }
  auto snapshot = state_.snapshots.Get();
  response->set_revision(snapshot->revision);
  response->set_manifest_sha256(snapshot->manifest_sha256);
  response->set_registry_dir(registry_dir_);
  if (snapshot->loaded_at != absl::InfinitePast()) {
    *response->mutable_loaded_at() = ToProtoTime(snapshot->loaded_at);
  }
  std::vector<const registry::Preset*> presets;
  for (const auto& [id, p] : snapshot->presets) presets.push_back(p.get());
  std::sort(presets.begin(), presets.end(),
            [](const auto* a, const auto* b) { return a->id < b->id; });
  for (const registry::Preset* p : presets) {
    v1::PresetInfo* info = response->add_presets();
    info->set_id(p->id);
    info->set_provider(p->config.provider);
    info->set_model(p->config.model);
    if (p->config.description) info->set_description(*p->config.description);
  }
  auto [at, error] = reload_status_.Get();
  response->set_last_reload_error(error);
  if (at != absl::InfinitePast()) *response->mutable_last_reload_at() = ToProtoTime(at);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace llmix::sidecar
