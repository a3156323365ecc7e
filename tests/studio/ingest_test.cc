// Studio contribution into MoQ through the gateway (tools/moqt-ingest): a real encoder sends SRT
// (MPEG-TS, H.264 + AAC) to moqt-ingest, which publishes it to a moqt-relay; a moqsrc viewer on
// the relay decodes it. Checked: the `video` and `audio` tracks come with a catalog that gives
// moqsrc its pads and caps, >= 90 % of the frames and audio the viewer's window spans decode, and
// both share one timeline (the viewer's arrival-minus-PTS offsets of audio and video agree).
//   - ffmpeg (Debian's, built with libsrt): testsrc2 + sine, always run;
//   - OBS Studio (Debian's obs-studio) under Xvfb, with a profile and scene collection written
//     here (a colour source, the "Custom" service pointed at srt://), started with
//     --startstreaming. Skipped, with the reason, where OBS is not installed or cannot start.
// Env: MOQT_RELAY, MOQT_INGEST, GST_PLUGIN_PATH; FFMPEG, OBS, XVFB_RUN (the programs, if found).
#include <fcntl.h>
#include <gio/gio.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "../gst/gst_test_util.h"

namespace {

using namespace moqtest;

std::string tmpdir() {
  static std::string d = [] {
    gchar* p = g_dir_make_tmp("moq-ingest-XXXXXX", nullptr);
    std::string s = p ? p : "/tmp";
    g_free(p);
    return s;
  }();
  return d;
}

// A UDP port nobody uses now (the SRT listener binds it right after).
guint free_udp_port() {
  GSocket* s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, nullptr);
  GInetAddress* lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  GSocketAddress* a = g_inet_socket_address_new(lo, 0);
  g_socket_bind(s, a, FALSE, nullptr);
  GSocketAddress* bound = g_socket_get_local_address(s, nullptr);
  const guint port = bound ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)) : 0;
  if (bound) g_object_unref(bound);
  g_object_unref(a);
  g_object_unref(lo);
  g_object_unref(s);
  return port;
}

struct Stream {
  std::vector<GstClockTime> pts;
  std::vector<double> offset_ms;  // arrival (monotonic) - PTS
  int width = 0, height = 0, rate = 0, channels = 0;
  guint64 samples = 0;
};

// Decodes the relay's `live/NAME` for `seconds` (sync=false appsinks) and records what came.
void watch(const RelayProcess& relay, const std::string& name, int seconds, Stream* v, Stream* a, std::string* err) {
  const std::string uri = "moqt://127.0.0.1:" + std::to_string(relay.port) + "/studio/" + name + "?tls-pin=" + relay.sha256;
  Pipeline view("moqsrc name=r uri=\"" + uri + "\" catalog-timeout=10000 "
                "r.src_video ! queue ! h264parse ! avdec_h264 ! appsink name=v sync=false max-buffers=5000 "
                "r.src_audio ! queue ! aacparse ! avdec_aac ! appsink name=a sync=false max-buffers=5000");
  if (!view.p) return;
  GstElement* sinks[2] = {gst_bin_get_by_name(GST_BIN(view.p), "v"), gst_bin_get_by_name(GST_BIN(view.p), "a")};
  Stream* out[2] = {v, a};
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end && err->empty()) {
    for (int i = 0; i < 2; ++i) {
      GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sinks[i]), 5 * GST_MSECOND);
      if (!s) continue;
      GstBuffer* b = gst_sample_get_buffer(s);
      const double now_ms = g_get_monotonic_time() / 1000.0;
      if (GST_BUFFER_PTS_IS_VALID(b)) {
        out[i]->pts.push_back(GST_BUFFER_PTS(b));
        out[i]->offset_ms.push_back(now_ms - GST_BUFFER_PTS(b) / 1e6);
      }
      const GstStructure* st = gst_caps_get_structure(gst_sample_get_caps(s), 0);
      if (i == 0) {
        gst_structure_get_int(st, "width", &v->width);
        gst_structure_get_int(st, "height", &v->height);
      } else {
        gst_structure_get_int(st, "rate", &a->rate);
        gst_structure_get_int(st, "channels", &a->channels);
        GstMapInfo m;
        if (a->channels > 0 && gst_buffer_map(b, &m, GST_MAP_READ)) {
          a->samples += m.size / (4 * guint64(a->channels));  // avdec_aac: F32
          gst_buffer_unmap(b, &m);
        }
      }
      gst_sample_unref(s);
    }
    *err = view.bus_error();
  }
  gst_object_unref(sinks[0]);
  gst_object_unref(sinks[1]);
}

