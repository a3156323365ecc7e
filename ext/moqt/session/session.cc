#include "moqt/session/session_internal.h"

namespace moqt::session {

// -------------------------------------------------------------------------------------------
// Construction and setup

Session::Session(quic::Transport& transport, SessionConfig cfg, SessionHandler* handler, TrackSource* tracks)
    : t_(transport), cfg_(std::move(cfg)), handler_(handler), tracks_(tracks) {
  const bool client = cfg_.perspective == Perspective::kClient;
  next_request_id_ = client ? 0 : 1;
  next_peer_request_id_ = client ? 1 : 0;
  peer_ids_low_ = next_peer_request_id_;
  t_.set_handler(this);
}

Session::~Session() {
  *alive_ = false;
  if (setup_timer_) t_.loop().cancel_timer(setup_timer_);
  if (goaway_timer_) t_.loop().cancel_timer(goaway_timer_);
  for (auto& [id, r] : requests_)
    if (r->timer) t_.loop().cancel_timer(r->timer);
  for (auto& [id, sub] : in_subs_)
    if (sub->done_timer) t_.loop().cancel_timer(sub->done_timer);
  out_subs_.clear();  // detaches from tracks
  if (tracks_)
    for (auto& [id, prefix] : namespace_watches_) tracks_->unwatch_namespaces(*this, id);
  if (tracks_)
    for (auto& [id, w] : track_watches_) tracks_->unwatch_tracks(*this, id);
  if (state_ != State::kClosed) t_.set_handler(nullptr);
}

void Session::on_ready(std::string_view protocol) {
  // The negotiated protocol decides the draft: ALPN (raw QUIC) or WT-Protocol; "moq-00" or no
  // WT protocol at all means draft-14, whose version is agreed in CLIENT_SETUP/SERVER_SETUP.
  const std::string p(protocol);
  if (p.empty() || p == "moq-00") {
    draft_ = Draft::k14;
  } else if (auto d = draft_from_alpn(p)) {
    draft_ = *d;
  } else {
    fail(SessionError::kVersionNegotiationFailed, "unsupported protocol '" + p + "'");
    return;
  }
  if (std::find(cfg_.drafts.begin(), cfg_.drafts.end(), draft_) == cfg_.drafts.end()) {
    fail(SessionError::kVersionNegotiationFailed, std::string("draft ") + profile(draft_).name + " is disabled");
    return;
  }
  draft_known_ = true;
  profile_ = &profile(draft_);
  state_ = State::kSettingUp;
  start_setup();
}

void Session::start_setup() {
  auto alive = alive_;
  setup_timer_ = t_.loop().add_timer(cfg_.setup_timeout, [this, alive] {
    setup_timer_ = 0;
    if (*alive && state_ == State::kSettingUp) fail(SessionError::kControlMessageTimeout, "no SETUP within the timeout");
  });
  SetupParams p;
  p.implementation = cfg_.implementation;
  if (cfg_.auth_token) p.auth_tokens.push_back(AuthToken{TokenAliasType::kUseValue, 0, 0, *cfg_.auth_token});
  const bool client = cfg_.perspective == Perspective::kClient;
  if (client && !cfg_.webtransport) {
    if (!cfg_.path.empty()) p.path = cfg_.path;
    if (!cfg_.authority.empty()) p.authority = cfg_.authority;
  }
  if (draft_ != Draft::k18) {
    p.max_request_id = cfg_.max_request_id;
    granted_max_request_id_ = cfg_.max_request_id;
  }
  if (draft_ == Draft::k18) {
    // Each side opens its own uni control stream starting with SETUP.
    auto id = t_.open_uni_stream();
    if (!id) return fail(SessionError::kInternalError, "cannot open the control stream");
    control_out_ = *id;
    t_.set_priority(control_out_, 0);
    send_on(control_out_, Setup{p});
    return;
  }
  if (client) {
    auto id = t_.open_bidi_stream();
    if (!id) return fail(SessionError::kInternalError, "cannot open the control stream");
    control_out_ = control_in_ = *id;
    t_.set_priority(control_out_, 0);
    control_parser_ = std::make_unique<ControlStreamParser>(draft_);
    ClientSetup cs{{}, p};
    if (draft_ == Draft::k14) cs.versions = {profile(Draft::k14).version};
    send_on(control_out_, cs);
  }
  // A -14/-16 server waits for CLIENT_SETUP on the client's first bidi stream.
}

void Session::handle_setup(const ControlMessage& m) {
  const bool client = cfg_.perspective == Perspective::kClient;
  const SetupParams* p = nullptr;
  if (auto* cs = std::get_if<ClientSetup>(&m)) {
    if (client) return protocol_violation("CLIENT_SETUP received by a client");
    p = &cs->params;
    if (draft_ == Draft::k14 &&
        std::find(cs->versions.begin(), cs->versions.end(), profile(Draft::k14).version) == cs->versions.end())
      return fail(SessionError::kVersionNegotiationFailed, "client offers no version we speak (want draft-14)");
  } else if (auto* ss = std::get_if<ServerSetup>(&m)) {
    if (!client) return protocol_violation("SERVER_SETUP received by a server");
    p = &ss->params;
    if (draft_ == Draft::k14 && ss->selected_version != profile(Draft::k14).version)
      return fail(SessionError::kVersionNegotiationFailed, "server selected an unsupported version");
  } else if (auto* s = std::get_if<Setup>(&m)) {
    p = &s->params;
  } else {
    return protocol_violation(std::string("expected SETUP, got ") + to_string(kind_of(m)));
  }
  // PATH / AUTHORITY: only a raw-QUIC client may send them.
  if ((p->path || p->authority) && (client || cfg_.webtransport))
    return fail(p->path ? SessionError::kInvalidPath : SessionError::kInvalidAuthority,
                "PATH/AUTHORITY not allowed from this peer");
  if (draft_ != Draft::k18) peer_max_request_id_ = p->max_request_id.value_or(0);
  peer_implementation_ = p->implementation.value_or("");
  if (p->path) peer_path_ = *p->path;
  for (const AuthToken& t : p->auth_tokens)
    if (t.alias_type == TokenAliasType::kUseValue || t.alias_type == TokenAliasType::kRegister) peer_auth_token_ = t.value;
  // @moq/net (MOQT_IMPLEMENTATION "moq-lite-js") decodes LARGEST_OBJECT with a length prefix
  // from -17 on, where -18 ("LARGEST OBJECT Parameter", "Message Parameters") makes it a bare
  // Location, and then fails the whole reply. It only uses the value from -20 on, so it gets
  // SUBSCRIBE_OK / TRACK_STATUS replies without it (docs/interop.md).
  omit_largest_object_ = cfg_.peer_workarounds && draft_ == Draft::k18 &&
                         peer_implementation_.starts_with("moq-lite-js");
  // It also takes only whole groups (a subgroup stream must start at object 0) and cannot
  // FETCH, so a LargestObject subscription would lose the current group, and a track written
  // once (a catalog) would never arrive: it gets the current group from object 0 (its own
  // publisher does the same).
  whole_groups_ = cfg_.peer_workarounds && peer_implementation_.starts_with("moq-lite-js");
  if (!client && draft_ != Draft::k18) {
    // Answer CLIENT_SETUP with SERVER_SETUP on the same stream.
    SetupParams sp;
    sp.implementation = cfg_.implementation;
    sp.max_request_id = cfg_.max_request_id;
    granted_max_request_id_ = cfg_.max_request_id;
    ServerSetup ss{draft_ == Draft::k14 ? profile(Draft::k14).version : 0, sp};
    send_on(control_out_, ss);
  }
  become_ready();
}

void Session::become_ready() {
  state_ = State::kReady;
  if (setup_timer_) t_.loop().cancel_timer(setup_timer_);
  setup_timer_ = 0;
  // Requests made before setup completed go first: one the handler makes in on_ready has a
  // higher id and must not overtake them (a fuzz find).
  send_blocked_requests();
  auto alive_ready = alive_;
  if (handler_) handler_->on_ready(draft_);
  if (!*alive_ready || state_ != State::kReady) return;
  // -18 requests that arrived before the peer's SETUP.
  std::vector<std::pair<ControlMessage, StreamId>> early = std::move(early_messages_);
  early_messages_.clear();
  auto alive = alive_;
  for (auto& [m, stream] : early) {
    on_control_message(std::move(m), stream);
    if (!*alive || state_ != State::kReady) return;
  }
  // Uni streams that arrived before setup (e.g. -18 data racing the control stream).
  for (auto& [id, u] : uni_) u->flush_waiting();
  if (pending_goaway_) {
    auto [uri, timeout] = *std::exchange(pending_goaway_, std::nullopt);
    goaway(uri, timeout);
  }
}

// -------------------------------------------------------------------------------------------
// Control message I/O

void Session::send_on(StreamId stream, const ControlMessage& m, bool fin) {
  Bytes b;
  if (auto e = encode_control(m, draft_, b)) {
    std::fprintf(stderr, "moqt session: cannot encode %s: %s\n", to_string(kind_of(m)), e->detail.c_str());
    return;
  }
  t_.write(stream, SendBuffer::take(std::move(b)), fin);
}

void Session::send_control(const ControlMessage& m) {
  if (control_out_ < 0) return;
  send_on(control_out_, m);
}

bool Session::check_incoming_request_id(uint64_t id) {
  const bool client = cfg_.perspective == Perspective::kClient;
  if ((id & 1) != (client ? 1u : 0u)) {
    fail(SessionError::kInvalidRequestId, "request id " + std::to_string(id) + " has the wrong parity");
    return false;
  }
  if (draft_ != Draft::k14) {
    // Requests travel on different streams (-18 request streams; -16 SUBSCRIBE_NAMESPACE on its
    // own bidi stream), so ids may arrive out of order: only duplicates are errors. Holes are
    // bounded, so a peer cannot make us remember ids forever.
    if (id < peer_ids_low_ || peer_ids_seen_.count(id)) {
      fail(SessionError::kInvalidRequestId, "duplicate request id " + std::to_string(id));
      return false;
    }
    if (draft_ != Draft::k18 && id >= granted_max_request_id_) {
      fail(SessionError::kTooManyRequests, "request id " + std::to_string(id) + " beyond MAX_REQUEST_ID");
      return false;
    }
    if ((id - peer_ids_low_) / 2 >= kMaxRequestIdWindow) {
      fail(SessionError::kInvalidRequestId, "request id " + std::to_string(id) + " too far ahead of the lowest unused (" +
                                                std::to_string(peer_ids_low_) + ")");
      return false;
    }
    peer_ids_seen_.insert(id);
    while (peer_ids_seen_.count(peer_ids_low_)) peer_ids_seen_.erase(peer_ids_low_), peer_ids_low_ += 2;
    if (draft_ == Draft::k18) return true;
    next_peer_request_id_ = std::max(next_peer_request_id_, id + 2);
    ++peer_requests_seen_;
    grant_request_ids();
    return true;
  }
  // -14 requests share the control stream: ids only increase.
  if (id < next_peer_request_id_) {
    fail(SessionError::kInvalidRequestId, "request id " + std::to_string(id) + " out of sequence (expected " +
                                              std::to_string(next_peer_request_id_) + ")");
    return false;
  }
  if (id >= granted_max_request_id_) {
    fail(SessionError::kTooManyRequests, "request id " + std::to_string(id) + " beyond MAX_REQUEST_ID");
    return false;
  }
  next_peer_request_id_ = id + 2;
  ++peer_requests_seen_;
  grant_request_ids();
  return true;
}

void Session::grant_request_ids() {
  if (draft_ == Draft::k18) return;
  // Keep the window open: once half is used, move the bound forward (MAX_REQUEST_ID).
  const uint64_t window = cfg_.max_request_id;
  if (granted_max_request_id_ - next_peer_request_id_ < window / 2) {
    granted_max_request_id_ = next_peer_request_id_ + window;
    send_control(MaxRequestId{granted_max_request_id_});
  }
}

std::optional<uint64_t> Session::new_request(std::function<ControlMessage(uint64_t)> build, Request** out) {
  if (state_ == State::kClosed || goaway_received_) return std::nullopt;
  if (requests_.size() + blocked_requests_.size() > 4096) return std::nullopt;  // bounded
  auto r = std::make_unique<Request>();
  r->id = next_request_id_;
  next_request_id_ += 2;
  r->msg = build(r->id);
  r->kind = kind_of(r->msg);
  if (cfg_.request_auth_token)
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, Subscribe> || std::is_same_v<T, Fetch> || std::is_same_v<T, TrackStatus> ||
                        std::is_same_v<T, Publish> || std::is_same_v<T, PublishNamespace> ||
                        std::is_same_v<T, SubscribeNamespace> || std::is_same_v<T, SubscribeTracks>)
            x.params.auth_tokens.push_back(AuthToken{TokenAliasType::kUseValue, 0, 0, *cfg_.request_auth_token});
        },
        r->msg);
  Request* raw = r.get();
  const uint64_t id = raw->id;  // `raw` may be gone after send_request (a -14 update is)
  if (out) *out = raw;
  const bool blocked = state_ != State::kReady || !blocked_requests_.empty() ||
                       (draft_ != Draft::k18 && raw->id >= peer_max_request_id_);
  if (blocked) {
    if (state_ == State::kReady && draft_ != Draft::k18 && raw->id >= peer_max_request_id_)
      send_control(RequestsBlocked{peer_max_request_id_});
    blocked_requests_.push_back(std::move(r));
  } else {
    requests_[raw->id] = std::move(r);
    send_request(*raw);
  }
  return id;
}

