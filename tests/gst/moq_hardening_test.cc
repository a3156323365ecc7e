// What third-party peers and embedding applications broke in the elements, one test per item
// (issue 16): status and empty objects never become buffers; a listener survives a peer that
// refuses its SUBSCRIBE; the listener's catalog timeout starts with the first peer; moqsink
// posts EOS; a pad requested while PLAYING is published (and released); oversized datagram
// objects are warned about and counted; properties in use are not changed behind the
// element's back; the static timestamp caps are not reported by the leaks tracer.
// Runs with G_DEBUG=fatal-criticals (meson.build): a CRITICAL fails the test.
#include <gst/app/gstappsink.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../common/waitable.h"
#include "moqt/session/client.h"

namespace {

using namespace moqt;
using namespace moqt::session;
using namespace std::chrono_literals;

GstElement* launch(const std::string& desc) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  EXPECT_TRUE(p) << desc << ": " << (err ? err->message : "?");
  if (err) g_error_free(err);
  return p;
}

struct Pipeline {
  GstElement* p = nullptr;
  explicit Pipeline(const std::string& desc) : p(launch(desc)) {
    if (p && !GST_IS_PIPELINE(p)) {  // a one-element description gives the element itself
      GstElement* pipeline = gst_pipeline_new(nullptr);
      gst_bin_add(GST_BIN(pipeline), p);
      p = pipeline;
    }
  }
  ~Pipeline() {
    if (!p) return;
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
  }
  GstElement* get(const char* name) { return gst_bin_get_by_name(GST_BIN(p), name); }  // transfer full
  guint port(const char* name) {  // the UDP port a listening element got
    GstElement* e = get(name);
    guint port = 0;
    if (e) g_object_get(e, "port", &port, nullptr);
    if (e) gst_object_unref(e);
    return port;
  }
  bool play() { return gst_element_set_state(p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE; }
};

// The texts ("message | debug") of the messages of `type` waiting on a bus.
std::vector<std::string> take_messages(GstBus* bus, GstMessageType type) {
  std::vector<std::string> out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, type)) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    if (type == GST_MESSAGE_ERROR) gst_message_parse_error(m, &e, &dbg);
    else gst_message_parse_warning(m, &e, &dbg);
    out.push_back(std::string(e ? e->message : "") + " | " + (dbg ? dbg : ""));
    if (e) g_error_free(e);
    g_free(dbg);
    gst_message_unref(m);
  }
  return out;
}
std::vector<std::string> take_messages(GstElement* pipeline, GstMessageType type) {
  GstBus* bus = gst_element_get_bus(pipeline);
  auto out = take_messages(bus, type);
  gst_object_unref(bus);
  return out;
}

guint port_of(GstElement* e) {
  guint port = 0;
  g_object_get(e, "port", &port, nullptr);
  return port;
}

uint64_t stat_of(GstElement* e, const char* field) {
  GstStructure* s = nullptr;
  g_object_get(e, "stats", &s, nullptr);
  guint64 v = 0;
  if (s) gst_structure_get_uint64(s, field, &v);
  if (s) gst_structure_free(s);
  return v;
}

// Pulls up to `n` buffers, waiting at most `each` for every one; returns how many came.
int pull_n(GstElement* appsink, int n, GstClockTime each) {
  int got = 0;
  while (got < n)
    if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(appsink), each)) {
      gst_sample_unref(s);
      ++got;
    } else {
      break;
    }
  return got;
}

// An origin on our engine (raw QUIC and WebTransport on one port) with one track the test writes.
class Origin {
 public:
  explicit Origin(FullTrackName name) {
    loop_.start("origin");
    track = std::make_shared<TrackPublisher>(std::move(name), TrackOptions{});
    registry_.add(track);
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 1, &err);
    EXPECT_TRUE(cert) << err;
    ServerConfig sc;
    sc.listen = "127.0.0.1:0";
    sc.cert = *cert;
    loop_.run_sync([&] { server_ = Server::start(loop_, sc, &registry_, nullptr, &err); });
    EXPECT_TRUE(server_) << err;
  }
  ~Origin() {
    loop_.run_sync([&] {
      server_.reset();
      track.reset();
    });
    loop_.stop();
  }
  uint16_t port() const { return server_->address().port(); }
  size_t subscribers() {
    size_t n = 0;
    loop_.run_sync([&] { n = track->subscriber_count(); });
    return n;
  }
  void write(uint64_t group, uint64_t object, size_t bytes, ObjectStatus status = ObjectStatus::kNormal,
             KeyValueList props = {}) {
    loop_.run_sync([&] {
      Object o;
      o.location = {group, object};
      o.status = status;
      o.properties = std::move(props);
      o.payload = quic::SendBuffer::take(std::vector<uint8_t>(bytes, uint8_t(object)));
      EXPECT_TRUE(track->write(std::move(o)));
    });
  }

  std::shared_ptr<TrackPublisher> track;

 private:
  quic::EventLoop loop_;
  TrackRegistry registry_;
  std::unique_ptr<Server> server_;
};

