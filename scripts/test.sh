#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test (unit + e2e) with CTest.
# Tests start their own servers (fake providers, redis-server) on free loopback ports.
#   ./scripts/test.sh            all tests
#   ./scripts/test.sh -R regex   only matching tests (extra args go to ctest)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
start=$(date +%s)
./scripts/build.sh
echo "build: $(( $(date +%s) - start )) s"
export CTEST_OUTPUT_ON_FAILURE=1
ctest --test-dir "${BUILD_DIR:-build}" -j "$(nproc)" --timeout 600 "$@"
