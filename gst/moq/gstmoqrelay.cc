// moqrelay: the relay core (ext/moqt/relay) inside a pipeline. It has no pads: it listens from
// READY to NULL (like udpsrc binding its socket at READY), so `gst-launch-1.0 moqrelay port=4443`
// serves until interrupted, and moqsink / moqsrc of the same process attach with relay=NAME.
// Sessions and namespaces coming and going are posted as "moq-relay" element messages.
#include "gstmoqrelay.h"

#include <atomic>
#include <thread>

#include "moqconnection.h"
#include "relayhost.h"
#ifdef MOQT_HAVE_WEB
#include "moqt/web/watch_site.h"
#endif

using namespace moqgst;
using namespace moqt;

GST_DEBUG_CATEGORY_STATIC(moq_relay_debug);
#define GST_CAT_DEFAULT moq_relay_debug

struct RelayProps {
  std::string address = "0.0.0.0", cert_file, key_file, goaway_uri, wt_path, upstream, upstream_pin, jwt_key_file,
      jwt_alg, cluster, node_id, advertise, cluster_token;
  bool upstream_insecure = false, cluster_insecure = false;
  guint port = 4443;
  gint draft = 0;
  gint http_port = -1;
  guint cache_groups = 8, cache_mb = 64, linger_ms = 2000, hold_ms = 0, max_sessions = 1000, max_tracks = 10000,
        drain_ms = 2000, idle_timeout_ms = 10000, loops = 1, max_requests = 1024, max_queued_kb = 8192,
        cache_age_ms = 0;
};

struct _GstMoqRelay {
  GstElement parent;
  RelayProps* props;                     // object lock
  std::shared_ptr<RelayHost>* host;      // object lock; set from READY until NULL
  guint bound_port;
  guint bound_http_port;
  gchar* cert_sha256;
#ifdef MOQT_HAVE_WEB
  std::unique_ptr<web::WatchSite>* site;  // object lock; the watch page, READY until NULL
#endif
};

enum {
  PROP_0, PROP_ADDRESS, PROP_PORT, PROP_CERT_FILE, PROP_KEY_FILE, PROP_CERT_SHA256, PROP_DRAFT, PROP_WT_PATH,
  PROP_CACHE_GROUPS, PROP_CACHE_MB, PROP_LINGER_MS, PROP_HOLD_MS, PROP_MAX_SESSIONS, PROP_MAX_TRACKS, PROP_DRAIN_MS,
  PROP_GOAWAY_URI, PROP_IDLE_TIMEOUT_MS, PROP_STATS, PROP_UPSTREAM, PROP_UPSTREAM_PIN, PROP_UPSTREAM_INSECURE,
  PROP_JWT_KEY_FILE, PROP_JWT_ALG, PROP_LOOPS, PROP_MAX_REQUESTS, PROP_MAX_QUEUED_KB, PROP_CACHE_AGE_MS, PROP_CLUSTER,
  PROP_NODE_ID, PROP_ADVERTISE, PROP_CLUSTER_TOKEN, PROP_CLUSTER_INSECURE, PROP_HTTP_PORT
};

G_DEFINE_TYPE(GstMoqRelay, gst_moq_relay, GST_TYPE_ELEMENT)

static const char* event_name(relay::RelayEvent::Kind k) {
  switch (k) {
    case relay::RelayEvent::Kind::kSessionOpened: return "session-opened";
    case relay::RelayEvent::Kind::kSessionClosed: return "session-closed";
    case relay::RelayEvent::Kind::kNamespacePublished: return "namespace-published";
    case relay::RelayEvent::Kind::kNamespaceDone: return "namespace-done";
  }
  return "?";
}

