#include "moqt/web/watch_site.h"

#include <cstdlib>
#include <map>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "moqt/relay/relay_group.h"
#include "moqt/web/http_server.h"

extern "C" GResource* moqt_web_get_resource(void);  // generated from page/resources.xml

namespace moqt::web {

namespace {

std::string to_json(JsonBuilder* b) {
  JsonNode* root = json_builder_get_root(b);
  JsonGenerator* g = json_generator_new();
  json_generator_set_root(g, root);
  gchar* text = json_generator_to_data(g, nullptr);
  std::string out = text;
  g_free(text);
  g_object_unref(g);
  json_node_unref(root);
  g_object_unref(b);
  return out;
}

HttpResponse json_response(std::string body) {
  HttpResponse r;
  r.type = "application/json";
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// A file of the page from the resource compiled into this library.
bool resource(const std::string& path, HttpResponse* r) {
  GBytes* b = g_resource_lookup_data(moqt_web_get_resource(), ("/moqt/web" + path).c_str(),
                                     G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  if (!b) return false;
  gsize n = 0;
  const char* data = static_cast<const char*>(g_bytes_get_data(b, &n));
  r->body.assign(data, n);
  g_bytes_unref(b);
  r->type = path.ends_with(".js") ? "text/javascript; charset=utf-8" : "text/html; charset=utf-8";
  r->headers.emplace_back("Cache-Control", "no-cache");
  r->headers.emplace_back("X-Content-Type-Options", "nosniff");
  return true;
}

}  // namespace

std::string broadcast_name(const std::vector<std::string>& ns) {
  std::string out;
  for (const auto& f : ns) {
    if (!out.empty()) out += '/';
    out += f;
  }
  return out;
}

std::string broadcasts_json(uint64_t version, const std::vector<std::string>& names) {
  JsonBuilder* b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "version");
  json_builder_add_int_value(b, gint64(version));
  json_builder_set_member_name(b, "broadcasts");
  json_builder_begin_array(b);
  for (const auto& n : names) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, n.c_str());
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  return to_json(b);
}

// HTTP thread only (but `http`, set and reset by the owner while no request runs).
struct WatchSite::State {
  WatchSiteConfig cfg;
  Lister lister;
  std::unique_ptr<HttpServer> http;
  std::string config_json;
  std::vector<std::string> names;
  uint64_t version = 1;
  bool listed = false;
  std::map<uint64_t, Reply> waiting;  // long polls, by id
  uint64_t next_wait = 1;
  bool polling = false;

  // Asks the relay; a change bumps the version and answers every long poll.
  void refresh() {
    std::vector<std::string> now = lister();
    if (listed && now == names) return;
    if (listed) ++version;
    listed = true;
    names = std::move(now);
    auto w = std::move(waiting);
    waiting.clear();
    const std::string body = broadcasts_json(version, names);
    for (auto& [id, reply] : w) reply(json_response(body));
  }
  void poll_tick() {
    polling = false;
    if (waiting.empty()) return;
    refresh();
    schedule_poll();
  }
  void schedule_poll() {
    if (polling || waiting.empty()) return;
    polling = true;
    HttpServer::later([this] { poll_tick(); }, cfg.poll);
  }

