// Codec strings, codec configuration and caps: what both formats' catalogs need.
#include <cstdio>
#include <cstdlib>

#include "packaging.h"

namespace moqgst::packaging {

namespace {

std::string bytes_of(const GValue* v) {
  if (!v || !G_VALUE_HOLDS(v, GST_TYPE_BUFFER)) return "";
  GstBuffer* b = gst_value_get_buffer(v);
  GstMapInfo m;
  if (!b || !gst_buffer_map(b, &m, GST_MAP_READ)) return "";
  std::string out(reinterpret_cast<const char*>(m.data), m.size);
  gst_buffer_unmap(b, &m);
  return out;
}

GstBuffer* buffer_of(const void* data, size_t size) { return gst_buffer_new_memdup(data, size); }

// avc1.PPCCLL from an avcC (profile, constraint flags, level), else from caps fields.
std::string avc1(const GstStructure* s) {
  const std::string cd = bytes_of(gst_structure_get_value(s, "codec_data"));
  char buf[16];
  if (cd.size() >= 4) {
    std::snprintf(buf, sizeof buf, "avc1.%02x%02x%02x", uint8_t(cd[1]), uint8_t(cd[2]), uint8_t(cd[3]));
    return buf;
  }
  const gchar* profile = gst_structure_get_string(s, "profile");
  unsigned p = 0x42;  // baseline unless told otherwise
  if (profile) {
    const std::string pr(profile);
    if (pr == "main") p = 0x4d;
    else if (pr.rfind("high", 0) == 0)
      p = pr == "high" ? 0x64 : pr == "high-10" ? 0x6e : pr.find("4:2:2") != std::string::npos ? 0x7a : 0xf4;
    else if (pr == "constrained-baseline") p = 0x42;
  }
  const gchar* level = gst_structure_get_string(s, "level");
  unsigned l = 0x1f;
  if (level) l = unsigned(std::atof(level) * 10 + 0.5);
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

std::string codec_config(const GstCaps* caps) {
  if (!caps || gst_caps_is_empty(caps) || gst_caps_is_any(caps)) return "";
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  if (const GValue* cd = gst_structure_get_value(s, "codec_data")) return bytes_of(cd);
  const GValue* sh = gst_structure_get_value(s, "streamheader");  // OpusHead, Vorbis identification
  if (sh && GST_VALUE_HOLDS_ARRAY(sh) && gst_value_array_get_size(sh) > 0)
    return bytes_of(gst_value_array_get_value(sh, 0));
  return "";
}

GstCaps* caps_for_codec(const std::string& c, const std::string& description, int width, int height, int rate,
                        int channels) {
  GstCaps* caps = nullptr;
  const bool has_desc = !description.empty();
  if (c.rfind("avc1", 0) == 0 || c.rfind("avc3", 0) == 0) {
    caps = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, has_desc ? "avc" : "byte-stream",
                               "alignment", G_TYPE_STRING, "au", nullptr);
  } else if (c.rfind("hev1", 0) == 0 || c.rfind("hvc1", 0) == 0) {
    caps = gst_caps_new_simple("video/x-h265", "stream-format", G_TYPE_STRING,
                               has_desc ? (c[2] == 'c' ? "hvc1" : "hev1") : "byte-stream", "alignment", G_TYPE_STRING,
                               "au", nullptr);
  } else if (c == "vp8") {
    caps = gst_caps_new_empty_simple("video/x-vp8");
  } else if (c.rfind("vp09", 0) == 0 || c == "vp9") {
    caps = gst_caps_new_empty_simple("video/x-vp9");
  } else if (c.rfind("av01", 0) == 0) {
    caps = gst_caps_new_empty_simple("video/x-av1");
  } else if (c == "opus") {
    // Mapping family 0 carries mono and stereo without a header; more channels need OpusHead.
    caps = gst_caps_new_empty_simple("audio/x-opus");
    if (channels <= 2) gst_caps_set_simple(caps, "channel-mapping-family", G_TYPE_INT, 0, nullptr);
  } else if (c.rfind("mp4a.40", 0) == 0) {
    caps = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4, "stream-format", G_TYPE_STRING,
                               has_desc ? "raw" : "adts", nullptr);
  } else {
    return nullptr;
  }
  // Values from the network: only plausible ones reach the caps.
  if (width > 16384 || height > 16384) width = height = 0;
  if (rate > 768000) rate = 0;
  if (channels > 255) channels = 0;
  GstStructure* s = gst_caps_get_structure(caps, 0);
  if (width > 0 && height > 0) gst_structure_set(s, "width", G_TYPE_INT, width, "height", G_TYPE_INT, height, nullptr);
  if (rate > 0) gst_structure_set(s, "rate", G_TYPE_INT, rate, nullptr);
  if (channels > 0) gst_structure_set(s, "channels", G_TYPE_INT, channels, nullptr);
  if (has_desc && !gst_structure_has_name(s, "audio/x-opus") && !gst_structure_has_name(s, "video/x-vp8")) {
    GstBuffer* b = buffer_of(description.data(), description.size());
    gst_structure_set(s, "codec_data", GST_TYPE_BUFFER, b, nullptr);
    gst_buffer_unref(b);
  }
  return caps;
}

GstCaps* caps_with_config(const GstCaps* caps, std::span<const uint8_t> config) {
  if (!caps || config.empty() || gst_caps_is_empty(caps) || gst_caps_is_any(caps)) return nullptr;
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  if (gst_structure_has_field(s, "codec_data")) return nullptr;
  const char* format = nullptr;
  if (gst_structure_has_name(s, "video/x-h264")) format = "avc";
  else if (gst_structure_has_name(s, "video/x-h265")) format = "hvc1";
  else if (gst_structure_has_name(s, "audio/mpeg")) format = "raw";
  else return nullptr;  // VP8/VP9/Opus decode without it
  GstCaps* out = gst_caps_copy(caps);
  GstBuffer* b = buffer_of(config.data(), config.size());
  gst_caps_set_simple(out, "stream-format", G_TYPE_STRING, format, "codec_data", GST_TYPE_BUFFER, b, nullptr);
  gst_buffer_unref(b);
  return out;
}

const Packager* by_name(const std::string& name) {
  if (name == "msf" || name == "loc") return &msf();
  if (name == "hang") return &hang();
  return nullptr;
}

}  // namespace moqgst::packaging
