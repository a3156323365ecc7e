// moqt-ingest: a contribution gateway. Takes what a studio encoder sends (OBS, ffmpeg, a hardware
// encoder: SRT or UDP MPEG-TS, or an RTMP stream GStreamer can pull) and publishes it as MoQ tracks
// (moqsink: `video` and `audio`, catalogs for MSF and moq.dev's players) to a relay, without
// re-encoding: parsebin demuxes and parses, the parsers put H.264/H.265 into Annex B access units
// and AAC into raw frames, with the container's timestamps as the one A/V timeline.
//
//   moqt-ingest srt://:9000 'moqt://relay.example:4443/live/show'
//   moqt-ingest 'srt://:9000?passphrase=secret0123' 'moqt://127.0.0.1:4443/live/show?tls-pin=HEX'
//   moqt-ingest udp://:5000 moqt://...            MPEG-TS over UDP
//   moqt-ingest rtmp://media.example/live/key moqt://...   pulls an RTMP stream (GStreamer has
//                                                 no RTMP server: point the encoder at one)
//   moqt-ingest file.ts moqt://...                a recording, paced as live (--live)
//
// SRT without a host listens (the encoder calls: OBS's "Custom" server srt://GATEWAY:9000) and
// keeps listening when the encoder disconnects, so a restarted stream continues the same tracks;
// srt://HOST:PORT calls an SRT listener and reconnects. The MoQ side reconnects to the relay
// (moqsink reconnect=true). Prints one status line per --stats-interval seconds; SIGINT/SIGTERM
// end the tracks cleanly (EOS: PUBLISH_DONE) and exit.
#include <gst/gst.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace {

std::atomic<int> g_stop{0};
void on_stop(int) { g_stop.fetch_add(1); }

struct Ingest {
  GstElement* pipeline = nullptr;
  GstElement* sink = nullptr;  // moqsink
  int video = 0, audio = 0, other = 0;
  bool pace = false;  // a file: each stream held to real time (clocksync), like a live encoder
};

// The source element for INPUT (a bin description for gst_parse_bin_from_description), or "".
std::string source_for(const std::string& in, std::string* why) {
  auto q = [](const std::string& s) { return "\"" + s + "\""; };
  if (in.rfind("srt://", 0) == 0) {
    // srt://:PORT listens; srt://HOST:PORT calls (unless the query says otherwise).
    const bool listener = in.rfind("srt://:", 0) == 0 || in.find("mode=listener") != std::string::npos;
    return "srtsrc uri=" + q(in) + (listener ? " keep-listening=true wait-for-connection=true" : " auto-reconnect=true");
  }
  if (in.rfind("udp://", 0) == 0) return "udpsrc uri=" + q(in) + " caps=video/mpegts,systemstream=true";
  if (in.rfind("rtmp://", 0) == 0 || in.rfind("rtmps://", 0) == 0) return "rtmp2src location=" + q(in);
  if (in.find("://") == std::string::npos || in.rfind("file://", 0) == 0) {
    const std::string path = in.rfind("file://", 0) == 0 ? in.substr(7) : in;
    if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR)) {
      *why = "no such file: " + path;
      return "";
    }
    return "filesrc location=" + q(path);
  }
  *why = "unsupported input '" + in + "' (srt://, udp://, rtmp://, rtmps:// or a file)";
  return "";
}

