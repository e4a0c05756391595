// Local status-propagation macros: Debian's abseil 20220623 ships none.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LLMIX_STATUS_CONCAT_INNER_(a, b) a##b
#define LLMIX_STATUS_CONCAT_(a, b) LLMIX_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define LLMIX_RETURN_IF_ERROR(expr)              \
  do {                                           \
    if (absl::Status _st = (expr); !_st.ok()) {  \
      return _st;                                \
    }                                            \
  } while (0)

// `LLMIX_ASSIGN_OR_RETURN(auto x, StatusOrExpr());` declares/assigns `x` or returns the error.
#define LLMIX_ASSIGN_OR_RETURN(lhs, expr) \
  LLMIX_ASSIGN_OR_RETURN_IMPL_(LLMIX_STATUS_CONCAT_(_statusor_, __LINE__), lhs, expr)
#define LLMIX_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()
