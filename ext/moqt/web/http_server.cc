#include "moqt/web/http_server.h"

#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <thread>

#include <libsoup/soup.h>

namespace moqt::web {

namespace {

constexpr const char* kDeadlineKey = "moqt-http-deadline";
constexpr const char* kOverloadKey = "moqt-http-overload";

bool is_get(const char* method) { return method && (!strcmp(method, "GET") || !strcmp(method, "HEAD")); }

// One request per connection ("Connection: close"): libsoup announces a keep-alive connection's
// next request only when its first bytes arrive, so the deadline could not cover an idle one.
void respond(SoupServerMessage* msg, const HttpResponse& r) {
  SoupMessageHeaders* h = soup_server_message_get_response_headers(msg);
  for (const auto& [k, v] : r.headers) soup_message_headers_replace(h, k.c_str(), v.c_str());
  soup_message_headers_replace(h, "Connection", "close");
  soup_server_message_set_status(msg, r.status, nullptr);
  soup_server_message_set_response(msg, r.type.c_str(), SOUP_MEMORY_COPY, r.body.data(), r.body.size());
}

// A refused request: its body (if any) is read and thrown away (within the deadline), not buffered.
void refuse(SoupServerMessage* msg, unsigned status, const char* text) {
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  HttpResponse r;
  r.status = status;
  r.body = text;
  if (status == SOUP_STATUS_METHOD_NOT_ALLOWED) r.headers.emplace_back("Allow", "GET, HEAD");
  respond(msg, r);
}

void destroy_source(gpointer p) {
  g_source_destroy(static_cast<GSource*>(p));
  g_source_unref(static_cast<GSource*>(p));
}

// Runs `task` on `ctx`'s thread after `delay`; dropped with the context.
void attach(GMainContext* ctx, std::function<void()> task, std::chrono::milliseconds delay);

}  // namespace

struct HttpServer::Impl {
  HttpServerConfig cfg;
  Handler handler;
  std::thread thread;
  GMainContext* ctx = nullptr;
  GMainLoop* loop = nullptr;

  // Server thread from here on.
  struct Pending {
    SoupServerMessage* msg;
    bool paused = false;
    bool done = false;  // answered, or the connection went away
  };
  std::map<SoupServerMessage*, std::shared_ptr<Pending>> pending;  // requests in the handler's hands
  size_t live = 0;  // connections accepted and not yet finished

  void run(GSocketAddress* addr, GTlsCertificate* cert, std::promise<std::string>* ready, std::string* bound,
           unsigned* port);

  struct Deadline {
    Impl* impl;
    SoupServerMessage* msg;
  };
  static gboolean deadline_hit(gpointer p) {
    auto* d = static_cast<Deadline*>(p);
    // A held (paused) request would not notice its socket closing: end it with a 504 first.
    if (auto it = d->impl->pending.find(d->msg); it != d->impl->pending.end()) {
      auto pend = it->second;
      d->impl->pending.erase(it);
      pend->done = true;
      HttpResponse r;
      r.status = SOUP_STATUS_GATEWAY_TIMEOUT;
      r.body = "timed out\n";
      respond(d->msg, r);
      if (pend->paused) soup_server_message_unpause(d->msg);
    }
    // Reads and writes then fail at once: libsoup ends the request and closes the connection.
    if (GSocket* sock = soup_server_message_get_socket(d->msg)) g_socket_shutdown(sock, TRUE, TRUE, nullptr);
    return G_SOURCE_REMOVE;
  }