void Session::send_request(Request& r) {
  if (r.kind == MessageKind::kSubscribeTracks && draft_ != Draft::k18) {
    const SubscribeTracks st = std::get<SubscribeTracks>(r.msg);
    if (draft_ == Draft::k14) {
      // -14 has no way to ask for PUBLISHes alone: answered here, on the next loop turn.
      const uint64_t id = r.id;
      t_.loop().add_timer(std::chrono::nanoseconds(0), [this, alive = alive_, id] {
        if (!*alive) return;
        auto it = requests_.find(id);
        if (it == requests_.end()) return;
        auto done = std::move(it->second->done);
        requests_.erase(it);
        if (done) done(false, not_supported());
      });
      return;
    }
    SubscribeNamespace sn;  // -16: the same request, as SUBSCRIBE_NAMESPACE with options PUBLISH
    sn.request_id = st.request_id;
    sn.prefix = st.prefix;
    sn.options = wire::SubscribeOptions::kPublish;
    r.msg = sn;
    r.kind = MessageKind::kSubscribeNamespace;
  }
  const bool own_stream = draft_ == Draft::k18 || (draft_ == Draft::k16 && r.kind == MessageKind::kSubscribeNamespace);
  if (own_stream) {
    auto id = t_.open_bidi_stream();
    if (!id) {
      // The peer's stream limit: retried on on_streams_available.
      auto it = requests_.find(r.id);
      if (it != requests_.end()) {
        blocked_requests_.push_back(std::move(it->second));
        requests_.erase(it);
      }
      return;
    }
    r.stream = *id;
    request_streams_[*id] = r.id;
    request_parsers_[*id] = std::make_unique<ControlStreamParser>(draft_);
    t_.set_priority(*id, 1);
    send_on(*id, r.msg);
  } else {
    send_control(r.msg);
  }
  r.sent = true;
  if (r.kind == MessageKind::kRequestUpdate && draft_ == Draft::k14) {
    requests_.erase(r.id);  // -14 SUBSCRIBE_UPDATE has no reply
    return;
  }
  // Every request is answered or times out.
  auto alive = alive_;
  const uint64_t id = r.id;
  r.timer = t_.loop().add_timer(cfg_.request_timeout, [this, alive, id] {
    if (!*alive) return;
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    it->second->timer = 0;
    RequestError e;
    e.request_id = id;
    e.error_code = 0x2;  // TIMEOUT
    e.reason = "no reply within the request timeout";
    on_request_error(e, it->second->stream);
  });
}

