// The GStreamer elements on a relay cluster: three moqt-relay processes on 127.0.0.11, .12 and .13
// (distinct loopback addresses, as distinct hosts) sharing one redis-server started for the test.
// An x264 + Opus moqsink publishing on relay A is decoded by moqsrc viewers on B and C, and A
// carries one subscription per track for each of B and C whatever their viewers (read from A's
// Prometheus metrics). Then A is SIGKILLed mid-stream: the publisher (fallback-uris) moves to B,
// the viewers on C keep their sessions and decode again; the longest gap is measured and printed.
#include <arpa/inet.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../common/free_port.h"
#include "../common/redis_server.h"
#include "gst_test_util.h"

namespace {

using namespace moqtest;
using moqt::test::RedisServer;
using moqt::test::free_udp_port;

// One moqt-relay process of the cluster.
struct Relay {
  std::string id, ip;
  uint16_t port = 0, metrics_port = 0;
  GPid pid = 0;
  Relay(const std::string& node, const std::string& addr, const std::string& redis) : id(node), ip(addr) {
    port = free_udp_port(ip);
    std::string line;
    pid = spawn_relay({"--listen", ip + ":" + std::to_string(port), "--loops", "1", "--drain-ms", "300",
                       "--idle-timeout-ms", "2000", "--metrics", "127.0.0.1:0", "--cluster", redis, "--node-id", id,
                       "--advertise", url("moqt", ""), "--cluster-insecure", "--cluster-ttl-ms", "1000"},
                      &line);
    metrics_port = uint16_t(std::atoi(json_field(line, "metrics_port").c_str()));
    EXPECT_GT(metrics_port, 0) << "moqt-relay " << id << " did not start: " << line;
  }
  ~Relay() { stop(SIGTERM); }
  void stop(int sig) { stop_child(pid, sig); }
  std::string url(const char* scheme, const std::string& path) const {
    return std::string(scheme) + "://" + ip + ":" + std::to_string(port) + "/" + path;
  }
  // A value from its Prometheus metrics (-1 if it cannot be read).
  long metric(const std::string& name) const {
    GSocketClient* client = g_socket_client_new();
    GSocketConnection* conn = g_socket_client_connect_to_host(client, "127.0.0.1", metrics_port, nullptr, nullptr);
    g_object_unref(client);
    if (!conn) return -1;
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    GOutputStream* os = g_io_stream_get_output_stream(G_IO_STREAM(conn));
    g_output_stream_write_all(os, req.data(), req.size(), nullptr, nullptr, nullptr);
    GInputStream* is = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    std::string body;
    char buf[4096];
    gssize n;
    while ((n = g_input_stream_read(is, buf, sizeof buf, nullptr, nullptr)) > 0) body.append(buf, size_t(n));
    g_object_unref(conn);
    const size_t at = body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::atol(body.c_str() + at + name.size() + 2);
  }
};

// Decoded video frames of one viewer with their arrival times (appsink callback thread).
struct Frames {
  std::mutex mu;
  std::vector<Clock::time_point> at;
  size_t count() {
    std::lock_guard<std::mutex> l(mu);
    return at.size();
  }
  static GstFlowReturn on_sample(GstAppSink* sink, gpointer self) {
    GstSample* s = gst_app_sink_pull_sample(sink);
    if (s) gst_sample_unref(s);
    auto* f = static_cast<Frames*>(self);
    std::lock_guard<std::mutex> l(f->mu);
    f->at.push_back(Clock::now());
    return GST_FLOW_OK;
  }
  // The longest time without a frame after `from`.
  std::chrono::milliseconds longest_gap_after(Clock::time_point from) {
    std::lock_guard<std::mutex> l(mu);
    Clock::time_point last = from;
    std::chrono::milliseconds gap{0};
    for (auto t : at) {
      if (t < from) continue;
      gap = std::max(gap, std::chrono::duration_cast<std::chrono::milliseconds>(t - last));
      last = t;
    }
    return gap;
  }
};

struct Viewer {
  Frames frames;  // declared first: the pipeline (and its appsink callback) goes before it
  Pipeline pipe;
  explicit Viewer(const std::string& uri)
      : pipe("moqsrc name=r uri=\"" + uri + "\" r.src_video ! queue ! h264parse ! avdec_h264 ! "
               "appsink name=v sync=false emit-signals=false max-buffers=100 drop=true "
               "r.src_audio ! queue ! opusdec ! fakesink sync=false") {
    if (!pipe.p) return;
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe.p), "v");
    GstAppSinkCallbacks cb{};
    cb.new_sample = Frames::on_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &cb, &frames, nullptr);
    gst_object_unref(sink);
  }
  std::string errors() { return pipe.bus_error(); }
};

