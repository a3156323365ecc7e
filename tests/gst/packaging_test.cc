// The packaging formats moqsink writes and moqsrc reads (gst/moq/packaging/): catalogs (MSF and
// hang) built from caps and read back, foreign catalogs (what @moq/publish and other publishers
// send), hostile ones, and each format's object framing round trip.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include "../../gst/moq/packaging/packaging.h"

namespace {

using namespace moqgst::packaging;
using moqt::session::Object;
using moqt::session::ReceivedObject;

GstCaps* caps(const char* s) { return gst_caps_from_string(s); }

// The caps a catalog gives `track` (null with the reason in `err` if none).
GstCaps* caps_of(const Packager& f, const std::string& json, const std::string& track, std::string* err) {
  auto entries = f.parse_catalog(json, err);
  if (!entries) return nullptr;
  GstCaps* out = nullptr;
  for (CatalogEntry& e : *entries) {
    if (e.name == track && !out) out = std::exchange(e.caps, nullptr);
    if (e.caps) gst_caps_unref(e.caps);
  }
  if (!out && err->empty()) *err = "no track " + track;
  return out;
}

JsonObject* parse(JsonParser* p, const std::string& json) {
  EXPECT_TRUE(json_parser_load_from_data(p, json.c_str(), -1, nullptr)) << json;
  return json_node_get_object(json_parser_get_root(p));
}

ReceivedObject received(const Object& o) {
  ReceivedObject r;
  r.location = o.location;
  r.properties = o.properties;
  r.payload.assign(o.payload.data.begin(), o.payload.data.end());
  return r;
}

moqt::quic::SendBuffer bytes(const std::string& s) {
  return moqt::quic::SendBuffer::copy(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST(Codecs, CodecStrings) {
  // avcC: version 1, profile 0x64 (high), constraints 0x00, level 0x1f (3.1).
  GstCaps* h264 = caps("video/x-h264,stream-format=avc,alignment=au,codec_data=(buffer)0164001fffe1");
  EXPECT_EQ(codec_string(h264), "avc1.64001f");
  GstCaps* h264_fields = caps("video/x-h264,stream-format=byte-stream,profile=main,level=(string)4.1");
  EXPECT_EQ(codec_string(h264_fields), "avc1.4d0029");
  GstCaps* vp8 = caps("video/x-vp8,width=320,height=240");
  GstCaps* opus = caps("audio/x-opus,rate=48000,channels=2");
  EXPECT_EQ(codec_string(vp8), "vp8");
  EXPECT_EQ(codec_string(opus), "opus");
  GstCaps* any = gst_caps_new_any();
  EXPECT_EQ(codec_string(any), "");
  EXPECT_EQ(codec_config(h264), std::string("\x01\x64\x00\x1f\xff\xe1", 6));
  EXPECT_EQ(codec_config(vp8), "");
  for (GstCaps* c : {h264, h264_fields, vp8, opus, any}) gst_caps_unref(c);
}

TEST(Codecs, ConfigFromObjectsCompletesCaps) {
  const uint8_t avcc[] = {0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1};
  GstCaps* bytestream = caps("video/x-h264,stream-format=byte-stream,alignment=au");
  GstCaps* done = caps_with_config(bytestream, avcc);
  ASSERT_TRUE(done);
  const GstStructure* s = gst_caps_get_structure(done, 0);
  EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "avc");
  EXPECT_TRUE(gst_structure_has_field(s, "codec_data"));
  EXPECT_FALSE(caps_with_config(done, avcc));  // already configured: unchanged
  GstCaps* vp8 = caps("video/x-vp8");
  EXPECT_FALSE(caps_with_config(vp8, avcc));  // VP8 needs none
  EXPECT_FALSE(caps_with_config(bytestream, {}));
  for (GstCaps* c : {bytestream, done, vp8}) gst_caps_unref(c);
}

TEST(Msf, BuildsFieldsAndRoundTripsCaps) {
  GstCaps* video = caps("video/x-vp8,width=1280,height=720,framerate=30/1");
  GstCaps* audio = caps("audio/x-opus,rate=48000,channels=2,channel-mapping-family=0");
  EXPECT_STREQ(msf().catalog_track(), "catalog");
  const std::string json = msf().build_catalog({{"video", video, 128}, {"audio", audio, 64}});
  JsonParser* p = json_parser_new();
  JsonObject* root = parse(p, json);
  EXPECT_EQ(json_object_get_int_member(root, "version"), 1);
  JsonArray* tracks = json_object_get_array_member(root, "tracks");
  ASSERT_EQ(json_array_get_length(tracks), 2u);
  JsonObject* v = json_array_get_object_element(tracks, 0);
  EXPECT_STREQ(json_object_get_string_member(v, "name"), "video");
  EXPECT_STREQ(json_object_get_string_member(v, "role"), "video");
  EXPECT_STREQ(json_object_get_string_member(v, "codec"), "vp8");
  EXPECT_STREQ(json_object_get_string_member(v, "packaging"), "loc");
  EXPECT_EQ(json_object_get_int_member(v, "width"), 1280);
  EXPECT_DOUBLE_EQ(json_object_get_double_member(v, "framerate"), 30.0);
  JsonObject* a = json_array_get_object_element(tracks, 1);
  EXPECT_EQ(json_object_get_int_member(a, "samplerate"), 48000);
  EXPECT_STREQ(json_object_get_string_member(a, "channelConfig"), "2");
  g_object_unref(p);
  std::string err;
  GstCaps* back = caps_of(msf(), json, "audio", &err);
  ASSERT_TRUE(back) << err;
  EXPECT_TRUE(gst_caps_is_equal(back, audio));
  gst_caps_unref(back);
  err.clear();
  EXPECT_FALSE(caps_of(msf(), json, "missing", &err));
  EXPECT_NE(err.find("missing"), std::string::npos);
  gst_caps_unref(video);
  gst_caps_unref(audio);
}

TEST(Msf, ForeignCatalogsWithoutGstCapsStillWork) {
  // What another publisher's MSF catalog looks like: codec strings only, init data in base64.
  const std::string json = R"({"version":1,"tracks":[{"name":"v","packaging":"loc","isLive":true,"codec":"avc1.42e01f",
                                 "width":640,"height":360,"initData":"AULAHv/h"},
                                {"name":"a","codec":"opus","samplerate":48000,"channelConfig":"2"},
                                {"name":"x","codec":"mystery"}]})";
  std::string err;
  GstCaps* v = caps_of(msf(), json, "v", &err);
  ASSERT_TRUE(v) << err;
  const GstStructure* vs = gst_caps_get_structure(v, 0);
  EXPECT_TRUE(gst_structure_has_name(vs, "video/x-h264"));
  EXPECT_STREQ(gst_structure_get_string(vs, "stream-format"), "avc");  // initData = avcC
  EXPECT_TRUE(gst_structure_has_field(vs, "codec_data"));
  gst_caps_unref(v);
  GstCaps* a = caps_of(msf(), json, "a", &err);
  ASSERT_TRUE(a);
  gint rate = 0;
  EXPECT_TRUE(gst_structure_get_int(gst_caps_get_structure(a, 0), "rate", &rate));
  EXPECT_EQ(rate, 48000);
  gst_caps_unref(a);
  err.clear();
  EXPECT_FALSE(caps_of(msf(), json, "x", &err));
  EXPECT_NE(err.find("mystery"), std::string::npos);
  err.clear();
  EXPECT_FALSE(msf().parse_catalog("{not json", &err));
  EXPECT_NE(err.find("not JSON"), std::string::npos);
  EXPECT_FALSE(msf().parse_catalog("[1,2]", &err));
}

