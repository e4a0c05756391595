// Serves a streamed call (LlmixService::StartStream) as `text/event-stream` on a cpp-httplib
// response, for the front door's streaming routes (/v1/chat/completions, /v1/messages).
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <utility>

#include "sidecar/grpc_service.h"

namespace llmix::sidecar {

// `state` owns the call: its `stream` (a LlmixService::Stream) and `first` (the item the
// handler already read to choose between a JSON error and SSE); it lives until httplib is done
// with the response. Each item becomes SSE bytes through `encode(state, chunk, &last)`; after
// the `last` one the response ends. A client that goes away stops the writes, and destroying
// the stream then cancels the call (the upstream request is closed).
template <typename State, typename Encode>
void ServeSse(httplib::Response& res, std::shared_ptr<State> state, Encode encode) {
  res.set_header("cache-control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [state, encode = std::move(encode)](size_t, httplib::DataSink& sink) mutable {
        ChunkQueue::Item item;
        if (state->first) {
          item = *std::move(state->first);
          state->first.reset();
        } else if (!state->stream->Next(&item)) {
          return false;
        }
        bool last = false;
        const std::string bytes = encode(*state, item.chunk, &last);
        if (!bytes.empty()) sink.write(bytes.data(), bytes.size());
        if (last) {
          sink.done();
          return true;
        }
        return sink.is_writable();
      },
      [state](bool) { state->stream.reset(); });
}

}  // namespace llmix::sidecar
