// moqt-clock: publishes a clock track and subscribes to one, over raw QUIC (moqt://) or
// WebTransport (https://), at MoQT draft 14, 16 or 18, as client or as server.
//
//   moqt-clock publish   --listen 0.0.0.0:4443            players subscribe to us
//   moqt-clock publish   --connect moqt://host:4443/moq    we PUBLISH (push) to a listener
//   moqt-clock subscribe --connect https://host:4443/moq   we SUBSCRIBE to a publisher
//   moqt-clock subscribe --listen 0.0.0.0:4443             publishers PUBLISH to us, or announce
//                                                          the namespace and we SUBSCRIBE
//   moqt-clock publish --connect URL_A --fallback URL_B    a lost session is made again at the
//                                                          next URL in turn (relay cluster failover)
//
// --listen 127.0.0.1:0 picks a free port; the first stdout line of a listener is
// {"listening":"ADDR:PORT","port":PORT,"sha256":"HEX"} (the certificate hash to pin).
//
// The track (namespace "clock", name "now" by default) has one group per minute: object 0 is
// "YYYY-MM-DD HH:MM:" and objects 1.. are the seconds ("SS"), like moq-dev's clock.
#include <glib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "moqt/session/client.h"

using namespace moqt;
using namespace moqt::session;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

struct Options {
  gchar* listen = nullptr;
  gchar* connect = nullptr;
  gchar* ns = nullptr;
  gchar* track = nullptr;
  int draft = 0;
  gchar* cert = nullptr;
  gchar* key = nullptr;
  gchar* pin = nullptr;
  gboolean insecure = FALSE;
  int count = 0;          // subscribe: exit after this many objects (0 = run until ^C)
  int interval_ms = 1000; // publish: one "second" every interval
  int timeout_s = 0;      // exit with an error after this long (0 = never)
  gchar* wt_path = nullptr;
  int goaway_after_s = 0;     // listener: send GOAWAY to every session after this long
  gchar* goaway_uri = nullptr;  // ... naming this URI ("" = reconnect to the same one)
  gchar** fallback = nullptr;   // caller: URLs tried in turn after --connect when a session is lost
};

std::vector<Draft> drafts_of(int d) {
  if (d == 14) return {Draft::k14};
  if (d == 16) return {Draft::k16};
  if (d == 18) return {Draft::k18};
  return {Draft::k18, Draft::k16, Draft::k14};
}

std::string draft_name(Draft d) { return wire::profile(d).name; }

// Prints the clock as it arrives.
struct Printer : SubscriptionHandler, FetchHandler, SessionHandler {
  std::mutex mu;
  std::condition_variable cv;
  std::string base;
  int received = 0;
  bool finished = false;
  std::string error;

