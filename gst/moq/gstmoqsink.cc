// moqsink: publishes each request pad as a MoQT track. A GOP (buffer without DELTA_UNIT) opens a
// new group; each buffer is one object whose payload shares the GstBuffer's memory (no copy).
// Listener mode makes the pipeline an origin players subscribe to; caller mode PUBLISHes to a
// remote endpoint. The catalog and each object's framing come from the packaging formats
// (packaging/: LOC + MSF, moq.dev's hang, or both); this file only cuts groups and timestamps.
#include "gstmoqsink.h"

#define GST_USE_UNSTABLE_API  // codecparsers: stable in practice, labelled unstable
#include <gst/codecparsers/gsth264parser.h>
#include <gst/codecparsers/gsth265parser.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "moqconnection.h"
#include "packaging/packaging.h"

GST_DEBUG_CATEGORY_STATIC(moq_sink_debug);
#define GST_CAT_DEFAULT moq_sink_debug

using namespace moqgst;
using moqt::session::TrackPublisher;

// One published form of a pad's media: its format, its track name in that format, its track.
struct FormatTrack {
  const packaging::Packager* format;
  std::string name;
  std::shared_ptr<TrackPublisher> publisher;
};
using FormatTracks = std::vector<FormatTrack>;

// --- pad ----------------------------------------------------------------------------------------

struct _GstMoqSinkPad {
  GstPad parent;
  gchar* track;
  guint priority;
  guint64 group_duration;  // ns; audio (no keyframes) cuts groups by duration
  gboolean layer_mapping;  // SVC / temporal layer -> subgroup (and publisher priority)
  gboolean datagrams;      // objects as QUIC datagrams (lossy, no head-of-line blocking)
  // Streaming-thread state.
  FormatTracks* tracks;  // null until published (guarded by the element's object lock)
  GstCaps* caps;  // negotiated caps, for the catalog
  guint64 group, next_object;
  GstClockTime group_start;
  gboolean started;
  GstSegment segment;  // for running time: one timeline across pads whatever each encoder's PTS origin
  // From the caps (streaming thread): LOC Video/Audio Config = the codec's extradata, if any.
  std::string* config;
  gboolean video;
  gboolean eos;              // EOS seen (the element posts EOS once every pad has it)
  gboolean datagram_warned;  // objects too large for a datagram: warned once
};

// Objects sent as datagrams must fit one QUIC DATAGRAM frame on any path (1200-byte packets
// minus QUIC, WebTransport and MoQT headers); larger ones are dropped before the engine.
static constexpr gsize kMaxDatagramObject = 1024;

G_DEFINE_TYPE(GstMoqSinkPad, gst_moq_sink_pad, GST_TYPE_PAD)

enum { PAD_PROP_0, PAD_PROP_TRACK, PAD_PROP_PRIORITY, PAD_PROP_GROUP_DURATION, PAD_PROP_LAYER_MAPPING, PAD_PROP_DATAGRAMS };

