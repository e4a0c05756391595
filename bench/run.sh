#!/usr/bin/env bash
# Side-by-side latency/throughput of an LLM call on loopback, in one run:
#   direct        the fake upstream itself (nginx `return 200` with a chat.completion body)
#   nginx         an nginx reverse proxy with upstream keep-alive in front of it
#   front-door    the sidecar's OpenAI-compatible HTTP front door, cache off
#   grpc-miss     the sidecar's gRPC Call, cache off (every call goes upstream)
#   grpc-hit      the sidecar's gRPC Call, answered from the L1 cache
#   portkey       the Portkey AI gateway (npm @portkey-ai/gateway), same upstream
# Every target is driven by the same closed-loop client (build/bench/llmix-load) at 1, 16 and
# 64 connections for BENCH_DURATION seconds each (bounded also by BENCH_MAX_REQUESTS). Prints
# a markdown table (req/s, p50/p99/max, added p50/p99 over direct), the RSS of each proxy idle
# and under load, and the sidecar's instructions per call (callgrind) with its top functions.
#   ./bench/run.sh                 everything
#   BENCH_DURATION=3 BENCH_CONNECTIONS="1 16" BENCH_SKIP="portkey callgrind h2load" ./bench/run.sh
# Cache-hit throughput is also measured with h2load (nghttp2-client), a client cheap enough
# not to starve the sidecar of CPU on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${BENCH_DURATION:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-"1 16 64"}
MAX_REQUESTS=${BENCH_MAX_REQUESTS:-2000000}
SKIP=" ${BENCH_SKIP:-} "
BUILD_DIR=${BUILD_DIR:-build}

./scripts/install-deps.sh >/dev/null
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v valgrind >/dev/null || missing+=(valgrind)
command -v h2load >/dev/null || missing+=(nghttp2-client)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
BUILD_DIR=$BUILD_DIR ./scripts/build.sh >/dev/null
LOAD=$BUILD_DIR/bench/llmix-load
SIDECAR=$BUILD_DIR/sidecar/llmix-sidecar

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${BENCH_KEEP:-}" ] && echo "bench: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url: up to 30 s
  for _ in $(seq 300); do curl -s -o /dev/null -m 1 "$1" && return 0; sleep 0.1; done
  echo "bench: $1 did not come up" >&2; return 1
}
rss_kb() {  # pid and its children
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do total=$((total + $(ps -o rss= -p "$p" 2>/dev/null || echo 0))); done
  echo "$total"
}

