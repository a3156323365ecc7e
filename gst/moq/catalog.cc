#include "catalog.h"

#include <optional>
#include <utility>

#include <json-glib/json-glib.h>

#include <cstdio>
#include <ctime>

namespace moqgst {

namespace {

// avc1.PPCCLL from an avcC codec_data (profile, constraint flags, level), else from caps fields.
std::string avc1(const GstStructure* s) {
  const GValue* cd = gst_structure_get_value(s, "codec_data");
  if (cd && G_VALUE_HOLDS(cd, GST_TYPE_BUFFER)) {
    GstBuffer* b = gst_value_get_buffer(cd);
    GstMapInfo m;
    if (b && gst_buffer_map(b, &m, GST_MAP_READ)) {
      std::string out;
      if (m.size >= 4) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "avc1.%02x%02x%02x", m.data[1], m.data[2], m.data[3]);
        out = buf;
      }
      gst_buffer_unmap(b, &m);
      if (!out.empty()) return out;
    }
  }
  const gchar* profile = gst_structure_get_string(s, "profile");
  unsigned p = 0x42;  // baseline unless told otherwise
  if (profile) {
    const std::string pr(profile);
    if (pr == "main") p = 0x4d;
    else if (pr.rfind("high", 0) == 0) p = pr == "high" ? 0x64 : pr == "high-10" ? 0x6e : pr.find("4:2:2") != std::string::npos ? 0x7a : 0xf4;
  }
  const gchar* level = gst_structure_get_string(s, "level");
  unsigned l = 0x1f;
  if (level) l = unsigned(std::atof(level) * 10 + 0.5);
  char buf[16];
  std::snprintf(buf, sizeof buf, "avc1.%02x00%02x", p, l);
  return buf;
}

}  // namespace

std::string codec_string(const GstCaps* caps) {
  if (!caps || gst_caps_is_empty(caps) || gst_caps_is_any(caps)) return "";
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const std::string n = gst_structure_get_name(s);
  if (n == "video/x-h264") return avc1(s);
  if (n == "video/x-h265") return "hev1.1.6.L93.B0";
  if (n == "video/x-vp8") return "vp8";
  if (n == "video/x-vp9") return "vp09.00.10.08";
  if (n == "video/x-av1") return "av01.0.04M.08";
  if (n == "audio/x-opus") return "opus";
  if (n == "audio/mpeg") return "mp4a.40.2";
  return "";
}

std::string build_catalog(const std::vector<CatalogTrack>& tracks) {
  JsonBuilder* b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "version");
  json_builder_add_int_value(b, 1);
  json_builder_set_member_name(b, "generatedAt");
  json_builder_add_int_value(b, gint64(time(nullptr)) * 1000);
  json_builder_set_member_name(b, "isComplete");
  json_builder_add_boolean_value(b, FALSE);
  json_builder_set_member_name(b, "tracks");
  json_builder_begin_array(b);
  for (const CatalogTrack& t : tracks) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, t.name.c_str());
    json_builder_set_member_name(b, "packaging");
    json_builder_add_string_value(b, "loc");
    json_builder_set_member_name(b, "isLive");
    json_builder_add_boolean_value(b, TRUE);
    if (t.caps && !gst_caps_is_empty(t.caps) && !gst_caps_is_any(t.caps)) {
      const GstStructure* s = gst_caps_get_structure(t.caps, 0);
      const std::string n = gst_structure_get_name(s);
      json_builder_set_member_name(b, "role");
      json_builder_add_string_value(b, n.rfind("video/", 0) == 0 ? "video" : n.rfind("audio/", 0) == 0 ? "audio" : "data");
      if (std::string c = codec_string(t.caps); !c.empty()) {
        json_builder_set_member_name(b, "codec");
        json_builder_add_string_value(b, c.c_str());
      }
      gint v;
      if (gst_structure_get_int(s, "width", &v)) {
        json_builder_set_member_name(b, "width");
        json_builder_add_int_value(b, v);
      }
      if (gst_structure_get_int(s, "height", &v)) {
        json_builder_set_member_name(b, "height");
        json_builder_add_int_value(b, v);
      }
      gint fn, fd;
      if (gst_structure_get_fraction(s, "framerate", &fn, &fd) && fd > 0 && fn > 0) {
        json_builder_set_member_name(b, "framerate");
        json_builder_add_double_value(b, double(fn) / fd);
      }
      if (gst_structure_get_int(s, "rate", &v)) {
        json_builder_set_member_name(b, "samplerate");
        json_builder_add_int_value(b, v);
      }
      if (gst_structure_get_int(s, "channels", &v)) {
        json_builder_set_member_name(b, "channelConfig");
        json_builder_add_string_value(b, std::to_string(v).c_str());
      }
      const GValue* cd = gst_structure_get_value(s, "codec_data");
      if (cd && G_VALUE_HOLDS(cd, GST_TYPE_BUFFER)) {
        GstMapInfo m;
        GstBuffer* buf = gst_value_get_buffer(cd);
        if (buf && gst_buffer_map(buf, &m, GST_MAP_READ)) {
          gchar* b64 = g_base64_encode(m.data, m.size);
          json_builder_set_member_name(b, "initData");
          json_builder_add_string_value(b, b64);
          g_free(b64);
          gst_buffer_unmap(buf, &m);
        }
      }
      gchar* cs = gst_caps_to_string(t.caps);
      json_builder_set_member_name(b, "gstCaps");
      json_builder_add_string_value(b, cs);
      g_free(cs);
    }
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  JsonGenerator* g = json_generator_new();
  JsonNode* root = json_builder_get_root(b);
  json_generator_set_root(g, root);
  gchar* text = json_generator_to_data(g, nullptr);
  std::string out(text);
  g_free(text);
  json_node_unref(root);
  g_object_unref(g);
  g_object_unref(b);
  return out;
}

