// moqsink's mapping of buffers onto MoQT objects, with GstHarness driving the element and a real
// MoQT subscriber (the engine's Client over loopback QUIC) reading what it publishes:
// keyframes open groups, audio groups are cut by duration, vp8enc temporal layers (GstVP8Meta),
// H.265 nuh_temporal_id and an application's GstMoqLayerMeta become subgroups, and the LOC
// timestamp follows the buffers' running time.
#include <gst/app/gstappsink.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "../common/waitable.h"
#include "moqt/session/client.h"

namespace {

using namespace moqt;
using namespace moqt::session;
using namespace std::chrono_literals;

struct Recorder : SubscriptionHandler, moqt::test::Waitable {
  bool ok = false;
  std::vector<ReceivedObject> objects;
  void on_subscribe_ok(const SubscribeResult&) override { set([&] { ok = true; }); }
  void on_object(const ReceivedObject& o) override { set([&] { objects.push_back(o); }); }
  // Sorted by (group, object): streams of different subgroups may arrive in any order.
  std::vector<ReceivedObject> sorted() {
    std::lock_guard<std::mutex> l(mu);
    std::vector<ReceivedObject> v = objects;
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.location < b.location; });
    return v;
  }
};

std::optional<uint64_t> property(const ReceivedObject& o, uint64_t type) {
  for (const auto& kv : o.properties)
    if (kv.type == type && !kv.is_bytes()) return kv.int_value;
  return std::nullopt;
}
std::optional<std::string> bytes_property(const ReceivedObject& o, uint64_t type) {
  for (const auto& kv : o.properties)
    if (kv.type == type && kv.is_bytes()) return kv.bytes_value;
  return std::nullopt;
}

// A moqsink in a harness, listening on loopback, with one subscriber to its track "t".
class SinkUnderTest {
 public:
  SinkUnderTest(const char* caps, bool layer_mapping, GstClockTime group_duration = GST_SECOND, bool datagrams = false) {
    // Configured before the harness starts it (pads are turned into tracks at start).
    GstElement* e = gst_element_factory_make("moqsink", nullptr);
    g_object_set(e, "uri", "moqt://127.0.0.1:0/test/map?mode=listener", nullptr);
    GstPad* pad = gst_element_request_pad_simple(e, "sink_%u");
    g_object_set(pad, "track", "t", "layer-mapping", layer_mapping, "group-duration", guint64(group_duration), "datagrams",
                 datagrams, nullptr);
    gst_object_unref(pad);
    h_ = gst_harness_new_with_element(e, "sink_0", nullptr);
    gst_object_unref(e);
    gst_harness_set_src_caps_str(h_, caps);
    guint port = 0;
    gchar* hash = nullptr;
    g_object_get(h_->element, "port", &port, "cert-sha256", &hash, nullptr);
    EXPECT_GT(port, 0u);
    loop_.start("mapping-test");
    ClientConfig cc;
    cc.verify = quic::VerifyMode::kPinnedSha256;
    cc.pinned_sha256 = hash ? hash : "";
    g_free(hash);
    std::string err;
    loop_.run_sync([&] {
      client_ = Client::connect(loop_, "moqt://127.0.0.1:" + std::to_string(port) + "/moq", cc, nullptr, nullptr, &err);
      if (!client_) return;
      SubscribeOptions so;  // from the largest object: nothing written yet, so everything
      client_->subscribe(FullTrackName{{"test", "map"}, "t"}, so, &rec);
    });
    EXPECT_TRUE(client_) << err;
    EXPECT_TRUE(rec.wait([&] { return rec.ok; }, 10s)) << "no SUBSCRIBE_OK from moqsink";
  }
  ~SinkUnderTest() {
    loop_.run_sync([&] { client_.reset(); });
    loop_.stop();
    gst_harness_teardown(h_);
  }
  GstFlowReturn push(GstBuffer* b) { return gst_harness_push(h_, b); }
  std::vector<ReceivedObject> wait_for(size_t n) {
    EXPECT_TRUE(rec.wait([&] { return rec.objects.size() >= n; }, 10s)) << "got " << rec.objects.size() << " of " << n;
    return rec.sorted();
  }

  Recorder rec;

 private:
  GstHarness* h_ = nullptr;
  quic::EventLoop loop_;
  std::unique_ptr<Client> client_;
};

GstBuffer* frame(GstClockTime pts, bool key, size_t size = 100) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, size, nullptr);
  gst_buffer_memset(b, 0, key ? 0xAA : 0x55, size);
  GST_BUFFER_PTS(b) = pts;
  GST_BUFFER_DURATION(b) = GST_SECOND / 30;
  if (!key) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
  return b;
}