static gboolean gst_moq_relay_start(GstMoqRelay* self) {
  GST_OBJECT_LOCK(self);
  const RelayProps p = *self->props;
  GST_OBJECT_UNLOCK(self);
  auto fail = [&](const char* prop, const std::string& why) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("Invalid property '%s'", prop), ("%s", why.c_str()));
    return FALSE;
  };
  if (p.draft != 0 && p.draft != 14 && p.draft != 16 && p.draft != 18)
    return fail("draft", "expected 0 (any), 14, 16 or 18, got " + std::to_string(p.draft));
  if (p.cert_file.empty() != p.key_file.empty())
    return fail(p.cert_file.empty() ? "cert-file" : "key-file", "cert-file and key-file go together");
  if (p.address.empty()) return fail("address", "empty");

  relay::RelayConfig cfg;
  cfg.server.listen = (p.address.find(':') != std::string::npos ? "[" + p.address + "]" : p.address) + ":" +
                      std::to_string(p.port);
  cfg.server.wt_path = p.wt_path;
  if (p.draft == 14) cfg.server.drafts = {wire::Draft::k14};
  if (p.draft == 16) cfg.server.drafts = {wire::Draft::k16};
  if (p.draft == 18) cfg.server.drafts = {wire::Draft::k18};
  cfg.cache_groups = p.cache_groups;
  cfg.cache_bytes = size_t(p.cache_mb) << 20;
  cfg.cache_age = std::chrono::milliseconds(p.cache_age_ms);
  cfg.linger = std::chrono::milliseconds(p.linger_ms);
  cfg.hold = std::chrono::milliseconds(p.hold_ms);
  cfg.server.max_sessions = p.max_sessions;
  cfg.max_tracks = p.max_tracks;
  cfg.server.quic.idle_timeout = std::chrono::milliseconds(p.idle_timeout_ms);
  cfg.server.session.max_incoming_subscriptions = p.max_requests;
  cfg.server.session.max_queued_bytes = size_t(p.max_queued_kb) << 10;
  cfg.upstream = p.upstream;
  if (!p.upstream_pin.empty()) {
    cfg.upstream_client.verify = quic::VerifyMode::kPinnedSha256;
    cfg.upstream_client.pinned_sha256 = p.upstream_pin;
  } else if (p.upstream_insecure) {
    cfg.upstream_client.verify = quic::VerifyMode::kInsecure;
  }
  std::string err;
  if (!p.upstream.empty() && !session::MoqUrl::parse(p.upstream, &err)) return fail("upstream", err);
  if (!p.cluster.empty()) {
    cfg.cluster.redis = p.cluster;
    cfg.cluster.node_id = p.node_id.empty() ? g_get_host_name() : p.node_id;
    cfg.cluster.advertise = p.advertise;
    if (p.advertise.empty()) return fail("advertise", "a cluster member needs the moqt:// URL the other relays reach it at");
    if (!p.cluster_token.empty()) cfg.cluster_client.auth_token = p.cluster_token;
    if (p.cluster_insecure) cfg.cluster_client.verify = quic::VerifyMode::kInsecure;
    std::string field;
    if (!cluster::Cluster::check(cfg.cluster, &err, &field))
      return fail(field == "node_id" ? "node-id" : field == "redis" ? "cluster" : "advertise", err);
  }
  std::optional<relay::Authorizer::Alg> alg;
  if (!p.jwt_alg.empty() && !(alg = relay::Authorizer::parse_alg(p.jwt_alg)))
    return fail("jwt-alg", "expected HS256 or ES256, got " + p.jwt_alg);
  if (!p.jwt_key_file.empty()) {
    cfg.auth = relay::Authorizer::from_file(p.jwt_key_file, alg, &err);
    if (!cfg.auth) return fail("jwt-key-file", err);
  }
  std::optional<quic::CertificatePem> cert =
      p.cert_file.empty() ? quic::generate_self_signed({"localhost", "127.0.0.1", "::1"}, 14, &err)
                          : quic::load_pem_files(p.cert_file, p.key_file, &err);
  if (!cert) return fail(p.cert_file.empty() ? "cert-file" : "cert-file", "certificate: " + err);
  cfg.server.cert = *cert;

  auto host = std::make_shared<RelayHost>();
  host->name = GST_OBJECT_NAME(self);
  if (RelayHost::find(host->name))
    return fail("name", "another running moqrelay is called '" + host->name + "': attachments name it");
  GstElement* e = GST_ELEMENT(self);  // the element outlives the relays: stop() ends them first
  host->group = relay::RelayGroup::start(p.loops, cfg, &err, [e](relay::Relay& r) {
    r.set_log([e](const std::string& line) { GST_INFO_OBJECT(e, "%s", line.c_str()); });
    r.set_events([e](const relay::RelayEvent& ev) {
      gst_element_post_message(
          e, gst_message_new_element(GST_OBJECT(e), gst_structure_new("moq-relay", "event", G_TYPE_STRING,
                                                                      event_name(ev.kind), "source", G_TYPE_UINT64,
                                                                      guint64(ev.source), "detail", G_TYPE_STRING,
                                                                      ev.detail.c_str(), nullptr)));
    });
  });
  if (!host->group) return fail(p.port ? "port" : "address", "cannot listen on " + cfg.server.listen + ": " + err);
  if (!RelayHost::add(host)) {
    host->group.reset();
    return fail("name", "another running moqrelay is called '" + host->name + "': attachments name it");
  }
  const guint port = host->group->port();
  // The watch page (HTTPS, the relay's certificate; a generated one is pinned by its hash).
  guint http_port = 0;
