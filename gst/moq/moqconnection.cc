#include "moqconnection.h"

#include <algorithm>
#include <sstream>
#include <type_traits>

#include "relayhost.h"

namespace moqgst {

using namespace moqt;
using namespace moqt::session;

std::optional<ParsedUri> parse_uri(const std::string& uri, std::string* error) {
  ParsedUri p;
  auto u = MoqUrl::parse(uri, error);
  if (!u) return std::nullopt;
  p.url = *u;
  std::string path = u->path, query;
  if (auto q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  std::stringstream ps(path);
  for (std::string part; std::getline(ps, part, '/');)
    if (!part.empty()) p.ns.push_back(part);
  if (p.ns.empty()) {
    if (error) *error = "the URI path names the namespace (e.g. moqt://host:4443/live/cam), got '" + uri + "'";
    return std::nullopt;
  }
  std::stringstream qs(query);
  for (std::string kv; std::getline(qs, kv, '&');) {
    if (kv.empty()) continue;
    const auto eq = kv.find('=');
    p.query[kv.substr(0, eq)] = eq == std::string::npos ? "true" : kv.substr(eq + 1);
  }
  return p;
}

bool Settings::apply_uri_query(std::string* error) {
  auto p = parse_uri(uri, error);
  if (!p) return false;
  for (auto& [k, v] : p->query) {
    if (k == "mode") {
      if (v == "listener" || v == "server") mode = Mode::kListener;
      else if (v == "caller" || v == "client") mode = Mode::kCaller;
      else return *error = "URI query mode=" + v + ": expected caller or listener", false;
    } else if (k == "tls-insecure") {
      insecure = v == "true" || v == "1";
    } else if (k == "tls-pin") {
      pin = v;
    } else if (k == "draft") {
      draft = atoi(v.c_str());
      if (draft != 14 && draft != 16 && draft != 18) return *error = "URI query draft=" + v + ": expected 14, 16 or 18", false;
    } else if (k == "cert-file") {
      cert_file = v;
    } else if (k == "key-file") {
      key_file = v;
    } else if (k == "auth-token") {
      auth_token = v;
    } else if (k == "reconnect") {
      if (v != "true" && v != "false" && v != "1" && v != "0")
        return *error = "URI query reconnect=" + v + ": expected true or false", false;
      reconnect = v == "true" || v == "1";
    } else if (k == "relay") {
      relay = v;
    } else if (k != "track") {  // track selection is the element's business
      return *error = "unknown URI query parameter '" + k + "'", false;
    }
  }
  return true;
}

void post_event(GstElement* element, const std::string& event, const std::string& detail) {
  gst_element_post_message(element, gst_message_new_element(GST_OBJECT(element),
                                                            gst_structure_new("moq", "event", G_TYPE_STRING, event.c_str(),
                                                                              "detail", G_TYPE_STRING, detail.c_str(),
                                                                              nullptr)));
}

void refuse_property_change(GstElement* element, GParamSpec* pspec) {
  gst_element_message_full(
      element, GST_MESSAGE_WARNING, GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_SETTINGS,
      g_strdup_printf("Property '%s' can only be changed in the NULL or READY state", pspec->name),
      g_strdup("the new value is ignored; the one in use stays until the element is stopped"), __FILE__, GST_FUNCTION,
      __LINE__);
}

namespace {
std::vector<wire::Draft> drafts_of(int d) {
  if (d == 14) return {wire::Draft::k14};
  if (d == 16) return {wire::Draft::k16};
  if (d == 18) return {wire::Draft::k18};
  return {wire::Draft::k18, wire::Draft::k16, wire::Draft::k14};
}
}  // namespace

// What the element wants of one track; the SubscriptionHandler of every session delivering it.
struct Connection::TrackSub : SubscriptionHandler {
  Connection* c = nullptr;
  std::string track;
  ObjectCallback cb;
  std::optional<uint64_t> max_subgroup;
  std::optional<uint64_t> groups_back;  // none: from the next group; N: joining FETCH of N groups back
  SubscribeExtras extras;
  // While the joining FETCH brings the older objects, live ones wait so the element sees one
  // ordered sequence (bounded in count and time: a peer that never answers FETCH, e.g. @moq/net).
  bool fetching = false;
  uint64_t fetch_generation = 0;  // which joining FETCH the hold timer belongs to
  std::chrono::steady_clock::time_point fetch_started;
  std::vector<ReceivedObject> held;
  // Attached to an in-process relay: the subscription there, and since when we wait for one.
  std::unique_ptr<relay::LocalSubscription> local;
  std::optional<std::chrono::steady_clock::time_point> local_wait_since;
  std::optional<uint64_t> client_handle;  // caller: the Client's handle for it
  bool dropped = false;                   // unsubscribe(): deliver nothing, ask nobody again
  static constexpr size_t kMaxHeld = 600;
  static constexpr std::chrono::milliseconds kMaxHold{1500};

  struct Fetch : FetchHandler {
    TrackSub* t;
    explicit Fetch(TrackSub* owner) : t(owner) {}
    void on_object(const ReceivedObject& o) override { t->deliver(o); }
    void on_fetch_error(uint64_t, const std::string&) override { t->fetch_over(); }  // live only
    void on_fetch_done() override { t->fetch_over(); }
  } fetch{this};

  bool delivered_any = false;
  void deliver(const ReceivedObject& o) {
    if (dropped) return;
    delivered_any = true;
    {
      std::lock_guard<std::mutex> l(c->mu_);
      ++c->objects_received_;
    }
    cb(o);
  }
  void fetch_over() {
    fetching = false;
    std::vector<ReceivedObject> h = std::move(held);
    held.clear();
    for (const auto& o : h) deliver(o);
  }
  void on_object(const ReceivedObject& o) override {
    if (fetching) {
      if (held.size() < kMaxHeld && std::chrono::steady_clock::now() - fetch_started < kMaxHold) {
        held.push_back(o);
        return;
      }
      fetch_over();
    }
    deliver(o);
  }
  void on_subscribe_ok(const SubscribeResult& r) override {
    if (extras.on_track_properties && !r.track_properties.empty()) extras.on_track_properties(r.track_properties);
  }
  void on_subscribe_error(uint64_t code, const std::string& reason) override {
    if (extras.on_refused) return extras.on_refused("code " + std::to_string(code) + ": " + reason);
    // A listener serves many peers: one that refuses (or never answers) is not fatal.
    if (c->events_)
      c->events_(c->listener() ? "warning" : "error",
                 track + ": SUBSCRIBE refused (code " + std::to_string(code) + "): " + reason);
  }
  void on_done(uint64_t status, const std::string& reason) override;
};

// SUBSCRIBE `sub` on a Session, or on the Client (whose subscriptions survive GOAWAY).
template <typename Target>
void Connection::issue(Target& target, TrackSub& sub) {
  if (sub.dropped) return;
  SubscribeOptions so;
  // From the largest object: a relay (ours, moq-dev's) answers with the current group from its
  // object 0, so the decoder starts at once; a publisher that starts mid-group has those objects
  // dropped by moqsrc until the next group. With groups_back, plus a joining FETCH of the groups
  // before it.
  so.filter = wire::SubscriptionFilter{wire::FilterType::kLargestObject, {}, {}};
  so.max_subgroup = sub.max_subgroup;
  auto id = target.subscribe(FullTrackName{uri_.ns, sub.track}, so, &sub);
  if constexpr (std::is_same_v<Target, Client>) sub.client_handle = id;
  if (id && sub.groups_back && target.joining_fetch(*id, *sub.groups_back, true, &sub.fetch)) {
    sub.fetching = true;
    sub.fetch_started = std::chrono::steady_clock::now();
    // A peer that never answers the FETCH (@moq/net) must not keep what came live waiting for
    // a later object: a catalog track may send one object and nothing more for a long time.
    TrackSub* s = &sub;
    loop_->add_timer(TrackSub::kMaxHold, [s, gen = ++sub.fetch_generation, alive = alive_] {
      if (*alive && s->fetching && s->fetch_generation == gen) s->fetch_over();
    });
  }
}

// Session events for both roles; lives on the loop thread.
struct Connection::Handler : SessionHandler {
  Connection& c;
  std::map<std::string, std::unique_ptr<TrackSub>> subs;  // by track name

  explicit Handler(Connection& conn) : c(conn) {}
  bool ready = false;  // caller mode: the one client session reached SETUP
  std::string not_established(const std::string& why) const {
    return "could not establish a MoQT session with " + c.settings_.uri + ": " + why;
  }
  void on_ready(wire::Draft d) override {
    ready = true;
    c.established_ = true;
    c.backoff_ = std::chrono::milliseconds(0);
    if (c.events_) c.events_("connected", wire::profile(d).name);
  }
  void on_closed(uint64_t code, const std::string& reason) override {
    if (!c.events_ || c.stopping_) return;
    if (c.will_reconnect()) {
      // Once established, a lost caller session is re-established with backoff, and its
      // subscriptions and published tracks resume there (from the next group).
      ready = false;
      c.events_("disconnected", "code " + std::to_string(code) + " " + reason);
      c.schedule_reconnect();
      return;
    }
    if (!c.listener() && !ready) {
      c.events_("error", not_established(reason.empty() ? "code " + std::to_string(code) : reason));
    } else if (!c.listener() && code != 0) {
      c.events_("error", "session closed with code " + std::to_string(code) + " " + reason);
    } else {
      c.events_("disconnected", "code " + std::to_string(code) + " " + reason);
    }
  }
  SubscriptionHandler* on_incoming_publish(const FullTrackName& n) override {
    if (n.ns != c.uri_.ns) return nullptr;
    auto it = subs.find(n.name);
    if (it != subs.end()) return it->second.get();
    if (!acceptor) return nullptr;
    ObjectCallback cb = acceptor(n.name);
    if (!cb) return nullptr;
    auto sub = std::make_unique<TrackSub>();
    sub->c = &c;
    sub->track = n.name;
    sub->cb = std::move(cb);
    return (subs[n.name] = std::move(sub)).get();
  }
  std::function<ObjectCallback(const std::string&)> acceptor;
};

void Connection::TrackSub::on_done(uint64_t status, const std::string& reason) {
  if (!c->events_ || c->stopping_) return;  // our own close as the element stops
  // A track that may not exist, ended before its first object (@moq/publish answers an unknown
  // track with SUBSCRIBE_OK then PUBLISH_DONE): the same as a refusal.
  if (extras.on_refused && !delivered_any && (!c->client_ || !c->client_->session().closed()))
    return extras.on_refused("PUBLISH_DONE before any object: status " + std::to_string(status) + " " + reason);
  // The session went away under an established caller: the reconnect resubscribes.
  if (c->will_reconnect() && c->client_->session().closed()) return;
  // Only a publisher that ended the track is an end of stream; anything else cut it short.
  const bool ended = status == 0x2 || status == 0x3;
  if (!c->listener() && !c->handler_->ready) return c->events_("error", c->handler_->not_established(reason));
  // A listener serves many peers: one publisher cutting its track short is not fatal.
  const char* cut = c->listener() ? "warning" : "error";
  c->events_(ended ? "eos" : cut, track + ": PUBLISH_DONE status " + std::to_string(status) + " " + reason);
}

// Listener: one per accepted session. Forwards to the shared Handler, and when the peer
// announces the URI's namespace (a publisher such as @moq/net that PUBLISH_NAMESPACEs and waits
// for SUBSCRIBE instead of PUBLISHing), subscribes to the tracks the element wants.
struct Connection::Peer : SessionHandler {
  Connection& c;
  Session& s;
  bool announced = false;
  Peer(Connection& conn, Session& sess) : c(conn), s(sess) {}
  void on_ready(wire::Draft d) override { c.handler_->on_ready(d); }
  void on_closed(uint64_t code, const std::string& reason) override {
    c.handler_->on_closed(code, reason);
    Session* key = &s;
    c.loop_->post([conn = &c, key] { conn->peers_.erase(key); });  // not inside our own call
  }
  bool on_namespace_published(const TrackNamespace& ns) override {
    if (ns == c.uri_.ns && !announced) {
      announced = true;
      for (auto& [track, sub] : c.handler_->subs) c.issue(s, *sub);
    }
    return true;
  }
  void on_namespace_done(const TrackNamespace& ns) override { c.handler_->on_namespace_done(ns); }
  SubscriptionHandler* on_incoming_publish(const FullTrackName& n) override { return c.handler_->on_incoming_publish(n); }
};

std::shared_ptr<Connection> Connection::create(const Settings& s, EventCallback events, std::string* error) {
  std::shared_ptr<Connection> c(new Connection());
  c->settings_ = s;
  if (s.draft != 0 && s.draft != 14 && s.draft != 16 && s.draft != 18) {
    *error = "property 'draft'=" + std::to_string(s.draft) + ": expected 0 (any), 14, 16 or 18";
    return nullptr;
  }
  if (!c->settings_.apply_uri_query(error)) return nullptr;
  auto p = parse_uri(s.uri, error);
  if (!p) return nullptr;
  c->uri_ = *p;
  if (!c->settings_.relay.empty() && c->settings_.mode == Mode::kListener) {
    *error = "property 'relay' (attach to an in-process moqrelay) excludes mode=listener";
    return nullptr;
  }
  if (!c->settings_.fallback_uris.empty() && (c->settings_.mode == Mode::kListener || !c->settings_.relay.empty())) {
    *error = "property 'fallback-uris' is for callers connecting over the network";
    return nullptr;
  }
  for (const std::string& f : c->settings_.fallback_uris) {
    std::string why;
    auto fp = parse_uri(f, &why);
    if (!fp) {
      *error = "property 'fallback-uris': " + why;
      return nullptr;
    }
    if (fp->ns != c->uri_.ns) {
      *error = "property 'fallback-uris': " + f + " names another namespace than the uri (" +
               wire::to_string(fp->ns) + " vs " + wire::to_string(c->uri_.ns) + ")";
      return nullptr;
    }
  }
  c->events_ = std::move(events);
  c->handler_ = std::make_unique<Handler>(*c);
  if (!c->start(error)) return nullptr;
  return c;
}

bool Connection::start(std::string* error) {
  if (!settings_.relay.empty()) {
    host_ = RelayHost::find(settings_.relay);
    if (!host_) {
      *error = "property 'relay': no moqrelay named '" + settings_.relay +
               "' is running in this process (it starts at READY)";
      return false;
    }
    loop_ = &host_->loop();
    bool ok = false;
    loop_->run_sync([&] {
      if (!host_->relay()) return;
      local_id_ = host_->relay()->add_local(settings_.uri);
      ok = true;
    });
    if (!ok) {
      *error = "property 'relay': the moqrelay named '" + settings_.relay + "' has stopped";
      host_.reset();
      return false;
    }
    if (events_) events_("connected", "in-process relay " + settings_.relay);
    return true;
  }
  own_loop_ = std::make_unique<quic::EventLoop>();
  loop_ = own_loop_.get();
  loop_->start("moq-gst");
  bool ok = false;
  loop_->run_sync([&] {
    if (settings_.mode == Mode::kListener) {
      ServerConfig sc;
      sc.listen = uri_.url.authority;
      if (uri_.url.authority.find(':') == std::string::npos) sc.listen += ":" + std::to_string(uri_.url.port);
      sc.drafts = drafts_of(settings_.draft);
      std::optional<quic::CertificatePem> cert;
      if (!settings_.cert_file.empty() || !settings_.key_file.empty()) {
        cert = quic::load_pem_files(settings_.cert_file, settings_.key_file, error);
      } else {
        cert = quic::generate_self_signed({"localhost", "127.0.0.1", "::1", uri_.url.host}, 10, error);
      }
      if (!cert) return;
      sc.cert = *cert;
      cert_sha256_ = cert->sha256_hex;
      server_ = Server::start(
          *loop_, sc, &registry_,
          [this](Session& sess) -> SessionHandler* {
            auto peer = std::make_unique<Peer>(*this, sess);
            Peer* raw = peer.get();
            peers_[&sess] = std::move(peer);
            return raw;
          },
          error);
      if (!server_) return;
      port_ = server_->address().port();
      if (events_) events_("listening", server_->address().to_string() + " sha256=" + cert_sha256_);
      ok = true;
      return;
    }
    client_ = connect_client(error);
    ok = client_ != nullptr;
  });
  if (!ok) loop_->stop();
  return ok;
}

std::unique_ptr<Client> Connection::connect_client(std::string* error) {
  ClientConfig cc;
  cc.drafts = drafts_of(settings_.draft);
  if (!settings_.pin.empty()) {
    cc.verify = quic::VerifyMode::kPinnedSha256;
    cc.pinned_sha256 = settings_.pin;
  } else if (settings_.insecure) {
    cc.verify = quic::VerifyMode::kInsecure;
  }
  if (!settings_.auth_token.empty()) cc.auth_token = settings_.auth_token;
  // The namespace lives in the URI path; the MoQT PATH option gets the endpoint part only.
  const std::string& uri = current_uri();
  return Client::connect(*loop_, uri.substr(0, uri.find('?')), cc, handler_.get(), &registry_, error);
}

bool Connection::will_reconnect() const {
  return !listener() && settings_.reconnect && established_ && !stopping_;
}

void Connection::schedule_reconnect() {
  backoff_ = std::clamp(backoff_ * 2, kMinBackoff, kMaxBackoff);
  {
    std::lock_guard<std::mutex> l(mu_);
    ++reconnects_;
  }
  // With fallbacks, the next relay of the list: the one just lost may be down for good.
  if (!settings_.fallback_uris.empty()) uri_index_ = (uri_index_ + 1) % (settings_.fallback_uris.size() + 1);
  if (events_) events_("reconnecting", "to " + current_uri() + " in " + std::to_string(backoff_.count()) + " ms");
  loop_->add_timer(backoff_, [this] {
    if (stopping_) return;
    std::string err;
    client_.reset();  // not inside its callbacks: this is a timer
    client_ = connect_client(&err);
    if (!client_) {
      if (events_) events_("warning", "reconnect: " + err);
      return schedule_reconnect();
    }
    // Same subscriptions (from the next group: a keyframe) and the same pushed tracks.
    for (auto& [track, sub] : handler_->subs) issue(*client_, *sub);
    for (auto& t : published_) publish_track(t);
  });
}

void Connection::publish_track(const std::shared_ptr<TrackPublisher>& t) {
  const std::string name = t->name().name;
  client_->publish(t, [this, name](bool ok, uint64_t code) {
    if (!events_) return;
    if (ok) events_("published", name);
    else events_("warning", "PUBLISH of " + name + " refused (code " + std::to_string(code) + ")");
  });
}

Connection::~Connection() {
  if (!loop_) return;  // never started
  if (host_) {
    loop_->run_sync([&] {
      stopping_ = true;
      *alive_ = false;
      handler_.reset();  // our local subscriptions
      for (auto& t : published_) t->finish();
      if (host_->relay()) host_->relay()->remove_local(local_id_);
    });
    return;
  }
  loop_->run_sync([&] {
    stopping_ = true;
    *alive_ = false;
    if (client_) client_->close(0, "element stopped");
    if (server_) server_->close_all(0, "element stopped");
  });
  loop_->run_sync([&] {
    client_.reset();
    server_.reset();
    peers_.clear();
    handler_.reset();
  });
  loop_->stop();
}

std::shared_ptr<TrackPublisher> Connection::add_track(const std::string& name, TrackOptions o) {
  auto t = std::make_shared<TrackPublisher>(FullTrackName{uri_.ns, name}, o);
  loop_->run_sync([&] {
    registry_.add(t);
    // The application hears when viewers come and go (e.g. to pause an encoder when there are none).
    t->set_on_subscribers([this, name](size_t n) {
      if (events_) events_("subscribers", name + " " + std::to_string(n));
    });
    published_.push_back(t);
    if (client_) publish_track(t);
    if (host_ && host_->relay()) {
      if (host_->relay()->publish_local(local_id_, t)) {
        if (events_) events_("published", name);
      } else if (events_) {
        events_("warning", "the relay refused track " + name + " (max-tracks)");
      }
    }
  });
  return t;
}

void Connection::write(const std::shared_ptr<TrackPublisher>& t, Object o) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++objects_written_;
  }
  auto obj = std::make_shared<Object>(std::move(o));
  loop_->post([t, obj] { t->write(std::move(*obj)); });
}

