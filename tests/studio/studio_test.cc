// The studio core (examples/studio/studio.sh, run as is): one process hosts moqrelay, taps two
// contributions, mixes them side by side and publishes the program into the same relay. Two
// contributors publish to it over the network (moqsink callers):
//   A: SMPTE bars + silence;
//   B: a green picture that turns white for one frame at every whole second, with a 1 kHz tick
//      starting at the same instant (appsrc: both stamped from one clock, so they are in sync at
//      the source by construction).
// A moqsrc viewer of the program checks that both are visible (bars on the left, green on the
// right) and that the program keeps them in sync: each tick's onset lies within one frame (33 ms)
// of the display interval of the program frame showing its flash.
#include <gst/app/app.h>
#include <gst/video/video.h>

#include <algorithm>
#include <memory>
#include <filesystem>
#include <atomic>
#include <cmath>
#include <cstring>
#include <regex>

#include "../gst/gst_test_util.h"

namespace {

using namespace moqtest;

constexpr int kW = 640, kH = 360, kFps = 30, kRate = 48000;

// studio.sh in its own process group (Child), its output (gst-launch -m) in a file.
struct Studio {
  std::string dir;
  std::unique_ptr<Child> proc;
  guint port = 0;
  std::string sha256;
  Studio() {
    gchar* d = g_dir_make_tmp("moq-studio-XXXXXX", nullptr);
    dir = d;
    g_free(d);
    const char* script = g_getenv("STUDIO_SH");
    EXPECT_TRUE(script) << "STUDIO_SH: examples/studio/studio.sh";
    if (!script) return;
    proc = std::make_unique<Child>(std::vector<std::string>{"bash", script}, dir + "/studio.log",
                                   std::vector<std::string>{"ADDR=127.0.0.1", "PORT=0", "HTTP_PORT=-1"});
    // The relay's "listening" message: its port and certificate hash.
    const std::regex re(R"re(listening, detail=\(string\)"127\.0\.0\.1:(\d+)\\ sha256\\=([0-9a-f]{64}))re");
    for (int i = 0; i < 100 && proc->pid && port == 0; ++i) {
      std::this_thread::sleep_for(100ms);
      std::smatch m;
      const std::string out = log();
      if (std::regex_search(out, m, re)) {
        port = guint(std::stoul(m[1]));
        sha256 = m[2];
      }
    }
    EXPECT_GT(port, 0u) << "studio.sh did not start its relay:\n" << log();
  }
  std::string log() const { return proc ? proc->output() : ""; }
  std::string uri(const std::string& ns) const {
    return "moqt://127.0.0.1:" + std::to_string(port) + "/" + ns + "?tls-pin=" + sha256;
  }
  ~Studio() {
    if (proc) proc->stop();
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
  }
};

// Contributor B: frames and audio generated here, stamped from the pipeline clock.
struct FlashContributor {
  Pipeline p;
  std::atomic<bool> stop{false};
  std::thread pusher;
  explicit FlashContributor(const std::string& uri)
      : p("appsrc name=v is-live=true format=time do-timestamp=false caps=video/x-raw,format=I420,width=" +
          std::to_string(kW) + ",height=" + std::to_string(kH) + ",framerate=30/1 ! queue ! x264enc tune=zerolatency "
          "speed-preset=ultrafast key-int-max=30 ! video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s "
          "uri=\"" + uri + "\" appsrc name=a is-live=true format=time do-timestamp=false "
          "caps=audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2 ! queue ! audioconvert ! opusenc ! s.") {
    if (!p.p) return;
    pusher = std::thread([this] { run(); });
  }
  ~FlashContributor() {
    stop = true;
    if (pusher.joinable()) pusher.join();
  }
  void run() {
    GstElement* v = gst_bin_get_by_name(GST_BIN(p.p), "v");
    GstElement* a = gst_bin_get_by_name(GST_BIN(p.p), "a");
    GstClock* clock = nullptr;
    for (int i = 0; i < 100 && !(clock = gst_pipeline_get_clock(GST_PIPELINE(p.p))); ++i) std::this_thread::sleep_for(10ms);
    const GstClockTime base = gst_element_get_base_time(p.p);
    auto running = [&] { return gst_clock_get_time(clock) - base; };
    // Second boundaries of the content are T0 + k s: the flash frame and the tick's first sample.
    const GstClockTime t0 = GST_SECOND * (running() / GST_SECOND + 1);
    guint64 frame = 0, chunk = 0;
    const guint64 chunk_samples = kRate / 50;  // 20 ms
    while (!stop) {
      const GstClockTime vt = t0 + gst_util_uint64_scale(frame, GST_SECOND, kFps);
      const GstClockTime at = t0 + gst_util_uint64_scale(chunk * chunk_samples, GST_SECOND, kRate);
      const GstClockTime next = std::min(vt, at);
      const GstClockTime now = running();
      if (next > now) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<GstClockTime>(next - now, 5 * GST_MSECOND)));
        continue;
      }
      if (vt <= at) {
        const bool flash = frame % kFps == 0;
        GstBuffer* b = gst_buffer_new_allocate(nullptr, kW * kH * 3 / 2, nullptr);
        GstMapInfo m;
        gst_buffer_map(b, &m, GST_MAP_WRITE);
        // I420 green (limited range: Y 145, U 54, V 34) or white (235, 128, 128).
        std::memset(m.data, flash ? 235 : 145, kW * kH);
        std::memset(m.data + kW * kH, flash ? 128 : 54, kW * kH / 4);
        std::memset(m.data + kW * kH * 5 / 4, flash ? 128 : 34, kW * kH / 4);
        gst_buffer_unmap(b, &m);
        GST_BUFFER_PTS(b) = vt;
        GST_BUFFER_DURATION(b) = GST_SECOND / kFps;
        gst_app_src_push_buffer(GST_APP_SRC(v), b);
        ++frame;
      } else {
        GstBuffer* b = gst_buffer_new_allocate(nullptr, chunk_samples * 4, nullptr);
        GstMapInfo m;
        gst_buffer_map(b, &m, GST_MAP_WRITE);
        auto* s = reinterpret_cast<gint16*>(m.data);
        for (guint64 i = 0; i < chunk_samples; ++i) {
          const guint64 n = chunk * chunk_samples + i;  // sample index from T0
          const guint64 in_second = n % kRate;
          const double x = in_second < kRate * 30 / 1000 ? 16000 * std::sin(2 * M_PI * 1000.0 * in_second / kRate) : 0;
          s[2 * i] = s[2 * i + 1] = gint16(x);
        }
        gst_buffer_unmap(b, &m);
        GST_BUFFER_PTS(b) = at;
        GST_BUFFER_DURATION(b) = gst_util_uint64_scale(chunk_samples, GST_SECOND, kRate);
        gst_app_src_push_buffer(GST_APP_SRC(a), b);
        ++chunk;
      }
    }
    gst_object_unref(clock);
    gst_object_unref(v);
    gst_object_unref(a);
  }
};

