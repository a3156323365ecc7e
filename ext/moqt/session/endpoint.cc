#include "moqt/session/endpoint.h"

#include <algorithm>

namespace moqt::session {

std::optional<MoqUrl> MoqUrl::parse(const std::string& url, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<MoqUrl> {
    if (error) *error = "invalid URL '" + url + "': " + why;
    return std::nullopt;
  };
  MoqUrl u;
  std::string rest;
  if (url.rfind("moqt://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.webtransport = true;
    rest = url.substr(8);
  } else {
    return fail("the scheme must be moqt:// (raw QUIC) or https:// (WebTransport)");
  }
  const size_t slash = rest.find_first_of("/?");
  u.authority = rest.substr(0, slash);
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!u.path.empty() && u.path[0] == '?') u.path = "/" + u.path;
  if (u.authority.empty()) return fail("no host");
  std::string host = u.authority, port;
  if (host[0] == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) return fail("unterminated IPv6 literal");
    port = close + 1 < host.size() && host[close + 1] == ':' ? host.substr(close + 2) : "";
    host = host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (!port.empty()) {
    char* end = nullptr;
    const unsigned long p = strtoul(port.c_str(), &end, 10);
    if (*end || p > 65535) return fail("bad port '" + port + "'");  // 0: a listener picks a free port
    u.port = uint16_t(p);
  }
  u.host = host;
  return u;
}

std::vector<std::string> alpns_for(const std::vector<Draft>& drafts) {
  std::vector<std::string> out;
  for (Draft d : drafts) out.emplace_back(wire::profile(d).alpn);
  return out;
}

// --- Server ------------------------------------------------------------------------------------

std::unique_ptr<Server> Server::start(quic::EventLoop& loop, ServerConfig cfg, TrackSource* tracks,
                                      std::function<SessionHandler*(Session&)> on_session, std::string* error) {
  std::unique_ptr<Server> s(new Server(loop));
  s->cfg_ = std::move(cfg);
  // max_sessions is the limit: the QUIC endpoint's own (default 1000) must not refuse below it.
  s->cfg_.quic.max_connections = std::max(s->cfg_.quic.max_connections, s->cfg_.max_sessions);
  s->tracks_ = tracks;
  s->on_session_ = std::move(on_session);
  auto addr = quic::SocketAddress::parse(s->cfg_.listen, true);
  if (!addr) {
    if (error) *error = "cannot parse listen address '" + s->cfg_.listen + "'";
    return nullptr;
  }
  std::vector<std::string> alpns = alpns_for(s->cfg_.drafts);
  if (s->cfg_.webtransport) alpns.push_back("h3");
  auto tls = quic::ServerTls::create(s->cfg_.cert, alpns, error);
  if (!tls) return nullptr;
  Server* raw = s.get();
  if (s->cfg_.webtransport) {
    webtransport::ServerOptions wo;
    for (Draft d : s->cfg_.drafts)
      if (d != Draft::k14) wo.protocols.emplace_back(wire::profile(d).alpn);
    wo.on_connect = [raw](webtransport::Session& ws, const webtransport::ConnectRequest& r, const std::string& chosen) {
      const std::string path = r.path.substr(0, r.path.find('?'));
      if (!raw->cfg_.wt_path.empty() && path != raw->cfg_.wt_path) return webtransport::ConnectDecision{404, nullptr, ""};
      if (raw->live_sessions() >= raw->cfg_.max_sessions || !raw->accepting_)
        return webtransport::ConnectDecision{429, nullptr, ""};
      SessionConfig sc = raw->cfg_.session;
      sc.perspective = Perspective::kServer;
      sc.drafts = raw->cfg_.drafts;
      sc.webtransport = true;
      raw->sessions_.push_back(std::make_unique<Session>(ws, sc, nullptr, raw->tracks_));
      Session* sess = raw->sessions_.back().get();
      sess->set_peer_path(r.path);
      if (raw->on_session_) sess->set_session_handler(raw->on_session_(*sess));
      return webtransport::ConnectDecision{200, sess, chosen};
    };
    s->wt_ = std::make_unique<webtransport::SessionHost>(wo);
  }
  s->ep_ = quic::Endpoint::listen(
      loop, *addr, s->cfg_.quic, tls,
      [raw](quic::Connection& c) -> quic::TransportHandler* {
        if (c.protocol() == "h3") return raw->wt_ && raw->accepting_ ? raw->wt_->accept(c) : nullptr;
        if (raw->live_sessions() >= raw->cfg_.max_sessions || !raw->accepting_) return nullptr;
        SessionConfig sc = raw->cfg_.session;
        sc.perspective = Perspective::kServer;
        sc.drafts = raw->cfg_.drafts;
        raw->sessions_.push_back(std::make_unique<Session>(c, sc, nullptr, raw->tracks_));
        Session* sess = raw->sessions_.back().get();
        if (raw->on_session_) sess->set_session_handler(raw->on_session_(*sess));
        return sess;
      },
      error);
  if (!s->ep_) return nullptr;
  s->reap();
  return s;
}

// Closed sessions wait up to a second for the reaper: they must not hold a slot meanwhile.
size_t Server::live_sessions() const {
  return size_t(std::count_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return !s->closed(); }));
}

void Server::reap() {
  sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->closed(); }),
                  sessions_.end());
  reaper_ = loop_.add_timer(std::chrono::seconds(1), [this] { reap(); });
}

Server::~Server() {
  if (reaper_) loop_.cancel_timer(reaper_);
  sessions_.clear();
  wt_.reset();
  ep_.reset();
}

std::vector<Session*> Server::sessions() {
  std::vector<Session*> v;
  for (auto& s : sessions_)
    if (!s->closed()) v.push_back(s.get());
  return v;
}

void Server::close_all(uint64_t code, const std::string& reason) {
  for (auto& s : sessions_) s->close(code, reason);
}

}  // namespace moqt::session
