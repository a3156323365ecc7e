// The GStreamer elements through a relay: x264 + Opus moqsink (caller: PUBLISH) -> the moqt-relay
// daemon (a real process, real sockets on 127.0.0.1) -> moqsrc viewers at other drafts and
// transports, decoding. A viewer joining mid-group decodes at once: the relay hands it the live
// group from object 0 out of its cache, so it does not wait for the next keyframe. Then the
// moqrelay element: network peers and elements of its own process attached with relay=NAME.
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

#include "gst_test_util.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using namespace moqtest;

// Video frames playbin's appsink video-sink hands out (up to `want`, 20 s at most).
int playbin_frames(Pipeline& play, int want, std::string* err) {
  GstElement* sink = nullptr;
  g_object_get(play.p, "video-sink", &sink, nullptr);
  EXPECT_TRUE(sink);
  if (!sink) return 0;
  int frames = 0;
  const auto end = Clock::now() + 20s;
  while (frames < want && Clock::now() < end && (*err = play.bus_error()).empty())
    if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 50 * GST_MSECOND)) ++frames, gst_sample_unref(s);
  gst_object_unref(sink);
  if (frames < want) *err += " [" + moq_report(play.p) + "]";
  return frames;
}

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
  if (!g_getenv("MOQT_RELAY")) GTEST_SKIP() << "moqt-relay not built here (MOQT_RELAY unset)";
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
  if (!g_getenv("MOQT_RELAY")) GTEST_SKIP() << "moqt-relay not built here (MOQT_RELAY unset)";
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

// --- the moqrelay element -----------------------------------------------------------------------

// A pipeline holding one moqrelay called `name` on 127.0.0.1, any port.
struct RelayElement : Pipeline {
  guint port = 0;
  std::string sha256;
  explicit RelayElement(const std::string& name, const std::string& extra = "")
      : Pipeline("moqrelay name=" + name + " address=127.0.0.1 port=0 drain-ms=300 " + extra), name_(name) {
    if (!p) return;
    GstElement* r = element();
    gchar* hash = nullptr;
    g_object_get(r, "port", &port, "cert-sha256", &hash, nullptr);
    sha256 = hash ? hash : "";
    g_free(hash);
    gst_object_unref(r);
    EXPECT_GT(port, 0u);
    EXPECT_EQ(sha256.size(), 64u);
  }
  std::string url(const char* scheme, const std::string& query) const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/live/cam?" + query;
  }
  std::string name_;
  GstElement* element() { return gst_bin_get_by_name(GST_BIN(p), name_.c_str()); }
  GstStructure* stats() {
    GstElement* r = element();
    GstStructure* st = nullptr;
    g_object_get(r, "stats", &st, nullptr);
    gst_object_unref(r);
    return st;
  }
  // The "moq-relay" element messages so far, as "event detail" lines.
  std::vector<std::string> events() {
    std::vector<std::string> out;
    GstBus* bus = gst_element_get_bus(p);
    while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
      const GstStructure* st = gst_message_get_structure(m);
      if (st && gst_structure_has_name(st, "moq-relay"))
        out.push_back(std::string(gst_structure_get_string(st, "event")) + " " + gst_structure_get_string(st, "detail"));
      gst_message_unref(m);
    }
    gst_object_unref(bus);
    return out;
  }
};

guint64 field(const GstStructure* st, const char* name) {
  guint64 v = 0;
  EXPECT_TRUE(st && gst_structure_get_uint64(st, name, &v)) << name;
  return v;
}

size_t count_prefix(const std::vector<std::string>& lines, const std::string& prefix) {
  size_t n = 0;
  for (auto& l : lines) n += l.rfind(prefix, 0) == 0;
  return n;
}

// One process hosts the relay (two loops), feeds its own program into it (moqsink relay=hub: no
// socket) and taps it (moqsrc relay=hub); viewers at drafts 14 (WebTransport) and 18 (raw QUIC)
// watch the same tracks over the network. The relay posts sessions and namespaces on the bus.
TEST(RelayElement, ServesAttachedElementsAndNetworkViewersInOneProcess) {
  RelayElement hub("hub", "loops=2");  // network viewers may land on either loop
  ASSERT_GT(hub.port, 0u);
  Pipeline pub(publisher("moqt://local/live/cam?relay=hub", 30));
  Pipeline tap(viewer("moqt://local/live/cam?relay=hub"));
  Pipeline v14(viewer(hub.url("https", "tls-pin=" + hub.sha256 + "&draft=14")));
  Pipeline v18(viewer(hub.url("moqt", "tls-pin=" + hub.sha256 + "&draft=18")));
  for (Pipeline* v : {&tap, &v14, &v18}) {
    std::string err;
    EXPECT_GE(v->pull("v", 60, 20s, &err), 60) << err;
    EXPECT_GE(v->pull("a", 100, 10s, &err), 100) << err;
    EXPECT_EQ(err, "");
  }
  EXPECT_EQ(pub.bus_error(), "");
  GstStructure* st = hub.stats();
  EXPECT_EQ(field(st, "sessions"), 2u) << "the attached elements are not sessions";
  EXPECT_GE(field(st, "pushed-tracks"), 3u) << "video, audio and the catalog, published in-process";
  EXPECT_EQ(field(st, "upstream-subscriptions"), 0u);
  EXPECT_GE(field(st, "downstream-subscriptions"), 7u) << "2 network viewers x 3 tracks + the tap's 2";
  EXPECT_GT(field(st, "bytes-out"), 100000u);
  if (st) gst_structure_free(st);
  const auto ev = hub.events();
  std::string all;
  for (auto& e : ev) all += e + "\n";
  EXPECT_EQ(count_prefix(ev, "namespace-published live-cam"), 1u) << all;
  EXPECT_EQ(count_prefix(ev, "session-opened draft-14 over WebTransport"), 1u);
  EXPECT_EQ(count_prefix(ev, "session-opened draft-18 over raw QUIC"), 1u);
}

