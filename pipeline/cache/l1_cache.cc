#include "pipeline/cache/l1_cache.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace llmix::cache {

L1Cache::L1Cache(const Clock& clock, L1Options options) : clock_(clock) {
  const size_t max_entries = std::max<size_t>(options.max_entries, 1);
  const size_t n = std::clamp<size_t>(options.shards, 1, max_entries);
  shards_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Shard>();
    // Spread the budgets so that the shards add up to exactly the configured totals.
    s->max_entries = max_entries / n + (i < max_entries % n ? 1 : 0);
    s->max_bytes = options.max_bytes / n + (i < options.max_bytes % n ? 1 : 0);
    shards_.push_back(std::move(s));
  }
}

L1Cache::Shard& L1Cache::ShardFor(std::string_view key) {
  return *shards_[absl::HashOf(key) % shards_.size()];
}

void L1Cache::RemoveLocked(Shard& s, std::list<Entry>::iterator it) {
  s.bytes -= it->charge;
  s.index.erase(std::string_view(it->key));
  s.lru.erase(it);
}

std::optional<std::string> L1Cache::Get(std::string_view key) {
  Shard& s = ShardFor(key);
  const absl::Duration now = clock_.Monotonic();
  absl::MutexLock l(&s.mu);
  auto found = s.index.find(key);
  if (found == s.index.end()) return std::nullopt;
  auto it = found->second;
  if (it->expires <= now) {
    RemoveLocked(s, it);
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, it);
  return it->value;
}

void L1Cache::Put(std::string_view key, std::string value, absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration()) return;
  Shard& s = ShardFor(key);
  const size_t charge = key.size() + value.size() + kEntryOverhead;
  const absl::Duration expires = clock_.Monotonic() + ttl;
  absl::MutexLock l(&s.mu);
  if (auto found = s.index.find(key); found != s.index.end()) RemoveLocked(s, found->second);
  if (charge > s.max_bytes) return;
  while (!s.lru.empty() && (s.lru.size() + 1 > s.max_entries || s.bytes + charge > s.max_bytes)) {
    RemoveLocked(s, std::prev(s.lru.end()));
    ++s.evictions;
  }
  s.lru.push_front(Entry{std::string(key), std::move(value), expires, charge});
  s.index.emplace(std::string_view(s.lru.front().key), s.lru.begin());
  s.bytes += charge;
}

void L1Cache::Erase(std::string_view key) {
  Shard& s = ShardFor(key);
  absl::MutexLock l(&s.mu);
  if (auto found = s.index.find(key); found != s.index.end()) RemoveLocked(s, found->second);
}

size_t L1Cache::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    n += s->lru.size();
  }
  return n;
}

size_t L1Cache::bytes() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    n += s->bytes;
  }
  return n;
}

uint64_t L1Cache::evictions() const {
  uint64_t n = 0;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    n += s->evictions;
  }
  return n;
}

}  // namespace llmix::cache