// Encodes with a real encoder and returns its output buffers (refs owned by the caller).
std::vector<GstBuffer*> encode(const std::string& desc, void (*configure)(GstElement*) = nullptr) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(desc.c_str(), &err);
  EXPECT_TRUE(p) << (err ? err->message : "?");
  if (err) g_error_free(err);
  std::vector<GstBuffer*> out;
  if (!p) return out;
  if (configure) {
    GstElement* enc = gst_bin_get_by_name(GST_BIN(p), "enc");
    configure(enc);
    gst_object_unref(enc);
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "out");
  gst_element_set_state(p, GST_STATE_PLAYING);
  while (GstSample* s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 10 * GST_SECOND)) {
    out.push_back(gst_buffer_ref(gst_sample_get_buffer(s)));
    gst_sample_unref(s);
  }
  gst_object_unref(sink);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return out;
}

TEST(MoqsinkMapping, KeyframesOpenGroupsAndEachBufferIsOneObject) {
  SinkUnderTest s("video/x-h264,stream-format=byte-stream,alignment=au", false);
  const bool keys[] = {true, false, false, true, false, true, false, false, false};
  GstClockTime pts = 0;
  for (bool k : keys) {
    ASSERT_EQ(s.push(frame(pts, k)), GST_FLOW_OK);
    pts += GST_SECOND / 30;
  }
  auto objs = s.wait_for(std::size(keys));
  ASSERT_EQ(objs.size(), std::size(keys));
  const std::pair<uint64_t, uint64_t> want[] = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {2, 0}, {2, 1}, {2, 2}, {2, 3}};
  for (size_t i = 0; i < objs.size(); ++i) {
    EXPECT_EQ(objs[i].location.group, want[i].first) << i;
    EXPECT_EQ(objs[i].location.object, want[i].second) << i;
    EXPECT_EQ(objs[i].subgroup, 0u);
    EXPECT_EQ(objs[i].payload.size(), 100u);
    EXPECT_EQ(objs[i].payload[0], keys[i] ? 0xAA : 0x55);
  }
  // LOC Timestamp (wall-clock µs) advances with the buffers' running time: 33.3 ms per frame.
  for (size_t i = 1; i < objs.size(); ++i) {
    auto a = property(objs[i - 1], 0x10), b = property(objs[i], 0x10);
    ASSERT_TRUE(a && b);
    EXPECT_NEAR(double(*b - *a), 1e6 / 30, 1.0) << i;
  }
}

TEST(MoqsinkMapping, AudioGroupsAreCutByDuration) {
  // With the Opus stream header as LOC Audio Config (0x0F) on each group's first object.
  SinkUnderTest s("audio/x-opus,channel-mapping-family=0,streamheader=(buffer)<4f707573486561640101380180bb0000000000>",
                  false, 100 * GST_MSECOND);
  for (int i = 0; i < 12; ++i) {
    GstBuffer* b = frame(i * 20 * GST_MSECOND, true, 60);
    GST_BUFFER_DURATION(b) = 20 * GST_MSECOND;
    ASSERT_EQ(s.push(b), GST_FLOW_OK);
  }
  auto objs = s.wait_for(12);
  ASSERT_EQ(objs.size(), 12u);
  const std::string opus_head("OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0", 19);
  for (int i = 0; i < 12; ++i) {  // 100 ms groups of 20 ms frames: 5 objects each
    EXPECT_EQ(objs[i].location.group, uint64_t(i / 5)) << i;
    EXPECT_EQ(objs[i].location.object, uint64_t(i % 5)) << i;
    auto config = bytes_property(objs[i], 0x0F);
    EXPECT_EQ(config.has_value(), i % 5 == 0) << i;
    if (config) {
      EXPECT_EQ(*config, opus_head);
    }
  }
}

TEST(MoqsinkMapping, ApplicationLayerMetaSelectsTheSubgroup) {
  SinkUnderTest s("application/x-test", true);
  const guint layers[] = {0, 2, 1, 2, 0, 2};
  for (size_t i = 0; i < std::size(layers); ++i) {
    GstBuffer* b = frame(i * GST_MSECOND, i == 0);
    GstCustomMeta* m = gst_buffer_add_custom_meta(b, "GstMoqLayerMeta");
    ASSERT_TRUE(m);
    gst_structure_set(gst_custom_meta_get_structure(m), "layer", G_TYPE_UINT, layers[i], nullptr);
    ASSERT_EQ(s.push(b), GST_FLOW_OK);
  }
  auto objs = s.wait_for(std::size(layers));
  ASSERT_EQ(objs.size(), std::size(layers));
  for (size_t i = 0; i < objs.size(); ++i) {
    EXPECT_EQ(objs[i].subgroup, layers[i]) << i;
    EXPECT_EQ(objs[i].location.object, i);  // one object sequence across the subgroups of a group
  }
}

