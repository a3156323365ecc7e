// The GStreamer elements through a relay: x264 + Opus moqsink (caller: PUBLISH) -> the moqt-relay
// daemon (a real process, real sockets on 127.0.0.1) -> moqsrc viewers at other drafts and
// transports, decoding. A viewer joining mid-group decodes at once: the relay hands it the live
// group from object 0 out of its cache, so it does not wait for the next keyframe.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The moqt-relay daemon on 127.0.0.1, port 0; stopped (SIGTERM: drain) when this goes.
struct RelayProcess {
  GPid pid = 0;
  guint port = 0;
  std::string sha256;
  explicit RelayProcess(std::vector<std::string> extra = {}) {
    const char* bin = g_getenv("MOQT_RELAY");
    EXPECT_TRUE(bin) << "MOQT_RELAY: the moqt-relay binary";
    if (!bin) return;
    std::vector<std::string> args = {bin, "--listen", "127.0.0.1:0", "--drain-ms", "500"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    gint out = -1;
    GError* err = nullptr;
    if (!g_spawn_async_with_pipes(nullptr, argv.data(), nullptr, G_SPAWN_DEFAULT, nullptr, nullptr, &pid, nullptr,
                                  &out, nullptr, &err)) {
      ADD_FAILURE() << "spawn moqt-relay: " << err->message;
      g_error_free(err);
      return;
    }
    FILE* f = fdopen(out, "r");
    char line[512] = {};
    if (f && std::fgets(line, sizeof line, f)) {
      const char* p = std::strstr(line, "\"port\":");
      if (p) port = guint(std::atoi(p + 7));
      const char* h = std::strstr(line, "\"sha256\":\"");
      if (h) sha256 = std::string(h + 10, 64);
    }
    if (f) std::fclose(f);
    EXPECT_GT(port, 0u) << "moqt-relay did not print its port: " << line;
  }
  ~RelayProcess() {
    if (!pid) return;
    kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(50ms);
    if (waitpid(pid, &status, WNOHANG) == 0) {
      ADD_FAILURE() << "moqt-relay did not drain and exit within 5 s of SIGTERM";
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "moqt-relay exit status " << status;
    }
    g_spawn_close_pid(pid);
  }
  std::string url(const char* scheme, const std::string& query) const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/live/cam?" + query;
  }
};

struct Pipeline {
  GstElement* p = nullptr;
  explicit Pipeline(const std::string& desc) {
    GError* err = nullptr;
    p = gst_parse_launch(desc.c_str(), &err);
    EXPECT_TRUE(p) << desc << ": " << (err ? err->message : "?");
    if (err) g_error_free(err);
    if (p) {
      EXPECT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    }
  }
  ~Pipeline() {
    if (!p) return;
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
  }
  std::string bus_error() {
    std::string text;
    GstBus* bus = gst_element_get_bus(p);
    while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      gst_message_parse_error(m, &e, &dbg);
      text = std::string(e->message) + " (" + (dbg ? dbg : "") + ")";
      g_error_free(e);
      g_free(dbg);
      gst_message_unref(m);
    }
    gst_object_unref(bus);
    return text;
  }
  // Pulls up to `want` samples from the appsink `name`; stops early on an error.
  int pull(const char* name, int want, std::chrono::seconds limit, std::string* error) {
    GstElement* sink = gst_bin_get_by_name(GST_BIN(p), name);
    EXPECT_TRUE(sink) << name;
    if (!sink) return 0;
    int n = 0;
    const auto end = Clock::now() + limit;
    while (n < want && Clock::now() < end) {
      if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 50 * GST_MSECOND)) {
        ++n;
        gst_sample_unref(s);
      }
      if (std::string e = bus_error(); !e.empty()) {
        *error = e;
        break;
      }
    }
    gst_object_unref(sink);
    return n;
  }
};

std::string publisher(const std::string& uri, int key_int) {
  return "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
         "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=" + std::to_string(key_int) +
         " ! video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=\"" + uri +
         "\" audiotestsrc is-live=true ! audioconvert ! opusenc ! s.";
}

std::string viewer(const std::string& uri) {
  return "moqsrc name=r uri=\"" + uri + "\" "
         "r.src_video ! queue ! h264parse ! avdec_h264 ! appsink name=v sync=false max-buffers=2000 "
         "r.src_audio ! queue ! opusdec ! appsink name=a sync=false max-buffers=2000";
}

// moqsink at draft 14 over raw QUIC pushes to the relay; viewers at 16 over WebTransport and 18
// over raw QUIC decode video and audio through it.
TEST(RelayDaemon, CallerSinkThroughTheRelayToViewersAtOtherDrafts) {
  RelayProcess relay;
  ASSERT_GT(relay.port, 0u);
  Pipeline pub(publisher(relay.url("moqt", "tls-insecure=true&draft=14"), 30));
  std::this_thread::sleep_for(500ms);  // its PUBLISHes reach the relay
  Pipeline v16(viewer(relay.url("https", "tls-insecure=true&draft=16")));
  Pipeline v18(viewer(relay.url("moqt", "tls-pin=" + relay.sha256 + "&draft=18")));
  for (Pipeline* v : {&v16, &v18}) {
    std::string err;
    EXPECT_GE(v->pull("v", 60, 20s, &err), 60) << err;
    EXPECT_GE(v->pull("a", 100, 10s, &err), 100) << err;
    EXPECT_EQ(err, "");
  }
  EXPECT_EQ(pub.bus_error(), "");
}

// Groups of 3 s (a keyframe every 90 frames at 30 fps). Three viewers join 1 s apart, so at least
// one of them joins 2 s before the next keyframe: each decodes its first frame well before that,
// from the live group's object 0 in the relay's cache, then goes on live.
TEST(RelayDaemon, ViewerJoiningMidGroupDecodesFromTheCachedGroupStart) {
  RelayProcess relay;
  ASSERT_GT(relay.port, 0u);
  Pipeline pub(publisher(relay.url("moqt", "tls-insecure=true&draft=16"), 90));
  std::this_thread::sleep_for(1500ms);
  std::vector<double> first_ms(3, -1);
  std::vector<int> frames(3, 0);
  std::vector<std::string> errors(3);
  std::vector<std::thread> joiners;
  const auto start = Clock::now();
  for (int i = 0; i < 3; ++i) {
    joiners.emplace_back([&, i] {
      std::this_thread::sleep_until(start + i * 1000ms);
      const auto t0 = Clock::now();
      Pipeline late(viewer(relay.url(i == 1 ? "https" : "moqt", "tls-insecure=true")));
      if (late.pull("v", 1, 10s, &errors[i]) != 1) return;
      first_ms[i] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      frames[i] = 1 + late.pull("v", 15, 10s, &errors[i]);
    });
  }
  for (auto& t : joiners) t.join();
  for (int i = 0; i < 3; ++i) {
    std::printf("viewer %d (joined at +%d ms): first decoded frame %.0f ms after its pipeline started (groups of "
                "3000 ms)\n", i, 1000 * i, first_ms[i]);
    EXPECT_EQ(errors[i], "");
    ASSERT_GE(first_ms[i], 0) << "viewer " << i << " decoded nothing";
    EXPECT_LT(first_ms[i], 1500) << "viewer " << i << " waited for a keyframe instead of starting at the cached group start";
    EXPECT_GE(frames[i], 16) << "viewer " << i << " goes on live";
  }
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
