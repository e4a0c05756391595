#include "adapters/http_transport.h"

#include <httplib.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace llmix::adapters {

namespace {

std::chrono::microseconds ToMicros(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

TransportFailure FromHttplibError(httplib::Error e) {
  switch (e) {
    case httplib::Error::Success:
      return TransportFailure::kNone;
    case httplib::Error::Connection:
    case httplib::Error::BindIPAddress:
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLServerVerification:
      return TransportFailure::kConnect;
    case httplib::Error::Read:
    case httplib::Error::Write:
      return TransportFailure::kReset;
    case httplib::Error::Canceled:
      return TransportFailure::kTooLarge;
    default:
      return TransportFailure::kOther;
  }
}

// host and port of an origin "scheme://host[:port]" ([v6] brackets removed).
void HostPort(const std::string& origin, std::string* host, int* port) {
  const bool tls = absl::StartsWith(origin, "https://");
  std::string rest = origin.substr(origin.find("://") + 3);
  *port = tls ? 443 : 80;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    *host = rest.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < rest.size() && rest[close + 1] == ':') {
      (void)absl::SimpleAtoi(rest.substr(close + 2), port);
    }
    return;
  }
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos) {
    (void)absl::SimpleAtoi(rest.substr(colon + 1), port);
    rest.resize(colon);
  }
  *host = rest;
}

// Empty when every address `host` resolves to is allowed; else the reason (no secrets).
std::string LinkLocalRefusal(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return "";
  std::string refusal;
  for (addrinfo* a = res; a != nullptr && refusal.empty(); a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr = a->ai_family == AF_INET
                           ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                           : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if (inet_ntop(a->ai_family, addr, text, sizeof(text)) != nullptr && IsLinkLocalOrMetadata(text)) {
      refusal = "upstream host " + host + " resolves to the link-local/metadata address " + text +
                " (refused; see --allow-link-local-upstreams)";
    }
  }
  freeaddrinfo(res);
  return refusal;
}

}  // namespace

bool IsLinkLocalOrMetadata(std::string_view ip_text) {
  std::string ip(ip_text);
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    const uint32_t a = ntohl(v4.s_addr);
    return (a >> 16) == ((169u << 8) | 254u);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) != 1) return false;
  const uint8_t* b = v6.s6_addr;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10
  // fd00:ec2::254 (the AWS IMDS IPv6 endpoint)
  static const uint8_t kEc2[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
  if (std::equal(b, b + 16, kEc2)) return true;
  // IPv4-mapped ::ffff:169.254.x.y
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(b, b + 12, kMapped) && b[12] == 169 && b[13] == 254;
}

bool NoProxyMatches(std::string_view host_view, std::string_view no_proxy) {
  const std::string host = absl::AsciiStrToLower(std::string(host_view));
  for (absl::string_view raw : absl::StrSplit(absl::string_view(no_proxy.data(), no_proxy.size()), ',')) {
    std::string entry = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(raw)));
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry[0] == '.') entry = entry.substr(1);
    if (host == entry || absl::EndsWith(host, "." + entry)) return true;
  }
  return false;
}

bool SplitUrl(const std::string& url, std::string* origin, std::string* path) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  std::string scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return false;
  auto host_start = scheme_end + 3;
  auto path_start = url.find('/', host_start);
  std::string host = url.substr(host_start, path_start == std::string::npos ? std::string::npos
                                                                             : path_start - host_start);
  if (host.empty() || host.find('@') != std::string::npos) return false;  // no userinfo
  *origin = scheme + "://" + host;
  *path = path_start == std::string::npos ? "/" : url.substr(path_start);
  return true;
}

std::string UrlAuthority(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  return std::string(rest);
}

std::string UrlHost(std::string_view url) {
  const std::string authority = UrlAuthority(url);
  if (!authority.empty() && authority.front() == '[') {
    return authority.substr(0, authority.find(']') + 1);
  }
  return authority.substr(0, authority.find(':'));
}

HttpTransport::HttpTransport(HttpTransportOptions options) : options_(std::move(options)) {}
HttpTransport::~HttpTransport() = default;

