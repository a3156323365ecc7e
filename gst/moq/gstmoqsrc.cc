// moqsrc: a live source bin for one MoQ broadcast. It reads the broadcast's catalog (MSF's
// "catalog" or moq.dev's "catalog.json": packaging/), exposes one sometimes pad per track
// (src_<track>, characters other than letters, digits, - and _ as _) with the catalog's caps and then signals no-more-pads, so decodebin3 / playbin
// pick up audio and video together. The catalog's format also says how each object is framed. Each pad is an internal appsrc fed
// from the engine thread (never blocking it: bounded, oldest dropped); timestamps are mapped
// onto the pipeline's running time with one offset shared by all pads, so A/V stay aligned.
//
// Threads: the engine thread delivers objects and session events; pads are created on a
// GStreamer helper thread (gst_element_call_async) under `expose_mu`; PTS mapping and GAP events
// happen in each appsrc's streaming thread (a pad probe).
#include "gstmoqsrc.h"

#include <gst/app/gstappsrc.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "gstmoqsink.h"
#include "moqconnection.h"
#include "packaging/packaging.h"

GST_DEBUG_CATEGORY_STATIC(moq_src_debug);
#define GST_CAT_DEFAULT moq_src_debug

using namespace moqgst;
using moqt::session::ReceivedObject;

namespace {
constexpr guint kMaxQueuedBuffers = 2000;  // per pad; beyond that appsrc drops the oldest
constexpr size_t kMaxPending = 500;        // objects of a pushed track waiting for its pad
constexpr uint64_t kLocTimescale = 0x08;   // LOC Timescale, as a track property: the track's units

enum PackagingChoice { kPackagingAuto, kPackagingMsf, kPackagingHang };

// The sender's capture time travels with each buffer as a GstReferenceTimestampMeta:
// timestamp/x-unix (ns since the epoch) for LOC's default wall-clock timestamps, or
// timestamp/x-moq-media (ns of the sender's media time) when the sender gave a Timescale.
// Process-lifetime caps: flagged so GST_TRACERS=leaks does not report them.
GstCaps* static_caps(const char* name) {
  GstCaps* c = gst_caps_new_empty_simple(name);
  GST_MINI_OBJECT_FLAG_SET(c, GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED);
  return c;
}
GstCaps* wall_caps() {
  static GstCaps* const c = static_caps("timestamp/x-unix");
  return c;
}
GstCaps* media_caps() {
  static GstCaps* const c = static_caps("timestamp/x-moq-media");
  return c;
}
}  // namespace

// One exposed track.
struct TrackOut {
  std::string name;
  GstElement* appsrc = nullptr;  // owned by the bin; a ref held here too
  bool video = false;            // DELTA_UNIT marks matter for video only
  // Under SrcShared::mu: how objects are framed, the caps given to the appsrc, and the decoder
  // configuration the objects carried (it completes caps that lack one).
  const packaging::Packager* format = &packaging::msf();
  GstCaps* caps = nullptr;
  std::string config;
  // Engine thread only.
  bool have_last = false;
  guint64 last_group = 0, last_object = 0;
  bool discont_pending = false;    // a status object revealed a hole: the next buffer says so
  bool eos_pending = false;        // END_OF_TRACK before the pad existed
  // Video: the newest group whose object 0 (its keyframe) came; objects of newer groups wait for
  // theirs (a subscription or a reconnect that starts mid-group).
  std::optional<guint64> decodable_group;
  std::optional<uint64_t> track_timescale;  // the track's LOC Timescale (SUBSCRIBE_OK / PUBLISH)
  uint64_t malformed = 0;                   // objects not in the track's framing (dropped)
  std::deque<GstBuffer*> pending;  // listener: pushed before the pad existed
  // Streaming thread only.
  GstClockTime next_pts = GST_CLOCK_TIME_NONE;  // end of the previous buffer (GAP start)
  ~TrackOut() {
    for (GstBuffer* b : pending) gst_buffer_unref(b);
    if (appsrc) gst_object_unref(appsrc);
    if (caps) gst_caps_unref(caps);
  }
};

// State shared between the element, the engine thread's callbacks and the helper threads.
struct SrcShared {
  GstElement* bin = nullptr;  // not reffed: every callback ends before the bin does
  std::mutex mu;              // guards the fields below
  std::map<std::string, std::shared_ptr<TrackOut>> tracks;
  bool running = false;
  bool catalog_seen = false;
  bool exposed = false;  // no-more-pads sent
  std::set<std::string> pushed;  // listener: tracks the peer PUBLISHed so far
  // The catalog in use: with packaging=auto the first format whose catalog comes, MSF preferred
  // (a hang catalog waits in held_hang until MSF's is refused or the catalog-timeout passes).
  const moqgst::packaging::Packager* chosen = nullptr;
  bool msf_absent = false, hang_absent = false;
  std::string held_hang;
  std::shared_ptr<std::function<void()>> ask_catalogs;  // caller: asks for the catalogs (again)
  // packaging=auto, caller or attached: ends the subscription to the catalog not chosen.
  std::function<void(const std::string& track)> drop_catalog;
  bool have_offset = false;
  GstClockTimeDiff offset = 0;  // running time - sender PTS, fixed by the first buffer of any pad
  // Listener: the catalog timeout runs from the first peer session, not from element start.
  bool peer_seen = false;
  std::function<void()> start_catalog_timer;  // set once the connection exists; run once
  std::mutex expose_mu;         // serialises pad creation against stop
};

struct _GstMoqSrc {
  GstBin parent;
  CommonProps* common;
  gchar* track;
  GstCaps* caps;
  GstClockTime latency;
  gint max_layer;
  guint catalog_timeout;  // ms
  gint join_groups_back;  // -1: from the next group; N >= 0: joining FETCH of the current group and N before
  gint packaging;         // PackagingChoice
  std::shared_ptr<Connection>* conn;
  std::shared_ptr<SrcShared>* sh;
};

