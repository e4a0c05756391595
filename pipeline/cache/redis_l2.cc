#include "pipeline/cache/redis_l2.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/canonical_json.h"
#include "common/js_json.h"

namespace llmix::cache {

namespace {

timeval TimevalOf(absl::Duration d) {
  if (d < absl::Milliseconds(1)) d = absl::Milliseconds(1);
  return absl::ToTimeval(d);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// %XX decoding of URL user info.
absl::StatusOr<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) {
      return absl::InvalidArgumentError("REDIS_URL: truncated %-escape in the user info");
    }
    const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError("REDIS_URL: invalid %-escape in the user info");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

absl::StatusOr<int> ParseDb(absl::string_view text) {
  int db = 0;
  if (!absl::SimpleAtoi(text, &db) || db < 0 || db > 1 << 20) {
    return absl::InvalidArgumentError(
        absl::StrCat("REDIS_URL: database must be a non-negative integer, got \"", text, "\""));
  }
  return db;
}

// Splits "...?db=N" off `rest`.
absl::Status TakeQuery(absl::string_view& rest, RedisEndpoint& ep) {
  const size_t q = rest.find('?');
  if (q == absl::string_view::npos) return absl::OkStatus();
  absl::string_view query = rest.substr(q + 1);
  rest = rest.substr(0, q);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    absl::string_view kv = query.substr(0, amp);
    query = amp == absl::string_view::npos ? absl::string_view() : query.substr(amp + 1);
    if (absl::StartsWith(kv, "db=")) {
      auto db = ParseDb(kv.substr(3));
      if (!db.ok()) return db.status();
      ep.db = *db;
    }
  }
  return absl::OkStatus();
}

bool IsError(const redisReply* r) { return r == nullptr || r->type == REDIS_REPLY_ERROR; }

}  // namespace

absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url_in) {
  const absl::string_view url(url_in.data(), url_in.size());
  RedisEndpoint ep;
  absl::string_view rest = url;
  if (absl::StartsWith(url, "rediss://")) {
    return absl::InvalidArgumentError(
        "REDIS_URL: rediss:// (TLS) is not supported (hiredis 0.14 has no TLS); run a local TLS "
        "tunnel such as stunnel and point REDIS_URL at it");
  }
  if (absl::ConsumePrefix(&rest, "unix://") || absl::ConsumePrefix(&rest, "unix:")) {
    ep.is_unix = true;
    if (auto st = TakeQuery(rest, ep); !st.ok()) return st;
    if (rest.empty() || rest[0] != '/') {
      return absl::InvalidArgumentError("REDIS_URL: expected unix:///absolute/path/to/redis.sock");
    }
    ep.path = std::string(rest);
    return ep;
  }
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError(
        "REDIS_URL: expected redis://[:password@]host:port[/db] or unix:///path/to/redis.sock");
  }
  if (auto st = TakeQuery(rest, ep); !st.ok()) return st;
  absl::string_view authority = rest.substr(0, rest.find('/'));
  absl::string_view path =
      rest.size() > authority.size() ? rest.substr(authority.size() + 1) : absl::string_view();
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    auto user = PercentDecode(userinfo.substr(0, colon));
    if (!user.ok()) return user.status();
    ep.username = *user;
    if (colon != absl::string_view::npos) {
      auto pass = PercentDecode(userinfo.substr(colon + 1));
      if (!pass.ok()) return pass.status();
      ep.password = *pass;
    }
  }
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {  // [ipv6]:port
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("REDIS_URL: unterminated [ipv6] host");
    }
    ep.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (absl::ConsumePrefix(&after, ":")) port_text = after;
  } else {
    const size_t colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (ep.host.empty()) return absl::InvalidArgumentError("REDIS_URL: missing host");
  if (!port_text.empty()) {
    if (!absl::SimpleAtoi(port_text, &ep.port) || ep.port < 1 || ep.port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("REDIS_URL: invalid port \"", port_text, "\""));
    }
  }
  if (!path.empty()) {
    auto db = ParseDb(path);
    if (!db.ok()) return db.status();
    ep.db = *db;
  }
  return ep;
}