std::string publisher(const std::string& uri, const std::string& fallbacks) {
  return "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
         "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
         "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=\"" + uri + "\" fallback-uris=\"" +
         fallbacks + "\" audiotestsrc is-live=true ! audioconvert ! opusenc ! s.";
}

struct ClusterTest : ::testing::Test {
  std::unique_ptr<RedisServer> redis;
  std::deque<Relay> relays;
  void SetUp() override {
    if (!g_getenv("MOQT_RELAY")) GTEST_SKIP() << "moqt-relay not built here (MOQT_RELAY unset)";
    redis = std::make_unique<RedisServer>();
    ASSERT_TRUE(redis->running()) << "redis-server did not start";
    const char* ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; ++i) relays.emplace_back(ids[i], "127.0.0." + std::to_string(11 + i), redis->url());
    for (Relay& r : relays) ASSERT_GT(r.metrics_port, 0);
    for (Relay& r : relays) {
      const auto end = Clock::now() + 10s;
      while (r.metric("moqt_relay_cluster_connected") != 1 && Clock::now() < end) std::this_thread::sleep_for(50ms);
      ASSERT_EQ(r.metric("moqt_relay_cluster_connected"), 1) << r.id << " did not join the cluster";
    }
  }
  Relay& A() { return relays[0]; }
  Relay& B() { return relays[1]; }
  Relay& C() { return relays[2]; }
};

TEST_F(ClusterTest, PublishedOnOneRelayDecodedOnTheOthersOneSubscriptionPerTrackEach) {
  Pipeline pub(publisher(A().url("moqt", "live/show?tls-insecure=true&draft=18"), ""));
  std::this_thread::sleep_for(500ms);  // announced on A, then known on B and C through Redis
  std::deque<Viewer> viewers;
  for (int i = 0; i < 2; ++i) viewers.emplace_back(B().url(i ? "https" : "moqt", "live/show?tls-insecure=true"));
  for (int i = 0; i < 2; ++i) viewers.emplace_back(C().url(i ? "moqt" : "https", "live/show?tls-insecure=true&draft=16"));
  const auto end = Clock::now() + 20s;
  auto all = [&] {
    for (auto& v : viewers)
      if (v.frames.count() < 60) return false;
    return true;
  };
  while (!all() && Clock::now() < end) std::this_thread::sleep_for(50ms);
  for (size_t i = 0; i < viewers.size(); ++i)
    EXPECT_GE(viewers[i].frames.count(), 60u) << "viewer " << i << ": " << viewers[i].errors();
  EXPECT_EQ(A().metric("moqt_relay_pushed_tracks"), 6)
      << "catalog, video and audio in both formats (catalog-format=both) pushed to A";
  // The viewers (moqsrc) ask for both catalogs, play the MSF video and audio and end their
  // catalog.json subscriptions (B and C then end theirs on A after their linger).
  long down = 0;
  for (const auto stop = Clock::now() + 10s; Clock::now() < stop && down != 2 * 3; std::this_thread::sleep_for(100ms))
    down = A().metric("moqt_relay_downstream_subscriptions");
  EXPECT_EQ(down, 2 * 3) << "one subscription per track (catalog, video, audio) for B and one for C, whatever "
                            "their viewers";
  EXPECT_EQ(B().metric("moqt_relay_cluster_links"), 1);
  EXPECT_EQ(C().metric("moqt_relay_cluster_links"), 1);
  EXPECT_EQ(pub.bus_error(), "");
  viewers.clear();
}

