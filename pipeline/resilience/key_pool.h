// API-key rotation per provider (CONTRACT.md §8): a cleaned key list (trimmed, empties
// dropped, de-duplicated in first-seen order), a sticky current key, rotate on 429, permanent
// dead marks on 401/403, and loading from `<PROVIDER>_KEYS` / `<PROVIDER>_API_KEY`.
// Keys never appear in any Status message. KeyPool and KeyPoolRegistry are thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/env.h"

namespace llmix::resilience {

// The pool's internal fields, for tests and diagnostics (indices, never key text).
struct KeyPoolSnapshot {
  size_t index = 0;                  // current position in keys()
  std::vector<size_t> dead_indices;  // indices into keys(), in marking order
  size_t alive_count = 0;
  size_t total_count = 0;
  bool exhausted = false;
};

class KeyPool {
 public:
  // kInvalidArgument "KeyPool requires at least one non-empty key" when nothing survives
  // cleaning (JS trim, drop empty, de-duplicate keeping the first occurrence).
  static absl::StatusOr<std::unique_ptr<KeyPool>> Create(const std::vector<std::string>& keys);

  KeyPool(const KeyPool&) = delete;
  KeyPool& operator=(const KeyPool&) = delete;

  // The current key, moving forward past dead keys (the position sticks there). When every key
  // is dead: kFailedPrecondition "All <n> keys are dead (401/403). Replace keys or wait for
  // provider resolution."
  absl::StatusOr<std::string> Select();
  // Select() with a veto (per-key limits, a sidecar addition): the first alive key from the
  // current one on that `admit` accepts becomes the current key. None accepted:
  // kResourceExhausted and the position stays; all dead: Select()'s error. `admit` runs under
  // the pool's lock and must not call back into the pool.
  absl::StatusOr<std::string> SelectWhere(absl::FunctionRef<bool(const std::string&)> admit);
  // Advances to the next alive key (after a 429); no-op when exhausted.
  void Rotate();
  // Marks `key` permanently dead (after 401/403); keys not in the pool are ignored.
  void MarkDead(std::string_view key);

  bool IsExhausted() const;
  size_t alive_count() const;
  size_t total_count() const { return keys_.size(); }
  // The cleaned key list, in pool order.
  const std::vector<std::string>& keys() const { return keys_; }
  KeyPoolSnapshot Snapshot() const;

 private:
  explicit KeyPool(std::vector<std::string> keys);
  bool IsExhaustedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<std::string> keys_;  // immutable after construction
  mutable absl::Mutex mu_;
  size_t index_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> dead_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> dead_order_ ABSL_GUARDED_BY(mu_);
};

// LLMix loadKeysFromEnv: `<P>_KEYS` (comma list) when it has non-whitespace content, else
// `<P>_API_KEY` when it does, where <P> is the provider upper-cased with '-' -> '_'. Neither:
// kNotFound "No API keys found for <P>. Set <P>_KEYS (comma-separated) or <P>_API_KEY.".
// A `<P>_KEYS` of only commas/blanks fails as KeyPool::Create does (no fallback).
// `include_alias` additionally accepts the catalog's documented alias variable (e.g.
// GEMINI_API_KEY for google) as a last single-key fallback; LLMix itself never reads it.
absl::StatusOr<std::unique_ptr<KeyPool>> LoadKeysFromEnv(std::string_view provider, const Env& env,
                                                         bool include_alias = false);

// One pool per provider, loaded from the environment on first use or installed explicitly.
// Thread-safe. Pools are shared_ptr so an installed replacement never invalidates a pool a call
// is still using.
class KeyPoolRegistry {
 public:
  // `env` must outlive the registry.
  explicit KeyPoolRegistry(const Env& env, bool include_alias = false)
      : env_(env), include_alias_(include_alias) {}
  KeyPoolRegistry(const KeyPoolRegistry&) = delete;
  KeyPoolRegistry& operator=(const KeyPoolRegistry&) = delete;

  // The provider's pool, loading it from the environment if none is installed yet. A failed
  // load is not cached (the next call retries), and its error is returned.
  absl::StatusOr<std::shared_ptr<KeyPool>> Get(std::string_view provider);
  // The installed pool, or nullptr.
  std::shared_ptr<KeyPool> Find(std::string_view provider) const;
  void Set(std::string_view provider, std::shared_ptr<KeyPool> pool);
  // Drops the provider's pool (the next Get loads it again).
  void Erase(std::string_view provider);
  // (provider, pool) for every installed or loaded pool, in no particular order.
  std::vector<std::pair<std::string, std::shared_ptr<KeyPool>>> All() const;

 private:
  const Env& env_;
  const bool include_alias_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<KeyPool>> pools_ ABSL_GUARDED_BY(mu_);
};

}  // namespace llmix::resilience
