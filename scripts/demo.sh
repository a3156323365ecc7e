#!/usr/bin/env bash
# The main demo (called by `scripts/setup.sh demo` after install + build).
# The GStreamer elements do not exist yet: the best end-to-end thing today is the MoQT engine
# itself. A clock publisher listens on 127.0.0.1; subscribers connect over raw QUIC (moqt://)
# and WebTransport (https://) at each draft, print what they receive, and exit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
clock="$here/build/tools/moqt-clock"
out=$(mktemp -d)
trap 'kill "$pub" 2>/dev/null || true; rm -rf "$out"' EXIT

echo "[demo] moq-gst: MoQT engine demo (wire codec, QUIC, WebTransport, sessions). GStreamer elements come next."
"$clock" publish --listen 127.0.0.1:0 --interval-ms 200 >"$out/pub.json" 2>"$out/pub.log" &
pub=$!
for _ in $(seq 50); do [ -s "$out/pub.json" ] && break; sleep 0.1; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$out/pub.json")
hash=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$out/pub.json")
[ -n "$port" ] || { cat "$out/pub.log"; echo "[demo] the publisher did not start"; exit 1; }
echo "[demo] publisher: clock track 'clock/now' on 127.0.0.1:$port, certificate sha256 $hash"
status=0
for url in "moqt://127.0.0.1:$port/moq" "https://127.0.0.1:$port/moq"; do
  for draft in 14 16 18; do
    echo "[demo] subscriber: $url draft-$draft"
    if ! "$clock" subscribe --connect "$url" --draft "$draft" --pin "$hash" --count 3 --timeout 10 2>&1 | sed 's/^/    /'; then
      status=1
    fi
  done
done
[ $status = 0 ] && echo "[demo] every subscriber received the clock" || echo "[demo] FAILED"
exit $status
