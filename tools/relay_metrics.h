// Prometheus metrics for moqt-relay (docs/relay.md "Metrics"): a small HTTP server
// (moqt/web/http_server.h: libsoup 3 on its own thread) that answers
//
//   GET /metrics   the RelayStats in the text exposition format 0.0.4
//   GET /healthz   200 "ok"
//   anything else  404 (other methods 405, requests with a body 413)
//
// It knows nothing about how the relay is hosted: every scrape calls `provider` (on the metrics
// thread), which returns the stats to publish, e.g. one relay's stats fetched on its loop thread
// with EventLoop::run_sync, or the sum over several relay loops.
//
// Bounds (HttpServer's): one request per connection, 10 s per connection, 64 connections at once,
// no request bodies. libsoup itself does not bound the size of request headers: bind the endpoint
// to localhost or a private network, not the internet.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "moqt/relay/relay.h"

namespace moqt::tools {

// The exposition text for `s` (what GET /metrics returns).
std::string prometheus_text(const relay::RelayStats& s);

class MetricsServer {
 public:
  using Provider = std::function<relay::RelayStats()>;

  // Listens on `listen` ("ADDR:PORT", "[V6ADDR]:PORT"; ADDR an IP address; port 0 = any).
  // Null (and `error` set) if the address is bad or cannot be bound, or if moqt-relay was built
  // without libsoup.
  static std::unique_ptr<MetricsServer> start(const std::string& listen, Provider provider, std::string* error);
  // Stops serving and joins the thread: destroy it while `provider` can still be called.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const std::string& address() const { return address_; }  // bound "ADDR:PORT"
  unsigned port() const { return port_; }

  struct Impl;

 private:
  MetricsServer() = default;
  std::unique_ptr<Impl> impl_;
  std::string address_;
  unsigned port_ = 0;
};

}  // namespace moqt::tools
