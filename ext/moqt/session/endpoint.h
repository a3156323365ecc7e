// Ready-made MoQT endpoints: a Server that accepts raw QUIC (ALPN moq-00 / moqt-16 / moqt-18)
// and WebTransport (ALPN h3, CONNECT to the configured path) on one UDP port and owns one Session
// per connection. The Client (client.h) connects to a moqt:// (raw QUIC) or https:// (WebTransport)
// URL. The tools and the GStreamer elements are built on these.
//
// Threads: both live on one EventLoop thread (create them there: EventLoop::run_sync).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moqt/quic/connection.h"
#include "moqt/session/session.h"
#include "moqt/webtransport/session.h"

namespace moqt::session {

// moqt://host:port/path?query (raw QUIC) or https://host:port/path (WebTransport).
struct MoqUrl {
  bool webtransport = false;
  std::string host;
  uint16_t port = 443;
  std::string path = "/";   // path [+ ?query]
  std::string authority;    // host:port as written
  static std::optional<MoqUrl> parse(const std::string& url, std::string* error);
};

std::vector<std::string> alpns_for(const std::vector<Draft>& drafts);  // e.g. moqt-18, moqt-16, moq-00

struct ServerConfig {
  std::string listen = "0.0.0.0:4443";
  quic::CertificatePem cert;               // required (generate_self_signed for development)
  std::vector<Draft> drafts = all_drafts();
  bool webtransport = true;                // also accept ALPN h3
  std::string wt_path;                     // WebTransport CONNECT path ("" = any path)
  quic::QuicConfig quic;
  SessionConfig session;                   // template for every accepted session
  size_t max_sessions = 1000;
};

class Server {
 public:
  // `on_session` is called for each new session before it is set up; it returns the session's
  // handler (nullptr for none). `tracks` answers SUBSCRIBE/FETCH (may be null).
  static std::unique_ptr<Server> start(quic::EventLoop& loop, ServerConfig cfg, TrackSource* tracks,
                                       std::function<SessionHandler*(Session&)> on_session, std::string* error);
  ~Server();
  const quic::SocketAddress& address() const { return ep_->local_address(); }
  // Live sessions (closed ones are dropped within a second).
  std::vector<Session*> sessions();
  void close_all(uint64_t code, const std::string& reason);
  // New connections are refused from now on (draining); live sessions go on.
  void stop_accepting() { accepting_ = false; }

 private:
  Server(quic::EventLoop& loop) : loop_(loop) {}
  void reap();
  size_t live_sessions() const;
  quic::EventLoop& loop_;
  ServerConfig cfg_;
  TrackSource* tracks_ = nullptr;
  std::function<SessionHandler*(Session&)> on_session_;
  std::unique_ptr<webtransport::SessionHost> wt_;
  std::unique_ptr<quic::Endpoint> ep_;
  std::vector<std::unique_ptr<Session>> sessions_;
  quic::EventLoop::TimerId reaper_ = 0;
  bool accepting_ = true;
};

}  // namespace moqt::session
