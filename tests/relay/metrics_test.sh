#!/usr/bin/env bash
# moqt-relay --metrics: a real Prometheus scrape with curl. A relay with --metrics 127.0.0.1:0, a
# moqt-clock publisher and subscriber through it; /metrics before and after must differ as the
# traffic says, every exported metric has its HELP and TYPE lines, and every sample line parses.
# Also /healthz, 404, 405, 413. Env: MOQT_RELAY, MOQT_CLOCK, CURL (tests/relay/meson.build).
set -uo pipefail

: "${MOQT_RELAY:?}" "${MOQT_CLOCK:?}"
CURL=${CURL:-curl}
dir=$(mktemp -d)
relay_pid= pub_pid=
cleanup() {
  [ -n "$pub_pid" ] && kill "$pub_pid" 2>/dev/null
  [ -n "$relay_pid" ] && kill -KILL "$relay_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
die() { echo "FAIL: $*"; [ -f "$dir/relay.err" ] && sed 's/^/  relay: /' "$dir/relay.err"; exit 1; }

"$MOQT_RELAY" --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --drain-ms 200 >"$dir/relay.out" 2>"$dir/relay.err" &
relay_pid=$!
for _ in $(seq 50); do [ -s "$dir/relay.out" ] && break; sleep 0.1; done
line=$(head -n 1 "$dir/relay.out")
port=$(printf '%s' "$line" | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
mport=$(printf '%s' "$line" | sed -n 's/.*"metrics_port":\([0-9]*\)}$/\1/p')
[ -n "$port" ] && [ -n "$mport" ] && [ "$mport" != 0 ] || die "no port / trailing metrics_port in the first stdout line: '$line'"
ok "first line: $line"
grep -q "metrics on http://127.0.0.1:$mport/metrics" "$dir/relay.err" || fail "stderr does not name the metrics address"
base=http://127.0.0.1:$mport

# scrape FILE: GET /metrics into FILE; prints the content type.
scrape() { "$CURL" -sS --max-time 5 -o "$1" -w '%{http_code} %{content_type}' "$base/metrics"; }
# value FILE SAMPLE: the value of one sample line ("name" or 'name{labels}').
value() { awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print "missing" }' "$1"; }

before=$(scrape "$dir/m0") || die "scrape failed: curl $base/metrics"
[ "$before" = "200 text/plain; version=0.0.4; charset=utf-8" ] && ok "content type: $before" ||
  fail "status/content type '$before', want 200 text/plain; version=0.0.4"

# Traffic: a clock publisher (one object per 100 ms) and a subscriber for 3 objects, via the relay.
"$MOQT_CLOCK" publish --connect "moqt://127.0.0.1:$port/moq" --insecure --interval-ms 100 \
  >"$dir/pub.out" 2>"$dir/pub.err" &
pub_pid=$!
sleep 0.5
if "$MOQT_CLOCK" subscribe --connect "moqt://127.0.0.1:$port/moq" --insecure --count 3 --timeout 8 \
  >"$dir/sub.out" 2>"$dir/sub.err"; then
  ok "subscriber got 3 objects through the relay"
else
  fail "subscriber failed:"; sed 's/^/  sub: /' "$dir/sub.err"
fi
sleep 0.3  # the subscriber's session close reaches the relay

after=$(scrape "$dir/m1") || die "second scrape failed"
[ "${after%% *}" = 200 ] || fail "second scrape: $after"

# Every metric: HELP and TYPE lines of the right type, and a sample.
gauges="moqt_relay_sessions moqt_relay_tracks moqt_relay_pushed_tracks moqt_relay_upstream_subscriptions
  moqt_relay_downstream_subscriptions moqt_relay_namespaces moqt_relay_held_requests moqt_relay_cache_bytes
  moqt_relay_upstream_connected moqt_relay_loop_links"
counters="moqt_relay_sessions_opened_total moqt_relay_sessions_closed_total moqt_relay_objects_in_total
  moqt_relay_objects_out_total moqt_relay_bytes_in_total moqt_relay_bytes_out_total moqt_relay_objects_dropped_total
  moqt_relay_streams_reset_total moqt_relay_requests_refused_total moqt_relay_limit_hits_total
  moqt_relay_upstream_connects_total moqt_relay_auth_refused_total moqt_relay_loop_link_drops_total moqt_relay_tracks_pushed_total moqt_relay_cluster_lookup_errors_total"
missing=0
for m in $gauges $counters; do
  case " $(echo $gauges) " in *" $m "*) t=gauge ;; *) t=counter ;; esac
  grep -q "^# HELP $m [^ ]" "$dir/m1" || { fail "no HELP line for $m"; missing=1; }
  grep -qx "# TYPE $m $t" "$dir/m1" || { fail "no '# TYPE $m $t'"; missing=1; }
  grep -qE "^$m(\{[^}]*\})? [0-9]+$" "$dir/m1" || { fail "no sample of $m"; missing=1; }