// A contributor publishes over the network (draft 16, WebTransport); the application taps the
// track in-process (the relay subscribes upstream once) and also plays it with playbin.
TEST(RelayElement, NetworkPublisherTappedInProcessAndPlayedByPlaybin) {
  RelayElement hub("studio");
  ASSERT_GT(hub.port, 0u);
  Pipeline pub(publisher(hub.url("https", "tls-pin=" + hub.sha256 + "&draft=16"), 30));
  std::this_thread::sleep_for(500ms);
  Pipeline tap(viewer("moqt://local/live/cam?relay=studio"));
  std::string err;
  EXPECT_GE(tap.pull("v", 60, 20s, &err), 60) << err;
  EXPECT_EQ(err, "");
  Pipeline play("playbin uri=\"moqt://local/live/cam?relay=studio\" video-sink=\"appsink name=pv sync=false "
                "max-buffers=2000\" audio-sink=fakesink");
  EXPECT_GE(playbin_frames(play, 30, &err), 30) << "playbin through the in-process relay: " << err;
  EXPECT_EQ(pub.bus_error(), "");
}

// playbin plays a moqt:// URI served by the moqt-relay daemon.
TEST(RelayDaemon, PlaybinPlaysAMoqtUriThroughTheRelay) {
  if (!g_getenv("MOQT_RELAY")) GTEST_SKIP() << "moqt-relay not built here (MOQT_RELAY unset)";
  RelayProcess relay;
  ASSERT_GT(relay.port, 0u);
  Pipeline pub(publisher(relay.url("moqt", "tls-insecure=true"), 30));
  std::this_thread::sleep_for(500ms);
  Pipeline play("playbin uri=\"" + relay.url("moqt", "tls-pin=" + relay.sha256) +
                "\" video-sink=\"appsink name=pv sync=false max-buffers=2000\" audio-sink=fakesink");
  std::string err;
  EXPECT_GE(playbin_frames(play, 30, &err), 30) << err;
}

// A viewer started before its publisher: the relay refuses the catalogs at once (nothing announced
// yet, no hold), moqsrc asks again every 500 ms within its catalog-timeout and plays once the
// publisher arrives.
TEST(RelayDaemon, ViewerStartedBeforeThePublisherPlaysOnceItArrives) {
  if (!g_getenv("MOQT_RELAY")) GTEST_SKIP() << "moqt-relay not built here (MOQT_RELAY unset)";
  RelayProcess relay;
  ASSERT_GT(relay.port, 0u);
  Pipeline view(viewer(relay.url("moqt", "tls-pin=" + relay.sha256)));
  std::this_thread::sleep_for(1000ms);
  Pipeline pub(publisher(relay.url("moqt", "tls-insecure=true"), 30));
  std::string err;
  EXPECT_GE(view.pull("v", 30, 15s, &err), 30) << err;
  EXPECT_GE(view.pull("a", 50, 10s, &err), 50) << err;
  EXPECT_EQ(err, "");
}

// moqsink -> moqt-relay (the origin side) -> a chained moqrelay element (upstream=) -> viewers on
// the element: one attached in-process, one over the network.
TEST(RelayDaemon, ChainedRelayElementServesTheDaemonsTracks) {
  if (!g_getenv("MOQT_RELAY")) GTEST_SKIP() << "moqt-relay not built here (MOQT_RELAY unset)";
  RelayProcess origin;
  ASSERT_GT(origin.port, 0u);
  Pipeline pub(publisher(origin.url("moqt", "tls-insecure=true&draft=18"), 30));
  RelayElement edge("edge", "upstream=https://127.0.0.1:" + std::to_string(origin.port) +
                                "/moq upstream-pin=" + origin.sha256);
  ASSERT_GT(edge.port, 0u);
  std::this_thread::sleep_for(500ms);
  Pipeline tap(viewer("moqt://local/live/cam?relay=edge"));
  Pipeline net(viewer(edge.url("moqt", "tls-pin=" + edge.sha256 + "&draft=16")));
  for (Pipeline* v : {&tap, &net}) {
    std::string err;
    EXPECT_GE(v->pull("v", 60, 20s, &err), 60) << err;
    EXPECT_GE(v->pull("a", 100, 10s, &err), 100) << err;
    EXPECT_EQ(err, "");
  }
  GstStructure* st = edge.stats();
  gboolean up = FALSE;
  EXPECT_TRUE(st && gst_structure_get_boolean(st, "upstream-connected", &up) && up);
  if (st) gst_structure_free(st);
  // moqsrc asks for both catalogs (MSF's and hang's), plays the MSF tracks and ends its
  // catalog.json subscription; the edge then drops that one upstream after its linger.
  guint64 upstream = 0;
  for (const auto end = Clock::now() + 10s; Clock::now() < end; std::this_thread::sleep_for(100ms)) {
    st = edge.stats();
    upstream = field(st, "upstream-subscriptions");
    if (st) gst_structure_free(st);
    if (upstream == 3) break;
  }
  EXPECT_EQ(upstream, 3u) << "catalog, video, audio: once each for both viewers, catalog.json no more";
}