std::string RedactRedisUrl(std::string_view url_in) {
  const absl::string_view url(url_in.data(), url_in.size());
  const size_t scheme = url.find("://");
  const size_t at = url.rfind('@');
  if (scheme == absl::string_view::npos || at == absl::string_view::npos || at < scheme) {
    return std::string(url);
  }
  absl::string_view userinfo = url.substr(scheme + 3, at - scheme - 3);
  const size_t colon = userinfo.find(':');
  if (colon == absl::string_view::npos) return std::string(url);
  return absl::StrCat(url.substr(0, scheme + 3), userinfo.substr(0, colon), ":***", url.substr(at));
}

std::string EncodeL2Value(std::string_view raw_text, int64_t cached_at_unix_s) {
  std::string out = "{\"data\":";
  AppendJsJsonQuoted(raw_text, out);
  absl::StrAppend(&out, ",\"cached_at\":", cached_at_unix_s, "}");
  return out;
}

std::optional<L2Entry> DecodeL2Value(std::string_view text, absl::Duration ttl, absl::Time now) {
  auto parsed = ParseJsJson(text);
  if (!parsed.ok() || !parsed->is_object()) return std::nullopt;
  const nlohmann::json& j = *parsed;
  auto data = j.find("data");
  if (data == j.end() || !data->is_string()) return std::nullopt;
  double cached_at = NAN;
  for (const char* name : {"cached_at", "cachedAt"}) {
    if (auto it = j.find(name); it != j.end() && it->is_number()) {
      cached_at = it->get<double>();
      break;
    }
  }
  absl::Duration remaining = ttl;
  if (std::isfinite(cached_at)) {
    const double age_s = std::floor(absl::ToDoubleSeconds(now - absl::UnixEpoch())) - cached_at;
    remaining = std::min(ttl, ttl - absl::Seconds(age_s));
  }
  if (remaining <= absl::ZeroDuration()) return std::nullopt;
  return L2Entry{data->get<std::string>(), remaining};
}

absl::StatusOr<std::unique_ptr<RedisL2>> RedisL2::Create(RedisL2Options options, const Clock& clock,
                                                         Logger& logger, RedisL2Metrics metrics) {
  auto endpoint = ParseRedisUrl(options.url);
  if (!endpoint.ok()) return endpoint.status();
  options.pool_size = std::max<size_t>(options.pool_size, 1);
  std::unique_ptr<RedisL2> l2(
      new RedisL2(std::move(options), std::move(*endpoint), clock, logger, metrics));
  std::string error;
  if (!l2->TryReconnect(&error)) {
    if (l2->metrics_.connect_errors != nullptr) l2->metrics_.connect_errors->Add();
    logger.Warn(
        "redis L2 unavailable at startup; caching in L1 only, reconnecting in background",
        {{"redis_url", std::string_view(l2->redacted_url_)}, {"error", std::string_view(error)}});
  }
  l2->thread_ = std::thread([p = l2.get()] { p->BackgroundLoop(); });
  return l2;
}

RedisL2::RedisL2(RedisL2Options options, RedisEndpoint endpoint, const Clock& clock, Logger& logger,
                 RedisL2Metrics metrics)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      redacted_url_(RedactRedisUrl(options_.url)),
      clock_(clock),
      logger_(logger),
      metrics_(metrics) {
  if (metrics_.up != nullptr) metrics_.up->Set(0);
}

RedisL2::~RedisL2() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock l(&mu_);
  for (redisContext* c : idle_) redisFree(c);
  idle_.clear();
  if (writer_ != nullptr) redisFree(writer_);
  writer_ = nullptr;
}

