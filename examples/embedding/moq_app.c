/* An application embedding GStreamer with the moq plugin, in C: the same script as moq_app.py.
 *
 * Builds, in code, a publisher (videotestsrc + audiotestsrc -> x264enc / opusenc -> moqsink,
 * listening on 127.0.0.1) and a viewer (moqsrc -> decoders -> fakesinks counting frames), then
 * prints the "moq" bus messages (listening, connected, subscribers coming and going, reconnecting,
 * eos, ...), reads both elements' `stats` every second, adds a track at run time (a second video
 * rendition on a new moqsink pad; the viewer gets a new pad from the catalog update), stops the
 * viewer (the publisher's subscribers go to 0) and shuts the publisher down with EOS.
 *
 *   cc moq_app.c $(pkg-config --cflags --libs gstreamer-1.0) -o moq_app
 *   GST_PLUGIN_PATH=build/gst/moq ./moq_app [SECONDS]
 *
 * Threads: bus messages reach the GLib main loop (main thread) through bus watches; pad-added and
 * the fakesinks' handoffs run on streaming threads: they link and count (atomic counters).
 */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  GMainLoop *loop;
  GstElement *publisher, *sink;  /* moqsink */
  GstElement *viewer, *src;      /* moqsrc; src is NULL once the viewer stopped */
  gint video, audio, video_small; /* decoded buffers per viewer pad (atomic) */
  int rc;
} App;

static GstElement *make(const char *factory) {
  GstElement *e = gst_element_factory_make(factory, NULL);
  if (!e) {
    fprintf(stderr, "moq_app: no element '%s' (GST_PLUGIN_PATH must include the moq plugin)\n", factory);
    exit(1);
  }
  return e;
}

/* Links `upstream`'s src pad to a new moqsink pad publishing track `track`. */
static void link_track(App *app, GstElement *upstream, const char *track) {
  GstPad *pad = gst_element_request_pad_simple(app->sink, "sink_%u");
  GstPad *out = gst_element_get_static_pad(upstream, "src");
  g_object_set(pad, "track", track, NULL); /* the MoQT track name */
  if (gst_pad_link(out, pad) != GST_PAD_LINK_OK) {
    fprintf(stderr, "moq_app: cannot link track %s\n", track);
    exit(1);
  }
  gst_object_unref(out);
  gst_object_unref(pad);
}

/* videotestsrc ! caps ! x264enc ! h264 caps -> track; the new elements are returned in `added`. */
static void add_video_track(App *app, const char *track, int w, int h, const char *pattern, GstElement *added[4]) {
  gchar *raw = g_strdup_printf("video/x-raw,width=%d,height=%d,framerate=30/1", w, h);
  GstElement *src = make("videotestsrc"), *caps = make("capsfilter"), *enc = make("x264enc"), *h264 = make("capsfilter");
  gst_util_set_object_arg(G_OBJECT(src), "pattern", pattern);
  g_object_set(src, "is-live", TRUE, NULL);
  GstCaps *c = gst_caps_from_string(raw);
  g_object_set(caps, "caps", c, NULL);
  gst_caps_unref(c);
  gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
  gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", "ultrafast");
  g_object_set(enc, "key-int-max", 30, NULL);
  c = gst_caps_from_string("video/x-h264,stream-format=byte-stream,alignment=au");
  g_object_set(h264, "caps", c, NULL);
  gst_caps_unref(c);
  gst_bin_add_many(GST_BIN(app->publisher), src, caps, enc, h264, NULL);
  if (!gst_element_link_many(src, caps, enc, h264, NULL)) exit(1);
  link_track(app, h264, track);
  added[0] = src, added[1] = caps, added[2] = enc, added[3] = h264;
  g_free(raw);
}

static void on_frame(GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer counter) {
  (void)sink, (void)buf, (void)pad;
  g_atomic_int_inc((gint *)counter);
}