#ifdef MOQT_HAVE_WEB
  std::unique_ptr<web::WatchSite> site;
  if (p.http_port >= 0) {
    site = web::start_relay_site(*host->group, cfg, (p.address.find(':') != std::string::npos ? "[" + p.address + "]" : p.address) +
                                                        ":" + std::to_string(p.http_port),
                                 p.cert_file.empty(), &err);
    if (!site) {
      RelayHost::remove(host.get());
      host->group.reset();
      return fail("http-port", err);
    }
    http_port = site->port();
    GST_INFO_OBJECT(self, "watch page on https://%s/", site->address().c_str());
  }
#else
  if (p.http_port >= 0) {
    RelayHost::remove(host.get());
    host->group.reset();
    return fail("http-port", "this build of the plugin has no libsoup-3.0: no watch page");
  }
#endif
  GST_INFO_OBJECT(self, "listening on %s:%u (raw QUIC and WebTransport), certificate sha256 %s", p.address.c_str(), port,
                  cert->sha256_hex.c_str());
  GST_OBJECT_LOCK(self);
  *self->host = host;
  self->bound_port = port;
  self->bound_http_port = http_port;
#ifdef MOQT_HAVE_WEB
  *self->site = std::move(site);
#endif
  g_free(self->cert_sha256);
  self->cert_sha256 = g_strdup(cert->sha256_hex.c_str());
  GST_OBJECT_UNLOCK(self);
  post_event(GST_ELEMENT(self), "listening",
             p.address + ":" + std::to_string(port) + " sha256=" + cert->sha256_hex +
                 (p.http_port >= 0 ? " http-port=" + std::to_string(http_port) : ""));
  return TRUE;
}

// GOAWAY to every session, then close what is left after drain-ms.
static void gst_moq_relay_stop(GstMoqRelay* self) {
  GST_OBJECT_LOCK(self);
  std::shared_ptr<RelayHost> host = std::move(*self->host);
  self->host->reset();
#ifdef MOQT_HAVE_WEB
  std::unique_ptr<web::WatchSite> site = std::move(*self->site);
#endif
  const auto grace = std::chrono::milliseconds(self->props->drain_ms);
  const std::string goaway = self->props->goaway_uri;
  GST_OBJECT_UNLOCK(self);
#ifdef MOQT_HAVE_WEB
  site.reset();  // before the relay it lists
#endif
  if (!host) return;
  RelayHost::remove(host.get());  // no new attachments
  host->group->drain(goaway, grace);
  host->group->stop();
  // Attached moqsink/moqsrc keep `host` (and its loop) until they stop.
}

static GstStateChangeReturn gst_moq_relay_change_state(GstElement* e, GstStateChange t) {
  GstMoqRelay* self = GST_MOQ_RELAY(e);
  if (t == GST_STATE_CHANGE_NULL_TO_READY && !gst_moq_relay_start(self)) return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn r = GST_ELEMENT_CLASS(gst_moq_relay_parent_class)->change_state(e, t);
  if (t == GST_STATE_CHANGE_READY_TO_NULL) gst_moq_relay_stop(self);
  return r;
}