void Session::reply(uint64_t request_id, const ControlMessage& m, bool fin) {
  if (draft_ == Draft::k18 || peer_request_stream_by_id_.count(request_id)) {
    auto it = peer_request_stream_by_id_.find(request_id);
    if (it == peer_request_stream_by_id_.end()) return;
    send_on(it->second, m, fin);
    if (fin) {
      peer_request_streams_.erase(it->second);
      peer_request_stream_by_id_.erase(it);
    }
    return;
  }
  send_control(m);
}

uint64_t Session::request_id_of(StreamId stream, uint64_t in_message) const {
  if (draft_ != Draft::k18) {
    auto it = request_streams_.find(stream);  // -16 SUBSCRIBE_NAMESPACE replies carry the id too
    return it != request_streams_.end() && in_message == 0 ? it->second : in_message;
  }
  auto it = request_streams_.find(stream);
  return it == request_streams_.end() ? UINT64_MAX : it->second;
}

// -------------------------------------------------------------------------------------------
// Incoming streams

void Session::on_stream_opened(StreamId id, bool bidi) {
  if (bidi) {
    request_parsers_[id] = std::make_unique<ControlStreamParser>(draft_known_ ? draft_ : Draft::k18);
  } else {
    uni_[id] = std::make_unique<UniStream>(*this, id);
  }
}

