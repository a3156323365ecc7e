#include "relay_metrics.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <thread>

#ifdef MOQT_HAVE_SOUP
#include <libsoup/soup.h>
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

namespace {

constexpr guint kRequestDeadlineS = 10;  // a connection: from its accept to the end of its one response
constexpr const char* kDeadlineKey = "moqt-metrics-deadline";

bool is_get(const char* method) { return method && (!strcmp(method, "GET") || !strcmp(method, "HEAD")); }

// One request per connection ("Connection: close"): libsoup announces a keep-alive connection's
// next request only when its first bytes arrive, so the deadline could not cover an idle one. A
// scrape every few seconds does not need keep-alive.
void respond(SoupServerMessage* msg, guint status, const char* type, const std::string& body) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, body.data(), body.size());
}

// A refused request: its body (if any) is read and thrown away (within the deadline), not
// buffered.
void refuse(SoupServerMessage* msg, guint status) {
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
  if (status == SOUP_STATUS_METHOD_NOT_ALLOWED) soup_message_headers_replace(h, "Allow", "GET, HEAD");
  respond(msg, status, "text/plain; charset=utf-8",
          status == SOUP_STATUS_METHOD_NOT_ALLOWED ? "method not allowed\n" : "request bodies are not accepted\n");
}

void destroy_source(gpointer p) {
  g_source_destroy(static_cast<GSource*>(p));
  g_source_unref(static_cast<GSource*>(p));
}

gboolean deadline_hit(gpointer p) {
  // Reads and writes then fail at once: libsoup ends the request and closes the connection.
  if (GSocket* sock = soup_server_message_get_socket(static_cast<SoupServerMessage*>(p)))
    g_socket_shutdown(sock, TRUE, TRUE, nullptr);
  return G_SOURCE_REMOVE;
}

}  // namespace

struct MetricsServer::Impl {
  MetricsServer::Provider provider;
  std::thread thread;
  GMainContext* ctx = nullptr;
  GMainLoop* loop = nullptr;

  // Metrics thread from here on.
  void run(GSocketAddress* addr, std::promise<std::string>* ready, std::string* bound, unsigned* port);

  static void request_started(SoupServer*, SoupServerMessage* msg, gpointer self) {
    // Emitted when a connection is accepted (the message is blank yet): bounds the connection's
    // life, idle time included. The source goes with the message, or when the request ends.
    GSource* t = g_timeout_source_new_seconds(kRequestDeadlineS);
    g_source_set_callback(t, deadline_hit, msg, nullptr);
    g_source_attach(t, static_cast<Impl*>(self)->ctx);
    g_object_set_data_full(G_OBJECT(msg), kDeadlineKey, t, destroy_source);
  }
  static void request_ended(SoupServer*, SoupServerMessage* msg, gpointer) {
    g_object_set_data(G_OBJECT(msg), kDeadlineKey, nullptr);
  }
  // After the headers, before any body: refuse what is not a bodiless GET / HEAD.
  static void early(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*, gpointer) {
    if (!is_get(soup_server_message_get_method(msg))) return refuse(msg, SOUP_STATUS_METHOD_NOT_ALLOWED);
    SoupMessageHeaders* h = soup_server_message_get_request_headers(msg);
    const SoupEncoding enc = soup_message_headers_get_encoding(h);
    if (enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF ||
        (enc == SOUP_ENCODING_CONTENT_LENGTH && soup_message_headers_get_content_length(h) > 0))
      return refuse(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE);
  }
  static void handle(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable*, gpointer self) {
    if (!is_get(soup_server_message_get_method(msg))) return refuse(msg, SOUP_STATUS_METHOD_NOT_ALLOWED);
    if (!strcmp(path, "/metrics")) {
      respond(msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
              prometheus_text(static_cast<Impl*>(self)->provider()));
    } else if (!strcmp(path, "/healthz")) {
      respond(msg, SOUP_STATUS_OK, "text/plain; charset=utf-8", "ok\n");
    } else {
      respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n");
    }
  }
};