void two_temporal_layers(GstElement* enc) {
  // toolchain.md §4: the layer arrays can only be set from C, and the layer flags are required.
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  auto arr = [](std::initializer_list<int> v) {
    GValueArray* a = g_value_array_new(v.size());
    for (int x : v) {
      GValue gv = G_VALUE_INIT;
      g_value_init(&gv, G_TYPE_INT);
      g_value_set_int(&gv, x);
      g_value_array_append(a, &gv);
      g_value_unset(&gv);
    }
    return a;
  };
  GValueArray *ids = arr({0, 1}), *dec = arr({2, 1}), *rates = arr({200000, 400000});
  g_object_set(enc, "temporal-scalability-number-layers", 2, "temporal-scalability-periodicity", 2,
               "temporal-scalability-layer-id", ids, "temporal-scalability-rate-decimator", dec,
               "temporal-scalability-target-bitrate", rates, nullptr);
  g_value_array_free(ids);
  g_value_array_free(dec);
  g_value_array_free(rates);
  G_GNUC_END_IGNORE_DEPRECATIONS
  gst_util_set_object_arg(G_OBJECT(enc), "temporal-scalability-layer-flags",
                          "<no-ref-golden+no-ref-arf+no-upd-golden+no-upd-arf, "
                          "no-ref-golden+no-ref-arf+no-upd-last+no-upd-golden+no-upd-arf+no-upd-entropy>");
  gst_util_set_object_arg(G_OBJECT(enc), "temporal-scalability-layer-sync-flags", "<false, true>");
}

TEST(MoqsinkMapping, Vp8TemporalLayersBecomeSubgroups) {
  auto bufs = encode(
      "videotestsrc num-buffers=20 ! video/x-raw,width=160,height=120,framerate=30/1 ! "
      "vp8enc name=enc deadline=1 keyframe-max-dist=10 ! appsink name=out sync=false",
      two_temporal_layers);
  ASSERT_EQ(bufs.size(), 20u);
  std::vector<guint> want;
  std::vector<bool> key;
  for (GstBuffer* b : bufs) {
    GstCustomMeta* m = gst_buffer_get_custom_meta(b, "GstVP8Meta");
    ASSERT_TRUE(m) << "vp8enc attaches GstVP8Meta";
    guint layer = 0;
    gst_structure_get_uint(gst_custom_meta_get_structure(m), "layer-id", &layer);
    want.push_back(layer);
    key.push_back(!GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT));
  }
  ASSERT_NE(std::count(want.begin(), want.end(), 1u), 0) << "the encoder made no enhancement layer";
  SinkUnderTest s("video/x-vp8,width=160,height=120,framerate=30/1", true);
  for (GstBuffer* b : bufs) ASSERT_EQ(s.push(b), GST_FLOW_OK);
  auto objs = s.wait_for(bufs.size());
  ASSERT_EQ(objs.size(), bufs.size());
  uint64_t group = 0;
  for (size_t i = 0; i < objs.size(); ++i) {
    if (i > 0 && key[i]) ++group;
    EXPECT_EQ(objs[i].subgroup, want[i]) << "frame " << i;
    EXPECT_EQ(objs[i].location.group, group) << "frame " << i;
  }
}

// The temporal id of the first VCL NAL unit, read here independently of moqsink.
int h265_temporal_id(GstBuffer* b) {
  GstMapInfo map;
  gst_buffer_map(b, &map, GST_MAP_READ);
  int tid = -1;
  for (size_t i = 0; i + 4 < map.size && tid < 0; ++i) {
    if (map.data[i] == 0 && map.data[i + 1] == 0 && map.data[i + 2] == 1) {
      const uint8_t h0 = map.data[i + 3], h1 = map.data[i + 4];
      if (((h0 >> 1) & 0x3f) < 32) tid = (h1 & 7) - 1;  // a VCL NAL unit
    }
  }
  gst_buffer_unmap(b, &map);
  return tid;
}

TEST(MoqsinkMapping, H265TemporalIdsBecomeSubgroups) {
  auto bufs = encode(
      "videotestsrc num-buffers=24 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "x265enc name=enc speed-preset=ultrafast key-int-max=24 "
      "option-string=temporal-layers=1:bframes=3:b-adapt=0:b-pyramid=1 ! "
      "video/x-h265,stream-format=byte-stream,alignment=au ! appsink name=out sync=false");
  ASSERT_EQ(bufs.size(), 24u);
  std::vector<int> want;
  for (GstBuffer* b : bufs) want.push_back(h265_temporal_id(b));
  ASSERT_NE(std::count(want.begin(), want.end(), 1), 0) << "x265 made no temporal layer 1";
  SinkUnderTest s("video/x-h265,stream-format=byte-stream,alignment=au", true);
  for (GstBuffer* b : bufs) ASSERT_EQ(s.push(b), GST_FLOW_OK);
  auto objs = s.wait_for(bufs.size());
  ASSERT_EQ(objs.size(), bufs.size());
  for (size_t i = 0; i < objs.size(); ++i) EXPECT_EQ(int(objs[i].subgroup), want[i]) << "access unit " << i;
}