/* moqsrc exposed a track (now, or later from a catalog update): decode it. Streaming thread. */
static void on_viewer_pad(GstElement *src, GstPad *pad, gpointer data) {
  App *app = data;
  (void)src;
  const gchar *name = GST_PAD_NAME(pad);
  GstCaps *caps = gst_pad_query_caps(pad, NULL); /* what the catalog says the track carries */
  const gchar *kind = gst_caps_get_size(caps) ? gst_structure_get_name(gst_caps_get_structure(caps, 0)) : "unknown";
  const char *decoder = !strcmp(kind, "video/x-h264") ? "h264parse ! avdec_h264" : !strcmp(kind, "audio/x-opus") ? "opusdec" : "identity";
  gint *counter = !strcmp(name, "src_video") ? &app->video : !strcmp(name, "src_audio") ? &app->audio : &app->video_small;
  gchar *desc = g_strdup_printf("queue ! %s ! fakesink name=out signal-handoffs=true sync=false", decoder);
  GstElement *branch = gst_parse_bin_from_description(desc, TRUE, NULL);
  GstElement *out = gst_bin_get_by_name(GST_BIN(branch), "out");
  g_signal_connect(out, "handoff", G_CALLBACK(on_frame), counter);
  gst_object_unref(out);
  gst_bin_add(GST_BIN(app->viewer), branch);
  GstPad *sinkpad = gst_element_get_static_pad(branch, "sink");
  gst_pad_link(pad, sinkpad);
  gst_object_unref(sinkpad);
  gst_element_sync_state_with_parent(branch);
  printf("[viewer] new pad %s (%s)\n", name, kind);
  fflush(stdout);
  gst_caps_unref(caps);
  g_free(desc);
}

static gboolean on_viewer_message(GstBus *bus, GstMessage *msg, gpointer data);

static void build_viewer(App *app, const char *port, const char *sha256) {
  app->viewer = gst_pipeline_new("viewer");
  app->src = make("moqsrc");
  gchar *uri = g_strdup_printf("moqt://127.0.0.1:%s/app/demo?tls-pin=%s", port, sha256);
  g_object_set(app->src, "uri", uri, NULL);
  g_signal_connect(app->src, "pad-added", G_CALLBACK(on_viewer_pad), app);
  gst_bin_add(GST_BIN(app->viewer), app->src);
  GstBus *bus = gst_element_get_bus(app->viewer);
  gst_bus_add_watch(bus, on_viewer_message, app);
  gst_object_unref(bus);
  gst_element_set_state(app->viewer, GST_STATE_PLAYING);
  g_free(uri);
}

/* Bus messages of both pipelines, on the main loop. */
static void on_message(App *app, const char *who, GstMessage *msg) {
  const GstStructure *s = gst_message_get_structure(msg);
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT && s && gst_structure_has_name(s, "moq")) {
    const gchar *event = gst_structure_get_string(s, "event"), *detail = gst_structure_get_string(s, "detail");
    printf("[%s] %s: %s\n", who, event, detail);
    fflush(stdout);
    if (!strcmp(who, "publisher") && !strcmp(event, "listening")) {
      /* "127.0.0.1:PORT sha256=HEX" */
      gchar **parts = g_strsplit(detail, " sha256=", 2);
      const gchar *colon = strrchr(parts[0], ':');
      if (colon && parts[1]) build_viewer(app, colon + 1, parts[1]);
      g_strfreev(parts);
    }
  } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error(msg, &e, &dbg);
    printf("[%s] ERROR from %s: %s (%s)\n", who, GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), e->message, dbg ? dbg : "");
    g_error_free(e);
    g_free(dbg);
    app->rc = 1;
    g_main_loop_quit(app->loop);
  } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS && !strcmp(who, "publisher")) {
    printf("[publisher] EOS: every track ended\n");
    g_main_loop_quit(app->loop);
  }
}

static gboolean on_publisher_message(GstBus *bus, GstMessage *msg, gpointer app) {
  (void)bus;
  on_message(app, "publisher", msg);
  return G_SOURCE_CONTINUE;
}

static gboolean on_viewer_message(GstBus *bus, GstMessage *msg, gpointer app) {
  (void)bus;
  on_message(app, "viewer", msg);
  return G_SOURCE_CONTINUE;
}

