#include "moqt/relay/relay.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>


namespace moqt::relay {

using Answer = session::TrackSource::Answer;
using session::LookupError;
using session::RequestFor;
using session::Session;
using session::SessionStats;
using session::TrackPublisher;
using wire::FullTrackName;

namespace {
const char* draft_name(wire::Draft d) { return wire::profile(d).name; }
}  // namespace

struct Relay::Peer : session::SessionHandler {
  Relay& r;
  Session& s;
  SourceId id;
  std::map<TrackNamespace, int> ns_refs;  // announced namespaces and pushed tracks' namespaces
  std::map<uint64_t, NamespaceTable::WatchId> watches;  // SUBSCRIBE_NAMESPACE request -> watch
  std::map<uint64_t, TrackNamespace> track_watches;     // SUBSCRIBE_TRACKS request -> prefix
  std::map<TrackKey, std::weak_ptr<TrackPublisher>> pushed;  // what it was PUBLISHed (once each)
  bool ready = false;
  Grant grant;  // what its token allows (with auth on)

  Peer(Relay& relay, Session& sess, SourceId sid) : r(relay), s(sess), id(sid) {}

  void on_ready(wire::Draft d) override {
    ready = true;
    const std::string what = std::string(draft_name(d)) + " over " + (s.webtransport() ? "WebTransport" : "raw QUIC") +
                             (s.peer_implementation().empty() ? "" : " (" + s.peer_implementation() + ")");
    r.log("session " + std::to_string(id) + " open: " + what);
    r.event(RelayEvent::Kind::kSessionOpened, id, what);
    if (r.cfg_.auth) r.authenticate(*this);
  }
  void on_limit(const std::string& which) override {
    ++r.closed_.limit_hits;
    ++r.closed_.requests_refused;
    r.log("session " + std::to_string(id) + ": request refused: " + which + " reached");
  }
  bool may_publish(const TrackNamespace& ns) override { return r.allowed(*this, ns, true, "publish"); }
  void on_closed(uint64_t code, const std::string& reason) override {
    const std::string what = "code " + std::to_string(code) + (reason.empty() ? "" : " (" + reason + ")");
    r.log("session " + std::to_string(id) + " closed: " + what);
    if (ready) r.event(RelayEvent::Kind::kSessionClosed, id, what);
    r.peer_closed(*this);  // destroys this
  }
  bool on_namespace_published(const TrackNamespace& ns) override {
    r.add_namespace(id, ns);
    return true;
  }
  void on_namespace_done(const TrackNamespace& ns) override { r.drop_namespace(id, ns); }
  session::SubscriptionHandler* on_incoming_publish(const FullTrackName& name) override {
    return r.incoming_publish(*this, name);
  }
};

struct Relay::Track {
  FullTrackName name;
  std::shared_ptr<TrackPublisher> pub;
  std::unique_ptr<UpstreamTrack> up;
  Peer* source = nullptr;              // the publisher's session (null once it closed)
  SourceId local = 0;                  // or the in-process publisher of a local track
  std::optional<uint64_t> request_id;  // our SUBSCRIBE there (pulled tracks)
  bool pushed = false;                 // the publisher PUBLISHed it
  UpLink* via = nullptr;               // pulled through another relay (request_id: its handle there)
  bool resolving = false;              // waiting for the cluster's answer: where is its origin
  bool orphan = false;                 // its cluster origin went away; looking for the next one
  std::string lost_node;               // the node it was lost from
  quic::EventLoop::TimePoint give_up{};
  std::shared_ptr<LoopLink> link;      // mirrored from another loop of the group (relay link_shard)
  size_t link_shard = 0;
  bool ready = false;
  std::vector<Answer> waiting;  // requests waiting for the upstream's answer
  quic::EventLoop::TimerId linger = 0;
};

struct Relay::Local {
  std::string label;
  std::map<TrackNamespace, int> ns_refs;  // namespaces of its tracks
};

// A session this relay opened to another relay: the configured upstream (kept connected; the
// namespaces it announces to us, answers to our SUBSCRIBE_NAMESPACEs, become routes to it), or
// a cluster peer (opened when a track is routed there, closed once unused for a while).
struct Relay::UpLink : session::SessionHandler {
  Relay& r;
  std::string url;
  std::string node;  // the cluster peer's node id ("" for the configured upstream)
  SourceId id = 0;   // the configured upstream as a source of namespaces
  std::unique_ptr<session::Client> client;  // null while reconnecting
  bool ready = false;
  std::chrono::milliseconds backoff{0};
  std::vector<TrackNamespace> watches;  // prefixes SUBSCRIBE_NAMESPACE'd there
  quic::EventLoop::TimerId idle = 0;    // cluster peer: closes it when nothing uses it
  UpLink(Relay& relay, std::string u) : r(relay), url(std::move(u)) {}
  bool cluster() const { return !node.empty(); }
  void on_ready(wire::Draft d) override {
    ready = true;
    backoff = std::chrono::milliseconds(0);
    r.log((cluster() ? "cluster peer " + node + " (" + url + ")" : "upstream " + url) + " connected: " + draft_name(d));
    for (const TrackNamespace& p : watches) client->session().subscribe_namespace(p, nullptr);
    if (!r.held_.empty()) r.retry_held();
  }
  void on_closed(uint64_t code, const std::string& reason) override { r.link_closed(*this, code, reason); }
  bool on_namespace_published(const TrackNamespace& ns) override {
    if (!cluster()) r.add_namespace(id, ns);
    return !cluster();
  }
  void on_namespace_done(const TrackNamespace& ns) override {
    if (!cluster()) r.drop_namespace(id, ns);
  }
  void on_namespace_update(const TrackNamespace& ns, bool active) override {
    if (cluster()) return;
    if (active) r.add_namespace(id, ns);
    else r.drop_namespace(id, ns);
  }
};

// A FETCH sent to a track's source for what the cache lacks; hands what it got to the asker.
struct Relay::MissingFetch : session::FetchHandler {
  Relay& r;
  session::TrackSource::FetchDone done;
  std::vector<session::Object> objects;
  size_t bytes = 0;
  quic::EventLoop::TimerId timer = 0;
  MissingFetch(Relay& relay, session::TrackSource::FetchDone d) : r(relay), done(std::move(d)) {}
  void on_object(const session::ReceivedObject& o) override {
    if (bytes + o.payload.size() > r.cfg_.cache_bytes) return;  // bounded like a cache
    bytes += o.payload.size();
    session::Object out;
    out.location = o.location;
    out.subgroup = o.subgroup;
    out.publisher_priority = o.publisher_priority;
    out.status = o.status;
    out.properties = o.properties;
    out.datagram = o.datagram;
    out.payload = quic::SendBuffer::copy(o.payload);
    objects.push_back(std::move(out));
  }
  void on_fetch_error(uint64_t, const std::string&) override { finish(); }
  void on_fetch_done() override { finish(); }
  // Once: the asker gets what arrived (sorted), then this goes on the next loop turn.
  void finish() {
    if (!done) return;
    if (timer) r.loop_.cancel_timer(std::exchange(timer, 0));
    std::stable_sort(objects.begin(), objects.end(),
                     [](const session::Object& a, const session::Object& b) { return a.location < b.location; });
    auto d = std::move(done);
    done = nullptr;
    d(std::move(objects));
    r.loop_.add_timer(std::chrono::nanoseconds(0), [rr = &r, self = this, alive = r.alive_] {
      if (*alive) rr->fetches_.erase(self);
    });
  }
};

struct Relay::Held {
  SourceId asker;  // the asking session's peer (gone from sources_ when it closed)
  FullTrackName name;
  RequestFor why;
  Answer answer;
  quic::EventLoop::TimerId timer = 0;
};

Relay::Relay(quic::EventLoop& loop) : loop_(loop) {}

std::unique_ptr<Relay> Relay::start(quic::EventLoop& loop, RelayConfig cfg, std::string* error) {
  std::unique_ptr<Relay> r(new Relay(loop));
  r->cfg_ = std::move(cfg);
  // Joiners get the live group from object 0 out of the cache: they decode at once.
  r->cfg_.server.session.join_at_group_start = true;
  // Quiet sessions (a viewer waiting through a failover, an idle relay-to-relay link) are pinged,
  // so only a peer that is gone reaches the idle timeout.
  const auto ping = r->cfg_.server.quic.idle_timeout / 3;
  if (r->cfg_.server.quic.keep_alive.count() == 0) r->cfg_.server.quic.keep_alive = ping;
  if (r->cfg_.cluster_client.quic.keep_alive.count() == 0) r->cfg_.cluster_client.quic.keep_alive = ping;
  if (r->cfg_.upstream_client.quic.keep_alive.count() == 0) r->cfg_.upstream_client.quic.keep_alive = ping;
  Relay* raw = r.get();
  r->server_ = session::Server::start(loop, r->cfg_.server, raw, [raw](Session& s) { return raw->on_session(s); },
                                      error);
  if (!r->server_) return nullptr;
  if (r->cfg_.cache_age.count() > 0) r->schedule_cache_trim();
  if (!r->cfg_.upstream.empty()) {
    if (!session::MoqUrl::parse(r->cfg_.upstream, error)) return nullptr;
    auto l = std::make_unique<UpLink>(*r, r->cfg_.upstream);
    l->id = r->add_local("upstream " + r->cfg_.upstream);
    r->upstream_ = l.get();
    r->links_[r->cfg_.upstream] = std::move(l);
    r->connect_link(*r->upstream_);
  }
  if (!r->cfg_.cluster.redis.empty()) {
    r->cluster_ = cluster::Cluster::create(loop, r->cfg_.cluster, error);
    if (!r->cluster_) return nullptr;
    r->start_cluster();
  }
  return r;
}

Relay::~Relay() {
  *alive_ = false;
  for (auto& h : held_)
    if (h->timer) loop_.cancel_timer(h->timer);
  for (auto& [k, t] : tracks_)
    if (t->linger) loop_.cancel_timer(t->linger);
  feeds_.clear();
  for (auto& [k, t] : tracks_)
    if (t->link) t->link->close();
  // Peers hear the end now (CONNECTION_CLOSE), not at their idle timeout.
  if (server_) server_->close_all(0, "relay stopped");
  server_.reset();  // sessions first: they call into tracks and peers while going
  peers_.clear();
  for (auto& [url, l] : links_) {
    if (l->idle) loop_.cancel_timer(l->idle);
    l->client.reset();  // its sessions do not call their handlers while being destroyed
  }
  links_.clear();
  cluster_.reset();  // gives its leases up at once
  for (auto& [raw, f] : fetches_)
    if (f->timer) loop_.cancel_timer(f->timer);
  fetches_.clear();
  tracks_.clear();
}

void Relay::log(const std::string& line) {
  if (log_) log_(line);
  else std::fprintf(stderr, "moqt-relay: %s\n", line.c_str());
}

// --- authorization ------------------------------------------------------------------------------

void Relay::authenticate(Peer& p) {
  const auto token = Authorizer::token_of(p.s.peer_auth_token(), p.s.peer_path());
  if (!token) {
    log("session " + std::to_string(p.id) + ": no token: it may neither publish nor subscribe");
    return;
  }
  std::string why;
  const Authorizer::Verdict v = cfg_.auth->verify(*token, &p.grant, &why);
  if (v != Authorizer::Verdict::kOk) {
    ++closed_.auth_refused;
    log("session " + std::to_string(p.id) + " closed: " + why);
    // MALFORMED_AUTH_TOKEN / EXPIRED_AUTH_TOKEN (the same codes in -14, -16 and -18).
    close_peer(p, v == Authorizer::Verdict::kExpired ? 0x18 : 0x16, why);
    return;
  }
  log("session " + std::to_string(p.id) + ": token grants publish " + std::to_string(p.grant.publish.size()) +
      " and subscribe " + std::to_string(p.grant.subscribe.size()) + " prefixes");
  if (p.grant.expires) {
    // The grant ends with its token.
    const auto left = std::chrono::seconds(std::max<int64_t>(0, *p.grant.expires - int64_t(std::time(nullptr))));
    loop_.add_timer(left, [this, id = p.id, alive = alive_] {
      if (!*alive) return;
      auto it = sources_.find(id);
      if (it == sources_.end()) return;
      ++closed_.auth_refused;
      log("session " + std::to_string(id) + " closed: its token expired");
      close_peer(*it->second, 0x18, "token expired");
    });
  }
}

// Closing a session ourselves: it does not call on_closed, so its peer goes here.
void Relay::close_peer(Peer& p, uint64_t code, const std::string& reason) {
  p.s.close(code, reason);
  if (p.ready) event(RelayEvent::Kind::kSessionClosed, p.id, "code " + std::to_string(code) + " (" + reason + ")");
  peer_closed(p);
}

void Relay::refuse_unauthorized(Peer& p, const char* what, const TrackNamespace& ns) {
  ++closed_.auth_refused;
  ++closed_.requests_refused;
  log("session " + std::to_string(p.id) + ": may not " + what + " " + wire::to_string(ns) + ": UNAUTHORIZED");
}

bool Relay::allowed(Peer& p, const TrackNamespace& ns, bool publish, const char* what) {
  if (!cfg_.auth) return true;
  if (publish ? p.grant.may_publish(ns) : p.grant.may_subscribe(ns)) return true;
  if (const auto& token = p.s.request_auth_token()) {
    Grant g;
    std::string why;
    if (cfg_.auth->verify(*token, &g, &why) == Authorizer::Verdict::kOk) {
      if (publish ? g.may_publish(ns) : g.may_subscribe(ns)) return true;
    } else {
      log("session " + std::to_string(p.id) + ": the request's token is refused: " + why);
    }
  }
  refuse_unauthorized(p, what, ns);
  return false;
}

void Relay::event(RelayEvent::Kind kind, SourceId id, const std::string& detail) {
  if (events_) events_(RelayEvent{kind, id, detail});
}

session::SessionHandler* Relay::on_session(Session& s) {
  auto p = std::make_unique<Peer>(*this, s, next_source_++);
  Peer* raw = p.get();
  sources_[raw->id] = raw;
  peers_[&s] = std::move(p);
  ++closed_.sessions_opened;
  return raw;
}

void Relay::peer_closed(Peer& p) {
  const SessionStats& st = p.s.stats();
  closed_.objects_out += st.objects_sent;
  closed_.bytes_out += st.bytes_sent;
  closed_.objects_dropped += st.objects_dropped;
  closed_.streams_reset_congestion += st.streams_reset_for_congestion;
  closed_.streams_reset_timeout += st.streams_reset_for_delivery_timeout;
  ++closed_.sessions_closed;
  // Everything it registered goes at once: a new publisher of its namespaces is served now.
  for (auto& [rid, w] : p.watches) namespaces_.unwatch(w);
  p.watches.clear();
  p.track_watches.clear();
  drop_all_namespaces(p.id);
  for (auto& [k, t] : tracks_)
    if (t->source == &p) t->source = nullptr;  // its subscriptions ended with the session
  sources_.erase(p.id);
  // Not under the session's feet: it is inside its on_closed.
  auto it = peers_.find(&p.s);
  if (it == peers_.end()) return;
  std::shared_ptr<Peer> doomed(std::move(it->second));
  peers_.erase(it);
  loop_.add_timer(std::chrono::nanoseconds(0), [doomed] {});
}

RelayStats Relay::stats() const {
  RelayStats s = closed_;
  s.sessions = peers_.size();
  s.namespaces = namespaces_.size();
  s.held_requests = held_.size();
  s.upstream_connected = upstream_ && upstream_->ready;
  if (cluster_) {
    const cluster::ClusterStats cs = cluster_->stats();
    s.cluster_connected = cs.connected;
    s.cluster_lookup_errors = cs.lookup_errors;
    for (auto& [url, l] : links_) s.cluster_links += l->cluster() && l->client;
  }
  for (auto& [k, t] : tracks_) {
    if (t->link) {  // a mirror of another loop's track: counted there
      ++s.loop_links;
      s.loop_link_drops += t->link->dropped();
      s.downstream_subscriptions += t->pub->subscriber_count();
      continue;
    }
    ++s.tracks;
    if (t->pushed) ++s.pushed_tracks;
    else if (t->request_id && (t->source || t->via)) ++s.upstream_subscriptions;
    s.downstream_subscriptions += t->pub->subscriber_count();
    s.cache_bytes += t->pub->cached_bytes();
    if (t->up) s.objects_in += t->up->objects_in(), s.bytes_in += t->up->bytes_in();
  }
  for (auto& [sess, p] : peers_) {
    const SessionStats& st = sess->stats();
    s.objects_out += st.objects_sent;
    s.bytes_out += st.bytes_sent;
    s.objects_dropped += st.objects_dropped;
    s.streams_reset_congestion += st.streams_reset_for_congestion;
    s.streams_reset_timeout += st.streams_reset_for_delivery_timeout;
  }
  // Feeding another loop's mirror is not a viewer.
  s.downstream_subscriptions -= std::min(s.downstream_subscriptions, feeds_.size());
  return s;
}

// --- sources ---------------------------------------------------------------------------------

std::map<TrackNamespace, int>* Relay::ns_refs(SourceId id) {
  if (auto it = sources_.find(id); it != sources_.end()) return &it->second->ns_refs;
  if (auto it = locals_.find(id); it != locals_.end()) return &it->second->ns_refs;
  return nullptr;
}

void Relay::add_namespace(SourceId id, const TrackNamespace& ns) {
  auto* refs = ns_refs(id);
  if (!refs) return;
  if (++(*refs)[ns] == 1) {
    namespaces_.add(ns, id);
    namespace_transition(id, ns, true);
  }
  if (!held_.empty()) retry_held();
}

void Relay::drop_namespace(SourceId id, const TrackNamespace& ns) {
  auto* refs = ns_refs(id);
  if (!refs) return;
  auto it = refs->find(ns);
  if (it == refs->end()) return;
  if (--it->second > 0) return;
  refs->erase(it);
  namespaces_.remove(ns, id);
  namespace_transition(id, ns, false);
}

void Relay::drop_all_namespaces(SourceId id) {
  std::vector<TrackNamespace> gone;
  if (auto* refs = ns_refs(id)) {
    for (auto& [ns, n] : *refs) gone.push_back(ns);
    refs->clear();
  }
  namespaces_.remove_source(id);
  for (const TrackNamespace& ns : gone) namespace_transition(id, ns, false);
}

// Namespaces of this relay's own sources are news for the front end and for the other loops;
// the other loops' (mirrored here) are not.
void Relay::namespace_transition(SourceId id, const TrackNamespace& ns, bool active) {
  // The cluster learns what publishers announced here (on any loop), not what it told us itself
  // nor what the configured upstream has.
  if (cluster_ && id != cluster_src_ && !(upstream_ && id == upstream_->id)) {
    if (active) cluster_->announce(ns);
    else cluster_->withdraw(ns);
  }
  if (is_mirror_source(id)) return;
  event(active ? RelayEvent::Kind::kNamespacePublished : RelayEvent::Kind::kNamespaceDone, id, wire::to_string(ns));
  if (group_) group_->namespace_changed(index_, ns, active);
}

bool Relay::is_mirror_source(SourceId id) const {
  return id != 0 && std::find(shard_src_.begin(), shard_src_.end(), id) != shard_src_.end();
}

std::vector<Answer> Relay::take_over(const TrackKey& key, const std::string& by) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return {};
  Track& old = *it->second;
  // Requests still waiting for the old source's answer are the new publisher's to serve.
  std::vector<Answer> waiting = std::move(old.waiting);
  old.waiting.clear();
  if (!old.pub->finished()) {
    // The newest publisher wins: a restarted encoder must not wait for its dead predecessor's
    // idle timeout. The old source's subscribers get PUBLISH_DONE and subscribe again.
    log("PUBLISH of " + wire::to_string(old.name) + " from " + by + " replaces " +
        (old.source ? "session " + std::to_string(old.source->id) + "'s"
         : old.local ? "in-process " + std::to_string(old.local) + "'s"
                     : "the old one"));
    if (old.pushed && old.source) {
      old.source->s.unsubscribe_handler(old.up.get());
      drop_namespace(old.source->id, key.first);
    } else if (old.local) {
      drop_namespace(old.local, key.first);
    }
  }
  retire(key);
  return waiting;
}

