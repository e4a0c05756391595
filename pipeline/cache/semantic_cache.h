// The semantic cache's index (README "Semantic cache"): per scope (the request with the
// embedded prompt text taken out, see pipeline/semantic_lookup.h) a list of {unit vector,
// response key, response text, expiry}; a lookup is a brute-force dot product over the scope's
// live entries (vectors are normalised once, on insert or lookup, so dot = cosine). Bounded:
// `max_entries` per scope (least recently used first out) and a byte budget over all scopes
// (the least recently used scope loses its oldest entries first). Time from the injected Clock
// (TTLs on Monotonic). Shared by every preset; survives config reloads. Thread-safe.
//
// Also the Redis layout of shared entries: list `llmix:sem:<scope>`, newest first, each element
// EncodeSemanticEntry(response key, vector) — the response text itself is the ordinary L2 entry
// under the response key.
#pragma once

#include <cstddef>
#include <cstdint>
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

inline constexpr char kSemanticKeyPrefix[] = "llmix:sem:";

// `v` scaled to length 1; empty when `v` is empty, has a non-finite component or is all zeros
// (such a vector matches nothing).
std::vector<float> Normalized(const std::vector<float>& v);

// Dot product (cosine similarity of unit vectors); 0 when the dimensions differ.
float Dot(const std::vector<float>& a, const std::vector<float>& b);

// One Redis list element: the response key, a NUL, then the unit vector as little-endian
// float32 (4 bytes per component).
std::string EncodeSemanticEntry(std::string_view response_key, const std::vector<float>& unit);
struct DecodedSemanticEntry {
  std::string response_key;
  std::vector<float> unit;
};
// nullopt for an element that is not in that format.
std::optional<DecodedSemanticEntry> DecodeSemanticEntry(std::string_view element);

struct SemanticIndexOptions {
  size_t max_bytes = 256u << 20;  // vectors + keys + texts + per-entry overhead, all scopes
  size_t shards = 16;
};

struct SemanticMatch {
  std::string response_key;
  std::string text;  // empty for an entry loaded from Redis (text is in L2 under the key)
  float similarity = 0;
};

class SemanticIndex {
 public:
  static constexpr size_t kEntryOverhead = 128;

  SemanticIndex(const Clock& clock, SemanticIndexOptions options);
  SemanticIndex(const SemanticIndex&) = delete;
  SemanticIndex& operator=(const SemanticIndex&) = delete;

  // The live entry of `scope` most similar to the unit vector `unit`, when that similarity is
  // >= `threshold` (and marks it most recently used). Expired entries met are dropped.
  // `best` (optional) receives the best similarity seen, hit or not (-1 when none).
  std::optional<SemanticMatch> Lookup(std::string_view scope, const std::vector<float>& unit,
                                      float threshold, float* best = nullptr);
  // Inserts (or replaces the entry with the same response key) at the front of `scope`, then
  // evicts the scope's oldest entries beyond `max_entries` and, over the byte budget, the
  // oldest entries of the least recently used scopes. A non-positive ttl or an empty vector is
  // not stored.
  void Insert(std::string_view scope, std::vector<float> unit, std::string response_key,
              std::string text, absl::Duration ttl, size_t max_entries);
  // Whether `scope` holds an entry (live or not) for `response_key`.
  bool Contains(std::string_view scope, std::string_view response_key) const;
  // Forgets one entry (e.g. a Redis entry whose response expired from L2).
  void Erase(std::string_view scope, std::string_view response_key);

  size_t size() const;  // entries over all scopes, including expired ones not yet collected
  size_t bytes() const;
  uint64_t evictions() const;

 private:
  struct Entry {
    std::vector<float> unit;
    std::string response_key;
    std::string text;
    absl::Duration expires;  // on clock.Monotonic()
    size_t charge;
  };
  struct Scope {
    std::string name;
    std::list<Entry> entries;  // front: most recently used
    // response key (viewing the entry's own string) -> entry, for replacing and Contains.
    absl::flat_hash_map<std::string_view, std::list<Entry>::iterator> by_key;
  };
  struct Shard {
    mutable absl::Mutex mu;
    std::list<Scope> scopes ABSL_GUARDED_BY(mu);  // front: most recently used
    // scope name (viewing the Scope's own string) -> scope
    absl::flat_hash_map<std::string_view, std::list<Scope>::iterator> index ABSL_GUARDED_BY(mu);
    size_t entries ABSL_GUARDED_BY(mu) = 0;
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
    size_t max_bytes = 0;
    uint64_t evictions ABSL_GUARDED_BY(mu) = 0;
  };

  Shard& ShardFor(std::string_view scope) const;
  static void RemoveLocked(Shard& s, std::list<Scope>::iterator scope,
                           std::list<Entry>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);

  const Clock& clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace llmix::cache