std::unique_ptr<httplib::Client> HttpTransport::Checkout(const std::string& origin,
                                                        std::string* error) {
  {
    absl::MutexLock l(&mu_);
    auto it = idle_.find(origin);
    if (it != idle_.end() && !it->second.empty()) {
      auto c = std::move(it->second.back());
      it->second.pop_back();
      return c;
    }
  }
  std::string host;
  int port = 0;
  HostPort(origin, &host, &port);
  // Checked for every new connection (pooled ones were checked when they were made).
  if (!options_.allow_link_local) {
    if (std::string refusal = LinkLocalRefusal(host); !refusal.empty()) {
      *error = std::move(refusal);
      return nullptr;
    }
  }
  auto c = std::make_unique<httplib::Client>(origin);
  if (!options_.proxy_url.empty() && !NoProxyMatches(host, options_.no_proxy)) {
    // "scheme://[user:pass@]host:port[/]": credentials become Proxy-Authorization.
    std::string proxy = options_.proxy_url, user, pass;
    if (size_t at = proxy.find('@'), scheme = proxy.find("://");
        at != std::string::npos && scheme != std::string::npos && at > scheme) {
      const std::string userinfo = proxy.substr(scheme + 3, at - scheme - 3);
      const size_t colon = userinfo.find(':');
      user = userinfo.substr(0, colon);
      if (colon != std::string::npos) pass = userinfo.substr(colon + 1);
      proxy.erase(scheme + 3, at - scheme - 2);
    }
    std::string proxy_origin, proxy_path;
    if (SplitUrl(proxy, &proxy_origin, &proxy_path)) {
      std::string proxy_host;
      int proxy_port = 0;
      HostPort(proxy_origin, &proxy_host, &proxy_port);
      c->set_proxy(proxy_host.c_str(), proxy_port);
      if (!user.empty()) c->set_proxy_basic_auth(user.c_str(), pass.c_str());
    }
  }
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_follow_location(false);
  if (!options_.ca_cert_file.empty()) c->set_ca_cert_path(options_.ca_cert_file.c_str());
  c->enable_server_certificate_verification(true);
  return c;
}

void HttpTransport::Return(const std::string& origin, std::unique_ptr<httplib::Client> client) {
  absl::MutexLock l(&mu_);
  auto& v = idle_[origin];
  if (v.size() < options_.max_idle_per_origin) v.push_back(std::move(client));
}

std::unique_ptr<httplib::Client> HttpTransport::Open(const HttpRequest& request,
                                                    std::string* origin, std::string* path,
                                                    HttpResponse* out) {
  if (!SplitUrl(request.url, origin, path)) {
    out->failure = TransportFailure::kBadUrl;
    out->failure_detail = "invalid upstream URL";
    return nullptr;
  }
  if (request.timeout <= absl::ZeroDuration()) {
    out->failure = TransportFailure::kTimeout;
    out->failure_detail = "no time left for the upstream request";
    return nullptr;
  }
  std::string refusal;
  auto client = Checkout(*origin, &refusal);
  if (client == nullptr) {
    out->failure = TransportFailure::kBadUrl;
    out->failure_detail = std::move(refusal);
  }
  return client;
}

HttpResponse HttpTransport::Post(const HttpRequest& request) {
  HttpResponse out;
  std::string origin, path;
  auto client = Open(request, &origin, &path, &out);
  if (client == nullptr) return out;
  client->set_connection_timeout(ToMicros(std::min(options_.connect_timeout, request.timeout)));
  client->set_read_timeout(ToMicros(request.timeout));
  client->set_write_timeout(ToMicros(request.timeout));

  httplib::Request req;
  req.method = request.method;
  req.path = path;
  req.body = request.body;
  for (const auto& [k, v] : request.headers) req.headers.emplace(k, v);
  if (req.method == "POST" && !req.has_header("Content-Type")) {
    req.headers.emplace("Content-Type", "application/json");
  }
  bool too_large = false;
  const size_t cap = options_.max_response_bytes;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (out.body.size() + n > cap) {
      too_large = true;
      return false;
    }
    out.body.append(data, n);
    return true;
  };

  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const auto started = std::chrono::steady_clock::now();
  const bool sent = client->send(req, res, err);
  if (!sent || err != httplib::Error::Success) {
    out.failure = too_large ? TransportFailure::kTooLarge : FromHttplibError(err);
    out.failure_detail = too_large ? "upstream response body exceeds the size cap"
                                   : httplib::to_string(err);
    // httplib reports a read timeout as a read error; tell them apart by the budget used.
    const auto elapsed = absl::FromChrono(std::chrono::steady_clock::now() - started);
    if (out.failure == TransportFailure::kReset && elapsed >= request.timeout * 0.95) {
      out.failure = TransportFailure::kTimeout;
      out.failure_detail = "upstream did not answer within the time budget";
    }
    out.body.clear();
    return out;  // the client is dropped: its connection state is unknown
  }
  out.status = res.status;
  for (const auto& [k, v] : res.headers) out.headers[absl::AsciiStrToLower(k)] = v;
  if (out.body.empty() && !res.body.empty()) out.body = std::move(res.body);
  Return(origin, std::move(client));
  return out;
}

void StreamCancellation::Cancel() {
  absl::MutexLock l(&mu_);
  cancelled_ = true;
  if (client_ != nullptr) client_->stop();  // shuts the socket down; the read returns
}

bool StreamCancellation::cancelled() const {
  absl::MutexLock l(&mu_);
  return cancelled_;
}

