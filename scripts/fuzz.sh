#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan + UBSan) and runs each one on a copy of
# its seed corpus (tests/fuzz/corpus/<target>/; the committed corpus is never written).
#   ./scripts/fuzz.sh                  smoke: FUZZ_SECONDS (default 15) per target
#   ./scripts/fuzz.sh --long           10 minutes per target (FUZZ_SECONDS overrides)
#   ./scripts/fuzz.sh [--long] NAME..  only these targets (e.g. mda_preset openai_request)
# The smoke uses a fixed seed (FUZZ_SEED, default 1) so CI is reproducible; --long a random one.
# Env: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_SECONDS, FUZZ_SEED, FUZZ_JOBS (targets run at once,
# default 1), FUZZ_WORK_DIR (corpus copies, new findings and crash artifacts; default
# $FUZZ_BUILD_DIR/fuzz-work). A crashing input is left as <work>/<target>/crash-* (and
# leak-*, timeout-*, oom-*): add it to tests/fuzz/corpus/<target>/ with the fix.
# Exits non-zero when any target crashes, leaks, times out or runs out of memory.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=15
seed=1  # the smoke is reproducible: a fixed seed (a slower machine runs a prefix of the same inputs)
targets=()
for a in "$@"; do
  case "$a" in
    --long) seconds=600 seed=0 ;;  # 0: libFuzzer picks a random seed
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $a" >&2; exit 2 ;;
    *) targets+=("$a") ;;
  esac
done
seconds=${FUZZ_SECONDS:-$seconds}
seed=${FUZZ_SEED:-$seed}
build=${FUZZ_BUILD_DIR:-build-fuzz}
work=${FUZZ_WORK_DIR:-$build/fuzz-work}

# clang + the libFuzzer/sanitizer runtimes come with the test dependencies (one apt-get update).
./scripts/install-deps.sh --test
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}

start=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DLLMIX_FUZZ=ON >/dev/null
cmake --build "$build" --target llmix_fuzzers -j "${FUZZ_BUILD_JOBS:-2}"
echo "fuzz build: $(( $(date +%s) - start )) s"

if [ ${#targets[@]} -eq 0 ]; then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

# One target: fresh copy of the seed corpus, run, one result line. The log stays in $work.
run_one() {
  local t=$1 bin="$build/tests/fuzz/${1}_fuzzer" dir="$work/$1" max_len=65536 per_input=10
  case "$t" in
    retry_after) max_len=256 ;;
    admission_review | openai_request) max_len=16384 ;;
    # YAML alias expansion is bounded by node count, not time: allow the slow (ASan) worst case.
    mda_preset) max_len=16384 per_input=30 ;;
  esac
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
  local t0 rc=0
  t0=$(date +%s)
  # -timeout: one input taking longer is a bug. The outer timeout guards against a fuzzer that
  # hangs while reporting (seen once after an RSS-limit OOM).
  timeout -k 10 $(( seconds + 120 )) \
    "$bin" -seed="$seed" -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -timeout="$per_input" \
    -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log.txt" 2>&1 || rc=$?
  local runs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log.txt" | tail -1)
  if [ $rc -eq 0 ]; then
    printf 'PASS %-20s %3ss %10s runs\n' "$t" "$(( $(date +%s) - t0 ))" "${runs:-?}"
  else
    printf 'FAIL %-20s rc=%s, see %s (artifacts: %s)\n' "$t" "$rc" "$dir/log.txt" \
      "$(cd "$dir" && ls -d crash-* leak-* timeout-* oom-* 2>/dev/null | tr '\n' ' ')"
    grep -m3 -E 'ERROR: |runtime error|SUMMARY' "$dir/log.txt" | sed 's/^/     /' || true
  fi
}

mkdir -p "$work"
start=$(date +%s)
jobs=${FUZZ_JOBS:-1}
results="$work/results.txt"
: >"$results"
for t in "${targets[@]}"; do
  if [ ! -d "tests/fuzz/corpus/$t" ]; then echo "fuzz.sh: no target $t" >&2; exit 2; fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" | tee -a "$results" &
done
wait
passed=$(grep -c '^PASS' "$results" || true)
failed=$(grep -c '^FAIL' "$results" || true)
echo "fuzz run: $(( $(date +%s) - start )) s, ${seconds}s per target"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -eq ${#targets[@]} ]
