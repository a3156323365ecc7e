// The MSF catalog moqsink publishes and moqsrc reads: codec strings, fields, and caps round trip.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include "../../gst/moq/catalog.h"

namespace {

using moqgst::build_catalog;
using moqgst::caps_from_catalog;
using moqgst::codec_string;

GstCaps* caps(const char* s) { return gst_caps_from_string(s); }

TEST(Catalog, CodecStrings) {
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
  for (GstCaps* c : {h264, h264_fields, vp8, opus, any}) gst_caps_unref(c);
}

TEST(Catalog, BuildsMsfFieldsAndRoundTripsCaps) {
  GstCaps* video = caps("video/x-vp8,width=1280,height=720,framerate=30/1");
  GstCaps* audio = caps("audio/x-opus,rate=48000,channels=2,channel-mapping-family=0");
  const std::string json = build_catalog({{"video", video, 128}, {"audio", audio, 64}});
  JsonParser* p = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(p, json.c_str(), -1, nullptr)) << json;
  JsonObject* root = json_node_get_object(json_parser_get_root(p));
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
  GstCaps* back = caps_from_catalog(json, "audio", &err);
  ASSERT_TRUE(back) << err;
  EXPECT_TRUE(gst_caps_is_equal(back, audio));
  gst_caps_unref(back);
  EXPECT_FALSE(caps_from_catalog(json, "missing", &err));
  EXPECT_NE(err.find("missing"), std::string::npos);
  gst_caps_unref(video);
  gst_caps_unref(audio);
}

TEST(Catalog, ForeignCatalogsWithoutGstCapsStillWork) {
  // What another publisher's MSF catalog looks like: codec strings only.
  const std::string json = R"({"version":1,"tracks":[{"name":"v","packaging":"loc","isLive":true,"codec":"avc1.42e01f"},
                                {"name":"a","codec":"opus","samplerate":48000,"channelConfig":"2"},
                                {"name":"x","codec":"mystery"}]})";
  std::string err;
  GstCaps* v = caps_from_catalog(json, "v", &err);
  ASSERT_TRUE(v);
  EXPECT_TRUE(gst_structure_has_name(gst_caps_get_structure(v, 0), "video/x-h264"));
  gst_caps_unref(v);
  GstCaps* a = caps_from_catalog(json, "a", &err);
  ASSERT_TRUE(a);
  gst_caps_unref(a);
  err.clear();
  EXPECT_FALSE(caps_from_catalog(json, "x", &err));
  EXPECT_NE(err.find("mystery"), std::string::npos);
  err.clear();
  EXPECT_FALSE(caps_from_catalog("{not json", "v", &err));
  EXPECT_NE(err.find("not JSON"), std::string::npos);
  EXPECT_FALSE(caps_from_catalog("[1,2]", "v", &err));
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
