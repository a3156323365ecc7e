// moqsrc: a live source that subscribes to one MoQT track (caller mode) or accepts a PUBLISH of
// it (listener mode) and pushes one buffer per object. Objects are handed over from the engine
// thread through a bounded queue; create() never blocks the engine.
#include "gstmoqsrc.h"

#include <gst/base/gstpushsrc.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "catalog.h"
#include "gstmoqsink.h"
#include "moqconnection.h"

GST_DEBUG_CATEGORY_STATIC(moq_src_debug);
#define GST_CAT_DEFAULT moq_src_debug

using namespace moqgst;

namespace {
constexpr size_t kMaxQueued = 2000;  // objects waiting for create(); beyond that the oldest go
}

struct SrcState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<moqt::session::ReceivedObject> queue;
  bool flushing = false;
  bool eos = false;
  bool dropped = false;
  std::string error;
  GstCaps* catalog_caps = nullptr;  // the track's caps from the broadcast catalog
  bool caps_sent = false;
};

struct _GstMoqSrc {
  GstPushSrc parent;
  CommonProps* common;
  gchar* track;
  GstCaps* caps;
  GstClockTime latency;
  gint max_layer;
  std::shared_ptr<Connection>* conn;
  SrcState* st;
  // Streaming-thread state.
  gboolean have_last;
  guint64 last_group, last_object;
  GstClockTimeDiff ts_offset;  // running time - sender PTS, fixed at the first buffer (signed:
                               // senders such as x264enc start their PTS at 1000 h)
  gboolean have_offset;
};

enum { PROP_0, PROP_URI, PROP_MODE, PROP_CERT_FILE, PROP_KEY_FILE, PROP_TLS_PIN, PROP_TLS_INSECURE, PROP_DRAFT,
       PROP_PORT, PROP_CERT_SHA256, PROP_STATS, PROP_TRACK, PROP_CAPS, PROP_LATENCY, PROP_MAX_LAYER };

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void gst_moq_src_uri_handler_init(gpointer iface, gpointer data);

G_DEFINE_TYPE_WITH_CODE(GstMoqSrc, gst_moq_src, GST_TYPE_PUSH_SRC,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, gst_moq_src_uri_handler_init))

static gboolean gst_moq_src_start(GstBaseSrc* bs) {
  GstMoqSrc* self = GST_MOQ_SRC(bs);
  Settings s;
  std::string track;
  GST_OBJECT_LOCK(self);
  s = self->common->settings();
  track = self->track ? self->track : "";
  const gint max_layer = self->max_layer;
  GST_OBJECT_UNLOCK(self);
  if (s.uri.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("No URI set"), ("set the 'uri' property, e.g. moqt://host:4443/live"));
    return FALSE;
  }
  std::string err;
  if (auto p = parse_uri(s.uri, &err); p && p->query.count("track")) track = p->query.at("track");
  if (track.empty()) track = "video";
  self->st->flushing = false;
  self->st->eos = false;
  self->st->error.clear();
  self->st->queue.clear();
  gst_caps_replace(&self->st->catalog_caps, nullptr);
  self->st->caps_sent = false;
  GST_OBJECT_LOCK(self);
  const bool want_catalog = !self->caps;  // caps come from the catalog unless set by hand
  GST_OBJECT_UNLOCK(self);
  self->have_last = FALSE;
  self->have_offset = FALSE;
  GstElement* el = GST_ELEMENT(self);
  SrcState* st = self->st;
  auto conn = Connection::create(
      s,
      [el, st](const std::string& event, const std::string& detail) {
        gst_element_post_message(el, gst_message_new_element(GST_OBJECT(el),
                                                             gst_structure_new("moq", "event", G_TYPE_STRING, event.c_str(),
                                                                               "detail", G_TYPE_STRING, detail.c_str(), nullptr)));
        GST_INFO_OBJECT(el, "%s: %s", event.c_str(), detail.c_str());
        std::lock_guard<std::mutex> l(st->mu);
        if (event == "error") st->error = detail;
        if (event == "eos") st->eos = true;
        st->cv.notify_all();
      },
      &err);
  if (!conn) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("Cannot start MoQT on '%s'", s.uri.c_str()), ("%s", err.c_str()));
    return FALSE;
  }
  std::optional<uint64_t> max_subgroup;
  if (max_layer >= 0) max_subgroup = uint64_t(max_layer);
  conn->subscribe(track, [st, max_subgroup](const moqt::session::ReceivedObject& o) {
    if (max_subgroup && o.subgroup > *max_subgroup) return;  // a pushed (PUBLISH) track: drop here
    std::lock_guard<std::mutex> l(st->mu);
    if (st->queue.size() >= kMaxQueued) {
      st->queue.pop_front();  // the pipeline is not keeping up: keep the newest
      st->dropped = true;
    }
    st->queue.push_back(o);
    st->cv.notify_all();
  }, max_subgroup);
  if (want_catalog) {
    conn->subscribe(
        kCatalogTrack,
        [st, track, el](const moqt::session::ReceivedObject& o) {
          if (o.location.object != 0) return;  // object 0 of each group is a full catalog
          std::string err;
          GstCaps* caps = caps_from_catalog(std::string(o.payload.begin(), o.payload.end()), track, &err);
          if (!caps) {
            GST_WARNING_OBJECT(el, "catalog: %s", err.c_str());
            return;
          }
          std::lock_guard<std::mutex> l(st->mu);
          gst_caps_replace(&st->catalog_caps, caps);
          gst_caps_unref(caps);
          st->caps_sent = false;
          st->cv.notify_all();
        },
        {}, true);
  }
  GST_OBJECT_LOCK(self);
  self->conn = new std::shared_ptr<Connection>(conn);
  GST_OBJECT_UNLOCK(self);
  g_object_notify(G_OBJECT(self), "port");
  return TRUE;
}