void Connection::finish(const std::shared_ptr<TrackPublisher>& t) {
  loop_->post([t] { t->finish(); });
}

void Connection::remove_track(const std::shared_ptr<TrackPublisher>& t) {
  loop_->post([this, t] {
    t->finish();
    if (host_ && host_->relay()) host_->relay()->unpublish_local(local_id_, t->name());
    registry_.remove(t->name());
    std::erase(published_, t);
  });
}

void Connection::count_dropped() {
  std::lock_guard<std::mutex> l(mu_);
  ++objects_dropped_;
}

void Connection::subscribe(const std::string& track, ObjectCallback cb, std::optional<uint64_t> max_subgroup,
                           std::optional<uint64_t> groups_back, SubscribeExtras extras) {
  loop_->run_sync([&] {
    // One handler per track for the connection's life: sessions hold pointers to it.
    std::unique_ptr<TrackSub>& slot = handler_->subs[track];
    if (!slot) slot = std::make_unique<TrackSub>();
    TrackSub* raw = slot.get();
    raw->c = this;
    raw->track = track;
    raw->cb = std::move(cb);
    raw->max_subgroup = max_subgroup;
    raw->groups_back = groups_back;
    raw->extras = std::move(extras);
    raw->dropped = false;
    for (auto& [sess, peer] : peers_)
      if (peer->announced) issue(peer->s, *raw);
    if (client_) issue(*client_, *raw);
    if (host_) {
      raw->local_wait_since.reset();
      attach_local(*raw);
    }
  });
}