double median(std::vector<double> x) {
  if (x.empty()) return 0;
  std::nth_element(x.begin(), x.begin() + x.size() / 2, x.end());
  return x[x.size() / 2];
}

double span_s(const std::vector<GstClockTime>& p) {
  return p.size() < 2 ? 0 : double(p.back() - p.front()) / GST_SECOND;
}

// The judgement shared by both encoders; prints what it measured.
void judge(const char* who, const Stream& v, const Stream& a, int fps, int width, int height) {
  const double vspan = span_s(v.pts), aspan = span_s(a.pts);
  const double vwant = vspan * fps + 1, awant = aspan * a.rate;
  const double skew = median(v.offset_ms) - median(a.offset_ms);
  std::printf("%s: video %zu frames %dx%d over %.2f s (%.1f %%), audio %llu samples %d Hz x %d over %.2f s (%.1f %%), "
              "A/V offset %.1f ms\n",
              who, v.pts.size(), v.width, v.height, vspan, 100.0 * v.pts.size() / std::max(1.0, vwant),
              (unsigned long long)a.samples, a.rate, a.channels, aspan, 100.0 * a.samples / std::max(1.0, awant), skew);
  EXPECT_GE(vspan, 4.0) << who << ": seconds of video decoded";
  EXPECT_GE(aspan, 4.0) << who << ": seconds of audio decoded";
  EXPECT_GE(v.pts.size(), 0.9 * vwant) << who;
  EXPECT_GE(double(a.samples), 0.9 * awant) << who;
  EXPECT_EQ(v.width, width);
  EXPECT_EQ(v.height, height);
  EXPECT_EQ(a.rate, 48000);
  EXPECT_EQ(a.channels, 2);
  EXPECT_TRUE(std::is_sorted(v.pts.begin(), v.pts.end())) << who << ": video PTS go back";
  // One timeline: a frame and the audio captured with it arrive together (within the audio's and
  // the decoder's buffering; a wrong timeline is off by the offset between the two clocks).
  EXPECT_LT(std::abs(skew), 150.0) << who << ": audio and video PTS are on different timelines";
}

struct Gateway {
  RelayProcess relay;
  guint srt_port = free_udp_port();
  std::unique_ptr<Child> ingest;
  explicit Gateway(const std::string& name) {
    if (relay.port == 0) return;
    ingest = std::make_unique<Child>(
        std::vector<std::string>{g_getenv("MOQT_INGEST"), "srt://:" + std::to_string(srt_port),
                                 "moqt://127.0.0.1:" + std::to_string(relay.port) + "/studio/" + name + "?tls-pin=" +
                                     relay.sha256},
        tmpdir() + "/ingest-" + name + ".log");
    std::this_thread::sleep_for(500ms);  // listening
  }
};

}  // namespace

TEST(Ingest, FfmpegSrtThroughTheGatewayToARelayViewer) {
  const char* ffmpeg = g_getenv("FFMPEG");
  if (!ffmpeg || !*ffmpeg) GTEST_SKIP() << "ffmpeg not installed";
  Gateway gw("ffmpeg");
  ASSERT_TRUE(gw.ingest && gw.ingest->pid);
  Child enc({ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
             "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:v",
             "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
             "-b:a", "128k", "-ac", "2", "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", "srt://127.0.0.1:" + std::to_string(gw.srt_port) + "?mode=caller"},
            tmpdir() + "/ffmpeg.log");
  std::this_thread::sleep_for(1500ms);
  Stream v, a;
  std::string err;
  watch(gw.relay, "ffmpeg", 7, &v, &a, &err);
  EXPECT_EQ(err, "");
  judge("ffmpeg -> SRT -> moqt-ingest -> moqt-relay -> moqsrc", v, a, 30, 640, 360);
  if (HasFailure()) std::printf("ingest log:\n%s\nffmpeg log:\n%s\n", gw.ingest->output().c_str(), enc.output().c_str());
  enc.stop();
  gw.ingest->stop(5000ms);
  const std::string log = gw.ingest->output();
  EXPECT_NE(log.find("(video)"), std::string::npos) << log;
  EXPECT_NE(log.find("(audio)"), std::string::npos) << log;
}

