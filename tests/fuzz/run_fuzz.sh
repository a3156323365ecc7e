#!/usr/bin/env bash
# Runs one libFuzzer target for a fixed time on a fresh copy of the seed corpus.
# Usage: run_fuzz.sh FUZZER MAKE_CORPUS {control|data|session} SECONDS
# Inputs that once failed are kept in tests/fuzz/regressions/<target>/ and run as extra seeds,
# so they stay fixed.
set -euo pipefail
fuzzer=$1 make_corpus=$2 target=$3 seconds=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$make_corpus" "$work/seeds" >/dev/null
mkdir -p "$work/corpus" "$work/artifacts"
seeds=("$work/seeds/$target")
regressions="$(dirname "$0")/regressions/$target"
[ -d "$regressions" ] && seeds+=("$regressions")
# Session programs (a whole conversation) are longer than one stream or message.
case $target in
  session) max_len=16384 ;;
  *) max_len=4096 ;;
esac
# One job on one core: CI has two, and the other runs the rest of the suite.
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -max_len=$max_len -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "${seeds[@]}" >"$work/log" 2>&1 || {
  tail -n 40 "$work/log"
  for a in "$work"/artifacts/*; do [ -f "$a" ] && { echo "crash input ($a):"; od -An -tx1 "$a" | head -20; }; done
  exit 1
}
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1)
echo "fuzz_$target: ${runs:-?} executions in ${seconds}s (${rate:-?} exec/s), $cov, no crash"
