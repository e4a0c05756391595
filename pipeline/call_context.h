// The state of one call as it moves through the pipeline: the request as LLMix JSON, the
// snapshot it resolved against (taken once, so a call never sees two revisions), the
// deadline, the span, and the result. Owned by the transport for the call's lifetime; stages
// touch it from one thread at a time (continuations hand it over, never share it).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "adapters/adapter.h"
#include "common/call_error.h"
#include "common/pricing.h"
#include "common/priority.h"
#include "common/telemetry.h"
#include "nlohmann/json.hpp"
#include "pipeline/upstream_call.h"
#include "registry/snapshot.h"

namespace llmix::pipeline {

enum class CacheMode { kDefault, kBypass, kRefresh };
// kSemantic: the semantic cache (pipeline/semantic_lookup.h) served a response cached for a
// similar prompt.
enum class CacheTier { kNone, kL1, kL2, kSemantic };
// "l1", "l2", "semantic", "none": the label of metrics, span attributes and the x-llmix-cache
// header.
constexpr std::string_view CacheTierName(CacheTier tier) {
  return tier == CacheTier::kL1         ? "l1"
         : tier == CacheTier::kL2       ? "l2"
         : tier == CacheTier::kSemantic ? "semantic"
                                        : "none";
}

// A JSON task from the request (pipeline/json_stage.h): the reply must be JSON valid against
// the schema; checked by the json stage (INVALID_ARGUMENT naming `field`).
struct JsonTaskInput {
  std::string schema_json;                       // JSON Schema (the documented subset) as text
  std::optional<int> max_repairs;                // default 2, at most 5
  std::string field = "json_task.schema_json";  // how errors name the schema
};

// What the transport hands to the pipeline, already mapped to LLMix's JSON shapes.
struct CallInput {
  std::optional<std::string> preset;       // "module/preset"
  std::optional<std::string> config_json;  // inline LLMix config (JSON text)
  nlohmann::json messages = nlohmann::json::array();  // LLMix message objects
  nlohmann::json tools;                    // OpenAI-style tools array, or null
  nlohmann::json tool_choice;              // OpenAI-style tool_choice, or null
  std::optional<std::string> response_format_json;
  // LLMix `common` parameters laid over the config's (e.g. {"temperature":0.2,"seed":7}), as
  // if the config had them; they enter the cache key like any config value. Object or null.
  nlohmann::json common_overrides;
  std::optional<std::string> singleflight_key;
  CacheMode cache_mode = CacheMode::kDefault;
  std::map<std::string, std::string> metadata;
  std::optional<absl::Duration> timeout;   // caller's deadline, relative to the call start
  SpanContext parent;                      // caller's trace context (may be invalid)
  size_t request_bytes = 0;                // serialized size, for the input cap
  std::optional<std::string> tenant;       // who the call is billed to (budgets per tenant)
  std::optional<JsonTaskInput> json_task;  // wins over the preset's metadata.llmix-sidecar.json
  // Scheduling class: served first at the waiting points, shed last (README "Priority").
  Priority priority = Priority::kNormal;
};

struct CallResult {
  bool success = false;
  std::string content;
  std::optional<std::string> thinking_content;
  std::string model;
  std::string provider;
  adapters::Usage usage;
  std::vector<adapters::ToolCall> tool_calls;
  std::string finish_reason;
  std::optional<CallError> error;
  CacheTier cache_tier = CacheTier::kNone;
  // A semantic-cache hit: the cosine similarity of the prompt to the cached one.
  std::optional<double> semantic_similarity;
  std::string config_revision;
  int attempts = 0;
  std::string trace_id;
  int fallback_index = 0;  // which target served: 0 the preset's own, i the i-th fallback
  // Price of the call (pipeline/call_cost.h); nullopt when the serving model has no price.
  std::optional<CostBreakdown> cost;
  // JSON task: the valid reply as compact JSON text, and the repair calls it took.
  std::optional<std::string> json;
  int json_repairs = 0;
};

// Moves a call from a thread that must not block (a gRPC callback thread, an HTTP front-door
// thread serving hits) to a worker. The stages before the cache's Redis lookup and the miss
// path are plain CPU work, so a call starts on the transport's thread and is handed off only
// when it needs a worker: an L1 cache hit never leaves that thread.
class WorkerHandoff {
 public:
  virtual ~WorkerHandoff() = default;
  // Queues `task` for a worker; false (and `task` dropped) when the queue is full.
  virtual bool TryHandOff(absl::AnyInvocable<void() &&> task) = 0;
  // Same, in the lane of the call's priority (handoffs without lanes ignore it).
  virtual bool TryHandOff(absl::AnyInvocable<void() &&> task, Priority) {
    return TryHandOff(std::move(task));
  }
};

struct TargetWait;      // pipeline/routing_stage.h
class CallStreamSink;  // pipeline/call_stream.h

struct CallContext {
  CallInput input;

