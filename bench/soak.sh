#!/usr/bin/env bash
# Bounded soak run (not in CI): the sidecar under a steady mixed load for SOAK_SECONDS
# (default 600), its resident memory sampled as it goes. Catches leaks and unbounded growth
# that a benchmark cell of a few seconds cannot.
#
# Upstream: the loopback fake provider (build/tests/fakes/fake-openai --no-record). Cache: L1,
# plus a Redis L2 when redis-server is installed. Load (build/bench/llmix-load, closed loop,
# all at once for the whole run):
#   grpc-churn  4 conns  gRPC Call, 20,000 distinct prompts (--vary), caching redis-or-memory:
#                        mostly misses; L1 (1,000 entries) evicts all the time; L2 writes/hits
#   grpc-hit    2 conns  gRPC Call, one prompt, caching memory: L1 hits
#   front-door  2 conns  POST /v1/chat/completions, 1,000 distinct prompts, not cached: misses
# Every SOAK_INTERVAL seconds it prints: elapsed s, VmRSS of the sidecar (MiB), calls done
# (sum of llmix_calls_total from /metrics). Verdict: RSS at the end of the warm-up (the sample
# at SOAK_WARMUP_PCT % of the run, default 20) against the last sample; the run fails (exit 1)
# when it grew by more than max(SOAK_MAX_GROWTH_PCT % of the warm-up RSS, SOAK_MAX_GROWTH_MIB)
# (defaults 10 % and 8 MiB), when the sidecar died, or when a load stream saw errors.
#   ./bench/soak.sh                       10 minutes
#   SOAK_SECONDS=120 ./bench/soak.sh      a 2-minute check
# Knobs: SOAK_SECONDS, SOAK_INTERVAL (default SOAK_SECONDS/24, at least 5), SOAK_WARMUP_PCT,
# SOAK_MAX_GROWTH_PCT, SOAK_MAX_GROWTH_MIB, SOAK_NO_BUILD=1, SOAK_KEEP=1 (keep the work dir),
# BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL=${SOAK_SECONDS:-600}
INTERVAL=${SOAK_INTERVAL:-$(( TOTAL / 24 > 5 ? TOTAL / 24 : 5 ))}
WARMUP_PCT=${SOAK_WARMUP_PCT:-20}
MAX_GROWTH_PCT=${SOAK_MAX_GROWTH_PCT:-10}
MAX_GROWTH_MIB=${SOAK_MAX_GROWTH_MIB:-8}
BUILD_DIR=${BUILD_DIR:-build}

