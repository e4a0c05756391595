// The shared response cache (L2): Redis through hiredis, in LLMix's entry format (CONTRACT §12)
// so the sidecar and the Python/TypeScript LLMix libraries read each other's entries.
//
// Never on a call's critical path for long, never a reason for a call to fail:
//  - GET runs on the caller's worker thread with a short command timeout, on a context taken
//    from a small pool (each context is used by one thread at a time). When L2 is down, Get
//    returns a miss at once without touching the network.
//  - SETEX is queued (bounded; a full queue drops and counts) and written by one background
//    thread with its own context.
//  - Any connection error or timeout marks L2 down (log line + gauge); the background thread
//    reconnects with exponential backoff, refills the pool and marks it up again. While up it
//    PINGs periodically so an idle sidecar notices a dead Redis too.
// Connect and command timeouts are always set. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/telemetry.h"

struct redisContext;

namespace llmix::cache {

// `redis://[[user]:password@]host[:port][/db]` or `unix:///path/to/redis.sock` (also
// `unix:/path`; `?db=N` selects a database for either form).
struct RedisEndpoint {
  bool is_unix = false;
  std::string host;
  int port = 6379;
  std::string path;  // unix socket
  std::string username;
  std::string password;
  int db = 0;
};
absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url);
// The URL with any password replaced by "***" (for logs).
std::string RedactRedisUrl(std::string_view url);

// LLMix's L2 value: compact JSON.stringify({data, cached_at}) with cached_at in whole seconds.
std::string EncodeL2Value(std::string_view raw_text, int64_t cached_at_unix_s);

struct L2Entry {
  std::string data;              // the raw response text
  absl::Duration remaining_ttl;  // ttl - age (what L1 is backfilled with), > 0
};
// Reads an L2 value as LLMix does: `cached_at` or `cachedAt` (seconds); an entry whose `data`
// is not a string, that is not a JSON object, or whose age reached `ttl` is a miss (nullopt).
// A missing timestamp counts as age 0.
std::optional<L2Entry> DecodeL2Value(std::string_view text, absl::Duration ttl, absl::Time now);

struct RedisL2Options {
  std::string url;
  absl::Duration connect_timeout = absl::Milliseconds(500);
  absl::Duration command_timeout = absl::Milliseconds(100);  // GET on the call path
  absl::Duration write_timeout = absl::Seconds(1);  // SETEX / PING on the background thread
  size_t pool_size = 8;                             // contexts for GETs
  size_t write_queue = 1024;                        // pending SETEX before dropping
  absl::Duration reconnect_min = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
  absl::Duration health_interval = absl::Seconds(5);
};

// Metrics L2 records into; any may be null.
struct RedisL2Metrics {
  Counter* get_errors = nullptr;
  Counter* set_errors = nullptr;
  Counter* connect_errors = nullptr;
  Counter* write_drops = nullptr;
  Counter* writes = nullptr;
  Gauge* up = nullptr;
};

class RedisL2 {
 public:
  // Validates the URL, tries one connection synchronously (bounded by connect_timeout) so a
  // healthy Redis is used from the first call, and starts the background thread. An
  // unreachable Redis is not an error: L2 starts down and keeps reconnecting.
  static absl::StatusOr<std::unique_ptr<RedisL2>> Create(RedisL2Options options, const Clock& clock,
                                                         Logger& logger,
                                                         RedisL2Metrics metrics = {});
  ~RedisL2();
  RedisL2(const RedisL2&) = delete;
  RedisL2& operator=(const RedisL2&) = delete;

  // GET + decode (see DecodeL2Value). nullopt on a miss, an error, a timeout, or while down.
  std::optional<L2Entry> Get(const std::string& key, absl::Duration ttl);
  // Queues `SETEX key ttl EncodeL2Value(raw_text, now)`; false when dropped (down, queue full).
  bool Put(std::string key, std::string_view raw_text, absl::Duration ttl);

  // For the semantic cache's shared entries (pipeline/cache/semantic_cache.h): LRANGE key 0
  // max_items-1 on a pooled context, like Get (nullopt on an error, a timeout, or while down),
  // and a queued LPUSH key element + LTRIM to max_len + EXPIRE ttl (dropped like Put).
  std::optional<std::vector<std::string>> ListRange(const std::string& key, size_t max_items);
  bool ListPush(std::string key, std::string element, size_t max_len, absl::Duration ttl);

  bool up() const;
  uint64_t write_drops() const;
  // Waits until the write queue is empty and no write is in flight (for tests and shutdown).
  bool WaitWritesIdle(absl::Duration timeout);

 private:
  struct PendingWrite {
    std::string key;
    std::string value;
    int64_t ttl_s;
    size_t list_max = 0;  // > 0: a ListPush (LPUSH + LTRIM + EXPIRE), else SETEX
  };
  bool Enqueue(PendingWrite w);
  RedisL2(RedisL2Options options, RedisEndpoint endpoint, const Clock& clock, Logger& logger,
          RedisL2Metrics metrics);

  // A connected, authenticated context with `timeout` set for commands, or nullptr.
  redisContext* Connect(absl::Duration command_timeout, std::string* error) const;
  redisContext* AcquireContext(uint64_t* generation);
  void ReleaseContext(redisContext* c, uint64_t generation, bool broken);
  void MarkDown(std::string_view why);
  void MarkUp();
  void BackgroundLoop();
  bool TryReconnect(std::string* error);

  const RedisL2Options options_;
  const RedisEndpoint endpoint_;
  const std::string redacted_url_;
  const Clock& clock_;
  Logger& logger_;
  const RedisL2Metrics metrics_;

  mutable absl::Mutex mu_;
  bool up_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped on every MarkDown
  std::vector<redisContext*> idle_ ABSL_GUARDED_BY(mu_);
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + in use, current generation
  std::deque<PendingWrite> writes_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t drops_ ABSL_GUARDED_BY(mu_) = 0;

  redisContext* writer_ = nullptr;  // background thread only
  std::thread thread_;
};

}  // namespace llmix::cache
