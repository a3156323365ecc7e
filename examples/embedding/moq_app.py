#!/usr/bin/python3
"""An application embedding GStreamer with the moq plugin (PyGObject, Debian's python3-gst-1.0).

It builds, in code, a publisher (videotestsrc + audiotestsrc -> x264enc / opusenc -> moqsink,
listening on 127.0.0.1) and a viewer (moqsrc -> decoders -> fakesinks counting frames) of that
publisher, then:
  - prints the elements' bus messages ("moq" element messages: listening, connected,
    subscribers coming and going, published, reconnecting, eos, warnings and errors);
  - reads both elements' `stats` once a second;
  - adds a track at run time (a second, smaller video rendition: a new moqsink pad with its own
    track name); the viewer gets it as a new pad (the catalog update) and decodes it too;
  - stops the viewer (the publisher sees its subscribers go), then shuts the publisher down
    cleanly (EOS: the tracks end with PUBLISH_DONE), and prints a summary.

    GST_PLUGIN_PATH=build/gst/moq examples/embedding/moq_app.py [--seconds 8]

Threads: bus messages come to the GLib main loop (this thread) through bus watches; pad-added
and the fakesinks' handoffs run on GStreamer's streaming threads, so they only link pads and
count (the counters are read on the main thread: a Python int update is atomic under the GIL).
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def make(factory, **props):
    e = Gst.ElementFactory.make(factory, None)
    if e is None:
        sys.exit(f"moq_app: no element '{factory}' (GST_PLUGIN_PATH must include the moq plugin)")
    for k, v in props.items():
        e.set_property(k.replace("_", "-"), v)
    return e


def chain(pipeline, *elements):
    for e in elements:
        pipeline.add(e)
    for a, b in zip(elements, elements[1:]):
        if not a.link(b):
            sys.exit(f"moq_app: cannot link {a.get_name()} to {b.get_name()}")
    return elements


class App:
    def __init__(self, seconds):
        self.seconds = seconds
        self.loop = GLib.MainLoop()
        self.frames = {}  # viewer pad name -> decoded buffers
        self.subscribers = {}  # publisher track -> subscribers now
        self.events = []
        self.viewer = None
        self.rc = 0

    # --- the publisher: moqsink listening, one pad per track ---
    def build_publisher(self):
        p = Gst.Pipeline.new("publisher")
        self.sink = make("moqsink", uri="moqt://127.0.0.1:0/app/demo?mode=listener")
        p.add(self.sink)
        self.add_video_track(p, "video", 640, 360, "smpte")
        asrc = make("audiotestsrc", is_live=True)
        enc = make("opusenc")
        chain(p, asrc, make("audioconvert"), enc)
        self.link_track(enc, "audio")
        self.publisher = p
        self.watch(p, "publisher")

    def add_video_track(self, p, track, width, height, pattern):
        src = make("videotestsrc", is_live=True, pattern=pattern)
        caps = make("capsfilter", caps=Gst.Caps.from_string(f"video/x-raw,width={width},height={height},framerate=30/1"))
        enc = make("x264enc", tune="zerolatency", speed_preset="ultrafast", key_int_max=30)
        h264 = make("capsfilter", caps=Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au"))
        elements = chain(p, src, caps, enc, h264)
        self.link_track(h264, track)
        return elements

    def link_track(self, upstream, track):
        pad = self.sink.request_pad_simple("sink_%u")
        pad.set_property("track", track)  # the MoQT track name (default: video, audio, video1, ...)
        if upstream.get_static_pad("src").link(pad) != Gst.PadLinkReturn.OK:
            sys.exit(f"moq_app: cannot link track {track}")

    # --- the viewer: moqsrc exposes one pad per catalog track, now and when the catalog changes ---
    def build_viewer(self, port, sha256):
        p = Gst.Pipeline.new("viewer")
        src = make("moqsrc", uri=f"moqt://127.0.0.1:{port}/app/demo?tls-pin={sha256}")
        src.connect("pad-added", self.on_viewer_pad)
        p.add(src)
        self.viewer, self.src = p, src
        self.watch(p, "viewer")
        p.set_state(Gst.State.PLAYING)

    def on_viewer_pad(self, src, pad):  # a streaming thread
        name = pad.get_name()
        caps = pad.query_caps(None)  # what the catalog says the track carries
        kind = caps.get_structure(0).get_name() if caps.get_size() else "unknown"
        decoder = {"video/x-h264": "h264parse ! avdec_h264", "audio/x-opus": "opusdec"}.get(kind)
        if decoder is None:
            print(f"[viewer] ignoring pad {name} ({kind})", flush=True)
            decoder = "identity"
        # Bins are built and linked here (allowed from any thread), then brought to PLAYING.
        branch = Gst.parse_bin_from_description(f"queue ! {decoder} ! fakesink name=out signal-handoffs=true sync=false", True)
        branch.get_by_name("out").connect("handoff", self.on_frame, name)
        self.viewer.add(branch)
        pad.link(branch.get_static_pad("sink"))
        branch.sync_state_with_parent()
        self.frames.setdefault(name, 0)
        print(f"[viewer] new pad {name} ({kind})", flush=True)

    def on_frame(self, sink, buf, pad, name):  # a streaming thread
        self.frames[name] += 1

    # --- bus messages, on this (main loop) thread ---
    def watch(self, pipeline, who):
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message, who)

    def on_message(self, bus, msg, who):
        t = msg.type
        if t == Gst.MessageType.ELEMENT and msg.get_structure() and msg.get_structure().get_name() == "moq":
            s = msg.get_structure()
            event, detail = s.get_string("event"), s.get_string("detail")
            print(f"[{who}] {event}: {detail}", flush=True)
            self.events.append((who, event, detail))
            if who == "publisher" and event == "listening":
                port = int(detail.split(" ")[0].rsplit(":", 1)[1])
                sha256 = detail.split("sha256=")[1]
                self.build_viewer(port, sha256)
            if who == "publisher" and event == "subscribers":
                track, n = detail.rsplit(" ", 1)
                self.subscribers[track] = int(n)
        elif t == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"[{who}] ERROR from {msg.src.get_name()}: {err.message} ({dbg})", flush=True)
            self.rc = 1
            self.loop.quit()
        elif t == Gst.MessageType.WARNING:
            err, _ = msg.parse_warning()
            print(f"[{who}] warning from {msg.src.get_name()}: {err.message}", flush=True)
        elif t == Gst.MessageType.EOS and who == "publisher":
            print("[publisher] EOS: every track ended", flush=True)
            self.loop.quit()

    # --- the script ---
    def print_stats(self):
        for who, e in (("publisher", self.sink), ("viewer", getattr(self, "src", None))):
            if e is None:
                continue
            st = e.get_property("stats")
            fields = ", ".join(f"{k}={st.get_value(k)}" for k in ("objects-written", "objects-received", "reconnects"))
            print(f"[{who}] stats: {fields}", flush=True)
        return GLib.SOURCE_CONTINUE

    def add_track(self):
        print("[publisher] adding track video-small (320x180) at run time", flush=True)
        for e in self.add_video_track(self.publisher, "video-small", 320, 180, "ball"):
            e.sync_state_with_parent()
        return GLib.SOURCE_REMOVE

    def stop_viewer(self):
        print(f"[viewer] stopping; decoded {self.summary()}", flush=True)
        self.viewer.set_state(Gst.State.NULL)
        self.src = None  # no stats from a stopped element
        return GLib.SOURCE_REMOVE

    def shutdown(self):
        print(f"[publisher] subscribers now: {self.subscribers}; sending EOS", flush=True)
        self.publisher.send_event(Gst.Event.new_eos())
        GLib.timeout_add_seconds(5, self.give_up)
        return GLib.SOURCE_REMOVE

    def give_up(self):
        print("[publisher] no EOS within 5 s", flush=True)
        self.rc = 1
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def summary(self):
        return ", ".join(f"{k}={v}" for k, v in sorted(self.frames.items()))

    def run(self):
        self.build_publisher()
        self.publisher.set_state(Gst.State.PLAYING)
        s = self.seconds
        GLib.timeout_add_seconds(1, self.print_stats)
        GLib.timeout_add(int(s * 1000 * 0.4), self.add_track)
        GLib.timeout_add(int(s * 1000 * 0.85), self.stop_viewer)
        GLib.timeout_add(int(s * 1000), self.shutdown)
        self.loop.run()
        self.publisher.set_state(Gst.State.NULL)
        if self.viewer:
            self.viewer.set_state(Gst.State.NULL)
        print(f"moq_app: decoded {self.summary()}; exit {self.rc}", flush=True)
        return self.rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8, help="how long the script runs (default 8)")
    args = ap.parse_args()
    Gst.init(None)
    return App(args.seconds).run()


if __name__ == "__main__":
    sys.exit(main())
