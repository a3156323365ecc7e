// moqt-relay: a MoQT relay. Publishers and subscribers connect to one port over raw QUIC
// (moqt://) and WebTransport (https://), drafts 14, 16 and 18; tracks are fanned out from one
// upstream subscription each, with a cache for fast joins (docs/relay.md).
//
//   moqt-relay --listen 0.0.0.0:4443 --cert cert.pem --key key.pem
//   moqt-relay --listen 127.0.0.1:0          (development: a generated self-signed certificate)
//   moqt-relay --config /etc/moqt-relay.conf (a GKeyFile, group [relay], keys = the long options)
//
// The first stdout line is {"listening":"ADDR:PORT","port":PORT,"sha256":"HEX"} (the certificate
// hash browsers pin; with --metrics a last field "metrics_port":PORT). SIGINT/SIGTERM: GOAWAY to
// every session, then exit after --drain-ms (a second signal exits at once). SIGUSR1: print the
// stats. --metrics ADDR:PORT: Prometheus metrics over HTTP (relay_metrics.h). --http-port PORT:
// the watch page over HTTPS (moqt/web/watch_site.h; the first line then ends "http_port":PORT).
#include <glib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "moqt/relay/relay_group.h"
#include "relay_metrics.h"
#ifdef MOQT_HAVE_SOUP
#include "moqt/web/watch_site.h"
#endif

using namespace moqt;

