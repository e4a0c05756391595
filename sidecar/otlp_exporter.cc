#include "sidecar/otlp_exporter.h"

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/http_transport.h"
#include "common/js_text.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace llmix::sidecar {

namespace otlp = opentelemetry::proto;

namespace {

std::string Trim(std::string_view s) {
  return std::string(absl::StripAsciiWhitespace(absl::string_view(s.data(), s.size())));
}

// The first of `names` that is set (signal-specific before generic), and which one it was.
std::optional<std::pair<std::string, std::string>> FirstSet(
    const Env& env, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (auto v = env.Get(n); v.has_value() && !Trim(*v).empty()) return std::pair{n, Trim(*v)};
  }
  return std::nullopt;
}

bool IsTrue(const std::optional<std::string>& v) {
  return v.has_value() && absl::AsciiStrToLower(Trim(*v)) == "true";
}

// %XX decoding for header and resource values (W3C baggage octets); false on a bad escape.
bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !absl::ascii_isxdigit(in[i + 1]) ||
        !absl::ascii_isxdigit(in[i + 2])) {
      return false;
    }
    int v = 0;
    absl::SimpleHexAtoi(absl::string_view(in.data() + i + 1, 2), &v);
    out->push_back(static_cast<char>(v));
    i += 2;
  }
  return true;
}

// "k1=v1,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES). Errors name the
// variable and the entry's position, never the value (headers carry tokens).
absl::Status ParseKeyValueList(const std::string& var, std::string_view text,
                               std::vector<std::pair<std::string, std::string>>* out) {
  int index = 0;
  for (absl::string_view entry : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    ++index;
    if (absl::StripAsciiWhitespace(entry).empty()) continue;
    const size_t eq = entry.find('=');
    std::string key = eq == absl::string_view::npos ? "" : Trim({entry.data(), eq});
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(var, ": entry ", index, " is not key=value"));
    }
    std::string value;
    const std::string raw = Trim({entry.data() + eq + 1, entry.size() - eq - 1});
    if (!PercentDecode(raw, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(var, ": entry ", index, " (", key, ") has a malformed %-escape"));
    }
    out->emplace_back(std::move(key), std::move(value));
  }
  return absl::OkStatus();
}

absl::Status ParsePositive(const Env& env, std::initializer_list<const char*> names, int64_t* out) {
  auto v = FirstSet(env, names);
  if (!v) return absl::OkStatus();
  int64_t n = 0;
  if (!absl::SimpleAtoi(v->second, &n) || n <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(v->first, ": expected a positive integer, got \"", v->second, "\""));
  }
  *out = n;
  return absl::OkStatus();
}

void SetAnyValue(const AttributeValue& value, otlp::common::v1::AnyValue* out) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out->set_string_value(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->set_int_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out->set_double_value(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out->set_bool_value(v);
        } else {
          auto* array = out->mutable_array_value();
          for (const std::string& s : v) array->add_values()->set_string_value(s);
        }
      },
      value);
}

otlp::trace::v1::Span::SpanKind KindOf(SpanKind k) {
  switch (k) {
    case SpanKind::kServer:
      return otlp::trace::v1::Span::SPAN_KIND_SERVER;
    case SpanKind::kClient:
      return otlp::trace::v1::Span::SPAN_KIND_CLIENT;
    case SpanKind::kInternal:
      break;
  }
  return otlp::trace::v1::Span::SPAN_KIND_INTERNAL;
}

// Proto string fields must be valid UTF-8 or the collector refuses the whole batch; error
// messages echoed from upstreams can be anything.
std::string ValidUtf8(const std::string& s) { return ToValidUtf8(s); }

class GrpcExporter final : public SpanExporter {
 public:
  GrpcExporter(OtlpSettings settings, std::shared_ptr<grpc::Channel> channel,
               std::string scope_version)
      : settings_(std::move(settings)),
        stub_(otlp::collector::trace::v1::TraceService::NewStub(channel)),
        scope_version_(std::move(scope_version)) {}

