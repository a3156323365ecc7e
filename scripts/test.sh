#!/usr/bin/env bash
# The full test suite (called by `scripts/setup.sh test` after install + build):
#   1. unit, loopback integration and real-Chromium tests (build/),
#   2. the same tests built with ASan+UBSan (build-asan/), and the threaded layers under TSan
#      (build-tsan/),
#   3. the libFuzzer targets for a fixed time each (build-fuzz/, clang).
# Ends with each run's meson summary and one line "N passed, N failed" over all of them.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-$(nproc)}

passed=0
failed=0
status=0

log() { printf '[test] %s\n' "$*"; }

# Sanitizer failures abort the test that hit them (only the sanitized builds read these).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

count_results() {  # count_results DIR: adds the meson results of DIR to the totals
  local json=$1/meson-logs/testlog.json ok bad
  [ -f "$json" ] || return 0
  ok=$(grep -c '"result": "OK"' "$json" || true)
  bad=$(grep -c -E '"result": "(FAIL|TIMEOUT|UNEXPECTEDPASS|ERROR)"' "$json" || true)
  passed=$((passed + ok))
  failed=$((failed + bad))
}

run_suite() {  # run_suite DIR TITLE
  local dir=$1 title=$2
  log "$title"
  if ! ninja -C "$dir" >"/tmp/moq-gst-$dir.build.log" 2>&1; then
    tail -n 60 "/tmp/moq-gst-$dir.build.log"
    log "build of $dir FAILED"
    failed=$((failed + 1))
    status=1
    return
  fi
  rm -f "$dir/meson-logs/testlog.json"
  # shellcheck disable=SC2086  # MESON_TEST_SUITES is a list of options
  meson test -C "$dir" --num-processes "$JOBS" --print-errorlogs ${MESON_TEST_SUITES:-} || status=1
  count_results "$dir"
}

# Every build tree is configured first: the sanitizer and fuzz trees are then compiled in the
# background at the lowest CPU priority while build/'s tests run (they mostly wait on sockets,
# timers and the browser), and their stages below find them built.
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
meson configure build -Dbrowser_tests=enabled >/dev/null || exit 1
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --buildtype=debug -Dsanitizers=address-undefined -Dtools=disabled -Dbrowser_tests=disabled \
    >/tmp/moq-gst-asan.log 2>&1 \
    || { cat /tmp/moq-gst-asan.log; exit 1; }
fi
if [ ! -f build-tsan/build.ninja ]; then
  # Only the engine's suites run under TSan: the plugin and the web side are not built there.
  meson setup build-tsan --buildtype=debugoptimized -Dsanitizers=thread -Dtools=disabled -Dbrowser_tests=disabled \
    -Dgstreamer=disabled -Dweb=disabled \
    >/tmp/moq-gst-tsan.log 2>&1 || { cat /tmp/moq-gst-tsan.log; exit 1; }
fi
if [ ! -f build-fuzz/build.ninja ]; then
  CXX=clang++ meson setup build-fuzz -Dfuzzing=true -Dtests=disabled -Dtools=disabled -Dweb=disabled \
    -Dfuzz_seconds="$FUZZ_SECONDS" >/tmp/moq-gst-fuzz.log 2>&1 || { cat /tmp/moq-gst-fuzz.log; exit 1; }
else
  meson configure build-fuzz -Dfuzz_seconds="$FUZZ_SECONDS" >/dev/null
fi
ninja -C build >/tmp/moq-gst-build.build.log 2>&1 || { tail -n 60 /tmp/moq-gst-build.build.log; exit 1; }
# A failure here is reported by that tree's own stage (its ninja runs again there).
( for d in build-asan build-tsan build-fuzz; do nice -n 19 ninja -C "$d" >"/tmp/moq-gst-$d.bg.log" 2>&1 || true; done ) &
background=$!
trap 'kill "$background" 2>/dev/null || true' EXIT

start=$SECONDS
stage() { log "$1 took $((SECONDS - start)) s"; start=$SECONDS; }

# 1. Regular build, with the real-browser tests on.
run_suite build "unit, integration and browser tests (build/)"
stage "build/"
wait "$background"
stage "waiting for the background builds"

# 2. ASan + UBSan.
run_suite build-asan "the same tests under ASan+UBSan (build-asan/)"
stage "build-asan/"

# 2b. ThreadSanitizer over the multi-threaded layers (loop threads + test threads).
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 MESON_TEST_SUITES="--suite quic --suite webtransport --suite session --suite relay --suite cluster" \
  run_suite build-tsan "transport and session tests under ThreadSanitizer (build-tsan/)"
stage "build-tsan/"

# 3. Fuzzing (clang + libFuzzer).
run_suite build-fuzz "fuzz targets, ${FUZZ_SECONDS}s each (build-fuzz/)"
grep -ho 'fuzz_[a-z]*: [0-9]* executions[^"]*no crash' build-fuzz/meson-logs/testlog.json 2>/dev/null | sed 's/\\n$//' || true
stage "build-fuzz/"

if [ "$failed" -ne 0 ]; then
  echo
  python3 scripts/failures.py build build-asan build-tsan build-fuzz || true
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
