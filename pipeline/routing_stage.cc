#include "pipeline/routing_stage.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace llmix::pipeline {

namespace {

constexpr char kReroutePayload[] = "llmix.sidecar/routing-reroute";

HistogramFamily& WaitHistogram(MetricRegistry& registry) {
  return registry.AddHistogram(
      "llmix_queue_wait_seconds",
      "Time a call waited, by queue (worker: for a worker thread; permit: for its AIMD and "
      "global concurrency permits) and priority.",
      {"queue", "priority"}, LatencyBucketsSeconds());
}

}  // namespace

void TargetWait::End() {
  if (!ended.exchange(true) && queues != nullptr) queues->Leave(key);
}

std::shared_ptr<TargetWait> TargetQueues::TryEnter(const std::string& provider,
                                                   const std::string& model,
                                                   const std::string& base_url, Priority priority,
                                                   const registry::RoutingRule& rule, int* depth) {
  std::string key = absl::StrCat(provider, "\n", model, "\n", base_url);
  {
    absl::MutexLock l(&mu_);
    Entry& e = targets_[key];
    if (e.provider.empty()) {
      e.provider = provider;
      e.model = model;
    }
    *depth = e.waiting;
    const bool busy = e.waiting >= rule.max_queue_depth;
    const bool below = PriorityIndex(priority) > PriorityIndex(rule.min_priority_when_busy);
    if (busy && below && priority != Priority::kCritical) return nullptr;
    ++e.waiting;
  }
  auto wait = std::make_shared<TargetWait>();
  wait->queues = this;
  wait->key = std::move(key);
  return wait;
}

void TargetQueues::Leave(const std::string& key) {
  absl::MutexLock l(&mu_);
  auto it = targets_.find(key);
  if (it != targets_.end() && it->second.waiting > 0) --it->second.waiting;
}

std::vector<TargetQueues::Depth> TargetQueues::Depths() const {
  absl::MutexLock l(&mu_);
  std::vector<Depth> out;
  for (const auto& [key, e] : targets_) out.push_back({e.provider, e.model, e.waiting});
  return out;
}

RoutingState::RoutingState(MetricRegistry& registry)
    : shed(registry.AddCounter("llmix_calls_shed_total",
                               "Calls shed by priority backpressure, by priority and reason "
                               "(queue_full | target_busy | rerouted).",
                               {"priority", "reason"})),
      wait_seconds(WaitHistogram(registry)) {}

RoutingState::RoutingState()
    : own_registry(std::make_unique<MetricRegistry>()),
      shed(own_registry->AddCounter("llmix_calls_shed_total", "", {"priority", "reason"})),
      wait_seconds(WaitHistogram(*own_registry)) {}

bool IsRerouteStatus(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         status.GetPayload(kReroutePayload).has_value();
}

void RecordReroute(PipelineState& state, const CallContext& ctx, bool moved_on,
                   absl::Status* status) {
  if (state.routing) {
    state.routing->shed
        .With(
            {std::string(PriorityName(ctx.input.priority)), moved_on ? "rerouted" : "target_busy"})
        .Add();
  }
  if (!moved_on) *status = absl::ResourceExhaustedError(status->message());
}

const registry::RoutingRule* RoutingStage::RuleFor(const CallContext& ctx) {
  if (ctx.preset == nullptr) return nullptr;
  const registry::SidecarSettings& s = ctx.preset->sidecar;
  const int index = ctx.result.fallback_index;
  if (index > 0 && static_cast<size_t>(index) <= s.fallback.size()) {
    const auto& own = s.fallback[static_cast<size_t>(index - 1)].routing;
    if (own.has_value()) return &*own;
  }
  return s.routing ? &*s.routing : nullptr;
}

bool RoutingStage::Skip(const CallContext& ctx) const { return RuleFor(ctx) == nullptr; }

void RoutingStage::Run(CallContext& ctx, const Next& next, Done done) const {
  const registry::RoutingRule& rule = *RuleFor(ctx);
  const Priority priority = ctx.input.priority;
  int depth = 0;
  std::shared_ptr<TargetWait> wait = state_.routing->queues.TryEnter(
      ctx.config->provider, ctx.config->model, ctx.base_url, priority, rule, &depth);
  if (ctx.stage_span != nullptr)
    ctx.stage_span->SetAttribute("llmix.routing.waiting", int64_t{depth});
  if (wait == nullptr) {
    const bool reroute = rule.low_priority == registry::RoutingRule::Action::kFallback;
    absl::Status st = absl::ResourceExhaustedError(absl::StrCat(
        "target ", ctx.result.fallback_index, " (", ctx.config->provider, "/", ctx.config->model,
        ") is busy: ", depth, " calls waiting, routing.maxQueueDepth is ", rule.max_queue_depth,
        "; ", std::string(PriorityName(priority)),
        "-priority calls are shed below minPriorityWhenBusy \"",
        std::string(PriorityName(rule.min_priority_when_busy)),
        "\" (retry later or raise the priority)"));
    if (reroute) {
      st.SetPayload(kReroutePayload, absl::Cord("1"));
    } else {
      state_.routing->shed.With({std::string(PriorityName(priority)), "target_busy"}).Add();
    }
    if (ctx.stage_span != nullptr) {
      ctx.stage_span->SetAttribute("llmix.routing.shed",
                                   std::string(reroute ? "reroute" : "reject"));
    }
    ctx.status = std::move(st);
    std::move(done)();
    return;
  }
  ctx.target_wait = wait;
  next(ctx, [&ctx, wait, done = std::move(done)]() mutable {
    wait->End();
    if (ctx.target_wait == wait) ctx.target_wait.reset();
    std::move(done)();
  });
}

}  // namespace llmix::pipeline