done
[ $missing = 0 ] && ok "HELP, TYPE and a sample for all $(echo $gauges $counters | wc -w) metrics"
# Exposition format: only comments and 'name{labels} value' lines; every sample has a TYPE.
bad=$(grep -vE '^# (HELP|TYPE) [a-z_]+ .+$' "$dir/m1" | grep -vE '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+$' || true)
[ -z "$bad" ] && ok "every line parses" || fail "lines not in the exposition format: $bad"
untyped=$(awk '/^# TYPE / { t[$3] = 1; next } /^#/ { next } { n = $1; sub(/\{.*/, "", n); if (!t[n]) print n }' "$dir/m1")
[ -z "$untyped" ] || fail "samples without a TYPE line: $untyped"
[ "$(tail -c 1 "$dir/m1" | od -An -c | tr -d ' ')" = '\n' ] || fail "the body does not end with a newline"

# The values follow the traffic (and were zero before it).
check() {  # check FILE SAMPLE OP N
  local v; v=$(value "$1" "$2")
  if [ "$v" != missing ] && [ "$v" "$3" "$4" ]; then ok "$2 = $v ($3 $4, $(basename "$1"))"; else fail "$2 = $v, want $3 $4 ($(basename "$1"))"; fi
}
check "$dir/m0" moqt_relay_sessions_opened_total -eq 0
check "$dir/m0" moqt_relay_objects_out_total -eq 0
check "$dir/m1" moqt_relay_sessions_opened_total -ge 2
check "$dir/m1" moqt_relay_sessions_closed_total -ge 1
check "$dir/m1" moqt_relay_sessions -ge 1
check "$dir/m1" moqt_relay_objects_in_total -ge 3
check "$dir/m1" moqt_relay_objects_out_total -ge 3
check "$dir/m1" moqt_relay_bytes_out_total -gt 0
check "$dir/m1" moqt_relay_namespaces -ge 1
check "$dir/m1" moqt_relay_upstream_connected -eq 0
check "$dir/m1" 'moqt_relay_streams_reset_total{reason="congestion"}' -ge 0
check "$dir/m1" 'moqt_relay_streams_reset_total{reason="delivery_timeout"}' -ge 0

# The other paths.
h=$("$CURL" -sS --max-time 5 -o "$dir/h" -w '%{http_code}' "$base/healthz")
[ "$h" = 200 ] && [ "$(cat "$dir/h")" = ok ] && ok "/healthz: 200 ok" || fail "/healthz: $h '$(cat "$dir/h")'"
c=$("$CURL" -sS --max-time 5 -o /dev/null -w '%{http_code}' "$base/nope")
[ "$c" = 404 ] && ok "/nope: 404" || fail "/nope: $c, want 404"
c=$("$CURL" -sS --max-time 5 -o /dev/null -w '%{http_code}' -X POST --data x "$base/metrics")
[ "$c" = 405 ] && ok "POST: 405" || fail "POST /metrics: $c, want 405"
c=$("$CURL" -sS --max-time 5 -o /dev/null -w '%{http_code}' -X GET --data x "$base/metrics")
[ "$c" = 413 ] && ok "GET with a body: 413" || fail "GET with a body: $c, want 413"

# A clean exit with the metrics server running.
kill "$pub_pid" 2>/dev/null; wait "$pub_pid" 2>/dev/null; pub_pid=
kill -TERM "$relay_pid"
for _ in $(seq 50); do kill -0 "$relay_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$relay_pid" 2>/dev/null; then
  fail "moqt-relay did not exit within 5 s of SIGTERM"
else
  wait "$relay_pid"; rc=$?; relay_pid=
  [ $rc = 0 ] && ok "moqt-relay exited 0" || fail "moqt-relay exit status $rc"
fi

if [ $failures != 0 ]; then
  sed 's/^/  relay: /' "$dir/relay.err"
  echo "--- last scrape:"; cat "$dir/m1" 2>/dev/null
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