void Session::on_stream_data(StreamId id, std::span<const uint8_t> data, bool fin) {
  if (state_ == State::kClosed || !draft_known_) return;
  if (!is_bidi(id)) {
    auto it = uni_.find(id);
    if (it == uni_.end()) it = uni_.emplace(id, std::make_unique<UniStream>(*this, id)).first;
    on_uni_data(id, *it->second, data, fin);
    return;
  }
  // Bidirectional: the -14/-16 control stream, or a request stream.
  ControlStreamParser* parser = nullptr;
  const bool server = cfg_.perspective == Perspective::kServer;
  if (draft_ != Draft::k18 && id == control_in_) {
    parser = control_parser_.get();
  } else if (draft_ != Draft::k18 && server && control_in_ < 0) {
    control_in_ = control_out_ = id;  // the client's first bidi stream is the control stream
    control_parser_ = std::make_unique<ControlStreamParser>(draft_);
    t_.set_priority(id, 0);
    parser = control_parser_.get();
  } else {
    auto it = request_parsers_.find(id);
    if (it == request_parsers_.end())
      it = request_parsers_.emplace(id, std::make_unique<ControlStreamParser>(draft_)).first;
    parser = it->second.get();
  }
  parser->push(data);
  auto alive = alive_;
  while (auto m = parser->next()) {
    if (!*m) return fail(m->error().code, m->error().detail);
    on_control_message(std::move(m->value()), id);
    if (!*alive || state_ == State::kClosed) return;
  }
  if (fin) {
    if (draft_ != Draft::k18 && id == control_in_) return protocol_violation("the peer closed the control stream");
    if (!parser->at_message_boundary()) return protocol_violation("request stream ended inside a message");
    // -16: closing a SUBSCRIBE_NAMESPACE stream cancels it.
    if (auto it = peer_request_streams_.find(id); draft_ == Draft::k16 && it != peer_request_streams_.end())
      end_namespace_watch(it->second);
  }
}