void Relay::serve_waiting(std::vector<Answer> waiting, const std::shared_ptr<TrackPublisher>& pub) {
  for (Answer& a : waiting) {
    if (pub) a(pub, LookupError::kNone, "");
    else a(nullptr, LookupError::kExcessiveLoad, "too many tracks");
  }
}

session::SubscriptionHandler* Relay::incoming_publish(Peer& p, const FullTrackName& name) {
  const TrackKey key{name.ns, name.name};
  if (auto it = tracks_.find(key); it != tracks_.end() && it->second->orphan) {
    // Failover: the publisher came back here; its track goes on for the viewers still watching.
    Track& t = *it->second;
    if (UpLink* old = replace_upstream(t)) link_unused(*old);
    t.orphan = false;
    t.source = &p;
    t.pushed = true;
    t.ready = true;
    log("track " + wire::to_string(name) + " resumed: its publisher PUBLISHed it here (session " +
        std::to_string(p.id) + ")");
    add_namespace(p.id, name.ns);
    return t.up.get();
  }
  std::vector<Answer> waiting = take_over(key, "session " + std::to_string(p.id));
  if (tracks_.size() >= cfg_.max_tracks) {
    log("PUBLISH of " + wire::to_string(name) + " refused: max-tracks reached");
    ++closed_.limit_hits;
    serve_waiting(std::move(waiting), nullptr);
    return nullptr;
  }
  std::unique_ptr<Track> t = new_track(name);
  attach_upstream(*t);
  t->source = &p;
  t->pushed = true;
  t->ready = true;
  UpstreamTrack* handler = t->up.get();
  std::shared_ptr<TrackPublisher> pub = t->pub;
  tracks_[key] = std::move(t);
  const std::set<SourceId> skip = held_for(name);
  add_namespace(p.id, name.ns);
  serve_waiting(std::move(waiting), pub);
  pushed_track_appeared(key, p.id, skip);
  return handler;
}