  void on_ready(Draft d) override { std::fprintf(stderr, "moqt-clock: session up (%s)\n", draft_name(d).c_str()); }
  void on_ready(Draft d, const std::string& peer) {
    std::fprintf(stderr, "moqt-clock: session up (%s, peer implementation '%s')\n", draft_name(d).c_str(), peer.c_str());
  }
  void on_closed(uint64_t code, const std::string& reason) override {
    done("session closed (code " + std::to_string(code) + (reason.empty() ? "" : ": " + reason) + ")");
  }
  void on_goaway(const std::string& uri) override {
    std::fprintf(stderr, "moqt-clock: GOAWAY (new URI '%s'): moving the subscription there\n", uri.c_str());
  }
  SubscriptionHandler* on_incoming_publish(const FullTrackName& n) override {
    std::fprintf(stderr, "moqt-clock: accepting PUBLISH of %s\n", wire::to_string(n).c_str());
    return this;
  }
  void on_subscribe_ok(const SubscribeResult& r) override {
    std::fprintf(stderr, "moqt-clock: subscribed (track alias %llu)\n", (unsigned long long)r.track_alias);
  }
  void on_subscribe_error(uint64_t code, const std::string& reason) override {
    done("subscribe failed: code " + std::to_string(code) + " " + reason);
  }
  void on_object(const ReceivedObject& o) override {
    if (o.status != ObjectStatus::kNormal) {
      // END_OF_GROUP / END_OF_TRACK / does-not-exist: a marker, not a clock line.
      static const char* const names[] = {"NORMAL", "DOES_NOT_EXIST", "?", "END_OF_GROUP", "END_OF_TRACK"};
      const auto st = size_t(o.status);
      std::fprintf(stderr, "moqt-clock: group %llu object %llu: %s\n", (unsigned long long)o.location.group,
                   (unsigned long long)o.location.object, st < std::size(names) ? names[st] : "unknown status");
      if (o.status == ObjectStatus::kEndOfTrack) done("end of track");
      return;
    }
    const std::string text(o.payload.begin(), o.payload.end());
    std::lock_guard<std::mutex> l(mu);
    if (o.location.object == 0) {
      base = text;
    } else if (!base.empty()) {
      std::printf("%s%s\n", base.c_str(), text.c_str());
    } else {
      std::printf("group %llu second %s\n", (unsigned long long)o.location.group, text.c_str());
    }
    std::fflush(stdout);
    ++received;
    cv.notify_all();
  }
  void on_fetch_error(uint64_t, const std::string&) override {}  // nothing cached yet: fine
  void on_done(uint64_t status, const std::string& reason) override {
    done("publisher ended the track (status " + std::to_string(status) + (reason.empty() ? "" : ": " + reason) + ")");
  }
  void done(const std::string& why) {
    std::lock_guard<std::mutex> l(mu);
    if (!finished) error = why;
    finished = true;
    cv.notify_all();
  }
};

// One listener session. A publisher that connects to us either pushes the track (PUBLISH, the
// Printer accepts it) or only announces its namespace (PUBLISH_NAMESPACE) and waits to be
// subscribed, the way a client publishes to a relay (@moq/net does this): when `subscriber` is
// set and the announced namespace is ours, we SUBSCRIBE to the track on that session.
struct ListenerSession : SessionHandler {
  Session& session;
  Printer& printer;
  FullTrackName want;
  bool subscriber = false;
  bool subscribed = false;
  std::optional<uint64_t> subscription;  // our SUBSCRIBE's request id
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  ListenerSession(Session& s, Printer& p, FullTrackName n, bool sub)
      : session(s), printer(p), want(std::move(n)), subscriber(sub) {}
  void on_ready(Draft d) override { printer.on_ready(d, session.peer_implementation()); }
  void on_closed(uint64_t code, const std::string& reason) override {
    *alive = false;
    printer.on_closed(code, reason);
  }
  SubscriptionHandler* on_incoming_publish(const FullTrackName& n) override { return printer.on_incoming_publish(n); }
  bool on_namespace_published(const TrackNamespace& ns) override {
    std::fprintf(stderr, "moqt-clock: peer announced namespace %s\n", wire::to_string(ns).c_str());
    if (!subscriber || subscribed || ns != want.ns) return true;
    subscribed = true;
    // After this callback the session answers the PUBLISH_NAMESPACE; subscribe right after,
    // so the peer sees its namespace accepted before our SUBSCRIBE (-14/-16 share one stream).
    // LargestObject without a joining FETCH: a publisher that announces instead of pushing is
    // a relay client, and @moq/net (before draft-20) ignores the filter, delivers the current
    // group from object 0 and does not serve FETCH.
    auto live = alive;
    session.loop().add_timer(std::chrono::milliseconds(0), [this, live] {
      if (!*live) return;
      SubscribeOptions so;
      so.filter = SubscriptionFilter{wire::FilterType::kLargestObject, {}, {}};
      subscription = session.subscribe(want, so, &printer);
      if (!subscription) printer.done("cannot subscribe");
    });
    return true;
  }
};

bool load_cert(const Options& o, quic::CertificatePem* out) {
  std::string err;
  std::optional<quic::CertificatePem> c;
  if (o.cert || o.key) {
    if (!o.cert || !o.key) {
      g_printerr("moqt-clock: --cert and --key go together\n");
      return false;
    }
    c = quic::load_pem_files(o.cert, o.key, &err);
  } else {
    c = quic::generate_self_signed({"localhost", "127.0.0.1", "::1"}, 10, &err);
  }
  if (!c) {
    g_printerr("moqt-clock: certificate: %s\n", err.c_str());
    return false;
  }
  *out = *c;
  return true;
}

