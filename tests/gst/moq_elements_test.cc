// moqsink -> moqsrc with real encoders and decoders over real sockets on 127.0.0.1, both
// directions (sink listener <- src caller: SUBSCRIBE; sink caller -> src listener: PUBLISH),
// raw QUIC and WebTransport: frames decode without errors, PTS increase, and groups start at
// keyframes.
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace {

struct PipelineRun {
  GstElement* pipeline = nullptr;
  ~PipelineRun() {
    if (pipeline) {
      gst_element_set_state(pipeline, GST_STATE_NULL);
      gst_object_unref(pipeline);
    }
  }
};

GstElement* launch(const std::string& desc) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  EXPECT_TRUE(p) << desc << ": " << (err ? err->message : "?");
  if (err) g_error_free(err);
  return p;
}

// Takes the ERROR messages off both pipelines' buses; the last one's text goes to `error`.
void collect_errors(GstElement* receiver, GstElement* sender, std::string* error) {
  for (GstElement* p : {receiver, sender}) {
    GstBus* bus = gst_element_get_bus(p);
    while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gst_message_parse_error(m, &e, nullptr);
      *error = e->message;
      g_error_free(e);
      gst_message_unref(m);
    }
    gst_object_unref(bus);
  }
}

// Pulls decoded frames from the appsink named "out" until `want` arrive or the time is up; checks
// the bus for errors on both pipelines meanwhile.
struct Received {
  int frames = 0;
  bool monotonic = true;
  GstClockTime max_pts = 0;  // on the receiver's running time: seconds, not the sender's 1000 h
  std::string error;
};
Received pull(GstElement* receiver, GstElement* sender, int want, std::chrono::seconds limit) {
  Received r;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(receiver), "out");
  if (!sink && g_object_class_find_property(G_OBJECT_GET_CLASS(receiver), "video-sink"))
    g_object_get(receiver, "video-sink", &sink, nullptr);  // playbin holds it as a property
  EXPECT_TRUE(sink);
  if (!sink) return r;
  GstClockTime last = GST_CLOCK_TIME_NONE;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (r.frames < want && std::chrono::steady_clock::now() < end && r.error.empty()) {
    if (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 100 * GST_MSECOND)) {
      GstBuffer* b = gst_sample_get_buffer(s);
      const GstClockTime pts = GST_BUFFER_PTS(b);
      if (GST_CLOCK_TIME_IS_VALID(last) && GST_CLOCK_TIME_IS_VALID(pts) && pts <= last) r.monotonic = false;
      last = pts;
      if (GST_CLOCK_TIME_IS_VALID(pts)) r.max_pts = std::max(r.max_pts, pts);
      ++r.frames;
      gst_sample_unref(s);
    }
    collect_errors(receiver, sender, &r.error);
  }
  gst_object_unref(sink);
  return r;
}