static GstStructure* gst_moq_relay_stats(std::shared_ptr<RelayHost> host) {
  relay::RelayStats s;
  if (host) s = host->group->stats();
  return gst_structure_new(
      "application/x-moq-relay-stats", "sessions", G_TYPE_UINT64, guint64(s.sessions), "tracks", G_TYPE_UINT64,
      guint64(s.tracks), "pushed-tracks", G_TYPE_UINT64, guint64(s.pushed_tracks), "upstream-subscriptions",
      G_TYPE_UINT64, guint64(s.upstream_subscriptions), "downstream-subscriptions", G_TYPE_UINT64,
      guint64(s.downstream_subscriptions), "namespaces", G_TYPE_UINT64, guint64(s.namespaces), "held-requests",
      G_TYPE_UINT64, guint64(s.held_requests), "cache-bytes", G_TYPE_UINT64, guint64(s.cache_bytes), "sessions-opened",
      G_TYPE_UINT64, guint64(s.sessions_opened), "sessions-closed", G_TYPE_UINT64, guint64(s.sessions_closed),
      "objects-in", G_TYPE_UINT64, guint64(s.objects_in), "bytes-in", G_TYPE_UINT64, guint64(s.bytes_in),
      "objects-out", G_TYPE_UINT64, guint64(s.objects_out), "bytes-out", G_TYPE_UINT64, guint64(s.bytes_out),
      "objects-dropped", G_TYPE_UINT64, guint64(s.objects_dropped), "streams-reset-congestion", G_TYPE_UINT64,
      guint64(s.streams_reset_congestion), "streams-reset-timeout", G_TYPE_UINT64, guint64(s.streams_reset_timeout),
      "requests-refused", G_TYPE_UINT64, guint64(s.requests_refused), "limit-hits", G_TYPE_UINT64,
      guint64(s.limit_hits), "upstream-connected", G_TYPE_BOOLEAN, gboolean(s.upstream_connected),
      "upstream-connects", G_TYPE_UINT64, guint64(s.upstream_connects), "auth-refused", G_TYPE_UINT64,
      guint64(s.auth_refused), "loop-links", G_TYPE_UINT64, guint64(s.loop_links), "loop-link-drops", G_TYPE_UINT64,
      guint64(s.loop_link_drops), "tracks-pushed", G_TYPE_UINT64, guint64(s.tracks_pushed), "cluster-connected",
      G_TYPE_BOOLEAN, gboolean(s.cluster_connected), "cluster-links", G_TYPE_UINT64, guint64(s.cluster_links),
      "cluster-lookup-errors", G_TYPE_UINT64, guint64(s.cluster_lookup_errors), nullptr);
}