ClientConfig client_config(const Options& o) {
  ClientConfig c;
  c.drafts = drafts_of(o.draft);
  if (o.pin) {
    c.verify = quic::VerifyMode::kPinnedSha256;
    c.pinned_sha256 = o.pin;
  } else if (o.insecure) {
    c.verify = quic::VerifyMode::kInsecure;
  }
  return c;
}

// The clock writer: group = minute, object 0 = date + "HH:MM:", objects 1.. = seconds.
struct Clock {
  std::shared_ptr<TrackPublisher> track;
  uint64_t group = 0, next_object = 0;
  int tick = 0;
  void step(int interval_ms) {
    const time_t now = time(nullptr);
    tm t;
    gmtime_r(&now, &t);
    // With a fast interval (tests) every 60 ticks make a "minute".
    const uint64_t minute = interval_ms >= 1000 ? uint64_t(now / 60) : uint64_t(tick / 60);
    const int second = interval_ms >= 1000 ? t.tm_sec : tick % 60;
    ++tick;
    if (minute != group || next_object == 0) {
      group = minute;
      next_object = 0;
      char base[32];
      strftime(base, sizeof base, "%Y-%m-%d %H:%M:", &t);
      write(base);
    }
    char sec[8];
    std::snprintf(sec, sizeof sec, "%02d", second);
    write(sec);
  }
  void write(const std::string& s) {
    Object o;
    o.location = {group, next_object++};
    o.payload = quic::SendBuffer::copy(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
    track->write(std::move(o));
  }
};

int run(const std::string& cmd, const Options& o) {
  if (!o.listen == !o.connect) {
    g_printerr("moqt-clock: give exactly one of --listen ADDR or --connect URL\n");
    return 2;
  }
  const FullTrackName name{{o.ns ? o.ns : "clock"}, o.track ? o.track : "now"};
  quic::EventLoop loop;
  loop.start("moqt-clock");
  TrackRegistry registry;
  Printer printer;
  std::vector<std::unique_ptr<ListenerSession>> listener_sessions;  // outlive the server
  std::unique_ptr<Server> server;
  std::unique_ptr<Client> client;
  Clock clock;
  std::optional<uint64_t> client_subscription;
  std::string err;
  bool ok = true;
  const bool publishing = cmd == "publish";
  if (publishing) {
    clock.track = std::make_shared<TrackPublisher>(name, TrackOptions{});
    registry.add(clock.track);
  }
  std::vector<std::string> urls;
  if (o.connect) urls.push_back(o.connect);
  for (gchar** f = o.fallback; f && *f; ++f) urls.emplace_back(*f);
  // Caller (loop thread): the session to `url`, then our PUBLISH or SUBSCRIBE on it.
  auto start_client = [&](const std::string& url) {
    client = Client::connect(loop, url, client_config(o), &printer, &registry, &err);
    if (!client) return false;
    if (publishing) {
      client->publish_namespace(name.ns, [](bool good, uint64_t code) {
        if (!good) std::fprintf(stderr, "moqt-clock: PUBLISH_NAMESPACE refused (code %llu)\n", (unsigned long long)code);
      });
      client->publish(clock.track, [&](bool good, uint64_t code) {
        if (!good) printer.done("PUBLISH refused (code " + std::to_string(code) + ")");
      });
    } else {
      // Live from the largest object on, plus a joining FETCH for the start of the current
      // group (object 0 carries the date and minute).
      SubscribeOptions so;
      so.filter = SubscriptionFilter{wire::FilterType::kLargestObject, {}, {}};
      auto id = client->subscribe(name, so, &printer);
      if (id) client->joining_fetch(*id, 0, true, &printer);
      client_subscription = id;
    }
    return true;
  };
  loop.run_sync([&] {
    if (o.listen) {
      ServerConfig sc;
      sc.listen = o.listen;
      sc.drafts = drafts_of(o.draft);
      if (o.wt_path) sc.wt_path = o.wt_path;
      if (!load_cert(o, &sc.cert)) {
        ok = false;
        return;
      }
      const std::string hash = sc.cert.sha256_hex;
      server = Server::start(
          loop, sc, &registry,
          [&](Session& s) -> SessionHandler* {
            listener_sessions.push_back(std::make_unique<ListenerSession>(s, printer, name, !publishing));
            return listener_sessions.back().get();
          },
          &err);
      if (!server) {
        ok = false;
        return;
      }
      std::fprintf(stderr, "moqt-clock: listening on %s (raw QUIC and WebTransport), certificate sha256 %s\n",
                   server->address().to_string().c_str(), hash.c_str());
      std::printf("{\"listening\":\"%s\",\"port\":%u,\"sha256\":\"%s\"}\n", server->address().to_string().c_str(),
                  server->address().port(), hash.c_str());
      std::fflush(stdout);
      if (o.goaway_after_s > 0) {
        // Draining this server: clients move to --goaway-uri (theirs follow it without a gap).
        const std::string uri = o.goaway_uri ? o.goaway_uri : "";
        loop.add_timer(std::chrono::seconds(o.goaway_after_s), [&server, uri] {
          for (Session* s : server->sessions()) s->goaway(uri, std::chrono::seconds(10));
          std::fprintf(stderr, "moqt-clock: GOAWAY sent (new URI '%s')\n", uri.c_str());
        });
      }
      return;
    }
    ok = start_client(urls[0]);
  });
  if (!ok) {
    g_printerr("moqt-clock: %s\n", err.c_str());
    loop.stop();
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  const auto start = std::chrono::steady_clock::now();
  int rc = 0;
  bool count_reached = false;
  size_t url_index = 0;
  std::chrono::milliseconds backoff{0};
  while (!g_stop) {
    if (publishing) loop.run_sync([&] { clock.step(o.interval_ms); });
    std::unique_lock<std::mutex> l(printer.mu);
    printer.cv.wait_for(l, std::chrono::milliseconds(publishing ? o.interval_ms : 200));
    if (o.count > 0 && printer.received >= o.count) {
      count_reached = true;
      break;
    }
    if (printer.finished && urls.size() > 1 && printer.error != "end of track") {
      // Failover: the next URL in turn, after a backoff (250 ms doubling up to 4 s).
      std::fprintf(stderr, "moqt-clock: %s\n", printer.error.c_str());
      printer.finished = false;
      printer.error.clear();
      l.unlock();
      backoff = std::clamp(backoff * 2, std::chrono::milliseconds(250), std::chrono::milliseconds(4000));
      std::this_thread::sleep_for(backoff);
      url_index = (url_index + 1) % urls.size();
      std::fprintf(stderr, "moqt-clock: reconnecting to %s\n", urls[url_index].c_str());
      bool up = false;
      loop.run_sync([&] {
        client_subscription.reset();
        client.reset();  // from the main thread: not inside its callbacks
        up = start_client(urls[url_index]);
      });
      if (!up) printer.done("reconnect to " + urls[url_index] + ": " + err);
      continue;
    }
    if (printer.finished && !publishing) {
      std::fprintf(stderr, "moqt-clock: %s\n", printer.error.c_str());
      rc = printer.received > 0 && o.count == 0 ? 0 : 1;
      break;
    }
    if (printer.finished && publishing && o.connect) {
      std::fprintf(stderr, "moqt-clock: %s\n", printer.error.c_str());
      rc = 1;
      break;
    }
    if (o.timeout_s > 0 && std::chrono::steady_clock::now() - start > std::chrono::seconds(o.timeout_s)) {
      std::fprintf(stderr, "moqt-clock: timed out after %d s (%d objects)\n", o.timeout_s, printer.received);
      rc = 1;
      break;
    }
  }
  if (!publishing) {
    std::lock_guard<std::mutex> l(printer.mu);
    std::fprintf(stderr, "moqt-clock: %d objects received\n", printer.received);
  }
  if (count_reached && !publishing) {
    // Done: end our subscriptions first (UNSUBSCRIBE; -18: cancel the request stream) and give
    // the publisher a moment before the session goes. Chromium 156 can crash the page when a
    // WebTransport session is closed right after the page wrote its last objects while a
    // server-opened bidi stream (our -18 SUBSCRIBE) is open (docs/interop.md).
    loop.run_sync([&] {
      if (client && client_subscription) client->unsubscribe(*client_subscription);
      for (auto& ls : listener_sessions)
        if (*ls->alive && ls->subscription) ls->session.unsubscribe(*ls->subscription);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  loop.run_sync([&] {
    if (clock.track) clock.track->finish();
    if (client) client->close(0, "bye");
    if (server) server->close_all(0, "bye");
  });
  // Let the closes go out: a WebTransport session sends CLOSE_WEBTRANSPORT_SESSION and gives the
  // peer up to 300 ms to answer before it closes the QUIC connection (webtransport/session.cc).
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  loop.run_sync([&] {
    client.reset();
    server.reset();
    clock.track.reset();
  });
  loop.stop();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  GOptionEntry entries[] = {
      {"listen", 'l', 0, G_OPTION_ARG_STRING, &o.listen, "Listen on ADDR:PORT (raw QUIC and WebTransport)", "ADDR"},
      {"connect", 'c', 0, G_OPTION_ARG_STRING, &o.connect, "Connect to moqt://host:port/path or https://host:port/path", "URL"},
      {"namespace", 'n', 0, G_OPTION_ARG_STRING, &o.ns, "Track namespace (default: clock)", "NS"},
      {"track", 't', 0, G_OPTION_ARG_STRING, &o.track, "Track name (default: now)", "NAME"},
      {"draft", 'd', 0, G_OPTION_ARG_INT, &o.draft, "MoQT draft: 14, 16 or 18 (default: any)", "N"},
      {"cert", 0, 0, G_OPTION_ARG_FILENAME, &o.cert, "Listener certificate (PEM; default: a generated self-signed one)", "FILE"},
      {"key", 0, 0, G_OPTION_ARG_FILENAME, &o.key, "Listener private key (PEM)", "FILE"},
      {"pin", 0, 0, G_OPTION_ARG_STRING, &o.pin, "Accept only a server certificate with this SHA-256", "HEX"},
      {"insecure", 'k', 0, G_OPTION_ARG_NONE, &o.insecure, "Do not verify the server certificate", nullptr},
      {"count", 0, 0, G_OPTION_ARG_INT, &o.count, "subscribe: exit after N objects", "N"},
      {"interval-ms", 0, 0, G_OPTION_ARG_INT, &o.interval_ms, "publish: milliseconds per tick (default 1000)", "MS"},
      {"timeout", 0, 0, G_OPTION_ARG_INT, &o.timeout_s, "Fail after this many seconds", "S"},
      {"wt-path", 0, 0, G_OPTION_ARG_STRING, &o.wt_path, "Listener: accept WebTransport only on this path", "PATH"},
      {"goaway-after", 0, 0, G_OPTION_ARG_INT, &o.goaway_after_s, "Listener: send GOAWAY to every session after S seconds", "S"},
      {"fallback", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.fallback, "Caller: when the session is lost, reconnect to this URL (repeat: tried in turn with --connect)", "URL"},
      {"goaway-uri", 0, 0, G_OPTION_ARG_STRING, &o.goaway_uri, "Listener: the new session URI the GOAWAY names (default: none, i.e. reconnect here)", "URI"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("publish|subscribe - MoQT clock publisher and subscriber");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  GError* gerr = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    g_printerr("moqt-clock: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd != "publish" && cmd != "subscribe") {
    g_printerr("moqt-clock: the command is 'publish' or 'subscribe' (see --help)\n");
    return 2;
  }
  if (o.draft != 0 && o.draft != 14 && o.draft != 16 && o.draft != 18) {
    g_printerr("moqt-clock: --draft must be 14, 16 or 18\n");
    return 2;
  }
  if (o.interval_ms < 1) o.interval_ms = 1;
  return run(cmd, o);
}