// --- in-process publishers and subscribers -----------------------------------------------------

SourceId Relay::add_local(const std::string& label) {
  const SourceId id = next_source_++;
  auto l = std::make_unique<Local>();
  l->label = label;
  locals_[id] = std::move(l);
  return id;
}

void Relay::remove_local(SourceId id) {
  if (!locals_.count(id)) return;
  std::vector<TrackKey> mine;
  for (auto& [k, t] : tracks_)
    if (t->local == id) mine.push_back(k);
  for (const TrackKey& k : mine) retire(k);
  for (auto it = held_.begin(); it != held_.end();) {
    if ((*it)->asker != id) {
      ++it;
      continue;
    }
    if ((*it)->timer) loop_.cancel_timer((*it)->timer);
    it = held_.erase(it);
  }
  drop_all_namespaces(id);
  locals_.erase(id);
}

bool Relay::publish_local(SourceId id, std::shared_ptr<TrackPublisher> pub) {
  auto l = locals_.find(id);
  if (l == locals_.end()) return false;
  const FullTrackName name = pub->name();
  const TrackKey key{name.ns, name.name};
  std::vector<Answer> waiting = take_over(key, "in-process " + std::to_string(id) + " (" + l->second->label + ")");
  if (tracks_.size() >= cfg_.max_tracks) {
    log("in-process publish of " + wire::to_string(name) + " refused: max-tracks reached");
    ++closed_.limit_hits;
    serve_waiting(std::move(waiting), nullptr);
    return false;
  }
  auto t = std::make_unique<Track>();
  t->name = name;
  t->pub = pub;  // the publisher's own track is the cache: nothing is copied
  t->local = id;
  t->pushed = true;
  t->ready = true;
  tracks_[key] = std::move(t);
  const std::set<SourceId> skip = held_for(name);
  add_namespace(id, name.ns);
  serve_waiting(std::move(waiting), pub);
  pushed_track_appeared(key, id, skip);
  return true;
}