  bool Export(const std::vector<SpanData>& batch, absl::Duration timeout) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     absl::ToChronoMilliseconds(std::min(timeout, settings_.timeout)));
    for (const auto& [k, v] : settings_.headers) ctx.AddMetadata(absl::AsciiStrToLower(k), v);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (aborted_) return false;
      current_ = &ctx;
    }
    google::protobuf::Arena arena;
    auto* req = google::protobuf::Arena::CreateMessage<
        otlp::collector::trace::v1::ExportTraceServiceRequest>(&arena);
    FillOtlpRequest(batch, settings_.resource, scope_version_, req);
    otlp::collector::trace::v1::ExportTraceServiceResponse resp;
    const grpc::Status st = stub_->Export(&ctx, *req, &resp);
    std::lock_guard<std::mutex> l(mu_);
    current_ = nullptr;
    return st.ok();
  }

  void Abort() override {
    std::lock_guard<std::mutex> l(mu_);
    aborted_ = true;
    if (current_ != nullptr) current_->TryCancel();
  }

 private:
  const OtlpSettings settings_;
  std::unique_ptr<otlp::collector::trace::v1::TraceService::Stub> stub_;
  const std::string scope_version_;
  std::mutex mu_;
  grpc::ClientContext* current_ = nullptr;
  bool aborted_ = false;
};

class HttpExporter final : public SpanExporter {
 public:
  HttpExporter(OtlpSettings settings, std::string origin, std::string path,
               std::string scope_version)
      : settings_(std::move(settings)),
        path_(std::move(path)),
        scope_version_(std::move(scope_version)),
        client_(origin) {
    client_.set_tcp_nodelay(true);
    client_.set_keep_alive(true);
    client_.set_follow_location(false);
    if (!settings_.ca_file.empty()) client_.set_ca_cert_path(settings_.ca_file.c_str());
    client_.enable_server_certificate_verification(true);
    for (const auto& [k, v] : settings_.headers) headers_.emplace(k, v);
  }

  bool Export(const std::vector<SpanData>& batch, absl::Duration timeout) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (aborted_) return false;
    }
    const auto budget = absl::ToChronoMicroseconds(std::min(timeout, settings_.timeout));
    client_.set_connection_timeout(budget);
    client_.set_read_timeout(budget);
    client_.set_write_timeout(budget);
    std::string body;
    {
      google::protobuf::Arena arena;
      auto* req = google::protobuf::Arena::CreateMessage<
          otlp::collector::trace::v1::ExportTraceServiceRequest>(&arena);
      FillOtlpRequest(batch, settings_.resource, scope_version_, req);
      req->SerializeToString(&body);
    }
    auto res = client_.Post(path_.c_str(), headers_, body, "application/x-protobuf");
    return res && res->status >= 200 && res->status < 300;
  }

  void Abort() override {
    std::lock_guard<std::mutex> l(mu_);
    aborted_ = true;
    client_.stop();
  }

 private:
  const OtlpSettings settings_;
  const std::string path_;
  const std::string scope_version_;
  httplib::Client client_;
  httplib::Headers headers_;
  std::mutex mu_;
  bool aborted_ = false;
};

}  // namespace

