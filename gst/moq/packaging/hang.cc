// moq.dev's "hang" format (@moq/watch, @moq/publish; reference/moqt-notes.md §8.5): the catalog
// track "catalog.json" holds {"video":{"renditions":{NAME:{codec, container, description (hex),
// codedWidth, ...}}}, "audio":{"renditions":{NAME:{codec, container, sampleRate,
// numberOfChannels, ...}}}} (older publishers: arrays of {track:{name}, config}); each media
// object is the "legacy" container: a QUIC varint timestamp in µs, then the codec bitstream
// (H.264/H.265 Annex B without a description, length-prefixed with one). No object properties.
#include <json-glib/json-glib.h>

#include <cstring>

#include "json_util.h"
#include "moqt/wire/codec_io.h"
#include "packaging.h"

namespace moqgst::packaging {

namespace {

using moqt::wire::IntEncoding;

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// Hex digits to bytes; false on an odd length or a non-hex character.
bool unhex(const char* text, std::string* out) {
  const size_t n = std::strlen(text);
  if (n % 2) return false;
  out->clear();
  for (size_t i = 0; i < n; i += 2) {
    const int hi = g_ascii_xdigit_value(text[i]), lo = g_ascii_xdigit_value(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(char(hi << 4 | lo));
  }
  return true;
}

void legacy_container(JsonBuilder* b) {
  json_builder_set_member_name(b, "container");
  json_builder_begin_object(b);
  json::member_string(b, "kind", "legacy");
  json_builder_end_object(b);
}

class Hang final : public Packager {
 public:
  Format format() const override { return Format::kHang; }
  const char* name() const override { return "hang"; }
  const char* catalog_track() const override { return "catalog.json"; }

  std::string build_catalog(const std::vector<TrackInfo>& tracks) const override {
    JsonBuilder* b = json_builder_new();
    json_builder_begin_object(b);
    for (const char* kind : {"video", "audio"}) {
      bool open = false;
      int display_w = 0, display_h = 0;
      for (const TrackInfo& t : tracks) {
        if (!t.caps || gst_caps_is_empty(t.caps) || gst_caps_is_any(t.caps)) continue;
        const GstStructure* s = gst_caps_get_structure(t.caps, 0);
        if (!g_str_has_prefix(gst_structure_get_name(s), kind)) continue;
        const std::string codec = codec_string(t.caps);
        if (codec.empty()) continue;  // hang describes WebCodecs codecs only
        if (!open) {
          json_builder_set_member_name(b, kind);
          json_builder_begin_object(b);
          json_builder_set_member_name(b, "renditions");
          json_builder_begin_object(b);
          open = true;
        }
        json_builder_set_member_name(b, t.name.c_str());
        json_builder_begin_object(b);
        json::member_string(b, "codec", codec.c_str());
        legacy_container(b);
        // Opus decodes from the packets alone (mono/stereo); VP8 has no configuration record.
        const std::string config = codec_config(t.caps);
        if (!config.empty() && codec != "opus" && codec != "vp8") json::member_string(b, "description", hex(config).c_str());
        gint v, w = 0, h = 0;
        if (kind[0] == 'v') {
          if (gst_structure_get_int(s, "width", &w)) json::member_int(b, "codedWidth", w);
          if (gst_structure_get_int(s, "height", &h)) json::member_int(b, "codedHeight", h);
          gint fn, fd;
          if (gst_structure_get_fraction(s, "framerate", &fn, &fd) && fd > 0 && fn > 0) {
            json_builder_set_member_name(b, "framerate");
            json_builder_add_double_value(b, double(fn) / fd);
          }
          json_builder_set_member_name(b, "optimizeForLatency");
          json_builder_add_boolean_value(b, TRUE);
          if (display_w == 0 && w > 0 && h > 0) display_w = w, display_h = h;
        } else {
          json::member_int(b, "sampleRate", gst_structure_get_int(s, "rate", &v) ? v : 48000);
          json::member_int(b, "numberOfChannels", gst_structure_get_int(s, "channels", &v) ? v : 2);
        }
        json_builder_end_object(b);
      }
      if (!open) continue;
      json_builder_end_object(b);  // renditions
      if (display_w > 0) {
        json_builder_set_member_name(b, "display");
        json_builder_begin_object(b);
        json::member_int(b, "width", display_w);
        json::member_int(b, "height", display_h);
        json_builder_end_object(b);
      }
      json_builder_end_object(b);
    }
    json_builder_end_object(b);
    return json::finish(b);
  }

  std::optional<std::vector<CatalogEntry>> parse_catalog(const std::string& text, std::string* error) const override {
    JsonParser* p = nullptr;
    JsonObject* root = json::parse_object(text, &p, error);
    if (!root) {
      g_object_unref(p);
      return std::nullopt;
    }
    std::vector<CatalogEntry> out;
    for (const char* kind : {"video", "audio"}) {
      JsonObject* section = json::object(root, kind);
      if (JsonObject* renditions = json::object(section, "renditions")) {
        GList* names = json_object_get_members(renditions);
        for (GList* l = names; l; l = l->next) {
          const char* name = static_cast<const char*>(l->data);
          add_rendition(kind, name, json::object(renditions, name), &out, error);
        }
        g_list_free(names);
        continue;
      }
      // Older catalogs: video is an array of {track: {name}, config}; audio one such object.
      auto old_form = [&](JsonObject* item) {
        const char* name = json::string(json::object(item, "track"), "name", "");
        add_rendition(kind, name, json::object(item, "config"), &out, error);
      };
      if (JsonArray* items = json::array(root, kind)) {
        for (guint i = 0; i < json_array_get_length(items); ++i) {
          JsonNode* n = json_array_get_element(items, i);
          if (JSON_NODE_HOLDS_OBJECT(n)) old_form(json_node_get_object(n));
        }
      } else if (section && json::object(section, "track")) {
        old_form(section);
      }
    }
    g_object_unref(p);
    return out;
  }

  void pack(const Frame& f, moqt::quic::SendBuffer data, moqt::session::Object* o) const override {
    // One copy per frame for the timestamp prefix, shared by every subscriber.
    const uint64_t ts = f.running_us.value_or(0) & moqt::wire::kQuicVarintMax;
    moqt::wire::Writer w(IntEncoding::kQuicVarint);
    w.buffer().reserve(moqt::wire::int_size(IntEncoding::kQuicVarint, ts) + data.data.size());
    w.varint(ts);
    w.bytes(data.data);
    o->payload = moqt::quic::SendBuffer::take(std::move(w.buffer()));
  }

  bool unpack(const moqt::session::ReceivedObject& o, std::optional<uint64_t>, Unpacked* out) const override {
    uint64_t ts = 0;
    size_t used = 0;
    if (moqt::wire::decode_int(IntEncoding::kQuicVarint, o.payload, ts, used) != moqt::wire::IntDecode::kOk)
      return false;  // empty or truncated: no timestamp prefix
    out->offset = used;
    out->pts = ts * GST_USECOND;
    out->wall_clock = false;  // the publisher's media time
    return true;
  }

 private:
  static void add_rendition(const char* kind, const char* name, JsonObject* config, std::vector<CatalogEntry>* out,
                            std::string* error) {
    if (!name || !*name) return;
    auto fail = [&](const std::string& why) {
      if (error && error->empty()) *error = std::string("catalog.json: ") + kind + " rendition '" + name + "' " + why;
      out->push_back({name, nullptr});
    };
    if (!config) return fail("has no configuration");
    const char* container = json::string(json::object(config, "container"), "kind", "legacy");
    if (json::string(config, "container")) container = json::string(config, "container");  // older: a string
    if (std::strcmp(container, "legacy") != 0) return fail(std::string("uses the unsupported container '") + container + "'");
    const std::string codec = json::string(config, "codec", "");
    std::string description;
    if (const char* d = json::string(config, "description"); d && !unhex(d, &description))
      return fail("has a description that is not hex");
    GstCaps* caps =
        kind[0] == 'v'
            ? caps_for_codec(codec, description, int(json::integer(config, "codedWidth")),
                             int(json::integer(config, "codedHeight")), 0, 0)
            : caps_for_codec(codec, description, 0, 0, int(json::integer(config, "sampleRate")),
                             int(json::integer(config, "numberOfChannels")));
    if (!caps) return fail("has an unknown codec '" + codec + "'");
    out->push_back({name, caps});
  }
};

}  // namespace

const Packager& hang() {
  static const Hang instance;
  return instance;
}

}  // namespace moqgst::packaging
