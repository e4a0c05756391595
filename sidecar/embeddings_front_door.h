// The front door's embeddings and rerank routes (README "Embeddings and rerank"):
// `POST /v1/embeddings` (OpenAI's request and response shapes) and `POST /v1/rerank`
// (Cohere/Jina's), both over EmbedService, on the front door's HTTP threads, counted in flight
// and refused while draining as gRPC calls are.
#pragma once

namespace httplib {
class Server;
}

namespace llmix::sidecar {

class LlmixService;

// Adds the two routes to `server`; they answer 501 while `service` has no EmbedService.
// `service` must outlive `server`.
void RegisterEmbeddingsRoutes(httplib::Server& server, LlmixService& service);

}  // namespace llmix::sidecar
