#!/usr/bin/env bash
# Runs one libFuzzer target for a fixed time on a fresh copy of the seed corpus.
# Usage: run_fuzz.sh FUZZER MAKE_CORPUS {control|data} SECONDS
set -euo pipefail
fuzzer=$1 make_corpus=$2 target=$3 seconds=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$make_corpus" "$work/seeds" >/dev/null
mkdir -p "$work/corpus" "$work/artifacts"
# One job on one core: CI has two, and the other runs the rest of the suite.
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds/$target" >"$work/log" 2>&1 || {
  tail -n 40 "$work/log"
  for a in "$work"/artifacts/*; do [ -f "$a" ] && { echo "crash input ($a):"; od -An -tx1 "$a" | head -20; }; done
  exit 1
}
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1)
echo "fuzz_$target: ${runs:-?} executions in ${seconds}s (${rate:-?} exec/s), $cov, no crash"