// OBS's own files for a headless run: no first-run wizard, one profile (Simple output: x264 at
// 1500 kbit/s, a keyframe every second, AAC 128 kbit/s; 640x360 at 30 fps), the "Custom" service
// pointed at the gateway, and a scene with one colour source.
void write_obs_config(const std::string& home, guint srt_port) {
  const std::string dir = home + "/.config/obs-studio";
  g_mkdir_with_parents((dir + "/basic/profiles/moq").c_str(), 0755);
  g_mkdir_with_parents((dir + "/basic/scenes").c_str(), 0755);
  std::ofstream(dir + "/global.ini") << "[General]\nFirstRun=true\nEnableAutoUpdates=false\n"
                                        "[Basic]\nProfile=moq\nProfileDir=moq\nSceneCollection=moq\nSceneCollectionFile=moq\n";
  std::ofstream(dir + "/basic/profiles/moq/basic.ini")
      << "[General]\nName=moq\n[Video]\nBaseCX=640\nBaseCY=360\nOutputCX=640\nOutputCY=360\nFPSType=0\nFPSCommon=30\n"
         "[Output]\nMode=Simple\n[SimpleOutput]\nVBitrate=1500\nABitrate=128\nStreamEncoder=x264\nPreset=veryfast\n"
         "UseAdvanced=true\nx264Settings=keyint=30\n[Audio]\nSampleRate=48000\nChannelSetup=Stereo\n";
  std::ofstream(dir + "/basic/profiles/moq/service.json")
      << "{\"type\":\"rtmp_custom\",\"settings\":{\"server\":\"srt://127.0.0.1:" << srt_port
      << "?mode=caller\",\"key\":\"\",\"use_auth\":false}}\n";
  std::ofstream(dir + "/basic/scenes/moq.json")
      << R"({"name":"moq","current_scene":"Scene","current_program_scene":"Scene","scene_order":[{"name":"Scene"}],
"sources":[{"id":"color_source_v3","versioned_id":"color_source_v3","name":"Colour","uuid":"7c0a3c1e-0000-4000-8000-000000000001",
"settings":{"color":4278255360,"width":640,"height":360}},
{"id":"scene","versioned_id":"scene","name":"Scene","uuid":"7c0a3c1e-0000-4000-8000-000000000002",
"settings":{"id_counter":1,"items":[{"name":"Colour","source_uuid":"7c0a3c1e-0000-4000-8000-000000000001","id":1,
"visible":true,"pos":{"x":0,"y":0},"scale":{"x":1,"y":1},"bounds_type":0,"align":5}]}}],
"transitions":[],"current_transition":"Fade","transition_duration":300})"
      << "\n";
}

TEST(Ingest, ObsStudioSrtThroughTheGatewayToARelayViewer) {
  const char* obs = g_getenv("OBS");
  const char* xvfb = g_getenv("XVFB_RUN");
  if (!obs || !*obs || !xvfb || !*xvfb) GTEST_SKIP() << "OBS cannot start here: obs-studio or xvfb-run is not installed";
  Gateway gw("obs");
  ASSERT_TRUE(gw.ingest && gw.ingest->pid);
  const std::string home = tmpdir() + "/obs-home";
  write_obs_config(home, gw.srt_port);
  Child enc({xvfb, "-a", "-s", "-screen 0 1280x720x24", obs, "--startstreaming", "--disable-updater",
             "--disable-shutdown-check", "--profile", "moq", "--collection", "moq"},
            tmpdir() + "/obs.log",
            {"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/.config", "LIBGL_ALWAYS_SOFTWARE=1", "G_DEBUG="});
  // Started when OBS logs "Streaming Start"; gone before that = it could not start here.
  const auto end = Clock::now() + 40s;
  std::string log;
  while (Clock::now() < end && (log = enc.output()).find("==== Streaming Start") == std::string::npos) {
    if (!enc.running()) {
      const auto tail = log.substr(log.size() > 1500 ? log.size() - 1500 : 0);
      GTEST_SKIP() << "OBS cannot start here (it exited before streaming): " << tail;
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_NE(log.find("==== Streaming Start"), std::string::npos) << "OBS runs but did not start streaming in 40 s:\n"
                                                                   << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  EXPECT_NE(log.find("keyint = 30"), std::string::npos) << "the profile's custom x264 settings (1 s groups) are used";
  std::this_thread::sleep_for(2000ms);
  Stream v, a;
  std::string err;
  watch(gw.relay, "obs", 7, &v, &a, &err);
  EXPECT_EQ(err, "");
  judge("OBS Studio -> SRT -> moqt-ingest -> moqt-relay -> moqsrc", v, a, 30, 640, 360);
  if (HasFailure()) std::printf("ingest log:\n%s\nOBS log (tail):\n%s\n", gw.ingest->output().c_str(),
                                log.substr(log.size() > 3000 ? log.size() - 3000 : 0).c_str());
  enc.stop();
  gw.ingest->stop(5000ms);
}

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  if (rc == 0) std::filesystem::remove_all(tmpdir());  // kept for a look when something failed
  return rc;
}
