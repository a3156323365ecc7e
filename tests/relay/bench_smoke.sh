#!/usr/bin/env bash
# bench_smoke: every moqt-bench scenario runs end to end against real moqt-relay daemons for a
# couple of seconds, and the counts add up (every subscriber got every object, once). Nothing
# about speed or latency is asserted: those are the benchmark's output, not pass criteria.
set -uo pipefail
: "${MOQT_BENCH:?}"
failed=0

field() {  # field JSON KEY: the number after "KEY": (empty if absent)
  grep -o "\"$2\":[-0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2
}
check() {  # check NAME CONDITION-DESCRIPTION BOOL
  if [ "$3" = 1 ]; then echo "ok   $1: $2"; else echo "FAIL $1: $2"; failed=1; fi
}
run() {  # run NAME ARGS...: the scenario's JSON line (stderr shown)
  local name=$1; shift
  echo "== moqt-bench $*" >&2
  out=$("$MOQT_BENCH" "$@" --json --quiet) || { echo "FAIL $name: exit status $?"; failed=1; out=""; }
  echo "$out" >&2
}
eq() { [ -n "$1" ] && [ -n "$2" ] && [ "$1" = "$2" ] && echo 1 || echo 0; }
gt0() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { exit !(v > 0) }' && echo 1 || echo 0; }

# fanout: 2 worker processes, raw QUIC + WebTransport, drafts 14/16/18, 2 subgroups, and the
# machine's ceiling measured first.
run fanout fanout --subscribers 24 --client-procs 2 --subgroups 2 --duration 2 --settle 5 --fps 20 --gop 10
n=$(field "$out" subscribers)
check fanout "every subscriber got every object ($(field "$out" complete_subscribers) of $n)" \
  "$(eq "$(field "$out" complete_subscribers)" "$n")"
check fanout "delivered = published x subscribers" \
  "$(eq "$(field "$out" delivered_objects)" "$(( $(field "$out" published_per_track || echo 0) * ${n:-0} ))")"
check fanout "no duplicates" "$(eq "$(field "$out" duplicates)" 0)"
check fanout "relay CPU and memory read" "$(gt0 "$(field "$out" relay_vmhwm_kb)")"
check fanout "latency measured" "$(gt0 "$(field "$out" latency_max_ms)")"
check fanout "ceiling measured (UDP GSO, AES-GCM seal, one QUIC stream)" "$(gt0 "$(field "$out" ceiling_quic_gbps)")"

# chain: 2 relays, a probe on each: both hops measured.
run chain chain --hops 2 --subscribers 4 --duration 2 --settle 5 --fps 20 --no-ceiling
check chain "every subscriber got every object" "$(eq "$(field "$out" complete_subscribers)" 4)"
check chain "hop 2 measured" "$(gt0 "$(field "$out" hop2_max_ms)")"

# ingest: 3 publishers, one subscriber per track.
run ingest ingest --publishers 3 --duration 2 --settle 5 --fps 20 --no-ceiling
check ingest "every subscriber got every object" "$(eq "$(field "$out" complete_subscribers)" 3)"
check ingest "ingress measured" "$(gt0 "$(field "$out" ingress_gbps)")"

# join: 5 viewers one by one, each first object from the cached group start.
run join join --subscribers 5 --join-interval-ms 200 --duration 2 --no-ceiling
check join "5 joins measured" "$(eq "$(field "$out" joined)" 5)"
check join "every first object starts a group" "$(eq "$(field "$out" first_from_group_start_pct)" 100.0)"

# churn: 10 stay, 10 per second replaced.
run churn churn --subscribers 10 --churn-rate 10 --duration 2 --no-ceiling
check churn "subscribers replaced" "$(gt0 "$(field "$out" churned)")"
check churn "no join refused" "$(eq "$(field "$out" churn_join_failures)" 0)"

exit $failed
