#include "adapters/provider_batch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "adapters/provider_batch_wire.h"
#include "adapters/wire_common.h"
#include "common/canonical_json.h"

namespace llmix::adapters {

namespace {

using nlohmann::json;

// JS parseInt(text, 10): leading whitespace, a sign, then the longest run of digits; NaN
// (nullopt) without digits. Values past int64 saturate (LLMix would get a huge double).
std::optional<int64_t> JsParseInt(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
                             text[i] == '\r' || text[i] == '\f' || text[i] == '\v')) {
    ++i;
  }
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  const size_t digits_start = i;
  int64_t value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = value > (INT64_MAX - 9) / 10 ? INT64_MAX : value * 10 + (text[i] - '0');
  }
  if (i == digits_start) return std::nullopt;
  return negative ? -value : value;
}

std::string MetadataPath(const std::string& state_dir, std::string_view batch_id) {
  return (std::filesystem::path(state_dir) / BatchMetadataRelativePath(batch_id)).string();
}

absl::Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", strerror(errno)));
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  fsync(fd);
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsBatchProvider(std::string_view p) {
  return p == "openai" || p == "anthropic" || p == "gemini";
}

std::string BatchKeyFingerprint(std::string_view api_key) {
  const std::string hex = Sha256Hex(api_key);
  return hex.substr(hex.size() - 8);
}

std::string EncodeBatchId(std::string_view provider, std::string_view api_key, int64_t n_prompts,
                          std::string_view raw_batch_id) {
  return absl::StrCat(absl::string_view(provider.data(), provider.size()), ":",
                      BatchKeyFingerprint(api_key), ":", n_prompts, ":",
                      absl::string_view(raw_batch_id.data(), raw_batch_id.size()));
}

absl::StatusOr<DecodedBatchId> DecodeBatchId(std::string_view id) {
  auto invalid = [](std::string_view prefix, std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(absl::string_view(prefix.data(), prefix.size()),
                                                   absl::string_view(what.data(), what.size())));
  };
  const size_t c1 = id.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : id.find(':', c1 + 1);
  const size_t c3 = c2 == std::string_view::npos ? c2 : id.find(':', c2 + 1);
  if (c3 == std::string_view::npos) return invalid("Invalid batch ID: ", id);
  DecodedBatchId d;
  d.provider = std::string(id.substr(0, c1));
  d.key_fingerprint = std::string(id.substr(c1 + 1, c2 - c1 - 1));
  const std::string_view n_text = id.substr(c2 + 1, c3 - c2 - 1);
  d.raw_batch_id = std::string(id.substr(c3 + 1));
  if (!IsBatchProvider(d.provider)) return invalid("Unknown batch provider: ", d.provider);
  // LLMix compares the UTF-16 length; a non-ASCII fingerprint is never valid hex anyway.
  if (d.key_fingerprint.size() != 8) {
    return invalid("Invalid key fingerprint length: ", d.key_fingerprint);
  }
  const std::optional<int64_t> n = JsParseInt(n_text);
  if (!n.has_value() || *n < 1) return invalid("Invalid nPrompts: ", n_text);
  d.n_prompts = *n;
  if (d.raw_batch_id.empty()) return invalid("Empty rawBatchId in: ", id);
  return d;
}

std::string BatchMetadataRelativePath(std::string_view batch_id) {
  std::string encoded;
  absl::WebSafeBase64Escape(absl::string_view(batch_id.data(), batch_id.size()), &encoded);
  return absl::StrCat("batches/", encoded, ".json");
}

std::string BatchMetadataText(std::string_view key_fingerprint, std::string_view provider,
                              int64_t n_prompts, absl::Time now) {
  std::string out = "{\"keyFingerprint\":";
  AppendJsJsonQuoted(key_fingerprint, out);
  out += ",\"provider\":";
  AppendJsJsonQuoted(provider, out);
  absl::StrAppend(&out, ",\"nPrompts\":", n_prompts, ",\"submittedAt\":\"",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()), "\"}");
  return out;
}

std::string EncodeMultipart(const std::vector<BatchFormPart>& parts, std::string_view boundary) {
  std::string out;
  const absl::string_view b(boundary.data(), boundary.size());
  for (const BatchFormPart& p : parts) {
    absl::StrAppend(&out, "--", b, "\r\nContent-Disposition: form-data; name=\"", p.name, "\"");
    if (!p.filename.empty()) absl::StrAppend(&out, "; filename=\"", p.filename, "\"");
    out += "\r\n";
    if (!p.content_type.empty()) absl::StrAppend(&out, "Content-Type: ", p.content_type, "\r\n");
    absl::StrAppend(&out, "\r\n", p.value, "\r\n");
  }
  absl::StrAppend(&out, "--", b, "--\r\n");
  return out;
}

HttpResponse TransportBatchHttpClient::Send(const BatchHttpRequest& request) {
  HttpRequest out;
  out.method = request.method;
  out.url = request.url;
  out.headers = request.headers;
  out.timeout = request.timeout;
  if (!request.form.empty()) {
    // A boundary that occurs in no part (random; tried again in the unlikely case it does).
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string boundary;
    for (int attempt = 0; attempt < 8; ++attempt) {
      boundary = absl::StrCat("----llmix-batch-", absl::Hex(rng(), absl::kZeroPad16));
      bool clash = false;
      for (const BatchFormPart& p : request.form) {
        clash = clash || p.value.find(boundary) != std::string::npos;
      }
      if (!clash) break;
    }
    out.body = EncodeMultipart(request.form, boundary);
    out.headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
  } else {
    out.body = request.body;
  }
  return transport_.Post(out);
}