// A peer's "gstCaps" is parsed only when it names nothing new: GStreamer interns media types and
// field names for good, so ever new names in a hostile catalog would grow the process forever.
// And a bad hex buffer value (a use after free in GStreamer 1.22's deserializer) never reaches it.
TEST(Msf, HostileGstCapsInternNothingAndFallBackToTheCodec) {
  const std::string json = R"({"version":1,"tracks":[
      {"name":"a","codec":"avc1.42e01f","gstCaps":"video/x-h264, evil-field-a1b2c3=(int)1"},
      {"name":"b","codec":"avc1.42e01f","gstCaps":"evil/media-d4e5f6, width=(int)1"},
      {"name":"c","codec":"avc1.42e01f","gstCaps":"video/x-h264, codec_data=(buffer)zz, width=(int)320"},
      {"name":"d","codec":"avc1.42e01f","gstCaps":"video/x-h264, width=(evil-type-g7h8)1"},
      {"name":"e","codec":"avc1.42e01f","gstCaps":"video/x-h264,width=(int)320,evil-nospace-i9=(int)1"},
      {"name":"f","codec":"avc1.42e01f","gstCaps":"video/x-h264, stream-format=(string)avc, codec_data=(buffer)0142c01e, width=(int)320"}]})";
  std::string err;
  auto entries = msf().parse_catalog(json, &err);
  ASSERT_TRUE(entries) << err;
  ASSERT_EQ(entries->size(), 6u);
  for (const char* q : {"evil-field-a1b2c3", "evil/media-d4e5f6", "evil-type-g7h8", "evil-nospace-i9"})
    EXPECT_EQ(g_quark_try_string(q), 0u) << q << " was interned";
  for (auto& e : *entries) {
    ASSERT_TRUE(e.caps) << e.name;
    const GstStructure* s = gst_caps_get_structure(e.caps, 0);
    EXPECT_TRUE(gst_structure_has_name(s, "video/x-h264")) << e.name;  // from the codec string
    if (e.name == "f") {
      EXPECT_TRUE(gst_structure_has_field(s, "codec_data")) << "plain caps are taken as they are";
    }
    if (e.name == "c") {
      EXPECT_FALSE(gst_structure_has_field(s, "codec_data"));
    }
    gst_caps_unref(e.caps);
  }
}