namespace {

std::atomic<int> g_stop{0};
std::atomic<bool> g_stats{false};
void on_stop(int) { g_stop.fetch_add(1); }
void on_usr1(int) { g_stats = true; }

// -1 / nullptr: not given on the command line (the config file or the default decides).
struct Options {
  gchar* config = nullptr;
  gchar* listen = nullptr;
  gchar* cert = nullptr;
  gchar* key = nullptr;
  gchar* wt_path = nullptr;
  gchar* goaway_uri = nullptr;
  gchar* upstream = nullptr;
  gchar* upstream_pin = nullptr;
  gboolean upstream_insecure = FALSE;
  gchar* jwt_key = nullptr;
  gchar* jwt_alg = nullptr;
  gchar* metrics = nullptr;
  gchar* cluster = nullptr;
  gchar* node_id = nullptr;
  gchar* advertise = nullptr;
  gchar* cluster_token = nullptr;
  gchar* cluster_pin = nullptr;
  gboolean cluster_insecure = FALSE;
  int cluster_ttl_ms = -1;
  gboolean mint = FALSE;
  gchar** mint_publish = nullptr;
  gchar** mint_subscribe = nullptr;
  int mint_ttl = 3600;
  int draft = -1;
  int cache_groups = -1;
  int cache_mb = -1;
  int linger_ms = -1;
  int hold_ms = -1;
  int max_sessions = -1;
  int max_tracks = -1;
  int drain_ms = -1;
  int idle_timeout_ms = -1;
  int stats_interval_s = -1;
  int loops = -1;
  int cache_age_ms = -1;
  int max_requests = -1;
  int max_queued_kb = -1;
  int http_port = -1;
};

int pick(int cli, GKeyFile* kf, const char* key, int def) {
  if (cli >= 0) return cli;
  GError* e = nullptr;
  if (kf && g_key_file_has_key(kf, "relay", key, nullptr)) {
    const int v = g_key_file_get_integer(kf, "relay", key, &e);
    if (!e) return v;
    g_printerr("moqt-relay: config key '%s': %s\n", key, e->message);
    g_error_free(e);
    exit(2);
  }
  return def;
}

std::string pick(const gchar* cli, GKeyFile* kf, const char* key, const std::string& def) {
  if (cli) return cli;
  if (kf && g_key_file_has_key(kf, "relay", key, nullptr)) {
    gchar* v = g_key_file_get_string(kf, "relay", key, nullptr);
    std::string s = v ? v : "";
    g_free(v);
    return s;
  }
  return def;
}

void print_stats(const relay::RelayStats& s) {
  std::fprintf(stderr,
               "moqt-relay: stats: sessions %zu (opened %llu, closed %llu), tracks %zu (pushed %zu), upstream "
               "subscriptions %zu, downstream subscriptions %zu (%llu by track pushes), namespaces %zu, held %zu, cache %zu bytes; "
               "in %llu objects / %llu bytes, out %llu objects / %llu bytes; dropped %llu objects, streams reset "
               "%llu (queue) %llu (timeout); refused %llu (unauthorized %llu), limits hit %llu; upstream %s\n",
               s.sessions, (unsigned long long)s.sessions_opened, (unsigned long long)s.sessions_closed, s.tracks,
               s.pushed_tracks, s.upstream_subscriptions, s.downstream_subscriptions,
               (unsigned long long)s.tracks_pushed, s.namespaces, s.held_requests,
               s.cache_bytes, (unsigned long long)s.objects_in, (unsigned long long)s.bytes_in,
               (unsigned long long)s.objects_out, (unsigned long long)s.bytes_out,
               (unsigned long long)s.objects_dropped, (unsigned long long)s.streams_reset_congestion,
               (unsigned long long)s.streams_reset_timeout, (unsigned long long)s.requests_refused,
               (unsigned long long)s.auth_refused, (unsigned long long)s.limit_hits,
               s.upstream_connected ? "connected" : "none/down");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  GOptionEntry entries[] = {
      {"config", 'C', 0, G_OPTION_ARG_FILENAME, &o.config, "Read settings from this file (GKeyFile, group [relay]; the command line wins)", "FILE"},
      {"listen", 'l', 0, G_OPTION_ARG_STRING, &o.listen, "Listen on ADDR:PORT, raw QUIC and WebTransport (default 0.0.0.0:4443)", "ADDR"},
      {"cert", 0, 0, G_OPTION_ARG_FILENAME, &o.cert, "Certificate chain (PEM; default: a generated self-signed one)", "FILE"},
      {"key", 0, 0, G_OPTION_ARG_FILENAME, &o.key, "Private key (PEM)", "FILE"},
      {"draft", 'd', 0, G_OPTION_ARG_INT, &o.draft, "Accept only this MoQT draft: 14, 16 or 18 (default: all three)", "N"},
      {"wt-path", 0, 0, G_OPTION_ARG_STRING, &o.wt_path, "Accept WebTransport only on this path (default: any)", "PATH"},
      {"cache-groups", 0, 0, G_OPTION_ARG_INT, &o.cache_groups, "Groups cached per track (default 8)", "N"},
      {"cache-mb", 0, 0, G_OPTION_ARG_INT, &o.cache_mb, "Cache bytes per track, in MiB (default 64)", "MB"},
      {"linger-ms", 0, 0, G_OPTION_ARG_INT, &o.linger_ms, "Keep an unwatched track's upstream subscription this long (default 2000)", "MS"},
      {"hold-ms", 0, 0, G_OPTION_ARG_INT, &o.hold_ms, "A request for an unannounced namespace waits this long for its publisher (default 0: refused at once)", "MS"},
      {"max-sessions", 0, 0, G_OPTION_ARG_INT, &o.max_sessions, "Sessions at once (default 1000)", "N"},
      {"max-tracks", 0, 0, G_OPTION_ARG_INT, &o.max_tracks, "Relayed tracks at once (default 10000)", "N"},
      {"drain-ms", 0, 0, G_OPTION_ARG_INT, &o.drain_ms, "On SIGINT/SIGTERM: GOAWAY, then close what is left after this long (default 5000)", "MS"},
      {"goaway-uri", 0, 0, G_OPTION_ARG_STRING, &o.goaway_uri, "The URI the shutdown GOAWAY names (default: none)", "URI"},
      {"idle-timeout-ms", 0, 0, G_OPTION_ARG_INT, &o.idle_timeout_ms, "Close a silent session after this long (default 10000)", "MS"},
      {"upstream", 'u', 0, G_OPTION_ARG_STRING, &o.upstream, "Chain: send requests for namespaces nobody announced here to this relay or origin (moqt://HOST:PORT/PATH or https://...)", "URL"},
      {"upstream-pin", 0, 0, G_OPTION_ARG_STRING, &o.upstream_pin, "Accept only this upstream certificate SHA-256 (hex)", "HEX"},
      {"upstream-insecure", 0, 0, G_OPTION_ARG_NONE, &o.upstream_insecure, "Do not verify the upstream's certificate", nullptr},
      {"jwt-key", 0, 0, G_OPTION_ARG_FILENAME, &o.jwt_key, "Require JWTs: the HS256 secret, or the issuer's ES256 public key (PEM) (docs/relay.md)", "FILE"},
      {"jwt-alg", 0, 0, G_OPTION_ARG_STRING, &o.jwt_alg, "HS256 or ES256 (default: ES256 for a PEM public key, else HS256)", "ALG"},
      {"mint", 0, 0, G_OPTION_ARG_NONE, &o.mint, "Print a token signed with --jwt-key (the HS256 secret or the ES256 private key) and exit", nullptr},
      {"publish", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.mint_publish, "--mint: a namespace prefix the token may publish under (repeat; \"\" = all)", "PREFIX"},
      {"subscribe", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o.mint_subscribe, "--mint: a namespace prefix the token may subscribe to (repeat)", "PREFIX"},
      {"ttl", 0, 0, G_OPTION_ARG_INT, &o.mint_ttl, "--mint: seconds until the token expires (default 3600; 0 = never)", "S"},
      {"loops", 0, 0, G_OPTION_ARG_INT, &o.loops, "Event loops (threads) sharing the port with SO_REUSEPORT (default: one per CPU)", "N"},
      {"cache-age-ms", 0, 0, G_OPTION_ARG_INT, &o.cache_age_ms, "Drop cached groups older than this (default 0: only the count and size bounds)", "MS"},
      {"max-requests", 0, 0, G_OPTION_ARG_INT, &o.max_requests, "Subscriptions one session may hold at once (default 1024)", "N"},
      {"max-queued-kb", 0, 0, G_OPTION_ARG_INT, &o.max_queued_kb, "Bytes queued per downstream subscription before its oldest groups are dropped, KiB (default 8192)", "KB"},
      {"stats-interval", 0, 0, G_OPTION_ARG_INT, &o.stats_interval_s, "Print the stats every S seconds (default 0: only on SIGUSR1)", "S"},
      {"cluster", 0, 0, G_OPTION_ARG_STRING, &o.cluster, "Join a relay cluster whose control plane is this Redis (redis://[:PASSWORD@]HOST:PORT/DB; docs/cluster.md)", "URL"},
      {"node-id", 0, 0, G_OPTION_ARG_STRING, &o.node_id, "This relay's id in the cluster (default: the host name)", "ID"},
      {"advertise", 0, 0, G_OPTION_ARG_STRING, &o.advertise, "How the other relays (and moved clients) reach this one: moqt://HOST:PORT/PATH (needed with --cluster)", "URL"},
      {"cluster-token", 0, 0, G_OPTION_ARG_STRING, &o.cluster_token, "Token presented to the other relays (a JWT when they require one; mint it with --subscribe \"\")", "TOKEN"},
      {"cluster-pin", 0, 0, G_OPTION_ARG_STRING, &o.cluster_pin, "Accept only this certificate SHA-256 (hex) from the other relays", "HEX"},
      {"cluster-insecure", 0, 0, G_OPTION_ARG_NONE, &o.cluster_insecure, "Do not verify the other relays' certificates (development)", nullptr},
      {"cluster-ttl-ms", 0, 0, G_OPTION_ARG_INT, &o.cluster_ttl_ms, "Membership and origin leases in Redis; a dead relay is forgotten within this (default 3000)", "MS"},
      {"metrics", 0, 0, G_OPTION_ARG_STRING, &o.metrics, "Serve Prometheus metrics over HTTP on ADDR:PORT: GET /metrics, /healthz (e.g. 127.0.0.1:9464; port 0 = any; default: off)", "ADDR"},
      {"http-port", 0, 0, G_OPTION_ARG_INT, &o.http_port, "Serve the watch page (live broadcasts, moq.dev's player) over HTTPS on this TCP port of the --listen address (0 = any; default: off)", "PORT"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("- MoQT relay (raw QUIC and WebTransport, drafts 14/16/18)");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  GError* gerr = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    g_printerr("moqt-relay: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);

  if (o.mint) {
    if (!o.jwt_key) {
      g_printerr("moqt-relay: --mint needs --jwt-key (the signing key)\n");
      return 2;
    }
    gchar* key = nullptr;
    gsize len = 0;
    if (!g_file_get_contents(o.jwt_key, &key, &len, &gerr)) {
      g_printerr("moqt-relay: %s\n", gerr->message);
      return 2;
    }
    std::string k(key, len);
    g_free(key);
    std::optional<relay::Authorizer::Alg> alg;
    if (o.jwt_alg) alg = relay::Authorizer::parse_alg(o.jwt_alg);
    if (!alg) alg = k.find("PRIVATE KEY-----") != std::string::npos ? relay::Authorizer::Alg::kES256 : relay::Authorizer::Alg::kHS256;
    if (*alg == relay::Authorizer::Alg::kHS256 && !k.empty() && k.back() == '\n') k.pop_back();
    std::vector<std::string> pub, sub;
    for (gchar** p = o.mint_publish; p && *p; ++p) pub.emplace_back(*p);
    for (gchar** p = o.mint_subscribe; p && *p; ++p) sub.emplace_back(*p);
    std::optional<int64_t> exp;
    if (o.mint_ttl > 0) exp = int64_t(time(nullptr)) + o.mint_ttl;
    std::string err;
    auto token = relay::Authorizer::mint(*alg, k, pub, sub, exp, &err);
    if (!token) {
      g_printerr("moqt-relay: --mint: %s\n", err.c_str());
      return 1;
    }
    std::printf("%s\n", token->c_str());
    return 0;
  }

  GKeyFile* kf = nullptr;
  if (o.config) {
    kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, o.config, G_KEY_FILE_NONE, &gerr)) {
      g_printerr("moqt-relay: --config %s: %s\n", o.config, gerr->message);
      return 2;
    }
  }
  relay::RelayConfig cfg;
  cfg.server.listen = pick(o.listen, kf, "listen", "0.0.0.0:4443");
  cfg.server.wt_path = pick(o.wt_path, kf, "wt-path", "");
  const int draft = pick(o.draft, kf, "draft", 0);
  if (draft == 14) cfg.server.drafts = {wire::Draft::k14};
  else if (draft == 16) cfg.server.drafts = {wire::Draft::k16};
  else if (draft == 18) cfg.server.drafts = {wire::Draft::k18};
  else if (draft != 0) {
    g_printerr("moqt-relay: --draft must be 14, 16 or 18\n");
    return 2;
  }
  cfg.cache_groups = size_t(std::max(1, pick(o.cache_groups, kf, "cache-groups", 8)));
  cfg.cache_bytes = size_t(std::max(1, pick(o.cache_mb, kf, "cache-mb", 64))) << 20;
  cfg.cache_age = std::chrono::milliseconds(std::max(0, pick(o.cache_age_ms, kf, "cache-age-ms", 0)));
  cfg.server.session.max_incoming_subscriptions = size_t(std::max(1, pick(o.max_requests, kf, "max-requests", 1024)));
  cfg.server.session.max_queued_bytes = size_t(std::max(64, pick(o.max_queued_kb, kf, "max-queued-kb", 8192))) << 10;
  const int loops = std::clamp(pick(o.loops, kf, "loops", int(std::max(1u, std::thread::hardware_concurrency()))), 1, 256);
  cfg.linger = std::chrono::milliseconds(pick(o.linger_ms, kf, "linger-ms", 2000));
  cfg.hold = std::chrono::milliseconds(pick(o.hold_ms, kf, "hold-ms", 0));
  cfg.server.max_sessions = size_t(std::max(1, pick(o.max_sessions, kf, "max-sessions", 1000)));
  cfg.max_tracks = size_t(std::max(1, pick(o.max_tracks, kf, "max-tracks", 10000)));
  cfg.server.quic.idle_timeout = std::chrono::milliseconds(std::max(1000, pick(o.idle_timeout_ms, kf, "idle-timeout-ms", 10000)));
  const auto drain = std::chrono::milliseconds(std::max(0, pick(o.drain_ms, kf, "drain-ms", 5000)));
  const std::string goaway_uri = pick(o.goaway_uri, kf, "goaway-uri", "");
  const int stats_interval = pick(o.stats_interval_s, kf, "stats-interval", 0);
  const std::string cert_file = pick(o.cert, kf, "cert", ""), key_file = pick(o.key, kf, "key", "");
  cfg.upstream = pick(o.upstream, kf, "upstream", "");
  const std::string jwt_key = pick(o.jwt_key, kf, "jwt-key", ""), jwt_alg = pick(o.jwt_alg, kf, "jwt-alg", "");
  const std::string upstream_pin = pick(o.upstream_pin, kf, "upstream-pin", "");
  const std::string metrics_listen = pick(o.metrics, kf, "metrics", "");
  const int http_port = pick(o.http_port, kf, "http-port", -1);
  if (http_port > 65535) {
    g_printerr("moqt-relay: --http-port must be a TCP port (0-65535)\n");
    return 2;
  }
  const bool upstream_insecure =
      o.upstream_insecure || (kf && g_key_file_get_boolean(kf, "relay", "upstream-insecure", nullptr));
  if (!upstream_pin.empty()) {
    cfg.upstream_client.verify = quic::VerifyMode::kPinnedSha256;
    cfg.upstream_client.pinned_sha256 = upstream_pin;
  } else if (upstream_insecure) {
    cfg.upstream_client.verify = quic::VerifyMode::kInsecure;
  }
  cfg.cluster.redis = pick(o.cluster, kf, "cluster", "");
  if (!cfg.cluster.redis.empty()) {
    cfg.cluster.node_id = pick(o.node_id, kf, "node-id", g_get_host_name());
    cfg.cluster.advertise = pick(o.advertise, kf, "advertise", "");
    cfg.cluster.ttl = std::chrono::milliseconds(std::max(300, pick(o.cluster_ttl_ms, kf, "cluster-ttl-ms", 3000)));
    if (cfg.cluster.advertise.empty()) {
      g_printerr("moqt-relay: --cluster needs --advertise moqt://HOST:PORT/PATH (how the other relays reach this one)\n");
      return 2;
    }
    const std::string token = pick(o.cluster_token, kf, "cluster-token", "");
    if (!token.empty()) cfg.cluster_client.auth_token = token;
    const std::string pin = pick(o.cluster_pin, kf, "cluster-pin", "");
    if (!pin.empty()) {
      cfg.cluster_client.verify = quic::VerifyMode::kPinnedSha256;
      cfg.cluster_client.pinned_sha256 = pin;
    } else if (o.cluster_insecure || (kf && g_key_file_get_boolean(kf, "relay", "cluster-insecure", nullptr))) {
      cfg.cluster_client.verify = quic::VerifyMode::kInsecure;
    }
  }
  if (kf) g_key_file_free(kf);
  if (!jwt_key.empty()) {
    std::optional<relay::Authorizer::Alg> alg;
    if (!jwt_alg.empty() && !(alg = relay::Authorizer::parse_alg(jwt_alg))) {
      g_printerr("moqt-relay: --jwt-alg must be HS256 or ES256\n");
      return 2;
    }
    std::string err;
    auto a = relay::Authorizer::from_file(jwt_key, alg, &err);
    if (!a) {
      g_printerr("moqt-relay: --jwt-key: %s\n", err.c_str());
      return 2;
    }
    cfg.auth = std::move(a);
  }

  std::string err;
  std::optional<quic::CertificatePem> cert;
  bool generated_cert = false;
  if (!cert_file.empty() || !key_file.empty()) {
    if (cert_file.empty() || key_file.empty()) {
      g_printerr("moqt-relay: --cert and --key go together\n");
      return 2;
    }
    cert = quic::load_pem_files(cert_file, key_file, &err);
  } else {
    cert = quic::generate_self_signed({"localhost", "127.0.0.1", "::1"}, 14, &err);  // browsers pin <= 14 days
    generated_cert = true;
  }
  if (!cert) {
    g_printerr("moqt-relay: certificate: %s\n", err.c_str());
    return 2;
  }
  cfg.server.cert = *cert;

  size_t next_loop = 0;
  auto group = relay::RelayGroup::start(size_t(loops), cfg, &err, [&](relay::Relay& r) {
    if (loops > 1)
      r.set_log([i = next_loop](const std::string& line) { std::fprintf(stderr, "moqt-relay: [loop %zu] %s\n", i, line.c_str()); });
    ++next_loop;
  });
  if (!group) {
    g_printerr("moqt-relay: cannot start: %s\n", err.c_str());
    return 1;
  }
  const std::string addr = group->address();
  const unsigned port = group->port();
  auto stats = [&] { return group->stats(); };
  std::unique_ptr<tools::MetricsServer> metrics;  // Prometheus endpoint (relay_metrics.h); goes before the relay
  if (!metrics_listen.empty() && !(metrics = tools::MetricsServer::start(metrics_listen, stats, &err))) {
    g_printerr("moqt-relay: --metrics: %s\n", err.c_str());
    return 1;
  }
  if (metrics) std::fprintf(stderr, "moqt-relay: metrics on http://%s/metrics\n", metrics->address().c_str());
  std::string metrics_json = metrics ? ",\"metrics_port\":" + std::to_string(metrics->port()) : "";
  // The watch page: HTTPS with the relay's certificate; a generated one is pinned by its hash.
#ifdef MOQT_HAVE_SOUP
  std::unique_ptr<web::WatchSite> site;
  if (http_port >= 0) {
    const std::string listen = addr.substr(0, addr.rfind(':')) + ":" + std::to_string(http_port);
    site = web::start_relay_site(*group, cfg, listen, generated_cert, &err);
    if (!site) {
      g_printerr("moqt-relay: --http-port: %s\n", err.c_str());
      return 1;
    }
    std::fprintf(stderr, "moqt-relay: watch page on https://%s/%s\n", site->address().c_str(),
                 web::WatchSite::has_player() ? "" : " (built without the player: only the broadcast list)");
    metrics_json += ",\"http_port\":" + std::to_string(site->port());
  }
#else
  if (http_port >= 0) {
    g_printerr("moqt-relay: --http-port: built without libsoup-3.0: no watch page\n");
    return 1;
  }
#endif
  std::fprintf(stderr, "moqt-relay: listening on %s (raw QUIC and WebTransport, %d loop%s), certificate sha256 %s\n",
               addr.c_str(), loops, loops > 1 ? "s" : "", cert->sha256_hex.c_str());
  std::printf("{\"listening\":\"%s\",\"port\":%u,\"sha256\":\"%s\"%s}\n", addr.c_str(), port, cert->sha256_hex.c_str(),
              metrics_json.c_str());
  std::fflush(stdout);

  signal(SIGINT, on_stop);
  signal(SIGTERM, on_stop);
  signal(SIGUSR1, on_usr1);
  signal(SIGPIPE, SIG_IGN);
  auto last_stats = std::chrono::steady_clock::now();
  std::atomic<bool> drained{false};
  bool draining = false;
  while (!drained) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto now = std::chrono::steady_clock::now();
    if (g_stats.exchange(false) || (stats_interval > 0 && now - last_stats >= std::chrono::seconds(stats_interval))) {
      last_stats = now;
      print_stats(stats());
    }
    if (g_stop > 1) break;  // a second signal: now
    if (g_stop == 1 && !draining) {
      draining = true;
      std::fprintf(stderr, "moqt-relay: draining: GOAWAY to every session, closing in %lld ms\n",
                   (long long)drain.count());
      std::string target = goaway_uri;
      // In a cluster, clients move to the least loaded other relay.
      if (target.empty() && !cfg.cluster.redis.empty()) {
        target = group->cluster_goaway_target(std::chrono::milliseconds(1000));
        if (!target.empty()) std::fprintf(stderr, "moqt-relay: clients are sent to %s\n", target.c_str());
      }
      group->drain_async(target, drain, [&] { drained = true; });
    }
  }
  print_stats(stats());
#ifdef MOQT_HAVE_SOUP
  site.reset();
#endif
  metrics.reset();
  group.reset();
  std::fprintf(stderr, "moqt-relay: stopped\n");
  return 0;
}
