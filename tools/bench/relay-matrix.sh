#!/usr/bin/env bash
# The relay benchmark matrix of docs/benchmarks.md ("Relay"): runs moqt-bench over every row,
# keeps each run's JSON line (results.jsonl), writes the tables (tables.md) and, with gnuplot,
# the plots (fanout-egress.png, fanout-latency.png).
#
#   tools/bench/relay-matrix.sh [OUT_DIR]      (default: bench-results/)
#   BENCH=build-bench/tools/moqt-bench DURATION=8 MAX_N=2000 tools/bench/relay-matrix.sh
#
# Run it on a quiet machine: every row also prints "CPU used by everything else"; a row where
# that is large was disturbed and should be run again.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=${BENCH:-$here/build/tools/moqt-bench}
DURATION=${DURATION:-8}
MAX_N=${MAX_N:-2000}
out=${1:-bench-results}
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"

row() {  # row LABEL moqt-bench-args...
  local label=$1; shift
  echo "== $label: moqt-bench $*" >&2
  local line
  if line=$("$BENCH" "$@" --json --quiet --duration "$DURATION"); then
    printf '{"label":"%s",%s\n' "$label" "${line#\{}" >>"$results"
  else
    echo "   (failed)" >&2
  fi
}

# Fan-out against N at 1 and 5 Mbit/s (25 objects/s, 2 s groups), raw QUIC + WebTransport mixed,
# drafts 14/16/18, one relay loop; subscribers in one worker process.
for kbps in 1000 5000; do
  for n in 1 10 100 1000 "$MAX_N"; do
    row "fanout n=$n kbps=$kbps" fanout --subscribers "$n" --kbps "$kbps" --client-procs 1
  done
done
# Raw QUIC vs WebTransport, and 1 vs 2 relay loops (500 subscribers, 2 Mbit/s).
row "quic n=500" fanout --subscribers 500 --transport quic --client-procs 1
row "wt n=500" fanout --subscribers 500 --transport wt --client-procs 1
row "loops=1 n=500" fanout --subscribers 500 --relay-loops 1 --client-procs 1
row "loops=2 n=500" fanout --subscribers 500 --relay-loops 2 --client-procs 1
# Three relays in a chain, 100 subscribers at the end: each hop's added latency.
row "chain hops=3 n=100" chain --hops 3 --subscribers 100 --client-procs 1
# 50 viewers joining a live track one by one (100 ms apart).
row "join n=50" join --subscribers 50
# 100 viewers stay while 20 per second join and leave, for 3x the duration.
row "churn n=100 rate=20" churn --subscribers 100 --churn-rate 20 --duration $((DURATION * 3))

num() {  # num JSON KEY
  grep -o "\"$2\":[-0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2
}