std::string contributor_a(const std::string& uri) {
  return "videotestsrc is-live=true pattern=smpte ! video/x-raw,width=" + std::to_string(kW) + ",height=" +
         std::to_string(kH) + ",framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
         "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=\"" + uri + "\" "
         "audiotestsrc is-live=true wave=silence ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! opusenc ! s.";
}

double mean(const guint8* p, int stride, int x0, int x1, int y0, int y1) {
  double sum = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) sum += p[y * stride + x];
  return sum / ((x1 - x0) * (y1 - y0));
}

}  // namespace

TEST(Studio, ProgramShowsBothContributionsWithAudioAndVideoInSync) {
  if (!g_getenv("STUDIO_SH")) GTEST_SKIP() << "STUDIO_SH unset";
  Studio studio;
  ASSERT_GT(studio.port, 0u);
  Pipeline a(contributor_a(studio.uri("contrib/a")));
  FlashContributor b(studio.uri("contrib/b"));
  std::this_thread::sleep_for(3s);  // both tapped and mixed
  const char* what = g_getenv("STUDIO_VIEW");  // debugging: watch one contribution instead
  const bool program = !what;
  Pipeline view("moqsrc name=r uri=\"" + studio.uri(what ? what : "studio/program") + "\" "
                "r.src_video ! queue ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 ! "
                "appsink name=v sync=false max-buffers=1000 "
                "r.src_audio ! queue ! opusdec ! audioconvert ! audio/x-raw,format=S16LE,channels=2 ! "
                "appsink name=au sync=false max-buffers=5000");
  ASSERT_TRUE(view.p);
  GstElement* vs = gst_bin_get_by_name(GST_BIN(view.p), "v");
  GstElement* as = gst_bin_get_by_name(GST_BIN(view.p), "au");
  std::vector<GstClockTime> flashes, ticks;
  int frames = 0, bars_seen = 0, green_seen = 0, width = 0, height = 0;
  bool was_white = false, quiet = false;
  guint64 quiet_run = 0;
  std::string err;
  const auto end = Clock::now() + 10s;
  while (Clock::now() < end && err.empty()) {
    if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(vs), 5 * GST_MSECOND)) {
      const GstStructure* st = gst_caps_get_structure(gst_sample_get_caps(s), 0);
      gst_structure_get_int(st, "width", &width);
      gst_structure_get_int(st, "height", &height);
      GstBuffer* buf = gst_sample_get_buffer(s);
      GstVideoMeta* meta = gst_buffer_get_video_meta(buf);
      const int stride = meta ? meta->stride[0] : GST_ROUND_UP_4(width);
      GstMapInfo m;
      if (width == (program ? 2 * kW : kW) && height == kH && gst_buffer_map(buf, &m, GST_MAP_READ)) {
        ++frames;
        // Left: the bars differ from one another (white, yellow, cyan ... across the top).
        const double bar0 = mean(m.data, stride, 20, 60, 40, 120), bar6 = mean(m.data, stride, 580, 620, 40, 120);
        if (bar0 - bar6 > 60) ++bars_seen;
        // Right: green, or white on a flash.
        const double right = program ? mean(m.data, stride, kW + 40, 2 * kW - 40, 40, kH - 40) : mean(m.data, stride, 40, kW - 40, 40, kH - 40);
        if (std::abs(right - 145) < 20) ++green_seen;
        const bool white = right > 200;
        if (white && !was_white) flashes.push_back(GST_BUFFER_PTS(buf));
        was_white = white;
        gst_buffer_unmap(buf, &m);
      }
      gst_sample_unref(s);
    }
    if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(as), 5 * GST_MSECOND)) {
      GstBuffer* buf = gst_sample_get_buffer(s);
      GstMapInfo m;
      if (GST_BUFFER_PTS_IS_VALID(buf) && gst_buffer_map(buf, &m, GST_MAP_READ)) {
        const auto* x = reinterpret_cast<const gint16*>(m.data);
        const size_t n = m.size / 4;
        for (size_t i = 0; i < n; ++i) {
          const bool loud = std::abs(int(x[2 * i])) > 4000;
          if (loud && quiet) ticks.push_back(GST_BUFFER_PTS(buf) + gst_util_uint64_scale(i, GST_SECOND, kRate));
          quiet_run = loud ? 0 : quiet_run + 1;
          quiet = quiet_run > kRate / 10;  // 100 ms of silence before an onset
        }
        gst_buffer_unmap(buf, &m);
      }
      gst_sample_unref(s);
    }
    err = view.bus_error();
  }
  gst_object_unref(vs);
  gst_object_unref(as);
  EXPECT_EQ(err, "");
  EXPECT_EQ(width, 2 * kW);
  EXPECT_EQ(height, kH);
  // Pair each flash with the nearest tick.
  std::vector<double> skew_ms;
  for (GstClockTime f : flashes) {
    double best = 1e9;
    for (GstClockTime t : ticks) {
      const double d = (double(t) - double(f)) / 1e6;
      if (std::abs(d) < std::abs(best)) best = d;
    }
    if (std::abs(best) < 500) skew_ms.push_back(best);
  }
  std::string list;
  for (double d : skew_ms) list += " " + std::to_string(int(std::lround(d)));
  std::printf("program: %d frames %dx%d in 10 s, bars on the left in %d, green on the right in %d, %zu flashes, %zu ticks, "
              "tick - flash (ms):%s\n", frames, width, height, bars_seen, green_seen, flashes.size(), ticks.size(), list.c_str());
  EXPECT_GE(frames, 150) << "the program plays";
  EXPECT_GE(bars_seen, frames * 9 / 10) << "contribution A (bars) is visible on the left";
  EXPECT_GE(green_seen, frames * 8 / 10) << "contribution B (green) is visible on the right";
  EXPECT_GE(skew_ms.size(), 6u) << "flashes paired with ticks";
  // The program is a new 30 fps timeline: the compositor shows the flash in the output frame whose
  // display interval [PTS, PTS + 33 ms) holds it, so a tick anywhere in that interval is as in sync
  // as the program can be. The error is the tick's distance from that interval.
  const double frame_ms = 1000.0 / kFps;
  double worst = 0;
  for (double d : skew_ms) worst = std::max(worst, d < 0 ? -d : std::max(0.0, d - frame_ms));
  std::printf("A/V sync error (tick outside its flash frame's interval): worst %.1f ms\n", worst);
  EXPECT_LE(worst, frame_ms) << "A/V in sync within one frame";
  if (HasFailure()) std::printf("studio log (tail):\n%s\n", studio.log().substr(studio.log().size() > 3000 ? studio.log().size() - 3000 : 0).c_str());
}

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
