// LOC objects + the MSF catalog (draft-ietf-moq-loc, draft-ietf-moq-msf). The catalog is a JSON
// track "catalog" listing the tracks with WebCodecs codec strings, sizes, rates and init data;
// we add "gstCaps" (the exact caps string: other readers ignore unknown fields, and moqsrc gets
// the caps back losslessly). Each object carries LOC properties; its payload is the bitstream.
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>

#include "json_util.h"
#include "packaging.h"

namespace moqgst::packaging {

namespace {

using moqt::wire::KeyValuePair;

constexpr uint64_t kTimescale = 0x08;     // present: the timestamp is media time in these units
constexpr uint64_t kFrameMarking = 0x09;  // RFC 9626 one-byte form
constexpr uint64_t kVideoConfig = 0x0D;
constexpr uint64_t kAudioConfig = 0x0F;
constexpr uint64_t kTimestamp = 0x10;


class Msf final : public Packager {
 public:
  Format format() const override { return Format::kMsf; }
  const char* name() const override { return "msf"; }
  const char* catalog_track() const override { return "catalog"; }

  std::string build_catalog(const std::vector<TrackInfo>& tracks) const override {
    JsonBuilder* b = json_builder_new();
    json_builder_begin_object(b);
    json::member_int(b, "version", 1);
    json::member_int(b, "generatedAt", gint64(time(nullptr)) * 1000);
    json_builder_set_member_name(b, "isComplete");
    json_builder_add_boolean_value(b, FALSE);
    json_builder_set_member_name(b, "tracks");
    json_builder_begin_array(b);
    for (const TrackInfo& t : tracks) {
      json_builder_begin_object(b);
      json::member_string(b, "name", t.name.c_str());
      json::member_string(b, "packaging", "loc");
      json_builder_set_member_name(b, "isLive");
      json_builder_add_boolean_value(b, TRUE);
      if (t.caps && !gst_caps_is_empty(t.caps) && !gst_caps_is_any(t.caps)) {
        const GstStructure* s = gst_caps_get_structure(t.caps, 0);
        const std::string n = gst_structure_get_name(s);
        json::member_string(b, "role", n.rfind("video/", 0) == 0 ? "video" : n.rfind("audio/", 0) == 0 ? "audio" : "data");
        if (std::string c = codec_string(t.caps); !c.empty()) json::member_string(b, "codec", c.c_str());
        gint v;
        if (gst_structure_get_int(s, "width", &v)) json::member_int(b, "width", v);
        if (gst_structure_get_int(s, "height", &v)) json::member_int(b, "height", v);
        gint fn, fd;
        if (gst_structure_get_fraction(s, "framerate", &fn, &fd) && fd > 0 && fn > 0) {
          json_builder_set_member_name(b, "framerate");
          json_builder_add_double_value(b, double(fn) / fd);
        }
        if (gst_structure_get_int(s, "rate", &v)) json::member_int(b, "samplerate", v);
        if (gst_structure_get_int(s, "channels", &v)) json::member_string(b, "channelConfig", std::to_string(v).c_str());
        if (gst_structure_has_field(s, "codec_data")) {
          const std::string cd = codec_config(t.caps);
          gchar* b64 = g_base64_encode(reinterpret_cast<const guchar*>(cd.data()), cd.size());
          json::member_string(b, "initData", b64);
          g_free(b64);
        }
        gchar* cs = gst_caps_to_string(t.caps);
        json::member_string(b, "gstCaps", cs);
        g_free(cs);
      }
      json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json::finish(b);
  }

  // Whether a peer's "gstCaps" may be parsed: GStreamer interns every media type and field name
  // it meets (GQuarks live forever), so a hostile catalog with ever new names would grow the
  // process without bound. Only one structure of the codecs we carry, fields and value types we
  // know, nothing quoted or nested; anything else falls back to the codec string.
  static bool plain_caps_string(const std::string& cs) {
    static const GRegex* field = g_regex_new("[,\\s]([A-Za-z][A-Za-z0-9_-]*)\\s*=", G_REGEX_OPTIMIZE, GRegexMatchFlags(0), nullptr);
    static const GRegex* type = g_regex_new("\\(([^)]*)\\)", G_REGEX_OPTIMIZE, GRegexMatchFlags(0), nullptr);
    static const char* const kMedia[] = {"video/x-h264", "video/x-h265", "video/x-vp8", "video/x-vp9", "video/x-av1",
                                         "audio/x-opus", "audio/mpeg", "audio/x-flac", "audio/x-vorbis"};
    static const char* const kFields[] = {
        "stream-format", "alignment", "level", "profile", "tier", "width", "height", "framerate", "pixel-aspect-ratio",
        "interlace-mode", "chroma-format", "bit-depth-luma", "bit-depth-chroma", "colorimetry", "chroma-site",
        "multiview-mode", "multiview-flags", "codec_data", "streamheader", "parsed", "framed", "rate", "channels",
        "channel-mapping-family", "stream-count", "coupled-count", "mpegversion", "base-profile", "layer", "channel-mask"};
    static const char* const kTypes[] = {"string", "int", "uint", "fraction", "boolean", "buffer", "bitmask", "double",
                                         "float", "int64", "uint64", "GstBitmask", "GstFraction", "GstBuffer"};
    if (cs.size() > 4096 || cs.find_first_of(";\"\\") != std::string::npos) return false;
    const std::string media = cs.substr(0, cs.find(','));
    if (std::none_of(std::begin(kMedia), std::end(kMedia), [&](const char* m) { return media == m; })) return false;
    auto all_known = [&](const GRegex* re, const char* const* known, size_t n) {
      GMatchInfo* mi = nullptr;
      bool ok = true;
      g_regex_match(re, cs.c_str(), GRegexMatchFlags(0), &mi);
      for (; ok && g_match_info_matches(mi); g_match_info_next(mi, nullptr)) {
        gchar* word = g_match_info_fetch(mi, 1);
        ok = std::any_of(known, known + n, [&](const char* k) { return !strcmp(word, k); });
        g_free(word);
      }
      g_match_info_free(mi);
      return ok;
    };
    // GStreamer 1.22 unrefs a buffer value before unmapping it when its hex is bad (a use after
    // free): a buffer must be an even number of hex digits.
    static const GRegex* buffer = g_regex_new("\\((?:buffer|GstBuffer)\\)\\s*([^,\\s>}]*)", G_REGEX_OPTIMIZE,
                                              GRegexMatchFlags(0), nullptr);
    GMatchInfo* bi = nullptr;
    bool hex_ok = true;
    g_regex_match(buffer, cs.c_str(), GRegexMatchFlags(0), &bi);
    for (; hex_ok && g_match_info_matches(bi); g_match_info_next(bi, nullptr)) {
      gchar* hex = g_match_info_fetch(bi, 1);
      const size_t n = strlen(hex);
      hex_ok = n % 2 == 0 && strspn(hex, "0123456789abcdefABCDEF") == n;
      g_free(hex);
    }
    g_match_info_free(bi);
    if (!hex_ok) return false;
    // Every "=" must belong to a field the regex saw (no field hidden from the check).
    size_t eq = std::count(cs.begin(), cs.end(), '='), fields = 0;
    GMatchInfo* mi = nullptr;
    g_regex_match(field, cs.c_str(), GRegexMatchFlags(0), &mi);
    for (; g_match_info_matches(mi); g_match_info_next(mi, nullptr)) ++fields;
    g_match_info_free(mi);
    return eq == fields && all_known(field, kFields, std::size(kFields)) && all_known(type, kTypes, std::size(kTypes));
  }

  std::optional<std::vector<CatalogEntry>> parse_catalog(const std::string& text, std::string* error) const override {
    JsonParser* p = nullptr;
    JsonObject* root = json::parse_object(text, &p, error);
    JsonArray* tracks = json::array(root, "tracks");
    if (!tracks) {
      if (root && error) *error = "catalog has no 'tracks' array";
      g_object_unref(p);
      return std::nullopt;
    }
    std::vector<CatalogEntry> out;
    for (guint i = 0; i < json_array_get_length(tracks); ++i) {
      JsonNode* en = json_array_get_element(tracks, i);
      if (!JSON_NODE_HOLDS_OBJECT(en)) continue;
      JsonObject* t = json_node_get_object(en);
      const char* name = json::string(t, "name", "");
      if (!*name) continue;
      std::string why;
      GstCaps* caps = caps_of_entry(t, name, &why);
      if (!caps && error && error->empty()) *error = why;
      out.push_back({name, caps});
    }
    g_object_unref(p);
    return out;
  }

  void pack(const Frame& f, moqt::quic::SendBuffer data, moqt::session::Object* o) const override {
    if (f.layer && f.video)  // whole frame (S, E), independent, base-layer sync, temporal id
      o->properties.push_back(KeyValuePair::bytes(
          kFrameMarking,
          std::string(1, char(0xC0 | (f.keyframe ? 0x20 : 0) | (*f.layer == 0 ? 0x08 : 0) | (*f.layer & 0x07)))));
    if (f.group_start && f.config && !f.config->empty())
      o->properties.push_back(KeyValuePair::bytes(f.video ? kVideoConfig : kAudioConfig, *f.config));
    // The capture time as wall-clock µs since the epoch (LOC's default, what browsers expect);
    // without a clock, media time in µs declared by a Timescale.
    if (f.wall_us) {
      o->properties.push_back(KeyValuePair::integer(kTimestamp, uint64_t(*f.wall_us)));
    } else if (f.running_us) {
      o->properties.push_back(KeyValuePair::integer(kTimescale, 1000000));
      o->properties.push_back(KeyValuePair::integer(kTimestamp, *f.running_us));
    }
    // Ascending by type: drafts >= 16 delta-code property types.
    std::sort(o->properties.begin(), o->properties.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
    o->payload = std::move(data);
  }

  bool unpack(const moqt::session::ReceivedObject& o, std::optional<uint64_t> track_timescale,
              Unpacked* out) const override {
    std::optional<uint64_t> ts, scale = track_timescale;
    for (const auto& kv : o.properties) {
      if (kv.is_bytes()) {
        if (kv.type == kVideoConfig || kv.type == kAudioConfig)
          out->config = {reinterpret_cast<const uint8_t*>(kv.bytes_value.data()), kv.bytes_value.size()};
        continue;
      }
      if (kv.type == kTimestamp) ts = kv.int_value;
      if (kv.type == kTimescale && kv.int_value > 0) scale = kv.int_value;
    }
    out->offset = 0;
    if (ts) {
      out->wall_clock = !scale;
      out->pts = scale ? gst_util_uint64_scale(*ts, GST_SECOND, *scale) : *ts * GST_USECOND;
    }
    return true;
  }

 private:
  static GstCaps* caps_of_entry(JsonObject* t, const std::string& track, std::string* error) {
    if (const char* cs = json::string(t, "gstCaps"); cs && plain_caps_string(cs))
      if (GstCaps* c = gst_caps_from_string(cs)) return c;
    const std::string codec = json::string(t, "codec", "");
    std::string init;
    if (const char* b64 = json::string(t, "initData")) {
      gsize n = 0;
      guchar* d = g_base64_decode(b64, &n);
      init.assign(reinterpret_cast<const char*>(d), n);
      g_free(d);
    }
    const int channels = atoi(json::string(t, "channelConfig", "0"));
    GstCaps* c = caps_for_codec(codec, init, int(json::integer(t, "width")), int(json::integer(t, "height")),
                                int(json::integer(t, "samplerate")), channels);
    if (!c && error) *error = "catalog lists track '" + track + "' with an unknown codec '" + codec + "'";
    return c;
  }
};

}  // namespace

const Packager& msf() {
  static const Msf instance;
  return instance;
}

}  // namespace moqgst::packaging