void Session::on_uni_data(StreamId id, UniStream& s, std::span<const uint8_t> data, bool fin) {
  if (s.dead) return;
  if (!s.classified) {
    s.prefix.insert(s.prefix.end(), data.begin(), data.end());
    Result<UniStreamKind> k = classify_uni_stream(s.prefix, draft_);
    if (!k) return fail(k.error().code, k.error().detail);
    if (*k == UniStreamKind::kNeedMore) return;
    s.classified = true;
    Bytes all = std::move(s.prefix);
    s.prefix.clear();
    if (*k == UniStreamKind::kControl) {
      if (control_in_ >= 0) return protocol_violation("a second control stream");
      s.control = true;
      control_in_ = id;
      control_parser_ = std::make_unique<ControlStreamParser>(draft_);
    } else {
      s.parser = std::make_unique<DataStreamParser>(draft_, s);
    }
    return on_uni_data(id, s, all, fin);
  }
  if (s.control) {
    control_parser_->push(data);
    auto alive = alive_;
    while (auto m = control_parser_->next()) {
      if (!*m) return fail(m->error().code, m->error().detail);
      on_control_message(std::move(m->value()), id);
      if (!*alive || state_ == State::kClosed) return;
    }
    if (fin) protocol_violation("the peer closed its control stream");
    return;
  }
  if (auto e = s.parser->feed(data, fin)) return fail(e->code, e->detail);
}