enum { PROP_0, PROP_URI, PROP_MODE, PROP_CERT_FILE, PROP_KEY_FILE, PROP_TLS_PIN, PROP_TLS_INSECURE, PROP_DRAFT,
       PROP_PORT, PROP_CERT_SHA256, PROP_STATS, PROP_RECONNECT, PROP_AUTH_TOKEN, PROP_RELAY, PROP_FALLBACK_URIS, PROP_TRACK, PROP_CAPS, PROP_LATENCY, PROP_MAX_LAYER,
       PROP_CATALOG_TIMEOUT, PROP_JOIN_GROUPS_BACK, PROP_PACKAGING };

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src_%s", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS_ANY);

static void gst_moq_src_uri_handler_init(gpointer iface, gpointer data);

G_DEFINE_TYPE_WITH_CODE(GstMoqSrc, gst_moq_src, GST_TYPE_BIN,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, gst_moq_src_uri_handler_init))

// --- engine thread: objects -> buffers ----------------------------------------------------------

// Tracks the (group, object) sequence; true if `o` does not follow the previous object (a skipped
// group, or a skipped object unless `layers_filtered`: higher subgroups are refused with
// max-layer, so object ids inside a group skip by design and only a skipped group counts).
static bool advance_sequence(TrackOut& t, const ReceivedObject& o, bool layers_filtered) {
  const bool new_group = !t.have_last || o.location.group != t.last_group;
  const bool hole = t.have_last && ((new_group && o.location.group != t.last_group + 1) ||
                                    (!new_group && !layers_filtered && o.location.object != t.last_object + 1));
  t.have_last = true;
  t.last_group = o.location.group;
  t.last_object = o.location.object;
  return hole;
}

static GstBuffer* buffer_of(TrackOut& t, const ReceivedObject& o, const packaging::Unpacked& u, bool layers_filtered) {
  GstBuffer* buf = gst_buffer_new_memdup(o.payload.data() + u.offset, o.payload.size() - u.offset);
  if (u.pts)
    gst_buffer_add_reference_timestamp_meta(buf, u.wall_clock ? wall_caps() : media_caps(), *u.pts, GST_CLOCK_TIME_NONE);
  const bool new_group = !t.have_last || o.location.group != t.last_group;
  if (t.video && (!new_group || o.location.object != 0)) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  // A skipped group or object: downstream hears DISCONT (and a GAP, from the pad probe).
  if (advance_sequence(t, o, layers_filtered) || std::exchange(t.discont_pending, false))
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
  return buf;
}

// A decoder configuration carried by an object (LOC Video/Audio Config) completes caps that
// have none (a catalog without init data): the appsrc's caps change before the buffer.
static void apply_config(SrcShared& sh, TrackOut& t, std::span<const uint8_t> config) {
  GstElement* appsrc = nullptr;
  GstCaps* caps = nullptr;
  {
    std::lock_guard<std::mutex> l(sh.mu);
    if (t.config.size() == config.size() && std::equal(config.begin(), config.end(), t.config.begin())) return;
    t.config.assign(config.begin(), config.end());
    caps = packaging::caps_with_config(t.caps, config);
    if (!caps) return;
    gst_caps_replace(&t.caps, caps);
    if (t.appsrc) appsrc = GST_ELEMENT(gst_object_ref(t.appsrc));
  }
  GST_INFO("%s: caps from the objects' decoder configuration: %" GST_PTR_FORMAT, t.name.c_str(), static_cast<void*>(caps));
  if (appsrc) {
    gst_app_src_set_caps(GST_APP_SRC(appsrc), caps);
    gst_object_unref(appsrc);
  }
  gst_caps_unref(caps);
}

static void end_track(SrcShared& sh, TrackOut& t) {
  GstElement* appsrc = nullptr;
  {
    std::lock_guard<std::mutex> l(sh.mu);
    if (!t.appsrc) {
      t.eos_pending = true;  // sent once the pad exists, after what waited
      return;
    }
    appsrc = GST_ELEMENT(gst_object_ref(t.appsrc));
  }
  gst_app_src_end_of_stream(GST_APP_SRC(appsrc));
  gst_object_unref(appsrc);
}