void Relay::unpublish_local(SourceId id, const FullTrackName& name) {
  const TrackKey key{name.ns, name.name};
  auto it = tracks_.find(key);
  if (it == tracks_.end() || it->second->local != id) return;
  retire(key);
  drop_namespace(id, name.ns);
}

void Relay::find_local(SourceId id, const FullTrackName& name, RequestFor why, Answer answer) {
  if (!locals_.count(id)) return answer(nullptr, LookupError::kInternal, "not attached to the relay");
  find(id, name, why, std::move(answer));
}

// A relayed track with its own cache (pulled, pushed or mirrored), bounded as configured.
std::unique_ptr<Relay::Track> Relay::new_track(const FullTrackName& name) {
  auto t = std::make_unique<Track>();
  t->name = name;
  session::TrackOptions o;
  o.cache_groups = cfg_.cache_groups;
  o.cache_bytes = cfg_.cache_bytes;
  o.cache_max_age = cfg_.cache_age;
  t->pub = std::make_shared<TrackPublisher>(name, o);
  return t;
}

// Its upstream subscription's handler feeds the cache; its events reach upstream_event.
void Relay::attach_upstream(Track& t) {
  const TrackKey key{t.name.ns, t.name.name};
  t.up = std::make_unique<UpstreamTrack>(t.pub);
  t.up->set_listener([this, key](UpstreamTrack::Event e, uint64_t code, const std::string& why) {
    upstream_event(key, e, code, why);
  });
}

// --- requests --------------------------------------------------------------------------------

void Relay::find_track(Session& asker, const FullTrackName& name, RequestFor why, Answer answer) {
  auto p = peers_.find(&asker);
  if (p == peers_.end()) return answer(nullptr, LookupError::kInternal, "session not known");
  if (!allowed(*p->second, name.ns, false, "subscribe to")) {
    return answer(nullptr, LookupError::kUnauthorized, "the token does not grant " + wire::to_string(name.ns));
  }
  find(p->second->id, name, why, std::move(answer));
}

void Relay::find(SourceId asker, const FullTrackName& name, RequestFor why, Answer answer) {
  const TrackKey key{name.ns, name.name};
  if (auto it = tracks_.find(key); it != tracks_.end() && !it->second->pub->finished()) {
    Track& t = *it->second;
    if (!t.ready) {
      t.waiting.push_back(std::move(answer));
      return;
    }
    answer(t.pub, LookupError::kNone, "");
    // A FETCH or TRACK_STATUS does not hold the track: it lingers like an unwatched one.
    if (auto again = tracks_.find(key); again != tracks_.end())
      subscribers_changed(key, again->second->pub->subscriber_count());
    return;
  }
  const std::optional<SourceId> src = namespaces_.route(name.ns);
  // What nobody announced here, or only another relay of the cluster did.
  const bool unrouted = !src || (cluster_src_ && *src == cluster_src_);
  auto too_many = [&] {
    if (tracks_.size() < cfg_.max_tracks) return false;
    ++closed_.limit_hits;
    ++closed_.requests_refused;
    log("request for " + wire::to_string(name) + " refused: max-tracks reached");
    answer(nullptr, LookupError::kExcessiveLoad, "too many tracks");
    return true;
  };
  // Chained: what the upstream announced, or (without a cluster to ask first) what nobody did.
  if (upstream_ && ((unrouted && !cluster_ && !upstream_elsewhere_) || (src && *src == upstream_->id))) {
    if (too_many()) return;
    return subscribe_upstream(nullptr, upstream_, name, std::move(answer));
  }
  if (src && is_mirror_source(*src)) {
    const size_t shard = size_t(std::find(shard_src_.begin(), shard_src_.end(), *src) - shard_src_.begin());
    if (asker == group_asker_) {  // never bounce a request between loops
      ++closed_.requests_refused;
      return answer(nullptr, LookupError::kDoesNotExist, "moved to another loop");
    }
    if (too_many()) return;
    return subscribe_mirror(shard, name, std::move(answer));
  }
  if (unrouted && upstream_elsewhere_ && asker != group_asker_) {
    if (too_many()) return;
    return subscribe_mirror(0, name, std::move(answer));  // relay 0 holds the upstream and cluster sessions
  }
  if (unrouted && cluster_) {
    if (too_many()) return;
    return route_cluster(name, std::move(answer));
  }
  if (src && locals_.count(*src)) {
    // An in-process publisher's tracks are all in tracks_ already.
    ++closed_.requests_refused;
    return answer(nullptr, LookupError::kDoesNotExist, "no track '" + name.name + "' in " + wire::to_string(name.ns));
  }
  Peer* source = nullptr;
  if (src)
    if (auto it = sources_.find(*src); it != sources_.end()) source = it->second;
  if (!source) {
    if (cfg_.hold.count() > 0) {
      if (held_.size() >= cfg_.max_held) {
        ++closed_.limit_hits;
        ++closed_.requests_refused;
        log("request for " + wire::to_string(name) + " refused: max-held reached");
        return answer(nullptr, LookupError::kExcessiveLoad, "too many requests waiting for publishers");
      }
      auto h = std::make_unique<Held>();
      h->asker = asker;
      h->name = name;
      h->why = why;
      h->answer = std::move(answer);
      Held* raw = h.get();
      h->timer = loop_.add_timer(cfg_.hold, [this, raw] {
        auto it = std::find_if(held_.begin(), held_.end(), [raw](auto& x) { return x.get() == raw; });
        if (it == held_.end()) return;
        std::unique_ptr<Held> mine = std::move(*it);
        held_.erase(it);
        ++closed_.requests_refused;
        mine->answer(nullptr, LookupError::kDoesNotExist, "no publisher for " + wire::to_string(mine->name.ns));
      });
      held_.push_back(std::move(h));
      return;
    }
    ++closed_.requests_refused;
    return answer(nullptr, LookupError::kDoesNotExist, "no publisher for " + wire::to_string(name.ns));
  }
  if (source->id == asker) {
    ++closed_.requests_refused;
    return answer(nullptr, LookupError::kDoesNotExist, "the namespace is the requester's own");
  }
  if (tracks_.size() >= cfg_.max_tracks) {
    ++closed_.limit_hits;
    ++closed_.requests_refused;
    log("request for " + wire::to_string(name) + " refused: max-tracks reached");
    return answer(nullptr, LookupError::kExcessiveLoad, "too many tracks");
  }
  subscribe_upstream(source, nullptr, name, std::move(answer));
}

void Relay::subscribe_upstream(Peer* source, UpLink* via, const FullTrackName& name, Answer answer) {
  const TrackKey key{name.ns, name.name};
  if (tracks_.count(key)) retire(key);  // a finished one
  std::unique_ptr<Track> t = new_track(name);
  attach_upstream(*t);
  t->source = source;
  t->waiting.push_back(std::move(answer));
  Track* raw = t.get();
  tracks_[key] = std::move(t);
  session::SubscribeOptions so;  // LargestObject, the publisher's group order
  if (source) raw->request_id = source->s.subscribe(name, so, raw->up.get());
  else subscribe_via(*raw, *via);
  if (!raw->request_id) {
    std::vector<Answer> waiting = std::move(raw->waiting);
    retire(key);
    for (Answer& a : waiting) a(nullptr, LookupError::kExcessiveLoad, "the publisher takes no more requests");
  }
}

