// Spend accounting for budgets (a preset's `metadata.llmix-sidecar.budget`), in memory per
// sidecar: one account per (preset, window) and per (preset, tenant, window). A call reserves
// its estimated cost against every account that applies, all or nothing, before it goes
// upstream, and settles once it is over: the reservation is released and the real cost added.
// An account whose window has ended starts again at zero (windows come from the Clock's wall
// time, so tests drive them with FakeClock). Thread-safe: one mutex, held only for arithmetic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "registry/budget_settings.h"

namespace llmix::pipeline {

// One budget a call must fit: the preset's (tenant empty) or one tenant's within the preset.
struct BudgetCheck {
  std::string preset;
  std::string tenant;  // empty: the preset-wide budget
  double limit_usd = 0;
  registry::BudgetWindow window;
};

// What a successful Reserve holds; hand it back to Settle exactly once.
struct BudgetReservation {
  struct Part {
    BudgetCheck check;
    absl::Time window_start;  // the window the amount was reserved in
  };
  std::vector<Part> parts;
  double amount_usd = 0;
};

// One account's current window, for metrics and tests.
struct BudgetAccountView {
  std::string preset;
  std::string tenant;
  double limit_usd = 0;
  double spent_usd = 0;
  double reserved_usd = 0;
  absl::Time window_end;
};

// True for the status Reserve returns when a budget is spent (a RESOURCE_EXHAUSTED carrying
// the budget payload), as opposed to other overload refusals.
bool IsBudgetExhausted(const absl::Status& status);
// Seconds until the spent budget of such a status resets (for Retry-After); nullopt otherwise.
std::optional<int64_t> BudgetResetSeconds(const absl::Status& status);

class BudgetLedger {
 public:
  // `max_tenant_accounts`: tenant accounts kept at once (current windows); a new tenant beyond
  // it is refused rather than tracked without bound.
  explicit BudgetLedger(const Clock& clock, size_t max_tenant_accounts = 100000)
      : clock_(clock), max_tenant_accounts_(max_tenant_accounts) {}

  // Reserves `amount_usd` (>= 0) against every check, or against none: RESOURCE_EXHAUSTED
  // naming the first budget it does not fit (spent + reserved + amount > limit, or already
  // spent), its limit, window and when it resets.
  absl::StatusOr<BudgetReservation> Reserve(const std::vector<BudgetCheck>& checks,
                                            double amount_usd);

  // Releases `reservation` and adds `cost_usd` to each of its accounts' current window.
  void Settle(const BudgetReservation& reservation, double cost_usd);

  std::vector<BudgetAccountView> Accounts() const;
  std::optional<BudgetAccountView> View(const std::string& preset, const std::string& tenant) const;
  // Settle calls so far (tests check that every reservation is settled exactly once).
  int64_t settlements() const;

 private:
  struct Key {
    std::string preset;
    std::string tenant;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.preset, k.tenant);
    }
    bool operator==(const Key&) const = default;
  };
  struct Account {
    double limit_usd = 0;
    double spent_usd = 0;
    double reserved_usd = 0;
    absl::Time window_start;
    absl::Time window_end;
  };

  // The account for `check` at `now`, rolled over to the current window; nullptr when a new
  // tenant account would exceed the cap.
  Account* AccountFor(const BudgetCheck& check, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropEndedTenantAccounts(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const size_t max_tenant_accounts_;
  mutable absl::Mutex mu_;
  // Node-based: Reserve holds pointers to several accounts while it may insert new ones.
  absl::node_hash_map<Key, Account> accounts_ ABSL_GUARDED_BY(mu_);
  size_t tenant_accounts_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t settlements_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace llmix::pipeline