redisContext* RedisL2::Connect(absl::Duration command_timeout, std::string* error) const {
  const timeval ctv = TimevalOf(options_.connect_timeout);
  redisContext* c = endpoint_.is_unix
                        ? redisConnectUnixWithTimeout(endpoint_.path.c_str(), ctv)
                        : redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, ctv);
  if (c == nullptr) {
    *error = "cannot allocate a redis context";
    return nullptr;
  }
  auto fail = [&](std::string why) -> redisContext* {
    *error = std::move(why);
    redisFree(c);
    return nullptr;
  };
  if (c->err != 0) return fail(c->errstr);
  if (redisSetTimeout(c, TimevalOf(command_timeout)) != REDIS_OK) {
    return fail("cannot set the command timeout");
  }
  auto run = [&](redisReply* r, const char* what) -> bool {
    const bool ok = !IsError(r);
    if (!ok) {
      *error = r != nullptr ? absl::StrCat(what, ": ", absl::string_view(r->str, r->len))
                            : absl::StrCat(what, ": ", c->errstr);
    }
    if (r != nullptr) freeReplyObject(r);
    return ok;
  };
  if (!endpoint_.password.empty()) {
    redisReply* r = endpoint_.username.empty()
                        ? static_cast<redisReply*>(redisCommand(
                              c, "AUTH %b", endpoint_.password.data(), endpoint_.password.size()))
                        : static_cast<redisReply*>(redisCommand(
                              c, "AUTH %b %b", endpoint_.username.data(), endpoint_.username.size(),
                              endpoint_.password.data(), endpoint_.password.size()));
    if (!run(r, "AUTH")) {
      redisFree(c);
      return nullptr;
    }
  }
  if (endpoint_.db != 0) {
    if (!run(static_cast<redisReply*>(redisCommand(c, "SELECT %d", endpoint_.db)), "SELECT")) {
      redisFree(c);
      return nullptr;
    }
  }
  if (!run(static_cast<redisReply*>(redisCommand(c, "PING")), "PING")) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

bool RedisL2::TryReconnect(std::string* error) {
  if (writer_ != nullptr) {
    redisFree(writer_);
    writer_ = nullptr;
  }
  redisContext* writer = Connect(options_.write_timeout, error);
  if (writer == nullptr) return false;
  std::vector<redisContext*> pool;
  for (size_t i = 0; i < options_.pool_size; ++i) {
    redisContext* c = Connect(options_.command_timeout, error);
    if (c == nullptr) {
      for (redisContext* p : pool) redisFree(p);
      redisFree(writer);
      return false;
    }
    pool.push_back(c);
  }
  writer_ = writer;
  {
    absl::MutexLock l(&mu_);
    for (redisContext* c : idle_) redisFree(c);  // stale, from a previous generation
    idle_ = std::move(pool);
    open_ = idle_.size();
    up_ = true;
  }
  MarkUp();
  return true;
}

void RedisL2::MarkUp() {
  if (metrics_.up != nullptr) metrics_.up->Set(1);
  logger_.Info("redis L2 up", {{"redis_url", std::string_view(redacted_url_)},
                               {"pool", static_cast<int64_t>(options_.pool_size)}});
}

void RedisL2::MarkDown(std::string_view why) {
  std::vector<redisContext*> stale;
  size_t dropped = 0;
  {
    absl::MutexLock l(&mu_);
    if (!up_) return;
    up_ = false;
    ++generation_;
    stale.swap(idle_);
    open_ = 0;
    dropped = writes_.size();
    drops_ += dropped;
    writes_.clear();
  }
  for (redisContext* c : stale) redisFree(c);
  if (metrics_.write_drops != nullptr && dropped > 0) metrics_.write_drops->Add(dropped);
  if (metrics_.up != nullptr) metrics_.up->Set(0);
  logger_.Warn("redis L2 down; caching in L1 only, reconnecting in background",
               {{"redis_url", std::string_view(redacted_url_)}, {"error", why}});
}

redisContext* RedisL2::AcquireContext(uint64_t* generation) {
  absl::MutexLock l(&mu_);
  auto ready = [this]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !idle_.empty() || !up_ || stop_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), options_.command_timeout);
  if (!up_ || stop_ || idle_.empty()) return nullptr;
  redisContext* c = idle_.back();
  idle_.pop_back();
  *generation = generation_;
  return c;
}