static ObjectCallback track_callback(std::shared_ptr<SrcShared> sh, std::shared_ptr<TrackOut> t,
                                     std::optional<uint64_t> max_subgroup) {
  return [sh, t, max_subgroup](const ReceivedObject& o) {
    if (max_subgroup && o.subgroup > *max_subgroup) return;  // a pushed (PUBLISH) track: drop here
    const packaging::Packager* format;
    {
      std::lock_guard<std::mutex> l(sh->mu);
      format = t->format;
    }
    packaging::Unpacked u;
    const bool normal = o.status == moqt::wire::ObjectStatus::kNormal && !o.payload.empty();
    if (normal && !format->unpack(o, t->track_timescale, &u)) {
      // Not this track's framing (e.g. no timestamp prefix): dropped; the next one says DISCONT.
      if (t->malformed++ == 0)
        GST_WARNING("%s: object %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " is not in %s framing: dropped (and any "
                    "more like it)", t->name.c_str(), o.location.group, o.location.object, format->name());
      return;
    }
    // Status objects (END_OF_GROUP, END_OF_TRACK, does-not-exist) and empty objects are not
    // media: no buffer. They account for their ids, so what follows is not a discontinuity
    // unless they themselves show a hole; END_OF_TRACK ends the pad.
    if (!normal || u.offset >= o.payload.size()) {
      GST_LOG("%s: object %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " status %d, %zu bytes: no buffer",
              t->name.c_str(), o.location.group, o.location.object, int(o.status), o.payload.size());
      if (advance_sequence(*t, o, max_subgroup.has_value())) t->discont_pending = true;
      if (o.status == moqt::wire::ObjectStatus::kEndOfTrack) end_track(*sh, *t);
      return;
    }
    if (t->video) {
      if (o.location.object == 0 && (!t->decodable_group || o.location.group > *t->decodable_group))
        t->decodable_group = o.location.group;
      if (!t->decodable_group || o.location.group > *t->decodable_group) {
        GST_LOG("%s: object %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " before its group's start: dropped",
                t->name.c_str(), o.location.group, o.location.object);
        return;
      }
    }
    if (!u.config.empty()) apply_config(*sh, *t, u.config);
    GstBuffer* buf = buffer_of(*t, o, u, max_subgroup.has_value());
    GstElement* appsrc = nullptr;
    {
      std::lock_guard<std::mutex> l(sh->mu);
      if (!t->appsrc) {  // no pad yet (listener): keep a few until it exists
        if (t->pending.size() >= kMaxPending) {
          gst_buffer_unref(t->pending.front());
          t->pending.pop_front();
        }
        t->pending.push_back(buf);
        return;
      }
      appsrc = GST_ELEMENT(gst_object_ref(t->appsrc));
    }
    gst_app_src_push_buffer(GST_APP_SRC(appsrc), buf);  // never blocks: block=false, leaky
    gst_object_unref(appsrc);
  };
}

// --- streaming threads: timestamps and gaps -----------------------------------------------------

static GstClockTime running_time_now(GstElement* e) {
  GstClock* clock = gst_element_get_clock(e);
  if (!clock) return 0;
  const GstClockTime t = gst_clock_get_time(clock), base = gst_element_get_base_time(e);
  gst_object_unref(clock);
  return t > base ? t - base : 0;
}

struct ProbeData {
  std::shared_ptr<SrcShared> sh;
  std::shared_ptr<TrackOut> t;
};

// A CAPS query before the first buffer: appsrc answers ANY until its caps are negotiated, but the
// catalog already said what the track carries. Applications choose their decoder in pad-added
// by asking (gst_pad_query_caps), so answer with the catalog's caps.
static GstPadProbeReturn answer_caps(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  GstQuery* q = GST_PAD_PROBE_INFO_QUERY(info);
  if (GST_QUERY_TYPE(q) != GST_QUERY_CAPS) return GST_PAD_PROBE_OK;
  if (GstCaps* current = gst_pad_get_current_caps(pad)) {
    gst_caps_unref(current);
    return GST_PAD_PROBE_OK;
  }
  auto* d = static_cast<ProbeData*>(data);
  GstCaps* caps = nullptr;
  {
    std::lock_guard<std::mutex> l(d->sh->mu);
    if (d->t->caps) caps = gst_caps_ref(d->t->caps);
  }
  if (!caps) return GST_PAD_PROBE_OK;
  GstCaps* filter = nullptr;
  gst_query_parse_caps(q, &filter);
  if (filter) {
    GstCaps* both = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = both;
  }
  gst_query_set_caps_result(q, caps);
  gst_caps_unref(caps);
  return GST_PAD_PROBE_HANDLED;
}

static GstPadProbeReturn map_timestamps(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* pd = static_cast<ProbeData*>(data);
  GstBuffer* buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  GstClockTime pts;
  GstReferenceTimestampMeta* m = gst_buffer_get_reference_timestamp_meta(buf, wall_caps());
  if (!m) m = gst_buffer_get_reference_timestamp_meta(buf, media_caps());
  if (m) {
    // The sender's PTS moved onto our running time with one offset for every pad.
    std::lock_guard<std::mutex> l(pd->sh->mu);
    if (!pd->sh->have_offset) {
      pd->sh->offset = GST_CLOCK_DIFF(m->timestamp, running_time_now(pd->sh->bin));
      pd->sh->have_offset = true;
    }
    const GstClockTimeDiff p = GstClockTimeDiff(m->timestamp) + pd->sh->offset;
    pts = p > 0 ? GstClockTime(p) : 0;
  } else {
    pts = running_time_now(pd->sh->bin);  // no capture time: arrival time
  }
  GST_BUFFER_PTS(buf) = pts;
  GST_BUFFER_DTS(buf) = GST_CLOCK_TIME_NONE;
  TrackOut& t = *pd->t;
  if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT) && GST_CLOCK_TIME_IS_VALID(t.next_pts) && pts > t.next_pts)
    gst_pad_push_event(pad, gst_event_new_gap(t.next_pts, pts - t.next_pts));
  t.next_pts = pts + (GST_BUFFER_DURATION_IS_VALID(buf) ? GST_BUFFER_DURATION(buf) : 0);
  return GST_PAD_PROBE_OK;
}

// --- pads ------------------------------------------------------------------------------------

// The state a child of `bin` should be in: the bin's pending state while it changes, else its own.
static GstState state_to_follow(GstElement* bin) {
  GST_OBJECT_LOCK(bin);
  const GstState s = GST_STATE_PENDING(bin) != GST_STATE_VOID_PENDING ? GST_STATE_PENDING(bin) : GST_STATE(bin);
  GST_OBJECT_UNLOCK(bin);
  return s;
}

// A pad's appsrc is added from the async thread while the bin may be changing state in the
// application's thread. gst_element_sync_state_with_parent() can then apply a state it read before
// the bin set its children (this one included) to the next: the live appsrc stays PAUSED in a
// PLAYING pipeline and sends nothing, with no error. The bin announces its target before it
// touches its children, so reading it again after our change says whether ours was stale.
static void follow_state(GstElement* child, GstElement* bin) {
  for (int tries = 0; tries < 8; ++tries) {
    const GstState want = state_to_follow(bin);
    if (gst_element_set_state(child, want) == GST_STATE_CHANGE_FAILURE) return;  // its error is on the bus
    if (state_to_follow(bin) == want) return;
    GST_INFO_OBJECT(bin, "changed state while %s was being added: following again", GST_ELEMENT_NAME(child));
  }
}

