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
//
// --via relay | studio: the return feed of a contribution, through an in-process moqrelay:
//   contributor: videotestsrc ! (capture time painted into the picture) ! x264enc ! moqsink
//                (caller, raw QUIC) -> moqrelay
//   relay:       the return viewer gets contrib/a back from the relay;
//   studio:      a studio pipeline taps contrib/a in-process, composes it with a second source
//                (compositor), encodes the program and publishes it into the relay; the return
//                viewer gets studio/program
//   return:      moqsrc (caller, raw QUIC) ! avdec_h264 ! appsink, which reads the time back out
//                of the picture.
// The capture time travels in the picture (32 blocks of black or white, and their complement as a
// check) because the studio re-encodes: no timestamp of the contribution survives a mixer.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <gst/video/video.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
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

// The capture time (wall clock, ms, mod 2^32) as two rows of 32 blocks in the top of an I420 frame:
// row 1 the bits, row 2 their complement (a frame whose rows disagree is not counted).
constexpr int kBits = 32, kRowH = 24;

GstPadProbeReturn paint_time(GstPad*, GstPadProbeInfo* info, gpointer) {
  GstBuffer* b = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = b;
  const guint32 code = guint32(g_get_real_time() / 1000);
  GstVideoMeta* vm = gst_buffer_get_video_meta(b);
  GstMapInfo m;
  if (!gst_buffer_map(b, &m, GST_MAP_WRITE)) return GST_PAD_PROBE_OK;
  // videotestsrc's I420 without meta: stride = width rounded up to 4.
  const int width = vm ? int(vm->width) : 0;
  const int stride = vm ? vm->stride[0] : 0;
  if (width >= kBits * 8 && stride > 0) {
    const int bw = width / kBits;
    for (int row = 0; row < 2; ++row)
      for (int i = 0; i < kBits; ++i) {
        const bool bit = ((code >> (kBits - 1 - i)) & 1) ^ row;
        for (int y = row * kRowH; y < (row + 1) * kRowH; ++y) memset(m.data + y * stride + i * bw, bit ? 235 : 16, bw);
      }
  }
  gst_buffer_unmap(b, &m);
  return GST_PAD_PROBE_OK;
}

// The painted time of a decoded I420 frame (its left `width` pixels), if both rows agree.
std::optional<guint32> read_time(const guint8* y, int stride, int width) {
  const int bw = width / kBits;
  auto bit = [&](int row, int i) {
    int sum = 0;
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx) sum += y[(row * kRowH + kRowH / 2 + dy) * stride + i * bw + bw / 2 + dx];
    return sum / 25 > 128;
  };
  guint32 code = 0;
  for (int i = 0; i < kBits; ++i) {
    const bool a = bit(0, i), c = bit(1, i);
    if (a == c) return std::nullopt;
    code = (code << 1) | (a ? 1 : 0);
  }
  return code;
}


void report(const std::string& what, std::vector<double>& ms) {
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, size_t(p * double(ms.size())))]; };
  std::printf("RESULT %s frames=%zu: latency ms min=%.1f median=%.1f p95=%.1f max=%.1f\n", what.c_str(), ms.size(),
              ms.front(), pct(0.5), pct(0.95), ms.back());
}

