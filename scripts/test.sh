#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test (unit + e2e) with CTest.
# Tests start their own servers (fake providers, redis-server) on free loopback ports.
#   ./scripts/test.sh            all tests
#   ./scripts/test.sh -R regex   only matching tests (extra args go to ctest)
#   ./scripts/test.sh --fuzz     then the fuzz smoke (scripts/fuzz.sh); always when CI=true
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz=false
[ "${CI:-}" = "true" ] && fuzz=true
args=()
for a in "$@"; do
  if [ "$a" = "--fuzz" ]; then fuzz=true; else args+=("$a"); fi
done
./scripts/install-deps.sh --test
start=$(date +%s)
./scripts/build.sh
echo "build: $(( $(date +%s) - start )) s"
export CTEST_OUTPUT_ON_FAILURE=1
ctest --test-dir "${BUILD_DIR:-build}" -j "$(nproc)" --timeout 600 ${args[@]+"${args[@]}"}
if $fuzz; then
  # Two targets at a time keeps the smoke (build ~4.5 min + run ~1.3 min on 2 cores) short.
  FUZZ_JOBS=${FUZZ_JOBS:-2} ./scripts/fuzz.sh
fi