# ---- the fake upstream and the reference proxy (nginx, one worker each) ----
UP=$(free_port); PROXY=$(free_port)
completion='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}'
nginx_conf() {  # name, server block
  mkdir -p "$work/$1/logs"
  cat >"$work/$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $work/$1/logs/error.log warn;
pid $work/$1/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/$1/body; proxy_temp_path $work/$1/proxy;
  fastcgi_temp_path $work/$1/fcgi; uwsgi_temp_path $work/$1/uwsgi; scgi_temp_path $work/$1/scgi;
  keepalive_requests 1000000;
  $2
}
EOF
  nginx -p "$work/$1" -c "$work/$1/nginx.conf" &
  pids+=($!)
}
nginx_conf upstream "server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '$completion'; } }"
nginx_conf proxy "upstream fake { server 127.0.0.1:$UP; keepalive 128; }
  server { listen 127.0.0.1:$PROXY; location / { proxy_pass http://fake; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
PROXY_PID=${pids[-1]}
wait_http "http://127.0.0.1:$UP/"; wait_http "http://127.0.0.1:$PROXY/"

# ---- the sidecar: gRPC + front door, real upstream calls to the fake ----
# A second sidecar exports every span (sampler always_on) over OTLP/HTTP to an nginx that
# answers 200, to measure tracing on vs off (`grpc-miss-traced`).
COLLECTOR=$(free_port)
nginx_conf collector "server { listen 127.0.0.1:$COLLECTOR; location / { return 200; } }"
wait_http "http://127.0.0.1:$COLLECTOR/"
GRPC=$(free_port); HTTP=$(free_port); ADMIN=$(free_port)
TGRPC=$(free_port); THTTP=$(free_port); TADMIN=$(free_port)
TRACE_ENV=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$COLLECTOR" OTEL_TRACES_SAMPLER=always_on
           OTEL_BSP_SCHEDULE_DELAY=200 OTEL_BSP_MAX_QUEUE_SIZE=65536)
start_sidecar() {  # command prefix (e.g. valgrind), ready file, grpc port, http port, admin port, env...
  local prefix=$1 ready=$2 grpc=$3 http=$4 admin=$5
  shift 5
  env OPENAI_BASE_URL="http://127.0.0.1:$UP/v1" OPENAI_API_KEY=sk-bench-not-a-real-key-0000 "$@" \
    $prefix "$SIDECAR" serve --grpc-listen "127.0.0.1:$grpc" --http-listen "127.0.0.1:$http" \
    --admin-listen "127.0.0.1:$admin" --state-dir "$work/state-$grpc" --max-retries 0 --log-level warn \
    --ready-file "$ready" >"$work/sidecar-$grpc.log" 2>&1 &
  SIDECAR_PID=$!
  pids+=($SIDECAR_PID)
  for _ in $(seq 600); do [ -s "$ready" ] && return 0; sleep 0.1; done
  echo "bench: sidecar did not start; log:" >&2; cat "$work/sidecar-$grpc.log" >&2; return 1
}
start_sidecar "" "$work/traced.json" "$TGRPC" "$THTTP" "$TADMIN" "${TRACE_ENV[@]}"
TRACED_PID=$SIDECAR_PID
start_sidecar "" "$work/ready.json" "$GRPC" "$HTTP" "$ADMIN"

# ---- Portkey ----
PORTKEY=""
if [[ $SKIP != *" portkey "* ]] && command -v node >/dev/null; then
  if (cd bench/portkey && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
    PORTKEY=$(free_port)
    (cd bench/portkey && exec node node_modules/@portkey-ai/gateway/build/start-server.js \
      --port="$PORTKEY" --headless >"$work/portkey.log" 2>&1) &
    PORTKEY_PID=$!
    pids+=($PORTKEY_PID)
    wait_http "http://127.0.0.1:$PORTKEY/" || PORTKEY=""
  else
    echo "bench: npm ci for Portkey failed; skipping it" >&2
  fi
fi

# ---- request bodies ----
cat >"$work/body.json" <<'EOF'
{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one short sentence."}],"temperature":0.2,"max_tokens":64}
EOF
sed 's/"model":"gpt-4o-mini"/"model":"openai:gpt-4o-mini"/' "$work/body.json" >"$work/front_body.json"
grpc_request() {  # caching strategy or empty
  local caching=""
  [ -n "$1" ] && caching=",\\\"caching\\\":{\\\"strategy\\\":\\\"$1\\\"}"
  cat <<EOF
{"configJson":"{\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"common\":{\"temperature\":0.2,\"maxOutputTokens\":64}$caching}",
 "messages":[{"role":"system","text":"You are a helpful assistant."},{"role":"user","text":"Say hello in one short sentence."}]}
EOF
}
grpc_request "" >"$work/miss.json"
grpc_request memory >"$work/hit.json"

run_load() {  # target, connections -> JSON line
  local t=$1 c=$2 common=(--connections "$2" --duration-s "$DURATION" --max-requests "$MAX_REQUESTS")
  case $t in
    direct) "$LOAD" --http "http://127.0.0.1:$UP/v1/chat/completions" --body "$work/body.json" "${common[@]}" ;;
    nginx) "$LOAD" --http "http://127.0.0.1:$PROXY/v1/chat/completions" --body "$work/body.json" "${common[@]}" ;;
    front-door) "$LOAD" --http "http://127.0.0.1:$HTTP/v1/chat/completions" --body "$work/front_body.json" \
                  --header "x-llmix-cache-mode: bypass" "${common[@]}" ;;
    grpc-miss) "$LOAD" --grpc "127.0.0.1:$GRPC" --request "$work/miss.json" "${common[@]}" ;;
    grpc-hit) "$LOAD" --grpc "127.0.0.1:$GRPC" --request "$work/hit.json" "${common[@]}" ;;
    grpc-miss-traced) "$LOAD" --grpc "127.0.0.1:$TGRPC" --request "$work/miss.json" "${common[@]}" ;;
    portkey) "$LOAD" --http "http://127.0.0.1:$PORTKEY/v1/chat/completions" --body "$work/body.json" \
               --header "x-portkey-provider: openai" --header "x-portkey-custom-host: http://127.0.0.1:$UP/v1" \
               --header "Authorization: Bearer sk-bench-not-a-real-key-0000" "${common[@]}" ;;
  esac
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], 0))" "$1" "$2"; }

