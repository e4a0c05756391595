#!/usr/bin/env bash
# Installs what is missing, builds, starts the sidecar in the foreground and makes one sample
# call from a second process. Without a provider key (OPENAI_API_KEY / OPENAI_KEYS) it runs
# offline (--dummy-upstream): no key, no Redis, no network needed.
#   ./scripts/run.sh          serve until Ctrl-C
#   ./scripts/run.sh --once   exit after the sample call (for scripts and tests)
set -euo pipefail
cd "$(dirname "$0")/.."
once=0
[ "${1:-}" = "--once" ] && once=1
# --once (CI, scripts) binds free ports so it never collides with a running sidecar.
grpc_tcp=${LLMIX_RUN_GRPC:-127.0.0.1:7070}
admin=${LLMIX_RUN_ADMIN:-127.0.0.1:9464}
http=${LLMIX_RUN_HTTP:-127.0.0.1:7071}
if [ "$once" = 1 ]; then
  grpc_tcp=${LLMIX_RUN_GRPC:-127.0.0.1:0}; admin=${LLMIX_RUN_ADMIN:-127.0.0.1:0}; http=${LLMIX_RUN_HTTP:-127.0.0.1:0}
fi

./scripts/install-deps.sh
# Same build dir as test.sh: after the tests, the binary is already built.
BUILD_TARGET=llmix-sidecar ./scripts/build.sh
bin="${BUILD_DIR:-build}/sidecar/llmix-sidecar"

state=$(mktemp -d "${TMPDIR:-/tmp}/llmix-run-XXXXXX")
ready="$state/ready.json"
# The example registry, published into the state dir (the checkout stays untouched).
registry="$state/config/llm"
mkdir -p "$registry"
cp -r examples/config/llm/source "$registry/source"
"$bin" publish --root "$registry" >/dev/null
args=(serve --state-dir "$state" --registry "$registry" --grpc-listen "unix://$state/llmix.sock"
      --grpc-listen "$grpc_tcp" --admin-listen "$admin" --http-listen "$http"
      --ready-file "$ready")
if [ -z "${OPENAI_API_KEY:-}${OPENAI_KEYS:-}" ]; then
  echo "run.sh: no OPENAI_API_KEY set: offline mode (answers come from the built-in dummy responder)"
  args+=(--dummy-upstream)
fi

"$bin" "${args[@]}" &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 200); do            # wait (up to ~20 s) for the ready file
  [ -s "$ready" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "run.sh: sidecar exited during startup" >&2; exit 1; }
  sleep 0.1
done
[ -s "$ready" ] || { echo "run.sh: sidecar did not become ready" >&2; exit 1; }

echo "run.sh: sample call: llmix-sidecar call --preset demo/hello \"Hi\""
"$bin" call --addr "unix://$state/llmix.sock" --preset demo/hello --deadline-ms 30000 "Hi"
echo "run.sh: second identical call:"
"$bin" call --addr "unix://$state/llmix.sock" --preset demo/hello --deadline-ms 30000 "Hi"

if [ "$once" = 1 ]; then exit 0; fi
echo "run.sh: sidecar is serving on unix://$state/llmix.sock and $grpc_tcp; Ctrl-C stops it"
echo "run.sh: OpenAI-compatible front door: http://$http/v1 (model \"demo/hello\")"
echo "run.sh: edit $registry/source/demo/hello.mda, then: $bin publish --root $registry"
wait "$pid"