// An H.264 access unit: AUD, then (for SVC) a prefix NAL unit carrying temporal_id, then a slice.
GstBuffer* h264_svc_au(int tid, bool idr, GstClockTime pts) {
  std::vector<uint8_t> b = {0, 0, 0, 1, 0x09, 0xF0};  // access unit delimiter
  if (tid >= 0) {
    const uint8_t prefix[] = {0, 0, 0, 1, 0x6E,                  // nal_ref_idc 3, type 14 (prefix)
                              uint8_t(0x80 | (idr ? 0x40 : 0)),  // svc_extension_flag, idr_flag
                              0x80,                              // no_inter_layer_pred, dependency 0, quality 0
                              uint8_t(tid << 5 | 0x07)};         // temporal_id, output_flag, reserved bits
    b.insert(b.end(), std::begin(prefix), std::end(prefix));
  }
  const uint8_t slice[] = {0, 0, 0, 1, uint8_t(idr ? 0x65 : 0x41), 0x88, 0x84, 0x21, 0xA0};
  b.insert(b.end(), std::begin(slice), std::end(slice));
  GstBuffer* buf = gst_buffer_new_memdup(b.data(), b.size());
  GST_BUFFER_PTS(buf) = pts;
  if (!idr) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

TEST(MoqsinkMapping, H264SvcPrefixTemporalIdsBecomeSubgroups) {
  SinkUnderTest s("video/x-h264,stream-format=byte-stream,alignment=au", true);
  const int tids[] = {0, 2, 1, 2, 0, 2, 1, 2, -1};  // the last one: plain AVC, no prefix -> layer 0
  for (size_t i = 0; i < std::size(tids); ++i)
    ASSERT_EQ(s.push(h264_svc_au(tids[i], i == 0, i * GST_SECOND / 30)), GST_FLOW_OK);
  auto objs = s.wait_for(std::size(tids));
  ASSERT_EQ(objs.size(), std::size(tids));
  for (size_t i = 0; i < objs.size(); ++i) {
    const int layer = std::max(0, tids[i]);
    EXPECT_EQ(int(objs[i].subgroup), layer) << "AU " << i;
    // LOC Video Frame Marking (RFC 9626): S, E, I on the IDR, B on the base layer, TID.
    auto fm = bytes_property(objs[i], 0x09);
    ASSERT_TRUE(fm && fm->size() == 1) << "AU " << i;
    const uint8_t m = uint8_t((*fm)[0]);
    EXPECT_EQ(m & 0xC0, 0xC0);
    EXPECT_EQ(bool(m & 0x20), i == 0);
    EXPECT_EQ(bool(m & 0x08), layer == 0);
    EXPECT_EQ(m & 0x07, layer);
  }
}

TEST(MoqsinkMapping, CodecDataTravelsAsLocVideoConfigOnEachGroup) {
  SinkUnderTest s("video/x-h264,stream-format=avc,alignment=au,codec_data=(buffer)0164001fffe100041234abcd", false);
  const bool keys[] = {true, false, true, false};
  for (size_t i = 0; i < std::size(keys); ++i) ASSERT_EQ(s.push(frame(i * GST_MSECOND, keys[i])), GST_FLOW_OK);
  auto objs = s.wait_for(std::size(keys));
  ASSERT_EQ(objs.size(), std::size(keys));
  const std::string avcc("\x01\x64\x00\x1f\xff\xe1\x00\x04\x12\x34\xab\xcd", 12);
  for (size_t i = 0; i < objs.size(); ++i) {
    auto config = bytes_property(objs[i], 0x0D);
    EXPECT_EQ(config.has_value(), keys[i]) << i;
    if (config) {
      EXPECT_EQ(*config, avcc);
    }
  }
}

TEST(MoqsinkMapping, DatagramPadSendsObjectsAsDatagrams) {
  SinkUnderTest s("audio/x-opus,channel-mapping-family=0", false, GST_SECOND, /*datagrams=*/true);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(s.push(frame(i * 20 * GST_MSECOND, true, 80)), GST_FLOW_OK);
  auto objs = s.wait_for(10);  // loopback: none lost
  ASSERT_EQ(objs.size(), 10u);
  for (const auto& o : objs) {
    EXPECT_TRUE(o.datagram);
    EXPECT_EQ(o.payload.size(), 80u);
  }
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