targets=(direct nginx front-door grpc-miss grpc-miss-traced grpc-hit)
[ -n "$PORTKEY" ] && targets+=(portkey)
declare -A idle_rss load_rss
idle_rss[nginx]=$(rss_kb "$PROXY_PID"); idle_rss[sidecar]=$(rss_kb "$SIDECAR_PID")
idle_rss[sidecar-traced]=$(rss_kb "$TRACED_PID")
[ -n "$PORTKEY" ] && idle_rss[portkey]=$(rss_kb "$PORTKEY_PID")

echo "## llmix-sidecar bench — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${DURATION}s per cell"
echo
echo "| target | conns | req/s | p50 µs | p99 µs | max µs | added p50 µs | added p99 µs | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in $CONNECTIONS; do
  direct_p50=0; direct_p99=0
  for t in "${targets[@]}"; do
    out=$(run_load "$t" "$c" || true)
    [ -z "$out" ] && out='{"requests":0,"errors":-1}'
    # RSS under load: sampled right after the 64-connection (or last) run of each proxy.
    case $t in
      nginx) load_rss[nginx]=$(rss_kb "$PROXY_PID") ;;
      front-door|grpc-miss|grpc-hit) load_rss[sidecar]=$(rss_kb "$SIDECAR_PID") ;;
      grpc-miss-traced) load_rss[sidecar-traced]=$(rss_kb "$TRACED_PID") ;;
      portkey) load_rss[portkey]=$(rss_kb "$PORTKEY_PID") ;;
    esac
    p50=$(field "$out" p50_us); p99=$(field "$out" p99_us)
    if [ "$t" = direct ]; then direct_p50=$p50; direct_p99=$p99; fi
    echo "| $t | $c | $(field "$out" rps) | $p50 | $p99 | $(field "$out" max_us) | $((p50 - direct_p50)) | $((p99 - direct_p99)) | $(field "$out" errors) |"
  done
done
echo
echo "| process | RSS idle (MiB) | RSS after load (MiB) |"
echo "|---|---:|---:|"
for p in nginx sidecar sidecar-traced portkey; do
  [ -n "${idle_rss[$p]:-}" ] || continue
  printf '| %s | %.1f | %.1f |\n' "$p" "$(echo "${idle_rss[$p]}/1024" | bc -l)" "$(echo "${load_rss[$p]:-0}/1024" | bc -l)"
done

# ---- cache-hit throughput with h2load ----
# llmix-load's gRPC client is one synchronous client thread per connection, which on 2 cores
# takes as much CPU as the sidecar. h2load (event-driven HTTP/2, one thread) sends the same
# Call as a raw gRPC request, so this measures what the sidecar itself can serve. h2load counts
# HTTP/2 200s; the request was checked above (llmix-load reports gRPC errors).
if [[ $SKIP != *" h2load "* ]] && command -v h2load >/dev/null; then
  "$LOAD" --request "$work/hit.json" --grpc-frame "$work/hit.bin"
  H2_REQUESTS=${BENCH_H2LOAD_REQUESTS:-100000}
  echo
  echo "| grpc-hit with h2load | conns | streams per conn | requests | req/s | failed |"
  echo "|---|---:|---:|---:|---:|---:|"
  for c in $CONNECTIONS; do
    [ "$c" -gt 1 ] || continue
    out=$(timeout 120 h2load -n "$H2_REQUESTS" -c "$c" -m 4 -H 'content-type: application/grpc' \
      -H 'te: trailers' -d "$work/hit.bin" "http://127.0.0.1:$GRPC/llmix.sidecar.v1.Llmix/Call" 2>&1 || true)
    rps=$(awk '/^finished in/ {print $4}' <<<"$out")
    failed=$(awk '/^requests:/ {print $10 + $12}' <<<"$out")
    echo "| sidecar | $c | 4 | $H2_REQUESTS | ${rps:-0} | ${failed:-?} |"
  done
fi

