#!/usr/bin/env bash
# Runs one libFuzzer target for a fixed time on a fresh copy of the seed corpus.
# Usage: run_fuzz.sh FUZZER MAKE_CORPUS {control|data|session|catalog} SECONDS
# Seeds: what MAKE_CORPUS writes for the target, and the files in tests/fuzz/seeds/<target>/.
# Inputs that once failed are kept in tests/fuzz/regressions/<target>/ and run as extra seeds,
# so they stay fixed.
set -euo pipefail
fuzzer=$1 make_corpus=$2 target=$3 seconds=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$make_corpus" "$work/seeds" >/dev/null
mkdir -p "$work/corpus" "$work/artifacts"
seeds=()
for d in "$work/seeds/$target" "$(dirname "$0")/seeds/$target" "$(dirname "$0")/regressions/$target"; do
  [ -d "$d" ] && seeds+=("$d")
done
# Session programs (a whole conversation) are longer than one stream or message.
extra=()
case $target in
  session) max_len=16384 ;;
  # GLib drops its quark array on purpose each time it grows by 2048 (16 KiB), which first uses of
  # GStreamer types during the run trigger; LSan cannot tell that from a leak (GLib's frames do not
  # unwind). Memory errors are still caught; packaging_test checks that catalogs intern nothing.
  catalog) max_len=4096 extra=(-detect_leaks=0); export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" ;;
  *) max_len=4096 ;;
esac
# One job per target: meson runs two targets at once, one per core of the CI machine.
"$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -max_len=$max_len -timeout=10 -rss_limit_mb=2048 "${extra[@]}" \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "${seeds[@]}" >"$work/log" 2>&1 || {
  tail -n 40 "$work/log"
  for a in "$work"/artifacts/*; do [ -f "$a" ] && { echo "crash input ($a):"; od -An -tx1 "$a" | head -20; }; done
  exit 1
}
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1)
echo "fuzz_$target: ${runs:-?} executions in ${seconds}s (${rate:-?} exec/s), $cov, no crash"