// src_<track>, with characters gst-launch cannot name in a pad ('.', '/', ...: hang's "video/hd",
// our "video.hang") turned into '_'.
static std::string pad_name_of(const std::string& track) {
  std::string out = "src_" + track;
  for (size_t i = 4; i < out.size(); ++i)
    if (!g_ascii_isalnum(out[i]) && out[i] != '_' && out[i] != '-') out[i] = '_';
  return out;
}

struct Wanted {
  std::string name;
  GstCaps* caps;  // owned, may be null (downstream typefinds)
  const packaging::Packager* format;  // how its objects are framed
};

struct ExposeJob {
  std::vector<Wanted> tracks;
  bool last;  // then no-more-pads
  ~ExposeJob() {
    for (auto& w : tracks)
      if (w.caps) gst_caps_unref(w.caps);
  }
};

static void expose_tracks(GstElement* element, gpointer data) {
  GstMoqSrc* self = GST_MOQ_SRC(element);
  auto* job = static_cast<ExposeJob*>(data);
  GST_OBJECT_LOCK(self);
  std::shared_ptr<SrcShared> sh = *self->sh;
  std::shared_ptr<Connection> conn = self->conn ? *self->conn : nullptr;
  const GstClockTime latency = self->latency;
  const gint max_layer = self->max_layer;
  const gint groups_back = self->join_groups_back;
  GST_OBJECT_UNLOCK(self);
  std::lock_guard<std::mutex> expose(sh->expose_mu);
  {
    std::lock_guard<std::mutex> l(sh->mu);
    if (!sh->running || !conn) return;
  }
  std::optional<uint64_t> max_subgroup;
  if (max_layer >= 0) max_subgroup = uint64_t(max_layer);
  for (Wanted& w : job->tracks) {
    std::shared_ptr<TrackOut> t;
    {
      std::lock_guard<std::mutex> l(sh->mu);
      auto& slot = sh->tracks[w.name];
      if (slot && slot->appsrc) {  // already exposed: a catalog update may change the caps
        if (w.caps && !(slot->caps && gst_caps_is_equal(slot->caps, w.caps))) {
          gst_caps_replace(&slot->caps, w.caps);
          gst_app_src_set_caps(GST_APP_SRC(slot->appsrc), w.caps);
        }
        continue;
      }
      if (!slot) {
        slot = std::make_shared<TrackOut>();
        slot->name = w.name;
      }
      t = slot;
      t->format = w.format;
      // What the objects carried before the pad existed completes caps without a configuration.
      GstCaps* completed = w.caps && !t->config.empty()
                               ? packaging::caps_with_config(w.caps, std::span<const uint8_t>(
                                     reinterpret_cast<const uint8_t*>(t->config.data()), t->config.size()))
                               : nullptr;
      gst_caps_replace(&t->caps, completed ? completed : w.caps);
      if (completed) gst_caps_unref(completed);
    }
    GstElement* appsrc = gst_element_factory_make("appsrc", nullptr);
    g_object_set(appsrc, "is-live", TRUE, "format", GST_FORMAT_TIME, "do-timestamp", FALSE, "block", FALSE,
                 "max-buffers", guint64(kMaxQueuedBuffers), "max-bytes", guint64(0), "max-time", guint64(0),
                 "leaky-type", GST_APP_LEAKY_TYPE_DOWNSTREAM /* drop the oldest */, "min-latency", gint64(latency),
                 "max-latency", gint64(-1), nullptr);
    GstCaps* caps = nullptr;
    {
      std::lock_guard<std::mutex> l(sh->mu);
      if (t->caps) caps = gst_caps_ref(t->caps);
    }
    if (caps) gst_app_src_set_caps(GST_APP_SRC(appsrc), caps);
    t->video = caps && g_str_has_prefix(gst_structure_get_name(gst_caps_get_structure(caps, 0)), "video/");
    GstPad* inner = gst_element_get_static_pad(appsrc, "src");
    gst_pad_add_probe(inner, GST_PAD_PROBE_TYPE_BUFFER, map_timestamps, new ProbeData{sh, t},
                      [](gpointer d) { delete static_cast<ProbeData*>(d); });
    gst_bin_add(GST_BIN(self), appsrc);
    const std::string pad_name = pad_name_of(w.name);
    GstPad* ghost = gst_ghost_pad_new_from_template(pad_name.c_str(), inner,
                                                    gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "src_%s"));
    gst_object_unref(inner);
    gst_pad_add_probe(ghost, GST_PAD_PROBE_TYPE_QUERY_UPSTREAM, answer_caps, new ProbeData{sh, t},
                      [](gpointer d) { delete static_cast<ProbeData*>(d); });
    gst_pad_set_active(ghost, TRUE);
    follow_state(appsrc, element);
    GST_INFO_OBJECT(self, "exposing track '%s' (%s) as %s with caps %" GST_PTR_FORMAT, w.name.c_str(), w.format->name(),
                    pad_name.c_str(), static_cast<void*>(caps));
    if (caps) gst_caps_unref(caps);
    gst_element_add_pad(element, ghost);  // downstream links in pad-added, before any data flows
    {
      // From here the engine thread pushes directly; what waited goes first (under the lock, so
      // nothing overtakes it; the pushes do not block).
      std::lock_guard<std::mutex> l(sh->mu);
      t->appsrc = GST_ELEMENT(gst_object_ref(appsrc));
      for (GstBuffer* b : t->pending) gst_app_src_push_buffer(GST_APP_SRC(appsrc), b);
      t->pending.clear();
      if (std::exchange(t->eos_pending, false)) gst_app_src_end_of_stream(GST_APP_SRC(appsrc));
    }
    // Caller: SUBSCRIBE. Listener: accept its PUBLISH, or SUBSCRIBE once a peer announces.
    std::optional<uint64_t> back;
    if (groups_back >= 0) back = uint64_t(groups_back);
    SubscribeExtras extras;
    extras.on_track_properties = [sh, t](const moqt::wire::KeyValueList& props) {  // loop thread
      for (const auto& kv : props) {
        if (kv.type == kLocTimescale && kv.int_value > 0) t->track_timescale = kv.int_value;
        if (kv.is_bytes() && (kv.type == 0x0D || kv.type == 0x0F) && !kv.bytes_value.empty())
          apply_config(*sh, *t, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(kv.bytes_value.data()),
                                                         kv.bytes_value.size()));
      }
    };
    conn->subscribe(w.name, track_callback(sh, t, max_subgroup), max_subgroup, back, std::move(extras));
  }
  if (job->last) {
    bool first;
    {
      std::lock_guard<std::mutex> l(sh->mu);
      first = !std::exchange(sh->exposed, true);
    }
    if (first) gst_element_no_more_pads(element);
  }
}

