#!/usr/bin/env bash
# The studio core: one process hosts the relay (moqrelay), taps two contributions that callers
# publish to it (moqsrc relay=hub: in-process, no socket), mixes them side by side (compositor +
# audiomixer), encodes the program and publishes it back into the same relay, where viewers
# (moqsrc, gst-play-1.0 moqt://..., the relay's watch page in a browser) watch it.
#
#   examples/studio/studio.sh                       # relay on 0.0.0.0:4443, watch page on 8443
#   gst-launch-1.0 videotestsrc is-live=true ! x264enc tune=zerolatency ! \
#       moqsink uri='moqt://STUDIO:4443/contrib/a?tls-insecure=true' ...   # contributor A (and B)
#   gst-play-1.0 'moqt://STUDIO:4443/studio/program?tls-insecure=true'    # a viewer
#
# Settings (environment): ADDR (0.0.0.0), PORT (4443; 0 = any), HTTP_PORT (8443; -1 = no watch
# page), CONTRIB_A (contrib/a), CONTRIB_B (contrib/b), PROGRAM (studio/program), WIDTH/HEIGHT of
# each contribution in the program (640x360: the program is twice as wide), BITRATE (kbit/s, 3000).
# Each contribution is decoded whatever its codec (decodebin: H.264 from moqsink or OBS, Opus or
# AAC); a contribution that is absent or stalls leaves its half black and silent, the program goes
# on. gst-launch -m prints the relay's "listening" message (its port and certificate hash).
set -euo pipefail
ADDR=${ADDR:-0.0.0.0} PORT=${PORT:-4443} HTTP_PORT=${HTTP_PORT:-8443}
A=${CONTRIB_A:-contrib/a} B=${CONTRIB_B:-contrib/b} PROGRAM=${PROGRAM:-studio/program}
W=${WIDTH:-640} H=${HEIGHT:-360} BITRATE=${BITRATE:-3000}

# One contribution: its moqsrc (attached to the relay), video scaled into its half, audio to the mix.
contribution() {  # contribution NAME NAMESPACE SINKPAD
  echo "moqsrc name=$1 uri=moqt://local/$2?relay=hub catalog-timeout=600000" \
       "$1.src_video ! queue max-size-time=1000000000 ! decodebin ! videoconvert ! videoscale !" \
       "video/x-raw,width=$W,height=$H,pixel-aspect-ratio=1/1 ! mix.$3" \
       "$1.src_audio ! queue max-size-time=1000000000 ! decodebin ! audioconvert ! audioresample ! amix."
}

# shellcheck disable=SC2046  # the contribution() words are pipeline syntax
exec gst-launch-1.0 -e -m \
  moqrelay name=hub address="$ADDR" port="$PORT" http-port="$HTTP_PORT" hold-ms=600000 \
  compositor name=mix background=black sink_0::xpos=0 sink_1::xpos="$W" latency=100000000 ! \
    "video/x-raw,width=$((2 * W)),height=$H,framerate=30/1" ! videoconvert ! \
    x264enc tune=zerolatency speed-preset=veryfast key-int-max=30 bitrate="$BITRATE" ! \
    video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au ! \
    moqsink name=program uri="moqt://local/$PROGRAM?relay=hub" \
  audiomixer name=amix latency=100000000 ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! opusenc ! program. \
  $(contribution a "$A" sink_0) \
  $(contribution b "$B" sink_1)