// --- 1. status and empty objects ---------------------------------------------------------------

struct Variant {
  const char* name;
  const char* scheme;
  int draft;
};
// A publisher that ends each group with an END_OF_GROUP object (0 bytes) and the track with
// END_OF_TRACK, with an empty Normal object in between: only the media objects become buffers,
// none is DISCONT, and the pad ends with EOS.
void play_status_objects(const Variant& v) {
  Origin origin(FullTrackName{{"t", "st"}, "data"});
  Pipeline rcv(std::string("moqsrc uri=") + v.scheme + "://127.0.0.1:" + std::to_string(origin.port()) +
               "/t/st?tls-insecure=true&draft=" + std::to_string(v.draft) +
               " track=data caps=application/x-test ! appsink name=out sync=false max-buffers=100");
  ASSERT_TRUE(rcv.p && rcv.play());
  ASSERT_TRUE(test::eventually([&] { return origin.subscribers() == 1; })) << "moqsrc did not subscribe";
  const uint64_t t0 = 1'800'000'000'000'000;  // LOC timestamps (µs): wall-clock caps in use
  auto ts = [&](uint64_t ms) { return KeyValueList{wire::KeyValuePair::integer(0x10, t0 + ms * 1000)}; };
  origin.write(0, 0, 10, ObjectStatus::kNormal, ts(0));
  origin.write(0, 1, 0);  // an empty Normal object
  origin.write(0, 2, 10, ObjectStatus::kNormal, ts(40));
  origin.write(0, 3, 0, ObjectStatus::kEndOfGroup);
  origin.write(1, 0, 10, ObjectStatus::kNormal, ts(80));
  // Media time (Timescale 90 kHz) too, so both reference-timestamp caps exist for the leak check.
  origin.write(1, 1, 10, ObjectStatus::kNormal,
               {wire::KeyValuePair::integer(0x08, 90000), wire::KeyValuePair::integer(0x10, 9000)});
  origin.write(1, 2, 0, ObjectStatus::kEndOfTrack);
  GstElement* sink = rcv.get("out");
  std::vector<GstBuffer*> bufs;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 5 * GST_SECOND)) {
    bufs.push_back(gst_buffer_ref(gst_sample_get_buffer(s)));
    gst_sample_unref(s);
  }
  EXPECT_TRUE(gst_app_sink_is_eos(GST_APP_SINK(sink))) << "END_OF_TRACK did not end the pad";
  gst_object_unref(sink);
  ASSERT_EQ(bufs.size(), 4u) << "status and empty objects must not become buffers";
  for (size_t i = 0; i < bufs.size(); ++i) {
    EXPECT_EQ(gst_buffer_get_size(bufs[i]), 10u) << i;
    if (i > 0) {  // 0: the source's first buffer is DISCONT anyway
      EXPECT_FALSE(GST_BUFFER_FLAG_IS_SET(bufs[i], GST_BUFFER_FLAG_DISCONT)) << i;
    }
    // The sender's capture time rides on process-lifetime caps, flagged so that
    // GST_TRACERS=leaks does not report them.
    GstReferenceTimestampMeta* m = gst_buffer_get_reference_timestamp_meta(bufs[i], nullptr);
    EXPECT_TRUE(m) << i;
    if (m) {
      EXPECT_TRUE(GST_MINI_OBJECT_FLAG_IS_SET(m->reference, GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED)) << i;
    }
    gst_buffer_unref(bufs[i]);
  }
  EXPECT_TRUE(take_messages(rcv.p, GST_MESSAGE_ERROR).empty());
}