void Relay::upstream_event(const TrackKey& key, UpstreamTrack::Event e, uint64_t code, const std::string& reason) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return;
  Track& t = *it->second;
  if (e == UpstreamTrack::Event::kReady) {
    if (t.orphan) {
      t.orphan = false;
      log("track " + wire::to_string(t.name) + " resumed from " + (t.via ? t.via->node : "a local publisher"));
    }
    t.ready = true;
    std::vector<Answer> waiting = std::move(t.waiting);
    std::shared_ptr<TrackPublisher> pub = t.pub;
    t.pub->set_on_subscribers([this, key](size_t n) { subscribers_changed(key, n); });
    for (Answer& a : waiting) a(pub, LookupError::kNone, "");
    if (auto again = tracks_.find(key); again != tracks_.end())
      subscribers_changed(key, again->second->pub->subscriber_count());
    return;
  }
  // A cluster-pulled track that lost its origin (or whose next origin is not ready yet) waits.
  if (t.orphan || (e == UpstreamTrack::Event::kLost && t.ready)) return orphan(key, reason);
  // Failed or ended: whoever waits hears it; the track goes (its subscribers got PUBLISH_DONE).
  std::vector<Answer> waiting = std::move(t.waiting);
  t.request_id.reset();  // nothing to unsubscribe
  if (t.pushed && t.source) drop_namespace(t.source->id, t.name.ns);
  retire(key);
  const LookupError le = e == UpstreamTrack::Event::kEnded ? LookupError::kDoesNotExist
                         : (code == 0x4 || code == 0x10) ? LookupError::kDoesNotExist
                         : code == 0x1                   ? LookupError::kUnauthorized
                         : code == 0x2                   ? LookupError::kTimeout
                                                         : LookupError::kInternal;
  if (!waiting.empty()) ++closed_.requests_refused;
  for (Answer& a : waiting) a(nullptr, le, reason.empty() ? "the publisher refused" : reason);
}

void Relay::subscribers_changed(const TrackKey& key, size_t n) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return;
  Track& t = *it->second;
  if (t.pushed) return;  // the publisher decides when it ends
  if (n > 0) {
    if (t.linger) loop_.cancel_timer(std::exchange(t.linger, 0));
    return;
  }
  if (t.linger || !t.ready) return;
  t.linger = loop_.add_timer(cfg_.linger, [this, key] {
    auto it = tracks_.find(key);
    if (it == tracks_.end()) return;
    it->second->linger = 0;
    if (it->second->pub->subscriber_count() > 0) return;
    retire(key);
  });
}

void Relay::retire(const TrackKey& key) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return;
  std::unique_ptr<Track> t = std::move(it->second);
  tracks_.erase(it);
  if (t->linger) loop_.cancel_timer(std::exchange(t->linger, 0));
  if (t->request_id && t->source) t->source->s.unsubscribe(*t->request_id);
  if (t->request_id && t->via && t->via->client) t->via->client->unsubscribe(*t->request_id);
  if (t->orphan) t->pub->finish(session::TrackEnd::kPublisherGone);
  if (t->via) link_unused(*t->via);
  if (t->link) {
    t->link->close();
    if (group_) group_->close_link(t->link_shard, t->link);
  }
  if (t->up) closed_.objects_in += t->up->objects_in(), closed_.bytes_in += t->up->bytes_in();
  if (t->pushed && group_) group_->track_changed(index_, t->name, false);
  t->pub->set_on_subscribers(nullptr);
  t->pub->finish(session::TrackEnd::kPublisherGone);
  // Nobody waits forever: whoever still waits for this track's answer hears it is gone.
  std::vector<Answer> waiting = std::move(t->waiting);
  // Its UpstreamTrack may be the caller: destroyed on the next loop turn.
  retired_.push_back(std::move(t));
  if (retired_.size() == 1)
    loop_.add_timer(std::chrono::nanoseconds(0), [this, alive = alive_] {
      if (*alive) retired_.clear();
    });
  if (!waiting.empty()) ++closed_.requests_refused;
  for (Answer& a : waiting) a(nullptr, LookupError::kDoesNotExist, "the track went away");
}

void Relay::retry_held() {
  std::vector<std::unique_ptr<Held>> ready;
  for (auto it = held_.begin(); it != held_.end();) {
    if (namespaces_.route((*it)->name.ns) || (upstream_ && upstream_->ready)) {
      ready.push_back(std::move(*it));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& h : ready) {
    if (h->timer) loop_.cancel_timer(h->timer);
    if (!sources_.count(h->asker) && !locals_.count(h->asker)) continue;  // the asker is gone
    find(h->asker, h->name, h->why, std::move(h->answer));
  }
}

// --- FETCH of what the cache lacks ---------------------------------------------------------------

bool Relay::fetch_missing(Session&, const FullTrackName& name, wire::Location start, wire::Location end_incl,
                          FetchDone done) {
  auto it = tracks_.find(TrackKey{name.ns, name.name});
  if (it == tracks_.end()) return false;
  Track& t = *it->second;
  // The track's source: its publisher's session, or the chained upstream. (In-process publishers
  // keep no more than their cache; another loop's track is fetched on that loop only.)
  Session* src = t.source ? &t.source->s : t.via && t.via->client && t.via->ready ? &t.via->client->session() : nullptr;
  if (!src || !src->ready() || src->closed()) return false;
  auto f = std::make_unique<MissingFetch>(*this, std::move(done));
  MissingFetch* raw = f.get();
  // FETCH's End Location: the object after the last one, 0 = the whole end group.
  const wire::Location end = end_incl.object == UINT64_MAX ? wire::Location{end_incl.group, 0}
                                                          : wire::Location{end_incl.group, end_incl.object + 1};
  if (!src->fetch(name, start, end, raw)) return false;
  ++closed_.fetches_forwarded;
  raw->timer = loop_.add_timer(cfg_.server.session.request_timeout, [raw] {
    raw->timer = 0;
    raw->finish();  // what came so far
  });
  fetches_[raw] = std::move(f);
  return true;
}

// --- namespace subscriptions -----------------------------------------------------------------

std::optional<std::vector<TrackNamespace>> Relay::watch_namespaces(Session& asker, uint64_t request_id,
                                                                   const TrackNamespace& prefix, LookupError* error) {
  auto pit = peers_.find(&asker);
  if (pit == peers_.end()) return std::vector<TrackNamespace>{};
  if (!allowed(*pit->second, prefix, false, "watch")) {
    *error = LookupError::kUnauthorized;
    return std::nullopt;
  }
  if (upstream_) watch_upstream(prefix);  // what the upstream has comes in as updates
  else if (upstream_elsewhere_ && group_) group_->forward_watch(prefix);
  Session* s = &asker;
  pit->second->watches[request_id] =
      namespaces_.watch(prefix, [s, request_id](const TrackNamespace& ns, bool active) {
        s->namespace_update(request_id, ns, active);
      });
  return namespaces_.under(prefix);
}

void Relay::unwatch_namespaces(Session& asker, uint64_t request_id) {
  auto pit = peers_.find(&asker);
  if (pit == peers_.end()) return;
  auto w = pit->second->watches.find(request_id);
  if (w == pit->second->watches.end()) return;
  namespaces_.unwatch(w->second);
  pit->second->watches.erase(w);
}

// --- track subscriptions (SUBSCRIBE_TRACKS) -----------------------------------------------------

namespace {
bool under(const TrackNamespace& prefix, const TrackNamespace& ns) {
  return ns.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), ns.begin());
}
}  // namespace

