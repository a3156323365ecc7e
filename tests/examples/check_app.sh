#!/usr/bin/env bash
# Runs an embedding example (examples/embedding: the C program or the Python script) for a few
# seconds and checks what it printed: bus messages (listening, subscribers coming and going),
# stats, a track added at run time reaching the viewer, a clean EOS shutdown, decoded counts.
#   check_app.sh SECONDS COMMAND...
set -uo pipefail
seconds=$1; shift
out=$(timeout 60 "$@" "$seconds" 2>&1); rc=$?
printf '%s\n' "$out"
fail=0
need() {  # need REGEX WHAT
  if ! grep -qE -- "$1" <<<"$out"; then echo "check_app: MISSING: $2 (/$1/)"; fail=1; fi
}
need '^\[publisher\] listening: 127\.0\.0\.1:[0-9]+ sha256=[0-9a-f]{64}$' "the listening message"
need '^\[viewer\] connected: draft-18$' "the viewer's connected message"
need '^\[viewer\] new pad src_video \(video/x-h264\)$' "the video pad with its catalog caps"
need '^\[viewer\] new pad src_audio \(audio/x-opus\)$' "the audio pad with its catalog caps"
need '^\[publisher\] subscribers: video 1$' "a subscriber coming"
need '^\[publisher\] stats: objects-written=[1-9]' "the publisher's stats"
need '^\[viewer\] stats: objects-written=0, objects-received=[1-9]' "the viewer's stats"
need '^\[viewer\] new pad src_video-small \(video/x-h264\)$' "the track added at run time, at the viewer"
need '^\[publisher\] subscribers: video-small 1$' "the added track's subscriber"
need '^\[publisher\] subscribers: video 0$' "the subscriber going"
need '^\[publisher\] EOS: every track ended$' "a clean EOS shutdown"
last=$(grep -E '^moq_app: decoded ' <<<"$out" | tail -1)
if [[ $last =~ src_audio=([0-9]+),\ src_video=([0-9]+),\ src_video-small=([0-9]+)\;\ exit\ 0 ]]; then
  a=${BASH_REMATCH[1]} v=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
  # The viewer runs ~85 % of SECONDS, the added track the last ~45 %: at least half of that.
  want_v=$(( seconds * 30 * 85 / 100 / 2 )) want_s=$(( seconds * 30 * 45 / 100 / 2 )) want_a=$(( seconds * 50 * 85 / 100 / 2 ))
  [ "$v" -ge "$want_v" ] || { echo "check_app: video decoded $v < $want_v"; fail=1; }
  [ "$s" -ge "$want_s" ] || { echo "check_app: added track decoded $s < $want_s"; fail=1; }
  [ "$a" -ge "$want_a" ] || { echo "check_app: audio decoded $a < $want_a"; fail=1; }
else
  echo "check_app: no clean final line (exit status $rc): $last"; fail=1
fi
[ $rc = 0 ] || { echo "check_app: exit status $rc"; fail=1; }
[ $fail = 0 ] && echo "check_app: OK" || echo "check_app: FAILED"
exit $fail
