#!/usr/bin/env bash
# Configures and builds llmix-sidecar (Ninja + ccache). Used by run.sh and test.sh.
#   BUILD_DIR (default: build)   LLMIX_SANITIZE=1 for ASan+UBSan   JOBS (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
if [ "${LLMIX_SANITIZE:-0}" = 1 ]; then
  args=(-S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Sanitize}" -DLLMIX_SANITIZE=ON)
else
  args=(-S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}")
fi
[ -n "${BUILD_TESTS:-}" ] && args+=(-DLLMIX_BUILD_TESTS="$BUILD_TESTS")
# npm (run by the build for the Node clients/tests) trusts the system CA store, so a CA the
# machine adds (e.g. an egress proxy's) works as it does for apt and curl.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# Paths relative to the checkout, so clones and worktrees share cache hits.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake "${args[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" ${BUILD_TARGET:+--target "$BUILD_TARGET"}
