#include "relay_metrics.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef MOQT_HAVE_SOUP
#include "moqt/web/http_server.h"
#endif

namespace moqt::tools {

namespace {

void sample(std::string& out, const char* name, const char* type, const char* help, uint64_t v) {
  char line[96];
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  std::snprintf(line, sizeof line, "%s %" PRIu64 "\n", name, v);
  out += line;
}

void gauge(std::string& out, const char* name, const char* help, uint64_t v) { sample(out, name, "gauge", help, v); }
void counter(std::string& out, const char* name, const char* help, uint64_t v) {
  sample(out, name, "counter", help, v);
}

}  // namespace

std::string prometheus_text(const relay::RelayStats& s) {
  // Every field of RelayStats is exported below. This binding stops compiling when a field is
  // added or removed: export the new one (and list it in docs/relay.md), then fix the count.
  [[maybe_unused]] const auto& [f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18,
                                f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29] = s;
  std::string out;
  out.reserve(4096);
  gauge(out, "moqt_relay_sessions", "Sessions open now (publishers and subscribers).", s.sessions);
  gauge(out, "moqt_relay_tracks", "Relayed tracks now (pulled and pushed).", s.tracks);
  gauge(out, "moqt_relay_pushed_tracks", "Tracks publishers PUBLISHed to the relay, now.", s.pushed_tracks);
  gauge(out, "moqt_relay_upstream_subscriptions", "SUBSCRIBEs the relay holds at publishers now.",
        s.upstream_subscriptions);
  gauge(out, "moqt_relay_downstream_subscriptions", "Subscribers of relayed tracks now.", s.downstream_subscriptions);
  gauge(out, "moqt_relay_namespaces", "Namespaces published to the relay now.", s.namespaces);
  gauge(out, "moqt_relay_held_requests", "Requests waiting for their namespace's publisher now.", s.held_requests);
  gauge(out, "moqt_relay_cache_bytes", "Bytes in the track caches now.", s.cache_bytes);
  gauge(out, "moqt_relay_upstream_connected", "1 while the session to the upstream relay is up, else 0.",
        s.upstream_connected ? 1 : 0);
  counter(out, "moqt_relay_sessions_opened_total", "Sessions opened.", s.sessions_opened);
  counter(out, "moqt_relay_sessions_closed_total", "Sessions closed.", s.sessions_closed);
  counter(out, "moqt_relay_objects_in_total", "Objects received from publishers.", s.objects_in);
  counter(out, "moqt_relay_objects_out_total", "Objects sent to subscribers.", s.objects_out);
  counter(out, "moqt_relay_bytes_in_total", "Object payload bytes received from publishers.", s.bytes_in);
  counter(out, "moqt_relay_bytes_out_total", "Object payload bytes sent to subscribers.", s.bytes_out);
  counter(out, "moqt_relay_objects_dropped_total", "Objects dropped by downstream queues (slow subscribers).",
          s.objects_dropped);
  out +=
      "# HELP moqt_relay_streams_reset_total Downstream streams reset, by reason: queue bound (congestion) or "
      "delivery timeout.\n"
      "# TYPE moqt_relay_streams_reset_total counter\n";
  char line[128];
  std::snprintf(line, sizeof line, "moqt_relay_streams_reset_total{reason=\"congestion\"} %" PRIu64 "\n",
                s.streams_reset_congestion);
  out += line;
  std::snprintf(line, sizeof line, "moqt_relay_streams_reset_total{reason=\"delivery_timeout\"} %" PRIu64 "\n",
                s.streams_reset_timeout);
  out += line;
  counter(out, "moqt_relay_requests_refused_total", "Requests refused (no such namespace or track, limits).",
          s.requests_refused);
  counter(out, "moqt_relay_limit_hits_total", "Times max-tracks or the held-request bound refused something.",
          s.limit_hits);
  counter(out, "moqt_relay_upstream_connects_total", "Sessions opened to the upstream relay (1 + reconnects).",
          s.upstream_connects);
  counter(out, "moqt_relay_fetches_forwarded_total",
          "FETCHes of what a track's cache no longer had, sent to the track's source.", s.fetches_forwarded);
  counter(out, "moqt_relay_auth_refused_total",
          "Requests refused UNAUTHORIZED and sessions closed for their token.", s.auth_refused);
  gauge(out, "moqt_relay_loop_links", "Tracks mirrored from another relay loop of this process now.", s.loop_links);
  counter(out, "moqt_relay_loop_link_drops_total", "Objects a slow relay loop of this process could not take.",
          s.loop_link_drops);
  counter(out, "moqt_relay_tracks_pushed_total", "Tracks PUBLISHed to SUBSCRIBE_TRACKS subscribers.",
          s.tracks_pushed);
  gauge(out, "moqt_relay_cluster_connected", "1 if the cluster's Redis is reachable (0 too without a cluster).",
        s.cluster_connected ? 1 : 0);
  gauge(out, "moqt_relay_cluster_links", "Relay-to-relay sessions of the cluster open now.", s.cluster_links);
  counter(out, "moqt_relay_cluster_lookup_errors_total", "Cluster lookups Redis could not answer.",
          s.cluster_lookup_errors);
  return out;
}

#ifdef MOQT_HAVE_SOUP

struct MetricsServer::Impl {
  std::unique_ptr<web::HttpServer> http;
};

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& listen, Provider provider, std::string* error) {
  web::HttpServerConfig cfg;
  cfg.listen = listen;
  cfg.name = "moqt-relay";
  cfg.max_connections = 64;
  auto http = web::HttpServer::start(
      std::move(cfg),
      [provider = std::move(provider)](const web::HttpRequest& req, web::Reply reply) {
        web::HttpResponse r;
        if (req.path == "/metrics") {
          r.type = "text/plain; version=0.0.4; charset=utf-8";
          r.body = prometheus_text(provider());
        } else if (req.path == "/healthz") {
          r.body = "ok\n";
        } else {
          r.status = 404;
          r.body = "not found: try /metrics or /healthz\n";
        }
        reply(std::move(r));
      },
      error);
  if (!http) return nullptr;
  std::unique_ptr<MetricsServer> m(new MetricsServer);
  m->address_ = http->address();
  m->port_ = http->port();
  m->impl_ = std::make_unique<Impl>();
  m->impl_->http = std::move(http);
  return m;
}

MetricsServer::~MetricsServer() = default;

#else  // !MOQT_HAVE_SOUP

struct MetricsServer::Impl {};

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string&, Provider, std::string* error) {
  *error = "moqt-relay was built without libsoup-3.0: no metrics endpoint";
  return nullptr;
}

MetricsServer::~MetricsServer() = default;

#endif

}  // namespace moqt::tools
