// Streamed calls (CallStream, `stream: true` on the front door): where the deltas of the
// answer go while the upstream stream is read. A call with a sink (CallContext::stream) runs the
// same pipeline as a unary call; the dispatch stage reads the provider's stream and forwards
// content (after streaming <think> extraction), thinking and tool-call deltas here. Once one
// delta went out (CallContext::stream_started) nothing may restart the answer: the retry and
// fallback stages stop, and a later failure ends the stream with an error. The transport sends
// the final message from the finished CallContext.
#pragma once

#include <string>

#include "adapters/stream_parser.h"

namespace llmix::pipeline {

struct StreamDelta {
  enum class Kind { kContent, kThinking, kToolCall };
  Kind kind = Kind::kContent;
  std::string text;                    // kContent / kThinking
  adapters::ToolCallDelta tool_call;   // kToolCall
};

// Implemented by the transport. Called from the worker that runs dispatch, in order.
class CallStreamSink {
 public:
  virtual ~CallStreamSink() = default;
  // False when the caller is gone (cancelled, or too slow to read): the upstream stream is
  // closed and the call ends.
  virtual bool OnDelta(StreamDelta delta) = 0;
};

}  // namespace llmix::pipeline