std::optional<std::vector<std::shared_ptr<TrackPublisher>>> Relay::watch_tracks(Session& asker, uint64_t request_id,
                                                                               const TrackNamespace& prefix,
                                                                               LookupError* error) {
  auto pit = peers_.find(&asker);
  if (pit == peers_.end()) {
    *error = LookupError::kInternal;
    return std::nullopt;
  }
  Peer& p = *pit->second;
  if (!allowed(p, prefix, false, "watch tracks of")) {
    *error = LookupError::kUnauthorized;
    return std::nullopt;
  }
  p.track_watches[request_id] = prefix;
  std::vector<std::shared_ptr<TrackPublisher>> now;
  for (auto& [key, t] : tracks_) {
    if (!t->pushed || t->pub->finished() || !under(prefix, key.first)) continue;
    if ((t->source && t->source == &p) || !mark_pushed(p, key, t->pub)) continue;
    now.push_back(t->pub);
  }
  closed_.tracks_pushed += now.size();
  // Other loops' pushed tracks come through this loop's mirrors, once they are open.
  for (auto& [key, shard] : remote_pushed_)
    if (under(prefix, key.first)) push_remote(p.id, request_id, FullTrackName{key.first, key.second});
  return now;
}

void Relay::unwatch_tracks(Session& asker, uint64_t request_id) {
  if (auto pit = peers_.find(&asker); pit != peers_.end()) pit->second->track_watches.erase(request_id);
}

bool Relay::mark_pushed(Peer& p, const TrackKey& key, const std::shared_ptr<TrackPublisher>& pub) {
  auto it = p.pushed.find(key);
  if (it != p.pushed.end() && it->second.lock() == pub) return false;
  if (p.pushed.size() >= 1024) std::erase_if(p.pushed, [](const auto& kv) { return kv.second.expired(); });
  p.pushed[key] = pub;
  return true;
}

std::set<SourceId> Relay::held_for(const FullTrackName& name) const {
  std::set<SourceId> out;
  for (const auto& h : held_)
    if (h->name == name) out.insert(h->asker);
  return out;
}

void Relay::pushed_track_appeared(const TrackKey& key, SourceId by, const std::set<SourceId>& skip) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return;
  const std::shared_ptr<TrackPublisher> pub = it->second->pub;
  std::vector<std::pair<Peer*, uint64_t>> to;
  for (auto& [s, p] : peers_) {
    if (p->id == by || skip.count(p->id)) continue;
    for (auto& [rid, prefix] : p->track_watches)
      if (under(prefix, key.first)) {
        if (mark_pushed(*p, key, pub)) to.emplace_back(p.get(), rid);
        break;
      }
  }
  for (auto& [p, rid] : to)
    if (p->s.push_track(rid, pub)) ++closed_.tracks_pushed;
  if (group_ && !is_mirror_source(by)) group_->track_changed(index_, FullTrackName{key.first, key.second}, true);
}

void Relay::push_remote(SourceId peer, uint64_t request_id, const FullTrackName& name) {
  const TrackKey key{name.ns, name.name};
  find(peer, name, RequestFor::kSubscribe,
       [this, alive = alive_, peer, request_id, key](std::shared_ptr<TrackPublisher> pub, LookupError, const std::string&) {
         if (!*alive || !pub) return;
         auto it = sources_.find(peer);
         if (it == sources_.end() || !it->second->track_watches.count(request_id)) return;
         Peer& p = *it->second;
         if (mark_pushed(p, key, pub) && p.s.push_track(request_id, pub)) ++closed_.tracks_pushed;
       });
}

void Relay::mirror_pushed_track(size_t shard, const FullTrackName& name, bool active) {
  if (shard >= shard_src_.size() || shard == index_) return;
  const TrackKey key{name.ns, name.name};
  if (!active) {
    if (auto it = remote_pushed_.find(key); it != remote_pushed_.end() && it->second == shard) remote_pushed_.erase(it);
    return;
  }
  remote_pushed_[key] = shard;
  std::vector<std::pair<SourceId, uint64_t>> to;
  for (auto& [s, p] : peers_)
    for (auto& [rid, prefix] : p->track_watches)
      if (under(prefix, name.ns)) {
        to.emplace_back(p->id, rid);
        break;
      }
  for (auto& [id, rid] : to) push_remote(id, rid, name);
}

// --- one relay of a group (one per loop) ------------------------------------------------------------

void Relay::join_group(size_t index, size_t size, LoopPeers* peers, bool upstream_elsewhere) {
  group_ = peers;
  index_ = index;
  upstream_elsewhere_ = upstream_elsewhere;
  shard_src_.assign(size, 0);
  for (size_t i = 0; i < size; ++i)
    if (i != index) shard_src_[i] = add_local("loop " + std::to_string(i));
  group_asker_ = add_local("other loops");
}

// Idempotent: the group may tell a namespace twice (as it happens and in the start-up sync).
void Relay::mirror_namespace(size_t shard, const TrackNamespace& ns, bool active) {
  if (shard >= shard_src_.size() || shard == index_) return;
  const SourceId src = shard_src_[shard];
  auto* refs = ns_refs(src);
  if (!refs || refs->count(ns) == size_t(active)) return;
  if (active) add_namespace(src, ns);
  else drop_namespace(src, ns);
}

std::vector<TrackNamespace> Relay::own_namespaces() const {
  std::set<TrackNamespace> out;
  for (auto& [s, p] : peers_)
    for (auto& [ns, n] : p->ns_refs) out.insert(ns);
  for (auto& [id, l] : locals_)
    if (!is_mirror_source(id))
      for (auto& [ns, n] : l->ns_refs) out.insert(ns);
  return {out.begin(), out.end()};
}

void Relay::subscribe_mirror(size_t shard, const FullTrackName& name, Answer answer) {
  const TrackKey key{name.ns, name.name};
  if (tracks_.count(key)) retire(key);  // a finished one
  std::unique_ptr<Track> t = new_track(name);
  t->link = std::make_shared<LoopLink>(loop_, name);
  t->link_shard = shard;
  t->link->set_consumer([this, key](LinkEvent& e) { mirror_event(key, e); });
  t->waiting.push_back(std::move(answer));
  std::shared_ptr<LoopLink> link = t->link;
  tracks_[key] = std::move(t);
  group_->open_link(shard, link);
}

void Relay::mirror_event(const TrackKey& key, LinkEvent& e) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return;
  Track& t = *it->second;
  switch (e.kind) {
    case LinkEvent::Kind::kReady: {
      t.ready = true;
      std::vector<Answer> waiting = std::move(t.waiting);
      t.waiting.clear();
      std::shared_ptr<TrackPublisher> pub = t.pub;
      pub->set_on_subscribers([this, key](size_t n) { subscribers_changed(key, n); });
      for (Answer& a : waiting) a(pub, LookupError::kNone, "");
      if (auto again = tracks_.find(key); again != tracks_.end())
        subscribers_changed(key, again->second->pub->subscriber_count());
      return;
    }
    case LinkEvent::Kind::kRefused: {
      std::vector<Answer> waiting = std::move(t.waiting);
      t.waiting.clear();
      retire(key);
      if (!waiting.empty()) ++closed_.requests_refused;
      for (Answer& a : waiting) a(nullptr, e.error, e.reason);
      return;
    }
    case LinkEvent::Kind::kObject: t.pub->write(std::move(e.object)); return;
    case LinkEvent::Kind::kSubgroupEnd: t.pub->end_subgroup(e.group, e.subgroup); return;
    case LinkEvent::Kind::kSubgroupReset: t.pub->reset_subgroup(e.group, e.subgroup); return;
    case LinkEvent::Kind::kTrackEnd:
      t.pub->finish(e.end);
      retire(key);
      return;
  }
}

