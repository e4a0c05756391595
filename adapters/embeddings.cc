#include "adapters/embeddings.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapters/wire_common.h"
#include "common/provider_catalog.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

WireProtocol ProtocolOf(const std::string& provider) {
  const ProviderInfo* info = FindProvider(provider);
  return info == nullptr ? WireProtocol::kOpenAiChat : info->protocol;
}

// The OpenAI-compatible credential headers, as the chat adapter sends them (sno-gpu carries
// the real key in its own headers).
std::vector<std::pair<std::string, std::string>> OpenAiAuthHeaders(const std::string& provider,
                                                                   const std::string& api_key) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (provider == "sno-gpu") {
    headers.emplace_back("Authorization", "Bearer not-used");
    if (!api_key.empty()) {
      headers.emplace_back("X-Internal-Token", api_key);
      headers.emplace_back("X-Sno-LLM-Key", api_key);
    }
  } else if (!api_key.empty()) {
    headers.emplace_back("Authorization", "Bearer " + api_key);
  }
  return headers;
}

CallError ConfigError(const std::string& provider, std::string message) {
  CallError e;
  e.code = CallErrorCode::kConfig;
  e.provider = provider;
  e.message = std::move(message);
  return e;
}

// A JSON array of finite numbers -> floats; false for anything else.
bool ToVector(const json& values, std::vector<float>* out) {
  if (!values.is_array() || values.empty()) return false;
  out->clear();
  out->reserve(values.size());
  for (const json& v : values) {
    if (!v.is_number()) return false;
    const double d = v.get<double>();
    if (!std::isfinite(d)) return false;
    out->push_back(static_cast<float>(d));
  }
  return true;
}

ProviderRequest AsProviderRequest(const std::string& provider, const std::string& model,
                                  const std::string& base_url, const std::string& api_key,
                                  absl::Duration timeout, const std::string& traceparent) {
  ProviderRequest r;
  r.provider = provider;
  r.model = model;
  r.base_url = base_url;
  r.api_key = api_key;
  r.timeout = timeout;
  r.traceparent = traceparent;
  return r;
}

}  // namespace

json OpenAiEmbeddingsBody(const EmbeddingRequest& request) {
  json body = {{"model", request.model}, {"input", request.inputs}, {"encoding_format", "float"}};
  if (request.dimensions) body["dimensions"] = *request.dimensions;
  return body;
}

std::string GeminiBatchEmbedUrl(const EmbeddingRequest& request) {
  std::string model = request.model;
  if (absl::StartsWith(model, "models/")) model = model.substr(7);
  return JoinUrl(request.base_url, absl::StrCat("/models/", model, ":batchEmbedContents"));
}

json GeminiBatchEmbedBody(const EmbeddingRequest& request) {
  const std::string model = absl::StartsWith(request.model, "models/")
                                ? request.model
                                : absl::StrCat("models/", request.model);
  json requests = json::array();
  for (const std::string& text : request.inputs) {
    json r = {{"model", model}, {"content", {{"parts", json::array({{{"text", text}}})}}}};
    if (request.dimensions) r["outputDimensionality"] = *request.dimensions;
    requests.push_back(std::move(r));
  }
  return {{"requests", std::move(requests)}};
}

bool ParseOpenAiEmbeddings(std::string_view body, size_t n, EmbeddingOutcome* out,
                           std::string* error) {
  const json j = ParseJsonBounded(body);
  const json* data = j.is_object() && j.contains("data") ? &j["data"] : nullptr;
  if (data == nullptr || !data->is_array()) {
    *error = "no data array";
    return false;
  }
  if (data->size() != n) {
    *error = absl::StrCat("expected ", n, " embeddings, got ", data->size());
    return false;
  }
  out->vectors.assign(n, {});
  std::vector<bool> seen(n, false);
  for (size_t i = 0; i < n; ++i) {
    const json& item = (*data)[i];
    if (!item.is_object()) {
      *error = absl::StrCat("data[", i, "] is not an object");
      return false;
    }
    // `index` orders the vectors (OpenAI sends them in order; compatible servers may not).
    size_t index = i;
    if (auto it = item.find("index"); it != item.end()) {
      std::optional<int64_t> idx = WholeNumber(*it);
      if (!idx || *idx < 0 || static_cast<size_t>(*idx) >= n) {
        *error = absl::StrCat("data[", i, "].index out of range");
        return false;
      }
      index = static_cast<size_t>(*idx);
    }
    if (seen[index]) {
      *error = absl::StrCat("data[", i, "].index ", index, " repeats");
      return false;
    }
    seen[index] = true;
    auto emb = item.find("embedding");
    if (emb == item.end() || !ToVector(*emb, &out->vectors[index])) {
      *error = absl::StrCat("data[", i, "].embedding is not an array of numbers");
      return false;
    }
  }
  out->model = StrField(j, "model");
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    out->prompt_tokens = std::max<int64_t>(0, IntField(*u, "prompt_tokens"));
  }
  return true;
}