class StatusObjects : public ::testing::TestWithParam<Variant> {};
TEST_P(StatusObjects, BecomeNoBuffersAndEndOfTrackIsEos) { play_status_objects(GetParam()); }

const Variant kVariants[] = {{"QuicDraft14", "moqt", 14},  {"QuicDraft16", "moqt", 16},  {"QuicDraft18", "moqt", 18},
                             {"WtDraft14", "https", 14}, {"WtDraft16", "https", 16}, {"WtDraft18", "https", 18}};
INSTANTIATE_TEST_SUITE_P(Drafts, StatusObjects, ::testing::ValuesIn(kVariants),
                         [](const auto& i) { return std::string(i.param.name); });

// --- 6, 7. listener mode ------------------------------------------------------------------------

// A publisher that connects to our listener, announces, and serves the track (or refuses it).
class Publisher {
 public:
  Publisher(guint port, TrackNamespace ns, std::shared_ptr<TrackPublisher> serve) : track_(std::move(serve)) {
    loop_.start("publisher");
    if (track_) registry_.add(track_);
    ClientConfig cc;
    cc.verify = quic::VerifyMode::kInsecure;
    std::string err;
    loop_.run_sync([&] {
      client_ = Client::connect(loop_, "moqt://127.0.0.1:" + std::to_string(port) + "/moq", cc, nullptr,
                                track_ ? &registry_ : nullptr, &err);
      if (client_) client_->publish_namespace(ns, nullptr);
    });
    EXPECT_TRUE(client_) << err;
  }
  // Pushes the track with PUBLISH instead of waiting to be subscribed.
  void publish() {
    loop_.run_sync([&] { client_->publish(track_, nullptr); });
  }
  ~Publisher() {
    loop_.run_sync([&] {
      client_.reset();
      track_.reset();
    });
    loop_.stop();
  }
  size_t subscribers() {
    size_t n = 0;
    loop_.run_sync([&] { n = track_->subscriber_count(); });
    return n;
  }
  void write(uint64_t group, uint64_t object) {
    loop_.run_sync([&] {
      Object o;
      o.location = {group, object};
      o.payload = quic::SendBuffer::take(std::vector<uint8_t>(16, uint8_t(object)));
      track_->write(std::move(o));
    });
  }

 private:
  quic::EventLoop loop_;
  TrackRegistry registry_;
  std::shared_ptr<TrackPublisher> track_;
  std::unique_ptr<Client> client_;
};

// One peer refusing moqsrc's SUBSCRIBE is a warning; the next publisher is played.
TEST(Listener, APeerRefusingTheSubscriptionIsAWarningNotTheEnd) {
  Pipeline rcv("moqsrc name=r uri=moqt://127.0.0.1:0/t/ref?mode=listener track=data caps=application/x-test ! "
               "appsink name=out sync=false max-buffers=100");
  ASSERT_TRUE(rcv.p && rcv.play());
  const guint port = rcv.port("r");
  ASSERT_GT(port, 0u);
  const TrackNamespace ns{"t", "ref"};
  std::vector<std::string> warnings;
  {
    Publisher refusing(port, ns, nullptr);  // announces, then answers SUBSCRIBE with DOES_NOT_EXIST
    ASSERT_TRUE(test::eventually([&] {
      for (auto& w : take_messages(rcv.p, GST_MESSAGE_WARNING)) warnings.push_back(w);
      return !warnings.empty();
    })) << "no warning for the refused SUBSCRIBE";
  }
  EXPECT_NE(warnings[0].find("SUBSCRIBE refused"), std::string::npos) << warnings[0];
  auto track = std::make_shared<TrackPublisher>(FullTrackName{ns, "data"}, TrackOptions{});
  Publisher serving(port, ns, track);
  ASSERT_TRUE(test::eventually([&] { return serving.subscribers() == 1; })) << "moqsrc gave up after the refusal";
  for (uint64_t o = 0; o < 3; ++o) serving.write(0, o);
  GstElement* sink = rcv.get("out");
  EXPECT_EQ(pull_n(sink, 3, 5 * GST_SECOND), 3);
  gst_object_unref(sink);
  const auto errors = take_messages(rcv.p, GST_MESSAGE_ERROR);
  EXPECT_TRUE(errors.empty()) << errors[0];
}

