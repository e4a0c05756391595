// Blocking HTTP(S) client for upstream calls, built on cpp-httplib. Clients are pooled per
// origin and each is used by one thread at a time (httplib clients are not thread-safe);
// keep-alive, TCP_NODELAY, no redirects, timeouts from the call budget, response body cap.
// Thread-safe.
#pragma once

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
};

enum class TransportFailure { kNone, kBadUrl, kConnect, kTimeout, kReset, kTooLarge, kOther };

struct HttpResponse {
  TransportFailure failure = TransportFailure::kNone;
  std::string failure_detail;  // no secrets: derived from the URL origin and errno text
  int status = 0;
  ResponseHeaders headers;  // lower-cased names
  std::string body;
};

class HttpTransport {
 public:
  explicit HttpTransport(HttpTransportOptions options = {});
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Sends `request` (its `method`; POST by default, the name is historical).
  HttpResponse Post(const HttpRequest& request);

 private:
  // A pooled client, or a new one after the SSRF check (nullptr + `error` when refused).
  std::unique_ptr<httplib::Client> Checkout(const std::string& origin, std::string* error);
  void Return(const std::string& origin, std::unique_ptr<httplib::Client> client);

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