# ---- instructions per call (callgrind): stable even on a noisy machine ----
# Counts every thread of the process, so the traced figure includes the export thread.
wait_exported() {  # admin port: until the export queue is empty and the counts settle (<= 30 s)
  local prev="" now
  for _ in $(seq 300); do
    now=$(curl -s "http://127.0.0.1:$1/metrics" | awk '/^llmix_trace_export_queue_spans / {q=$2}
      /^llmix_trace_spans_total/ {t+=$2} END {print q "/" t}')
    [ "${now%%/*}" = 0 ] && [ "$now" = "$prev" ] && return 0
    prev=$now; sleep 0.1
  done
}
cg_measure() {  # out-file tag, grpc port, "kind:request-file ...", env...
  local tag=$1 grpc=$2 kinds=$3
  shift 3
  rm -f "$work/ready-$tag.json"
  local admin
  admin=$(free_port)
  start_sidecar "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$work/callgrind-$tag.out" \
    "$work/ready-$tag.json" "$grpc" "$(free_port)" "$admin" "$@"
  "$LOAD" --grpc "127.0.0.1:$grpc" --request "$work/miss.json" --connections 1 --duration-s 60 --max-requests 1 --warmup 20 >/dev/null
  local kv kind req
  for kv in $kinds; do
    kind=${kv%%:*}; req=${kv#*:}
    callgrind_control --instr=on "$SIDECAR_PID" >/dev/null 2>&1
    "$LOAD" --grpc "127.0.0.1:$grpc" --request "$work/$req.json" --connections 1 --duration-s 120 \
      --max-requests "$calls" --warmup 0 >/dev/null
    [ "$tag" = traced ] && wait_exported "$admin"
    callgrind_control --instr=off "$SIDECAR_PID" >/dev/null 2>&1
    callgrind_control --dump="$kind" "$SIDECAR_PID" >/dev/null 2>&1
    callgrind_control --zero "$SIDECAR_PID" >/dev/null 2>&1
  done
  # Dumps are written asynchronously by the valgrind'ed process: wait for them (bounded).
  local want
  want=$(echo "$kinds" | wc -w)
  for _ in $(seq 300); do
    [ "$(grep -l "^desc: Trigger: dump " "$work"/callgrind-"$tag".out* 2>/dev/null | wc -l)" -ge "$want" ] && break
    sleep 0.1
  done
  kill "$SIDECAR_PID" 2>/dev/null; wait "$SIDECAR_PID" 2>/dev/null || true
}
if [[ $SKIP != *" callgrind "* ]]; then
  calls=${BENCH_CALLGRIND_CALLS:-200}
  kill "$SIDECAR_PID" "$TRACED_PID" 2>/dev/null; wait "$SIDECAR_PID" "$TRACED_PID" 2>/dev/null || true
  cg_measure plain "$GRPC" "miss:miss hit:hit"
  cg_measure traced "$TGRPC" "miss-traced:miss" "${TRACE_ENV[@]}"
  echo
  echo "| sidecar path | instructions per call (callgrind, $calls calls) |"
  echo "|---|---:|"
  for kind in miss miss-traced hit; do
    f=$(grep -l "^desc: Trigger: dump $kind\$" "$work"/callgrind-*.out* 2>/dev/null | head -1 || true)
    [ -n "$f" ] || continue
    total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' || true)
    case $kind in
      miss-traced) label="gRPC Call, cache miss, every span exported" ;;
      *) label="gRPC Call, cache $kind" ;;
    esac
    echo "| $label | $((total / calls)) |"
    cp "$f" "$work/cg-$kind.out"
  done
  if [ -f "$work/cg-miss.out" ]; then
    echo
    echo "Top self costs on the miss path (callgrind_annotate):"
    echo '```'
    callgrind_annotate --threshold=60 "$work/cg-miss.out" 2>/dev/null | sed -n '/^Ir/,$p' | head -25 || true
    echo '```'
  fi
fi

# Time to first byte of a streamed call (build/bench/stream_ttfb): sidecar CallStream vs the
# streaming fake directly, sequential, one connection.
if [[ $SKIP != *" stream "* ]] && [ -x "$BUILD_DIR/bench/stream_ttfb" ]; then
  echo
  echo "### Streaming: time to first byte"
  "$BUILD_DIR/bench/stream_ttfb" "${BENCH_STREAM_CALLS:-500}"
fi