// Starts a publishing pipeline `desc` whose moqsink is named "s" and listens on port 0; returns
// the port it got (0 on failure).
guint start_origin(PipelineRun& run, const std::string& desc) {
  run.pipeline = launch(desc);
  if (!run.pipeline) return 0;
  EXPECT_NE(gst_element_set_state(run.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(run.pipeline), "s");
  if (!sink) return 0;
  guint port = 0;
  g_object_get(sink, "port", &port, nullptr);
  gst_object_unref(sink);
  return port;
}

struct Case {
  const char* name;
  const char* scheme;   // moqt or https
  int draft;
  const char* encoder;  // up to the caps filter
  const char* caps;
  const char* decoder;
};

class Elements : public ::testing::TestWithParam<Case> {};

TEST_P(Elements, ListenerSinkToCallerSrcDecodes) {
  const Case c = GetParam();
  PipelineRun snd, rcv;
  snd.pipeline = launch(std::string("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! ") +
                        c.encoder + " ! " + c.caps + " ! moqsink name=s uri=moqt://127.0.0.1:0/live/cam?mode=listener");
  ASSERT_TRUE(snd.pipeline);
  ASSERT_NE(gst_element_set_state(snd.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(snd.pipeline), "s");
  guint port = 0;
  gchar* hash = nullptr;
  g_object_get(sink, "port", &port, "cert-sha256", &hash, nullptr);
  gst_object_unref(sink);
  ASSERT_GT(port, 0u);
  const std::string uri = std::string(c.scheme) + "://127.0.0.1:" + std::to_string(port) + "/live/cam?tls-pin=" + hash +
                          "&draft=" + std::to_string(c.draft);
  g_free(hash);
  rcv.pipeline = launch("moqsrc uri=" + uri + " caps=\"" + c.caps + "\" ! " + c.decoder +
                        " ! appsink name=out sync=false max-buffers=1000");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r = pull(rcv.pipeline, snd.pipeline, 60, std::chrono::seconds(20));
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.frames, 60);
  EXPECT_TRUE(r.monotonic);
  EXPECT_LT(r.max_pts, 60 * GST_SECOND) << "PTS not mapped onto the receiver's running time";
}

TEST_P(Elements, CallerSinkPublishesToListenerSrc) {
  const Case c = GetParam();
  PipelineRun snd, rcv;
  rcv.pipeline = launch(std::string("moqsrc name=src uri=moqt://127.0.0.1:0/ingest?mode=listener caps=\"") + c.caps +
                        "\" ! " + c.decoder + " ! appsink name=out sync=false max-buffers=1000");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstElement* src = gst_bin_get_by_name(GST_BIN(rcv.pipeline), "src");
  guint port = 0;
  for (int i = 0; i < 100 && port == 0; ++i) {  // the listener binds when it starts
    g_object_get(src, "port", &port, nullptr);
    if (!port) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  gst_object_unref(src);
  ASSERT_GT(port, 0u);
  const std::string uri = std::string(c.scheme) + "://127.0.0.1:" + std::to_string(port) +
                          "/ingest?tls-insecure=true&draft=" + std::to_string(c.draft);
  snd.pipeline = launch(std::string("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! ") +
                        c.encoder + " ! " + c.caps + " ! moqsink uri=" + uri);
  ASSERT_TRUE(snd.pipeline);
  ASSERT_NE(gst_element_set_state(snd.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r = pull(rcv.pipeline, snd.pipeline, 60, std::chrono::seconds(20));
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.frames, 60);
  EXPECT_TRUE(r.monotonic);
  EXPECT_LT(r.max_pts, 60 * GST_SECOND) << "PTS not mapped onto the receiver's running time";
}

// H.265 temporal layers (x265 temporal-layers: non-reference B frames get nuh_temporal_id 1)
// become subgroups; a receiver limited to layer 0 gets only the base layer, which still decodes.
TEST(ElementsLayers, H265TemporalLayersMapToSubgroupsAndTheBaseLayerDecodesAlone) {
  PipelineRun snd, rcv;
  snd.pipeline = launch(
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x265enc speed-preset=ultrafast key-int-max=24 option-string=temporal-layers=1:bframes=3:b-adapt=0:b-pyramid=1 ! "
      "video/x-h265,stream-format=byte-stream,alignment=au ! moqsink name=s uri=moqt://127.0.0.1:0/live/svc?mode=listener");
  ASSERT_TRUE(snd.pipeline);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(snd.pipeline), "s");
  GstPad* pad = gst_element_get_static_pad(sink, "sink_0");
  ASSERT_TRUE(pad);
  g_object_set(pad, "layer-mapping", TRUE, nullptr);
  gst_object_unref(pad);
  ASSERT_NE(gst_element_set_state(snd.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  guint port = 0;
  g_object_get(sink, "port", &port, nullptr);
  ASSERT_GT(port, 0u);
  rcv.pipeline = launch("moqsrc name=src max-layer=0 uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/svc?tls-insecure=true caps=\"video/x-h265,stream-format=byte-stream,alignment=au\" ! "
                        "h265parse ! avdec_h265 ! appsink name=out sync=false max-buffers=1000");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r = pull(rcv.pipeline, snd.pipeline, 30, std::chrono::seconds(30));
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.frames, 30);
  EXPECT_TRUE(r.monotonic);
  EXPECT_LT(r.max_pts, 60 * GST_SECOND) << "PTS not mapped onto the receiver's running time";
  // Over the same run the receiver got clearly fewer objects than the sender wrote.
  GstElement* src = gst_bin_get_by_name(GST_BIN(rcv.pipeline), "src");
  GstStructure *ss = nullptr, *rs = nullptr;
  g_object_get(sink, "stats", &ss, nullptr);
  g_object_get(src, "stats", &rs, nullptr);
  guint64 written = 0, received = 0;
  gst_structure_get_uint64(ss, "objects-written", &written);
  gst_structure_get_uint64(rs, "objects-received", &received);
  gst_structure_free(ss);
  gst_structure_free(rs);
  gst_object_unref(src);
  gst_object_unref(sink);
  EXPECT_GT(written, 0u);
  EXPECT_LT(double(received), 0.8 * double(written)) << "enhancement layers should not have been received";
}

// No caps given anywhere: moqsink publishes a catalog (draft-ietf-moq-msf JSON) from the
// negotiated caps, moqsrc reads it, and playbin plays the moqt:// URI (VP8 cannot be typefound,
// so this only works through the catalog).
TEST(ElementsCatalog, PlaybinPlaysAMoqtUriThroughTheCatalog) {
  PipelineRun snd, rcv;
  const guint port = start_origin(snd,
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 "
      "keyframe-max-dist=15 ! moqsink name=s uri=moqt://127.0.0.1:0/live/cam?mode=listener");
  ASSERT_GT(port, 0u);
  rcv.pipeline = launch("playbin uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/cam?tls-insecure=true video-sink=\"appsink name=out sync=false max-buffers=1000\"");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r = pull(rcv.pipeline, snd.pipeline, 45, std::chrono::seconds(20));
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.frames, 45);
}


// Video and audio in one broadcast: moqsink names its tracks from the media (video, audio) and
// lists both in the catalog; moqsrc exposes src_video and src_audio and then no-more-pads.
// Both decode, and one clock offset serves both pads: (receiver PTS - sender PTS) is the same
// for audio and video, so lip sync survives the trip.
struct AvRun {
  int video = 0, audio = 0;
  std::vector<GstClockTimeDiff> video_offsets, audio_offsets;
  std::string error;
};
AvRun pull_av(GstElement* receiver, GstElement* sender, int want_video, int want_audio, std::chrono::seconds limit,
              const char* vname, const char* aname) {
  AvRun r;
  GstElement* vs = gst_bin_get_by_name(GST_BIN(receiver), vname);
  GstElement* as = gst_bin_get_by_name(GST_BIN(receiver), aname);
  if (!vs && g_object_class_find_property(G_OBJECT_GET_CLASS(receiver), "video-sink")) {
    g_object_get(receiver, "video-sink", &vs, "audio-sink", &as, nullptr);
  }
  EXPECT_TRUE(vs && as);
  if (!vs || !as) return r;
  GstCaps* sender_ts = gst_caps_new_empty_simple("timestamp/x-unix");
  GstCaps* sender_media_ts = gst_caps_new_empty_simple("timestamp/x-moq-media");
  const auto end = std::chrono::steady_clock::now() + limit;
  while ((r.video < want_video || r.audio < want_audio) && std::chrono::steady_clock::now() < end && r.error.empty()) {
    for (GstElement* sink : {vs, as}) {
      GstSample* smp = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_MSECOND);
      if (!smp) continue;
      GstBuffer* b = gst_sample_get_buffer(smp);
      const bool is_video = sink == vs;
      ++(is_video ? r.video : r.audio);
      // The sender's capture time (LOC) or media time (hang's timestamp prefix).
      GstReferenceTimestampMeta* m = gst_buffer_get_reference_timestamp_meta(b, sender_ts);
      if (!m) m = gst_buffer_get_reference_timestamp_meta(b, sender_media_ts);
      if (m && GST_BUFFER_PTS_IS_VALID(b))
        (is_video ? r.video_offsets : r.audio_offsets).push_back(GST_CLOCK_DIFF(m->timestamp, GST_BUFFER_PTS(b)));
      gst_sample_unref(smp);
    }
    collect_errors(receiver, sender, &r.error);
  }
  gst_caps_unref(sender_ts);
  gst_caps_unref(sender_media_ts);
  gst_object_unref(vs);
  gst_object_unref(as);
  return r;
}

GstClockTimeDiff median(std::vector<GstClockTimeDiff> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

guint start_av_origin(PipelineRun& run, const std::string& sink_props = "",
                      const std::string& h264_format = "byte-stream") {
  return start_origin(run,
                      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
                      "x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! "
                      "video/x-h264,stream-format=" + h264_format + ",alignment=au ! moqsink name=s " + sink_props +
                      " uri=moqt://127.0.0.1:0/live/cam?mode=listener audiotestsrc is-live=true ! audioconvert ! opusenc ! s.");
}

TEST(ElementsAV, OneSourceExposesVideoAndAudioAndKeepsThemInSync) {
  PipelineRun snd, rcv;
  const guint port = start_av_origin(snd);
  ASSERT_GT(port, 0u);
  rcv.pipeline = launch("moqsrc name=r uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/cam?tls-insecure=true "
                        "r.src_video ! queue ! h264parse ! avdec_h264 ! appsink name=v sync=false max-buffers=2000 "
                        "r.src_audio ! queue ! opusdec ! appsink name=a sync=false max-buffers=2000");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  AvRun r = pull_av(rcv.pipeline, snd.pipeline, 60, 100, std::chrono::seconds(20), "v", "a");
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.video, 60);
  EXPECT_GE(r.audio, 100);  // 20 ms Opus frames: 2 s
  ASSERT_FALSE(r.video_offsets.empty());
  ASSERT_FALSE(r.audio_offsets.empty());
  const GstClockTimeDiff dv = median(r.video_offsets), da = median(r.audio_offsets);
  std::printf("A/V: %d video frames, %d audio buffers; receiver - sender PTS: video %.3f ms, audio %.3f ms\n", r.video,
              r.audio, double(dv) / 1e6, double(da) / 1e6);
  EXPECT_LT(std::abs(dv - da), 2 * GST_MSECOND) << "video offset " << dv << " ns, audio offset " << da << " ns";
}

// moq.dev's hang packaging end to end: moqsink writes catalog.json and timestamp-prefixed payloads,
// moqsrc finds the hang catalog by itself (packaging=auto), strips the prefixes into PTS on one
// timeline, and both decoders run in sync. Length-prefixed H.264 travels with its avcC as the
// rendition's description; with catalog-format=both, packaging=hang picks the TRACK.hang copies.
struct HangCase {
  const char* name;
  const char* sink_props;
  const char* h264_format;
  const char* src_props;
  const char* video_pad;
  const char* audio_pad;
};
class ElementsHang : public ::testing::TestWithParam<HangCase> {};

TEST_P(ElementsHang, HangBroadcastDecodesInSync) {
  const HangCase& c = GetParam();
  PipelineRun snd, rcv;
  const guint port = start_av_origin(snd, c.sink_props, c.h264_format);
  ASSERT_GT(port, 0u);
  rcv.pipeline = launch(std::string("moqsrc name=r ") + c.src_props + " uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/cam?tls-insecure=true r." + c.video_pad +
                        " ! queue ! h264parse ! avdec_h264 ! appsink name=v sync=false max-buffers=2000 r." +
                        c.audio_pad + " ! queue ! opusdec ! appsink name=a sync=false max-buffers=2000");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  AvRun r = pull_av(rcv.pipeline, snd.pipeline, 60, 100, std::chrono::seconds(20), "v", "a");
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.video, 60);
  EXPECT_GE(r.audio, 100);
  ASSERT_FALSE(r.video_offsets.empty());
  ASSERT_FALSE(r.audio_offsets.empty());
  const GstClockTimeDiff dv = median(r.video_offsets), da = median(r.audio_offsets);
  std::printf("hang %s: %d video frames, %d audio buffers; receiver - sender PTS: video %.3f ms, audio %.3f ms\n",
              c.name, r.video, r.audio, double(dv) / 1e6, double(da) / 1e6);
  EXPECT_LT(std::abs(dv - da), 2 * GST_MSECOND) << "video offset " << dv << " ns, audio offset " << da << " ns";
}