TEST_F(ClusterTest, OriginRelayKilledPublisherMovesViewersResume) {
  Pipeline pub(publisher(A().url("moqt", "live/show?tls-insecure=true"),
                                     B().url("moqt", "live/show?tls-insecure=true")));
  std::this_thread::sleep_for(500ms);
  Viewer on_c(C().url("moqt", "live/show?tls-insecure=true"));
  Viewer on_c_wt(C().url("https", "live/show?tls-insecure=true&draft=16"));
  auto wait_frames = [&](Viewer& v, size_t n, std::chrono::seconds limit) {
    const auto end = Clock::now() + limit;
    while (v.frames.count() < n && Clock::now() < end) std::this_thread::sleep_for(20ms);
    return v.frames.count() >= n;
  };
  ASSERT_TRUE(wait_frames(on_c, 60, 20s)) << on_c.errors();
  ASSERT_TRUE(wait_frames(on_c_wt, 60, 20s)) << on_c_wt.errors();

  const auto killed = Clock::now();
  A().stop(SIGKILL);
  const size_t before = on_c.frames.count(), before_wt = on_c_wt.frames.count();
  ASSERT_TRUE(wait_frames(on_c, before + 90, 30s)) << "decoding resumed on C: " << on_c.errors();
  ASSERT_TRUE(wait_frames(on_c_wt, before_wt + 90, 30s)) << on_c_wt.errors();
  const auto gap = on_c.frames.longest_gap_after(killed), gap_wt = on_c_wt.frames.longest_gap_after(killed);
  std::printf("failover: relay A SIGKILLed; viewers on C resumed; longest gap %lld ms (raw QUIC viewer), %lld ms "
              "(WebTransport viewer)\n",
              (long long)gap.count(), (long long)gap_wt.count());
  EXPECT_LT(gap, 15s);
  EXPECT_EQ(on_c.errors(), "") << "the viewers kept their sessions";
  EXPECT_EQ(on_c_wt.errors(), "");
  EXPECT_EQ(pub.bus_error(), "") << "the publisher moved to B";
  EXPECT_GE(B().metric("moqt_relay_pushed_tracks"), 2) << "the publisher now pushes to B";
}


// A moqrelay element can be a cluster member too: a studio process hosts it, feeds its own
// program into it in-process (relay=NAME), and viewers on another relay of the cluster watch.
// Bad cluster settings name the property.
TEST_F(ClusterTest, MoqrelayElementIsAClusterMember) {
  const std::string ip = "127.0.0.14";
  const uint16_t port = free_udp_port(ip);
  const std::string hub = "moqrelay name=hub address=" + ip + " port=" + std::to_string(port) +
                          " cluster=" + redis->url() + " node-id=studio advertise=moqt://" + ip + ":" +
                          std::to_string(port) + "/ cluster-insecure=true drain-ms=300 ";
  auto studio = std::make_unique<Pipeline>(hub + "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
                              "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! "
                              "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s "
                              "uri=\"moqt://local/live/studio?relay=hub\" audiotestsrc is-live=true ! audioconvert ! "
                              "opusenc ! s.");
  std::this_thread::sleep_for(700ms);
  Viewer v(C().url("moqt", "live/studio?tls-insecure=true"));
  const auto end = Clock::now() + 20s;
  while (v.frames.count() < 60 && Clock::now() < end) std::this_thread::sleep_for(50ms);
  EXPECT_GE(v.frames.count(), 60u) << v.errors() << studio->bus_error();
  GstElement* r = gst_bin_get_by_name(GST_BIN(studio->p), "hub");
  GstStructure* st = nullptr;
  g_object_get(r, "stats", &st, nullptr);
  gboolean connected = FALSE;
  guint64 down = 0;
  EXPECT_TRUE(st && gst_structure_get_boolean(st, "cluster-connected", &connected) && connected);
  EXPECT_TRUE(st && gst_structure_get_uint64(st, "downstream-subscriptions", &down));
  EXPECT_GE(down, 2u) << "C pulls video and audio from the studio's relay";
  if (st) gst_structure_free(st);
  gst_object_unref(r);
  studio.reset();

  EXPECT_NE(start_failure("moqrelay port=0 cluster=" + redis->url()).find("'advertise'"), std::string::npos);
  EXPECT_NE(start_failure("moqrelay port=0 cluster=ftp://x advertise=moqt://h:1/").find("'cluster'"), std::string::npos);
  EXPECT_NE(start_failure("moqrelay port=0 cluster=" + redis->url() + " node-id=\"bad id\" advertise=moqt://h:1/")
                .find("'node-id'"),
            std::string::npos);
}