void Connection::unsubscribe(const std::string& track) {
  // Posted, never inline: the caller may be inside this subscription's own callback.
  loop_->post([this, track, alive = alive_] {
    if (!*alive) return;
    auto it = handler_->subs.find(track);
    if (it == handler_->subs.end() || it->second->dropped) return;
    TrackSub& sub = *it->second;
    sub.dropped = true;
    sub.fetching = false;
    sub.held.clear();
    if (client_ && sub.client_handle) client_->unsubscribe(*sub.client_handle);
    sub.client_handle.reset();
    sub.local.reset();
  });
}

// Attached: the relay answers at once for a track it has (its cached live group from object 0
// comes first) and subscribes upstream for one a network publisher announced. A track not
// published yet (its moqsink has not seen caps) is asked for again until kLocalWait.
void Connection::attach_local(TrackSub& sub) {
  sub.local.reset();
  if (stopping_ || sub.dropped) return;
  if (!host_->relay()) {
    if (events_) events_("error", "the moqrelay named '" + settings_.relay + "' has stopped");
    return;
  }
  if (!sub.local_wait_since) sub.local_wait_since = std::chrono::steady_clock::now();
  const FullTrackName name{uri_.ns, sub.track};
  TrackSub* s = &sub;
  auto retry = [this, s, alive = alive_](const std::string& why) {
    if (std::chrono::steady_clock::now() - *s->local_wait_since >= kLocalWait) {
      const std::string what = s->track + ": not published in relay '" + settings_.relay + "' within " +
                               std::to_string(kLocalWait.count()) + " ms: " + why;
      if (s->extras.on_refused) s->extras.on_refused(what);
      else if (events_) events_("error", what);
      return;
    }
    loop_->add_timer(kLocalRetry, [this, s, alive] {
      if (*alive) attach_local(*s);
    });
  };
  host_->relay()->find_local(
      local_id_, name, RequestFor::kSubscribe,
      [this, s, alive = alive_, retry](std::shared_ptr<TrackPublisher> pub, LookupError, const std::string& why) {
        // The element may have dropped the track while the relay was still asking upstream.
        if (!*alive || stopping_ || s->dropped) return;
        if (!pub) return retry(why);
        relay::LocalSubscription::Callbacks cb;
        cb.object = [s](const Object& o) {
          ReceivedObject r;
          r.location = o.location;
          r.subgroup = o.subgroup;
          r.publisher_priority = o.publisher_priority;
          r.status = o.status;
          r.properties = o.properties;
          r.payload.assign(o.payload.data.begin(), o.payload.data.end());
          r.datagram = o.datagram;
          s->deliver(r);
        };
        cb.end = [this, s, alive](TrackEnd why) {
          if (!*alive || stopping_) return;
          if (why == TrackEnd::kTrackEnded) {
            if (events_) events_("eos", s->track + ": the track ended");
            return;
          }
          // Its publisher left (or a newer one took over): wait for the next one, bounded.
          if (events_) events_("warning", s->track + ": its publisher left the relay; waiting for a new one");
          s->local_wait_since = std::chrono::steady_clock::now();
          loop_->add_timer(std::chrono::milliseconds(0), [this, s, alive] {  // not inside the track
            if (*alive) attach_local(*s);
          });
        };
        s->local_wait_since.reset();
        s->local = std::make_unique<relay::LocalSubscription>(pub, std::move(cb), s->max_subgroup,
                                                              s->groups_back.value_or(0));
      });
}