[ "${SOAK_NO_BUILD:-0}" = 1 ] || BUILD_DIR=$BUILD_DIR ./scripts/build.sh >/dev/null
LOAD=$BUILD_DIR/bench/llmix-load
SIDECAR=$BUILD_DIR/sidecar/llmix-sidecar
FAKE=$BUILD_DIR/tests/fakes/fake-openai
for b in "$LOAD" "$SIDECAR" "$FAKE"; do
  [ -x "$b" ] || { echo "soak: $b is missing (build first)" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${SOAK_KEEP:-}" ] && echo "soak: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() {  # file, what: up to 30 s for it to be non-empty
  for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "soak: $2 did not start" >&2; return 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
calls_done() {
  curl -s -m 5 "http://127.0.0.1:$ADMIN/metrics" |
    awk '/^llmix_calls_total[{ ]/ {s += $NF} END {printf "%d\n", s}'
}

# ---- fake provider, Redis, sidecar ----
"$FAKE" --no-record >"$work/fake.port" 2>"$work/fake.log" &
pids+=($!)
wait_file "$work/fake.port" "fake-openai"
UP=$(head -1 "$work/fake.port")

redis_env=()
if command -v redis-server >/dev/null; then
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --daemonize no >"$work/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis_env=(REDIS_URL="redis://127.0.0.1:$RPORT")
  l2="L1 + Redis L2"
else
  l2="L1 only (no redis-server)"
fi

GRPC=$(free_port); HTTP=$(free_port); ADMIN=$(free_port)
env OPENAI_BASE_URL="http://127.0.0.1:$UP/v1" OPENAI_API_KEY=sk-soak-not-a-real-key-0000 \
  "${redis_env[@]}" "$SIDECAR" serve --grpc-listen "127.0.0.1:$GRPC" \
  --http-listen "127.0.0.1:$HTTP" --admin-listen "127.0.0.1:$ADMIN" --state-dir "$work/state" \
  --max-retries 0 --log-level warn --ready-file "$work/ready.json" >"$work/sidecar.log" 2>&1 &
SIDECAR_PID=$!
pids+=($SIDECAR_PID)
wait_file "$work/ready.json" "the sidecar" || { cat "$work/sidecar.log" >&2; exit 1; }

# ---- load ----
request() {  # caching strategy or empty
  local caching=""
  [ -n "$1" ] && caching=",\\\"caching\\\":{\\\"strategy\\\":\\\"$1\\\",\\\"ttl\\\":600}"
  cat <<EOF
{"configJson":"{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"common\":{\"temperature\":0.2,\"maxOutputTokens\":64}$caching}",
 "messages":[{"role":"system","text":"You are a helpful assistant."},{"role":"user","text":"Say hello in one short sentence."}]}
EOF
}
request redis-or-memory >"$work/churn.json"
request memory >"$work/hit.json"
cat >"$work/front.json" <<'EOF'
{"model":"openai:gpt-4o-mini","messages":[{"role":"user","content":"Say hello, request {n}."}],"max_tokens":64}
EOF
common=(--duration-s "$TOTAL" --max-requests 1000000000 --warmup 0)
"$LOAD" --grpc "127.0.0.1:$GRPC" --request "$work/churn.json" --connections 4 --vary 20000 \
  "${common[@]}" >"$work/load-grpc-churn.json" 2>"$work/load-grpc-churn.err" &
pids+=($!)
"$LOAD" --grpc "127.0.0.1:$GRPC" --request "$work/hit.json" --connections 2 \
  "${common[@]}" >"$work/load-grpc-hit.json" 2>"$work/load-grpc-hit.err" &
pids+=($!)
"$LOAD" --http "http://127.0.0.1:$HTTP/v1/chat/completions" --body "$work/front.json" \
  --connections 2 --vary 1000 "${common[@]}" >"$work/load-front-door.json" \
  2>"$work/load-front-door.err" &
pids+=($!)
load_pids=("${pids[@]: -3}")

# ---- sampling ----
echo "## llmix-sidecar soak — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${TOTAL} s, $l2"
echo
echo "| t (s) | RSS (MiB) | calls done |"
echo "|---:|---:|---:|"
start=$(date +%s)
warm_at=$(( TOTAL * WARMUP_PCT / 100 ))
warm_kb=""; last_kb=0; died=0
printf '| %d | %.1f | %d |\n' 0 "$(echo "$(rss_kb $SIDECAR_PID)/1024" | bc -l)" "$(calls_done)"
while :; do
  now=$(( $(date +%s) - start ))
  [ "$now" -ge "$TOTAL" ] && break
  next=$(( (now / INTERVAL + 1) * INTERVAL ))
  [ "$next" -gt "$TOTAL" ] && next=$TOTAL
  sleep $(( next - now ))
  if ! kill -0 "$SIDECAR_PID" 2>/dev/null; then died=1; break; fi
  t=$(( $(date +%s) - start ))
  kb=$(rss_kb "$SIDECAR_PID")
  last_kb=$kb
  [ -z "$warm_kb" ] && [ "$t" -ge "$warm_at" ] && warm_kb=$kb && mark=" ← end of warm-up" || mark=""
  printf '| %d | %.1f | %d |%s\n' "$t" "$(echo "$kb/1024" | bc -l)" "$(calls_done)" "$mark"
done
for p in "${load_pids[@]}"; do wait "$p" 2>/dev/null || true; done

echo
echo "| load stream | requests | errors | req/s | p50 µs | p99 µs |"
echo "|---|---:|---:|---:|---:|---:|"
errors=0
for s in grpc-churn grpc-hit front-door; do
  out=$(cat "$work/load-$s.json" 2>/dev/null || true)
  [ -z "$out" ] && out='{"requests":0,"errors":-1}'
  row=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(" | ".join(str(j.get(k,0)) for k in ("requests","errors","rps","p50_us","p99_us")))' "$out")
  echo "| $s | $row |"
  e=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("errors",0))' "$out")
  [ "$e" != 0 ] && errors=1 && { cat "$work/load-$s.err" >&2 || true; }
done
echo

if [ "$died" = 1 ]; then
  echo "**Verdict: FAIL** — the sidecar died; log tail:"; tail -20 "$work/sidecar.log"; exit 1
fi
[ -z "$warm_kb" ] && warm_kb=$last_kb
growth_kb=$(( last_kb - warm_kb ))
limit_kb=$(( warm_kb * MAX_GROWTH_PCT / 100 ))
[ "$limit_kb" -lt $(( MAX_GROWTH_MIB * 1024 )) ] && limit_kb=$(( MAX_GROWTH_MIB * 1024 ))
verdict=PASS
[ "$growth_kb" -gt "$limit_kb" ] && verdict=FAIL
[ "$errors" = 1 ] && verdict=FAIL
printf '**Verdict: %s** — RSS %.1f MiB at the end of warm-up (t ≥ %d s), %.1f MiB at the end: %+.1f MiB (limit %.1f MiB = max(%d %%, %d MiB))%s.\n' \
  "$verdict" "$(echo "$warm_kb/1024" | bc -l)" "$warm_at" "$(echo "$last_kb/1024" | bc -l)" \
  "$(echo "$growth_kb/1024" | bc -l)" "$(echo "$limit_kb/1024" | bc -l)" "$MAX_GROWTH_PCT" \
  "$MAX_GROWTH_MIB" "$([ "$errors" = 1 ] && echo '; a load stream had errors' || true)"
[ "$verdict" = PASS ]
