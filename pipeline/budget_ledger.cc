#include "pipeline/budget_ledger.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/canonical_json.h"
#include "common/pricing.h"

namespace llmix::pipeline {

namespace {

constexpr char kBudgetPayload[] = "type.llmix.dev/llmix.sidecar.BudgetExhausted";

// USD for messages: at most 6 decimals, JS number text ("0.25", "5", "0.000123").
std::string Usd(double v) { return "$" + JsNumberToString(JsToFixedNumber(v, 6)); }

absl::Status Exhausted(const BudgetCheck& check, double spent, double reserved, double amount,
                       absl::Time reset, absl::Time now) {
  std::string who = check.tenant.empty() ? absl::StrCat("preset \"", check.preset, "\"")
                                         : absl::StrCat("tenant \"", check.tenant,
                                                        "\" of preset \"", check.preset, "\"");
  std::string message = absl::StrCat(
      "budget exhausted: the ", check.tenant.empty() ? "" : "per-tenant ", "budget of ", who, " (",
      Usd(check.limit_usd), " per ", check.window.text, ") cannot take this call: ", Usd(spent),
      " spent, ", Usd(reserved), " reserved, this call needs up to ", Usd(amount),
      "; it resets at ", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", reset, absl::UTCTimeZone()));
  absl::Status st = absl::ResourceExhaustedError(message);
  const int64_t seconds =
      std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(reset - now, absl::Seconds(1))));
  st.SetPayload(kBudgetPayload, absl::Cord(std::to_string(seconds)));
  return st;
}

}  // namespace

bool IsBudgetExhausted(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         status.GetPayload(kBudgetPayload).has_value();
}

std::optional<int64_t> BudgetResetSeconds(const absl::Status& status) {
  if (!IsBudgetExhausted(status)) return std::nullopt;
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(std::string(*status.GetPayload(kBudgetPayload)), &seconds)) {
    return std::nullopt;
  }
  return seconds;
}

BudgetLedger::Account* BudgetLedger::AccountFor(const BudgetCheck& check, absl::Time now) {
  const absl::Time start = check.window.Start(now);
  Key key{check.preset, check.tenant};
  auto it = accounts_.find(key);
  if (it == accounts_.end()) {
    if (!check.tenant.empty()) {
      if (tenant_accounts_ >= max_tenant_accounts_) DropEndedTenantAccounts(now);
      if (tenant_accounts_ >= max_tenant_accounts_) return nullptr;
      ++tenant_accounts_;
    }
    it = accounts_.emplace(std::move(key), Account{}).first;
    it->second.window_start = start;
    it->second.window_end = check.window.End(now);
  }
  Account& a = it->second;
  if (a.window_start != start) {
    // A new window (or a new window definition after a config change): spend starts at 0;
    // reservations made in the old window are released against nothing.
    a.spent_usd = 0;
    a.reserved_usd = 0;
    a.window_start = start;
    a.window_end = check.window.End(now);
  }
  a.limit_usd = check.limit_usd;
  return &a;
}

void BudgetLedger::DropEndedTenantAccounts(absl::Time now) {
  for (auto it = accounts_.begin(); it != accounts_.end();) {
    auto next = std::next(it);
    // Reservations still open in an ended window release nothing (Settle sees the window has
    // changed), so they do not keep an account alive.
    if (!it->first.tenant.empty() && it->second.window_end <= now) {
      accounts_.erase(it);
      --tenant_accounts_;
    }
    it = next;
  }
}

absl::StatusOr<BudgetReservation> BudgetLedger::Reserve(const std::vector<BudgetCheck>& checks,
                                                        double amount_usd) {
  const absl::Time now = clock_.Wall();
  amount_usd = std::isfinite(amount_usd) ? std::max(0.0, amount_usd) : 0.0;
  absl::MutexLock l(&mu_);
  std::vector<Account*> accounts;
  accounts.reserve(checks.size());
  for (const BudgetCheck& check : checks) {
    Account* a = AccountFor(check, now);
    if (a == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("budget exhausted: too many tenants with a budget in this window (at most ",
                       max_tenant_accounts_, " per sidecar); tenant \"", check.tenant,
                       "\" of preset \"", check.preset, "\" was refused"));
    }
    if (a->spent_usd >= check.limit_usd ||
        a->spent_usd + a->reserved_usd + amount_usd > check.limit_usd) {
      return Exhausted(check, a->spent_usd, a->reserved_usd, amount_usd, a->window_end, now);
    }
    accounts.push_back(a);
  }
  BudgetReservation r;
  r.amount_usd = amount_usd;
  for (size_t i = 0; i < checks.size(); ++i) {
    accounts[i]->reserved_usd += amount_usd;
    r.parts.push_back({checks[i], accounts[i]->window_start});
  }
  return r;
}

void BudgetLedger::Settle(const BudgetReservation& reservation, double cost_usd) {
  const absl::Time now = clock_.Wall();
  cost_usd = std::isfinite(cost_usd) ? std::max(0.0, cost_usd) : 0.0;
  absl::MutexLock l(&mu_);
  ++settlements_;
  for (const BudgetReservation::Part& part : reservation.parts) {
    auto it = accounts_.find(Key{part.check.preset, part.check.tenant});
    if (it != accounts_.end() && it->second.window_start == part.window_start) {
      it->second.reserved_usd = std::max(0.0, it->second.reserved_usd - reservation.amount_usd);
    }
    // The cost counts in the window in which the call ends. The account is re-created if a
    // sweep dropped it meanwhile (only tenant accounts whose window ended are dropped).
    if (Account* a = AccountFor(part.check, now); a != nullptr) a->spent_usd += cost_usd;
  }
}

std::vector<BudgetAccountView> BudgetLedger::Accounts() const {
  const absl::Time now = clock_.Wall();
  absl::MutexLock l(&mu_);
  std::vector<BudgetAccountView> out;
  out.reserve(accounts_.size());
  for (const auto& [key, a] : accounts_) {
    const bool current = now < a.window_end;
    out.push_back({key.preset, key.tenant, a.limit_usd, current ? a.spent_usd : 0,
                   current ? a.reserved_usd : 0, a.window_end});
  }
  return out;
}

std::optional<BudgetAccountView> BudgetLedger::View(const std::string& preset,
                                                    const std::string& tenant) const {
  for (BudgetAccountView& v : Accounts()) {
    if (v.preset == preset && v.tenant == tenant) return std::move(v);
  }
  return std::nullopt;
}

int64_t BudgetLedger::settlements() const {
  absl::MutexLock l(&mu_);
  return settlements_;
}

}  // namespace llmix::pipeline