  // Where the call goes when it first needs a worker (see ContinueOnWorker); null once it is
  // on one, or when the thread that started it may block (a worker, a test, the CLI).
  WorkerHandoff* handoff = nullptr;

  // Set by the resolve stage.
  std::shared_ptr<const registry::Snapshot> snapshot;
  std::optional<registry::LlmConfig> inline_config;  // owns the config for config_json calls
  const registry::LlmConfig* config = nullptr;        // into snapshot or inline_config
  std::string preset_id;                               // empty for inline configs
  const registry::Preset* preset = nullptr;            // into snapshot; null for inline configs
  std::string base_url;                                // effective upstream base URL
  std::string request_key;  // "llmix:resp:<sha256>" of the call as LLMix hashes it (CONTRACT §1)
  absl::Duration deadline = absl::InfiniteDuration();  // on the pipeline clock's Monotonic()
  // The caller's deadline is shorter than the preset's (or the sidecar's default) timeout: an
  // upstream timeout then says the caller was impatient, not that the provider is failing.
  bool caller_deadline_shorter = false;

  // Before another attempt at the call (a fallback target, a JSON repair): forget the last
  // attempt's verdict and upstream exchange, so the next one starts as a first attempt does.
  void ForgetLastAttempt() {
    result.success = false;
    result.error.reset();
    result.cache_tier = CacheTier::kNone;
    result.semantic_similarity.reset();
    outcome.reset();
    upstream.verdict = SequenceVerdict::kNone;
    upstream.follower = false;
    upstream.failure_status.reset();
    upstream.failure_network = false;
    upstream.api_key.clear();
    upstream.kwargs = nlohmann::json::object();
  }

  // The last upstream exchange (set by dispatch).
  std::optional<adapters::ProviderOutcome> outcome;
  // Key, kwargs, retry verdict, singleflight role and cancellation hook of the resilience
  // stages (pipeline/upstream_call.h).
  UpstreamCall upstream;

  // The call span (server span); stage spans are its descendants.
  std::unique_ptr<Span> span;
  // The span of the stage currently running (set by the runner before each stage runs). A
  // stage that sets attributes after calling `next` keeps its own copy of this pointer from
  // the start of Run: the span stays alive until the stage calls `done`.
  Span* stage_span = nullptr;
  // Set by the routing stage while the call counts as waiting for its target (README
  // "Priority and backpressure"); the aimd stage ends that wait once the permit is granted.
  std::shared_ptr<TargetWait> target_wait;
  // Set when the caller went away; stages stop starting new work.
  std::atomic<bool> cancelled{false};

  // A streamed call: where the answer's deltas go (null for unary calls; owned by the
  // transport). `stream_started` is set by dispatch once a delta went to the caller: from then
  // on the answer cannot be retried or served by another target.
  CallStreamSink* stream = nullptr;
  bool stream_started = false;

  // Non-OK ends the call with that gRPC-level status (INVALID_ARGUMENT, NOT_FOUND, ...);
  // OK means `result` is the answer (which may itself be a failure, success = false).
  absl::Status status;
  CallResult result;

  // Ends the call as an LLMix-style failure (success = false, structured error).
  void Fail(CallError error);
};

// Runs `then(true)` on a thread that may block: at once when the call is already on one,
// otherwise on a worker via ctx.handoff (after which the call stays on workers). When the
// worker queue is full the call is refused: ctx.status becomes RESOURCE_EXHAUSTED and
// `then(false)` runs here; the caller then ends its stage without doing the blocking work.
void ContinueOnWorker(CallContext& ctx, absl::AnyInvocable<void(bool admitted) &&> then);

}  // namespace llmix::pipeline
