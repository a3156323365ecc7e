// The relay's HTTP(S) side door (moqt/web): the watch page's routes, its long-polled broadcast
// list, and HttpServer's bounds, over real HTTPS/HTTP on loopback with libsoup as the client.
#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "moqt/quic/tls.h"
#include "moqt/web/http_server.h"
#include "moqt/web/watch_site.h"

using namespace moqt;
using namespace std::chrono;

namespace {

struct Got {
  unsigned status = 0;
  std::string body;
  std::string type;
  double ms = 0;
};

gboolean accept_any(SoupMessage*, GTlsCertificate*, GTlsCertificateFlags, gpointer) { return TRUE; }

// One request on a session of its own (this thread's context), the certificate accepted.
Got fetch(const std::string& url, const char* method = "GET", const std::string& body = "") {
  GMainContext* ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  // No proxy lookup: the default resolver asks libproxy on a GLib pool thread, for nothing on loopback.
  GProxyResolver* direct = g_simple_proxy_resolver_new(nullptr, nullptr);
  SoupSession* s = soup_session_new_with_options("timeout", 20, "proxy-resolver", direct, nullptr);
  g_object_unref(direct);
  SoupMessage* m = soup_message_new(method, url.c_str());
  Got g;
  if (!m) {
    g.status = 0;
  } else {
    g_signal_connect(m, "accept-certificate", G_CALLBACK(accept_any), nullptr);
    if (!body.empty()) {
      GBytes* b = g_bytes_new(body.data(), body.size());
      soup_message_set_request_body_from_bytes(m, "text/plain", b);
      g_bytes_unref(b);
    }
    const auto t0 = steady_clock::now();
    GError* e = nullptr;
    GBytes* out = soup_session_send_and_read(s, m, nullptr, &e);
    g.ms = duration<double, std::milli>(steady_clock::now() - t0).count();
    if (out) {
      gsize n = 0;
      const char* d = static_cast<const char*>(g_bytes_get_data(out, &n));
      g.body.assign(d ? d : "", n);
      g_bytes_unref(out);
      g.status = soup_message_get_status(m);
      const char* t = soup_message_headers_get_content_type(soup_message_get_response_headers(m), nullptr);
      g.type = t ? t : "";
    }
    if (e) g_error_free(e);
    g_object_unref(m);
  }
  g_object_unref(s);
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  return g;
}

struct Site {
  std::mutex mu;
  std::vector<std::string> names;  // what the "relay" has now
  std::atomic<int> asked{0};
  std::unique_ptr<web::WatchSite> site;
  std::string base;

  explicit Site(web::WatchSiteConfig cfg = {}) {
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 14, &err);
    EXPECT_TRUE(cert) << err;
    cfg.listen = "127.0.0.1:0";
    cfg.tls_pem = cert->cert + cert->key;
    cfg.cert_sha256 = cert->sha256_hex;
    cfg.moqt_port = 4443;
    site = web::WatchSite::start(cfg, [this] {
      ++asked;
      std::lock_guard<std::mutex> l(mu);
      return names;
    }, &err);
    EXPECT_TRUE(site) << err;
    if (site) base = "https://127.0.0.1:" + std::to_string(site->port());
  }
  void set(std::vector<std::string> n) {
    std::lock_guard<std::mutex> l(mu);
    names = std::move(n);
  }
};

}  // namespace