static void gst_moq_sink_pad_set_property(GObject* o, guint id, const GValue* v, GParamSpec* ps) {
  GstMoqSinkPad* p = GST_MOQ_SINK_PAD(o);
  if (id == PAD_PROP_TRACK) {  // a published track keeps its name: subscribers know it by it
    if (GstElement* e = gst_pad_get_parent_element(GST_PAD(p))) {
      GST_OBJECT_LOCK(e);  // guards p->tracks
      const bool published = p->tracks != nullptr;
      GST_OBJECT_UNLOCK(e);
      if (published) refuse_property_change(e, ps);
      gst_object_unref(e);
      if (published) return;
    }
  }
  GST_OBJECT_LOCK(p);
  switch (id) {
    case PAD_PROP_TRACK:
      g_free(p->track);
      p->track = g_value_dup_string(v);
      break;
    case PAD_PROP_PRIORITY: p->priority = g_value_get_uint(v); break;
    case PAD_PROP_GROUP_DURATION: p->group_duration = g_value_get_uint64(v); break;
    case PAD_PROP_LAYER_MAPPING: p->layer_mapping = g_value_get_boolean(v); break;
    case PAD_PROP_DATAGRAMS: p->datagrams = g_value_get_boolean(v); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(p);
}

static void gst_moq_sink_pad_get_property(GObject* o, guint id, GValue* v, GParamSpec* ps) {
  GstMoqSinkPad* p = GST_MOQ_SINK_PAD(o);
  GST_OBJECT_LOCK(p);
  switch (id) {
    case PAD_PROP_TRACK: g_value_set_string(v, p->track); break;
    case PAD_PROP_PRIORITY: g_value_set_uint(v, p->priority); break;
    case PAD_PROP_GROUP_DURATION: g_value_set_uint64(v, p->group_duration); break;
    case PAD_PROP_LAYER_MAPPING: g_value_set_boolean(v, p->layer_mapping); break;
    case PAD_PROP_DATAGRAMS: g_value_set_boolean(v, p->datagrams); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(p);
}

static void gst_moq_sink_pad_finalize(GObject* o) {
  GstMoqSinkPad* p = GST_MOQ_SINK_PAD(o);
  g_free(p->track);
  delete p->tracks;
  delete p->config;
  gst_caps_replace(&p->caps, nullptr);
  G_OBJECT_CLASS(gst_moq_sink_pad_parent_class)->finalize(o);
}

static void gst_moq_sink_pad_class_init(GstMoqSinkPadClass* k) {
  GObjectClass* g = G_OBJECT_CLASS(k);
  g->set_property = gst_moq_sink_pad_set_property;
  g->get_property = gst_moq_sink_pad_get_property;
  g->finalize = gst_moq_sink_pad_finalize;
  g_object_class_install_property(
      g, PAD_PROP_TRACK,
      g_param_spec_string("track", "Track", "MoQT track name in the URI's namespace (default: the kind of media linked to the pad: video, audio, then video1, audio1, ...)", nullptr,
                          GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      g, PAD_PROP_PRIORITY,
      g_param_spec_uint("priority", "Priority", "Publisher priority (0 = most important)", 0, 255, 128,
                        GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      g, PAD_PROP_GROUP_DURATION,
      g_param_spec_uint64("group-duration", "Group duration",
                          "For streams without delta units (audio): start a new group after this long (ns)", 0,
                          G_MAXUINT64, GST_SECOND, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      g, PAD_PROP_LAYER_MAPPING,
      g_param_spec_boolean("layer-mapping", "Layer mapping",
                           "Put each temporal/SVC layer in its own subgroup (layer N = subgroup N, priority + N) so a "
                           "congested link drops enhancement layers first. Layers come from a GstMoqLayerMeta custom "
                           "meta (field 'layer'), vp8enc's GstVP8Meta, H.265 nuh_temporal_id or the temporal_id of "
                           "H.264 SVC prefix NAL units. Off: everything in subgroup 0 (what viewers such as @moq/net "
                           "expect)",
                           FALSE, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      g, PAD_PROP_DATAGRAMS,
      g_param_spec_boolean("datagrams", "Datagrams",
                           "Send this track's objects as QUIC datagrams instead of subgroup streams: lost objects "
                           "are not retransmitted (small, loss-tolerant objects that must not wait, e.g. audio "
                           "frames or metadata). Objects larger than 1024 bytes do not fit one datagram on every path: "
                           "they are dropped, with one warning per pad, and counted as objects-dropped in stats)",
                           FALSE, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
}

static void gst_moq_sink_pad_init(GstMoqSinkPad* p) {
  p->priority = 128;
  p->group_duration = GST_SECOND;
  p->layer_mapping = FALSE;
  p->datagrams = FALSE;
  p->config = new std::string;
  p->video = FALSE;
  p->tracks = nullptr;
  p->caps = nullptr;
  gst_segment_init(&p->segment, GST_FORMAT_TIME);
  p->group = 0;
  p->next_object = 0;
  p->group_start = GST_CLOCK_TIME_NONE;
  p->started = FALSE;
  p->eos = FALSE;
  p->datagram_warned = FALSE;
}

// --- element ------------------------------------------------------------------------------------

struct _GstMoqSink {
  GstElement parent;
  CommonProps* common;
  std::shared_ptr<Connection>* conn;
  gint catalog_format;  // GstMoqCatalogFormat
  // While running: the formats published and, parallel to them, their catalog tracks.
  std::vector<const packaging::Packager*>* formats;
  std::vector<std::shared_ptr<TrackPublisher>>* catalogs;
  guint64 catalog_group;
  guint pad_count;
  // Capture time anchor (first buffer): wall clock (µs since the epoch) at a pipeline clock time.
  gboolean have_anchor;
  gint64 anchor_wall_us;
  GstClockTime anchor_clock;
};

enum { PROP_0, PROP_URI, PROP_MODE, PROP_CERT_FILE, PROP_KEY_FILE, PROP_TLS_PIN, PROP_TLS_INSECURE, PROP_DRAFT,
       PROP_PORT, PROP_CERT_SHA256, PROP_STATS, PROP_RECONNECT, PROP_AUTH_TOKEN, PROP_RELAY, PROP_FALLBACK_URIS,
       PROP_CATALOG_FORMAT };

enum CatalogFormat { kCatalogMsf, kCatalogHang, kCatalogBoth };

static GType gst_moq_catalog_format_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {kCatalogMsf, "LOC objects + MSF catalog (track 'catalog'; draft-ietf-moq-loc/-msf)", "msf"},
      {kCatalogHang, "moq.dev's hang: catalog.json + legacy container (@moq/watch)", "hang"},
      {kCatalogBoth, "Both: each pad published once per format (hang tracks named TRACK.hang)", "both"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstMoqCatalogFormat", values));
  return type;
}

static std::vector<const packaging::Packager*> gst_moq_sink_formats(gint catalog_format) {
  if (catalog_format == kCatalogMsf) return {&packaging::msf()};
  if (catalog_format == kCatalogHang) return {&packaging::hang()};
  return {&packaging::msf(), &packaging::hang()};
}

// A pad's track name in `format`: with both formats the framings differ, so hang's copy of the
// media gets its own track.
static std::string gst_moq_sink_format_track(const std::string& base, const packaging::Packager* format,
                                             size_t n_formats) {
  return n_formats > 1 && format->format() == packaging::Format::kHang ? base + ".hang" : base;
}

GType gst_moq_mode_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {{int(Mode::kCaller), "Connect to a remote endpoint", "caller"},
                                      {int(Mode::kListener), "Wait for peers to connect", "listener"},
                                      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstMoqMode", values));
  return type;
}

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS_ANY);

static void gst_moq_sink_uri_handler_init(gpointer iface, gpointer data);
static void gst_moq_sink_child_proxy_init(gpointer iface, gpointer data);

G_DEFINE_TYPE_WITH_CODE(GstMoqSink, gst_moq_sink, GST_TYPE_ELEMENT,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, gst_moq_sink_uri_handler_init)
                            G_IMPLEMENT_INTERFACE(GST_TYPE_CHILD_PROXY, gst_moq_sink_child_proxy_init))

// H.264 (byte-stream, AU aligned) with SVC: the temporal_id of the access unit's prefix NAL unit
// (type 14) or coded slice extension (type 20); 0 for plain AVC.
static guint gst_moq_h264_svc_layer(GstBuffer* buf) {
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return 0;
  GstH264NalParser* parser = gst_h264_nal_parser_new();
  GstH264NalUnit nalu;
  guint layer = 0, offset = 0;
  for (GstH264ParserResult r; offset < map.size;) {
    r = gst_h264_parser_identify_nalu(parser, map.data, offset, map.size, &nalu);
    if (r != GST_H264_PARSER_OK && r != GST_H264_PARSER_NO_NAL_END) break;  // NO_NAL_END: the AU's last
    if ((nalu.type == GST_H264_NAL_PREFIX_UNIT || nalu.type == GST_H264_NAL_SLICE_EXT) && nalu.size >= 4) {
      // nal_unit_header_svc_extension (H.264 G.7.3.1.1); codecparsers 1.22 reads only the MVC one.
      const guint8* h = nalu.data + nalu.offset;
      if (h[1] & 0x80) {  // svc_extension_flag
        layer = h[3] >> 5;  // temporal_id
        break;
      }
    }
    if (nalu.offset + nalu.size <= offset) break;
    offset = nalu.offset + nalu.size;
  }
  gst_h264_nal_parser_free(parser);
  gst_buffer_unmap(buf, &map);
  return layer;
}

// The buffer's temporal/SVC layer: an application's GstMoqLayerMeta, vp8enc's GstVP8Meta, or the
// nuh_temporal_id of an H.265 access unit's VCL NAL units (byte-stream, AU aligned).
static guint gst_moq_buffer_layer(GstPad* pad, GstBuffer* buf) {
  guint layer = 0;
  if (GstCustomMeta* m = gst_buffer_get_custom_meta(buf, "GstMoqLayerMeta")) {
    if (gst_structure_get_uint(gst_custom_meta_get_structure(m), "layer", &layer)) return layer;
  }
  if (GstCustomMeta* m = gst_buffer_get_custom_meta(buf, "GstVP8Meta")) {
    gboolean scaling = FALSE;
    const GstStructure* st = gst_custom_meta_get_structure(m);
    if (gst_structure_get_boolean(st, "use-temporal-scaling", &scaling) && scaling &&
        gst_structure_get_uint(st, "layer-id", &layer))
      return layer;
  }
  GstCaps* caps = gst_pad_get_current_caps(pad);
  const bool h265 = caps && gst_structure_has_name(gst_caps_get_structure(caps, 0), "video/x-h265");
  const bool h264 = caps && gst_structure_has_name(gst_caps_get_structure(caps, 0), "video/x-h264");
  if (caps) gst_caps_unref(caps);
  if (h264) return gst_moq_h264_svc_layer(buf);
  if (!h265) return 0;
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return 0;
  GstH265Parser* parser = gst_h265_parser_new();
  GstH265NalUnit nalu;
  guint offset = 0;
  while (gst_h265_parser_identify_nalu(parser, map.data, offset, map.size, &nalu) == GST_H265_PARSER_OK ||
         nalu.size > 0) {
    if (nalu.type <= GST_H265_NAL_SLICE_CRA_NUT && nalu.temporal_id_plus1 > 0) {
      layer = nalu.temporal_id_plus1 - 1;
      break;
    }
    if (nalu.offset + nalu.size <= offset) break;
    offset = nalu.offset + nalu.size;
    if (offset >= map.size) break;
  }
  gst_h265_parser_free(parser);
  gst_buffer_unmap(buf, &map);
  return layer;
}

static GstFlowReturn gst_moq_sink_chain(GstPad* pad, GstObject* parent, GstBuffer* buf) {
  GstMoqSink* self = GST_MOQ_SINK(parent);
  GstMoqSinkPad* p = GST_MOQ_SINK_PAD(pad);
  std::shared_ptr<Connection> conn;
  FormatTracks tracks;
  GST_OBJECT_LOCK(self);
  if (self->conn) conn = *self->conn;
  if (p->tracks) tracks = *p->tracks;
  GST_OBJECT_UNLOCK(self);
  if (!conn || tracks.empty()) {
    gst_buffer_unref(buf);
    return GST_FLOW_FLUSHING;
  }
  if (p->datagrams && gst_buffer_get_size(buf) > kMaxDatagramObject) {
    if (!std::exchange(p->datagram_warned, TRUE))
      GST_ELEMENT_WARNING(self, STREAM, ENCODE, ("Pad %s: buffers too large for datagrams are dropped", GST_PAD_NAME(pad)),
                          ("a %" G_GSIZE_FORMAT "-byte buffer exceeds %" G_GSIZE_FORMAT " bytes; set the pad property "
                           "'datagrams' to false for this stream (datagrams suit small objects such as audio frames)",
                           gst_buffer_get_size(buf), kMaxDatagramObject));
    conn->count_dropped();
    gst_buffer_unref(buf);
    return GST_FLOW_OK;
  }
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  const bool key = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  bool new_group = !p->started;
  if (p->started && key) {
    // Video: every keyframe opens a group. Audio (all "keyframes"): cut by duration.
    GstCaps* caps = gst_pad_get_current_caps(pad);
    const bool audio = caps && g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "audio/");
    if (caps) gst_caps_unref(caps);
    new_group = !audio || (GST_CLOCK_TIME_IS_VALID(pts) && GST_CLOCK_TIME_IS_VALID(p->group_start) &&
                           pts >= p->group_start + p->group_duration);
  }
  if (new_group) {
    if (p->started) ++p->group;
    p->next_object = 0;
    p->group_start = pts;
    p->started = TRUE;
  }
  packaging::Frame f;
  f.keyframe = key;
  f.group_start = new_group;
  f.video = p->video;
  f.config = p->config;
  guint layer = 0;
  if (p->layer_mapping) f.layer = layer = gst_moq_buffer_layer(pad, buf);
  // Timestamps: the running time (one timeline for every pad whatever each encoder's PTS origin)
  // and the capture time on the wall clock, anchored once to the pipeline clock.
  const GstClockTime rt = GST_CLOCK_TIME_IS_VALID(pts) ? gst_segment_to_running_time(&p->segment, GST_FORMAT_TIME, pts)
                                                       : GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID(rt)) {
    f.running_us = rt / 1000;
    if (GstClock* clock = gst_element_get_clock(GST_ELEMENT(self))) {
      const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
      GST_OBJECT_LOCK(self);
      if (!self->have_anchor) {
        self->anchor_clock = gst_clock_get_time(clock);
        self->anchor_wall_us = g_get_real_time();
        self->have_anchor = TRUE;
      }
      f.wall_us = self->anchor_wall_us + GST_CLOCK_DIFF(self->anchor_clock, base + rt) / 1000;
      GST_OBJECT_UNLOCK(self);
      gst_object_unref(clock);
    }
  }
  // The payload keeps the mapped GstBuffer alive until QUIC has it acknowledged everywhere.
  GstMapInfo* map = new GstMapInfo;
  if (!gst_buffer_map(buf, map, GST_MAP_READ)) {
    delete map;
    gst_buffer_unref(buf);
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Cannot map an input buffer"), (nullptr));
    return GST_FLOW_ERROR;
  }
  std::shared_ptr<void> owner(map, [buf](void* m) {
    gst_buffer_unmap(buf, static_cast<GstMapInfo*>(m));
    gst_buffer_unref(buf);
    delete static_cast<GstMapInfo*>(m);
  });
  const moqt::quic::SendBuffer data{owner, std::span<const uint8_t>(map->data, map->size)};
  const guint64 object = p->next_object++;
  for (const FormatTrack& t : tracks) {
    moqt::session::Object o;
    o.location = {p->group, object};
    o.publisher_priority = uint8_t(p->priority);
    o.datagram = p->datagrams;
    if (p->layer_mapping) {  // layer N: subgroup N, and dropped before the layers below it
      o.subgroup = layer;
      o.publisher_priority = uint8_t(std::min<guint>(255, p->priority + layer));
    }
    t.format->pack(f, data, &o);
    conn->write(t.publisher, std::move(o));
  }
  return GST_FLOW_OK;
}

// A new catalog (a new group on each format's catalog track) whenever a pad's caps change.
static void gst_moq_sink_publish_catalog(GstMoqSink* self) {
  std::shared_ptr<Connection> conn;
  std::vector<const packaging::Packager*> formats;
  std::vector<std::shared_ptr<TrackPublisher>> catalogs;
  std::vector<std::vector<packaging::TrackInfo>> tracks;
  GST_OBJECT_LOCK(self);
  if (self->conn) conn = *self->conn;
  if (self->formats) formats = *self->formats, catalogs = *self->catalogs;
  tracks.resize(formats.size());
  for (GList* l = GST_ELEMENT(self)->sinkpads; l; l = l->next) {
    GstMoqSinkPad* p = GST_MOQ_SINK_PAD(l->data);
    if (!p->tracks) continue;  // requested while running: published once its caps arrive
    // A catalog waits for every published pad's caps: players build their decoders (and signal
    // no-more-pads) from it, so it has to be complete.
    if (!p->caps) {
      GST_OBJECT_UNLOCK(self);
      GST_DEBUG_OBJECT(self, "catalog waits for the caps of %s", GST_PAD_NAME(p));
      return;
    }
    for (const FormatTrack& t : *p->tracks)
      for (size_t k = 0; k < formats.size(); ++k)
        if (formats[k] == t.format) tracks[k].push_back({t.name, gst_caps_ref(p->caps), p->priority});
  }
  const guint64 group = self->catalog_group++;
  GST_OBJECT_UNLOCK(self);
  for (size_t k = 0; k < formats.size(); ++k) {
    const std::string json = formats[k]->build_catalog(tracks[k]);
    for (auto& t : tracks[k]) gst_caps_unref(t.caps);
    if (!conn) continue;
    moqt::session::Object o;
    o.location = {group, 0};
    o.publisher_priority = 0;
    o.payload = moqt::quic::SendBuffer::copy(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(json.data()), json.size()));
    conn->write(catalogs[k], std::move(o));
    GST_INFO_OBJECT(self, "%s: %s", formats[k]->catalog_track(), json.c_str());
  }
}

// A track name for an unnamed pad: its media kind (video, audio, then video1, ...), unique
// among the element's pads. Called with the object lock held.
static std::string gst_moq_sink_kind_name(GstMoqSink* self, const GstCaps* caps) {
  std::string kind = "track";
  if (caps && !gst_caps_is_empty(caps) && !gst_caps_is_any(caps)) {
    const std::string n = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    if (n.rfind("video/", 0) == 0) kind = "video";
    else if (n.rfind("audio/", 0) == 0) kind = "audio";
  }
  std::set<std::string> taken;
  for (GList* l = GST_ELEMENT(self)->sinkpads; l; l = l->next)
    if (GST_MOQ_SINK_PAD(l->data)->track) taken.insert(GST_MOQ_SINK_PAD(l->data)->track);
  std::string name = kind;
  for (int i = 1; taken.count(name); ++i) name = kind + std::to_string(i);
  return name;
}

// A pad's media as one track per format. Not under the object lock: add_track waits for the
// loop thread, which posts bus messages (they take that lock).
static FormatTracks gst_moq_sink_add_tracks(Connection& conn, const std::vector<const packaging::Packager*>& formats,
                                            const std::string& base, guint priority) {
  FormatTracks out;
  for (const packaging::Packager* f : formats) {
    moqt::session::TrackOptions to;
    to.publisher_priority = uint8_t(priority);
    to.object_properties = f->format() == packaging::Format::kMsf;  // LOC rides in object properties
    const std::string name = gst_moq_sink_format_track(base, f, formats.size());
    out.push_back({f, name, conn.add_track(name, to)});
  }
  return out;
}

// A pad requested while the element runs becomes a track once its caps name it.
static void gst_moq_sink_publish_pad(GstMoqSink* self, GstMoqSinkPad* p, GstCaps* caps) {
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection> conn = self->conn ? *self->conn : nullptr;
  if (!p->track) p->track = g_strdup(gst_moq_sink_kind_name(self, caps).c_str());
  const std::string name = p->track;
  const guint priority = p->priority;
  std::vector<const packaging::Packager*> formats;
  if (self->formats) formats = *self->formats;
  GST_OBJECT_UNLOCK(self);
  if (!conn) return;
  FormatTracks tracks = gst_moq_sink_add_tracks(*conn, formats, name, priority);
  GST_OBJECT_LOCK(self);
  const bool still_running = self->conn && *self->conn == conn && !p->tracks;
  if (still_running) p->tracks = new FormatTracks(tracks);
  GST_OBJECT_UNLOCK(self);
  if (!still_running) {
    for (const FormatTrack& t : tracks) conn->remove_track(t.publisher);
    return;
  }
  GST_INFO_OBJECT(self, "pad %s added while running publishes track '%s'", GST_PAD_NAME(p), name.c_str());
}

// EOS on one pad ends its track; once every pad has it, the element posts EOS (with the event's
// seqnum) after the engine has ended the tracks (PUBLISH_DONE queued to every subscriber).
static void gst_moq_sink_pad_eos(GstMoqSink* self, GstMoqSinkPad* p, guint32 seqnum) {
  GST_OBJECT_LOCK(self);
  p->eos = TRUE;
  bool all = true;
  for (GList* l = GST_ELEMENT(self)->sinkpads; l; l = l->next) all = all && GST_MOQ_SINK_PAD(l->data)->eos;
  std::shared_ptr<Connection> conn = self->conn ? *self->conn : nullptr;
  FormatTracks tracks = p->tracks ? *p->tracks : FormatTracks{};
  GST_OBJECT_UNLOCK(self);
  if (conn)
    for (const FormatTrack& t : tracks) conn->finish(t.publisher);
  if (!all) return;
  GstElement* el = GST_ELEMENT(self);
  auto post = [el, seqnum] {
    GstMessage* m = gst_message_new_eos(GST_OBJECT(el));
    gst_message_set_seqnum(m, seqnum);
    gst_element_post_message(el, m);
  };
  if (conn) conn->after(std::chrono::milliseconds(0), post);  // runs after the finish above
  else post();
}

static gboolean gst_moq_sink_event(GstPad* pad, GstObject* parent, GstEvent* ev) {
  GstMoqSink* self = GST_MOQ_SINK(parent);
  GstMoqSinkPad* p = GST_MOQ_SINK_PAD(pad);
  if (GST_EVENT_TYPE(ev) == GST_EVENT_SEGMENT) {
    const GstSegment* seg;
    gst_event_parse_segment(ev, &seg);
    if (seg->format == GST_FORMAT_TIME) gst_segment_copy_into(seg, &p->segment);
  }
  if (GST_EVENT_TYPE(ev) == GST_EVENT_CAPS) {
    GstCaps* caps;
    gst_event_parse_caps(ev, &caps);
    // The decoder configuration LOC carries with each group's first object: codec_data (avcC,
    // hvcC, AudioSpecificConfig, ...) or, for Opus, the OpusHead stream header.
    const GstStructure* st = gst_caps_get_structure(caps, 0);
    p->video = g_str_has_prefix(gst_structure_get_name(st), "video/");
    p->config->clear();
    const GValue* cd = gst_structure_get_value(st, "codec_data");
    if (!cd) {
      const GValue* sh = gst_structure_get_value(st, "streamheader");
      if (sh && GST_VALUE_HOLDS_ARRAY(sh) && gst_value_array_get_size(sh) > 0) cd = gst_value_array_get_value(sh, 0);
    }
    if (cd && G_VALUE_HOLDS(cd, GST_TYPE_BUFFER)) {
      GstBuffer* b = gst_value_get_buffer(cd);
      GstMapInfo m;
      if (b && gst_buffer_map(b, &m, GST_MAP_READ)) {
        p->config->assign(reinterpret_cast<const char*>(m.data), m.size);
        gst_buffer_unmap(b, &m);
      }
    }
    GST_OBJECT_LOCK(self);
    gst_caps_replace(&p->caps, caps);
    const bool unpublished = self->conn && !p->tracks;
    GST_OBJECT_UNLOCK(self);
    if (unpublished) gst_moq_sink_publish_pad(self, p, caps);  // requested while running
    gst_moq_sink_publish_catalog(self);
  }
  if (GST_EVENT_TYPE(ev) == GST_EVENT_FLUSH_STOP) {
    GST_OBJECT_LOCK(self);
    p->eos = FALSE;
    GST_OBJECT_UNLOCK(self);
  }
  if (GST_EVENT_TYPE(ev) == GST_EVENT_EOS) {
    gst_moq_sink_pad_eos(self, p, gst_event_get_seqnum(ev));
    gst_event_unref(ev);
    return TRUE;
  }
  return gst_pad_event_default(pad, parent, ev);
}

static GstPad* gst_moq_sink_request_new_pad(GstElement* e, GstPadTemplate* templ, const gchar* name, const GstCaps*) {
  GstMoqSink* self = GST_MOQ_SINK(e);
  GST_OBJECT_LOCK(self);
  const guint n = self->pad_count++;
  GST_OBJECT_UNLOCK(self);
  gchar* pad_name = name ? g_strdup(name) : g_strdup_printf("sink_%u", n);
  GstPad* pad = GST_PAD(g_object_new(GST_TYPE_MOQ_SINK_PAD, "name", pad_name, "direction", GST_PAD_SINK,
                                     "template", templ, nullptr));
  g_free(pad_name);
  GstMoqSinkPad* p = GST_MOQ_SINK_PAD(pad);
  p->track = nullptr;  // named at start (or, while running, at its caps) from the media kind
  gst_pad_set_chain_function(pad, gst_moq_sink_chain);
  gst_pad_set_event_function(pad, gst_moq_sink_event);
  gst_element_add_pad(e, pad);
  gst_child_proxy_child_added(GST_CHILD_PROXY(e), G_OBJECT(pad), GST_OBJECT_NAME(pad));
  return pad;
}

static void gst_moq_sink_release_pad(GstElement* e, GstPad* pad) {
  GstMoqSink* self = GST_MOQ_SINK(e);
  GstMoqSinkPad* p = GST_MOQ_SINK_PAD(pad);
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection> conn = self->conn ? *self->conn : nullptr;
  FormatTracks* tracks = std::exchange(p->tracks, nullptr);
  GST_OBJECT_UNLOCK(self);
  gst_child_proxy_child_removed(GST_CHILD_PROXY(e), G_OBJECT(pad), GST_OBJECT_NAME(pad));
  gst_element_remove_pad(e, pad);
  if (tracks) {
    // Its subscribers get PUBLISH_DONE, and the catalog no longer lists it.
    if (conn)
      for (const FormatTrack& t : *tracks) conn->remove_track(t.publisher);
    delete tracks;
    if (conn) gst_moq_sink_publish_catalog(self);
  }
}

static gboolean gst_moq_sink_start(GstMoqSink* self) {
  Settings s;
  GST_OBJECT_LOCK(self);
  s = self->common->settings();
  const std::vector<const packaging::Packager*> formats = gst_moq_sink_formats(self->catalog_format);
  GST_OBJECT_UNLOCK(self);
  if (s.uri.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("No URI set"), ("set the 'uri' property, e.g. moqt://0.0.0.0:4443/live?mode=listener"));
    return FALSE;
  }
  std::string err;
  GstElement* el = GST_ELEMENT(self);
  auto conn = Connection::create(
      s,
      [el](const std::string& event, const std::string& detail) {
        post_event(el, event, detail);
        GST_INFO_OBJECT(el, "%s: %s", event.c_str(), detail.c_str());
        if (event == "error") GST_ELEMENT_ERROR(el, RESOURCE, WRITE, ("MoQT: %s", detail.c_str()), (nullptr));
        // A peer declining one track (e.g. the catalog) is not fatal for the others.
        if (event == "warning") GST_ELEMENT_WARNING(el, RESOURCE, WRITE, ("MoQT: %s", detail.c_str()), (nullptr));
        // A (re)accepted PUBLISH of the catalog starts empty: give the peer the current one.
        if (event == "published" && (detail == packaging::msf().catalog_track() || detail == packaging::hang().catalog_track()))
          gst_moq_sink_publish_catalog(GST_MOQ_SINK(el));
      },
      &err);
  if (!conn) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE, ("Cannot start MoQT on '%s'", s.uri.c_str()), ("%s", err.c_str()));
    return FALSE;
  }
  // One track per pad. The object lock is not held across add_track: the loop thread posts bus
  // messages (which take that lock) and add_track waits for the loop thread.
  struct PadTrack {
    GstMoqSinkPad* pad;
    std::string track;
    guint priority;
  };
  std::vector<PadTrack> pads;
  GST_OBJECT_LOCK(self);
  for (GList* l = GST_ELEMENT(self)->sinkpads; l; l = l->next) {
    GstMoqSinkPad* p = GST_MOQ_SINK_PAD(l->data);
    pads.push_back({GST_MOQ_SINK_PAD(gst_object_ref(p)), p->track ? p->track : "", p->priority});
  }
  GST_OBJECT_UNLOCK(self);
  // Unnamed pads get their media kind as track name (video, audio, video1, ...), from the caps
  // upstream can produce, so players and catalogs see meaningful names.
  for (auto& pt : pads) {
    if (!pt.track.empty()) continue;
    GstCaps* c = gst_pad_peer_query_caps(GST_PAD(pt.pad), nullptr);
    GST_OBJECT_LOCK(self);
    pt.track = gst_moq_sink_kind_name(self, c);
    pt.pad->track = g_strdup(pt.track.c_str());
    GST_OBJECT_UNLOCK(self);
    if (c) gst_caps_unref(c);
    GST_INFO_OBJECT(self, "pad %s publishes track '%s'", GST_PAD_NAME(pt.pad), pt.track.c_str());
  }
  std::vector<FormatTracks> pad_tracks;
  for (auto& pt : pads) pad_tracks.push_back(gst_moq_sink_add_tracks(*conn, formats, pt.track, pt.priority));
  std::vector<std::shared_ptr<TrackPublisher>> catalogs;
  for (const packaging::Packager* f : formats) {
    moqt::session::TrackOptions co;
    co.publisher_priority = 0;  // the catalog goes before media
    co.cache_groups = 2;
    catalogs.push_back(conn->add_track(f->catalog_track(), co));
  }
  GST_OBJECT_LOCK(self);
  for (size_t i = 0; i < pads.size(); ++i) {
    pads[i].pad->tracks = new FormatTracks(std::move(pad_tracks[i]));
    pads[i].pad->started = FALSE;
    pads[i].pad->eos = FALSE;
    pads[i].pad->datagram_warned = FALSE;
  }
  self->formats = new std::vector<const packaging::Packager*>(formats);
  self->catalogs = new std::vector<std::shared_ptr<TrackPublisher>>(std::move(catalogs));
  self->catalog_group = 0;
  self->have_anchor = FALSE;
  self->conn = new std::shared_ptr<Connection>(conn);
  GST_OBJECT_UNLOCK(self);
  for (auto& pt : pads) gst_object_unref(pt.pad);
  g_object_notify(G_OBJECT(self), "port");
  return TRUE;
}