{
  echo "| run | subscribers | Mbit/s per track | delivered % | egress Gbit/s | relay CPU % | CPU s/GB | relay s/GB ÷ QUIC stream's | KiB per idle sub | latency p50 / p99 ms | others' CPU s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  while read -r l; do
    label=$(grep -o '"label":"[^"]*"' <<<"$l" | cut -d'"' -f4)
    case $label in chain*|join*|churn*) continue ;; esac
    n=$(num "$l" subscribers); kb=$(num "$l" object_bytes); fps=$(num "$l" fps)
    pub=$(num "$l" published_per_track); del=$(num "$l" delivered_objects)
    pct=$(awk -v d="$del" -v p="$pub" -v n="$n" 'BEGIN { printf "%.1f", p * n ? 100 * d / (p * n) : 0 }')
    mbps=$(awk -v b="$kb" -v f="$fps" 'BEGIN { printf "%.1f", b * f * 8 / 1e6 }')
    printf '| %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %s / %s | %s |\n' "$label" "$n" "$mbps" "$pct" \
      "$(num "$l" egress_gbps)" "$(awk -v s="$(num "$l" relay_cpu_share)" 'BEGIN { print 100 * s }')" \
      "$(num "$l" relay_cpu_s_per_gb)" "$(num "$l" relay_vs_quic_sender)" "$(num "$l" relay_kb_per_idle_subscriber)" \
      "$(num "$l" latency_p50_ms)" "$(num "$l" latency_p99_ms)" "$(num "$l" others_cpu_s)"
  done <"$results"
  echo
  l=$(grep '"label":"chain' "$results" || true)
  [ -n "$l" ] && for h in 1 2 3; do
    echo "- chain hop $h added latency: p50 $(num "$l" hop${h}_p50_ms) ms, p90 $(num "$l" hop${h}_p90_ms) ms, p99 $(num "$l" hop${h}_p99_ms) ms, max $(num "$l" hop${h}_max_ms) ms"
  done
  l=$(grep '"label":"join' "$results" || true)
  [ -n "$l" ] && echo "- join: SUBSCRIBE -> OK p50 $(num "$l" join_ok_p50_ms) / p99 $(num "$l" join_ok_p99_ms) ms; OK -> first object p50 $(num "$l" first_object_p50_ms) / p99 $(num "$l" first_object_p99_ms) ms; RTT p50 $(num "$l" rtt_p50_ms) ms; within one RTT $(num "$l" first_within_rtt_pct) %; from the group start $(num "$l" first_from_group_start_pct) %"
  l=$(grep '"label":"churn' "$results" || true)
  [ -n "$l" ] && echo "- churn: $(num "$l" churned) replaced, $(num "$l" churn_join_failures) refused; relay RSS $(num "$l" relay_rss_subscribed_kb) KiB before, $(num "$l" relay_rss_end_kb) KiB after, max $(num "$l" relay_vmhwm_kb) KiB"
  l=$(head -n 1 "$results")
  echo "- ceiling (first run): UDP GSO $(num "$l" ceiling_udp_gbps) Gbit/s, AES-128-GCM seal $(num "$l" ceiling_seal_gbps) Gbit/s, one QUIC stream $(num "$l" ceiling_quic_gbps) Gbit/s at $(num "$l" ceiling_quic_snd_s_per_gb) sender CPU s/GB"
} >"$out/tables.md"
cat "$out/tables.md"

command -v gnuplot >/dev/null || { echo "no gnuplot: tables only" >&2; exit 0; }
for kbps in 1000 5000; do
  grep "\"label\":\"fanout n=[0-9]* kbps=$kbps\"" "$results" | while read -r l; do
    echo "$(num "$l" subscribers) $(num "$l" egress_gbps) $(num "$l" relay_cpu_s_per_gb) $(num "$l" latency_p50_ms) $(num "$l" latency_p90_ms) $(num "$l" latency_p99_ms)"
  done | sort -n >"$out/fanout-$kbps.dat"
done
gnuplot <<PLOT
set terminal pngcairo size 900,520 font ",11"
set logscale x
set xlabel "subscribers (one relay loop)"
set grid
set key top left
set output "$out/fanout-egress.png"
set title "moqt-relay fan-out: egress and CPU per GB against subscribers"
set ylabel "egress, Gbit/s"
set y2label "relay CPU s per GB egress (log)"
set ytics nomirror
set y2tics
set logscale y2
plot "$out/fanout-1000.dat" using 1:2 with linespoints lw 2 title "egress, 1 Mbit/s track", \
     "$out/fanout-5000.dat" using 1:2 with linespoints lw 2 title "egress, 5 Mbit/s track", \
     "$out/fanout-1000.dat" using 1:3 axes x1y2 with linespoints dt 2 lw 2 title "CPU s/GB, 1 Mbit/s", \
     "$out/fanout-5000.dat" using 1:3 axes x1y2 with linespoints dt 2 lw 2 title "CPU s/GB, 5 Mbit/s"
set output "$out/fanout-latency.png"
set title "moqt-relay fan-out: publish -> subscriber latency against subscribers"
set ylabel "ms"
unset y2label
unset y2tics
set logscale y
plot "$out/fanout-1000.dat" using 1:4 with linespoints lw 2 title "p50, 1 Mbit/s", \
     "$out/fanout-1000.dat" using 1:6 with linespoints lw 2 title "p99, 1 Mbit/s", \
     "$out/fanout-5000.dat" using 1:4 with linespoints dt 2 lw 2 title "p50, 5 Mbit/s", \
     "$out/fanout-5000.dat" using 1:6 with linespoints dt 2 lw 2 title "p99, 5 Mbit/s"
PLOT
echo "plots: $out/fanout-egress.png $out/fanout-latency.png" >&2
