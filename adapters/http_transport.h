// Blocking HTTP(S) client for upstream calls, built on cpp-httplib. Clients are pooled per
// origin and each is used by one thread at a time (httplib clients are not thread-safe);
// keep-alive, TCP_NODELAY, no redirects, timeouts from the call budget, response body cap.
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "adapters/adapter.h"

namespace httplib {
class Client;
}

namespace llmix::adapters {

struct HttpTransportOptions {
  absl::Duration connect_timeout = absl::Seconds(5);
  size_t max_response_bytes = 16 << 20;
  size_t max_idle_per_origin = 64;
  std::string ca_cert_file;  // empty: system store
  // Refuse hosts that resolve to link-local / cloud metadata addresses (169.254.0.0/16,
  // fe80::/10, fd00:ec2::254) unless allowed.
  bool allow_link_local = false;
  // Forward proxy for upstream requests ("http://[user:pass@]host:port"; HTTPS is tunnelled
  // with CONNECT), empty for none; hosts matching `no_proxy` (comma-separated suffixes,
  // "*" for all, as curl reads NO_PROXY) go direct.
  std::string proxy_url;
  std::string no_proxy;
};

// True when `host` matches a NO_PROXY list entry ("*", exact host, or domain suffix with or
// without a leading dot).
bool NoProxyMatches(std::string_view host, std::string_view no_proxy);

// True for 169.254.0.0/16, fe80::/10 and fd00:ec2::254 (also IPv4-mapped), given as text.
bool IsLinkLocalOrMetadata(std::string_view ip);

struct HttpRequest {
  std::string method = "POST";  // POST or GET
  std::string url;  // absolute: scheme://host[:port]/path
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  absl::Duration timeout = absl::Seconds(60);
  // PostStream only: the longest silence between two reads (zero: `timeout`).
  absl::Duration idle_timeout = absl::ZeroDuration();
};

// kCancelled: PostStream stopped by its StreamCancellation or a handler returning false.
enum class TransportFailure {
  kNone,
  kBadUrl,
  kConnect,
  kTimeout,
  kReset,
  kTooLarge,
  kOther,
  kCancelled
};

struct HttpResponse {
  TransportFailure failure = TransportFailure::kNone;
  std::string failure_detail;  // no secrets: derived from the URL origin and errno text
  int status = 0;
  ResponseHeaders headers;  // lower-cased names
  std::string body;
  // PostStream: from sending the request to the first body byte of a 2xx answer (zero when
  // none came).
  absl::Duration time_to_first_byte = absl::ZeroDuration();
};

// Ends a PostStream from another thread: the upstream connection is shut down and the blocked
// read returns. Cancelling before the request is sent stops it before it connects; in the short
// window while it connects, it stops at the first byte or the timeout. Thread-safe.
class StreamCancellation {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class HttpTransport;
  bool Attach(httplib::Client* client);  // false when already cancelled
  void Detach();

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  httplib::Client* client_ ABSL_GUARDED_BY(mu_) = nullptr;
};

struct StreamHandlers {
  // The status and headers, once, before any body byte; false cancels.
  std::function<bool(int status, const ResponseHeaders& headers)> on_response;
  // The next bytes of a 2xx body, as they arrive; false cancels.
  std::function<bool(std::string_view bytes)> on_body;
};

class HttpTransport {
 public:
  explicit HttpTransport(HttpTransportOptions options = {});
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Sends `request` (its `method`; POST by default, the name is historical).
  HttpResponse Post(const HttpRequest& request);

  // Post for a streaming answer, with the same SSRF guard, proxy and connect timeout: a 2xx body
  // goes to `handlers.on_body` piece by piece as it arrives and is not kept; another status's
  // body is collected (size-capped) into `body` for ErrorFromHttp. `request.timeout` bounds the
  // exchange (checked at every read) and `request.idle_timeout` each wait for bytes. A
  // cancelled stream is kCancelled and its connection is closed, never reused.
  HttpResponse PostStream(const HttpRequest& request, const StreamHandlers& handlers,
                          StreamCancellation* cancel = nullptr);

 private:
  // A pooled client, or a new one after the SSRF check (nullptr + `error` when refused).
  std::unique_ptr<httplib::Client> Checkout(const std::string& origin, std::string* error);
  void Return(const std::string& origin, std::unique_ptr<httplib::Client> client);
  // URL split + SSRF-checked client, or nullptr with `out` failed.
  std::unique_ptr<httplib::Client> Open(const HttpRequest& request, std::string* origin,
                                        std::string* path, HttpResponse* out);

  HttpTransportOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_
      ABSL_GUARDED_BY(mu_);
};

// Splits "scheme://host[:port]/path" into origin ("scheme://host:port") and path ("/path").
bool SplitUrl(const std::string& url, std::string* origin, std::string* path);
// "scheme://[user@]host[:port]/..." -> "host[:port]" (never the userinfo); empty without "://".
std::string UrlAuthority(std::string_view url);
// The host alone ("[::1]" for IPv6 literals), as OpenTelemetry's `server.address`.
std::string UrlHost(std::string_view url);

}  // namespace llmix::adapters