void Session::on_control_message(ControlMessage m, StreamId stream) {
  const MessageKind k = kind_of(m);
  if (state_ == State::kSettingUp) {
    if (k == MessageKind::kClientSetup || k == MessageKind::kServerSetup || k == MessageKind::kSetup) return handle_setup(m);
    if (draft_ != Draft::k18) return protocol_violation(std::string("expected SETUP, got ") + to_string(k));
    // -18 requests may race the peer's SETUP on other streams. The draft says to buffer them
    // "until both control streams arrive and setup is complete" (-18, "Control Streams"): the
    // SETUP tells how to answer (extensions, peer_workarounds). Replayed by become_ready().
    if (early_messages_.size() >= 256) return protocol_violation("too many requests before SETUP");
    early_messages_.emplace_back(std::move(m), stream);
    return;
  }
  if (k == MessageKind::kClientSetup || k == MessageKind::kServerSetup || k == MessageKind::kSetup)
    return protocol_violation("a second SETUP");
  const bool on_request_stream = draft_ == Draft::k18 ? stream != control_in_ : false;
  // A peer's new request stream (-18; -16 SUBSCRIBE_NAMESPACE) starts with the request itself.
  if (on_request_stream || (draft_ == Draft::k16 && stream != control_in_)) {
    if (!request_streams_.count(stream) && !peer_request_streams_.count(stream)) {
      uint64_t rid = 0;
      bool is_request = true;
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Subscribe> || std::is_same_v<T, TrackStatus> ||
                          std::is_same_v<T, Publish> || std::is_same_v<T, Fetch> ||
                          std::is_same_v<T, PublishNamespace> || std::is_same_v<T, SubscribeNamespace> ||
                          std::is_same_v<T, SubscribeTracks>)
              rid = x.request_id;
            else
              is_request = false;
          },
          m);
      if (!is_request) return protocol_violation(std::string("a request stream must start with a request, got ") + to_string(k));
      peer_request_streams_[stream] = rid;
      peer_request_stream_by_id_[rid] = stream;
    }
  }
  // A request's own token, for whoever the dispatch below asks (the relay's authorization).
  struct TokenScope {
    std::optional<std::string>& slot;
    ~TokenScope() { slot.reset(); }
  } token_scope{request_auth_token_};
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (requires { x.params.auth_tokens; } && !std::is_same_v<T, RequestUpdate>)
          for (const AuthToken& t : x.params.auth_tokens)
            if (t.alias_type == TokenAliasType::kUseValue) {
              request_auth_token_ = t.value;
              break;
            }
      },
      m);
  switch (k) {
    case MessageKind::kGoaway: {
      if (cfg_.perspective == Perspective::kServer && !std::get<Goaway>(m).new_session_uri.empty())
        return protocol_violation("a client's GOAWAY must not carry a URI");
      if (goaway_received_) return protocol_violation("a second GOAWAY");
      goaway_received_ = true;
      if (handler_) handler_->on_goaway(std::get<Goaway>(m).new_session_uri);
      return;
    }
    case MessageKind::kMaxRequestId: {
      const uint64_t v = std::get<MaxRequestId>(m).request_id;
      if (v <= peer_max_request_id_) return protocol_violation("MAX_REQUEST_ID must increase");
      peer_max_request_id_ = v;
      send_blocked_requests();
      return;
    }
    case MessageKind::kRequestsBlocked: return;  // informational: our window logic already moves
    case MessageKind::kSubscribe: return on_subscribe(std::get<Subscribe>(m), stream);
    case MessageKind::kSubscribeOk: return on_subscribe_ok(std::get<SubscribeOk>(m), stream);
    case MessageKind::kRequestError: return on_request_error(std::get<RequestError>(m), stream);
    case MessageKind::kRequestOk: return on_request_ok(std::get<RequestOk>(m), stream);
    case MessageKind::kUnsubscribe: return on_unsubscribe(std::get<Unsubscribe>(m).request_id);
    case MessageKind::kPublishDone: return on_publish_done(std::get<PublishDone>(m), stream);
    case MessageKind::kFetch: return on_fetch(std::get<Fetch>(m), stream);
    case MessageKind::kFetchOk: return on_fetch_ok(std::get<FetchOk>(m), stream);
    case MessageKind::kFetchCancel: return;  // the fetch stream is reset by the peer as well
    case MessageKind::kTrackStatus: return on_track_status(std::get<TrackStatus>(m), stream);
    case MessageKind::kPublishNamespace: return on_publish_namespace(std::get<PublishNamespace>(m), stream);
    case MessageKind::kPublishNamespaceDone: {
      const auto& d = std::get<PublishNamespaceDone>(m);
      if (draft_ == Draft::k14) {
        for (auto it = peer_namespaces_.begin(); it != peer_namespaces_.end(); ++it)
          if (it->second == d.ns) return peer_request_ended(it->first);
        if (handler_) handler_->on_namespace_done(d.ns);
        return;
      }
      return peer_request_ended(d.request_id);  // -16: by request id
    }
    case MessageKind::kPublishNamespaceCancel: return;
    case MessageKind::kSubscribeNamespace: return on_subscribe_namespace(std::get<SubscribeNamespace>(m), stream);
    case MessageKind::kUnsubscribeNamespace: {
      const TrackNamespace& prefix = std::get<UnsubscribeNamespace>(m).prefix;  // -14: by prefix
      for (auto it = namespace_watches_.begin(); it != namespace_watches_.end(); ++it)
        if (it->second == prefix) return end_namespace_watch(it->first);
      return;
    }
    case MessageKind::kNamespace:
    case MessageKind::kNamespaceDone: {
      // The suffix after our SUBSCRIBE_NAMESPACE prefix: the handler hears the whole namespace.
      const bool active = k == MessageKind::kNamespace;
      TrackNamespace ns;
      if (auto r = requests_.find(request_id_of(stream, 0)); r != requests_.end()) ns = r->second->ns;
      const TrackNamespace& suffix = active ? std::get<Namespace>(m).suffix : std::get<NamespaceDone>(m).suffix;
      ns.insert(ns.end(), suffix.begin(), suffix.end());
      if (handler_) handler_->on_namespace_update(ns, active);
      return;
    }
    case MessageKind::kPublish: return on_publish(std::get<Publish>(m), stream);
    case MessageKind::kRequestUpdate: return on_request_update(std::get<RequestUpdate>(m), stream);
    case MessageKind::kSubscribeTracks: return on_subscribe_tracks(std::get<SubscribeTracks>(m), stream);
    case MessageKind::kPublishBlocked: return;
    default: return protocol_violation(std::string("unexpected ") + to_string(k));
  }
}