static void gst_moq_relay_set_property(GObject* o, guint id, const GValue* v, GParamSpec* ps) {
  GstMoqRelay* self = GST_MOQ_RELAY(o);
  GST_OBJECT_LOCK(self);
  if (*self->host) {  // every setting is in use by the running relay
    GST_OBJECT_UNLOCK(self);
    return refuse_property_change(GST_ELEMENT(self), ps);
  }
  RelayProps& p = *self->props;
  auto str = [&] { return std::string(g_value_get_string(v) ? g_value_get_string(v) : ""); };
  switch (id) {
    case PROP_ADDRESS: p.address = str(); break;
    case PROP_PORT: p.port = g_value_get_uint(v); break;
    case PROP_CERT_FILE: p.cert_file = str(); break;
    case PROP_KEY_FILE: p.key_file = str(); break;
    case PROP_DRAFT: p.draft = g_value_get_int(v); break;
    case PROP_WT_PATH: p.wt_path = str(); break;
    case PROP_CACHE_GROUPS: p.cache_groups = g_value_get_uint(v); break;
    case PROP_CACHE_MB: p.cache_mb = g_value_get_uint(v); break;
    case PROP_LINGER_MS: p.linger_ms = g_value_get_uint(v); break;
    case PROP_HOLD_MS: p.hold_ms = g_value_get_uint(v); break;
    case PROP_MAX_SESSIONS: p.max_sessions = g_value_get_uint(v); break;
    case PROP_MAX_TRACKS: p.max_tracks = g_value_get_uint(v); break;
    case PROP_DRAIN_MS: p.drain_ms = g_value_get_uint(v); break;
    case PROP_GOAWAY_URI: p.goaway_uri = str(); break;
    case PROP_IDLE_TIMEOUT_MS: p.idle_timeout_ms = g_value_get_uint(v); break;
    case PROP_UPSTREAM: p.upstream = str(); break;
    case PROP_UPSTREAM_PIN: p.upstream_pin = str(); break;
    case PROP_UPSTREAM_INSECURE: p.upstream_insecure = g_value_get_boolean(v); break;
    case PROP_JWT_KEY_FILE: p.jwt_key_file = str(); break;
    case PROP_JWT_ALG: p.jwt_alg = str(); break;
    case PROP_LOOPS: p.loops = g_value_get_uint(v); break;
    case PROP_MAX_REQUESTS: p.max_requests = g_value_get_uint(v); break;
    case PROP_MAX_QUEUED_KB: p.max_queued_kb = g_value_get_uint(v); break;
    case PROP_CACHE_AGE_MS: p.cache_age_ms = g_value_get_uint(v); break;
    case PROP_CLUSTER: p.cluster = str(); break;
    case PROP_NODE_ID: p.node_id = str(); break;
    case PROP_ADVERTISE: p.advertise = str(); break;
    case PROP_CLUSTER_TOKEN: p.cluster_token = str(); break;
    case PROP_CLUSTER_INSECURE: p.cluster_insecure = g_value_get_boolean(v); break;
    case PROP_HTTP_PORT: p.http_port = g_value_get_int(v); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_relay_get_property(GObject* o, guint id, GValue* v, GParamSpec* ps) {
  GstMoqRelay* self = GST_MOQ_RELAY(o);
  GST_OBJECT_LOCK(self);
  const RelayProps& p = *self->props;
  std::shared_ptr<RelayHost> host = *self->host;
  auto str = [&](const std::string& x) { g_value_set_string(v, x.empty() ? nullptr : x.c_str()); };
  switch (id) {
    case PROP_ADDRESS: str(p.address); break;
    case PROP_PORT: g_value_set_uint(v, host ? self->bound_port : p.port); break;
    case PROP_CERT_FILE: str(p.cert_file); break;
    case PROP_KEY_FILE: str(p.key_file); break;
    case PROP_CERT_SHA256: g_value_set_string(v, host ? self->cert_sha256 : nullptr); break;
    case PROP_DRAFT: g_value_set_int(v, p.draft); break;
    case PROP_WT_PATH: str(p.wt_path); break;
    case PROP_CACHE_GROUPS: g_value_set_uint(v, p.cache_groups); break;
    case PROP_CACHE_MB: g_value_set_uint(v, p.cache_mb); break;
    case PROP_LINGER_MS: g_value_set_uint(v, p.linger_ms); break;
    case PROP_HOLD_MS: g_value_set_uint(v, p.hold_ms); break;
    case PROP_MAX_SESSIONS: g_value_set_uint(v, p.max_sessions); break;
    case PROP_MAX_TRACKS: g_value_set_uint(v, p.max_tracks); break;
    case PROP_DRAIN_MS: g_value_set_uint(v, p.drain_ms); break;
    case PROP_GOAWAY_URI: str(p.goaway_uri); break;
    case PROP_IDLE_TIMEOUT_MS: g_value_set_uint(v, p.idle_timeout_ms); break;
    case PROP_UPSTREAM: str(p.upstream); break;
    case PROP_UPSTREAM_PIN: str(p.upstream_pin); break;
    case PROP_UPSTREAM_INSECURE: g_value_set_boolean(v, p.upstream_insecure); break;
    case PROP_JWT_KEY_FILE: str(p.jwt_key_file); break;
    case PROP_JWT_ALG: str(p.jwt_alg); break;
    case PROP_LOOPS: g_value_set_uint(v, p.loops); break;
    case PROP_MAX_REQUESTS: g_value_set_uint(v, p.max_requests); break;
    case PROP_MAX_QUEUED_KB: g_value_set_uint(v, p.max_queued_kb); break;
    case PROP_CACHE_AGE_MS: g_value_set_uint(v, p.cache_age_ms); break;
    case PROP_CLUSTER: str(p.cluster); break;
    case PROP_NODE_ID: str(p.node_id); break;
    case PROP_ADVERTISE: str(p.advertise); break;
    case PROP_CLUSTER_TOKEN: str(p.cluster_token); break;
    case PROP_CLUSTER_INSECURE: g_value_set_boolean(v, p.cluster_insecure); break;
    case PROP_HTTP_PORT: g_value_set_int(v, host && p.http_port >= 0 ? gint(self->bound_http_port) : p.http_port); break;
    case PROP_STATS:
      GST_OBJECT_UNLOCK(self);  // not across the loop round trip
      g_value_take_boxed(v, gst_moq_relay_stats(host));
      return;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(o, id, ps); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_moq_relay_finalize(GObject* o) {
  GstMoqRelay* self = GST_MOQ_RELAY(o);
  delete self->host;
#ifdef MOQT_HAVE_WEB
  delete self->site;
#endif
  delete self->props;
  g_free(self->cert_sha256);
  G_OBJECT_CLASS(gst_moq_relay_parent_class)->finalize(o);
}

static void gst_moq_relay_class_init(GstMoqRelayClass* klass) {
  GObjectClass* g = G_OBJECT_CLASS(klass);
  GstElementClass* e = GST_ELEMENT_CLASS(klass);
  g->set_property = gst_moq_relay_set_property;
  g->get_property = gst_moq_relay_get_property;
  g->finalize = gst_moq_relay_finalize;
  e->change_state = gst_moq_relay_change_state;
  const auto rw = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  const auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  const RelayProps d;
  g_object_class_install_property(g, PROP_ADDRESS, g_param_spec_string("address", "Address", "Listen address (IPv4 or IPv6)", d.address.c_str(), rw));
  g_object_class_install_property(
      g, PROP_PORT,
      g_param_spec_uint("port", "Port",
                        "UDP port for raw QUIC and WebTransport (0 = any; reads back the bound port while running)", 0,
                        65535, d.port, rw));
  g_object_class_install_property(
      g, PROP_CERT_FILE,
      g_param_spec_string("cert-file", "Certificate file",
                          "Certificate chain (PEM); none = a generated self-signed one (14 days, browsers pin it)",
                          nullptr, rw));
  g_object_class_install_property(g, PROP_KEY_FILE, g_param_spec_string("key-file", "Key file", "Private key (PEM)", nullptr, rw));
  g_object_class_install_property(g, PROP_CERT_SHA256,
                                  g_param_spec_string("cert-sha256", "Certificate SHA-256",
                                                      "While running: the certificate hash browsers pin", nullptr, ro));
  g_object_class_install_property(g, PROP_DRAFT, g_param_spec_int("draft", "Draft", "Accept only this MoQT draft (0 = 14, 16 and 18)", 0, 18, d.draft, rw));
  g_object_class_install_property(g, PROP_WT_PATH, g_param_spec_string("wt-path", "WebTransport path", "Accept WebTransport only on this path (none = any)", nullptr, rw));
  g_object_class_install_property(g, PROP_CACHE_GROUPS, g_param_spec_uint("cache-groups", "Cache groups", "Groups cached per track (fast joins, FETCH)", 1, 1024, d.cache_groups, rw));
  g_object_class_install_property(g, PROP_CACHE_MB, g_param_spec_uint("cache-mb", "Cache MiB", "Cache bytes per track, in MiB", 1, 65536, d.cache_mb, rw));
  g_object_class_install_property(g, PROP_LINGER_MS, g_param_spec_uint("linger-ms", "Linger", "Keep an unwatched track's upstream subscription this long (ms)", 0, 3600000, d.linger_ms, rw));
  g_object_class_install_property(g, PROP_HOLD_MS, g_param_spec_uint("hold-ms", "Hold", "A request for an unannounced namespace waits this long for its publisher (ms; 0 = refused at once)", 0, 600000, d.hold_ms, rw));
  g_object_class_install_property(g, PROP_MAX_SESSIONS, g_param_spec_uint("max-sessions", "Max sessions", "Sessions at once", 1, 1000000, d.max_sessions, rw));
  g_object_class_install_property(g, PROP_MAX_TRACKS, g_param_spec_uint("max-tracks", "Max tracks", "Relayed tracks at once", 1, 10000000, d.max_tracks, rw));
  g_object_class_install_property(g, PROP_DRAIN_MS, g_param_spec_uint("drain-ms", "Drain", "On stop: GOAWAY, then close what is left after this long (ms)", 0, 600000, d.drain_ms, rw));
  g_object_class_install_property(g, PROP_GOAWAY_URI, g_param_spec_string("goaway-uri", "GOAWAY URI", "The URI the shutdown GOAWAY names (none = reconnect here)", nullptr, rw));
  g_object_class_install_property(g, PROP_IDLE_TIMEOUT_MS, g_param_spec_uint("idle-timeout-ms", "Idle timeout", "Close a silent session after this long (ms)", 1000, 3600000, d.idle_timeout_ms, rw));
  g_object_class_install_property(
      g, PROP_UPSTREAM,
      g_param_spec_string("upstream", "Upstream",
                          "Chain: requests for namespaces nobody announced here go to this relay or origin "
                          "(moqt://host:port/path or https://...; none = this relay is the origin side)",
                          nullptr, rw));
  g_object_class_install_property(g, PROP_UPSTREAM_PIN, g_param_spec_string("upstream-pin", "Upstream pin", "Accept only this upstream certificate SHA-256 (hex)", nullptr, rw));
  g_object_class_install_property(g, PROP_UPSTREAM_INSECURE, g_param_spec_boolean("upstream-insecure", "Upstream insecure", "Do not verify the upstream's certificate", FALSE, rw));
  g_object_class_install_property(
      g, PROP_JWT_KEY_FILE,
      g_param_spec_string("jwt-key-file", "JWT key file",
                          "Require JWTs (claims 'publish' / 'subscribe': namespace prefixes): the HS256 secret, or "
                          "the issuer's ES256 public key (PEM); none = no authorization",
                          nullptr, rw));
  g_object_class_install_property(g, PROP_JWT_ALG, g_param_spec_string("jwt-alg", "JWT algorithm", "HS256 or ES256 (none = ES256 for a PEM public key, else HS256)", nullptr, rw));
  g_object_class_install_property(
      g, PROP_CLUSTER,
      g_param_spec_string("cluster", "Cluster",
                          "Join a relay cluster whose control plane is this Redis (redis://[:password@]host:port/db); "
                          "none = a single relay",
                          nullptr, rw));
  g_object_class_install_property(g, PROP_NODE_ID, g_param_spec_string("node-id", "Node id", "This relay's id in the cluster (none = the host name)", nullptr, rw));
  g_object_class_install_property(g, PROP_ADVERTISE, g_param_spec_string("advertise", "Advertise", "How the other relays reach this one (moqt://host:port/path); needed with 'cluster'", nullptr, rw));
  g_object_class_install_property(g, PROP_CLUSTER_TOKEN, g_param_spec_string("cluster-token", "Cluster token", "Token presented to the other relays (a JWT when they require one)", nullptr, rw));
  g_object_class_install_property(g, PROP_CLUSTER_INSECURE, g_param_spec_boolean("cluster-insecure", "Cluster insecure", "Do not verify the other relays' certificates (development)", FALSE, rw));
  g_object_class_install_property(
      g, PROP_HTTP_PORT,
      g_param_spec_int("http-port", "HTTP port",
                       "Serve the watch page (live broadcasts, moq.dev's player) over HTTPS on this TCP port of "
                       "'address' (0 = any: read the bound one back once READY; -1 = off)",
                       -1, 65535, d.http_port, rw));
  g_object_class_install_property(g, PROP_CACHE_AGE_MS, g_param_spec_uint("cache-age-ms", "Cache age", "Cached groups older than this are dropped (ms; 0 = only the count and byte bounds)", 0, 86400000, d.cache_age_ms, rw));
  g_object_class_install_property(g, PROP_MAX_REQUESTS, g_param_spec_uint("max-requests", "Max requests", "Subscriptions one session may hold at once (more are refused)", 1, 1000000, d.max_requests, rw));
  g_object_class_install_property(g, PROP_MAX_QUEUED_KB, g_param_spec_uint("max-queued-kb", "Max queued KiB", "Bytes queued per downstream subscription before its oldest groups are dropped (KiB)", 64, 4194304, d.max_queued_kb, rw));
  g_object_class_install_property(
      g, PROP_LOOPS,
      g_param_spec_uint("loops", "Loops",
                        "Event loops (threads) sharing the port (SO_REUSEPORT); a track crosses loops once per "
                        "loop with viewers; attached elements use loop 0",
                        1, 256, d.loops, rw));
  g_object_class_install_property(
      g, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics",
                         "Sessions, tracks, subscriptions, cache bytes, objects and bytes in/out, drops, refusals",
                         GST_TYPE_STRUCTURE, ro));
  gst_element_class_set_static_metadata(
      e, "MoQ relay", "Generic/Network",
      "A Media over QUIC relay (raw QUIC and WebTransport, drafts 14/16/18); moqsink/moqsrc attach with relay=NAME",
      "moq-gst developers");
  GST_DEBUG_CATEGORY_INIT(moq_relay_debug, "moqrelay", 0, "Media over QUIC relay");
}

static void gst_moq_relay_init(GstMoqRelay* self) {
  self->props = new RelayProps;
  self->host = new std::shared_ptr<RelayHost>;
  self->bound_port = 0;
  self->bound_http_port = 0;
  self->cert_sha256 = nullptr;
#ifdef MOQT_HAVE_WEB
  self->site = new std::unique_ptr<web::WatchSite>;
#endif
}