TEST(Msf, LocPropertiesAndTimescales) {
  const std::string config = "\x01\x64\x00\x1f";
  Frame f;
  f.video = true;
  f.group_start = true;
  f.keyframe = true;
  f.layer = 1;
  f.wall_us = 1'700'000'000'000'000;
  f.running_us = 40'000;
  f.config = &config;
  Object o;
  msf().pack(f, bytes("frame"), &o);
  ASSERT_EQ(o.properties.size(), 3u);  // frame marking 0x09, video config 0x0D, timestamp 0x10: ascending
  EXPECT_EQ(o.properties[0].type, 0x09u);
  EXPECT_EQ(o.properties[0].bytes_value, std::string(1, char(0xC0 | 0x20 | 1)));
  EXPECT_EQ(o.properties[1].type, 0x0Du);
  EXPECT_EQ(o.properties[2].type, 0x10u);
  EXPECT_EQ(std::string(o.payload.data.begin(), o.payload.data.end()), "frame");
  Unpacked u;
  const ReceivedObject r1 = received(o);  // Unpacked points into it
  ASSERT_TRUE(msf().unpack(r1, std::nullopt, &u));
  EXPECT_EQ(u.offset, 0u);
  EXPECT_TRUE(u.wall_clock);
  EXPECT_EQ(*u.pts, GstClockTime(1'700'000'000'000'000) * 1000);
  EXPECT_EQ(std::string(u.config.begin(), u.config.end()), config);

  // No clock: media time with a Timescale; not the group's first object: no config.
  Frame g = f;
  g.wall_us.reset();
  g.group_start = false;
  g.layer.reset();
  Object o2;
  msf().pack(g, bytes("x"), &o2);
  ASSERT_EQ(o2.properties.size(), 2u);
  EXPECT_EQ(o2.properties[0].type, 0x08u);
  EXPECT_EQ(o2.properties[0].int_value, 1000000u);
  Unpacked u2;
  const ReceivedObject r2 = received(o2);
  ASSERT_TRUE(msf().unpack(r2, std::nullopt, &u2));
  EXPECT_FALSE(u2.wall_clock);
  EXPECT_EQ(*u2.pts, 40 * GST_MSECOND);

  // A timestamp in the units of a track-level Timescale (@moq/net: milliseconds).
  ReceivedObject r;
  r.properties.push_back(moqt::wire::KeyValuePair::integer(0x10, 1234));
  r.payload = {1, 2, 3};
  Unpacked u3;
  ASSERT_TRUE(msf().unpack(r, 1000, &u3));
  EXPECT_FALSE(u3.wall_clock);
  EXPECT_EQ(*u3.pts, 1234 * GST_MSECOND);
}

TEST(Hang, BuildsRenditionsFromCaps) {
  GstCaps* video = caps("video/x-h264,stream-format=avc,alignment=au,width=1280,height=720,framerate=30/1,"
                        "codec_data=(buffer)0164001fffe1");
  GstCaps* audio = caps("audio/x-opus,rate=48000,channels=2,channel-mapping-family=0");
  GstCaps* data = caps("application/x-json");
  EXPECT_STREQ(hang().catalog_track(), "catalog.json");
  const std::string json = hang().build_catalog({{"video", video, 128}, {"audio", audio, 64}, {"meta", data, 200}});
  JsonParser* p = json_parser_new();
  JsonObject* root = parse(p, json);
  JsonObject* v = json_object_get_object_member(
      json_object_get_object_member(json_object_get_object_member(root, "video"), "renditions"), "video");
  ASSERT_TRUE(v) << json;
  EXPECT_STREQ(json_object_get_string_member(v, "codec"), "avc1.64001f");
  EXPECT_STREQ(json_object_get_string_member(json_object_get_object_member(v, "container"), "kind"), "legacy");
  EXPECT_STREQ(json_object_get_string_member(v, "description"), "0164001fffe1");
  EXPECT_EQ(json_object_get_int_member(v, "codedWidth"), 1280);
  EXPECT_EQ(json_object_get_int_member(v, "codedHeight"), 720);
  JsonObject* display = json_object_get_object_member(json_object_get_object_member(root, "video"), "display");
  EXPECT_EQ(json_object_get_int_member(display, "width"), 1280);
  JsonObject* a = json_object_get_object_member(
      json_object_get_object_member(json_object_get_object_member(root, "audio"), "renditions"), "audio");
  ASSERT_TRUE(a) << json;
  EXPECT_STREQ(json_object_get_string_member(a, "codec"), "opus");
  EXPECT_EQ(json_object_get_int_member(a, "sampleRate"), 48000);
  EXPECT_EQ(json_object_get_int_member(a, "numberOfChannels"), 2);
  EXPECT_FALSE(json_object_has_member(a, "description"));
  EXPECT_EQ(json_object_get_size(root), 2u);  // no section for the data track
  g_object_unref(p);

  // And back: the avcC makes length-prefixed H.264 with codec_data; Opus gets rate/channels.
  std::string err;
  GstCaps* vb = caps_of(hang(), json, "video", &err);
  ASSERT_TRUE(vb) << err;
  const GstStructure* s = gst_caps_get_structure(vb, 0);
  EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "avc");
  EXPECT_TRUE(gst_structure_has_field(s, "codec_data"));
  gint w = 0;
  EXPECT_TRUE(gst_structure_get_int(s, "width", &w));
  EXPECT_EQ(w, 1280);
  GstCaps* ab = caps_of(hang(), json, "audio", &err);
  ASSERT_TRUE(ab) << err;
  EXPECT_TRUE(gst_caps_can_intersect(ab, audio));
  for (GstCaps* c : {video, audio, data, vb, ab}) gst_caps_unref(c);
}

TEST(Hang, ReadsWhatMoqPublishSendsAndOlderForms) {
  // @moq/publish 0.2.x: renditions by track name, Annex B H.264 (no description), Opus.
  const std::string json = R"({"video":{"renditions":{"video/hd":{"codec":"avc1.640028","container":{"kind":"legacy"},
      "codedWidth":1280,"codedHeight":720,"framerate":30,"optimizeForLatency":true}},"display":{"width":1280,"height":720}},
      "audio":{"renditions":{"audio/data":{"codec":"opus","container":{"kind":"legacy"},"sampleRate":48000,
      "numberOfChannels":1,"bitrate":64000}}}})";
  auto entries = hang().parse_catalog(json, nullptr);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].name, "video/hd");
  EXPECT_STREQ(gst_structure_get_string(gst_caps_get_structure((*entries)[0].caps, 0), "stream-format"), "byte-stream");
  EXPECT_EQ((*entries)[1].name, "audio/data");
  gint ch = 0;
  EXPECT_TRUE(gst_structure_get_int(gst_caps_get_structure((*entries)[1].caps, 0), "channels", &ch));
  EXPECT_EQ(ch, 1);
  for (auto& e : *entries) gst_caps_unref(e.caps);

  // Older hang: an array of {track, config} for video, one such object for audio.
  const std::string old = R"({"video":[{"track":{"name":"v0"},"config":{"codec":"vp8","codedWidth":320,"codedHeight":240}}],
      "audio":{"track":{"name":"a0"},"config":{"codec":"opus","sampleRate":48000,"numberOfChannels":2}}})";
  auto olds = hang().parse_catalog(old, nullptr);
  ASSERT_TRUE(olds);
  ASSERT_EQ(olds->size(), 2u);
  EXPECT_EQ((*olds)[0].name, "v0");
  EXPECT_TRUE(gst_structure_has_name(gst_caps_get_structure((*olds)[0].caps, 0), "video/x-vp8"));
  EXPECT_EQ((*olds)[1].name, "a0");
  for (auto& e : *olds) gst_caps_unref(e.caps);
}