void Connection::accept_publishes(std::function<ObjectCallback(const std::string& track)> acceptor) {
  loop_->run_sync([&] { handler_->acceptor = std::move(acceptor); });
}

void Connection::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  // Guarded: a relay's loop (attached) outlives this connection.
  loop_->post([this, delay, fn = std::move(fn), alive = alive_]() mutable {
    if (!*alive) return;
    loop_->add_timer(delay, [fn = std::move(fn), alive] {
      if (*alive) fn();
    });
  });
}

size_t Connection::subscriber_count(const std::shared_ptr<TrackPublisher>& t) {
  size_t n = 0;
  loop_->run_sync([&] { n = t->subscriber_count(); });
  return n;
}

GstStructure* Connection::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return gst_structure_new("application/x-moq-stats", "objects-written", G_TYPE_UINT64, objects_written_,
                           "objects-received", G_TYPE_UINT64, objects_received_, "objects-dropped", G_TYPE_UINT64,
                           objects_dropped_, "reconnects", G_TYPE_UINT64,
                           reconnects_, nullptr);
}

void CommonProps::set(guint index, const GValue* v) {
  auto str = [&] { return std::string(g_value_get_string(v) ? g_value_get_string(v) : ""); };
  switch (index) {
    case 0: uri = str(); break;
    case 1: mode = Mode(g_value_get_enum(v)); break;
    case 2: cert_file = str(); break;
    case 3: key_file = str(); break;
    case 4: tls_pin = str(); break;
    case 5: tls_insecure = g_value_get_boolean(v); break;
    case 6: draft = g_value_get_int(v); break;
    case 10: reconnect = g_value_get_boolean(v); break;
    case 11: auth_token = str(); break;
    case 12: relay = str(); break;
    case 13: fallback_uris = str(); break;
    default: break;  // read-only
  }
}