struct PadLog {
  std::mutex mu;
  std::set<std::string> pads;
};
// Links every new pad to a fakesink, so its data flows.
void link_to_fakesink(GstElement* src, GstPad* pad, gpointer data) {
  auto* log = static_cast<PadLog*>(data);
  GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(src));
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sp = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, sp);
  gst_object_unref(sp);
  gst_object_unref(pipeline);
  std::lock_guard<std::mutex> l(log->mu);
  log->pads.insert(GST_PAD_NAME(pad));
}

// A publisher without a catalog that connects after the catalog-timeout has passed since the
// element started still gets its pushed track exposed: the timeout runs from its arrival.
TEST(Listener, CatalogTimeoutRunsFromTheFirstPeer) {
  Pipeline rcv("moqsrc name=r uri=moqt://127.0.0.1:0/t/cat?mode=listener catalog-timeout=300");
  ASSERT_TRUE(rcv.p);
  GstElement* r = rcv.get("r");
  PadLog log;
  g_signal_connect(r, "pad-added", G_CALLBACK(link_to_fakesink), &log);
  ASSERT_TRUE(rcv.play());
  const guint port = port_of(r);
  gst_object_unref(r);
  std::this_thread::sleep_for(1000ms);  // more than the timeout, and nobody has connected
  auto track = std::make_shared<TrackPublisher>(FullTrackName{{"t", "cat"}, "cam"}, TrackOptions{});
  Publisher pub(port, {"t", "cat"}, track);
  pub.publish();
  for (uint64_t o = 0; o < 5; ++o) pub.write(0, o);
  EXPECT_TRUE(test::eventually([&] {
    std::lock_guard<std::mutex> l(log.mu);
    return log.pads.count("src_cam") > 0;
  })) << "the pushed track was never exposed";
  std::lock_guard<std::mutex> l(log.mu);
  EXPECT_EQ(log.pads.count("src_video"), 0u) << "the timeout fired before any publisher connected";
  EXPECT_TRUE(take_messages(rcv.p, GST_MESSAGE_ERROR).empty());
}

// --- 8. EOS ----------------------------------------------------------------------------------

// What users run: gst-launch-1.0 -e with a finite source ends (it waited forever before).
TEST(Eos, GstLaunchWithAFiniteSourceEnds) {
  if (g_strcmp0(g_getenv("MOQ_SANITIZERS"), "none") != 0)
    GTEST_SKIP() << "gst-launch-1.0 cannot load a sanitizer-built plugin (the in-process EOS test runs)";
  gchar* out = nullptr;
  gchar* err = nullptr;
  gint status = -1;
  const char* cmd =
      "env -u GST_TRACERS timeout 60 gst-launch-1.0 -e videotestsrc num-buffers=60 ! x264enc speed-preset=ultrafast ! "
      "moqsink uri=moqt://127.0.0.1:0/live/eos?mode=listener";
  ASSERT_TRUE(g_spawn_command_line_sync(cmd, &out, &err, &status, nullptr));
  EXPECT_TRUE(g_spawn_check_wait_status(status, nullptr)) << "rc " << status << "\n" << out << err;
  g_free(out);
  g_free(err);
}

// A caller moqsink publishing a finite stream to a listener moqsrc: the sender posts EOS (with the
// EOS event's seqnum) and the receiver's pad ends once the track is done (PUBLISH_DONE).
TEST(Eos, SinkPostsEosAndTheReceiverSeesTheTrackEnd) {
  Pipeline rcv("moqsrc name=r uri=moqt://127.0.0.1:0/live/fin?mode=listener caps=video/x-h264,stream-format=byte-stream,"
               "alignment=au ! h264parse ! avdec_h264 ! appsink name=out sync=false max-buffers=1000");
  ASSERT_TRUE(rcv.p && rcv.play());
  const guint port = rcv.port("r");
  Pipeline snd("videotestsrc is-live=true num-buffers=45 ! video/x-raw,width=160,height=120,framerate=30/1 ! "
               "x264enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! "
               "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink uri=moqt://127.0.0.1:" +
               std::to_string(port) + "/live/fin?tls-insecure=true");
  ASSERT_TRUE(snd.p && snd.play());
  GstBus* bus = gst_element_get_bus(snd.p);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 20 * GST_SECOND, GstMessageType(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  ASSERT_TRUE(m) << "moqsink posted no EOS";
  EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
  gst_message_unref(m);
  GstElement* sink = rcv.get("out");
  int frames = 0;
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 5 * GST_SECOND)) {
    gst_sample_unref(s);
    ++frames;
  }
  EXPECT_TRUE(gst_app_sink_is_eos(GST_APP_SINK(sink))) << "the receiver did not see the track end";
  gst_object_unref(sink);
  EXPECT_GE(frames, 25);  // the first group may precede the listener's PUBLISH_OK
  EXPECT_TRUE(take_messages(rcv.p, GST_MESSAGE_ERROR).empty());
}

