#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test (unit, e2e, fault matrix)
# with CTest. Tests start their own servers (fake providers, redis-server) on free loopback ports.
#   ./scripts/test.sh              all tests (build/)
#   ./scripts/test.sh -R regex     only matching tests (extra args go to ctest)
#   ./scripts/test.sh --sanitize   all tests built with ASan + UBSan (LeakSanitizer on), in
#                                  build-asan/; a report from any process, including sidecars the
#                                  tests start, fails the run
#   ./scripts/test.sh --fuzz       then the fuzz smoke (scripts/fuzz.sh)
# CI=true means --sanitize --fuzz (the optimised build is built and run by scripts/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz=false
sanitize=false
if [ "${CI:-}" = "true" ]; then fuzz=true sanitize=true; fi
args=()
for a in "$@"; do
  case "$a" in
    --fuzz) fuzz=true ;;
    --sanitize) sanitize=true ;;
    *) args+=("$a") ;;
  esac
done
./scripts/install-deps.sh --test
start=$(date +%s)
if $sanitize; then
  export BUILD_DIR=${BUILD_DIR:-build-asan} LLMIX_SANITIZE=1
fi
./scripts/build.sh
echo "build: $(( $(date +%s) - start )) s"
export CTEST_OUTPUT_ON_FAILURE=1
reports=""
if $sanitize; then
  # Every instrumented process (test binaries and the sidecars they spawn) writes its report to
  # a file here instead of only to a stderr the test may never look at.
  reports=$(mktemp -d "${TMPDIR:-/tmp}/llmix-sanitizer.XXXXXX")
  export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$reports/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
fi
rc=0
ctest --test-dir "${BUILD_DIR:-build}" -j "$(nproc)" --timeout 900 ${args[@]+"${args[@]}"} || rc=$?
if [ -n "$reports" ]; then
  if compgen -G "$reports/*" >/dev/null; then
    echo "sanitizer reports:" >&2
    for f in "$reports"/*; do echo "== $f" >&2; head -c 20000 "$f" >&2; done
    rc=1
  else
    echo "sanitizers: no reports (ASan, UBSan, LeakSanitizer)"
  fi
  rm -rf "$reports"
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi
[ "$rc" = 0 ] || exit "$rc"
if $fuzz; then
  # Two targets at a time keeps the smoke (build ~4.5 min + run ~1.3 min on 2 cores) short.
  FUZZ_JOBS=${FUZZ_JOBS:-2} ./scripts/fuzz.sh
fi