static gboolean gst_moq_src_stop(GstBaseSrc* bs) {
  GstMoqSrc* self = GST_MOQ_SRC(bs);
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection>* c = self->conn;
  self->conn = nullptr;
  GST_OBJECT_UNLOCK(self);
  delete c;
  std::lock_guard<std::mutex> l(self->st->mu);
  self->st->queue.clear();
  return TRUE;
}

static gboolean gst_moq_src_unlock(GstBaseSrc* bs) {
  GstMoqSrc* self = GST_MOQ_SRC(bs);
  std::lock_guard<std::mutex> l(self->st->mu);
  self->st->flushing = true;
  self->st->cv.notify_all();
  return TRUE;
}

static gboolean gst_moq_src_unlock_stop(GstBaseSrc* bs) {
  GstMoqSrc* self = GST_MOQ_SRC(bs);
  std::lock_guard<std::mutex> l(self->st->mu);
  self->st->flushing = false;
  return TRUE;
}

static GstCaps* gst_moq_src_get_caps(GstBaseSrc* bs, GstCaps* filter) {
  GstMoqSrc* self = GST_MOQ_SRC(bs);
  GST_OBJECT_LOCK(self);
  GstCaps* caps = self->caps ? gst_caps_ref(self->caps) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (!caps) {
    std::lock_guard<std::mutex> l(self->st->mu);
    caps = self->st->catalog_caps ? gst_caps_ref(self->st->catalog_caps) : gst_caps_new_any();
  }
  if (filter) {
    GstCaps* i = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(caps);
    caps = i;
  }
  return caps;
}

