// The in-process response cache (L1): LRU with a TTL per entry, bounded by entry count AND by
// bytes, split into shards (one mutex each) so concurrent calls rarely contend. Time comes
// from the injected Clock. Shared by every preset; survives config reloads. Thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace llmix::cache {

struct L1Options {
  size_t max_entries = 1000;     // CONTRACT §12: LLMix's L1 default
  size_t max_bytes = 64u << 20;  // key + value + per-entry overhead
  size_t shards = 16;            // fewer when max_entries is smaller
};

class L1Cache {
 public:
  // Bytes charged per entry on top of key and value (list node, map slot, bookkeeping).
  static constexpr size_t kEntryOverhead = 96;

  L1Cache(const Clock& clock, L1Options options);
  L1Cache(const L1Cache&) = delete;
  L1Cache& operator=(const L1Cache&) = delete;

  // The value if present and not expired (and marks it most recently used).
  std::optional<std::string> Get(std::string_view key);
  // Inserts or replaces; evicts least recently used entries of the shard until it fits. A
  // non-positive ttl or a value larger than a shard's byte budget is not stored.
  void Put(std::string_view key, std::string value, absl::Duration ttl);
  void Erase(std::string_view key);

  size_t size() const;  // entries, including expired ones not yet collected
  size_t bytes() const;
  uint64_t evictions() const;

 private:
  struct Entry {
    std::string key;
    std::string value;
    absl::Duration expires;  // on clock.Monotonic()
    size_t charge;
  };
  struct Shard {
    mutable absl::Mutex mu;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);  // front: most recently used
    absl::flat_hash_map<std::string_view, std::list<Entry>::iterator> index ABSL_GUARDED_BY(mu);
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
    size_t max_entries = 0;
    size_t max_bytes = 0;
    uint64_t evictions ABSL_GUARDED_BY(mu) = 0;
  };

  Shard& ShardFor(std::string_view key);
  static void RemoveLocked(Shard& s, std::list<Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);

  const Clock& clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace llmix::cache