namespace {
GstCaps* caps_of_entry(JsonObject* t, const std::string& track, std::string* error) {
  if (json_object_has_member(t, "gstCaps"))
    if (GstCaps* c = gst_caps_from_string(json_object_get_string_member(t, "gstCaps"))) return c;
  const gchar* codec = json_object_has_member(t, "codec") ? json_object_get_string_member(t, "codec") : "";
  const std::string c(codec ? codec : "");
  if (c.rfind("avc1", 0) == 0 || c.rfind("avc3", 0) == 0)
    return gst_caps_from_string("video/x-h264,stream-format=byte-stream,alignment=au");
  if (c.rfind("hev1", 0) == 0 || c.rfind("hvc1", 0) == 0)
    return gst_caps_from_string("video/x-h265,stream-format=byte-stream,alignment=au");
  if (c == "vp8") return gst_caps_from_string("video/x-vp8");
  if (c.rfind("vp09", 0) == 0) return gst_caps_from_string("video/x-vp9");
  if (c.rfind("av01", 0) == 0) return gst_caps_from_string("video/x-av1");
  if (c == "opus") return gst_caps_from_string("audio/x-opus,channel-mapping-family=0");
  if (error) *error = "catalog lists track '" + track + "' with an unknown codec '" + c + "'";
  return nullptr;
}
}  // namespace

std::optional<std::vector<CatalogEntry>> tracks_from_catalog(const std::string& json, std::string* error) {
  JsonParser* p = json_parser_new();
  GError* err = nullptr;
  if (!json_parser_load_from_data(p, json.data(), gssize(json.size()), &err)) {
    if (error) *error = std::string("catalog is not JSON: ") + err->message;
    g_error_free(err);
    g_object_unref(p);
    return std::nullopt;
  }
  JsonNode* root = json_parser_get_root(p);
  JsonObject* o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : nullptr;
  JsonArray* tracks = o && json_object_has_member(o, "tracks") ? json_object_get_array_member(o, "tracks") : nullptr;
  if (!tracks) {
    if (error) *error = "catalog has no 'tracks' array";
    g_object_unref(p);
    return std::nullopt;
  }
  std::vector<CatalogEntry> out;
  for (guint i = 0; i < json_array_get_length(tracks); ++i) {
    JsonNode* tn = json_array_get_element(tracks, i);
    if (!JSON_NODE_HOLDS_OBJECT(tn)) continue;
    JsonObject* t = json_node_get_object(tn);
    if (!json_object_has_member(t, "name")) continue;
    const gchar* name = json_object_get_string_member(t, "name");
    if (!name || !*name) continue;
    std::string why;
    GstCaps* caps = caps_of_entry(t, name, &why);
    if (!caps && error && error->empty()) *error = why;
    out.push_back({name, caps});
  }
  g_object_unref(p);
  return out;
}

GstCaps* caps_from_catalog(const std::string& json, const std::string& track, std::string* error) {
  auto tracks = tracks_from_catalog(json, error);
  if (!tracks) return nullptr;
  GstCaps* out = nullptr;
  for (CatalogEntry& e : *tracks) {
    if (e.name == track && !out) out = std::exchange(e.caps, nullptr);
    if (e.caps) gst_caps_unref(e.caps);
  }
  if (!out && error && error->empty()) *error = "catalog has no track '" + track + "'";
  return out;
}

}  // namespace moqgst
