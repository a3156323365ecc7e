// moq-latency: glass-to-glass latency of moqsink -> moqsrc on loopback, in one process so both
// pipelines share one clock.
//
//   sender:   videotestsrc is-live ! x264enc tune=zerolatency ! moqsink (listener)
//   receiver: moqsrc (caller) ! h264parse ! avdec_h264 ! appsink
//
// Capture time of a frame = the wall-clock time moqsink sends as the LOC Timestamp (the frame's
// running time on the pipeline clock, anchored to the wall clock), which moqsrc attaches as a
// GstReferenceTimestampMeta (timestamp/x-unix). Latency = wall-clock time when the decoded frame
// reaches the appsink - capture time. Prints min / median / p95 / max.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace {

GstElement* launch(const std::string& desc) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  if (!p) std::fprintf(stderr, "moq-latency: %s: %s\n", desc.c_str(), err ? err->message : "?");
  if (err) g_error_free(err);
  return p;
}

bool bus_error(GstElement* p) {
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (!m) return false;
  GError* e = nullptr;
  gchar* dbg = nullptr;
  gst_message_parse_error(m, &e, &dbg);
  std::fprintf(stderr, "moq-latency: %s (%s)\n", e->message, dbg ? dbg : "");
  g_error_free(e);
  g_free(dbg);
  gst_message_unref(m);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gint frames = 300, fps = 30, width = 1280, height = 720;
  gchar* scheme = nullptr;
  GOptionEntry entries[] = {
      {"frames", 'n', 0, G_OPTION_ARG_INT, &frames, "Frames to measure (default 300)", "N"},
      {"fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frame rate (default 30)", "N"},
      {"width", 0, 0, G_OPTION_ARG_INT, &width, "Width (default 1280)", "N"},
      {"height", 0, 0, G_OPTION_ARG_INT, &height, "Height (default 720)", "N"},
      {"scheme", 0, 0, G_OPTION_ARG_STRING, &scheme, "moqt (raw QUIC, default) or https (WebTransport)", "S"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("- glass-to-glass latency of moqsink -> moqsrc on loopback");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  GError* err = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    std::fprintf(stderr, "moq-latency: %s\n", err->message);
    return 2;
  }
  g_option_context_free(ctx);
  const std::string sch = scheme ? scheme : "moqt";
  if (frames <= 0 || fps <= 0 || (sch != "moqt" && sch != "https")) {
    std::fprintf(stderr, "moq-latency: --frames and --fps must be positive, --scheme moqt or https\n");
    return 2;
  }

  GstElement* snd = launch("videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=" +
                           std::to_string(width) + ",height=" + std::to_string(height) + ",framerate=" +
                           std::to_string(fps) + "/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=" +
                           std::to_string(fps) + " ! video/x-h264,stream-format=byte-stream,alignment=au ! "
                           "moqsink name=sink uri=moqt://127.0.0.1:0/live/cam?mode=listener");
  if (!snd) return 1;
  if (gst_element_set_state(snd, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE || bus_error(snd)) return 1;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(snd), "sink");
  guint port = 0;
  g_object_get(sink, "port", &port, nullptr);
  gst_object_unref(sink);

  GstElement* rcv = launch("moqsrc uri=" + sch + "://127.0.0.1:" + std::to_string(port) +
                           "/live/cam?tls-insecure=true ! h264parse ! avdec_h264 ! "
                           "appsink name=out sync=false max-buffers=1000");
  if (!rcv) return 1;
  GstClock* clock = gst_system_clock_obtain();  // both pipelines use the system clock
  gst_pipeline_use_clock(GST_PIPELINE(snd), clock);
  gst_pipeline_use_clock(GST_PIPELINE(rcv), clock);
  if (gst_element_set_state(rcv, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) return 1;
  GstElement* out = gst_bin_get_by_name(GST_BIN(rcv), "out");
  GstCaps* want = gst_caps_new_empty_simple("timestamp/x-unix");
  std::vector<double> ms;
  const gint64 deadline = g_get_monotonic_time() + (gint64(frames) * 1000 / fps + 20000) * 1000;
  int rc = 0;
  while (int(ms.size()) < frames && g_get_monotonic_time() < deadline) {
    if (bus_error(snd) || bus_error(rcv)) {
      rc = 1;
      break;
    }
    GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 100 * GST_MSECOND);
    if (!s) continue;
    const GstClockTime now = GstClockTime(g_get_real_time()) * GST_USECOND;
    GstBuffer* b = gst_sample_get_buffer(s);
    if (GstReferenceTimestampMeta* m = gst_buffer_get_reference_timestamp_meta(b, want))
      ms.push_back(double(GST_CLOCK_DIFF(m->timestamp, now)) / GST_MSECOND);
    gst_sample_unref(s);
  }
  gst_caps_unref(want);
  gst_object_unref(out);
  gst_element_set_state(rcv, GST_STATE_NULL);
  gst_element_set_state(snd, GST_STATE_NULL);
  gst_object_unref(rcv);
  gst_object_unref(snd);
  gst_object_unref(clock);
  if (ms.empty()) {
    std::fprintf(stderr, "moq-latency: no frame carried the sender timestamp\n");
    return 1;
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) { return sorted[std::min(sorted.size() - 1, size_t(p * double(sorted.size())))]; };
  std::printf("RESULT scheme=%s frames=%zu %dx%d@%d x264 zerolatency: latency ms min=%.1f median=%.1f p95=%.1f max=%.1f\n",
              sch.c_str(), ms.size(), width, height, fps, sorted.front(), pct(0.5), pct(0.95), sorted.back());
  return rc;
}