// -------------------------------------------------------------------------------------------
// Transport events

// -18: the subscriber cancelled a track we PUBLISHed by resetting / stopping its request stream.
bool Session::peer_cancelled_publish(StreamId stream) {
  auto it = request_streams_.find(stream);
  if (it == request_streams_.end()) return false;
  const uint64_t rid = it->second;
  auto sit = out_subs_.find(rid);
  auto rit = requests_.find(rid);
  if (sit == out_subs_.end() || rit == requests_.end() || rit->second->kind != MessageKind::kPublish) return false;
  for (auto& [k, out] : sit->second->streams) t_.reset_stream(out.stream, kResetCancelled);
  sit->second->streams.clear();
  out_subs_.erase(sit);
  stats_.incoming_subscriptions = out_subs_.size();
  peer_request_stream_by_id_.erase(rid);
  if (rit->second->timer) t_.loop().cancel_timer(rit->second->timer);
  requests_.erase(rit);
  request_streams_.erase(it);
  t_.reset_stream(stream, kResetCancelled);
  return true;
}

void Session::on_stream_reset(StreamId id, uint64_t code) {
  (void)code;
  if (peer_cancelled_publish(id)) return;
  std::erase_if(early_messages_, [id](const auto& e) { return e.second == id; });  // a request withdrawn before SETUP
  // -18: the peer cancelled one of its requests (e.g. unsubscribed) by resetting its stream.
  if (auto it = peer_request_streams_.find(id); it != peer_request_streams_.end()) {
    const uint64_t rid = it->second;
    if (out_subs_.count(rid) || pending_lookups_.count(rid)) on_unsubscribe(rid);
    cancel_fetch_data(rid);
    peer_request_ended(rid);
  }
  if (auto it = uni_.find(id); it != uni_.end()) {
    it->second->end();  // a reset subgroup stream is done too
    // A data stream reset (delivery timeout, cancel): drop its partial object.
    if (it->second->fetch) {
      auto f = in_fetches_.find(it->second->fetch->request_id);
      if (f != in_fetches_.end()) {
        FetchHandler* h = f->second->handler;
        in_fetches_.erase(f);
        if (h) h->on_fetch_error(code, "fetch stream reset");
      }
    }
    uni_.erase(it);
  }
}

void Session::on_stop_sending(StreamId id, uint64_t code) {
  (void)code;
  if (peer_cancelled_publish(id)) return;
  if (auto it = peer_request_streams_.find(id); it != peer_request_streams_.end()) {
    const uint64_t rid = it->second;
    if (out_subs_.count(rid) || pending_lookups_.count(rid)) on_unsubscribe(rid);
    cancel_fetch_data(rid);
    peer_request_ended(rid);
    return;
  }
  // The subscriber stopped one of our data streams: reset it, keep the subscription.
  t_.reset_stream(id, kResetCancelled);
}

void Session::on_stream_drained(StreamId id) {
  auto it = stream_owner_.find(id);
  if (it == stream_owner_.end()) return;
  auto sub = out_subs_.find(it->second);
  if (sub != out_subs_.end() && sub->second->finishing.erase(id)) stream_owner_.erase(it);
}