// parsebin exposed a parsed elementary stream: link what MoQ carries into moqsink.
void on_pad(GstElement*, GstPad* pad, gpointer data) {
  auto* in = static_cast<Ingest*>(data);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const std::string name = gst_structure_get_name(s);
  std::string chain;
  const char* kind = nullptr;
  if (name == "video/x-h264") {
    chain = "h264parse config-interval=-1 ! capsfilter caps=video/x-h264,stream-format=byte-stream,alignment=au";
    kind = "video";
  } else if (name == "video/x-h265") {
    chain = "h265parse config-interval=-1 ! capsfilter caps=video/x-h265,stream-format=byte-stream,alignment=au";
    kind = "video";
  } else if (name == "audio/mpeg") {
    // Before the stream's first buffer the caps may still list mpegversion {2, 4}: AAC either
    // way; mpegversion 1 (MP1/2/3 audio) is not carried.
    int version = 0;
    if (!gst_structure_get_int(s, "mpegversion", &version) || version != 1) {
      chain = "aacparse ! capsfilter caps=audio/mpeg,mpegversion=4,stream-format=raw";
      kind = "audio";
    }
  } else if (name == "audio/x-opus") {
    chain = "opusparse";
    kind = "audio";
  }
  gchar* desc = gst_caps_to_string(caps);
  gst_caps_unref(caps);
  GstElement* bin = nullptr;
  if (kind) {
    GError* err = nullptr;
    // A queue per stream: a stall of one does not hold the demuxer for the other.
    bin = gst_parse_bin_from_description(("queue max-size-time=2000000000 max-size-buffers=0 max-size-bytes=0 ! " + chain +
                                          (in->pace ? " ! clocksync" : "")).c_str(),
                                         TRUE, &err);
    if (err) {
      std::fprintf(stderr, "moqt-ingest: %s\n", err->message);
      g_error_free(err);
    }
  }
  if (!bin) {
    // Not carried (subtitles, data, an unsupported codec): consumed so the demuxer is not blocked.
    std::fprintf(stderr, "moqt-ingest: ignoring a stream of %s\n", desc);
    ++in->other;
    bin = gst_element_factory_make("fakesink", nullptr);
    g_object_set(bin, "sync", FALSE, "async", FALSE, nullptr);
    gst_bin_add(GST_BIN(in->pipeline), bin);
    gst_element_sync_state_with_parent(bin);
    GstPad* sp = gst_element_get_static_pad(bin, "sink");
    gst_pad_link(pad, sp);
    gst_object_unref(sp);
    g_free(desc);
    return;
  }
  gst_bin_add(GST_BIN(in->pipeline), bin);
  GstPad* mp = gst_element_request_pad_simple(in->sink, "sink_%u");
  GstPad* bsrc = gst_element_get_static_pad(bin, "src");
  GstPad* bsink = gst_element_get_static_pad(bin, "sink");
  const bool ok = gst_pad_link(bsrc, mp) == GST_PAD_LINK_OK && gst_pad_link(pad, bsink) == GST_PAD_LINK_OK;
  gst_element_sync_state_with_parent(bin);
  std::fprintf(stderr, "moqt-ingest: %s %s (%s)\n", ok ? "publishing" : "could not link", name.c_str(), kind);
  (std::string(kind) == "video" ? in->video : in->audio)++;
  gst_object_unref(bsrc);
  gst_object_unref(bsink);
  gst_object_unref(mp);
  g_free(desc);
}

}  // namespace