bool ParseGeminiEmbeddings(std::string_view body, size_t n, EmbeddingOutcome* out,
                           std::string* error) {
  const json j = ParseJsonBounded(body);
  const json* embs = j.is_object() && j.contains("embeddings") ? &j["embeddings"] : nullptr;
  if (embs == nullptr || !embs->is_array()) {
    *error = "no embeddings array";
    return false;
  }
  if (embs->size() != n) {
    *error = absl::StrCat("expected ", n, " embeddings, got ", embs->size());
    return false;
  }
  out->vectors.assign(n, {});
  for (size_t i = 0; i < n; ++i) {
    const json& item = (*embs)[i];
    if (!item.is_object() || !item.contains("values") ||
        !ToVector(item["values"], &out->vectors[i])) {
      *error = absl::StrCat("embeddings[", i, "].values is not an array of numbers");
      return false;
    }
  }
  return true;
}

EmbeddingOutcome EmbeddingsClient::Embed(const EmbeddingRequest& request) {
  EmbeddingOutcome out;
  const WireProtocol protocol = ProtocolOf(request.provider);
  if (protocol == WireProtocol::kAnthropicMessages) {
    out.error = ConfigError(request.provider,
                            absl::StrCat("provider \"", request.provider,
                                         "\" has no embeddings API (use an OpenAI-compatible or "
                                         "Gemini embeddings model)"));
    return out;
  }
  ProviderRequest pr = AsProviderRequest(request.provider, request.model, request.base_url,
                                         request.api_key, request.timeout, request.traceparent);
  pr.extra_headers = request.extra_headers;
  const size_t n = request.inputs.size();
  ProviderOutcome po;
  if (protocol == WireProtocol::kGeminiGenerateContent) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!request.api_key.empty()) headers.emplace_back("x-goog-api-key", request.api_key);
    po = Exchange(transport_, pr, GeminiBatchEmbedUrl(request), std::move(headers),
                  GeminiBatchEmbedBody(request),
                  [&](std::string_view body, ProviderResponse*, std::string* error) {
                    return ParseGeminiEmbeddings(body, n, &out, error);
                  });
  } else {
    po = Exchange(transport_, pr, JoinUrl(request.base_url, "/embeddings"),
                  OpenAiAuthHeaders(request.provider, request.api_key),
                  OpenAiEmbeddingsBody(request),
                  [&](std::string_view body, ProviderResponse*, std::string* error) {
                    return ParseOpenAiEmbeddings(body, n, &out, error);
                  });
  }
  out.error = std::move(po.error);
  out.http_status = po.http_status;
  out.headers = std::move(po.headers);
  out.network_error = po.network_error;
  if (!out.ok()) {
    out.vectors.clear();
    return out;
  }
  if (out.model.empty()) out.model = request.model;
  return out;
}

RerankOutcome EmbeddingsClient::Rerank(const RerankRequest& request) {
  RerankOutcome out;
  if (ProtocolOf(request.provider) != WireProtocol::kOpenAiChat) {
    out.error = ConfigError(request.provider,
                            absl::StrCat("provider \"", request.provider,
                                         "\" has no rerank API here (rerank goes to {base}/rerank "
                                         "of an OpenAI-compatible provider)"));
    return out;
  }
  ProviderRequest pr = AsProviderRequest(request.provider, request.model, request.base_url,
                                         request.api_key, request.timeout, request.traceparent);
  json body = request.body;
  body["model"] = request.model;
  ProviderOutcome po =
      Exchange(transport_, pr, JoinUrl(request.base_url, "/rerank"),
               OpenAiAuthHeaders(request.provider, request.api_key), std::move(body),
               [&](std::string_view text, ProviderResponse*, std::string* error) {
                 json j = ParseJsonBounded(text);
                 if (!j.is_object() || !j.contains("results") || !j["results"].is_array()) {
                   *error = "no results array";
                   return false;
                 }
                 out.body = std::move(j);
                 return true;
               });
  out.error = std::move(po.error);
  out.http_status = po.http_status;
  out.headers = std::move(po.headers);
  out.network_error = po.network_error;
  return out;
}

}  // namespace llmix::adapters