// The engine's CLI publisher fails over the same way: moqt-clock publish --connect A --fallback B;
// A is SIGKILLed; a moqt-clock subscriber on C keeps its session and gets the clock again.
TEST_F(ClusterTest, ClockPublisherFailsOverToo) {
  const char* clock = g_getenv("MOQT_CLOCK");
  if (!clock) GTEST_SKIP() << "moqt-clock not built here (MOQT_CLOCK unset)";
  auto spawn = [](std::vector<std::string> args, gint* out) {
    return spawn_child(std::move(args), out, G_SPAWN_STDERR_TO_DEV_NULL);
  };
  GPid pub = spawn({clock, "publish", "--connect", A().url("moqt", "moq"), "--fallback", B().url("moqt", "moq"),
                    "--insecure", "--interval-ms", "100", "--namespace", "clockfo"},
                   nullptr);
  std::this_thread::sleep_for(700ms);
  gint out = -1;
  GPid sub = spawn({clock, "subscribe", "--connect", C().url("moqt", "moq"), "--insecure", "--namespace", "clockfo",
                    "--count", "1000", "--timeout", "60"},
                   &out);
  // Lines as they come, with their arrival times (a reader thread).
  std::mutex mu;
  std::vector<Clock::time_point> lines;
  std::thread reader([&] {
    FILE* f = fdopen(out, "r");
    char buf[256];
    while (f && std::fgets(buf, sizeof buf, f)) {
      std::lock_guard<std::mutex> l(mu);
      lines.push_back(Clock::now());
    }
    if (f) std::fclose(f);
  });
  auto count = [&] {
    std::lock_guard<std::mutex> l(mu);
    return lines.size();
  };
  auto wait_lines = [&](size_t n, std::chrono::seconds limit) {
    const auto end = Clock::now() + limit;
    while (count() < n && Clock::now() < end) std::this_thread::sleep_for(20ms);
    return count() >= n;
  };
  EXPECT_TRUE(wait_lines(10, 15s)) << "the clock reaches C";
  const size_t before = count();
  const auto killed = Clock::now();
  A().stop(SIGKILL);
  EXPECT_TRUE(wait_lines(before + 20, 30s)) << "and again after A died";
  Clock::time_point last = killed;
  std::chrono::milliseconds gap{0};
  {
    std::lock_guard<std::mutex> l(mu);
    for (auto t : lines)
      if (t >= killed) gap = std::max(gap, std::chrono::duration_cast<std::chrono::milliseconds>(t - last)), last = t;
  }
  std::printf("failover (moqt-clock): longest gap on C's subscriber %lld ms\n", (long long)gap.count());
  EXPECT_LT(gap, 15s);
  stop_child(sub, SIGTERM);
  stop_child(pub, SIGTERM);
  reader.join();
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  moqtest::FailureLog::install();
  return RUN_ALL_TESTS();
}