static void schedule_expose(GstElement* el, std::vector<Wanted> tracks, bool last) {
  auto* job = new ExposeJob{std::move(tracks), last};
  gst_element_call_async(el, expose_tracks, job, [](gpointer d) { delete static_cast<ExposeJob*>(d); });
}

// --- start / stop ----------------------------------------------------------------------------

// A catalog object (loop thread): its tracks become pads. `auto_mode`: the first format whose
// catalog comes is used from then on, MSF preferred (a hang catalog waits for MSF's answer).
static void on_catalog(GstElement* el, const std::shared_ptr<SrcShared>& sh, const std::string& track,
                       const packaging::Packager* format, const std::string& text, bool auto_mode) {
  {
    std::lock_guard<std::mutex> l(sh->mu);
    if (sh->chosen && sh->chosen != format) return;  // the other format's catalog is in use
    if (!sh->chosen && auto_mode && format == &packaging::hang() && !sh->msf_absent) {
      sh->held_hang = text;
      return;
    }
  }
  std::string err;
  auto entries = format->parse_catalog(text, &err);
  if (!entries) {
    GST_WARNING_OBJECT(el, "%s: %s", format->catalog_track(), err.c_str());
    return;
  }
  std::function<void(const std::string&)> drop;
  {
    std::lock_guard<std::mutex> l(sh->mu);
    if (!sh->chosen) {
      GST_INFO_OBJECT(el, "broadcast packaging: %s (%s)", format->name(), format->catalog_track());
      // The other catalog's updates would only be dropped here: stop them at the publisher/relay.
      const bool other_absent = format == &packaging::msf() ? sh->hang_absent : sh->msf_absent;
      if (!other_absent) drop = sh->drop_catalog;
    }
    sh->chosen = format;
    sh->held_hang.clear();
  }
  if (drop) drop(format == &packaging::msf() ? packaging::hang().catalog_track() : packaging::msf().catalog_track());
  std::vector<Wanted> want;
  bool complete = true;  // every wanted track has caps: then no-more-pads
  for (packaging::CatalogEntry& e : *entries) {
    if ((!track.empty() && e.name != track) || e.name == format->catalog_track()) {
      if (e.caps) gst_caps_unref(e.caps);
      continue;
    }
    if (!e.caps) {  // not exposed before its caps are known (a later catalog, or the timeout)
      GST_WARNING_OBJECT(el, "%s: %s", format->catalog_track(), err.c_str());
      complete = false;
      continue;
    }
    want.push_back({e.name, e.caps, format});
  }
  if (want.empty() && complete) {
    if (!track.empty() && !entries->empty())
      GST_ELEMENT_ERROR(el, STREAM, NOT_IMPLEMENTED, ("The broadcast has no track '%s'", track.c_str()),
                        ("the catalog lists %zu other track(s); see the 'track' property", entries->size()));
    return;  // an empty catalog: wait for the next one
  }
  {
    std::lock_guard<std::mutex> l(sh->mu);
    sh->catalog_seen = sh->catalog_seen || complete;
  }
  if (!want.empty()) schedule_expose(el, std::move(want), complete);
}