void MetricsServer::Impl::run(GSocketAddress* addr, std::promise<std::string>* ready, std::string* bound,
                              unsigned* port) {
  g_main_context_push_thread_default(ctx);
  SoupServer* server = soup_server_new("server-header", "moqt-relay", nullptr);
  soup_server_add_early_handler(server, nullptr, early, this, nullptr);
  soup_server_add_handler(server, nullptr, handle, this, nullptr);
  g_signal_connect(server, "request-started", G_CALLBACK(request_started), this);
  g_signal_connect(server, "request-finished", G_CALLBACK(request_ended), this);
  g_signal_connect(server, "request-aborted", G_CALLBACK(request_ended), this);
  GError* e = nullptr;
  bool ok = soup_server_listen(server, addr, SoupServerListenOptions(0), &e);
  g_object_unref(addr);
  if (ok) {
    GSList* ls = soup_server_get_listeners(server);
    GSocketAddress* local = ls ? g_socket_get_local_address(G_SOCKET(ls->data), &e) : nullptr;
    g_slist_free(ls);
    if (local) {
      auto* inet = G_INET_SOCKET_ADDRESS(local);
      gchar* ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
      *port = g_inet_socket_address_get_port(inet);
      const bool v6 = g_inet_address_get_family(g_inet_socket_address_get_address(inet)) == G_SOCKET_FAMILY_IPV6;
      *bound = (v6 ? "[" + std::string(ip) + "]" : std::string(ip)) + ":" + std::to_string(*port);
      g_free(ip);
      g_object_unref(local);
    } else {
      ok = false;
    }
  }
  if (!ok) {
    ready->set_value(e ? e->message : "no listening socket");
    if (e) g_error_free(e);
    g_object_unref(server);
    g_main_context_pop_thread_default(ctx);
    return;
  }
  ready->set_value("");
  g_main_loop_run(loop);
  soup_server_disconnect(server);  // closes the listener and every connection
  g_object_unref(server);
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  g_main_context_pop_thread_default(ctx);
}

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& listen, Provider provider, std::string* error) {
  // ADDR:PORT or [V6]:PORT
  const auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  const std::string port_s = colon == std::string::npos ? "" : listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  const long port = port_s.empty() ? -1 : std::strtol(port_s.c_str(), &end, 10);
  GInetAddress* ip = host.empty() ? nullptr : g_inet_address_new_from_string(host.c_str());
  if (!ip || port < 0 || port > 65535 || *end) {
    if (ip) g_object_unref(ip);
    *error = "'" + listen + "' is not IP:PORT (e.g. 127.0.0.1:9464, [::1]:9464; port 0 = any)";
    return nullptr;
  }
  GSocketAddress* addr = g_inet_socket_address_new(ip, guint16(port));
  g_object_unref(ip);

  std::unique_ptr<MetricsServer> m(new MetricsServer);
  m->impl_ = std::make_unique<Impl>();
  Impl* impl = m->impl_.get();
  impl->provider = std::move(provider);
  impl->ctx = g_main_context_new();
  impl->loop = g_main_loop_new(impl->ctx, FALSE);
  std::promise<std::string> ready;
  auto result = ready.get_future();
  impl->thread = std::thread([impl, addr, &ready, m = m.get()] { impl->run(addr, &ready, &m->address_, &m->port_); });
  std::string err = result.get();
  if (!err.empty()) {
    *error = "cannot listen on " + listen + ": " + err;
    impl->thread.join();
    return nullptr;
  }
  return m;
}

MetricsServer::~MetricsServer() {
  if (!impl_) return;
  if (impl_->thread.joinable()) {
    // Quit from inside the loop: a quit before g_main_loop_run started would be lost.
    GSource* s = g_idle_source_new();
    g_source_set_callback(
        s, [](gpointer loop) { g_main_loop_quit(static_cast<GMainLoop*>(loop)); return G_SOURCE_REMOVE; },
        impl_->loop, nullptr);
    g_source_attach(s, impl_->ctx);
    g_source_unref(s);
    impl_->thread.join();
  }
  g_main_loop_unref(impl_->loop);
  g_main_context_unref(impl_->ctx);
}

#else  // !MOQT_HAVE_SOUP

struct MetricsServer::Impl {};

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string&, Provider, std::string* error) {
  *error = "moqt-relay was built without libsoup-3.0: no metrics endpoint";
  return nullptr;
}

MetricsServer::~MetricsServer() = default;

#endif

}  // namespace moqt::tools