TEST(WatchSite, ServesThePageItsScriptAndTheConfigOverHttps) {
  Site s;
  ASSERT_TRUE(s.site);
  Got page = fetch(s.base + "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.type, "text/html");
  EXPECT_NE(page.body.find("<script type=\"module\" src=\"watch.js\">"), std::string::npos);
  Got js = fetch(s.base + "/watch.js");
  EXPECT_EQ(js.status, 200u);
  EXPECT_EQ(js.type, "text/javascript");
  EXPECT_NE(js.body.find("/api/broadcasts"), std::string::npos);
  if (web::WatchSite::has_player()) {
    EXPECT_GT(js.body.size(), 100000u) << "the player bundle";
  }
  Got cfg = fetch(s.base + "/api/config");
  EXPECT_EQ(cfg.status, 200u);
  EXPECT_NE(cfg.body.find("\"port\":4443"), std::string::npos) << cfg.body;
  EXPECT_NE(cfg.body.find("\"drafts\":[14,16,18]"), std::string::npos) << cfg.body;
  EXPECT_NE(cfg.body.find("\"sha256\":\""), std::string::npos) << cfg.body;
  EXPECT_EQ(fetch(s.base + "/certificate.sha256").body.size(), 64u);
  EXPECT_EQ(fetch(s.base + "/nope").status, 404u);
  EXPECT_EQ(fetch(s.base + "/", "HEAD").status, 200u);
  Got post = fetch(s.base + "/api/broadcasts", "POST", "x");
  EXPECT_TRUE(post.status == 405u || post.status == 413u) << post.status;
  // Plain HTTP to the HTTPS port is not served.
  EXPECT_NE(fetch("http://127.0.0.1:" + std::to_string(s.site->port()) + "/").status, 200u);
}

// Times are bounds far from the mechanisms they tell apart (a 250 ms poll vs a 4 s long poll).
TEST(WatchSite, BroadcastListIsALongPollAnsweredWhenTheRegistryChanges) {
  Site s(web::WatchSiteConfig{.long_poll = milliseconds(4000)});
  ASSERT_TRUE(s.site);
  s.set({"live/a"});
  Got first = fetch(s.base + "/api/broadcasts");
  EXPECT_EQ(first.body, "{\"version\":1,\"broadcasts\":[{\"name\":\"live/a\"}]}");
  EXPECT_LT(first.ms, 3000);
  // A stale version is answered at once.
  EXPECT_LT(fetch(s.base + "/api/broadcasts?since=0").ms, 3000);
  // The current one waits; a change answers it within a poll or two (250 ms).
  Got changed;
  std::thread waiter([&] { changed = fetch(s.base + "/api/broadcasts?since=1"); });
  std::this_thread::sleep_for(milliseconds(600));
  s.set({"live/a", "live/b \"quoted\""});
  waiter.join();
  EXPECT_EQ(changed.status, 200u);
  EXPECT_EQ(changed.body, "{\"version\":2,\"broadcasts\":[{\"name\":\"live/a\"},{\"name\":\"live/b \\\"quoted\\\"\"}]}");
  EXPECT_GT(changed.ms, 500);
  EXPECT_LT(changed.ms, 3500) << "answered by the change, not the long-poll timeout";
  // No change: answered after long_poll with the same version.
  Got same = fetch(s.base + "/api/broadcasts?since=2");
  EXPECT_EQ(same.status, 200u);
  EXPECT_NE(same.body.find("\"version\":2"), std::string::npos);
  EXPECT_GT(same.ms, 3900);
  EXPECT_LT(same.ms, 9000);
  // The registry is asked only while someone waits.
  const int asked = s.asked;
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_EQ(s.asked.load(), asked);
}

TEST(WatchSite, StopsPromptlyWithLongPollsHeld) {
  auto s = std::make_unique<Site>(web::WatchSiteConfig{.long_poll = milliseconds(9000)});
  ASSERT_TRUE(s->site);
  fetch(s->base + "/api/broadcasts");
  std::vector<std::thread> waiters;
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i)
    waiters.emplace_back([&, url = s->base + "/api/broadcasts?since=1"] { fetch(url); ++done; });
  std::this_thread::sleep_for(milliseconds(500));
  const auto t0 = steady_clock::now();
  s->site.reset();
  EXPECT_LT(duration_cast<milliseconds>(steady_clock::now() - t0).count(), 4000) << "not held by the 9 s polls";
  for (auto& t : waiters) t.join();
  EXPECT_EQ(done.load(), 3);
}

TEST(HttpServer, RefusesConnectionsBeyondItsBoundAndClosesIdleOnesAtTheDeadline) {
  web::HttpServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.max_connections = 2;
  cfg.deadline = seconds(1);
  std::vector<web::Reply> held;  // server thread only
  std::string err;
  auto http = web::HttpServer::start(cfg, [&](const web::HttpRequest& req, web::Reply reply) {
    if (req.path == "/hold") {
      held.push_back(std::move(reply));  // never answered: the deadline ends it
      return;
    }
    web::HttpResponse r;
    r.body = "q=" + req.param("q");
    reply(std::move(r));
  }, &err);
  ASSERT_TRUE(http) << err;
  const std::string base = "http://127.0.0.1:" + std::to_string(http->port());
  EXPECT_EQ(fetch(base + "/x?q=a%20b").body, "q=a b");
  Got h1, h2, over;
  std::thread t1([&] { h1 = fetch(base + "/hold"); });
  std::thread t2([&] { h2 = fetch(base + "/hold"); });
  std::this_thread::sleep_for(milliseconds(300));
  over = fetch(base + "/x");
  EXPECT_EQ(over.status, 503u) << "a third connection while two are open";
  t1.join();
  t2.join();
  // The held ones were cut at the 1 s deadline: no response.
  EXPECT_NE(h1.status, 200u);
  EXPECT_GT(h1.ms, 800);
  EXPECT_LT(h1.ms, 10000);
  // And the server serves again.
  EXPECT_EQ(fetch(base + "/x?q=1").body, "q=1");
  // Bad listen addresses are refused with a reason.
  EXPECT_FALSE(web::HttpServer::start({.listen = "localhost:80"}, nullptr, &err));
  EXPECT_NE(err.find("not IP:PORT"), std::string::npos);
  EXPECT_FALSE(web::HttpServer::start({.listen = "127.0.0.1:1", .tls_pem = "garbage"}, nullptr, &err));
  EXPECT_NE(err.find("certificate"), std::string::npos) << err;
}