void CommonProps::get(guint index, GValue* v, const Connection* conn) const {
  auto str = [&](const std::string& x) { g_value_set_string(v, x.empty() ? nullptr : x.c_str()); };
  switch (index) {
    case 0: str(uri); break;
    case 1: g_value_set_enum(v, int(mode)); break;
    case 2: str(cert_file); break;
    case 3: str(key_file); break;
    case 4: str(tls_pin); break;
    case 5: g_value_set_boolean(v, tls_insecure); break;
    case 6: g_value_set_int(v, draft); break;
    case 7: g_value_set_uint(v, conn ? conn->port() : 0); break;
    case 8: g_value_set_string(v, conn ? conn->cert_sha256().c_str() : nullptr); break;
    case 9:
      g_value_take_boxed(v, conn ? conn->stats() : gst_structure_new_empty("application/x-moq-stats"));
      break;
    case 10: g_value_set_boolean(v, reconnect); break;
    case 11: str(auth_token); break;
    case 12: str(relay); break;
    case 13: str(fallback_uris); break;
    default: break;
  }
}

Settings CommonProps::settings() const {
  Settings s;
  s.uri = uri;
  s.mode = mode;
  s.cert_file = cert_file;
  s.key_file = key_file;
  s.pin = tls_pin;
  s.insecure = tls_insecure;
  s.draft = draft;
  s.reconnect = reconnect;
  s.auth_token = auth_token;
  s.relay = relay;
  gchar** parts = g_strsplit(fallback_uris.c_str(), ",", -1);
  for (gchar** p = parts; p && *p; ++p) {
    std::string u = g_strstrip(*p);
    if (!u.empty()) s.fallback_uris.push_back(u);
  }
  g_strfreev(parts);
  return s;
}

}  // namespace moqgst