  void handle(const HttpRequest& req, Reply reply) {
    HttpResponse r;
    if (req.path == "/" || req.path == "/index.html") {
      if (!resource("/index.html", &r)) r.status = 500;
    } else if (req.path == "/watch.js") {
      if (!resource("/watch.js", &r)) r.status = 500;
    } else if (req.path == "/api/config") {
      r = json_response(config_json);
    } else if (req.path == "/api/broadcasts") {
      refresh();
      const std::string since = req.param("since");
      char* end = nullptr;
      const unsigned long long v = since.empty() ? 0 : std::strtoull(since.c_str(), &end, 10);
      const bool current = !since.empty() && *end == 0 && v == version;
      if (!current) return reply(json_response(broadcasts_json(version, names)));
      // Unchanged: held until the list changes or long_poll passes.
      const uint64_t id = next_wait++;
      waiting.emplace(id, std::move(reply));
      HttpServer::later(
          [this, id] {
            auto it = waiting.find(id);
            if (it == waiting.end()) return;
            Reply rep = std::move(it->second);
            waiting.erase(it);
            rep(json_response(broadcasts_json(version, names)));
          },
          cfg.long_poll);
      schedule_poll();
      return;
    } else if (req.path == "/certificate.sha256" && !cfg.cert_sha256.empty()) {
      r.body = cfg.cert_sha256;
    } else if (req.path == "/healthz") {
      r.body = "ok\n";
    } else {
      r.status = 404;
      r.body = "not found\n";
    }
    reply(std::move(r));
  }
};

std::unique_ptr<WatchSite> WatchSite::start(WatchSiteConfig cfg, Lister lister, std::string* error) {
  if (cfg.tls_pem.empty()) {
    *error = "the watch page needs the relay's certificate (HTTPS)";
    return nullptr;
  }
  auto st = std::make_shared<State>();
  st->lister = std::move(lister);
  {
    JsonBuilder* b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "port");
    json_builder_add_int_value(b, cfg.moqt_port);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, cfg.wt_path.empty() ? "/" : cfg.wt_path.c_str());
    json_builder_set_member_name(b, "drafts");
    json_builder_begin_array(b);
    for (int d : cfg.drafts) json_builder_add_int_value(b, d);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "sha256");
    if (cfg.cert_sha256.empty())
      json_builder_add_null_value(b);
    else
      json_builder_add_string_value(b, cfg.cert_sha256.c_str());
    json_builder_set_member_name(b, "player");
    json_builder_add_boolean_value(b, has_player());
    json_builder_end_object(b);
    st->config_json = to_json(b);
  }
  HttpServerConfig hc;
  hc.listen = cfg.listen;
  hc.tls_pem = cfg.tls_pem;
  hc.name = "moqt-relay";
  hc.max_connections = cfg.max_connections;
  st->cfg = std::move(cfg);
  State* raw = st.get();
  // The handler runs only on the HTTP thread, which the destructor joins before `st` goes.
  st->http = HttpServer::start(std::move(hc), [raw](const HttpRequest& req, Reply reply) {
    raw->handle(req, std::move(reply));
  }, error);
  if (!st->http) return nullptr;
  std::unique_ptr<WatchSite> site(new WatchSite);
  site->state_ = std::move(st);
  return site;
}

WatchSite::~WatchSite() {
  if (state_) state_->http.reset();  // joins the HTTP thread: nothing runs on State afterwards
}

const std::string& WatchSite::address() const { return state_->http->address(); }
unsigned WatchSite::port() const { return state_->http->port(); }

std::unique_ptr<WatchSite> start_relay_site(relay::RelayGroup& group, const relay::RelayConfig& cfg,
                                            const std::string& listen, bool pin, std::string* error) {
  WatchSiteConfig wc;
  wc.listen = listen;
  wc.tls_pem = cfg.server.cert.cert + cfg.server.cert.key;
  if (pin) wc.cert_sha256 = cfg.server.cert.sha256_hex;
  wc.moqt_port = group.port();
  wc.wt_path = cfg.server.wt_path.empty() ? "/" : cfg.server.wt_path;
  wc.drafts.clear();
  for (wire::Draft d : cfg.server.drafts) wc.drafts.push_back(int(d));
  relay::RelayGroup* g = &group;  // outlives the site: its owner destroys the site first
  return WatchSite::start(std::move(wc), [g] {
    std::vector<std::string> names;
    for (const auto& ns : g->namespaces()) names.push_back(broadcast_name(ns));
    return names;
  }, error);
}

bool WatchSite::has_player() {
#ifdef MOQT_WATCH_PLAYER
  return true;
#else
  return false;
#endif
}

}  // namespace moqt::web
