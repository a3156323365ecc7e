#!/usr/bin/env bash
# The main demo (called by `scripts/setup.sh demo` after install + build).
# 1. GStreamer: a moqsink pipeline (x264 video + Opus audio, a camera stand-in) is the origin on
#    127.0.0.1; moqsrc pipelines play it over raw QUIC (moqt://) and WebTransport (https://): the
#    catalog gives them a video and an audio pad, real decoders, and they print what they saw. (No relay yet: players connect to the publishing pipeline.)
# 2. The engine alone: a clock publisher and subscribers at each draft over both transports.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
clock="$here/build/tools/moqt-clock"
out=$(mktemp -d)
pub=""
gpub=""
trap 'kill $pub $gpub 2>/dev/null || true; rm -rf "$out"' EXIT
export GST_PLUGIN_PATH="$here/build/gst/moq${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
status=0

echo "[demo] GStreamer publish -> play: videotestsrc ! x264enc + audiotestsrc ! opusenc -> moqsink (listener) <- moqsrc -> avdec_h264 + opusdec"
gst-launch-1.0 -v videotestsrc is-live=true ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! \
  x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! video/x-h264,stream-format=byte-stream,alignment=au ! \
  moqsink name=s uri='moqt://127.0.0.1:0/live/cam?mode=listener' \
  audiotestsrc is-live=true wave=ticks ! audioconvert ! opusenc ! s. >"$out/gpub.log" 2>&1 &
gpub=$!
for _ in $(seq 100); do grep -q "GstMoqSink:s: port = " "$out/gpub.log" && break; sleep 0.1; done
gport=$(sed -n 's/.*GstMoqSink:s: port = \([0-9]*\).*/\1/p' "$out/gpub.log" | head -1)
if [ -z "$gport" ]; then
  cat "$out/gpub.log"; echo "[demo] the GStreamer publisher did not start"; status=1
else
  echo "[demo] publisher pipeline listening on 127.0.0.1:$gport (namespace live/cam: catalog, video, audio tracks)"
  for url in "moqt://127.0.0.1:$gport/live/cam?tls-insecure=true" "https://127.0.0.1:$gport/live/cam?tls-insecure=true"; do
    echo "[demo] player: moqsrc uri='$url' -> src_video ! avdec_h264 (90 frames), src_audio ! opusdec (150 frames)"
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
      tail -5 "$out/play.log" | sed 's/^/    /'; status=1
    fi
  done
fi
kill $gpub 2>/dev/null || true

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
[ $status = 0 ] && echo "[demo] every player decoded the video and every subscriber received the clock" || echo "[demo] FAILED"
exit $status