absl::StatusOr<std::optional<BatchMetadata>> BatchProcessor::ReadMetadata(
    std::string_view batch_id) const {
  const std::string path = MetadataPath(state_dir_, batch_id);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return std::optional<BatchMetadata>();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  const json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object()) {
    return absl::InternalError(absl::StrCat("batch metadata file ", path, " is not JSON"));
  }
  BatchMetadata m;
  m.key_fingerprint =
      j.value("keyFingerprint", json()).is_string() ? j["keyFingerprint"].get<std::string>() : "";
  m.provider = j.value("provider", json()).is_string() ? j["provider"].get<std::string>() : "";
  m.n_prompts = IntField(j, "nPrompts");
  m.submitted_at =
      j.value("submittedAt", json()).is_string() ? j["submittedAt"].get<std::string>() : "";
  return std::optional<BatchMetadata>(std::move(m));
}

BatchOutcome<std::string> BatchProcessor::Submit(const BatchSubmitRequest& request, absl::Time now,
                                                 absl::Time deadline) {
  BatchOutcome<std::string> out;
  auto fail = [&out](BatchErrorKind kind, std::string message) {
    out.error = BatchError{kind, std::move(message)};
    return out;
  };
  if (request.prompts.empty()) return fail(BatchErrorKind::kInvalid, "prompts must not be empty");
  if (!IsBatchProvider(request.provider)) {
    return fail(BatchErrorKind::kInvalid,
                absl::StrCat("Unsupported batch provider: ", request.provider));
  }
  BatchWire wire(http_, request.api_key, request.base_url, deadline, limits_);
  BatchOutcome<std::string> raw = wire.Submit(request);
  if (!raw.ok()) return raw;
  const std::string id =
      EncodeBatchId(request.provider, request.api_key, request.prompts.size(), *raw.value);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(state_dir_) / "batches", ec);
  if (ec) {
    return fail(BatchErrorKind::kLocal,
                absl::StrCat("cannot create ", state_dir_, "/batches: ", ec.message(),
                             " (the provider accepted batch ", id, ")"));
  }
  const std::string text = BatchMetadataText(BatchKeyFingerprint(request.api_key), request.provider,
                                             request.prompts.size(), now);
  if (absl::Status st = WriteAtomically(MetadataPath(state_dir_, id), text); !st.ok()) {
    return fail(BatchErrorKind::kLocal,
                absl::StrCat(st.message(), " (the provider accepted batch ", id, ")"));
  }
  out.value = id;
  return out;
}

absl::StatusOr<std::string> BatchProcessor::ExpectedFingerprint(const DecodedBatchId& id,
                                                                std::string_view batch_id) const {
  auto metadata = ReadMetadata(batch_id);
  if (!metadata.ok()) return metadata.status();
  return metadata->has_value() ? (*metadata)->key_fingerprint : id.key_fingerprint;
}

std::optional<BatchError> BatchProcessor::CheckKey(const DecodedBatchId& id,
                                                   std::string_view batch_id,
                                                   std::string_view api_key) const {
  auto expected = ExpectedFingerprint(id, batch_id);
  if (!expected.ok()) {
    return BatchError{BatchErrorKind::kLocal, std::string(expected.status().message())};
  }
  if (BatchKeyFingerprint(api_key) == *expected) return std::nullopt;
  return BatchError{BatchErrorKind::kKeyMismatch, kBatchKeyMismatchMessage};
}

BatchOutcome<BatchStatusInfo> BatchProcessor::Status(const DecodedBatchId& id,
                                                     const std::string& api_key,
                                                     const std::string& base_url,
                                                     absl::Time deadline) {
  BatchWire wire(http_, api_key, base_url, deadline, limits_);
  return wire.Status(id);
}

BatchOutcome<std::vector<BatchResultEntry>> BatchProcessor::Results(
    const DecodedBatchId& id, std::string_view batch_id, const std::string& api_key,
    const std::string& base_url, bool* metadata_deleted, absl::Time deadline) {
  if (metadata_deleted != nullptr) *metadata_deleted = false;
  BatchOutcome<std::vector<BatchResultEntry>> out;
  if (static_cast<uint64_t>(id.n_prompts) > limits_.max_result_entries) {
    out.error = BatchError{BatchErrorKind::kInvalid,
                           absl::StrCat("Invalid nPrompts: ", id.n_prompts, " (at most ",
                                        limits_.max_result_entries, ")")};
    return out;
  }
  BatchWire wire(http_, api_key, base_url, deadline, limits_);
  out = wire.Results(id);
  if (out.ok() && !out.value->empty()) {
    std::error_code ec;
    std::filesystem::remove(MetadataPath(state_dir_, batch_id), ec);  // absent is fine (rm -f)
    if (metadata_deleted != nullptr) *metadata_deleted = !ec;
  }
  return out;
}

}  // namespace llmix::adapters
