#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, -DQVIT_FUZZ=ON) and runs each
# one for SECONDS (default 60) from the corpus tests/golden/fuzz/<surface>/, two at a time.
#   scripts/fuzz.sh [SECONDS] [--only a,b,...] [--runs N] [--jobs J] [--keep]
# --runs N   stop each target after N executions instead of (or before) SECONDS
# --keep     copy every crash/timeout/OOM input to tests/golden/fuzz/<surface>/found_* (after
#            minimizing it), so the corpus-replay test keeps it fixed
# Limits per input, as the issue asks: 10 s (-timeout), 2 GB (-rss_limit_mb, -malloc_limit_mb).
# Leaks count as failures (ASan's leak checker is on). Prints one line per target (executions,
# exec/s, outcome) and writes build-fuzz/fuzz_summary.md; exits 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60 only="" runs=0 jobs=2 keep=0
while (($#)); do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    [0-9]*) seconds="$1"; shift ;;
    *) echo "usage: scripts/fuzz.sh [SECONDS] [--only a,b] [--runs N] [--jobs J] [--keep]" >&2; exit 2 ;;
  esac
done

QVIT_WITH_FUZZ=1 scripts/install-deps.sh

out=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQVIT_FUZZ=ON \
  -DQVIT_BUILD_TESTS=OFF -DQVIT_BUILD_BENCH=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" --target fuzz_targets

surfaces=$(ls "$out"/tests/fuzz/ | sed -n 's/^qvit_fuzz_//p' | sort)
[[ -n "$only" ]] && surfaces=$(tr ',' '\n' <<<"$only")

run_one() {
  local s="$1" seconds="$2" runs="$3" out="$4"
  local corpus="$out/corpus/$s" art="$out/artifacts/$s/"
  mkdir -p "$corpus" "$art"
  cp -n tests/golden/fuzz/"$s"/* "$corpus"/ 2>/dev/null || true
  local extra=()
  ((runs > 0)) && extra+=(-runs="$runs")
  # ASAN_OPTIONS: allocator_may_return_null lets a refused huge allocation show up as qvit's own
  # error path; abort_on_error makes every report a crash libFuzzer records.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$out/tests/fuzz/qvit_fuzz_$s" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art" "${extra[@]}" >"$out/log_$s.txt" 2>&1
  echo "$s $?" >"$out/rc_$s.txt"
}
export -f run_one
rm -f "$out"/rc_*.txt
printf '%s\n' $surfaces | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$seconds" "$runs" "$out"

failed=0
summary="$out/fuzz_summary.md"
{
  echo "| target | executions | exec/s | corpus | seconds | outcome |"
  echo "|---|---:|---:|---:|---:|---|"
} >"$summary"
for s in $surfaces; do
  log="$out/log_$s.txt"
  rc=$(awk '{print $2}' "$out/rc_$s.txt" 2>/dev/null || echo 99)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | awk '{print $5}' | tail -1)
  corpus=$(ls "$out/corpus/$s" | wc -l)
  outcome="ok"
  if [[ "$rc" != 0 ]]; then
    outcome="FAILED ($(grep -m1 -oE 'ERROR: [A-Za-z]+: [a-z-]+|deadly signal|timeout|out-of-memory|leak' "$log" || echo "exit $rc"))"
    failed=1
    if ((keep)); then
      for crash in "$out/artifacts/$s/"*; do
        [[ -f "$crash" ]] || continue
        min="$crash.min"
        "$out/tests/fuzz/qvit_fuzz_$s" -minimize_crash=1 -max_total_time=60 -exact_artifact_path="$min" "$crash" >/dev/null 2>&1 || true
        [[ -s "$min" ]] || min="$crash"
        cp "$min" "tests/golden/fuzz/$s/found_$(sha1sum "$min" | cut -c1-12)"
      done
    fi
  fi
  printf '%-18s %12s execs %8s/s  %5s inputs  %s\n' "$s" "${execs:-0}" "${speed:-0}" "$corpus" "$outcome"
  echo "| $s | ${execs:-0} | ${speed:-0} | $corpus | ${secs:-?} | $outcome |" >>"$summary"
done
echo "summary: $summary; logs: $out/log_<target>.txt; crashes: $out/artifacts/<target>/"
exit "$failed"
