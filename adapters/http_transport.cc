#include "adapters/http_transport.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

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

}  // namespace

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

HttpTransport::HttpTransport(HttpTransportOptions options) : options_(std::move(options)) {}
HttpTransport::~HttpTransport() = default;

std::unique_ptr<httplib::Client> HttpTransport::Checkout(const std::string& origin) {
  {
    absl::MutexLock l(&mu_);
    auto it = idle_.find(origin);
    if (it != idle_.end() && !it->second.empty()) {
      auto c = std::move(it->second.back());
      it->second.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<httplib::Client>(origin);
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

HttpResponse HttpTransport::Post(const HttpRequest& request) {
  HttpResponse out;
  std::string origin, path;
  if (!SplitUrl(request.url, &origin, &path)) {
    out.failure = TransportFailure::kBadUrl;
    out.failure_detail = "invalid upstream URL";
    return out;
  }
  if (request.timeout <= absl::ZeroDuration()) {
    out.failure = TransportFailure::kTimeout;
    out.failure_detail = "no time left for the upstream request";
    return out;
  }
  auto client = Checkout(origin);
  client->set_connection_timeout(ToMicros(std::min(options_.connect_timeout, request.timeout)));
  client->set_read_timeout(ToMicros(request.timeout));
  client->set_write_timeout(ToMicros(request.timeout));

  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = request.body;
  for (const auto& [k, v] : request.headers) req.headers.emplace(k, v);
  if (!req.has_header("Content-Type")) req.headers.emplace("Content-Type", "application/json");
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

}  // namespace llmix::adapters