static gboolean gst_moq_src_query(GstBaseSrc* bs, GstQuery* q) {
  GstMoqSrc* self = GST_MOQ_SRC(bs);
  if (GST_QUERY_TYPE(q) == GST_QUERY_LATENCY) {
    GST_OBJECT_LOCK(self);
    const GstClockTime lat = self->latency;
    GST_OBJECT_UNLOCK(self);
    gst_query_set_latency(q, TRUE, lat, GST_CLOCK_TIME_NONE);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS(gst_moq_src_parent_class)->query(bs, q);
}

static GstFlowReturn gst_moq_src_create(GstPushSrc* ps, GstBuffer** out) {
  GstMoqSrc* self = GST_MOQ_SRC(ps);
  SrcState* st = self->st;
  moqt::session::ReceivedObject o;
  bool dropped;
  {
    std::unique_lock<std::mutex> l(st->mu);
    // Wakes on data, flush, EOS or error; the periodic timeout only guards against lost wakeups.
    while (st->queue.empty() && !st->flushing && !st->eos && st->error.empty())
      st->cv.wait_for(l, std::chrono::milliseconds(200));
    if (st->flushing) return GST_FLOW_FLUSHING;
    if (!st->error.empty() && st->queue.empty()) {
      GST_ELEMENT_ERROR(self, RESOURCE, READ, ("MoQT error"), ("%s", st->error.c_str()));
      return GST_FLOW_ERROR;
    }
    if (st->queue.empty()) return GST_FLOW_EOS;
    GST_OBJECT_LOCK(self);
    const bool manual_caps = self->caps != nullptr;
    GST_OBJECT_UNLOCK(self);
    if (!manual_caps && !st->catalog_caps) {
      // Give the catalog a moment to arrive (it is sent first, at the highest priority);
      // without one the data goes out with ANY caps and downstream typefinds it.
      st->cv.wait_for(l, std::chrono::seconds(2), [&] { return st->catalog_caps || st->flushing; });
      if (st->flushing) return GST_FLOW_FLUSHING;
    }
    if (!manual_caps && st->catalog_caps && !st->caps_sent) {
      GstCaps* caps = gst_caps_ref(st->catalog_caps);
      st->caps_sent = true;
      l.unlock();
      gst_base_src_set_caps(GST_BASE_SRC(self), caps);
      gst_caps_unref(caps);
      l.lock();  // only create() pops, so the queue still holds the object we saw
    }
    o = std::move(st->queue.front());
    st->queue.pop_front();
    dropped = std::exchange(st->dropped, false);
  }
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, o.payload.size(), nullptr);
  gst_buffer_fill(buf, 0, o.payload.data(), o.payload.size());
  // Presentation time: the sender's PTS (LOC timestamp property 0x10, µs) moved onto our running
  // time with one offset fixed at the first buffer, so A/V stay aligned and the gaps real.
  for (const auto& kv : o.properties) {
    if (kv.type != 0x10 || kv.is_bytes()) continue;
    const GstClockTime sender = kv.int_value * 1000;
    if (!self->have_offset) {
      GstClock* clock = gst_element_get_clock(GST_ELEMENT(self));
      GstClockTime now = 0;
      if (clock) {
        const GstClockTime t = gst_clock_get_time(clock);
        const GstClockTime base = gst_element_get_base_time(GST_ELEMENT(self));
        now = t > base ? t - base : 0;
        gst_object_unref(clock);
      }
      self->ts_offset = GST_CLOCK_DIFF(sender, now);
      self->have_offset = TRUE;
    }
    const GstClockTimeDiff pts = GstClockTimeDiff(sender) + self->ts_offset;
    GST_BUFFER_PTS(buf) = pts > 0 ? GstClockTime(pts) : 0;
    GST_BUFFER_DTS(buf) = GST_CLOCK_TIME_NONE;
    // The sender's own PTS stays readable downstream (A/V sync across receivers, latency probes).
    static GstCaps* const sender_ts = gst_caps_new_empty_simple("timestamp/x-moq-sender-pts");
    gst_buffer_add_reference_timestamp_meta(buf, sender_ts, sender, GST_CLOCK_TIME_NONE);
  }
  const bool new_group = !self->have_last || o.location.group != self->last_group;
  if (!new_group || o.location.object != 0) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  // A skipped group or object, or objects dropped here: tell downstream.
  if (dropped || (self->have_last && ((new_group && o.location.group != self->last_group + 1) ||
                                      (!new_group && o.location.object != self->last_object + 1))))
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
  self->have_last = TRUE;
  self->last_group = o.location.group;
  self->last_object = o.location.object;
  *out = buf;
  return GST_FLOW_OK;
}

