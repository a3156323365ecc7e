#!/usr/bin/env bash
# The main demo (called by `scripts/setup.sh demo` after install + build).
# Until the transport and elements exist, the best end-to-end thing is the wire codec: a
# publisher/subscriber exchange encoded for drafts 14, 16 and 18 and decoded back byte by byte.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
echo "[demo] moq-gst is at its first milestone: the MoQT wire codec (no network, no GStreamer elements yet)."
exec "$here/build/tools/moqt-wire" demo