INSTANTIATE_TEST_SUITE_P(
    Formats, ElementsHang,
    ::testing::Values(HangCase{"annexb", "catalog-format=hang", "byte-stream", "", "src_video", "src_audio"},
                      HangCase{"avcc", "catalog-format=hang", "avc", "packaging=hang", "src_video", "src_audio"},
                      HangCase{"both", "", "byte-stream", "packaging=hang", "src_video_hang", "src_audio_hang"}),
    [](const ::testing::TestParamInfo<HangCase>& i) { return std::string(i.param.name); });

// Ingest with the catalog: moqsink (caller) PUBLISHes video, audio and the catalog to a
// listening moqsrc, which exposes both tracks from the catalog without any caps set by hand.
TEST(ElementsAV, CallerSinkPushesVideoAndAudioToAListenerSource) {
  PipelineRun snd, rcv;
  rcv.pipeline = launch("moqsrc name=r uri=moqt://127.0.0.1:0/ingest/cam?mode=listener "
                        "r.src_video ! queue ! h264parse ! avdec_h264 ! appsink name=v sync=false max-buffers=2000 "
                        "r.src_audio ! queue ! opusdec ! appsink name=a sync=false max-buffers=2000");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstElement* src = gst_bin_get_by_name(GST_BIN(rcv.pipeline), "r");
  guint port = 0;
  for (int i = 0; i < 100 && port == 0; ++i) {
    g_object_get(src, "port", &port, nullptr);
    if (!port) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  gst_object_unref(src);
  ASSERT_GT(port, 0u);
  snd.pipeline = launch(
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=moqt://127.0.0.1:" +
      std::to_string(port) + "/ingest/cam?tls-insecure=true audiotestsrc is-live=true ! audioconvert ! opusenc ! s.");
  ASSERT_TRUE(snd.pipeline);
  ASSERT_NE(gst_element_set_state(snd.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  AvRun r = pull_av(rcv.pipeline, snd.pipeline, 60, 100, std::chrono::seconds(20), "v", "a");
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.video, 60);
  EXPECT_GE(r.audio, 100);
  ASSERT_FALSE(r.video_offsets.empty() || r.audio_offsets.empty());
  EXPECT_LT(std::abs(median(r.video_offsets) - median(r.audio_offsets)), 2 * GST_MSECOND);
}

// A viewer joining a running broadcast starts decoding at the next group (a keyframe): its first
// decoded frame comes within one group duration (0.5 s here), not after errors or a long wait.
TEST(ElementsAV, SecondViewerJoiningMidStreamDecodesWithinOneGroup) {
  PipelineRun snd, first, second;
  const guint port = start_origin(snd,
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=moqt://127.0.0.1:0/live/cam?mode=listener");
  ASSERT_GT(port, 0u);
  const std::string viewer = "moqsrc uri=moqt://127.0.0.1:" + std::to_string(port) +
                             "/live/cam?tls-insecure=true ! h264parse ! avdec_h264 ! appsink name=out sync=false "
                             "max-buffers=1000";
  first.pipeline = launch(viewer);
  ASSERT_NE(gst_element_set_state(first.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r1 = pull(first.pipeline, snd.pipeline, 45, std::chrono::seconds(20));  // well into the stream
  ASSERT_GE(r1.frames, 45);
  // Join mid-group (45 frames = 3 whole groups, so step off the boundary).
  std::this_thread::sleep_for(std::chrono::milliseconds(170));
  const auto t0 = std::chrono::steady_clock::now();
  second.pipeline = launch(viewer);
  ASSERT_NE(gst_element_set_state(second.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r2 = pull(second.pipeline, snd.pipeline, 1, std::chrono::seconds(10));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r2.error, "");
  ASSERT_EQ(r2.frames, 1);
  std::printf("second viewer: first decoded frame after %.0f ms (groups of 500 ms)\n",
              std::chrono::duration<double, std::milli>(waited).count());
  EXPECT_LT(waited, std::chrono::milliseconds(500 + 400)) << "more than one group (+ connection setup)";
  Received more = pull(second.pipeline, snd.pipeline, 30, std::chrono::seconds(10));
  EXPECT_EQ(more.error, "");
  EXPECT_GE(more.frames, 30);
}

guint free_udp_port() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

guint64 stat_of(GstElement* pipeline, const char* element, const char* field) {
  GstElement* e = gst_bin_get_by_name(GST_BIN(pipeline), element);
  GstStructure* st = nullptr;
  g_object_get(e, "stats", &st, nullptr);
  guint64 v = 0;
  if (st) gst_structure_get_uint64(st, field, &v);
  if (st) gst_structure_free(st);
  gst_object_unref(e);
  return v;
}

// The origin restarts (same port, new process state): a caller moqsrc reconnects with backoff,
// subscribes again from the next group and keeps decoding; no error reaches the application.
TEST(ElementsReconnect, CallerSourceReconnectsWhenTheOriginRestarts) {
  const guint port = free_udp_port();
  const std::string origin =
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink uri=moqt://127.0.0.1:" +
      std::to_string(port) + "/live/cam?mode=listener";
  PipelineRun snd, rcv;
  snd.pipeline = launch(origin);
  ASSERT_NE(gst_element_set_state(snd.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  rcv.pipeline = launch("moqsrc name=r uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/cam?tls-insecure=true ! h264parse ! avdec_h264 ! appsink name=out sync=false "
                        "max-buffers=1000");
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received before = pull(rcv.pipeline, snd.pipeline, 30, std::chrono::seconds(20));
  ASSERT_EQ(before.error, "");
  ASSERT_GE(before.frames, 30);

  gst_element_set_state(snd.pipeline, GST_STATE_NULL);  // the origin goes away...
  gst_object_unref(snd.pipeline);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  snd.pipeline = launch(origin);  // ...and comes back on the same port
  ASSERT_NE(gst_element_set_state(snd.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received after = pull(rcv.pipeline, snd.pipeline, 30, std::chrono::seconds(20));
  EXPECT_EQ(after.error, "");
  EXPECT_GE(after.frames, 30);
  EXPECT_TRUE(after.monotonic) << "wall-clock capture times keep PTS increasing across origins";
  EXPECT_GE(stat_of(rcv.pipeline, "r", "reconnects"), 1u);
}

std::string first_error_debug(GstElement* pipeline, GstClockTime timeout);

// reconnect=false: losing the origin is an error, as an application that handles it itself wants.
TEST(ElementsReconnect, ReconnectOffMakesALostOriginAnError) {
  PipelineRun snd, rcv;
  const guint port = start_origin(
      snd, "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
           "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! "
           "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=moqt://127.0.0.1:0/live/cam?mode=listener");
  ASSERT_GT(port, 0u);
  rcv.pipeline = launch("moqsrc name=r reconnect=false uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/cam?tls-insecure=true ! h264parse ! avdec_h264 ! appsink name=out sync=false "
                        "max-buffers=1000");
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received before = pull(rcv.pipeline, snd.pipeline, 15, std::chrono::seconds(20));
  ASSERT_GE(before.frames, 15);
  gst_element_set_state(snd.pipeline, GST_STATE_NULL);
  const std::string err = first_error_debug(rcv.pipeline, 10 * GST_SECOND);
  EXPECT_NE(err, "") << "the lost origin went unreported";
  EXPECT_EQ(stat_of(rcv.pipeline, "r", "reconnects"), 0u);
}

// Ingest survives the receiving end restarting: a caller moqsink re-establishes the session with
// backoff, PUBLISHes its tracks again (the catalog first), and the new listener decodes; the
// publishing pipeline never sees an error.
TEST(ElementsReconnect, CallerSinkRepublishesWhenTheListenerRestarts) {
  const guint port = free_udp_port();
  const std::string listener = "moqsrc uri=moqt://127.0.0.1:" + std::to_string(port) +
                               "/ingest/cam?mode=listener ! h264parse ! avdec_h264 ! appsink name=out sync=false "
                               "max-buffers=1000";
  PipelineRun snd, rcv;
  rcv.pipeline = launch(listener);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  snd.pipeline = launch(
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=moqt://127.0.0.1:" +
      std::to_string(port) + "/ingest/cam?tls-insecure=true");
  ASSERT_NE(gst_element_set_state(snd.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received before = pull(rcv.pipeline, snd.pipeline, 30, std::chrono::seconds(20));
  ASSERT_EQ(before.error, "");
  ASSERT_GE(before.frames, 30);

  gst_element_set_state(rcv.pipeline, GST_STATE_NULL);
  gst_object_unref(rcv.pipeline);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  rcv.pipeline = launch(listener);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received after = pull(rcv.pipeline, snd.pipeline, 30, std::chrono::seconds(20));
  EXPECT_EQ(after.error, "");
  EXPECT_GE(after.frames, 30);
  EXPECT_GE(stat_of(snd.pipeline, "s", "reconnects"), 1u);
}

// join-groups-back=0: the viewer starts at the current group's keyframe through a joining FETCH
// instead of waiting for the next group (1 s groups here, joined 170 ms in).
TEST(ElementsAV, JoinGroupsBackStartsAtTheCurrentGroupWithoutWaiting) {
  PipelineRun snd, first, second;
  const guint port = start_origin(snd,
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! "
      "video/x-h264,stream-format=byte-stream,alignment=au ! moqsink name=s uri=moqt://127.0.0.1:0/live/cam?mode=listener");
  ASSERT_GT(port, 0u);
  const std::string uri = "moqt://127.0.0.1:" + std::to_string(port) + "/live/cam?tls-insecure=true";
  first.pipeline = launch("moqsrc uri=" + uri + " ! h264parse ! avdec_h264 ! appsink name=out sync=false max-buffers=1000");
  ASSERT_NE(gst_element_set_state(first.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r1 = pull(first.pipeline, snd.pipeline, 60, std::chrono::seconds(20));  // 2 whole groups
  ASSERT_GE(r1.frames, 60);
  std::this_thread::sleep_for(std::chrono::milliseconds(170));
  const auto t0 = std::chrono::steady_clock::now();
  second.pipeline = launch("moqsrc join-groups-back=0 uri=" + uri +
                           " ! h264parse ! avdec_h264 ! appsink name=out sync=false max-buffers=1000");
  ASSERT_NE(gst_element_set_state(second.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r2 = pull(second.pipeline, snd.pipeline, 1, std::chrono::seconds(10));
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r2.frames, 1);
  std::printf("join-groups-back=0: first decoded frame after %.0f ms (the next group was ~830 ms away)\n",
              std::chrono::duration<double, std::milli>(waited).count());
  EXPECT_LT(waited, std::chrono::milliseconds(500));
  Received more = pull(second.pipeline, snd.pipeline, 45, std::chrono::seconds(10));
  EXPECT_EQ(more.error, "");
  EXPECT_GE(more.frames, 45);
  EXPECT_TRUE(more.monotonic) << "fetched and live frames out of order";
}

// Raw AAC needs its AudioSpecificConfig (caps codec_data) to decode: it travels in the catalog,
// and moqsrc's src_audio pad gets it back.
TEST(ElementsAV, RawAacDecodesThroughTheCatalog) {
  PipelineRun snd, rcv;
  const guint port = start_origin(snd,
      "audiotestsrc is-live=true ! audioconvert ! avenc_aac ! aacparse ! audio/mpeg,mpegversion=4,stream-format=raw ! "
      "moqsink name=s uri=moqt://127.0.0.1:0/live/radio?mode=listener");
  ASSERT_GT(port, 0u);
  rcv.pipeline = launch("moqsrc name=r uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/radio?tls-insecure=true r.src_audio ! avdec_aac ! appsink name=out sync=false "
                        "max-buffers=1000");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  Received r = pull(rcv.pipeline, snd.pipeline, 50, std::chrono::seconds(20));  // 1024-sample frames: ~1 s
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.frames, 50);
  EXPECT_TRUE(r.monotonic);
}

TEST(ElementsAV, PlaybinPlaysVideoAndAudioFromAMoqtUri) {
  PipelineRun snd, rcv;
  const guint port = start_av_origin(snd);
  ASSERT_GT(port, 0u);
  rcv.pipeline = launch("playbin uri=moqt://127.0.0.1:" + std::to_string(port) +
                        "/live/cam?tls-insecure=true video-sink=\"appsink name=v sync=false max-buffers=2000\" "
                        "audio-sink=\"appsink name=a sync=false max-buffers=2000\"");
  ASSERT_TRUE(rcv.pipeline);
  ASSERT_NE(gst_element_set_state(rcv.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  AvRun r = pull_av(rcv.pipeline, snd.pipeline, 45, 50, std::chrono::seconds(20), "v", "a");
  EXPECT_EQ(r.error, "");
  EXPECT_GE(r.video, 45);
  EXPECT_GE(r.audio, 50);
}

std::string first_error_debug(GstElement* pipeline, GstClockTime timeout) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, timeout, GST_MESSAGE_ERROR);
  std::string out;
  if (m) {
    GError* e = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(m, &e, &dbg);
    out = std::string(e->message) + " | " + (dbg ? dbg : "");
    g_error_free(e);
    g_free(dbg);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return out;
}

TEST(ElementsConfig, BadUriIsAnErrorNamingTheProblem) {
  PipelineRun p;
  p.pipeline = launch("videotestsrc num-buffers=1 ! moqsink uri=rtmp://nope/x");
  ASSERT_TRUE(p.pipeline);
  EXPECT_EQ(gst_element_set_state(p.pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  const std::string err = first_error_debug(p.pipeline, GST_SECOND);
  EXPECT_NE(err.find("moqt://"), std::string::npos) << err;
}

TEST(ElementsConfig, UnsupportedDraftPropertyIsNamed) {
  PipelineRun p;
  p.pipeline = launch("moqsrc uri=moqt://127.0.0.1:9/live track=video draft=7 ! fakesink");
  ASSERT_TRUE(p.pipeline);
  gst_element_set_state(p.pipeline, GST_STATE_PLAYING);
  const std::string err = first_error_debug(p.pipeline, 5 * GST_SECOND);
  EXPECT_NE(err.find("property 'draft'"), std::string::npos) << err;
}

// A peer that never answers: the source must fail with an error, not end the stream quietly.
TEST(ElementsConfig, UnreachablePeerIsAnErrorNotEos) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  PipelineRun p;
  p.pipeline = launch("moqsrc uri=moqt://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/live track=video ! fakesink");
  ASSERT_TRUE(p.pipeline);
  gst_element_set_state(p.pipeline, GST_STATE_PLAYING);
  const std::string err = first_error_debug(p.pipeline, 30 * GST_SECOND);
  close(fd);
  EXPECT_NE(err.find("could not establish a MoQT session"), std::string::npos) << err;
}

const Case kCases[] = {
    {"H264OverQuicDraft16", "moqt", 16, "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast",
     "video/x-h264,stream-format=byte-stream,alignment=au", "h264parse ! avdec_h264"},
    {"Vp8OverWebTransportDraft18", "https", 18, "vp8enc deadline=1 keyframe-max-dist=15", "video/x-vp8", "vp8dec"},
    {"H264OverWebTransportDraft14", "https", 14, "x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast",
     "video/x-h264,stream-format=byte-stream,alignment=au", "h264parse ! avdec_h264"},
    {"Vp9OverQuicDraft18", "moqt", 18, "vp9enc deadline=1 cpu-used=8 keyframe-max-dist=15", "video/x-vp9", "vp9dec"},
    {"Av1OverWebTransportDraft16", "https", 16, "av1enc cpu-used=10 usage-profile=realtime keyframe-max-dist=15",
     "video/x-av1,stream-format=obu-stream,alignment=tu", "av1parse ! av1dec"},
};

INSTANTIATE_TEST_SUITE_P(Codecs, Elements, ::testing::ValuesIn(kCases), [](const auto& i) { return std::string(i.param.name); });

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