// -18 FETCH cancelled by the peer (its request stream reset or stopped): stop the data too.
void Session::cancel_fetch_data(uint64_t request_id) {
  for (auto& [data, rid] : fetch_data_streams_)
    if (rid == request_id) return finish_fetch_request(data, true);
}

void Session::finish_fetch_request(StreamId data_stream, bool cancel) {
  auto it = fetch_data_streams_.find(data_stream);
  if (it == fetch_data_streams_.end()) return;
  const uint64_t rid = it->second;
  fetch_data_streams_.erase(it);
  if (cancel) t_.reset_stream(data_stream, kResetCancelled);
  auto rs = peer_request_stream_by_id_.find(rid);
  if (rs == peer_request_stream_by_id_.end()) return;
  if (state_ == State::kReady && !cancel) t_.write(rs->second, SendBuffer{}, true);
  peer_request_streams_.erase(rs->second);
  peer_request_stream_by_id_.erase(rs);
}

void Session::on_stream_closed(StreamId id) {
  finish_fetch_request(id, false);  // a FETCH's data stream is done: so is its request stream
  request_parsers_.erase(id);
  if (auto it = uni_.find(id); it != uni_.end() && it->second->waiting.empty()) {
    it->second->end();
    uni_.erase(it);
  }
}

void Session::on_streams_available(bool bidi) {
  if (!bidi && state_ == State::kReady) {
    std::vector<uint64_t> ids;
    for (auto& [id, sub] : out_subs_)
      if (!sub->waiting.empty()) ids.push_back(id);
    for (uint64_t id : ids)  // looked up again: a write may end a subscription
      if (auto it = out_subs_.find(id); it != out_subs_.end()) it->second->retry_waiting();
    return;
  }
  if (!bidi || blocked_requests_.empty() || state_ != State::kReady) return;
  send_blocked_requests();
}

// Requests that waited (for setup, request ids or streams) go out in id order; once one still
// cannot go, everything after it waits too, so the peer sees ids in order.
void Session::send_blocked_requests() {
  if (state_ != State::kReady) return;
  std::vector<std::unique_ptr<Request>> pending = std::move(blocked_requests_);
  blocked_requests_.clear();
  for (auto& r : pending) {
    if (!blocked_requests_.empty() || (draft_ != Draft::k18 && r->id >= peer_max_request_id_)) {
      blocked_requests_.push_back(std::move(r));
      continue;
    }
    Request* raw = r.get();
    requests_[raw->id] = std::move(r);
    send_request(*raw);  // -18 without a stream: back into blocked_requests_
  }
  if (draft_ != Draft::k18 && !blocked_requests_.empty() && blocked_requests_.front()->id >= peer_max_request_id_)
    send_control(RequestsBlocked{peer_max_request_id_});
}

void Session::on_datagram(std::span<const uint8_t> data) {
  if (state_ != State::kReady) return;
  Result<DecodedDatagram> d = decode_datagram(data, draft_);
  if (!d) return fail(d.error().code, d.error().detail);
  if (d->padding) return;
  ReceivedObject o;
  o.location = {d->header.group_id, d->header.object_id};
  o.publisher_priority = d->header.publisher_priority.value_or(128);
  o.status = d->header.status.value_or(ObjectStatus::kNormal);
  o.properties = d->header.properties;
  o.payload.assign(d->payload.begin(), d->payload.end());
  o.datagram = true;
  ++stats_.objects_received;
  stats_.bytes_received += o.payload.size();
  deliver(d->header.track_alias, std::move(o));  // unknown alias: dropped (datagrams are lossy)
}

void Session::on_closed(const quic::CloseInfo& info) {
  if (state_ == State::kClosed) {
    return;
  }
  state_ = State::kClosed;
  finish_all(kDoneInternalError, info.reason.empty() ? "connection closed" : info.reason);
  SessionHandler* h = handler_;
  handler_ = nullptr;
  if (h) h->on_closed(info.code, info.reason);
}

Session::IncomingSubscription* Session::by_alias(uint64_t alias) {
  auto it = alias_to_sub_.find(alias);
  if (it == alias_to_sub_.end()) return nullptr;
  auto s = in_subs_.find(it->second);
  return s == in_subs_.end() ? nullptr : s->second.get();
}

void Session::deliver(uint64_t track_alias, ReceivedObject&& o) {
  IncomingSubscription* s = by_alias(track_alias);
  if (!s || !s->handler) return;
  s->handler->on_object(o);
}

}  // namespace moqt::session