// Another loop mirrors one of our tracks: it gets what a local subscriber gets, in order.
void Relay::feed_link(std::shared_ptr<LoopLink> link) {
  if (link->closed()) return;
  find(group_asker_, link->name(), RequestFor::kSubscribe,
       [this, link, alive = alive_](std::shared_ptr<TrackPublisher> pub, LookupError err, const std::string& why) {
         if (!*alive || link->closed()) return;
         if (!pub) {
           LinkEvent e;
           e.kind = LinkEvent::Kind::kRefused;
           e.error = err;
           e.reason = why;
           return link->push(std::move(e));
         }
         LinkEvent ready;
         ready.kind = LinkEvent::Kind::kReady;
         link->push(std::move(ready));
         LoopLink* raw = link.get();
         LocalSubscription::Callbacks cb;
         cb.object = [raw](const session::Object& o) {
           LinkEvent e;
           e.object = o;  // the payload is shared, not copied
           raw->push(std::move(e));
         };
         cb.subgroup_end = [raw](uint64_t g, uint64_t sg) {
           LinkEvent e;
           e.kind = LinkEvent::Kind::kSubgroupEnd;
           e.group = g;
           e.subgroup = sg;
           raw->push(std::move(e));
         };
         cb.subgroup_reset = [raw](uint64_t g, uint64_t sg) {
           LinkEvent e;
           e.kind = LinkEvent::Kind::kSubgroupReset;
           e.group = g;
           e.subgroup = sg;
           raw->push(std::move(e));
         };
         cb.end = [this, raw, weak = std::weak_ptr<LoopLink>(link), alive = alive_](session::TrackEnd why) {
           LinkEvent e;
           e.kind = LinkEvent::Kind::kTrackEnd;
           e.end = why;
           raw->push(std::move(e));
           // Not inside the track's call: the feed goes on the next turn.
           loop_.add_timer(std::chrono::nanoseconds(0), [this, raw, weak, alive] {
             if (!*alive) return;
             auto it = feeds_.find(raw);
             if (it != feeds_.end() && it->second.link == weak.lock()) feeds_.erase(it);
           });
         };
         Feed& f = feeds_[raw];
         f.link = link;
         f.sub = std::make_unique<LocalSubscription>(pub, std::move(cb));
       });
}

void Relay::unfeed_link(const std::shared_ptr<LoopLink>& link) { feeds_.erase(link.get()); }

// Groups older than cache_age leave the caches even of tracks nobody writes to any more.
void Relay::schedule_cache_trim() {
  const auto every = std::clamp(cfg_.cache_age / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  loop_.add_timer(every, [this, alive = alive_] {
    if (!*alive) return;
    const auto now = std::chrono::steady_clock::now();
    for (auto& [k, t] : tracks_) t->pub->trim_cache(now);
    schedule_cache_trim();
  });
}

// --- chaining ----------------------------------------------------------------------------------

void Relay::connect_link(UpLink& l) {
  std::string err;
  ++closed_.upstream_connects;
  const session::ClientConfig& cc = l.cluster() ? cfg_.cluster_client : cfg_.upstream_client;
  l.client = session::Client::connect(loop_, l.url, cc, &l, nullptr, &err);
  if (!l.client) {
    log((l.cluster() ? "cluster peer " + l.node + " (" + l.url + ")" : "upstream " + l.url) + ": " + err);
    link_closed(l, 0, err);
  }
}

// A session to another relay ended. Its tracks' viewers got PUBLISH_DONE from the session's end
// (upstream_event). The configured upstream is reconnected with backoff; a cluster peer's link
// goes (the next request for its namespaces asks the cluster again).
void Relay::link_closed(UpLink& l, uint64_t code, const std::string& reason) {
  if (!*alive_) return;
  l.ready = false;
  log((l.cluster() ? "cluster peer " + l.node + " (" + l.url + ")" : "upstream " + l.url) + " lost: code " +
      std::to_string(code) + (reason.empty() ? "" : " (" + reason + ")"));
  if (!l.cluster()) drop_all_namespaces(l.id);
  for (auto& [k, t] : tracks_)
    if (t->via == &l) {
      t->request_id.reset();
      if (l.cluster()) t->via = nullptr;
    }
  // Not inside the client's own call.
  std::shared_ptr<session::Client> dead(std::move(l.client));
  loop_.add_timer(std::chrono::nanoseconds(0), [dead] {});
  if (l.cluster()) {
    if (l.idle) loop_.cancel_timer(std::exchange(l.idle, 0));
    const std::string url = l.url;
    loop_.add_timer(std::chrono::nanoseconds(0), [this, alive = alive_, url] {
      if (!*alive) return;
      auto it = links_.find(url);
      if (it != links_.end() && !it->second->client) links_.erase(it);
    });
    return;
  }
  l.backoff = std::clamp(l.backoff * 2, cfg_.upstream_retry, std::chrono::milliseconds(30000));
  loop_.add_timer(l.backoff, [this, alive = alive_, lp = &l] {
    if (*alive && !lp->client && !draining_) connect_link(*lp);
  });
}

void Relay::watch_upstream(const TrackNamespace& prefix) {
  UpLink& l = *upstream_;
  if (std::find(l.watches.begin(), l.watches.end(), prefix) != l.watches.end()) return;
  if (l.watches.size() >= cfg_.max_upstream_watches) {
    ++closed_.limit_hits;
    log("SUBSCRIBE_NAMESPACE " + wire::to_string(prefix) + " not forwarded upstream: max-upstream-watches reached");
    return;
  }
  l.watches.push_back(prefix);
  if (l.client && l.ready) l.client->session().subscribe_namespace(prefix, nullptr);
}

// --- cluster -----------------------------------------------------------------------------------

void Relay::start_cluster() {
  cluster_src_ = add_local("cluster");
  cluster_->set_log([this](const std::string& line) { log("cluster: " + line); });
  cluster_->set_on_remote_namespace([this](const TrackNamespace& ns, bool active) {
    if (active) add_namespace(cluster_src_, ns);
    else drop_namespace(cluster_src_, ns);
  });
  cluster_->set_on_origin_moved([this](const TrackNamespace& ns, const std::string& node) {
    std::vector<TrackKey> moved;
    for (auto& [key, t] : tracks_)
      if (t->via && t->via->cluster() && t->via->node != node && is_prefix(ns, key.first)) moved.push_back(key);
    for (const TrackKey& key : moved) orphan(key, "its namespace moved to " + node);
  });
  cluster_->start();
  report_load();
}

// The load other relays see (for GOAWAY targets): sessions and egress of this relay, each second.
void Relay::report_load() {
  loop_.add_timer(std::chrono::seconds(1), [this, alive = alive_] {
    if (!*alive || !cluster_) return;
    const RelayStats s = stats();
    cluster_->set_load(s.sessions, (s.bytes_out - std::min(s.bytes_out, last_bytes_out_)) * 8);
    last_bytes_out_ = s.bytes_out;
    report_load();
  });
}

void Relay::route_cluster(const FullTrackName& name, Answer answer) {
  const TrackKey key{name.ns, name.name};
  if (tracks_.count(key)) retire(key);  // a finished one
  std::unique_ptr<Track> t = new_track(name);
  attach_upstream(*t);
  t->waiting.push_back(std::move(answer));
  t->resolving = true;
  tracks_[key] = std::move(t);
  resolve(key, 0);
}

// Asks the cluster where the track's namespace is; Redis trouble is retried with backoff.
void Relay::resolve(const TrackKey& key, int attempt) {
  cluster_->lookup(key.first, [this, alive = alive_, key, attempt](std::optional<cluster::NodeInfo> n,
                                                                 const std::string& err) {
    if (!*alive) return;
    auto it = tracks_.find(key);
    if (it == tracks_.end() || !it->second->resolving) return;
    Track& t = *it->second;
    if (!n && !err.empty() && attempt < 3) {
      log("cluster lookup of " + wire::to_string(key.first) + " failed: " + err + "; retrying");
      loop_.add_timer(std::chrono::milliseconds(200 << attempt), [this, alive, key, attempt] {
        if (*alive) resolve(key, attempt + 1);
      });
      return;
    }
    t.resolving = false;
    if (n && n->id != cfg_.cluster.node_id) {
      UpLink* l = link_to(n->url, n->id);
      if (l && subscribe_via(t, *l)) return;
    } else if (!n && upstream_ && subscribe_via(t, *upstream_)) {
      return;  // nobody in the cluster has it: the configured upstream may
    }
    std::vector<Answer> waiting = std::move(t.waiting);
    t.waiting.clear();
    retire(key);
    ++closed_.requests_refused;
    const std::string why = !err.empty() ? "the cluster could not be asked: " + err
                            : n        ? "the cluster names this relay, which does not have it"
                                       : "no relay of the cluster has " + wire::to_string(key.first);
    for (Answer& a : waiting) a(nullptr, err.empty() ? LookupError::kDoesNotExist : LookupError::kInternal, why);
  });
}

bool Relay::subscribe_via(Track& t, UpLink& l) {
  if (!l.client) return false;
  session::SubscribeOptions so;  // LargestObject, the publisher's group order
  t.via = &l;
  if (l.cluster()) t.up->set_keep_open(true);  // failover: its viewers outlive the origin
  t.request_id = l.client->subscribe(t.name, so, t.up.get());
  if (l.idle) loop_.cancel_timer(std::exchange(l.idle, 0));
  return t.request_id.has_value();
}

Relay::UpLink* Relay::replace_upstream(Track& t) {
  UpLink* old = t.via;
  if (t.request_id && old && old->client) old->client->unsubscribe(*t.request_id);
  t.via = nullptr;
  t.request_id.reset();
  // The old handler may be the caller: it goes on the next loop turn.
  retired_ups_.push_back(std::move(t.up));
  if (retired_ups_.size() == 1)
    loop_.add_timer(std::chrono::nanoseconds(0), [this, alive = alive_] {
      if (*alive) retired_ups_.clear();
    });
  attach_upstream(t);
  return old;
}

void Relay::orphan(const TrackKey& key, const std::string& why) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return;
  Track& t = *it->second;
  const auto now = quic::EventLoop::now();
  if (!t.orphan) {
    t.orphan = true;
    t.give_up = now + cfg_.cluster_failover;
    t.lost_node = t.via ? t.via->node : "";
    log("track " + wire::to_string(t.name) + " lost its origin" + (t.lost_node.empty() ? "" : " (" + t.lost_node + ")") +
        (why.empty() ? "" : ": " + why) + "; its " + std::to_string(t.pub->subscriber_count()) +
        " viewers wait while the cluster finds the next one");
  }
  UpLink* old = replace_upstream(t);
  t.source = nullptr;
  t.up->set_keep_open(true);
  if (old) link_unused(*old);
  loop_.add_timer(std::chrono::milliseconds(250), [this, alive = alive_, key] {
    if (*alive) recover(key);
  });
}

