// POST /v1/messages on the HTTP front door (README "/v1/messages (Anthropic format)"): the
// Anthropic Messages request and response shapes over the same call path as
// /v1/chat/completions (LlmixService::RunAndWait), to whatever provider the preset uses.
#pragma once

#include <string>

#include "pipeline/call_context.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace llmix::sidecar {

class LlmixService;

// Registers the route on `server`. `service` must outlive it.
void AddMessagesRoute(httplib::Server& server, LlmixService& service);

// The x-llmix-* response headers of a call that ran (trace id, cache tier, config revision,
// provider, attempts, fallback index, cost, JSON repairs) and retry-after for a refusal or a
// rate-limited failure; the same set /v1/chat/completions sends.
void SetCallHeaders(const pipeline::CallContext& ctx, httplib::Response& res);

// True when the front door's bearer token check should also accept `x-api-key` (how the
// Anthropic SDKs send their key) for this request path.
bool AcceptsXApiKey(const std::string& path);

// Anthropic's 401 body, for the front door's auth check on /v1/messages.
void SendAnthropicUnauthorized(httplib::Response& res);

}  // namespace llmix::sidecar