static bool gst_moq_src_start(GstMoqSrc* self) {
  Settings s;
  std::string track;
  GST_OBJECT_LOCK(self);
  s = self->common->settings();
  track = self->track ? self->track : "";
  GstCaps* manual_caps = self->caps ? gst_caps_ref(self->caps) : nullptr;
  const guint catalog_timeout = self->catalog_timeout;
  const gint max_layer = self->max_layer;
  const gint packaging_choice = self->packaging;
  std::shared_ptr<SrcShared> sh = *self->sh;
  GST_OBJECT_UNLOCK(self);
  if (s.uri.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("No URI set"), ("set the 'uri' property, e.g. moqt://host:4443/live"));
    if (manual_caps) gst_caps_unref(manual_caps);
    return false;
  }
  std::string err;
  if (auto p = parse_uri(s.uri, &err); p && p->query.count("track")) track = p->query.at("track");
  {
    std::lock_guard<std::mutex> l(sh->mu);
    sh->tracks.clear();
    sh->pushed.clear();
    sh->running = true;
    sh->catalog_seen = false;
    sh->chosen = nullptr;
    sh->msf_absent = sh->hang_absent = false;
    sh->held_hang.clear();
    sh->ask_catalogs = nullptr;
    sh->drop_catalog = nullptr;
    sh->exposed = false;
    sh->have_offset = false;
    sh->peer_seen = false;
    sh->start_catalog_timer = nullptr;
  }
  GstElement* el = GST_ELEMENT(self);
  auto conn = Connection::create(
      s,
      [el, sh](const std::string& event, const std::string& detail) {
        post_event(el, event, detail);
        GST_INFO_OBJECT(el, "%s: %s", event.c_str(), detail.c_str());
        if (event == "error") {
          GST_ELEMENT_ERROR(el, RESOURCE, READ, ("MoQT error"), ("%s", detail.c_str()));
        } else if (event == "warning") {
          GST_ELEMENT_WARNING(el, RESOURCE, READ, ("MoQT: %s", detail.c_str()), (nullptr));
        } else if (event == "connected") {
          std::function<void()> arm;
          {
            std::lock_guard<std::mutex> l(sh->mu);
            sh->peer_seen = true;
            arm = std::exchange(sh->start_catalog_timer, nullptr);
          }
          if (arm) arm();
        } else if (event == "eos") {
          // "<track>: PUBLISH_DONE ...": that track's pad ends.
          const std::string name = detail.substr(0, detail.find(':'));
          GstElement* appsrc = nullptr;
          {
            std::lock_guard<std::mutex> l(sh->mu);
            auto it = sh->tracks.find(name);
            if (it != sh->tracks.end() && it->second->appsrc) appsrc = GST_ELEMENT(gst_object_ref(it->second->appsrc));
          }
          if (appsrc) {
            gst_app_src_end_of_stream(GST_APP_SRC(appsrc));
            gst_object_unref(appsrc);
          }
        }
      },
      &err);
  if (!conn) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("Cannot start MoQT on '%s'", s.uri.c_str()), ("%s", err.c_str()));
    if (manual_caps) gst_caps_unref(manual_caps);
    return false;
  }
  GST_OBJECT_LOCK(self);
  self->conn = new std::shared_ptr<Connection>(conn);
  GST_OBJECT_UNLOCK(self);
  std::optional<uint64_t> max_subgroup;
  if (max_layer >= 0) max_subgroup = uint64_t(max_layer);

  // With packaging=auto both catalogs are asked for; a missing one is not an error.
  const packaging::Packager* fixed = packaging_choice == kPackagingHang  ? &packaging::hang()
                                     : packaging_choice == kPackagingMsf ? &packaging::msf()
                                                                         : nullptr;
  if (manual_caps) {
    // One named track with the caps given: no catalog.
    schedule_expose(el, {{track.empty() ? "video" : track, manual_caps, fixed ? fixed : &packaging::msf()}}, true);
  } else {
    // Asks for the catalog(s). A caller that started before its publisher (a relay refuses at once
    // what nobody announced yet) asks again every 500 ms while the catalog-timeout runs.
    Connection* raw_conn = conn.get();
    const bool listener = conn->listener();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(catalog_timeout);
    auto ask = std::make_shared<std::function<void()>>();
    *ask = [el, sh, track, fixed, raw_conn, listener, deadline, weak = std::weak_ptr<std::function<void()>>(ask)] {
      for (const packaging::Packager* format : {&packaging::msf(), &packaging::hang()}) {
        if (fixed && format != fixed) continue;
        SubscribeExtras extras;
        if (!fixed)
          extras.on_refused = [el, sh, track, format, raw_conn, listener, deadline, weak](const std::string& why) {
            std::string held;
            bool none = false;
            {
              std::lock_guard<std::mutex> l(sh->mu);
              (format == &packaging::msf() ? sh->msf_absent : sh->hang_absent) = true;
              none = sh->msf_absent && sh->hang_absent && !sh->chosen;
              if (format == &packaging::msf() && !sh->chosen) held = std::exchange(sh->held_hang, {});
              if (none && !listener && std::chrono::steady_clock::now() + std::chrono::milliseconds(500) < deadline)
                sh->msf_absent = sh->hang_absent = false;  // asked again below
              else if (none)
                none = !sh->catalog_seen;
            }
            GST_INFO_OBJECT(el, "no %s catalog (%s): %s", format->name(), format->catalog_track(), why.c_str());
            if (!held.empty()) on_catalog(el, sh, track, &packaging::hang(), held, false);
            if (!none) return;
            if (!listener && std::chrono::steady_clock::now() + std::chrono::milliseconds(500) < deadline) {
              if (auto again = weak.lock()) raw_conn->after(std::chrono::milliseconds(500), *again);
              return;
            }
            GST_ELEMENT_WARNING(el, STREAM, NOT_IMPLEMENTED, ("The broadcast has no catalog"),
                                ("neither 'catalog' (MSF) nor 'catalog.json' (hang) exists; set 'caps' (and 'track', "
                                 "'packaging') to play a track without one"));
          };
        raw_conn->subscribe(
            format->catalog_track(),
            [el, sh, track, format, auto_mode = !fixed](const ReceivedObject& o) {
              if (o.location.object != 0 || o.status != moqt::wire::ObjectStatus::kNormal) return;
              on_catalog(el, sh, track, format, std::string(o.payload.begin(), o.payload.end()), auto_mode);
            },
            {}, 0, std::move(extras));  // the current catalog group from its start
        // The other catalog may have been chosen while this one was being asked for (a relay's
        // cached catalog arrives at once): its drop then found nothing to unsubscribe.
        bool unwanted = false;
        {
          std::lock_guard<std::mutex> l(sh->mu);
          unwanted = sh->chosen && sh->chosen != format && sh->drop_catalog;
        }
        if (unwanted) raw_conn->unsubscribe(format->catalog_track());
      }
    };
    {
      std::lock_guard<std::mutex> l(sh->mu);
      sh->ask_catalogs = ask;  // kept while running (the retries hold it weakly)
      if (!fixed && !listener) sh->drop_catalog = [raw_conn](const std::string& t) { raw_conn->unsubscribe(t); };
    }
    (*ask)();
    // No catalog in time (a publisher without one): a hang catalog still waiting for MSF's answer,
    // else the named track, or what was pushed, without caps; downstream typefinds.
    auto on_timeout = [el, sh, track, fixed] {
      std::vector<Wanted> want;
      std::string held;
      {
        std::lock_guard<std::mutex> l(sh->mu);
        if (sh->catalog_seen || !sh->running) return;
        held = std::exchange(sh->held_hang, {});
        const packaging::Packager* f = fixed ? fixed : &packaging::msf();
        if (held.empty()) {
          if (!track.empty()) want.push_back({track, nullptr, f});
          for (const std::string& n : sh->pushed)
            if (track.empty()) want.push_back({n, nullptr, f});
          if (want.empty()) want.push_back({"video", nullptr, f});
        }
      }
      if (!held.empty()) return on_catalog(el, sh, track, &packaging::hang(), held, false);
      GST_WARNING_OBJECT(el, "no catalog after the catalog-timeout: exposing %zu track(s) without caps", want.size());
      schedule_expose(el, std::move(want), true);
    };
    // A caller's session starts now; a listener waits for its first peer (the events callback
    // runs this on the loop thread, while the connection exists).
    Connection* raw = conn.get();
    auto arm = [raw, catalog_timeout, on_timeout] { raw->after(std::chrono::milliseconds(catalog_timeout), on_timeout); };
    bool now = !conn->listener();
    {
      std::lock_guard<std::mutex> l(sh->mu);
      if (conn->listener() && sh->peer_seen) now = true;
      else if (conn->listener()) sh->start_catalog_timer = arm;
    }
    if (now) arm();
  }
  if (conn->listener()) {
    // Ingest: the peer PUBLISHes; accept the catalog's tracks (or the named one).
    conn->accept_publishes([sh, track, max_subgroup, fixed](const std::string& name) -> ObjectCallback {
      if (!track.empty() && name != track) return nullptr;
      std::lock_guard<std::mutex> l(sh->mu);
      sh->pushed.insert(name);
      auto& slot = sh->tracks[name];
      if (!slot) {
        slot = std::make_shared<TrackOut>();
        slot->name = name;
        slot->format = sh->chosen ? sh->chosen : fixed ? fixed : &packaging::msf();
      }
      return track_callback(sh, slot, max_subgroup);
    });
  }
  g_object_notify(G_OBJECT(self), "port");
  return true;
}