void Relay::recover(const TrackKey& key) {
  auto it = tracks_.find(key);
  if (it == tracks_.end() || !it->second->orphan || it->second->request_id) return;
  Track& t = *it->second;
  if (quic::EventLoop::now() > t.give_up) {
    log("track " + wire::to_string(t.name) + ": no new origin within " + std::to_string(cfg_.cluster_failover.count()) +
        " ms; its viewers get PUBLISH_DONE");
    return retire(key);
  }
  auto again = [this, key] {
    loop_.add_timer(std::chrono::milliseconds(250), [this, alive = alive_, key] {
      if (*alive) recover(key);
    });
  };
  // The publisher may have come back to this very relay.
  const std::optional<SourceId> src = namespaces_.route(key.first);
  if (src && sources_.count(*src) && !(upstream_ && *src == upstream_->id)) {
    Peer* p = sources_[*src];
    t.source = p;
    t.request_id = p->s.subscribe(t.name, session::SubscribeOptions{}, t.up.get());
    if (!t.request_id) again();
    return;  // still an orphan until the answer (upstream_event)
  }
  if (!cluster_) return again();
  cluster_->lookup(key.first, [this, alive = alive_, key, again](std::optional<cluster::NodeInfo> n,
                                                                const std::string&) {
    if (!*alive) return;
    auto it = tracks_.find(key);
    if (it == tracks_.end() || !it->second->orphan || it->second->request_id) return;
    Track& t = *it->second;
    // The dead relay's lease lasts up to a ttl: until it lapses, Redis still names it.
    if (!n || n->id == cfg_.cluster.node_id) return again();
    if (n->id == t.lost_node) {
      auto l = links_.find(n->url);
      if (l == links_.end() || !l->second->ready) return again();
    }
    UpLink* l = link_to(n->url, n->id);
    if (!l || !subscribe_via(t, *l)) {
      t.request_id.reset();
      return again();
    }
    log("track " + wire::to_string(t.name) + ": trying its next origin " + n->id + " (" + n->url + ")");
  });
}

Relay::UpLink* Relay::link_to(const std::string& url, const std::string& node) {
  auto it = links_.find(url);
  if (it != links_.end()) return it->second.get();
  if (upstream_ && upstream_->url == url) return upstream_;
  auto l = std::make_unique<UpLink>(*this, url);
  l->node = node;
  UpLink* raw = l.get();
  links_[url] = std::move(l);
  connect_link(*raw);
  auto again = links_.find(url);  // a failed connect removes it on the next turn
  return again != links_.end() && again->second->client ? raw : nullptr;
}

// A cluster peer nobody pulls a track from any more closes after a while.
void Relay::link_unused(UpLink& l) {
  if (!l.cluster() || l.idle) return;
  for (auto& [k, t] : tracks_)
    if (t->via == &l) return;
  const std::string url = l.url;
  l.idle = loop_.add_timer(cfg_.cluster_link_linger, [this, alive = alive_, url] {
    if (!*alive) return;
    auto it = links_.find(url);
    if (it == links_.end()) return;
    it->second->idle = 0;
    for (auto& [k, t] : tracks_)
      if (t->via == it->second.get()) return;
    log("cluster peer " + it->second->node + " (" + url + "): unused, closing");
    std::unique_ptr<UpLink> l = std::move(it->second);
    links_.erase(it);
    if (l->client) l->client->close(0, "unused");
    std::shared_ptr<UpLink> doomed(std::move(l));
    loop_.add_timer(std::chrono::nanoseconds(0), [doomed] {});
  });
}

// --- drain -----------------------------------------------------------------------------------

void Relay::cluster_goaway_target(std::function<void(std::string)> done) {
  if (!cluster_) return done("");
  cluster_->members([this, alive = alive_, done](std::vector<cluster::NodeInfo> all, const std::string&) {
    if (!*alive) return done("");
    for (const cluster::NodeInfo& n : all)  // least loaded first
      if (n.id != cfg_.cluster.node_id) return done(n.url);
    done("");
  });
}

void Relay::drain(const std::string& new_uri, std::chrono::milliseconds grace, std::function<void()> done) {
  draining_ = true;
  server_->stop_accepting();  // a client following the GOAWAY here must find the door closed
  const std::string wt_uri = new_uri.rfind("moqt://", 0) == 0 ? "https://" + new_uri.substr(7) : new_uri;
  for (Session* s : server_->sessions())
    if (s->ready()) s->goaway(s->webtransport() ? wt_uri : new_uri, std::chrono::milliseconds(0));
  drain_deadline_ = std::chrono::steady_clock::now() + grace;
  drain_done_ = std::move(done);
  check_drain();
}

// Done when every session left, or at the deadline (what is left is closed then).
void Relay::check_drain() {
  if (!peers_.empty() && std::chrono::steady_clock::now() < drain_deadline_) {
    loop_.add_timer(std::chrono::milliseconds(50), [this, alive = alive_] {
      if (*alive) check_drain();
    });
    return;
  }
  // Closed here, not by the peer: no on_closed, so the peers go by hand.
  std::vector<Peer*> left;
  for (auto& [s, p] : peers_) left.push_back(p.get());
  if (!left.empty()) log("drain: closing the " + std::to_string(left.size()) + " sessions left");
  server_->close_all(0, "relay shutting down");
  for (Peer* p : left) peer_closed(*p);
  if (auto done = std::move(drain_done_)) done();
}

}  // namespace moqt::relay
