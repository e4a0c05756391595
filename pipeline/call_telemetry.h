// What a finished call leaves in telemetry: the call (server) span's GenAI and llmix.*
// attributes and status, and the per-call metrics (llmix_calls_total, call latency). One
// place, called by every front end (gRPC Call, HTTP front door) when the pipeline is done.
#pragma once

#include "pipeline/call_context.h"
#include "pipeline/pipeline_state.h"

namespace llmix::pipeline {

// The `outcome` label: "success", "failure" (success = false), or the gRPC-level status code
// in lower case ("invalid_argument", "not_found", "deadline_exceeded", ...).
std::string CallOutcome(const CallContext& ctx);

// Sets the call span's attributes (gen_ai.*, llmix.*) and error status from `ctx.result` /
// `ctx.status`, and records the call metrics. Does not end the span. With
// `options.trace_content`, the prompt and completion go on the span (secrets redacted).
void RecordCallTelemetry(const PipelineState& state, CallContext& ctx, double seconds);

}  // namespace llmix::pipeline
