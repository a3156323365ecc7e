#!/usr/bin/env python3
"""Prints, for each failed meson test in the given build directories, its gtest failure lines and
the end of what it logged: the part of a long CI log that says why, right above the totals."""
import json
import re
import sys

LOG_LINE = re.compile(r"^\d+:\d\d:\d\d\.\d+ ")  # a GStreamer log line (FailureLog)
KEEP = re.compile(r"Failure|Expected|actual|Which is|Value of|\[  FAILED  \]|ERROR: |runtime error|Sanitizer|"
                  r"^--- (the last|end of log)")
shown = 0
for d in sys.argv[1:]:
    try:
        lines = open(f"{d}/meson-logs/testlog.json", encoding="utf-8", errors="replace").readlines()
    except OSError:
        continue
    for line in lines:
        t = json.loads(line)
        if t.get("result") not in ("FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"):
            continue
        shown += 1
        if shown > 4:
            print(f"[failures] ... more in {d}/meson-logs/testlog.txt")
            sys.exit(0)
        out = (t.get("stdout") or "").splitlines()
        # The failure lines first, then the newest 40 log lines.
        logs = [l for l in out if LOG_LINE.match(l)]
        rest = [l for l in out if KEEP.search(l) and not LOG_LINE.match(l)]
        print(f"[failures] {d}: {t['name']} ({t['result']}, {t.get('duration', 0):.0f} s)")
        for l in rest[:30] + logs[-40:]:
            print("  " + l[:400])