void RedisL2::ReleaseContext(redisContext* c, uint64_t generation, bool broken) {
  {
    absl::MutexLock l(&mu_);
    if (!broken && generation == generation_ && up_ && !stop_) {
      idle_.push_back(c);
      return;
    }
    if (generation == generation_ && open_ > 0) --open_;
  }
  redisFree(c);
}

std::optional<L2Entry> RedisL2::Get(const std::string& key, absl::Duration ttl) {
  uint64_t generation = 0;
  redisContext* c = AcquireContext(&generation);
  if (c == nullptr) return std::nullopt;
  auto* r = static_cast<redisReply*>(redisCommand(c, "GET %b", key.data(), key.size()));
  if (r == nullptr) {
    const std::string error = c->errstr;
    ReleaseContext(c, generation, /*broken=*/true);
    if (metrics_.get_errors != nullptr) metrics_.get_errors->Add();
    MarkDown(absl::StrCat("GET: ", error));
    return std::nullopt;
  }
  std::optional<L2Entry> entry;
  if (r->type == REDIS_REPLY_STRING) {
    entry = DecodeL2Value(std::string_view(r->str, r->len), ttl, clock_.Wall());
  } else if (r->type == REDIS_REPLY_ERROR && metrics_.get_errors != nullptr) {
    metrics_.get_errors->Add();  // e.g. WRONGTYPE: a miss, the connection is fine
  }
  freeReplyObject(r);
  ReleaseContext(c, generation, /*broken=*/false);
  return entry;
}

bool RedisL2::Put(std::string key, std::string_view raw_text, absl::Duration ttl) {
  const int64_t ttl_s = std::max<int64_t>(1, std::llround(absl::ToDoubleSeconds(ttl)));
  if (ttl <= absl::ZeroDuration()) return false;
  const int64_t now_s = absl::ToUnixSeconds(clock_.Wall());
  return Enqueue(PendingWrite{std::move(key), EncodeL2Value(raw_text, now_s), ttl_s});
}

bool RedisL2::ListPush(std::string key, std::string element, size_t max_len,
                       absl::Duration ttl) {
  const int64_t ttl_s = std::max<int64_t>(1, std::llround(absl::ToDoubleSeconds(ttl)));
  if (ttl <= absl::ZeroDuration() || max_len == 0) return false;
  return Enqueue(PendingWrite{std::move(key), std::move(element), ttl_s, max_len});
}

bool RedisL2::Enqueue(PendingWrite w) {
  {
    absl::MutexLock l(&mu_);
    if (up_ && !stop_ && writes_.size() < options_.write_queue) {
      writes_.push_back(std::move(w));
      return true;
    }
    ++drops_;
  }
  if (metrics_.write_drops != nullptr) metrics_.write_drops->Add();
  return false;
}

std::optional<std::vector<std::string>> RedisL2::ListRange(const std::string& key,
                                                           size_t max_items) {
  if (max_items == 0) return std::vector<std::string>();
  uint64_t generation = 0;
  redisContext* c = AcquireContext(&generation);
  if (c == nullptr) return std::nullopt;
  auto* r = static_cast<redisReply*>(redisCommand(c, "LRANGE %b 0 %lld", key.data(), key.size(),
                                                  static_cast<long long>(max_items) - 1));
  if (r == nullptr) {
    const std::string error = c->errstr;
    ReleaseContext(c, generation, /*broken=*/true);
    if (metrics_.get_errors != nullptr) metrics_.get_errors->Add();
    MarkDown(absl::StrCat("LRANGE: ", error));
    return std::nullopt;
  }
  std::optional<std::vector<std::string>> out;
  if (r->type == REDIS_REPLY_ARRAY) {
    out.emplace();
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      if (e != nullptr && e->type == REDIS_REPLY_STRING) out->emplace_back(e->str, e->len);
    }
  } else if (r->type == REDIS_REPLY_ERROR && metrics_.get_errors != nullptr) {
    metrics_.get_errors->Add();  // e.g. WRONGTYPE
  }
  freeReplyObject(r);
  ReleaseContext(c, generation, /*broken=*/false);
  return out;
}

