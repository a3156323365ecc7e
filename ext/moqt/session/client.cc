#include "moqt/session/client.h"

#include <algorithm>
#include <cstdio>

namespace moqt::session {

namespace {
constexpr uint64_t kDoneGoingAway = 0x4;  // PUBLISH_DONE status GOING_AWAY
constexpr auto kReapDelay = std::chrono::milliseconds(200);  // lets a closed connection flush its CLOSE
}  // namespace

struct Client::Conn final : SessionHandler {
  Client* c = nullptr;
  std::string url;
  std::unique_ptr<quic::Endpoint> ep;
  std::unique_ptr<webtransport::Session> wt;
  std::unique_ptr<Session> session;  // destroyed first: it uses wt / the connection
  bool ready = false;

  void on_ready(Draft d) override {
    ready = true;
    c->conn_ready(*this, d);
  }
  void on_closed(uint64_t code, const std::string& r) override { c->conn_closed(*this, code, r); }
  void on_goaway(const std::string& uri) override { c->conn_goaway(*this, uri); }
  bool on_namespace_published(const TrackNamespace& ns) override {
    return c->app_ ? c->app_->on_namespace_published(ns) : true;
  }
  void on_namespace_done(const TrackNamespace& ns) override {
    if (c->app_) c->app_->on_namespace_done(ns);
  }
  SubscriptionHandler* on_incoming_publish(const FullTrackName& n) override {
    return c->app_ ? c->app_->on_incoming_publish(n) : nullptr;
  }
  void on_namespace_update(const TrackNamespace& ns, bool active) override {
    if (c->app_) c->app_->on_namespace_update(ns, active);
  }
};

struct Client::Leg final : SubscriptionHandler {
  Client* c = nullptr;
  Sub* sub = nullptr;
  Conn* conn = nullptr;
  uint64_t request_id = 0;

  void on_subscribe_ok(const SubscribeResult& r) override;
  void on_subscribe_error(uint64_t code, const std::string& r) override { c->leg_error(*this, code, r); }
  void on_object(const ReceivedObject& o) override { c->leg_object(*this, o); }
  void on_done(uint64_t status, const std::string& r) override { c->leg_done(*this, status, r); }
};

struct Client::Sub {
  uint64_t handle = 0;
  FullTrackName track;
  SubscribeOptions opts;
  SubscriptionHandler* app = nullptr;
  std::unique_ptr<Leg> leg;   // on the older session (the only one outside a move)
  std::unique_ptr<Leg> next;  // during a move: on the newer session
  bool told_ok = false;
  std::optional<uint64_t> max_group;  // largest group handed to the application
  std::optional<uint64_t> switch_group;  // groups from here on come from `next`, below it from `leg`
  bool old_past_switch = false;          // `leg` has reached switch_group: it owes nothing more
  uint64_t floor = 0;                    // `leg` was promoted: groups below this came from its predecessor