// --- 9. pads while PLAYING ------------------------------------------------------------------

struct Taps {
  std::mutex mu;
  std::map<std::string, GstElement*> sinks;  // pad name -> appsink (owned by the pipeline)
};
void link_to_appsink(GstElement* src, GstPad* pad, gpointer data) {
  auto* taps = static_cast<Taps*>(data);
  GstElement* pipeline = GST_ELEMENT(gst_element_get_parent(src));
  GstElement* sink = gst_element_factory_make("appsink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 1000u, "drop", TRUE, nullptr);
  gst_bin_add(GST_BIN(pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sp = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, sp);
  gst_object_unref(sp);
  gst_object_unref(pipeline);
  std::lock_guard<std::mutex> l(taps->mu);
  taps->sinks[GST_PAD_NAME(pad)] = sink;
}
GstElement* tap(Taps& taps, const std::string& pad) {
  std::lock_guard<std::mutex> l(taps.mu);
  auto it = taps.sinks.find(pad);
  return it == taps.sinks.end() ? nullptr : it->second;
}

TEST(Pads, ARequestedWhilePlayingIsPublishedAndReleasingEndsIt) {
  Pipeline snd("videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! "
               "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! "
               "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=moqt://127.0.0.1:0/live/add?mode=listener");
  ASSERT_TRUE(snd.p && snd.play());
  GstElement* s = snd.get("s");
  const guint port = port_of(s);
  Pipeline rcv("moqsrc name=r uri=moqt://127.0.0.1:" + std::to_string(port) + "/live/add?tls-insecure=true");
  GstElement* r = rcv.get("r");
  Taps taps;
  g_signal_connect(r, "pad-added", G_CALLBACK(link_to_appsink), &taps);
  gst_object_unref(r);
  ASSERT_TRUE(rcv.play());
  ASSERT_TRUE(test::eventually([&] { return tap(taps, "src_video") != nullptr; }));
  EXPECT_EQ(pull_n(tap(taps, "src_video"), 10, 5 * GST_SECOND), 10);

  // An audio branch joins the running sender.
  GError* gerr = nullptr;
  GstElement* branch = gst_parse_bin_from_description("audiotestsrc is-live=true ! opusenc", TRUE, &gerr);
  ASSERT_TRUE(branch) << (gerr ? gerr->message : "?");
  gst_bin_add(GST_BIN(snd.p), branch);
  GstPad* req = gst_element_request_pad_simple(s, "sink_%u");
  GstPad* out = gst_element_get_static_pad(branch, "src");
  ASSERT_EQ(gst_pad_link(out, req), GST_PAD_LINK_OK);
  gst_object_unref(out);
  gst_element_sync_state_with_parent(branch);
  ASSERT_TRUE(test::eventually([&] { return tap(taps, "src_audio") != nullptr; }))
      << "the receiver never saw the new track in the catalog";
  EXPECT_EQ(pull_n(tap(taps, "src_audio"), 10, 5 * GST_SECOND), 10) << "the new track carries no data";
  gchar* name = nullptr;
  g_object_get(req, "track", &name, nullptr);
  EXPECT_STREQ(name, "audio");
  g_free(name);
  // Renaming a published track is refused (subscribers know it by its name).
  g_object_set(req, "track", "other", nullptr);
  g_object_get(req, "track", &name, nullptr);
  EXPECT_STREQ(name, "audio");
  g_free(name);
  EXPECT_FALSE(take_messages(snd.p, GST_MESSAGE_WARNING).empty());

  // Releasing it ends the track for its subscribers; the video goes on.
  gst_element_set_state(branch, GST_STATE_NULL);
  GstPad* peer = gst_pad_get_peer(req);
  if (peer) {
    gst_pad_unlink(peer, req);
    gst_object_unref(peer);
  }
  gst_bin_remove(GST_BIN(snd.p), branch);
  gst_element_release_request_pad(s, req);
  gst_object_unref(req);
  GstElement* audio = tap(taps, "src_audio");
  EXPECT_TRUE(test::eventually([&] {
    pull_n(audio, 1000, 10 * GST_MSECOND);
    return bool(gst_app_sink_is_eos(GST_APP_SINK(audio)));
  })) << "releasing the pad did not end its track";
  EXPECT_EQ(pull_n(tap(taps, "src_video"), 10, 5 * GST_SECOND), 10);
  gst_object_unref(s);
  const auto errors = take_messages(rcv.p, GST_MESSAGE_ERROR);
  EXPECT_TRUE(errors.empty()) << errors[0];
}

// --- 10, 11. configuration ------------------------------------------------------------------

TEST(Config, OversizedDatagramObjectsAreWarnedOnceAndCountedAsDropped) {
  GstElement* e = gst_element_factory_make("moqsink", nullptr);
  g_object_set(e, "uri", "moqt://127.0.0.1:0/t/dg?mode=listener", nullptr);
  GstPad* pad = gst_element_request_pad_simple(e, "sink_%u");
  g_object_set(pad, "track", "v", "datagrams", TRUE, nullptr);
  gst_object_unref(pad);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(e, bus);
  GstHarness* h = gst_harness_new_with_element(e, "sink_0", nullptr);
  gst_harness_set_src_caps_str(h, "video/x-h264,stream-format=byte-stream,alignment=au");
  for (gsize size : {5000u, 100u, 6000u, 200u}) {
    GstBuffer* b = gst_buffer_new_allocate(nullptr, size, nullptr);
    GST_BUFFER_PTS(b) = 0;
    EXPECT_EQ(gst_harness_push(h, b), GST_FLOW_OK);
  }
  const auto warnings = take_messages(bus, GST_MESSAGE_WARNING);
  ASSERT_EQ(warnings.size(), 1u) << "one warning per pad";
  EXPECT_NE(warnings[0].find("'datagrams'"), std::string::npos) << warnings[0];
  EXPECT_EQ(stat_of(e, "objects-dropped"), 2u);
  // The two small ones in each format (catalog-format=both: LOC and hang) and the two catalogs.
  EXPECT_EQ(stat_of(e, "objects-written"), 6u);
  gst_harness_teardown(h);
  gst_object_unref(e);
  gst_object_unref(bus);
}

TEST(Config, PropertiesInUseAreNotChangedWhileRunning) {
  Pipeline p("moqsrc name=r uri=moqt://127.0.0.1:0/t/p?mode=listener caps=application/x-test ! fakesink "
             "audiotestsrc is-live=true ! opusenc ! moqsink name=s uri=moqt://127.0.0.1:0/t/q?mode=listener");
  ASSERT_TRUE(p.p && p.play());
  for (const char* name : {"r", "s"}) {
    GstElement* e = p.get(name);
    gchar* before = nullptr;
    g_object_get(e, "uri", &before, nullptr);
    g_object_set(e, "uri", "moqt://127.0.0.1:1/elsewhere", "draft", 16, nullptr);
    gchar* after = nullptr;
    gint draft = -1;
    g_object_get(e, "uri", &after, "draft", &draft, nullptr);
    EXPECT_STREQ(after, before) << name;
    EXPECT_EQ(draft, 0) << name;
    g_free(before);
    g_free(after);
    const auto warnings = take_messages(p.p, GST_MESSAGE_WARNING);
    ASSERT_EQ(warnings.size(), 2u) << name;
    EXPECT_NE(warnings[0].find("'uri'"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[1].find("'draft'"), std::string::npos) << warnings[1];
    // Back in READY the same change is taken.
    gst_element_set_state(p.p, GST_STATE_READY);
    g_object_set(e, "draft", 16, nullptr);
    g_object_get(e, "draft", &draft, nullptr);
    EXPECT_EQ(draft, 16) << name;
    g_object_set(e, "draft", 0, nullptr);
    ASSERT_TRUE(p.play());
    gst_object_unref(e);
  }
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