static void gst_moq_src_set_property(GObject* o, guint id, const GValue* v, GParamSpec* ps) {
  GstMoqSrc* self = GST_MOQ_SRC(o);
  GST_OBJECT_LOCK(self);
  auto set_str = [&](gchar** field) {
    g_free(*field);
    *field = g_value_dup_string(v);
  };
  if (id >= PROP_URI && id <= PROP_STATS) {
    self->common->set(id - PROP_URI, v);
  } else switch (id) {
    case PROP_TRACK: set_str(&self->track); break;
    case PROP_CAPS:
      gst_caps_replace(&self->caps, static_cast<GstCaps*>(g_value_get_boxed(v)));
      break;
    case PROP_LATENCY: self->latency = g_value_get_uint64(v); break;
    case PROP_MAX_LAYER: self->max_layer = g_value_get_int(v); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_src_get_property(GObject* o, guint id, GValue* v, GParamSpec* ps) {
  GstMoqSrc* self = GST_MOQ_SRC(o);
  GST_OBJECT_LOCK(self);
  std::shared_ptr<Connection> conn = self->conn ? *self->conn : nullptr;
  if (id >= PROP_URI && id <= PROP_STATS) {
    self->common->get(id - PROP_URI, v, conn.get());
  } else switch (id) {
    case PROP_TRACK: g_value_set_string(v, self->track); break;
    case PROP_CAPS: gst_value_set_caps(v, self->caps); break;
    case PROP_LATENCY: g_value_set_uint64(v, self->latency); break;
    case PROP_MAX_LAYER: g_value_set_int(v, self->max_layer); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps);
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_src_finalize(GObject* o) {
  GstMoqSrc* self = GST_MOQ_SRC(o);
  delete self->conn;
  gst_caps_replace(&self->st->catalog_caps, nullptr);
  delete self->st;
  delete self->common;
  g_free(self->track);
  gst_caps_replace(&self->caps, nullptr);
  G_OBJECT_CLASS(gst_moq_src_parent_class)->finalize(o);
}

static void gst_moq_src_class_init(GstMoqSrcClass* k) {
  GObjectClass* g = G_OBJECT_CLASS(k);
  GstElementClass* e = GST_ELEMENT_CLASS(k);
  GstBaseSrcClass* b = GST_BASE_SRC_CLASS(k);
  GstPushSrcClass* p = GST_PUSH_SRC_CLASS(k);
  g->set_property = gst_moq_src_set_property;
  g->get_property = gst_moq_src_get_property;
  g->finalize = gst_moq_src_finalize;
  gst_moq_install_common_properties(g, PROP_URI);
  const GParamFlags rw = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(g, PROP_TRACK,
                                  g_param_spec_string("track", "Track",
                                                      "Track name in the URI's namespace (default: video; the URI "
                                                      "query track=NAME overrides)",
                                                      nullptr, rw));
  g_object_class_install_property(g, PROP_CAPS,
                                  g_param_spec_boxed("caps", "Caps", "Caps of the track's payload", GST_TYPE_CAPS, rw));
  g_object_class_install_property(g, PROP_LATENCY,
                                  g_param_spec_uint64("latency", "Latency", "Latency reported to the pipeline (ns)", 0,
                                                      G_MAXUINT64, 200 * GST_MSECOND, rw));
  g_object_class_install_property(g, PROP_MAX_LAYER,
                                  g_param_spec_int("max-layer", "Maximum layer",
                                                   "Receive only layers (subgroups) up to this one; -1 = all", -1, 255,
                                                   -1, rw));
  gst_element_class_add_static_pad_template(e, &src_template);
  gst_element_class_set_static_metadata(e, "MoQ source", "Source/Network",
                                        "Receives a Media over QUIC track", "moq-gst developers");
  b->start = gst_moq_src_start;
  b->stop = gst_moq_src_stop;
  b->unlock = gst_moq_src_unlock;
  b->unlock_stop = gst_moq_src_unlock_stop;
  b->get_caps = gst_moq_src_get_caps;
  b->query = gst_moq_src_query;
  p->create = gst_moq_src_create;
  GST_DEBUG_CATEGORY_INIT(moq_src_debug, "moqsrc", 0, "Media over QUIC source");
}

static void gst_moq_src_init(GstMoqSrc* self) {
  self->common = new CommonProps;
  self->latency = 200 * GST_MSECOND;
  self->max_layer = -1;
  self->st = new SrcState;
  gst_base_src_set_live(GST_BASE_SRC(self), TRUE);
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
}

static GstURIType gst_moq_src_uri_get_type(GType) { return GST_URI_SRC; }
static void gst_moq_src_uri_handler_init(gpointer iface, gpointer) {
  gst_moq_uri_handler_fill(iface, gst_moq_src_uri_get_type);
}