TEST(Hang, UnsupportedAndHostileCatalogs) {
  std::string err;
  auto cmaf = hang().parse_catalog(
      R"({"video":{"renditions":{"v":{"codec":"avc1.640028","container":{"kind":"cmaf","init":"AAAA"}}}}})", &err);
  ASSERT_TRUE(cmaf);
  ASSERT_EQ(cmaf->size(), 1u);
  EXPECT_EQ((*cmaf)[0].caps, nullptr);
  EXPECT_NE(err.find("cmaf"), std::string::npos) << err;
  // Members of the wrong type, odd hex, absurd sizes: no crash, no CRITICAL (fatal here).
  for (const char* bad : {R"({"video":{"renditions":{"v":{"codec":7,"container":[],"codedWidth":"x"}}}})",
                          R"({"video":{"renditions":{"v":{"codec":"avc1.640028","description":"abc"}}}})",
                          R"({"video":{"renditions":{"v":{"codec":"avc1.640028","description":"zz"}}}})",
                          R"({"video":{"renditions":{"v":null,"w":{"codec":"vp8","codedWidth":1e300,"codedHeight":-5}}}})",
                          R"({"audio":{"renditions":{"a":{"codec":"opus","sampleRate":"48000","numberOfChannels":99999}}}})",
                          R"({"video":[1,"x",{"track":7}],"audio":"no"})", R"([])", R"("catalog")", "{", ""}) {
    err.clear();
    auto e = hang().parse_catalog(bad, &err);
    if (e)
      for (auto& x : *e)
        if (x.caps) gst_caps_unref(x.caps);
  }
  auto w = hang().parse_catalog(R"({"video":{"renditions":{"w":{"codec":"vp8","codedWidth":1e300,"codedHeight":-5}}}})", &err);
  ASSERT_TRUE(w);
  ASSERT_EQ(w->size(), 1u);
  ASSERT_TRUE((*w)[0].caps);
  EXPECT_FALSE(gst_structure_has_field(gst_caps_get_structure((*w)[0].caps, 0), "width"));
  gst_caps_unref((*w)[0].caps);
}