static void print_stats_of(const char *who, GstElement *e) {
  GstStructure *st = NULL;
  guint64 written = 0, received = 0, reconnects = 0;
  g_object_get(e, "stats", &st, NULL);
  if (!st) return;
  gst_structure_get_uint64(st, "objects-written", &written);
  gst_structure_get_uint64(st, "objects-received", &received);
  gst_structure_get_uint64(st, "reconnects", &reconnects);
  printf("[%s] stats: objects-written=%" G_GUINT64_FORMAT ", objects-received=%" G_GUINT64_FORMAT
         ", reconnects=%" G_GUINT64_FORMAT "\n", who, written, received, reconnects);
  gst_structure_free(st);
}

static gboolean print_stats(gpointer data) {
  App *app = data;
  print_stats_of("publisher", app->sink);
  if (app->src) print_stats_of("viewer", app->src);
  fflush(stdout);
  return G_SOURCE_CONTINUE;
}

static gboolean add_track(gpointer data) {
  App *app = data;
  GstElement *added[4];
  printf("[publisher] adding track video-small (320x180) at run time\n");
  add_video_track(app, "video-small", 320, 180, "ball", added);
  for (int i = 0; i < 4; ++i) gst_element_sync_state_with_parent(added[i]);
  return G_SOURCE_REMOVE;
}

static gboolean stop_viewer(gpointer data) {
  App *app = data;
  printf("[viewer] stopping; decoded src_audio=%d, src_video=%d, src_video-small=%d\n", g_atomic_int_get(&app->audio),
         g_atomic_int_get(&app->video), g_atomic_int_get(&app->video_small));
  fflush(stdout);
  if (app->viewer) gst_element_set_state(app->viewer, GST_STATE_NULL);
  app->src = NULL;
  return G_SOURCE_REMOVE;
}

static gboolean give_up(gpointer data) {
  App *app = data;
  printf("[publisher] no EOS within 5 s\n");
  app->rc = 1;
  g_main_loop_quit(app->loop);
  return G_SOURCE_REMOVE;
}

static gboolean shutdown_publisher(gpointer data) {
  App *app = data;
  printf("[publisher] sending EOS\n");
  fflush(stdout);
  gst_element_send_event(app->publisher, gst_event_new_eos());
  g_timeout_add_seconds(5, give_up, app);
  return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  const double seconds = argc > 1 ? atof(argv[1]) : 8;
  App app = {0};
  app.loop = g_main_loop_new(NULL, FALSE);
  app.publisher = gst_pipeline_new("publisher");
  app.sink = make("moqsink");
  g_object_set(app.sink, "uri", "moqt://127.0.0.1:0/app/demo?mode=listener", NULL);
  gst_bin_add(GST_BIN(app.publisher), app.sink);
  GstElement *video[4];
  add_video_track(&app, "video", 640, 360, "smpte", video);
  GstElement *asrc = make("audiotestsrc"), *conv = make("audioconvert"), *opus = make("opusenc");
  g_object_set(asrc, "is-live", TRUE, NULL);
  gst_bin_add_many(GST_BIN(app.publisher), asrc, conv, opus, NULL);
  if (!gst_element_link_many(asrc, conv, opus, NULL)) return 1;
  link_track(&app, opus, "audio");
  GstBus *bus = gst_element_get_bus(app.publisher);
  gst_bus_add_watch(bus, on_publisher_message, &app);
  gst_object_unref(bus);
  gst_element_set_state(app.publisher, GST_STATE_PLAYING);

  g_timeout_add_seconds(1, print_stats, &app);
  g_timeout_add((guint)(seconds * 400), add_track, &app);
  g_timeout_add((guint)(seconds * 850), stop_viewer, &app);
  g_timeout_add((guint)(seconds * 1000), shutdown_publisher, &app);
  g_main_loop_run(app.loop);

  gst_element_set_state(app.publisher, GST_STATE_NULL);
  if (app.viewer) {
    gst_element_set_state(app.viewer, GST_STATE_NULL);
    gst_object_unref(app.viewer);
  }
  gst_object_unref(app.publisher);
  g_main_loop_unref(app.loop);
  printf("moq_app: decoded src_audio=%d, src_video=%d, src_video-small=%d; exit %d\n", app.audio, app.video,
         app.video_small, app.rc);
  return app.rc;
}