static void gst_moq_src_stop(GstMoqSrc* self) {
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection>* c = std::exchange(self->conn, nullptr);
  std::shared_ptr<SrcShared> sh = *self->sh;
  GST_OBJECT_UNLOCK(self);
  delete c;  // joins the engine thread: no more callbacks
  std::lock_guard<std::mutex> expose(sh->expose_mu);
  std::map<std::string, std::shared_ptr<TrackOut>> tracks;
  {
    std::lock_guard<std::mutex> l(sh->mu);
    sh->running = false;
    sh->start_catalog_timer = nullptr;
    sh->ask_catalogs = nullptr;
    sh->drop_catalog = nullptr;
    tracks.swap(sh->tracks);
  }
  for (auto& [name, t] : tracks) {
    if (!t->appsrc) continue;
    const std::string pad_name = pad_name_of(name);
    if (GstPad* ghost = gst_element_get_static_pad(GST_ELEMENT(self), pad_name.c_str())) {
      gst_pad_set_active(ghost, FALSE);
      gst_element_remove_pad(GST_ELEMENT(self), ghost);
      gst_object_unref(ghost);
    }
    gst_element_set_state(t->appsrc, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self), t->appsrc);
    // Drop our ref too: the appsrc's pad probe holds this TrackOut, which must not hold it back.
    gst_object_unref(std::exchange(t->appsrc, nullptr));
  }
}

static GstStateChangeReturn gst_moq_src_change_state(GstElement* e, GstStateChange transition) {
  GstMoqSrc* self = GST_MOQ_SRC(e);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !gst_moq_src_start(self)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret = GST_ELEMENT_CLASS(gst_moq_src_parent_class)->change_state(e, transition);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) gst_moq_src_stop(self);
    return ret;
  }
  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ret = GST_STATE_CHANGE_NO_PREROLL;  // live, and pads come later
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY: gst_moq_src_stop(self); break;
    default: break;
  }
  return ret;
}

// --- properties --------------------------------------------------------------------------------

static GType gst_moq_packaging_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {kPackagingAuto, "Whichever catalog the broadcast has: MSF ('catalog') if both", "auto"},
      {kPackagingMsf, "LOC objects, MSF catalog 'catalog' (draft-ietf-moq-loc/-msf)", "msf"},
      {kPackagingHang, "moq.dev's hang: catalog.json, timestamp-prefixed payloads (@moq/publish)", "hang"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) g_once_init_leave(&type, g_enum_register_static("GstMoqPackaging", values));
  return type;
}