TEST(Hang, LegacyContainerRoundTrip) {
  for (uint64_t us : {uint64_t(0), uint64_t(63), uint64_t(64), uint64_t(16383), uint64_t(1) << 30, uint64_t(1) << 40}) {
    Frame f;
    f.running_us = us;
    f.wall_us = 1'700'000'000'000'000;  // hang carries media time, not the wall clock
    Object o;
    hang().pack(f, bytes("codec-bytes"), &o);
    EXPECT_TRUE(o.properties.empty());
    const size_t prefix = us < 64 ? 1 : us < 16384 ? 2 : us < (uint64_t(1) << 30) ? 4 : 8;
    ASSERT_EQ(o.payload.data.size(), prefix + 11) << us;
    Unpacked u;
    ASSERT_TRUE(hang().unpack(received(o), std::nullopt, &u));
    EXPECT_EQ(u.offset, prefix);
    EXPECT_FALSE(u.wall_clock);
    EXPECT_EQ(*u.pts, us * GST_USECOND);
    EXPECT_EQ(std::string(o.payload.data.begin() + long(u.offset), o.payload.data.end()), "codec-bytes");
  }
  // @moq/publish's bytes: 4-byte varint 0x1a7444 µs, then the frame.
  ReceivedObject r;
  r.payload = {0x80, 0x1a, 0x74, 0x44, 0xf8, 0xff};
  Unpacked u;
  ASSERT_TRUE(hang().unpack(r, std::nullopt, &u));
  EXPECT_EQ(*u.pts, GstClockTime(0x1a7444) * GST_USECOND);
  EXPECT_EQ(u.offset, 4u);
  // Truncated prefix: not this framing.
  r.payload = {0x80, 0x1a};
  EXPECT_FALSE(hang().unpack(r, std::nullopt, &u));
  EXPECT_EQ(by_name("hang"), &hang());
  EXPECT_EQ(by_name("loc"), &msf());
  EXPECT_EQ(by_name("cmaf"), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  g_log_set_always_fatal(GLogLevelFlags(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
