// The relay's watch page over HTTPS (the relay's own certificate): the list of live broadcasts,
// updating live, each playable in the page with moq.dev's @moq/watch (bundled into the binary at
// build time, see page/). Routes:
//
//   GET /                          the page
//   GET /watch.js                  the page's script (the player bundle)
//   GET /api/config                {"port":P,"path":"/","drafts":[14,16,18],"sha256":"HEX"|null}
//   GET /api/broadcasts?since=V    {"version":V2,"broadcasts":[{"name":"live/cam"},...]}: at once
//                                  when the list's version is not V, else when it changes or
//                                  after `long_poll` (a long poll)
//   GET /certificate.sha256        the certificate's hash (hex) when it is handed out
//   GET /healthz                   "ok"
//
// The list comes from `Lister` (the relay's namespace registry), asked on the HTTP thread when a
// request comes and every `poll` while a long poll waits.
//
// Threads: start() and the destructor on the owner's thread; the Lister on the HTTP thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace moqt::relay {
class RelayGroup;
struct RelayConfig;
}  // namespace moqt::relay

namespace moqt::web {

struct WatchSiteConfig {
  std::string listen;       // "ADDR:PORT" (TCP)
  std::string tls_pem;      // certificate chain + key (PEM): the relay's
  std::string cert_sha256;  // handed to the page to pin a development certificate; "" = none
  uint16_t moqt_port = 0;   // the relay's WebTransport port (UDP)
  std::string wt_path = "/";
  std::vector<int> drafts{14, 16, 18};  // what the relay accepts
  std::chrono::milliseconds poll{250};
  std::chrono::milliseconds long_poll{8000};  // below the connection deadline (10 s)
  size_t max_connections = 256;
};

class WatchSite {
 public:
  using Lister = std::function<std::vector<std::string>()>;  // the live broadcasts' names, sorted

  static std::unique_ptr<WatchSite> start(WatchSiteConfig cfg, Lister lister, std::string* error);
  ~WatchSite();  // stops serving; joins the HTTP thread (the Lister is not called afterwards)

  const std::string& address() const;
  unsigned port() const;
  // Whether the page carries the player (built with page/node_modules) or only the list.
  static bool has_player();

  struct State;

 private:
  WatchSite() = default;
  std::shared_ptr<State> state_;
};

// The watch page of a relay (moqt-relay --http-port, moqrelay http-port): on TCP `listen`, HTTPS
// with `cfg`'s certificate (its hash handed to the page when `pin`: a development certificate),
// the player pointed at the group's port, WebTransport path and drafts, the list from its
// namespace registry.
std::unique_ptr<WatchSite> start_relay_site(relay::RelayGroup& group, const relay::RelayConfig& cfg,
                                            const std::string& listen, bool pin, std::string* error);

// A namespace as the page names it (and @moq/watch's `name` takes it): its fields joined by '/'.
std::string broadcast_name(const std::vector<std::string>& ns);

// {"version":V,"broadcasts":[{"name":...},...]} (what /api/broadcasts answers).
std::string broadcasts_json(uint64_t version, const std::vector<std::string>& names);

}  // namespace moqt::web
