#include "pipeline/resilience/key_pool.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/provider_catalog.h"
#include "common/js_text.h"

namespace llmix::resilience {
namespace {

// The value of `name` when set and non-blank (JS `(process.env[name] ?? "").trim()` truthy).
std::optional<std::string> NonBlankEnv(const Env& env, const std::string& name) {
  std::optional<std::string> value = env.Get(name);
  if (!value.has_value() || TrimJsWhitespace(*value).empty()) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyPool>> KeyPool::Create(const std::vector<std::string>& keys) {
  std::vector<std::string> cleaned;
  for (const std::string& raw : keys) {
    const std::string_view key = TrimJsWhitespace(raw);
    if (key.empty()) continue;
    if (std::find(cleaned.begin(), cleaned.end(), key) != cleaned.end()) continue;
    cleaned.emplace_back(key);
  }
  if (cleaned.empty()) {
    return absl::InvalidArgumentError("KeyPool requires at least one non-empty key");
  }
  return std::unique_ptr<KeyPool>(new KeyPool(std::move(cleaned)));
}

KeyPool::KeyPool(std::vector<std::string> keys)
    : keys_(std::move(keys)), dead_(keys_.size(), false) {}

bool KeyPool::IsExhaustedLocked() const { return dead_order_.size() >= keys_.size(); }

absl::StatusOr<std::string> KeyPool::Select() {
  absl::MutexLock lock(&mu_);
  if (!IsExhaustedLocked()) {
    for (size_t offset = 0; offset < keys_.size(); ++offset) {
      const size_t idx = (index_ + offset) % keys_.size();
      if (!dead_[idx]) {
        index_ = idx;
        return keys_[idx];
      }
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("All ", keys_.size(),
                   " keys are dead (401/403). Replace keys or wait for provider resolution."));
}

absl::StatusOr<std::string> KeyPool::SelectWhere(
    absl::FunctionRef<bool(const std::string&)> admit) {
  absl::MutexLock lock(&mu_);
  if (!IsExhaustedLocked()) {
    for (size_t offset = 0; offset < keys_.size(); ++offset) {
      const size_t idx = (index_ + offset) % keys_.size();
      if (!dead_[idx] && admit(keys_[idx])) {
        index_ = idx;
        return keys_[idx];
      }
    }
    return absl::ResourceExhaustedError("every alive key was refused");
  }
  return absl::FailedPreconditionError(
      absl::StrCat("All ", keys_.size(),
                   " keys are dead (401/403). Replace keys or wait for provider resolution."));
}

void KeyPool::Rotate() {
  absl::MutexLock lock(&mu_);
  if (IsExhaustedLocked()) return;
  for (size_t offset = 1; offset <= keys_.size(); ++offset) {
    const size_t idx = (index_ + offset) % keys_.size();
    if (!dead_[idx]) {
      index_ = idx;
      return;
    }
  }
}

void KeyPool::MarkDead(std::string_view key) {
  absl::MutexLock lock(&mu_);
  const auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) return;
  const size_t idx = static_cast<size_t>(it - keys_.begin());
  if (dead_[idx]) return;
  dead_[idx] = true;
  dead_order_.push_back(idx);
}

bool KeyPool::IsExhausted() const {
  absl::MutexLock lock(&mu_);
  return IsExhaustedLocked();
}

size_t KeyPool::alive_count() const {
  absl::MutexLock lock(&mu_);
  return keys_.size() - dead_order_.size();
}

KeyPoolSnapshot KeyPool::Snapshot() const {
  absl::MutexLock lock(&mu_);
  KeyPoolSnapshot s;
  s.index = index_;
  s.dead_indices = dead_order_;
  s.total_count = keys_.size();
  s.alive_count = keys_.size() - dead_order_.size();
  s.exhausted = IsExhaustedLocked();
  return s;
}

absl::StatusOr<std::unique_ptr<KeyPool>> LoadKeysFromEnv(std::string_view provider, const Env& env,
                                                         bool include_alias) {
  // ProviderKeyEnvNames: <P>_KEYS, <P>_API_KEY, then the catalog alias (if any).
  const std::vector<std::string> names = ProviderKeyEnvNames(provider);
  const std::string& keys_var = names[0];
  const std::string& key_var = names[1];
  if (std::optional<std::string> list = NonBlankEnv(env, keys_var)) {
    return KeyPool::Create(absl::StrSplit(*list, ','));
  }
  if (std::optional<std::string> single = NonBlankEnv(env, key_var)) {
    return KeyPool::Create({*single});
  }
  for (size_t i = 2; include_alias && i < names.size(); ++i) {
    if (std::optional<std::string> alias = NonBlankEnv(env, names[i])) {
      return KeyPool::Create({*alias});
    }
  }
  const std::string prefix = ProviderEnvPrefix(provider);
  return absl::NotFoundError(absl::StrCat("No API keys found for ", prefix, ". Set ", keys_var,
                                          " (comma-separated) or ", key_var, "."));
}

absl::StatusOr<std::shared_ptr<KeyPool>> KeyPoolRegistry::Get(std::string_view provider) {
  if (std::shared_ptr<KeyPool> pool = Find(provider)) return pool;
  absl::StatusOr<std::unique_ptr<KeyPool>> loaded = LoadKeysFromEnv(provider, env_, include_alias_);
  if (!loaded.ok()) return loaded.status();
  absl::MutexLock lock(&mu_);
  // Another thread may have installed a pool meanwhile; the first one wins.
  auto [it, inserted] =
      pools_.try_emplace(std::string(provider), std::shared_ptr<KeyPool>(std::move(*loaded)));
  return it->second;
}

std::shared_ptr<KeyPool> KeyPoolRegistry::Find(std::string_view provider) const {
  absl::MutexLock lock(&mu_);
  const auto it = pools_.find(std::string(provider));
  return it == pools_.end() ? nullptr : it->second;
}

void KeyPoolRegistry::Set(std::string_view provider, std::shared_ptr<KeyPool> pool) {
  absl::MutexLock lock(&mu_);
  pools_[std::string(provider)] = std::move(pool);
}

}  // namespace llmix::resilience

namespace llmix::resilience {

void KeyPoolRegistry::Erase(std::string_view provider) {
  absl::MutexLock lock(&mu_);
  pools_.erase(std::string(provider));
}

std::vector<std::pair<std::string, std::shared_ptr<KeyPool>>> KeyPoolRegistry::All() const {
  absl::MutexLock lock(&mu_);
  return {pools_.begin(), pools_.end()};
}

}  // namespace llmix::resilience