  static void request_started(SoupServer*, SoupServerMessage* msg, gpointer self) {
    // Emitted when a connection is accepted (the message is blank yet): bounds the connection's
    // life, idle time included. The source goes with the message, or when the request ends.
    Impl* impl = static_cast<Impl*>(self);
    ++impl->live;
    g_object_set_data(G_OBJECT(msg), "moqt-http-counted", GINT_TO_POINTER(1));
    if (impl->live > impl->cfg.max_connections) g_object_set_data(G_OBJECT(msg), kOverloadKey, GINT_TO_POINTER(1));
    GSource* t = g_timeout_source_new_seconds(guint(impl->cfg.deadline.count()));
    g_source_set_callback(t, deadline_hit, new Deadline{impl, msg}, [](gpointer d) { delete static_cast<Deadline*>(d); });
    g_source_attach(t, impl->ctx);
    g_object_set_data_full(G_OBJECT(msg), kDeadlineKey, t, destroy_source);
  }
  static void request_ended(SoupServer*, SoupServerMessage* msg, gpointer self) {
    Impl* impl = static_cast<Impl*>(self);
    g_object_set_data(G_OBJECT(msg), kDeadlineKey, nullptr);
    if (g_object_steal_data(G_OBJECT(msg), "moqt-http-counted")) --impl->live;
    if (auto it = impl->pending.find(msg); it != impl->pending.end()) {
      it->second->done = true;
      impl->pending.erase(it);
    }
  }
  // After the headers, before any body: refuse what is not a bodiless GET / HEAD.
  static void early(SoupServer*, SoupServerMessage* msg, const char*, GHashTable*, gpointer) {
    if (g_object_get_data(G_OBJECT(msg), kOverloadKey))
      return refuse(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too many connections\n");
    if (!is_get(soup_server_message_get_method(msg)))
      return refuse(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed\n");
    SoupMessageHeaders* h = soup_server_message_get_request_headers(msg);
    const SoupEncoding enc = soup_message_headers_get_encoding(h);
    if (enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF ||
        (enc == SOUP_ENCODING_CONTENT_LENGTH && soup_message_headers_get_content_length(h) > 0))
      return refuse(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request bodies are not accepted\n");
  }
  static void handle(SoupServer*, SoupServerMessage* msg, const char* path, GHashTable* query, gpointer self) {
    Impl* impl = static_cast<Impl*>(self);
    if (g_object_get_data(G_OBJECT(msg), kOverloadKey))
      return refuse(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too many connections\n");
    const char* method = soup_server_message_get_method(msg);
    if (!is_get(method)) return refuse(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed\n");
    HttpRequest req;
    req.path = path ? path : "/";
    req.head = !strcmp(method, "HEAD");
    if (query) {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init(&it, query);
      while (g_hash_table_iter_next(&it, &k, &v))
        if (k && v) req.query.emplace(static_cast<const char*>(k), static_cast<const char*>(v));
    }
    auto p = std::make_shared<Pending>(Pending{msg});
    impl->pending[msg] = p;
    impl->handler(req, [impl, p](HttpResponse r) {
      if (p->done) return;
      p->done = true;
      impl->pending.erase(p->msg);
      respond(p->msg, r);
      if (p->paused) soup_server_message_unpause(p->msg);
    });
    if (!p->done) {
      p->paused = true;
      soup_server_message_pause(msg);
    }
  }
};

void HttpServer::Impl::run(GSocketAddress* addr, GTlsCertificate* cert, std::promise<std::string>* ready,
                           std::string* bound, unsigned* port) {
  g_main_context_push_thread_default(ctx);
  SoupServer* server = soup_server_new("server-header", cfg.name.c_str(), cert ? "tls-certificate" : nullptr, cert,
                                       nullptr);
  if (cert) g_object_unref(cert);
  soup_server_add_early_handler(server, nullptr, early, this, nullptr);
  soup_server_add_handler(server, nullptr, handle, this, nullptr);
  g_signal_connect(server, "request-started", G_CALLBACK(request_started), this);
  g_signal_connect(server, "request-finished", G_CALLBACK(request_ended), this);
  g_signal_connect(server, "request-aborted", G_CALLBACK(request_ended), this);
  GError* e = nullptr;
  bool ok = soup_server_listen(server, addr, cert ? SOUP_SERVER_LISTEN_HTTPS : SoupServerListenOptions(0), &e);
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
  for (auto& [m, p] : pending) p->done = true;  // held answers are never sent
  pending.clear();
  soup_server_disconnect(server);  // closes the listener and every connection
  g_object_unref(server);
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  g_main_context_pop_thread_default(ctx);
}

std::unique_ptr<HttpServer> HttpServer::start(HttpServerConfig cfg, Handler handler, std::string* error) {
  // ADDR:PORT or [V6]:PORT
  const std::string listen = cfg.listen;  // a copy: cfg is moved below
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
  if (cfg.deadline.count() < 1 || cfg.max_connections < 1) {
    g_object_unref(ip);
    *error = "the deadline and max_connections must be at least 1";
    return nullptr;
  }
  GTlsCertificate* cert = nullptr;
  if (!cfg.tls_pem.empty()) {
    GTlsBackend* backend = g_tls_backend_get_default();
    if (!backend || !g_tls_backend_supports_tls(backend)) {
      g_object_unref(ip);
      *error = "GLib has no TLS backend for HTTPS (install glib-networking)";
      return nullptr;
    }
    GError* e = nullptr;
    cert = g_tls_certificate_new_from_pem(cfg.tls_pem.c_str(), -1, &e);
    if (!cert) {
      g_object_unref(ip);
      *error = std::string("the HTTPS certificate cannot be used: ") + (e ? e->message : "?");
      if (e) g_error_free(e);
      return nullptr;
    }
  }
  GSocketAddress* addr = g_inet_socket_address_new(ip, guint16(port));
  g_object_unref(ip);

  std::unique_ptr<HttpServer> s(new HttpServer);
  s->https_ = cert != nullptr;
  s->impl_ = std::make_unique<Impl>();
  Impl* impl = s->impl_.get();
  impl->cfg = std::move(cfg);
  impl->handler = std::move(handler);
  impl->ctx = g_main_context_new();
  impl->loop = g_main_loop_new(impl->ctx, FALSE);
  std::promise<std::string> ready;
  auto result = ready.get_future();
  HttpServer* self = s.get();
  impl->thread = std::thread([impl, addr, cert, &ready, self] {
    impl->run(addr, cert, &ready, &self->address_, &self->port_);
  });
  std::string err = result.get();
  if (!err.empty()) {
    *error = "cannot listen on " + listen + ": " + err;
    impl->thread.join();
    return nullptr;
  }
  return s;
}

void HttpServer::post(std::function<void()> task, std::chrono::milliseconds delay) {
  attach(impl_->ctx, std::move(task), delay);
}

void HttpServer::later(std::function<void()> task, std::chrono::milliseconds delay) {
  attach(g_main_context_get_thread_default(), std::move(task), delay);
}

namespace {
void attach(GMainContext* ctx, std::function<void()> task, std::chrono::milliseconds delay) {
  GSource* s = delay.count() > 0 ? g_timeout_source_new(guint(delay.count())) : g_idle_source_new();
  auto* fn = new std::function<void()>(std::move(task));
  g_source_set_callback(
      s, [](gpointer p) { (*static_cast<std::function<void()>*>(p))(); return G_SOURCE_REMOVE; }, fn,
      [](gpointer p) { delete static_cast<std::function<void()>*>(p); });
  g_source_attach(s, ctx);
  g_source_unref(s);
}
}  // namespace

HttpServer::~HttpServer() {
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
  g_main_context_unref(impl_->ctx);  // sources still attached (posted tasks) are dropped with it
}

}  // namespace moqt::web