int return_feed(const std::string& path, const std::string& sch, int frames, int fps, int width, int height) {
  const std::string size = "width=" + std::to_string(width) + ",height=" + std::to_string(height);
  const std::string rate = std::to_string(fps);
  GstElement* relay = gst_pipeline_new("relay");
  GstElement* hub = gst_element_factory_make("moqrelay", "hub");
  if (!hub) return 1;
  g_object_set(hub, "address", "127.0.0.1", "port", 0u, "hold-ms", 10000u, nullptr);
  gst_bin_add(GST_BIN(relay), hub);
  if (gst_element_set_state(relay, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE || bus_error(relay)) return 1;
  guint port = 0;
  gchar* sha = nullptr;
  g_object_get(hub, "port", &port, "cert-sha256", &sha, nullptr);
  const std::string base = sch + "://127.0.0.1:" + std::to_string(port) + "/";
  const std::string pin = std::string("?tls-pin=") + sha;
  g_free(sha);
  GstElement* studio = nullptr;
  if (path == "studio") {
    // What examples/studio/studio.sh does, for one contribution and a second (local) source.
    studio = launch("moqsrc name=a uri=moqt://local/contrib/a?relay=hub catalog-timeout=10000 "
                    "compositor name=mix sink_1::xpos=" + std::to_string(width) + " ! video/x-raw,width=" +
                    std::to_string(2 * width) + ",height=" + std::to_string(height) + ",framerate=" + rate + "/1 ! "
                    "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=" + rate + " ! "
                    "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink uri=moqt://local/studio/program?relay=hub "
                    "a.src_video ! queue ! h264parse ! avdec_h264 ! videoconvert ! mix.sink_0 "
                    "videotestsrc is-live=true pattern=smpte ! video/x-raw," + size + ",framerate=" + rate + "/1 ! mix.sink_1");
    if (!studio || gst_element_set_state(studio, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) return 1;
  }
  GstElement* snd = launch("videotestsrc name=cam is-live=true pattern=ball ! video/x-raw,format=I420," + size +
                           ",framerate=" + rate + "/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=" + rate +
                           " ! video/x-h264,stream-format=byte-stream,alignment=au ! moqsink uri=\"" + base + "contrib/a" +
                           pin + "\"");
  if (!snd) return 1;
  GstElement* cam = gst_bin_get_by_name(GST_BIN(snd), "cam");
  GstPad* cam_src = gst_element_get_static_pad(cam, "src");
  gst_pad_add_probe(cam_src, GST_PAD_PROBE_TYPE_BUFFER, paint_time, nullptr, nullptr);
  gst_object_unref(cam_src);
  gst_object_unref(cam);
  if (gst_element_set_state(snd, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) return 1;
  g_usleep(500000);  // published (the relay holds an early request anyway)
  const std::string back = path == "studio" ? "studio/program" : "contrib/a";
  GstElement* rcv = launch("moqsrc name=r uri=\"" + base + back + pin + "\" catalog-timeout=10000 r.src_video ! "
                           "h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! "
                           "appsink name=out sync=false max-buffers=1000");
  if (!rcv || gst_element_set_state(rcv, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) return 1;
  GstElement* out = gst_bin_get_by_name(GST_BIN(rcv), "out");
  std::vector<double> ms;
  std::optional<guint32> last;
  int unreadable = 0, rc = 0, decoded = 0;
  const gint64 deadline = g_get_monotonic_time() + (gint64(frames) * 1000 / fps + 20000) * 1000;
  while (int(ms.size()) < frames && g_get_monotonic_time() < deadline) {
    if (bus_error(snd) || bus_error(rcv) || bus_error(relay) || (studio && bus_error(studio))) {
      rc = 1;
      break;
    }
    GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(out), 100 * GST_MSECOND);
    if (!s) continue;
    const guint32 now = guint32(g_get_real_time() / 1000);
    GstVideoInfo vi;
    GstVideoFrame f;
    if (gst_video_info_from_caps(&vi, gst_sample_get_caps(s)) &&
        gst_video_frame_map(&f, &vi, gst_sample_get_buffer(s), GST_MAP_READ)) {
      const auto code = read_time(static_cast<const guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&f, 0)),
                                  GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0), width);
      if (!code) ++unreadable;
      // A repeated picture (the mixer's output rate over a late input) is counted once; the first
      // second is the join (the relay hands the viewer its cached group: older frames, at once).
      else if (code != last && guint32(now - *code) < 60000 && ++decoded > fps) ms.push_back(double(guint32(now - *code)));
      if (code) last = code;
      gst_video_frame_unmap(&f);
    }
    gst_sample_unref(s);
  }
  gst_object_unref(out);
  for (GstElement* p : {rcv, snd, studio, relay})
    if (p) {
      gst_element_set_state(p, GST_STATE_NULL);
      gst_object_unref(p);
    }
  if (ms.empty()) {
    std::fprintf(stderr, "moq-latency: no frame came back with a readable capture time (%d unreadable)\n", unreadable);
    return 1;
  }
  report("via=" + path + " scheme=" + sch + " " + std::to_string(width) + "x" + std::to_string(height) + "@" +
             std::to_string(fps) + " (ms resolution, after the first second; " + std::to_string(unreadable) + " unreadable)", ms);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  gint frames = 300, fps = 30, width = 1280, height = 720;
  gchar* scheme = nullptr;
  gchar* via = nullptr;
  GOptionEntry entries[] = {
      {"via", 0, 0, G_OPTION_ARG_STRING, &via, "direct (default: moqsink listener -> moqsrc), relay or studio (a return feed, see the source)", "PATH"},
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
  const std::string path = via ? via : "direct";
  if (frames <= 0 || fps <= 0 || (sch != "moqt" && sch != "https") ||
      (path != "direct" && path != "relay" && path != "studio")) {
    std::fprintf(stderr, "moq-latency: --frames and --fps must be positive, --scheme moqt or https, --via direct, relay or studio\n");
    return 2;
  }
  if (path != "direct") return return_feed(path, sch, frames, fps, width, height);

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