int main(int argc, char** argv) {
  gchar* format = nullptr;
  gint stats_interval = 0;
  gboolean no_pace = FALSE;
  GOptionEntry entries[] = {
      {"catalog-format", 0, 0, G_OPTION_ARG_STRING, &format, "moqsink catalog-format: msf, hang or both (default both)", "F"},
      {"stats-interval", 0, 0, G_OPTION_ARG_INT, &stats_interval, "Print moqsink's stats every S seconds (default 0: never)", "S"},
      {"no-pace", 0, 0, G_OPTION_ARG_NONE, &no_pace, "A file input is sent as fast as it is read, not in real time", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("INPUT OUTPUT - publish an encoder's stream (SRT, UDP MPEG-TS, RTMP, file) as MoQ tracks");
  g_option_context_set_description(ctx,
      "INPUT:  srt://:PORT (listen)  srt://HOST:PORT (call)  udp://:PORT  rtmp://HOST/APP/KEY  FILE.ts|flv|mp4\n"
      "OUTPUT: a moqsink URI: moqt://HOST:PORT/NAMESPACE?tls-pin=HEX (raw QUIC) or https://... (WebTransport)\n");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError* err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 3) {
    std::fprintf(stderr, "moqt-ingest: %s\n", err ? err->message : "expected INPUT and OUTPUT (see --help)");
    if (err) g_error_free(err);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);
  const std::string input = argv[1], output = argv[2];
  const bool is_file = input.find("://") == std::string::npos || input.rfind("file://", 0) == 0;

  std::string why;
  const std::string src = source_for(input, &why);
  if (src.empty()) {
    std::fprintf(stderr, "moqt-ingest: %s\n", why.c_str());
    return 2;
  }
  if (!gst_element_factory_find("moqsink")) {
    std::fprintf(stderr, "moqt-ingest: no moqsink element (set GST_PLUGIN_PATH to the moq plugin's directory)\n");
    return 1;
  }
  Ingest in;
  in.pipeline = gst_pipeline_new("moqt-ingest");
  GstElement* source = gst_parse_bin_from_description(src.c_str(), TRUE, &err);
  if (!source) {
    std::fprintf(stderr, "moqt-ingest: %s: %s\n", src.c_str(), err ? err->message : "?");
    return 1;
  }
  GstElement* parse = gst_element_factory_make("parsebin", nullptr);
  in.sink = gst_element_factory_make("moqsink", "moqsink");
  g_object_set(in.sink, "uri", output.c_str(), "reconnect", TRUE, nullptr);
  in.pace = is_file && !no_pace;
  if (format) gst_util_set_object_arg(G_OBJECT(in.sink), "catalog-format", format);
  gst_bin_add_many(GST_BIN(in.pipeline), source, parse, in.sink, nullptr);
  if (!gst_element_link(source, parse)) {
    std::fprintf(stderr, "moqt-ingest: cannot link %s to parsebin\n", src.c_str());
    return 1;
  }
  g_signal_connect(parse, "pad-added", G_CALLBACK(on_pad), &in);

  signal(SIGINT, on_stop);
  signal(SIGTERM, on_stop);
  // A failure to start leaves its reason (e.g. moqsink's 'uri') on the bus, read below.
  gst_element_set_state(in.pipeline, GST_STATE_PLAYING);
  std::fprintf(stderr, "moqt-ingest: %s -> %s\n", input.c_str(), output.c_str());
  GstBus* bus = gst_element_get_bus(in.pipeline);
  int rc = 0;
  bool eos_sent = false;
  gint64 last_stats = g_get_monotonic_time();
  for (;;) {
    if (g_stop.load() && !eos_sent) {
      std::fprintf(stderr, "moqt-ingest: stopping (EOS: the tracks end)\n");
      gst_element_send_event(in.pipeline, gst_event_new_eos());
      eos_sent = true;
    }
    if (g_stop.load() > 1) break;  // a second signal: now
    GstMessage* m = gst_bus_timed_pop_filtered(bus, 100 * GST_MSECOND,
                                               GstMessageType(GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_WARNING));
    if (stats_interval > 0 && g_get_monotonic_time() - last_stats >= gint64(stats_interval) * 1000000) {
      last_stats = g_get_monotonic_time();
      GstStructure* st = nullptr;
      g_object_get(in.sink, "stats", &st, nullptr);
      gchar* text = st ? gst_structure_to_string(st) : g_strdup("?");
      std::fprintf(stderr, "moqt-ingest: stats: %s\n", text);
      g_free(text);
      if (st) gst_structure_free(st);
    }
    if (!m) continue;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS) {
      std::fprintf(stderr, "moqt-ingest: end of stream\n");
      gst_message_unref(m);
      break;
    }
    GError* e = nullptr;
    gchar* dbg = nullptr;
    const bool error = GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR;
    if (error) gst_message_parse_error(m, &e, &dbg);
    else gst_message_parse_warning(m, &e, &dbg);
    std::fprintf(stderr, "moqt-ingest: %s from %s: %s (%s)\n", error ? "error" : "warning", GST_OBJECT_NAME(m->src),
                 e->message, dbg ? dbg : "");
    g_error_free(e);
    g_free(dbg);
    gst_message_unref(m);
    if (error) {
      rc = 1;
      break;
    }
  }
  gst_object_unref(bus);
  gst_element_set_state(in.pipeline, GST_STATE_NULL);
  std::fprintf(stderr, "moqt-ingest: published %d video and %d audio track(s)%s\n", in.video, in.audio,
               in.other ? " (other streams ignored)" : "");
  gst_object_unref(in.pipeline);
  return rc;
}