absl::StatusOr<std::optional<OtlpSettings>> OtlpSettingsFromEnv(const Env& env,
                                                                std::string_view service_version) {
  if (IsTrue(env.Get("OTEL_SDK_DISABLED"))) return std::nullopt;
  if (auto exporter = FirstSet(env, {"OTEL_TRACES_EXPORTER"})) {
    const std::string e = absl::AsciiStrToLower(exporter->second);
    if (e == "none") return std::nullopt;
    if (e != "otlp") {
      return absl::InvalidArgumentError(absl::StrCat(
          "OTEL_TRACES_EXPORTER: unsupported exporter \"", exporter->second, "\" (otlp, none)"));
    }
  }
  OtlpSettings s;
  if (auto p =
          FirstSet(env, {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"})) {
    const std::string v = absl::AsciiStrToLower(p->second);
    if (v == "grpc") {
      s.protocol = OtlpProtocol::kGrpc;
    } else if (v == "http/protobuf") {
      s.protocol = OtlpProtocol::kHttpProtobuf;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(p->first, ": unsupported protocol \"",
                                                     p->second, "\" (grpc, http/protobuf)"));
    }
  }
  auto specific = FirstSet(env, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"});
  auto generic = FirstSet(env, {"OTEL_EXPORTER_OTLP_ENDPOINT"});
  if (!specific && !generic) return std::nullopt;
  const auto& [var, url] = specific ? *specific : *generic;
  std::string origin, path;
  if (!adapters::SplitUrl(url, &origin, &path)) {
    // A URL with userinfo is refused without being echoed (it holds a password).
    const bool userinfo = url.find('@') != std::string::npos;
    return absl::InvalidArgumentError(absl::StrCat(
        var, ": expected http(s)://host[:port][/path]",
        userinfo ? " without user:password@ (send credentials in OTEL_EXPORTER_OTLP_HEADERS)"
                 : absl::StrCat(", got \"", url, "\"")));
  }
  s.endpoint = url;
  if (!specific && s.protocol == OtlpProtocol::kHttpProtobuf) {
    // The generic endpoint is a base URL: the signal path is appended (OTLP exporter spec).
    s.endpoint = absl::StrCat(absl::StripSuffix(url, "/"), "/v1/traces");
  }
  if (auto h = FirstSet(env, {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"})) {
    if (absl::Status st = ParseKeyValueList(h->first, h->second, &s.headers); !st.ok()) return st;
  }
  int64_t timeout_ms = 10000;
  if (absl::Status st = ParsePositive(
          env, {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"}, &timeout_ms);
      !st.ok()) {
    return st;
  }
  s.timeout = absl::Milliseconds(timeout_ms);
  if (auto ca = FirstSet(
          env, {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"})) {
    s.ca_file = ca->second;
  }

  // Resource: OTEL_RESOURCE_ATTRIBUTES, with OTEL_SERVICE_NAME taking precedence for
  // service.name (SDK spec), and our defaults for what neither sets.
  std::vector<std::pair<std::string, std::string>> attrs;
  if (auto r = FirstSet(env, {"OTEL_RESOURCE_ATTRIBUTES"})) {
    if (absl::Status st = ParseKeyValueList(r->first, r->second, &attrs); !st.ok()) return st;
  }
  auto find = [&attrs](std::string_view key) {
    return std::find_if(attrs.begin(), attrs.end(),
                        [&](const auto& kv) { return kv.first == key; });
  };
  if (auto name = FirstSet(env, {"OTEL_SERVICE_NAME"})) {
    if (auto it = find("service.name"); it != attrs.end()) attrs.erase(it);
    attrs.insert(attrs.begin(), {"service.name", name->second});
  } else if (find("service.name") == attrs.end()) {
    attrs.insert(attrs.begin(), {"service.name", "llmix-sidecar"});
  }
  if (find("service.version") == attrs.end()) {
    attrs.emplace_back("service.version", std::string(service_version));
  }
  attrs.emplace_back("telemetry.sdk.name", "llmix-sidecar");
  attrs.emplace_back("telemetry.sdk.language", "cpp");
  attrs.emplace_back("telemetry.sdk.version", std::string(service_version));
  s.resource = std::move(attrs);

  const char* sampler_var = "OTEL_TRACES_SAMPLER";
  auto sampler = Sampler::Parse(env.Get(sampler_var).value_or(""),
                                env.Get("OTEL_TRACES_SAMPLER_ARG").value_or(""));
  if (!sampler.ok()) return sampler.status();
  s.tracer.sampler = *sampler;

  int64_t n = 0;
  struct {
    const char* var;
    std::function<void(int64_t)> set;
  } ints[] = {
      {"OTEL_BSP_MAX_QUEUE_SIZE", [&](int64_t v) { s.batch.max_queue_size = v; }},
      {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", [&](int64_t v) { s.batch.max_export_batch_size = v; }},
      {"OTEL_BSP_SCHEDULE_DELAY",
       [&](int64_t v) { s.batch.schedule_delay = absl::Milliseconds(v); }},
      {"OTEL_BSP_EXPORT_TIMEOUT",
       [&](int64_t v) { s.batch.export_timeout = absl::Milliseconds(v); }},
  };
  for (const auto& [v, set] : ints) {
    n = 0;
    if (absl::Status st = ParsePositive(env, {v}, &n); !st.ok()) return st;
    if (n > 0) set(n);
  }
  n = 0;
  if (absl::Status st = ParsePositive(
          env, {"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"}, &n);
      !st.ok()) {
    return st;
  }
  if (n > 0) s.tracer.max_attribute_value_bytes = static_cast<size_t>(n);
  return s;
}

void FillOtlpRequest(const std::vector<SpanData>& batch,
                     const std::vector<std::pair<std::string, std::string>>& resource,
                     std::string_view scope_version,
                     otlp::collector::trace::v1::ExportTraceServiceRequest* out) {
  auto* rs = out->add_resource_spans();
  for (const auto& [k, v] : resource) {
    auto* kv = rs->mutable_resource()->add_attributes();
    kv->set_key(k);
    kv->mutable_value()->set_string_value(ValidUtf8(v));
  }
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("llmix-sidecar");
  ss->mutable_scope()->set_version(std::string(scope_version));
  ss->mutable_spans()->Reserve(static_cast<int>(batch.size()));
  for (const SpanData& d : batch) {
    auto* span = ss->add_spans();
    span->set_trace_id(d.context.trace_id.data(), d.context.trace_id.size());
    span->set_span_id(d.context.span_id.data(), d.context.span_id.size());
    if (std::any_of(d.parent_span_id.begin(), d.parent_span_id.end(),
                    [](uint8_t b) { return b != 0; })) {
      span->set_parent_span_id(d.parent_span_id.data(), d.parent_span_id.size());
    }
    span->set_name(d.name);
    span->set_kind(KindOf(d.kind));
    span->set_start_time_unix_nano(static_cast<uint64_t>(d.start_unix_nanos));
    span->set_end_time_unix_nano(static_cast<uint64_t>(d.end_unix_nanos));
    for (const auto& [k, v] : d.attributes) {
      auto* kv = span->add_attributes();
      kv->set_key(k);
      if (const auto* str = std::get_if<std::string>(&v)) {
        kv->mutable_value()->set_string_value(ValidUtf8(*str));
      } else {
        SetAnyValue(v, kv->mutable_value());
      }
    }
    if (d.error) {
      span->mutable_status()->set_code(otlp::trace::v1::Status::STATUS_CODE_ERROR);
      span->mutable_status()->set_message(ValidUtf8(d.error_message));
    }
  }
}

absl::StatusOr<std::unique_ptr<SpanExporter>> MakeOtlpExporter(const OtlpSettings& settings,
                                                               std::string_view scope_version) {
  std::string origin, path;
  if (!adapters::SplitUrl(settings.endpoint, &origin, &path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "OTLP endpoint: expected an http:// or https:// URL, got \"", settings.endpoint, "\""));
  }
  if (settings.protocol == OtlpProtocol::kHttpProtobuf) {
    return std::make_unique<HttpExporter>(settings, origin, path, std::string(scope_version));
  }
  // gRPC: the URL's host:port is the target; https means TLS.
  const bool tls = absl::StartsWith(origin, "https://");
  const std::string target = origin.substr(tls ? 8 : 7);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!settings.ca_file.empty()) {
      std::ifstream f(settings.ca_file);
      std::stringstream pem;
      pem << f.rdbuf();
      if (!f) {
        return absl::InvalidArgumentError(
            absl::StrCat("OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read ", settings.ca_file));
      }
      ssl.pem_root_certs = pem.str();
    }
    creds = grpc::SslCredentials(ssl);
  }
  return std::make_unique<GrpcExporter>(settings, grpc::CreateChannel(target, creds),
                                        std::string(scope_version));
}

}  // namespace llmix::sidecar
