#!/usr/bin/env bash
# The main demo (called by `scripts/setup.sh demo` after install + build).
# 1. GStreamer through the relay: the moqt-relay daemon listens on 127.0.0.1; a moqsink pipeline
#    (x264 video + Opus audio, a camera stand-in) publishes to it (PUBLISH, draft 16); moqsrc
#    pipelines play through it over raw QUIC (moqt://, draft 18) and WebTransport (https://,
#    draft 14): the catalog gives them a video and an audio pad, real decoders, and they print
#    what they saw. The relay holds one upstream subscription per track however many play.
# 2. The engine alone: a clock publisher and subscribers at each draft over both transports.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
clock="$here/build/tools/moqt-clock"
relay="$here/build/tools/moqt-relay"
out=$(mktemp -d)
pub=""
gpub=""
rel=""
trap 'kill $pub $gpub $rel 2>/dev/null || true; rm -rf "$out"' EXIT
export GST_PLUGIN_PATH="$here/build/gst/moq${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
status=0

echo "[demo] relay: moqt-relay --listen 127.0.0.1:0 (raw QUIC and WebTransport, drafts 14/16/18)"
"$relay" --listen 127.0.0.1:0 --http-port 0 --drain-ms 500 >"$out/relay.json" 2>"$out/relay.log" &
rel=$!
for _ in $(seq 50); do [ -s "$out/relay.json" ] && break; sleep 0.1; done
rport=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$out/relay.json")
rhash=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$out/relay.json")
hport=$(sed -n 's/.*"http_port":\([0-9]*\).*/\1/p' "$out/relay.json")
if [ -z "$rport" ]; then
  cat "$out/relay.log"; echo "[demo] the relay did not start"; status=1
else
  echo "[demo] relay on 127.0.0.1:$rport, certificate sha256 $rhash"
  echo "[demo] GStreamer publisher: videotestsrc ! x264enc + audiotestsrc ! opusenc -> moqsink -> moqt://127.0.0.1:$rport/live/cam (draft 16)"
  gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! \
    x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! video/x-h264,stream-format=byte-stream,alignment=au ! \
    moqsink name=s uri="moqt://127.0.0.1:$rport/live/cam?tls-pin=$rhash&draft=16" \
    audiotestsrc is-live=true wave=ticks ! audioconvert ! opusenc ! s. >"$out/gpub.log" 2>&1 &
  gpub=$!
  sleep 1
  for url in "moqt://127.0.0.1:$rport/live/cam?tls-pin=$rhash&draft=18" "https://127.0.0.1:$rport/live/cam?tls-pin=$rhash&draft=14"; do
    echo "[demo] player through the relay: moqsrc uri='$url' -> src_video ! avdec_h264 (90 frames), src_audio ! opusdec (150 frames)"
    if timeout 30 gst-launch-1.0 -v moqsrc name=r uri="$url" \
        r.src_video ! queue ! h264parse ! avdec_h264 ! identity eos-after=90 ! fakesink name=v silent=false \
        r.src_audio ! queue ! opusdec ! identity eos-after=150 ! fakesink name=a silent=false >"$out/play.log" 2>&1; then
      caps=$(sed -n 's/.*GstFakeSink:v.GstPad:sink: caps = \(video\/x-raw, format=([a-z]*)[A-Za-z0-9_]*, width=(int)[0-9]*, height=(int)[0-9]*\).*/\1/p' "$out/play.log" | head -1)
      acaps=$(sed -n 's/.*GstFakeSink:a.GstPad:sink: caps = \(audio\/x-raw, format=([a-z]*)[A-Za-z0-9_]*, [^;]*rate=(int)[0-9]*, channels=(int)[0-9]*\).*/\1/p' "$out/play.log" | head -1)
      last=$(grep 'GstFakeSink:v: last-message = chain' "$out/play.log" | tail -1 | sed -n 's/.*\(pts: [0-9:.]*\).*/\1/p')
      # identity eos-after=N ends each branch after exactly N decoded buffers; gst-launch exits 0
      # only once both branches have.
      echo "    decoded 90 video frames ($caps), last $last; 150 audio buffers ($acaps)"
      [ -n "$caps" ] && [ -n "$acaps" ] || status=1
    else
      tail -5 "$out/play.log" | sed 's/^/    /'; tail -5 "$out/gpub.log" | sed 's/^/    publisher: /'; status=1
    fi
  done
  # The relay's watch page lists what is live (a browser at that address plays it).
  if [ -n "$hport" ]; then
    live=$(curl -sk --max-time 5 "https://127.0.0.1:$hport/api/broadcasts" || true)
    echo "[demo] watch page https://127.0.0.1:$hport/ lists: $live"
    case $live in *'"live/cam"'*) ;; *) status=1 ;; esac
  fi
  kill -USR1 $rel 2>/dev/null || true
  sleep 0.2
  grep 'stats:' "$out/relay.log" | tail -1 | sed 's/^/    /'
  kill $gpub 2>/dev/null || true
  kill -TERM $rel 2>/dev/null || true
  wait $rel 2>/dev/null || true
  grep -E 'session [0-9]+ (open|closed)' "$out/relay.log" | head -6 | sed 's/^/    /'
fi

echo "[demo] MoQT engine: clock track over raw QUIC and WebTransport at drafts 14, 16, 18"
"$clock" publish --listen 127.0.0.1:0 --interval-ms 200 >"$out/pub.json" 2>"$out/pub.log" &
pub=$!
for _ in $(seq 50); do [ -s "$out/pub.json" ] && break; sleep 0.1; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$out/pub.json")
hash=$(sed -n 's/.*"sha256":"\([0-9a-f]*\)".*/\1/p' "$out/pub.json")
[ -n "$port" ] || { cat "$out/pub.log"; echo "[demo] the publisher did not start"; exit 1; }
echo "[demo] publisher: clock track 'clock/now' on 127.0.0.1:$port, certificate sha256 $hash"
for url in "moqt://127.0.0.1:$port/moq" "https://127.0.0.1:$port/moq"; do
  for draft in 14 16 18; do
    echo "[demo] subscriber: $url draft-$draft"
    if ! "$clock" subscribe --connect "$url" --draft "$draft" --pin "$hash" --count 3 --timeout 10 2>&1 | sed 's/^/    /'; then
      status=1
    fi
  done
done
[ $status = 0 ] && echo "[demo] every player decoded the video through the relay and every subscriber received the clock" || echo "[demo] FAILED"
exit $status