// Bad settings fail the state change with an error naming the property.
// GET over HTTPS with curl (the relay's self-signed certificate accepted); "" on failure.
std::string https_get(const std::string& url) {
  gchar* out = nullptr;
  gint status = 0;
  const std::string cmd = "curl -sk --max-time 10 " + url;
  if (!g_spawn_command_line_sync(cmd.c_str(), &out, nullptr, &status, nullptr)) return "";
  std::string body = out ? out : "";
  g_free(out);
  return status == 0 ? body : "";
}

// moqrelay http-port: the watch page lists what an attached moqsink publishes, and only while it
// does (the page's player itself is tested in Chromium: tests/browser/relay_page.mjs).
TEST(RelayElement, WatchPageListsAnAttachedPublisher) {
  if (!g_find_program_in_path("curl")) GTEST_SKIP() << "no curl";
  RelayElement web("web", "http-port=0");
  ASSERT_GT(web.port, 0u);
  GstElement* r = web.element();
  gint http_port = 0;
  g_object_get(r, "http-port", &http_port, nullptr);
  gst_object_unref(r);
  ASSERT_GT(http_port, 0) << "http-port reads back the bound port";
  const std::string base = "https://127.0.0.1:" + std::to_string(http_port);
  const std::string cfg = https_get(base + "/api/config");
  EXPECT_NE(cfg.find("\"port\":" + std::to_string(web.port)), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("\"sha256\":\"" + web.sha256 + "\""), std::string::npos) << cfg;
  EXPECT_NE(https_get(base + "/").find("watch.js"), std::string::npos);
  EXPECT_EQ(https_get(base + "/api/broadcasts"), "{\"version\":1,\"broadcasts\":[]}");
  std::string listed;
  {
    Pipeline pub(publisher("moqt://local/studio/program?relay=web", 30));
    for (int i = 0; i < 50 && listed.find("studio/program") == std::string::npos; ++i) {
      std::this_thread::sleep_for(100ms);
      listed = https_get(base + "/api/broadcasts");
    }
    EXPECT_NE(listed.find("{\"name\":\"studio/program\"}"), std::string::npos) << listed;
  }
  // Gone with its publisher: a long poll on the listed version is answered by the change.
  const auto t0 = Clock::now();
  const std::string after = https_get(base + "/api/broadcasts?since=2");
  EXPECT_EQ(after, "{\"version\":3,\"broadcasts\":[]}") << "listed: " << listed;
  EXPECT_LT(Clock::now() - t0, 7s) << "answered by the change, not the 8 s long-poll timeout";
}

TEST(RelayElement, BadSettingsNameTheProperty) {
  EXPECT_NE(start_failure("moqrelay cert-file=/nonexistent.pem").find("key-file"), std::string::npos);
  EXPECT_NE(start_failure("moqrelay cert-file=/nonexistent.pem key-file=/nonexistent.key").find("cert-file"),
            std::string::npos);
  EXPECT_NE(start_failure("moqrelay draft=15").find("draft"), std::string::npos);
  EXPECT_NE(start_failure("moqrelay upstream=ftp://x/y").find("upstream"), std::string::npos);
  EXPECT_NE(start_failure("moqrelay jwt-key-file=/nonexistent.key").find("jwt-key-file"), std::string::npos);
  EXPECT_NE(start_failure("moqrelay jwt-alg=RS512").find("jwt-alg"), std::string::npos);
  EXPECT_NE(start_failure("videotestsrc ! x264enc ! moqsink uri=moqt://local/live/cam?relay=nobody").find("'relay'"),
            std::string::npos);
  RelayElement taken("taken");
  ASSERT_GT(taken.port, 0u);
  EXPECT_NE(start_failure("moqrelay address=127.0.0.1 port=" + std::to_string(taken.port)).find("'port'"),
            std::string::npos);
  RelayElement page("page", "http-port=0");
  gint http_port = 0;
  GstElement* pe = page.element();
  g_object_get(pe, "http-port", &http_port, nullptr);
  gst_object_unref(pe);
  EXPECT_NE(start_failure("moqrelay address=127.0.0.1 port=0 http-port=" + std::to_string(http_port)).find("'http-port'"),
            std::string::npos);
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  FailureLog::install();
  return RUN_ALL_TESTS();
}