  void promote() {
    floor = switch_group.value_or(max_group ? *max_group + 1 : 0);
    leg = std::move(next);
    switch_group.reset();
    old_past_switch = false;
  }
};

void Client::Leg::on_subscribe_ok(const SubscribeResult& r) {
  if (sub->told_ok || this != sub->leg.get()) return;
  sub->told_ok = true;
  sub->app->on_subscribe_ok(r);
}

std::unique_ptr<Client::Conn> Client::open(const std::string& url, std::string* error) {
  auto u = MoqUrl::parse(url, error);
  if (!u) return nullptr;
  auto remote = quic::SocketAddress::resolve(u->host, u->port);
  if (!remote) {
    if (error) *error = "cannot resolve '" + u->host + "'";
    return nullptr;
  }
  quic::ClientTlsConfig tc;
  tc.alpns = u->webtransport ? std::vector<std::string>{"h3"} : alpns_for(cfg_.drafts);
  tc.server_name = u->host;
  tc.verify = cfg_.verify;
  tc.pinned_sha256 = cfg_.pinned_sha256;
  tc.ca_file = cfg_.ca_file;
  auto tls = quic::ClientTls::create(tc, error);
  if (!tls) return nullptr;
  auto c = std::make_unique<Conn>();
  c->c = this;
  c->url = url;
  c->ep = quic::Endpoint::client(loop_, remote->family(), cfg_.quic, error);
  if (!c->ep) return nullptr;
  quic::Connection* conn = c->ep->connect(*remote, tls, nullptr, error);
  if (!conn) return nullptr;
  SessionConfig sc;
  sc.perspective = Perspective::kClient;
  sc.drafts = cfg_.drafts;
  sc.auth_token = cfg_.auth_token;
  sc.request_auth_token = cfg_.request_auth_token;
  quic::Transport* t = conn;
  if (u->webtransport) {
    webtransport::ClientOptions wo;
    wo.authority = u->authority;
    wo.path = u->path;
    for (Draft d : cfg_.drafts)
      if (d != Draft::k14) wo.protocols.emplace_back(wire::profile(d).alpn);
    c->wt = webtransport::Session::client(*conn, wo, nullptr);
    t = c->wt.get();
    sc.webtransport = true;
  } else {
    sc.path = u->path;
    sc.authority = u->authority;
  }
  c->session = std::make_unique<Session>(*t, sc, c.get(), tracks_);
  return c;
}

Client::Client(quic::EventLoop& loop) : loop_(loop) {}

std::unique_ptr<Client> Client::connect(quic::EventLoop& loop, const std::string& url, ClientConfig cfg,
                                        SessionHandler* handler, TrackSource* tracks, std::string* error) {
  std::unique_ptr<Client> c(new Client(loop));
  c->cfg_ = std::move(cfg);
  c->app_ = handler;
  c->tracks_ = tracks;
  c->active_ = c->open(url, error);
  if (!c->active_) return nullptr;
  return c;
}

Client::~Client() {
  *alive_ = false;
  if (drain_timer_) loop_.cancel_timer(drain_timer_);
  if (move_timer_) loop_.cancel_timer(move_timer_);
  // Sessions first: they hold pointers to the legs (and do not call them while being destroyed).
  draining_.reset();
  pending_.reset();
  active_.reset();
  dead_conns_.clear();
  subs_.clear();
  dead_legs_.clear();
}

Session& Client::session() { return *active_->session; }
const std::string& Client::url() const { return active_->url; }

bool Client::issue(Sub& s, Conn& c, bool as_next) {
  SubscribeOptions o = s.opts;
  if (as_next) {
    // Resume where the old session leaves off: the next group, or what is left of a range.
    if (o.filter.type == wire::FilterType::kAbsoluteRange) {
      const uint64_t from = std::max(o.filter.start.group, s.max_group ? *s.max_group + 1 : 0);
      if (o.filter.end_group && from > *o.filter.end_group) return false;  // nothing left to move
      o.filter.start = {from, 0};
    } else {
      o.filter = {wire::FilterType::kNextGroupStart, {}, {}};
    }
  }
  auto leg = std::make_unique<Leg>();
  leg->c = this;
  leg->sub = &s;
  leg->conn = &c;
  auto id = c.session->subscribe(s.track, o, leg.get());
  if (!id) return false;
  leg->request_id = *id;
  (as_next ? s.next : s.leg) = std::move(leg);
  return true;
}

std::optional<uint64_t> Client::subscribe(const FullTrackName& track, const SubscribeOptions& o,
                                          SubscriptionHandler* h) {
  auto s = std::make_unique<Sub>();
  s->handle = next_handle_++;
  s->track = track;
  s->opts = o;
  s->app = h;
  // After a GOAWAY the old session takes no new requests: they go to the new one.
  Conn& target = pending_ ? *pending_ : *active_;
  if (!issue(*s, target, false)) return std::nullopt;
  const uint64_t handle = s->handle;
  subs_[handle] = std::move(s);
  return handle;
}

void Client::unsubscribe(uint64_t handle) {
  auto it = subs_.find(handle);
  if (it == subs_.end()) return;
  retire_leg(*it->second, true);
  it->second->switch_group.reset();
  retire_leg(*it->second, false);
  subs_.erase(it);
  maybe_finish_drain();
}

std::optional<uint64_t> Client::joining_fetch(uint64_t handle, uint64_t start, bool relative, FetchHandler* h,
                                              uint8_t priority) {
  auto it = subs_.find(handle);
  if (it == subs_.end() || !it->second->leg) return std::nullopt;
  Leg& l = *it->second->leg;
  return l.conn->session->joining_fetch(l.request_id, start, relative, h, priority);
}

std::optional<uint64_t> Client::publish_namespace(const TrackNamespace& ns, std::function<void(bool, uint64_t)> done) {
  namespaces_.push_back({ns, std::move(done)});
  const size_t idx = namespaces_.size() - 1;
  Conn& target = pending_ ? *pending_ : *active_;
  return target.session->publish_namespace(ns, [this, idx, alive = alive_](bool ok, uint64_t code) {
    if (!*alive || idx >= namespaces_.size() || !namespaces_[idx].done) return;
    auto done = std::move(namespaces_[idx].done);
    namespaces_[idx].done = nullptr;  // the application hears about the first answer only
    done(ok, code);
  });
}

std::optional<uint64_t> Client::publish(std::shared_ptr<TrackPublisher> track, std::function<void(bool, uint64_t)> done) {
  publishes_.push_back(track);
  Conn& target = pending_ ? *pending_ : *active_;
  return target.session->publish(std::move(track), std::move(done));
}

void Client::close(uint64_t code, const std::string& reason) {
  if (move_timer_) loop_.cancel_timer(std::exchange(move_timer_, 0));
  if (drain_timer_) loop_.cancel_timer(std::exchange(drain_timer_, 0));
  if (pending_) retire_conn(pending_, code, reason);
  if (draining_) retire_conn(draining_, code, reason);
  // Ends the application's subscriptions with on_done, as Session::close does.
  if (active_) active_->session->close(code, reason);
}

// --- moving after GOAWAY ---------------------------------------------------------------------

void Client::conn_goaway(Conn& c, const std::string& uri) {
  if (app_ && &c == active_.get()) app_->on_goaway(uri);
  if (!cfg_.follow_goaway || &c != active_.get() || pending_) return;
  start_move(uri.empty() ? c.url : uri);
}

void Client::start_move(const std::string& url) {
  if (draining_) retire_conn(draining_, 0, "moved again after GOAWAY");
  std::string err;
  pending_ = open(url, &err);
  if (!pending_) {
    std::fprintf(stderr, "moqt client: GOAWAY: cannot open a session to %s: %s\n", url.c_str(), err.c_str());
    ++stats_.failed_moves;
    return;
  }
  for (auto& [h, s] : subs_)
    if (s->leg && !s->next) issue(*s, *pending_, true);
  for (const Announce& a : namespaces_)
    pending_->session->publish_namespace(a.ns, [url](bool ok, uint64_t code) {
      if (!ok) std::fprintf(stderr, "moqt client: %s refused a moved namespace (code 0x%llx)\n", url.c_str(), (unsigned long long)code);
    });
  for (auto& t : publishes_)
    pending_->session->publish(t, [url](bool ok, uint64_t code) {
      if (!ok) std::fprintf(stderr, "moqt client: %s refused a moved PUBLISH (code 0x%llx)\n", url.c_str(), (unsigned long long)code);
    });
  move_timer_ = loop_.add_timer(cfg_.move_timeout, [this, alive = alive_] {
    if (!*alive) return;
    move_timer_ = 0;
    if (!pending_ || pending_->ready) return;
    std::fprintf(stderr, "moqt client: GOAWAY: %s did not come up in time; staying\n", pending_->url.c_str());
    ++stats_.failed_moves;
    retire_conn(pending_, 0, "did not come up in time");
  });
}

void Client::conn_ready(Conn& c, Draft d) {
  if (&c == pending_.get()) {
    if (move_timer_) loop_.cancel_timer(std::exchange(move_timer_, 0));
    draining_ = std::move(active_);
    active_ = std::move(pending_);
    ++stats_.moves;
    drain_timer_ = loop_.add_timer(cfg_.goaway_drain, [this, alive = alive_] {
      if (!*alive) return;
      drain_timer_ = 0;
      if (draining_) retire_conn(draining_, 0, "moved after GOAWAY");
    });
    if (app_) app_->on_ready(d);
    maybe_finish_drain();
  } else if (&c == active_.get()) {
    if (app_) app_->on_ready(d);
  }
}

void Client::conn_closed(Conn& c, uint64_t code, const std::string& reason) {
  if (&c == draining_.get()) {
    if (drain_timer_) loop_.cancel_timer(std::exchange(drain_timer_, 0));
    retire_conn(draining_, code, reason);
  } else if (&c == pending_.get()) {
    std::fprintf(stderr, "moqt client: GOAWAY: the session to %s failed: %s\n", c.url.c_str(), reason.c_str());
    if (move_timer_) loop_.cancel_timer(std::exchange(move_timer_, 0));
    ++stats_.failed_moves;
    retire_conn(pending_, code, reason);
  } else if (&c == active_.get()) {
    if (pending_) {
      // The old session ended before the new one was up: the new one takes over now.
      retire_conn(active_, code, reason);
      active_ = std::move(pending_);
      return;
    }
    if (app_) app_->on_closed(code, reason);
  }
}

void Client::maybe_finish_drain() {
  if (!draining_) return;
  for (auto& [h, s] : subs_)
    if (s->leg && s->leg->conn == draining_.get() && !(s->next && s->old_past_switch)) return;
  if (drain_timer_) loop_.cancel_timer(std::exchange(drain_timer_, 0));
  retire_conn(draining_, 0, "moved after GOAWAY");
}

void Client::retire_leg(Sub& s, bool next_leg) {
  std::unique_ptr<Leg>& slot = next_leg ? s.next : s.leg;
  if (!slot) return;
  if (!slot->conn->session->closed()) slot->conn->session->unsubscribe(slot->request_id);
  bury(std::move(slot));
  if (!next_leg && s.next) s.promote();
}

void Client::retire_conn(std::unique_ptr<Conn>& slot, uint64_t code, const std::string& reason) {
  Conn* c = slot.get();
  std::vector<uint64_t> stranded;  // subscriptions that could not be moved: they end here
  for (auto& [h, s] : subs_) {
    if (s->next && s->next->conn == c) bury(std::move(s->next));
    if (s->leg && s->leg->conn == c) {
      if (!s->next) stranded.push_back(h);
      retire_leg(*s, false);
    }
  }
  std::unique_ptr<Conn> dead = std::move(slot);
  if (!dead->session->closed()) dead->session->close(code, reason);
  bury(std::move(dead));
  for (uint64_t h : stranded) {
    auto it = subs_.find(h);
    if (it == subs_.end()) continue;
    SubscriptionHandler* app = it->second->app;
    subs_.erase(it);
    app->on_done(kDoneGoingAway, "the session went away and the subscription could not be moved: " + reason);
  }
}

// --- the legs' events ------------------------------------------------------------------------

void Client::leg_object(Leg& l, const ReceivedObject& o) {
  Sub& s = *l.sub;
  const uint64_t g = o.location.group;
  if (&l == s.next.get()) {
    // The first object from the new session fixes the switch: each group comes from one session.
    if (!s.switch_group) s.switch_group = std::max(g, s.max_group ? *s.max_group + 1 : 0);
    if (g < *s.switch_group) return;
  } else if (&l == s.leg.get()) {
    if (s.switch_group && g >= *s.switch_group) {
      if (!s.old_past_switch) {
        s.old_past_switch = true;
        maybe_finish_drain();
      }
      return;
    }
    if (g < s.floor) return;
  } else {
    return;
  }
  s.max_group = std::max(g, s.max_group.value_or(0));
  s.app->on_object(o);  // last: the application may unsubscribe from here
}

void Client::leg_done(Leg& l, uint64_t status, const std::string& reason) {
  Sub& s = *l.sub;
  const bool session_ended = l.conn->session->closed();
  if (&l == s.next.get()) {
    if (session_ended) {
      bury(std::move(s.next));  // the new session failed; the old one goes on
      return;
    }
  } else if (&l == s.leg.get()) {
    if (s.next) {
      // Mid-move the old session ended it (going away): the new one continues.
      bury(std::move(s.leg));
      s.promote();
      maybe_finish_drain();
      return;
    }
  } else {
    return;
  }
  // The track really ended (or the only session did): the application's subscription ends.
  const uint64_t handle = s.handle;
  SubscriptionHandler* app = s.app;
  retire_leg(s, true);
  s.switch_group.reset();
  retire_leg(s, false);
  subs_.erase(handle);
  app->on_done(status, reason);
}

void Client::leg_error(Leg& l, uint64_t code, const std::string& reason) {
  Sub& s = *l.sub;
  if (&l == s.next.get()) {
    std::fprintf(stderr, "moqt client: after GOAWAY, %s refused a subscription (code 0x%llx: %s); it ends with the old session\n",
                 l.conn->url.c_str(), (unsigned long long)code, reason.c_str());
    bury(std::move(s.next));
    return;
  }
  if (&l != s.leg.get()) return;
  const uint64_t handle = s.handle;
  SubscriptionHandler* app = s.app;
  bury(std::move(s.leg));
  retire_leg(s, true);
  subs_.erase(handle);
  app->on_subscribe_error(code, reason);
}

// --- deferred deletion -----------------------------------------------------------------------

void Client::bury(std::unique_ptr<Conn> c) {
  if (!c) return;
  dead_conns_.push_back(std::move(c));
  schedule_reap();
}

void Client::bury(std::unique_ptr<Leg> l) {
  if (!l) return;
  dead_legs_.push_back(std::move(l));
  schedule_reap();
}

void Client::schedule_reap() {
  if (reaper_posted_) return;
  reaper_posted_ = true;
  loop_.add_timer(kReapDelay, [this, alive = alive_] {
    if (!*alive) return;
    reaper_posted_ = false;
    dead_conns_.clear();
    dead_legs_.clear();
  });
}

}  // namespace moqt::session