static void gst_moq_src_set_property(GObject* o, guint id, const GValue* v, GParamSpec* ps) {
  GstMoqSrc* self = GST_MOQ_SRC(o);
  GST_OBJECT_LOCK(self);
  if (self->conn && (ps->flags & GST_PARAM_MUTABLE_READY)) {  // in use by the running connection
    GST_OBJECT_UNLOCK(self);
    return refuse_property_change(GST_ELEMENT(self), ps);
  }
  if (id >= PROP_URI && id <= PROP_FALLBACK_URIS) {
    self->common->set(id - PROP_URI, v);
  } else switch (id) {
    case PROP_TRACK:
      g_free(self->track);
      self->track = g_value_dup_string(v);
      break;
    case PROP_CAPS: gst_caps_replace(&self->caps, static_cast<GstCaps*>(g_value_get_boxed(v))); break;
    case PROP_LATENCY: self->latency = g_value_get_uint64(v); break;
    case PROP_MAX_LAYER: self->max_layer = g_value_get_int(v); break;
    case PROP_CATALOG_TIMEOUT: self->catalog_timeout = g_value_get_uint(v); break;
    case PROP_JOIN_GROUPS_BACK: self->join_groups_back = g_value_get_int(v); break;
    case PROP_PACKAGING: self->packaging = g_value_get_enum(v); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_src_get_property(GObject* o, guint id, GValue* v, GParamSpec* ps) {
  GstMoqSrc* self = GST_MOQ_SRC(o);
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection> conn = self->conn ? *self->conn : nullptr;
  if (id >= PROP_URI && id <= PROP_FALLBACK_URIS) {
    self->common->get(id - PROP_URI, v, conn.get());
  } else switch (id) {
    case PROP_TRACK: g_value_set_string(v, self->track); break;
    case PROP_CAPS: gst_value_set_caps(v, self->caps); break;
    case PROP_LATENCY: g_value_set_uint64(v, self->latency); break;
    case PROP_MAX_LAYER: g_value_set_int(v, self->max_layer); break;
    case PROP_CATALOG_TIMEOUT: g_value_set_uint(v, self->catalog_timeout); break;
    case PROP_JOIN_GROUPS_BACK: g_value_set_int(v, self->join_groups_back); break;
    case PROP_PACKAGING: g_value_set_enum(v, self->packaging); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_src_finalize(GObject* o) {
  GstMoqSrc* self = GST_MOQ_SRC(o);
  delete self->conn;
  delete self->sh;
  delete self->common;
  g_free(self->track);
  gst_caps_replace(&self->caps, nullptr);
  G_OBJECT_CLASS(gst_moq_src_parent_class)->finalize(o);
}

static void gst_moq_src_class_init(GstMoqSrcClass* k) {
  GObjectClass* g = G_OBJECT_CLASS(k);
  GstElementClass* e = GST_ELEMENT_CLASS(k);
  g->set_property = gst_moq_src_set_property;
  g->get_property = gst_moq_src_get_property;
  g->finalize = gst_moq_src_finalize;
  gst_moq_install_common_properties(g, PROP_URI);
  const GParamFlags rw = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      g, PROP_TRACK,
      g_param_spec_string("track", "Track",
                          "Play only this track of the broadcast (default: every track its catalog lists; the URI "
                          "query track=NAME overrides). With 'caps' set, the one track to subscribe to "
                          "(default: video)",
                          nullptr, rw));
  g_object_class_install_property(
      g, PROP_CAPS,
      g_param_spec_boxed("caps", "Caps", "Caps of the track's payload; set to play one track without a catalog",
                         GST_TYPE_CAPS, rw));
  g_object_class_install_property(g, PROP_LATENCY,
                                  g_param_spec_uint64("latency", "Latency", "Latency reported to the pipeline (ns)", 0,
                                                      G_MAXUINT64, 200 * GST_MSECOND, rw));
  g_object_class_install_property(g, PROP_MAX_LAYER,
                                  g_param_spec_int("max-layer", "Maximum layer",
                                                   "Receive only layers (subgroups) up to this one; -1 = all", -1, 255,
                                                   -1, rw));
  g_object_class_install_property(
      g, PROP_CATALOG_TIMEOUT,
      g_param_spec_uint("catalog-timeout", "Catalog timeout",
                        "How long to wait for the broadcast's catalog before exposing tracks without caps (ms)", 0,
                        G_MAXUINT, 3000, rw));
  g_object_class_install_property(
      g, PROP_JOIN_GROUPS_BACK,
      g_param_spec_int("join-groups-back", "Join groups back",
                       "Where playback starts: -1 = at the start of the current group if the publisher or relay sends it from "
                       "its object 0 (as relays do), else at the next group (a keyframe; waits up to one group); 0 = at "
                       "the start of the current group (joining FETCH: no wait); N = N groups before that, as far as "
                       "the publisher's cache goes",
                       -1, 1000, -1, rw));
  g_object_class_install_property(
      g, PROP_PACKAGING,
      g_param_spec_enum("packaging", "Packaging",
                        "The broadcast's catalog and object framing: auto (whichever catalog exists, MSF first), "
                        "msf (LOC objects, catalog 'catalog') or hang (moq.dev's catalog.json, payloads prefixed "
                        "with a timestamp in µs); with 'caps' (no catalog) it says how the track is framed",
                        gst_moq_packaging_get_type(), kPackagingAuto, rw));
  gst_element_class_add_static_pad_template(e, &src_template);
  gst_element_class_set_static_metadata(e, "MoQ source", "Source/Network",
                                        "Receives a Media over QUIC broadcast: one pad per track", "moq-gst developers");
  e->change_state = gst_moq_src_change_state;
  GST_DEBUG_CATEGORY_INIT(moq_src_debug, "moqsrc", 0, "Media over QUIC source");
  gst_type_mark_as_plugin_api(gst_moq_packaging_get_type(), GstPluginAPIFlags(0));
}

static void gst_moq_src_init(GstMoqSrc* self) {
  self->common = new CommonProps;
  self->latency = 200 * GST_MSECOND;
  self->max_layer = -1;
  self->catalog_timeout = 3000;
  self->join_groups_back = -1;
  self->packaging = kPackagingAuto;
  self->sh = new std::shared_ptr<SrcShared>(std::make_shared<SrcShared>());
  (*self->sh)->bin = GST_ELEMENT(self);
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}

static GstURIType gst_moq_src_uri_get_type(GType) { return GST_URI_SRC; }
static void gst_moq_src_uri_handler_init(gpointer iface, gpointer) {
  gst_moq_uri_handler_fill(iface, gst_moq_src_uri_get_type);
}
