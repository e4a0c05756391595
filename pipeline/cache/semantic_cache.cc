#include "pipeline/cache/semantic_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"

namespace llmix::cache {

std::vector<float> Normalized(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) {
    if (!std::isfinite(x)) return {};
    sum += static_cast<double>(x) * x;
  }
  if (!(sum > 0) || !std::isfinite(sum)) return {};
  const double inv = 1.0 / std::sqrt(sum);
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i] * inv);
  return out;
}

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  float sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

std::string EncodeSemanticEntry(std::string_view response_key, const std::vector<float>& unit) {
  std::string out(response_key);
  out.push_back('\0');
  const size_t at = out.size();
  out.resize(at + unit.size() * 4);
  for (size_t i = 0; i < unit.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &unit[i], 4);
    for (int b = 0; b < 4; ++b) out[at + i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

std::optional<DecodedSemanticEntry> DecodeSemanticEntry(std::string_view element) {
  const size_t nul = element.find('\0');
  if (nul == std::string_view::npos || nul == 0) return std::nullopt;
  std::string_view bytes = element.substr(nul + 1);
  if (bytes.empty() || bytes.size() % 4 != 0) return std::nullopt;
  DecodedSemanticEntry out;
  out.response_key = std::string(element.substr(0, nul));
  out.unit.resize(bytes.size() / 4);
  for (size_t i = 0; i < out.unit.size(); ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    }
    std::memcpy(&out.unit[i], &bits, 4);
  }
  // Written normalised, but a foreign or damaged element must not match above 1.
  out.unit = Normalized(out.unit);
  if (out.unit.empty()) return std::nullopt;
  return out;
}

SemanticIndex::SemanticIndex(const Clock& clock, SemanticIndexOptions options) : clock_(clock) {
  const size_t n = std::max<size_t>(1, options.shards);
  for (size_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Shard>();
    s->max_bytes = std::max<size_t>(1, options.max_bytes / n);
    shards_.push_back(std::move(s));
  }
}

SemanticIndex::Shard& SemanticIndex::ShardFor(std::string_view scope) const {
  return *shards_[absl::HashOf(scope) % shards_.size()];
}

void SemanticIndex::RemoveLocked(Shard& s, std::list<Scope>::iterator scope,
                                 std::list<Entry>::iterator it) {
  s.bytes -= it->charge;
  --s.entries;
  scope->by_key.erase(std::string_view(it->response_key));
  scope->entries.erase(it);
  if (scope->entries.empty()) {
    s.index.erase(std::string_view(scope->name));
    s.scopes.erase(scope);
  }
}

std::optional<SemanticMatch> SemanticIndex::Lookup(std::string_view scope,
                                                   const std::vector<float>& unit, float threshold,
                                                   float* best) {
  if (best != nullptr) *best = -1;
  if (unit.empty()) return std::nullopt;
  Shard& s = ShardFor(scope);
  const absl::Duration now = clock_.Monotonic();
  absl::MutexLock l(&s.mu);
  auto found = s.index.find(scope);
  if (found == s.index.end()) return std::nullopt;
  auto sc = found->second;
  std::list<Entry>::iterator top = sc->entries.end();
  float top_sim = -1;
  for (auto it = sc->entries.begin(); it != sc->entries.end();) {
    if (it->expires <= now) {
      auto dead = it++;
      if (sc->entries.size() == 1) {  // the scope goes with its last entry
        RemoveLocked(s, sc, dead);
        return std::nullopt;
      }
      RemoveLocked(s, sc, dead);
      continue;
    }
    const float sim = Dot(unit, it->unit);
    if (sim > top_sim) {
      top_sim = sim;
      top = it;
    }
    ++it;
  }
  if (best != nullptr) *best = top_sim;
  if (top == sc->entries.end() || top_sim < threshold) return std::nullopt;
  sc->entries.splice(sc->entries.begin(), sc->entries, top);
  s.scopes.splice(s.scopes.begin(), s.scopes, sc);
  return SemanticMatch{top->response_key, top->text, std::min(top_sim, 1.0f)};
}

void SemanticIndex::Insert(std::string_view scope, std::vector<float> unit,
                           std::string response_key, std::string text, absl::Duration ttl,
                           size_t max_entries) {
  if (ttl <= absl::ZeroDuration() || unit.empty() || max_entries == 0) return;
  Shard& s = ShardFor(scope);
  const size_t charge = kEntryOverhead + scope.size() + unit.size() * sizeof(float) +
                        response_key.size() + text.size();
  if (charge > s.max_bytes) return;
  const absl::Duration expires = clock_.Monotonic() + ttl;
  absl::MutexLock l(&s.mu);
  auto found = s.index.find(scope);
  std::list<Scope>::iterator sc;
  if (found == s.index.end()) {
    s.scopes.emplace_front();
    sc = s.scopes.begin();
    sc->name = std::string(scope);
    s.index.emplace(std::string_view(sc->name), sc);
  } else {
    sc = found->second;
    s.scopes.splice(s.scopes.begin(), s.scopes, sc);
    if (auto old = sc->by_key.find(response_key); old != sc->by_key.end()) {
      // Not RemoveLocked: that would drop a scope left empty, and one is added below.
      s.bytes -= old->second->charge;
      --s.entries;
      auto it = old->second;
      sc->by_key.erase(old);
      sc->entries.erase(it);
    }
  }
  sc->entries.push_front(
      Entry{std::move(unit), std::move(response_key), std::move(text), expires, charge});
  sc->by_key.emplace(std::string_view(sc->entries.front().response_key), sc->entries.begin());
  s.bytes += charge;
  ++s.entries;
  while (sc->entries.size() > max_entries) {
    RemoveLocked(s, sc, std::prev(sc->entries.end()));  // leaves the new entry
    ++s.evictions;
  }
  // Over budget: the least recently used scope loses its oldest entries first (the scope just
  // written is the most recently used, so it is drained last).
  while (s.bytes > s.max_bytes && !s.scopes.empty()) {
    auto victim = std::prev(s.scopes.end());
    RemoveLocked(s, victim, std::prev(victim->entries.end()));
    ++s.evictions;
  }
}

bool SemanticIndex::Contains(std::string_view scope, std::string_view response_key) const {
  Shard& s = ShardFor(scope);
  absl::MutexLock l(&s.mu);
  auto found = s.index.find(scope);
  return found != s.index.end() && found->second->by_key.contains(response_key);
}

void SemanticIndex::Erase(std::string_view scope, std::string_view response_key) {
  Shard& s = ShardFor(scope);
  absl::MutexLock l(&s.mu);
  auto found = s.index.find(scope);
  if (found == s.index.end()) return;
  auto sc = found->second;
  if (auto it = sc->by_key.find(response_key); it != sc->by_key.end()) {
    RemoveLocked(s, sc, it->second);
  }
}

size_t SemanticIndex::size() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    n += s->entries;
  }
  return n;
}

size_t SemanticIndex::bytes() const {
  size_t n = 0;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    n += s->bytes;
  }
  return n;
}

uint64_t SemanticIndex::evictions() const {
  uint64_t n = 0;
  for (const auto& s : shards_) {
    absl::MutexLock l(&s->mu);
    n += s->evictions;
  }
  return n;
}

}  // namespace llmix::cache