static void gst_moq_sink_stop(GstMoqSink* self) {
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection>* c = self->conn;
  self->conn = nullptr;
  delete std::exchange(self->formats, nullptr);
  delete std::exchange(self->catalogs, nullptr);
  for (GList* l = GST_ELEMENT(self)->sinkpads; l; l = l->next) {
    GstMoqSinkPad* p = GST_MOQ_SINK_PAD(l->data);
    delete std::exchange(p->tracks, nullptr);
  }
  GST_OBJECT_UNLOCK(self);
  delete c;  // closes sessions and joins the engine thread
}

static GstStateChangeReturn gst_moq_sink_change_state(GstElement* e, GstStateChange t) {
  GstMoqSink* self = GST_MOQ_SINK(e);
  if (t == GST_STATE_CHANGE_READY_TO_PAUSED && !gst_moq_sink_start(self)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn r = GST_ELEMENT_CLASS(gst_moq_sink_parent_class)->change_state(e, t);
  if (t == GST_STATE_CHANGE_PAUSED_TO_READY) gst_moq_sink_stop(self);
  return r;
}

static void gst_moq_sink_set_property(GObject* o, guint id, const GValue* v, GParamSpec* ps) {
  GstMoqSink* self = GST_MOQ_SINK(o);
  GST_OBJECT_LOCK(self);
  if (self->conn && (ps->flags & GST_PARAM_MUTABLE_READY)) {  // in use by the running connection
    GST_OBJECT_UNLOCK(self);
    return refuse_property_change(GST_ELEMENT(self), ps);
  }
  if (id >= PROP_URI && id <= PROP_FALLBACK_URIS) {
    self->common->set(id - PROP_URI, v);
  } else if (id == PROP_CATALOG_FORMAT) {
    self->catalog_format = g_value_get_enum(v);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_sink_get_property(GObject* o, guint id, GValue* v, GParamSpec* ps) {
  GstMoqSink* self = GST_MOQ_SINK(o);
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection> conn = self->conn ? *self->conn : nullptr;
  if (id >= PROP_URI && id <= PROP_FALLBACK_URIS) {
    self->common->get(id - PROP_URI, v, conn.get());
  } else if (id == PROP_CATALOG_FORMAT) {
    g_value_set_enum(v, self->catalog_format);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_sink_finalize(GObject* o) {
  GstMoqSink* self = GST_MOQ_SINK(o);
  delete self->formats;
  delete self->catalogs;
  delete self->conn;
  delete self->common;
  G_OBJECT_CLASS(gst_moq_sink_parent_class)->finalize(o);
}

void gst_moq_install_common_properties(GObjectClass* g, guint first) {
  const GParamFlags rw = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      g, first + 0,
      g_param_spec_string("uri", "URI",
                          "moqt://host:port/namespace (raw QUIC) or https://host:port/namespace (WebTransport); "
                          "query: mode=listener|caller, tls-insecure=true, tls-pin=HEX, draft=14|16|18",
                          nullptr, rw));
  g_object_class_install_property(g, first + 1,
                                  g_param_spec_enum("mode", "Mode", "Caller connects, listener waits for peers",
                                                    gst_moq_mode_get_type(), int(Mode::kCaller), rw));
  g_object_class_install_property(
      g, first + 2,
      g_param_spec_string("cert-file", "Certificate file",
                          "Listener certificate (PEM); none = a generated short-lived self-signed ECDSA certificate",
                          nullptr, rw));
  g_object_class_install_property(g, first + 3, g_param_spec_string("key-file", "Key file", "Listener private key (PEM)", nullptr, rw));
  g_object_class_install_property(
      g, first + 4,
      g_param_spec_string("tls-pin", "TLS pin", "Caller: accept only a server certificate with this SHA-256 (hex)",
                          nullptr, rw));
  g_object_class_install_property(g, first + 5,
                                  g_param_spec_boolean("tls-insecure", "TLS insecure",
                                                       "Caller: do not verify the server certificate", FALSE, rw));
  g_object_class_install_property(g, first + 6,
                                  g_param_spec_int("draft", "Draft", "MoQT draft to speak (0 = any of 18, 16, 14)",
                                                   0, 18, 0, rw));
  g_object_class_install_property(g, first + 7,
                                  g_param_spec_uint("port", "Port", "Listener: the bound UDP port", 0, 65535, 0,
                                                    GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      g, first + 8,
      g_param_spec_string("cert-sha256", "Certificate SHA-256", "Listener: the certificate hash browsers pin", nullptr,
                          GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(g, first + 9,
                                  g_param_spec_boxed("stats", "Statistics", "Objects written and received, reconnects",
                                                     GST_TYPE_STRUCTURE,
                                                     GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      g, first + 10,
      g_param_spec_boolean("reconnect", "Reconnect",
                           "Caller: once established, re-establish a lost session with backoff (250 ms doubling to "
                           "8 s) instead of failing; the URI query reconnect=false overrides",
                           TRUE, rw));
  g_object_class_install_property(
      g, first + 11,
      g_param_spec_string("auth-token", "Authorization token",
                          "Caller: token sent in SETUP (AUTHORIZATION TOKEN); the URI query auth-token= overrides",
                          nullptr, rw));
  g_object_class_install_property(
      g, first + 12,
      g_param_spec_string("relay", "Relay",
                          "Attach to the moqrelay element of this name in this process instead of connecting "
                          "(no network hop; the URI gives the namespace); the URI query relay= overrides",
                          nullptr, rw));
  g_object_class_install_property(
      g, first + 13,
      g_param_spec_string("fallback-uris", "Fallback URIs",
                          "Caller: other relays serving the same namespace, comma-separated; a lost session is "
                          "re-established at the next URI in turn (failover in a relay cluster)",
                          nullptr, rw));
}

static void gst_moq_sink_class_init(GstMoqSinkClass* k) {
  GObjectClass* g = G_OBJECT_CLASS(k);
  GstElementClass* e = GST_ELEMENT_CLASS(k);
  g->set_property = gst_moq_sink_set_property;
  g->get_property = gst_moq_sink_get_property;
  g->finalize = gst_moq_sink_finalize;
  gst_moq_install_common_properties(g, PROP_URI);
  g_object_class_install_property(
      g, PROP_CATALOG_FORMAT,
      g_param_spec_enum("catalog-format", "Catalog format",
                        "How the broadcast is packaged: msf (LOC objects, MSF catalog track 'catalog'), hang "
                        "(moq.dev's @moq/watch: catalog.json, timestamp-prefixed payloads) or both (every pad "
                        "published once per format, so any player finds what it reads: as a listener a format nobody "
                        "subscribes to costs a copy per frame and cache memory; as a caller PUBLISHing to a relay "
                        "both copies go up, twice the ingest bitrate)",
                        gst_moq_catalog_format_get_type(), kCatalogBoth,
                        GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  e->change_state = gst_moq_sink_change_state;
  e->request_new_pad = gst_moq_sink_request_new_pad;
  e->release_pad = gst_moq_sink_release_pad;
  gst_element_class_add_static_pad_template_with_gtype(e, &sink_template, GST_TYPE_MOQ_SINK_PAD);
  gst_element_class_set_static_metadata(e, "MoQ sink", "Sink/Network",
                                        "Publishes each input as a Media over QUIC track (groups at keyframes)",
                                        "moq-gst developers");
  GST_DEBUG_CATEGORY_INIT(moq_sink_debug, "moqsink", 0, "Media over QUIC sink");
  gst_type_mark_as_plugin_api(GST_TYPE_MOQ_SINK_PAD, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(gst_moq_catalog_format_get_type(), GstPluginAPIFlags(0));
}

static void gst_moq_sink_init(GstMoqSink* self) {
  self->common = new CommonProps;
  self->conn = nullptr;
  self->catalog_format = kCatalogBoth;
  self->formats = nullptr;
  self->catalogs = nullptr;
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}

// --- URI handler (shared with moqsrc: only the type differs) ------------------------------------

static const gchar* const* gst_moq_uri_get_protocols(GType) {
  static const gchar* protocols[] = {"moqt", nullptr};
  return protocols;
}
static gchar* gst_moq_uri_get_uri(GstURIHandler* h) {
  gchar* uri = nullptr;
  g_object_get(h, "uri", &uri, nullptr);
  return uri;
}
static gboolean gst_moq_uri_set_uri(GstURIHandler* h, const gchar* uri, GError** error) {
  std::string err;
  if (!parse_uri(uri, &err)) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "%s", err.c_str());
    return FALSE;
  }
  g_object_set(h, "uri", uri, nullptr);
  return TRUE;
}
void gst_moq_uri_handler_fill(gpointer iface, GstURIType (*get_type)(GType)) {
  GstURIHandlerInterface* i = static_cast<GstURIHandlerInterface*>(iface);
  i->get_type = get_type;
  i->get_protocols = gst_moq_uri_get_protocols;
  i->get_uri = gst_moq_uri_get_uri;
  i->set_uri = gst_moq_uri_set_uri;
}
static GstURIType gst_moq_sink_uri_get_type(GType) { return GST_URI_SINK; }
static void gst_moq_sink_uri_handler_init(gpointer iface, gpointer) {
  gst_moq_uri_handler_fill(iface, gst_moq_sink_uri_get_type);
}

// --- child proxy: pad properties as sink_0::track=... in gst-launch ---------------------------------

static GObject* gst_moq_sink_child_by_name(GstChildProxy* cp, const gchar* name) {
  GstPad* pad = gst_element_get_static_pad(GST_ELEMENT(cp), name);
  return pad ? G_OBJECT(pad) : nullptr;  // transfer full
}
static GObject* gst_moq_sink_child_by_index(GstChildProxy* cp, guint index) {
  GObject* out = nullptr;
  GST_OBJECT_LOCK(cp);
  GList* l = g_list_nth(GST_ELEMENT(cp)->sinkpads, index);
  if (l) out = G_OBJECT(gst_object_ref(l->data));
  GST_OBJECT_UNLOCK(cp);
  return out;
}
static guint gst_moq_sink_children_count(GstChildProxy* cp) {
  GST_OBJECT_LOCK(cp);
  const guint n = GST_ELEMENT(cp)->numsinkpads;
  GST_OBJECT_UNLOCK(cp);
  return n;
}
static void gst_moq_sink_child_proxy_init(gpointer iface, gpointer) {
  GstChildProxyInterface* i = static_cast<GstChildProxyInterface*>(iface);
  i->get_child_by_name = gst_moq_sink_child_by_name;
  i->get_child_by_index = gst_moq_sink_child_by_index;
  i->get_children_count = gst_moq_sink_children_count;
}