bool StreamCancellation::Attach(httplib::Client* client) {
  absl::MutexLock l(&mu_);
  client_ = client;
  return !cancelled_;
}

void StreamCancellation::Detach() {
  absl::MutexLock l(&mu_);
  client_ = nullptr;
}

HttpResponse HttpTransport::PostStream(const HttpRequest& request, const StreamHandlers& handlers,
                                       StreamCancellation* cancel) {
  HttpResponse out;
  std::string origin, path;
  auto client = Open(request, &origin, &path, &out);
  if (client == nullptr) return out;
  const absl::Duration idle = request.idle_timeout > absl::ZeroDuration()
                                  ? std::min(request.idle_timeout, request.timeout)
                                  : request.timeout;
  client->set_connection_timeout(ToMicros(std::min(options_.connect_timeout, request.timeout)));
  client->set_read_timeout(ToMicros(idle));
  client->set_write_timeout(ToMicros(request.timeout));

  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = request.body;
  for (const auto& [k, v] : request.headers) req.headers.emplace(k, v);
  if (!req.has_header("Content-Type")) req.headers.emplace("Content-Type", "application/json");

  enum class Stop { kNone, kCancelled, kReceiver, kDeadline, kTooLarge };
  Stop stop = Stop::kNone;
  bool streaming = false;
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] { return absl::FromChrono(std::chrono::steady_clock::now() - started); };
  auto last_read = started;
  req.response_handler = [&](const httplib::Response& res) {
    last_read = std::chrono::steady_clock::now();
    out.status = res.status;
    for (const auto& [k, v] : res.headers) out.headers[absl::AsciiStrToLower(k)] = v;
    streaming = res.status >= 200 && res.status <= 299;
    if (cancel != nullptr && cancel->cancelled()) {
      stop = Stop::kCancelled;
      return false;
    }
    if (handlers.on_response && !handlers.on_response(out.status, out.headers)) {
      stop = Stop::kReceiver;
      return false;
    }
    return true;
  };
  const size_t cap = options_.max_response_bytes;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    last_read = std::chrono::steady_clock::now();
    if (cancel != nullptr && cancel->cancelled()) {
      stop = Stop::kCancelled;
      return false;
    }
    if (elapsed() > request.timeout) {
      stop = Stop::kDeadline;
      return false;
    }
    if (!streaming) {  // an error body: kept for ErrorFromHttp
      if (out.body.size() + n > cap) {
        stop = Stop::kTooLarge;
        return false;
      }
      out.body.append(data, n);
      return true;
    }
    if (out.time_to_first_byte == absl::ZeroDuration()) out.time_to_first_byte = elapsed();
    if (handlers.on_body && !handlers.on_body(std::string_view(data, n))) {
      stop = Stop::kReceiver;
      return false;
    }
    return true;
  };

  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool sent = false;
  if (cancel == nullptr || cancel->Attach(client.get())) {
    sent = client->send(req, res, err);
  } else {
    stop = Stop::kCancelled;
  }
  if (cancel != nullptr) {
    cancel->Detach();
    if (cancel->cancelled() && (stop != Stop::kNone || !sent)) stop = Stop::kCancelled;
  }
  if (sent && err == httplib::Error::Success && stop == Stop::kNone) {
    if (!streaming && out.body.empty() && !res.body.empty()) out.body = std::move(res.body);
    Return(origin, std::move(client));
    return out;
  }
  // The client is dropped: its connection is closed or in an unknown state.
  switch (stop) {
    case Stop::kCancelled:
      out.failure = TransportFailure::kCancelled;
      out.failure_detail = "the stream was cancelled";
      break;
    case Stop::kReceiver:
      out.failure = TransportFailure::kCancelled;
      out.failure_detail = "the receiver stopped the stream";
      break;
    case Stop::kDeadline:
      out.failure = TransportFailure::kTimeout;
      out.failure_detail = "the stream did not finish within the time budget";
      break;
    case Stop::kTooLarge:
      out.failure = TransportFailure::kTooLarge;
      out.failure_detail = "upstream response body exceeds the size cap";
      break;
    case Stop::kNone:
      out.failure = FromHttplibError(err);
      out.failure_detail = httplib::to_string(err);
      if (out.failure == TransportFailure::kReset && elapsed() >= request.timeout * 0.95) {
        out.failure = TransportFailure::kTimeout;
        out.failure_detail = "upstream did not answer within the time budget";
      } else if (out.failure == TransportFailure::kReset &&
                 absl::FromChrono(std::chrono::steady_clock::now() - last_read) >= idle * 0.95) {
        // httplib reports a read timeout as a read error: tell them apart by the silence.
        out.failure = TransportFailure::kTimeout;
        out.failure_detail = "upstream was silent for longer than the idle timeout";
      }
      break;
  }
  if (streaming) out.body.clear();
  return out;
}

}  // namespace llmix::adapters