bool RedisL2::up() const {
  absl::MutexLock l(&mu_);
  return up_;
}

uint64_t RedisL2::write_drops() const {
  absl::MutexLock l(&mu_);
  return drops_;
}

bool RedisL2::WaitWritesIdle(absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return writes_.empty() && !writing_; };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void RedisL2::BackgroundLoop() {
  absl::Duration backoff = options_.reconnect_min;
  for (;;) {
    bool up = false;
    {
      absl::MutexLock l(&mu_);
      if (stop_) break;
      up = up_;
    }
    if (!up) {
      std::string error;
      if (TryReconnect(&error)) {
        backoff = options_.reconnect_min;
        continue;
      }
      if (metrics_.connect_errors != nullptr) metrics_.connect_errors->Add();
      logger_.Debug("redis L2 reconnect failed",
                    {{"error", std::string_view(error)},
                     {"retry_in_ms", absl::ToInt64Milliseconds(backoff)}});
      absl::MutexLock l(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff);
      backoff = std::min(backoff * 2, options_.reconnect_max);
      continue;
    }
    std::optional<PendingWrite> w;
    {
      absl::MutexLock l(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !up_ || !writes_.empty();
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), options_.health_interval);
      if (stop_) break;
      if (!up_) continue;
      if (!writes_.empty()) {
        w = std::move(writes_.front());
        writes_.pop_front();
        writing_ = true;
      }
    }
    redisReply* r = nullptr;
    if (!w.has_value()) {
      r = static_cast<redisReply*>(redisCommand(writer_, "PING"));
    } else if (w->list_max == 0) {
      r = static_cast<redisReply*>(redisCommand(writer_, "SETEX %b %lld %b", w->key.data(),
                                                w->key.size(), static_cast<long long>(w->ttl_s),
                                                w->value.data(), w->value.size()));
    } else {
      // One round trip: MULTI/EXEC keeps the list bounded and its TTL fresh atomically.
      redisAppendCommand(writer_, "MULTI");
      redisAppendCommand(writer_, "LPUSH %b %b", w->key.data(), w->key.size(), w->value.data(),
                         w->value.size());
      redisAppendCommand(writer_, "LTRIM %b 0 %lld", w->key.data(), w->key.size(),
                         static_cast<long long>(w->list_max) - 1);
      redisAppendCommand(writer_, "EXPIRE %b %lld", w->key.data(), w->key.size(),
                         static_cast<long long>(w->ttl_s));
      redisAppendCommand(writer_, "EXEC");
      for (int i = 0; i < 5; ++i) {
        if (r != nullptr) freeReplyObject(r);
        void* reply = nullptr;
        if (redisGetReply(writer_, &reply) != REDIS_OK) {
          r = nullptr;
          break;
        }
        r = static_cast<redisReply*>(reply);
      }
    }
    const std::string error =
        r == nullptr ? std::string(writer_->errstr)
                     : (r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "");
    const bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r != nullptr) freeReplyObject(r);
    if (w.has_value()) {
      if (ok && metrics_.writes != nullptr) metrics_.writes->Add();
      if (!ok && metrics_.set_errors != nullptr) metrics_.set_errors->Add();
    }
    if (r == nullptr) {
      redisFree(writer_);
      writer_ = nullptr;
      MarkDown(absl::StrCat(w.has_value() ? "SETEX: " : "PING: ", error));
    }
    if (w.has_value()) {
      absl::MutexLock l(&mu_);
      writing_ = false;
    }
  }
  if (writer_ != nullptr) {
    redisFree(writer_);
    writer_ = nullptr;
  }
}

}  // namespace llmix::cache
