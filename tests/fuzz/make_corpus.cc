// Writes the seed corpora for the fuzz targets: valid control streams (every sample message of
// every draft) and valid data streams and datagrams, each prefixed with the target's selector
// bytes; and for fuzz_session, valid conversations with a Session (session_program.h) for each
// perspective and protocol. Usage: make_corpus OUTDIR  (creates OUTDIR/control, data, session)
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "../wire/samples.h"
#include "moqt/wire/control_codec.h"
#include "moqt/wire/data_codec.h"
#include "session_program.h"

using namespace moqt::wire;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& dir, const std::string& name, const Bytes& prefix, const Bytes& body) {
  std::ofstream f(dir / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(prefix.data()), static_cast<std::streamsize>(prefix.size()));
  f.write(reinterpret_cast<const char*>(body.data()), static_cast<std::streamsize>(body.size()));
}

void check(const std::optional<WireError>& e) {
  if (e) {
    std::cerr << "make_corpus: " << e->detail << "\n";
    std::exit(1);
  }
}


// --- fuzz_session -----------------------------------------------------------------------------
// A conversation with a Session as a program: the peer's side encoded with the real codec for
// the negotiated draft, on the streams that draft puts it on (the -14/-16 control stream, -18
// request streams and uni control streams), and the application's calls. It predicts the
// request ids and streams the session uses, so replies reach the requests they answer.
namespace seeds {

using namespace moqt::fuzz;

const FullTrackName kVideo{{"example.net", "live", "cam"}, "video"};  // local track 0, remote track 0
const FullTrackName kAudio{{"example.net", "live", "cam"}, "audio"};  // local track 1
const FullTrackName kMissing{{"example.net", "live"}, "nothing"};

using Versions = std::vector<uint64_t>;

// A request and where its replies go.
struct Request {
  uint64_t id = 0;
  uint8_t stream = 0;
};

class Conversation {
 public:
  Conversation(bool server, uint8_t protocol, uint8_t flags = 0, uint8_t policy = 0)
      : server_(server), webtransport_(kProtocols[protocol].webtransport), d_(draft_of(protocol)) {
    program_ = {config(server, protocol, flags), policy};
    next_session_id_ = server ? 1 : 0;
    next_peer_id_ = server ? 0 : 1;
    if (d_ == Draft::k18) {
      control_ = stream(StreamKind::kPeerUni, peer_uni_++);
      ++local_uni_;  // the session's own control stream
    } else if (server) {
      control_ = stream(StreamKind::kPeerBidi, peer_bidi_++);
    } else {
      control_ = stream(StreamKind::kLocalBidi, local_bidi_++);
    }
  }

  static Draft draft_of(uint8_t protocol) {
    const std::string name = kProtocols[protocol].name;
    return name == "moqt-16" ? Draft::k16 : name == "moqt-18" ? Draft::k18 : Draft::k14;
  }
  Draft draft() const { return d_; }
  bool d14() const { return d_ == Draft::k14; }
  bool d18() const { return d_ == Draft::k18; }
  uint8_t control() const { return control_; }
  const Bytes& program() const { return program_; }

  void op(Op o, std::initializer_list<uint8_t> operands = {}) {
    program_.push_back(uint8_t(o));
    program_.insert(program_.end(), operands);
  }

  // --- the peer ---
  // Bytes on a stream, in `pieces` writes (FIN with the last).
  void write(uint8_t sel, const Bytes& data, bool fin = false, size_t pieces = 1) {
    size_t pos = 0;
    for (size_t i = 0; i < pieces; ++i) {
      const size_t n = i + 1 == pieces ? data.size() - pos : data.size() / pieces;
      op(Op::kPeerWrite, {sel, uint8_t(fin && i + 1 == pieces)});
      put_length(program_, n);
      program_.insert(program_.end(), data.begin() + long(pos), data.begin() + long(pos + n));
      pos += n;
    }
  }
  Bytes encode(const ControlMessage& m) const {
    Bytes b;
    if (auto e = encode_control(m, d_, b)) fail(std::string(to_string(kind_of(m))) + ": " + e->detail);
    return b;
  }
  void send(uint8_t sel, const ControlMessage& m, bool fin = false, size_t pieces = 1) {
    write(sel, encode(m), fin, pieces);
  }
  void setup(const std::string& implementation = "fuzz-peer/1", uint64_t max_request_id = 100) {
    SetupParams p;
    p.implementation = implementation;
    if (!d18()) p.max_request_id = max_request_id;
    if (server_ && !webtransport_) p.path = "/moq";  // a raw-QUIC client's PATH (refused over WebTransport)
    if (d18()) send(control_, Setup{p});
    else if (server_) send(control_, ClientSetup{d14() ? Versions{0xff00000e} : Versions{}, p});
    else send(control_, ServerSetup{d14() ? 0xff00000eu : 0u, p});
  }
  // A request of the peer: on the control stream (-14/-16) or a new request stream (-18, and the
  // -16 SUBSCRIBE_NAMESPACE).
  Request peer_request(ControlMessage m, bool own_stream_in_16 = false, size_t pieces = 1) {
    Request r{next_peer_id_, control_};
    next_peer_id_ += 2;
    if (d18() || (own_stream_in_16 && d_ == Draft::k16)) r.stream = stream(StreamKind::kPeerBidi, peer_bidi_++);
    send(r.stream, with_id(std::move(m), r.id), false, pieces);
    return r;
  }
  // A reply of the peer to one of the session's requests, or a message about one of the peer's
  // (-18: on the request's stream, which identifies it). `fin` ends the request's own stream,
  // never the shared -14/-16 control stream.
  void reply(const Request& r, ControlMessage m, bool fin = false) {
    send(r.stream, with_id(std::move(m), r.id), fin && r.stream != control_);
  }
  // A subgroup stream: objects [first, first + count) of (group, subgroup), in `pieces` writes.
  uint8_t subgroup(uint64_t alias, uint64_t group, uint64_t sg, uint64_t first, uint64_t count, bool fin = true,
                   size_t pieces = 1, bool properties = false) {
    SubgroupHeader h;
    h.track_alias = alias;
    h.group_id = group;
    h.mode = SubgroupIdMode::kExplicit;
    h.subgroup_id = sg;
    h.has_properties = properties;
    h.publisher_priority = 7;
    Bytes s;
    check(encode_subgroup_header(h, d_, s));
    std::optional<uint64_t> prev;
    for (uint64_t id = first; id < first + count; ++id) {
      ObjectHeader o;
      o.object_id = id;
      if (properties) o.properties = {KeyValuePair::integer(0x3c, id)};
      const std::string payload = "object-" + std::to_string(group) + "-" + std::to_string(id);
      o.payload_length = payload.size();
      check(encode_subgroup_object(o, prev, properties, d_, s));
      s.insert(s.end(), payload.begin(), payload.end());
      prev = id;
    }
    const uint8_t sel = stream(StreamKind::kPeerUni, peer_uni_++);
    write(sel, s, fin, pieces);
    return sel;
  }
  void datagram(uint64_t alias, uint64_t group, uint64_t object) {
    ObjectDatagram g;
    g.track_alias = alias;
    g.group_id = group;
    g.object_id = object;
    g.publisher_priority = 7;
    Result<Bytes> b = encode_datagram(g, as_bytes(std::string("datagram")), d_);
    if (!b) fail(b.error().detail);
    op(Op::kPeerDatagram);
    put_length(program_, b->size());
    program_.insert(program_.end(), b->begin(), b->end());
  }
  // A fetch stream answering `r` (ascending), in `pieces` writes; -16+ can mark a range of
  // unknown objects after the first one.
  uint8_t fetch_stream(const Request& r, const std::vector<Location>& objects, size_t pieces = 1,
                       std::optional<Location> unknown_range = std::nullopt) {
    Bytes s;
    check(encode_fetch_header(FetchHeader{r.id}, d_, s));
    FetchObjectEncoder enc(d_, GroupOrder::kAscending);
    for (const Location& l : objects) {
      FetchObject o;
      o.location = l;
      o.payload_length = 5;
      check(enc.encode(o, s));
      s.insert(s.end(), {'f', 'e', 't', 'c', 'h'});
      if (unknown_range && !d14()) {
        FetchObject marker;
        marker.entry = FetchEntry::kEndOfUnknownRange;
        marker.location = *std::exchange(unknown_range, std::nullopt);
        check(enc.encode(marker, s));
      }
    }
    const uint8_t sel = stream(StreamKind::kPeerUni, peer_uni_++);
    write(sel, s, true, pieces);
    return sel;
  }

  // --- the application: each request records the id and stream the session will use ---
  Request app_request(Op o, std::initializer_list<uint8_t> operands, bool own_stream_in_16 = false) {
    op(o, operands);
    return next_session_request(own_stream_in_16);
  }
  // A request the session makes by itself (or a handler makes from a callback).
  Request next_session_request(bool own_stream_in_16 = false) {
    Request r{next_session_id_, control_};
    next_session_id_ += 2;
    if (d18() || (own_stream_in_16 && d_ == Draft::k16)) r.stream = stream(StreamKind::kLocalBidi, local_bidi_++);
    return r;
  }
  Request app_subscribe(uint8_t track = 0, uint8_t options = kOptionsLargest, uint8_t act = 0) {
    ++subscriptions_;
    return app_request(Op::kSubscribe, {track, options, act});
  }
  uint8_t last_subscription() const { return uint8_t(subscriptions_ - 1); }
  // A subscription a handler makes from inside a callback (it becomes the next one too).
  Request callback_subscribe() {
    ++subscriptions_;
    return next_session_request();
  }
  void skip_session_id() { next_session_id_ += 2; }
  // REQUEST_UPDATE of the application: it takes a request id and needs no reply.
  void app_update(uint8_t subscription, uint8_t options) {
    op(Op::kUpdate, {subscription, options});
    skip_session_id();
  }
  // PUBLISH of a new local track; returns its local track index.
  std::pair<Request, uint8_t> app_publish() {
    return {app_request(Op::kPublish, {}), uint8_t(2 + pushed_tracks_++)};
  }
  // The peer's REQUEST_UPDATE of one of its subscriptions (-18: on that request's stream).
  void peer_update(const Request& existing) {
    const uint64_t id = next_peer_id_;
    next_peer_id_ += 2;
    send(d18() ? existing.stream : control_, with_id(update(existing.id), id));
  }
  void write_object(uint8_t track, uint8_t flags, size_t len = 16, uint8_t hints = 0) {
    op(Op::kWrite, {track, flags, hints});
    put_length(program_, len);
  }
  // The session's next data stream (subgroup or fetch) on its side.
  uint8_t session_data_stream() { return stream(StreamKind::kLocalUni, local_uni_++); }

  // --- messages, with the fields each draft requires ---
  Subscribe subscribe(const FullTrackName& t, FilterType ft = FilterType::kLargestObject) const {
    Subscribe s;
    s.track = t;
    s.params.subscriber_priority = 10;
    s.params.group_order = GroupOrder::kAscending;
    s.params.forward = true;
    s.params.filter = SubscriptionFilter{ft, {}, {}};
    if (ft == FilterType::kAbsoluteStart) s.params.filter->start = {0, 1};
    return s;
  }
  SubscribeOk subscribe_ok(uint64_t alias, std::optional<Location> largest) const {
    SubscribeOk ok;
    ok.track_alias = alias;
    ok.params.largest_object = largest;
    if (d14()) {
      ok.params.expires = 0;
      ok.params.group_order = GroupOrder::kAscending;
    }
    return ok;
  }
  RequestOk request_ok(RequestKind of, std::optional<Location> largest = std::nullopt) const {
    RequestOk ok{d14() || (of == RequestKind::kPublish && d_ == Draft::k16) ? of : RequestKind::kUnspecified, 0, {}, {}};
    if (of == RequestKind::kPublish) {
      ok.params.forward = true;
      ok.params.subscriber_priority = 3;
      ok.params.group_order = GroupOrder::kAscending;
      ok.params.filter = SubscriptionFilter{FilterType::kLargestObject, {}, {}};
    }
    if (of == RequestKind::kTrackStatus) {
      ok.params.largest_object = largest;
      if (d14()) {
        ok.params.expires = 0;
        ok.params.group_order = GroupOrder::kAscending;
      }
    }
    return ok;
  }
  RequestError request_error(RequestKind of, uint64_t code) const {
    return RequestError{d14() ? of : RequestKind::kUnspecified, 0, code, d14() ? 0u : 1001u, "refused", {}};
  }
  Publish publish(const FullTrackName& t, uint64_t alias) const {
    Publish p;
    p.track = t;
    p.track_alias = alias;
    p.params.forward = true;
    p.params.largest_object = Location{0, 0};
    if (d14()) p.params.group_order = GroupOrder::kAscending;
    return p;
  }
  Fetch fetch(const FullTrackName& t, Location start, Location end) const {
    Fetch f;
    f.type = FetchType::kStandalone;
    f.track = t;
    f.start = start;
    f.end = end;
    f.params.subscriber_priority = 1;
    f.params.group_order = GroupOrder::kAscending;
    return f;
  }
  Fetch joining_fetch(uint64_t subscription, FetchType type, uint64_t start) const {
    Fetch f;
    f.type = type;
    f.joining_request_id = subscription;
    f.joining_start = start;
    f.params.subscriber_priority = 0;
    if (d14()) f.params.group_order = GroupOrder::kAscending;
    return f;
  }
  FetchOk fetch_ok(Location end) const {
    FetchOk ok;
    ok.end_location = end;
    if (d14()) ok.params.group_order = GroupOrder::kAscending;
    return ok;
  }
  TrackStatus track_status(const FullTrackName& t) const {
    TrackStatus s;
    s.track = t;
    if (d14()) s.params = {.forward = false, .subscriber_priority = 128, .filter = SubscriptionFilter{},
                           .group_order = GroupOrder::kPublisher};
    return s;
  }
  RequestUpdate update(uint64_t existing) const {
    RequestUpdate u;
    u.existing_request_id = d18() ? 0 : existing;
    u.params.filter = SubscriptionFilter{FilterType::kAbsoluteStart, {1, 0}, {}};
    u.params.subscriber_priority = 20;
    u.params.forward = true;
    return u;
  }
  Goaway goaway() const {
    Goaway g;
    if (!server_) g.new_session_uri = "moqt://other.example.net/moq";  // only a server names one
    if (d18()) g.timeout_ms = 1000;
    return g;
  }

 private:
  static ControlMessage with_id(ControlMessage m, uint64_t id) {
    std::visit(
        [&](auto& x) {
          if constexpr (requires { x.request_id = id; }) x.request_id = id;
        },
        m);
    return m;
  }
  [[noreturn]] void fail(const std::string& what) const {
    std::cerr << "make_corpus: session seed (draft " << int(d_) << "): " << what << "\n";
    std::exit(1);
  }

  bool server_, webtransport_;
  Draft d_;
  Bytes program_;
  uint8_t control_ = 0;
  uint8_t peer_bidi_ = 0, peer_uni_ = 0, local_bidi_ = 0, local_uni_ = 0;
  uint64_t next_session_id_ = 0, next_peer_id_ = 0;
  size_t subscriptions_ = 0, pushed_tracks_ = 0;
};


// The peer subscribes to local track 0 while the application writes it; then FETCH, joining
// FETCHes, REQUEST_UPDATE, TRACK_STATUS, a second track with STOP_SENDING, unsubscribe.
void peer_subscribes(Conversation& c) {
  c.write_object(0, 0);
  c.write_object(0, 0);
  const Request sub = c.peer_request(c.subscribe(kVideo), false, 2);
  c.write_object(0, 0, 100);
  const uint8_t first_data = c.session_data_stream();
  c.write_object(0, kWriteNewGroup | kWriteSubgroup1 | kWriteProperties);
  c.session_data_stream();
  c.write_object(0, kWriteDatagram, 30);
  c.write_object(0, kWriteSubgroup1 | kWriteEndSubgroup);
  c.op(Op::kDrain);
  c.op(Op::kStreamClosed, {first_data});
  c.peer_request(c.fetch(kVideo, {0, 0}, {2, 0}));
  c.session_data_stream();
  c.peer_request(c.joining_fetch(sub.id, FetchType::kRelativeJoining, 1));
  c.session_data_stream();
  c.peer_request(c.joining_fetch(sub.id, FetchType::kAbsoluteJoining, 0));
  c.session_data_stream();
  c.op(Op::kDrain);
  c.peer_update(sub);
  c.peer_request(c.track_status(kVideo));
  c.peer_request(c.track_status(kMissing));
  c.peer_request(c.subscribe(kAudio, FilterType::kAbsoluteStart));
  c.write_object(1, kWriteProperties);
  const uint8_t audio_data = c.session_data_stream();
  c.write_object(1, kWriteProperties | kWriteEndOfGroup);
  c.op(Op::kPeerStopSending, {audio_data, 1});
  c.write_object(1, kWriteNewGroup | kWriteProperties);
  c.op(Op::kEndGroup, {1});
  c.op(Op::kFinishTrack, {1, 0});
  c.op(Op::kDrain);
  if (c.d18()) c.op(Op::kPeerReset, {sub.stream, 0});
  else c.reply(sub, Unsubscribe{});
  c.write_object(0, 0);
  c.op(Op::kDrain);
}

// The application subscribes; SUBSCRIBE_OK, subgroup streams in pieces, a datagram, a joining
// FETCH answered with a fetch stream, an update, PUBLISH_DONE.
void app_subscribes(Conversation& c, const Request& sub) {
  const uint8_t index = c.last_subscription();
  c.reply(sub, c.subscribe_ok(7, Location{3, 0}));
  c.subgroup(7, 3, 0, 0, 3, true, 3);
  c.subgroup(7, 4, 1, 0, 2, false, 1, true);
  c.datagram(7, 4, 5);
  const Request jf = c.app_request(Op::kJoiningFetch, {index, 1, 1, 0});
  c.reply(jf, c.fetch_ok({3, 1}));
  c.fetch_stream(jf, {{2, 0}, {2, 1}, {3, 0}}, 2);
  c.app_update(index, 0x03);
  c.reply(sub, PublishDone{0, 0x2, 2, "track ended"}, c.d18());
}

// Objects arrive before the SUBSCRIBE_OK that names their alias.
void early_data(Conversation& c) {
  const Request sub = c.app_subscribe();
  c.subgroup(5, 0, 0, 0, 2, false);
  c.datagram(5, 0, 9);
  c.reply(sub, c.subscribe_ok(5, std::nullopt));
  c.subgroup(5, 1, 0, 0, 2, true, 2);
}

// The peer pushes a track with PUBLISH, then its data and PUBLISH_DONE.
void peer_publishes(Conversation& c) {
  const Request pub = c.peer_request(c.publish(FullTrackName{{"peer", "ns"}, "pushed"}, 9));
  c.subgroup(9, 0, 0, 0, 3, true, 2);
  c.datagram(9, 1, 0);
  c.subgroup(9, 1, 1, 1, 2, true);
  c.reply(pub, PublishDone{0, 0x2, 2, "done"}, c.d18());
}

// PUBLISH_NAMESPACE and SUBSCRIBE_NAMESPACE both ways, a refused announcement, withdrawals.
void namespaces(Conversation& c) {
  const TrackNamespace live{"example.net", "live"};
  const Request pn = c.peer_request(PublishNamespace{0, live, {}});
  c.peer_request(SubscribeNamespace{0, {"example.net"}, SubscribeOptions::kNamespace, {}}, true);
  if (c.d14()) {  // -14 answers with PUBLISH_NAMESPACE of the matching local namespace
    const Request own = c.next_session_request();
    c.reply(own, c.request_ok(RequestKind::kPublishNamespace));
  }
  const Request mine = c.app_request(Op::kPublishNamespace, {0});
  c.reply(mine, c.request_ok(RequestKind::kPublishNamespace));
  const Request sub_ns = c.app_request(Op::kSubscribeNamespace, {2}, true);
  c.reply(sub_ns, c.request_ok(RequestKind::kSubscribeNamespace));
  if (c.d14()) {
    c.peer_request(PublishNamespace{0, {"live", "cam"}, {}});
  } else {
    c.reply(sub_ns, Namespace{{"feed"}});
    c.reply(sub_ns, NamespaceDone{{"feed"}});
  }
  if (!c.d18()) c.reply(pn, PublishNamespaceDone{live, 0});
  c.op(Op::kPublishNamespaceDone, {0});
  const Request refused = c.app_request(Op::kPublishNamespace, {1});
  c.reply(refused, c.request_error(RequestKind::kPublishNamespace, 0x1), true);
}

// Standalone FETCHes: served, refused, cancelled from inside on_object.
void app_fetches(Conversation& c) {
  const Request f = c.app_request(Op::kFetch, {0, 1, 3, 0});
  c.reply(f, c.fetch_ok({3, 1}));
  c.fetch_stream(f, {{1, 0}, {2, 0}, {3, 0}}, 3);
  const Request g = c.app_request(Op::kFetch, {1, 0, 1, 0});
  c.reply(g, c.request_error(RequestKind::kFetch, 0x10), true);
  const Request h = c.app_request(Op::kFetch, {0, 5, 6, action(Action::kUnsubscribeOnObject, 1)});
  c.reply(h, c.fetch_ok({6, 1}));
  c.fetch_stream(h, {{5, 0}, {5, 1}, {6, 0}});
}

// The application pushes a local track with PUBLISH; PUBLISH_OK, objects, STOP_SENDING, end.
void app_publishes(Conversation& c) {
  const auto [pub, track] = c.app_publish();
  RequestOk ok = c.request_ok(RequestKind::kPublish);
  ok.params.filter = SubscriptionFilter{FilterType::kAbsoluteStart, {0, 1}, {}};  // skips the first object
  c.reply(pub, ok);
  c.write_object(track, 0);
  const uint8_t data = c.session_data_stream();
  c.write_object(track, 0);
  c.write_object(track, kWriteNewGroup);
  c.session_data_stream();
  c.op(Op::kDrain);
  c.op(Op::kPeerStopSending, {data, 1});
  c.write_object(track, kWriteNewGroup | kWriteDatagram);
  c.op(Op::kFinishTrack, {track, 0});
}

// TRACK_STATUS both ways; the harness subscribes from inside a positive reply.
void track_status(Conversation& c) {
  const Request ts = c.app_request(Op::kTrackStatus, {0});
  c.reply(ts, c.request_ok(RequestKind::kTrackStatus, Location{2, 0}), c.d18());
  const Request sub = c.callback_subscribe();
  c.reply(sub, c.subscribe_ok(11, Location{2, 0}));
  c.subgroup(11, 3, 0, 0, 1);
  const Request ts2 = c.app_request(Op::kTrackStatus, {1});
  c.reply(ts2, c.request_error(RequestKind::kTrackStatus, 0x10), true);
  c.peer_request(c.track_status(kVideo));
}

// GOAWAY both ways, then the end of the connection.
void goaway(Conversation& c, bool app_close) {
  const Request sub = c.app_subscribe();
  c.reply(sub, c.subscribe_ok(13, std::nullopt));
  c.send(c.control(), c.goaway());
  c.op(Op::kGoaway, {1});
  c.op(Op::kSubscribe, {0, kOptionsLargest, 0});  // refused after GOAWAY: no request id used
  c.subgroup(13, 0, 0, 0, 1);
  if (app_close) c.op(Op::kClose, {0});
  else c.op(Op::kPeerClose, {0});
}

// A subscription whose handler calls back into the session (Action), while the peer
// subscribes to local track 0 (where kForwardToLocal writes).
void reentrancy(Conversation& c, Action a) {
  c.peer_request(c.subscribe(kVideo));
  const Request sub = c.app_subscribe(0, kOptionsLargest, action(a, 1));
  c.reply(sub, c.subscribe_ok(15, Location{0, 0}));
  if (a == Action::kJoiningFetchOnOk) {
    const Request jf = c.next_session_request();
    c.reply(jf, c.fetch_ok({0, 1}));
    c.fetch_stream(jf, {{0, 0}});
  }
  c.subgroup(15, 1, 0, 0, 4, true, 2);
  if (a == Action::kUpdateOnObject) c.skip_session_id();  // the handler's REQUEST_UPDATE
  c.datagram(15, 1, 9);
  c.reply(sub, PublishDone{0, 0x2, 1, "done"}, c.d18());
  if (a == Action::kResubscribeOnDone) {
    const Request again = c.callback_subscribe();
    c.reply(again, c.subscribe_ok(16, std::nullopt));
    c.subgroup(16, 2, 0, 0, 1);
  }
  c.op(Op::kDrain);
}

// Requests queued behind the transport's stream limit, then released.
void stream_limit(Conversation& c) {
  std::vector<Request> subs;
  for (int i = 0; i < 3; ++i) subs.push_back(c.app_subscribe(uint8_t(i)));
  c.op(Op::kStreamLimit, {20});
  for (size_t i = 0; i < subs.size(); ++i) c.reply(subs[i], c.subscribe_ok(20 + i, std::nullopt));
}

// A congested link: queued bytes stay until drained, so the queue bound resets old groups and
// DELIVERY_TIMEOUT (1 ms, checked after 6 ms) resets late subgroups.
void congestion(Conversation& c) {
  Subscribe s = c.subscribe(kVideo);
  s.params.delivery_timeout = 1;
  c.peer_request(s);
  c.peer_request(c.subscribe(kAudio));
  for (int g = 0; g < 4; ++g)
    for (int o = 0; o < 3; ++o) c.write_object(uint8_t(g % 2), uint8_t(o == 0 ? kWriteNewGroup : 0), 120);
  c.op(Op::kRunTimers, {kRunTimersWait});
  c.op(Op::kDrain);
  c.write_object(0, kWriteNewGroup | kWriteEndSubgroup, 40);
  c.op(Op::kDrain);
}

// Messages and forms the other scenarios leave out: other filters (and an invalid range),
// FETCH_CANCEL, REQUESTS_BLOCKED, PUBLISH_NAMESPACE_CANCEL, UNSUBSCRIBE_NAMESPACE, -18
// SUBSCRIBE_TRACKS and PUBLISH_BLOCKED, a fetch stream with a range marker.
void odd_messages(Conversation& c) {
  c.write_object(0, 0);
  c.write_object(0, kWriteNewGroup);
  c.peer_request(c.subscribe(kVideo, FilterType::kNextGroupStart));
  Subscribe range = c.subscribe(kVideo, FilterType::kAbsoluteRange);
  range.params.filter->start = {0, 0};
  range.params.filter->end_group = 4;
  c.peer_request(range);
  if (!c.d18()) {  // -18 codes the end as a delta: an end before the start cannot be sent
    range.params.filter->start = {5, 0};
    range.params.filter->end_group = 2;
    c.peer_request(range);
  }
  const Request f = c.peer_request(c.fetch(kVideo, {0, 0}, {1, 0}));
  c.session_data_stream();
  if (!c.d18()) {
    c.send(c.control(), FetchCancel{f.id});
    c.send(c.control(), RequestsBlocked{100});
  }
  const Request ns = c.app_request(Op::kPublishNamespace, {0});
  c.reply(ns, c.request_ok(RequestKind::kPublishNamespace));
  if (!c.d18()) c.send(c.control(), PublishNamespaceCancel{{"example.net", "live"}, ns.id, 0x1, "cancelled"});
  if (c.d14()) c.send(c.control(), UnsubscribeNamespace{{"example.net"}});
  if (c.d18()) {
    c.peer_request(SubscribeTracks{0, {"example.net"}, {}});
    c.send(c.control(), PublishBlocked{{"feed"}, "t"});
  }
  const Request af = c.app_request(Op::kFetch, {0, 1, 9, 0});
  c.reply(af, c.fetch_ok({9, 1}));
  c.fetch_stream(af, {{1, 0}, {9, 0}}, 1, Location{8, 5});
}

// Subgroup header forms the application asks for, object id gaps, reset subgroups.
void header_forms(Conversation& c) {
  c.peer_request(c.subscribe(kVideo));
  c.write_object(0, 0, 10, kHintExplicit);
  c.write_object(0, kWriteSubgroup1, 10, kHintEndOfGroup | kHintObjectGap);
  c.write_object(0, 0, 10, kHintFirstObject | kHintSubgroupIsObject);
  c.write_object(0, kWriteNewGroup, 10, kHintFirstObject | kHintSubgroupIsObject);
  c.write_object(0, kWriteSubgroup1, 5);
  c.op(Op::kEndGroup, {0, 2});  // reset subgroup 1
  c.write_object(0, kWriteSubgroup1, 5);  // refused: its subgroup was reset
  c.write_object(0, 0, 5, kHintEndOfGroup);
  c.op(Op::kEndGroup, {0, 0});
  c.op(Op::kDrain);
}

using Scenario = std::function<void(Conversation&)>;

// Every scenario for each perspective and protocol, plus variants of setup and configuration.
int write_session_seeds(const fs::path& dir) {
  fs::create_directories(dir);
  int n = 0;
  auto emit = [&](const std::string& name, const Conversation& c) {
    write(dir, name, {}, c.program());
    ++n;
  };
  const std::vector<std::pair<std::string, Scenario>> scenarios = {
      {"setup", [](Conversation& c) { c.setup(); c.op(Op::kDrain); }},
      {"peer-subscribes", [](Conversation& c) { c.setup(); peer_subscribes(c); }},
      {"app-subscribes", [](Conversation& c) { c.setup(); app_subscribes(c, c.app_subscribe()); }},
      {"subscribe-before-setup", [](Conversation& c) {
         const Request s = c.app_subscribe();
         c.setup();
         app_subscribes(c, s);
       }},
      {"early-data", [](Conversation& c) { c.setup(); early_data(c); }},
      {"peer-publishes", [](Conversation& c) { c.setup(); peer_publishes(c); }},
      {"namespaces", [](Conversation& c) { c.setup(); namespaces(c); }},
      {"app-fetches", [](Conversation& c) { c.setup(); app_fetches(c); }},
      {"app-publishes", [](Conversation& c) { c.setup(); app_publishes(c); }},
      {"track-status", [](Conversation& c) { c.setup(); track_status(c); }},
      {"goaway-peer-close", [](Conversation& c) { c.setup(); goaway(c, false); }},
      {"goaway-app-close", [](Conversation& c) { c.setup(); goaway(c, true); }},
      {"request-before-setup", [](Conversation& c) {
         // Data may race the SETUP; so may -18 requests (on their own streams).
         c.subgroup(3, 0, 0, 0, 1, false);
         if (c.d18()) c.peer_request(c.subscribe(kVideo));
         c.setup();
         if (!c.d18()) c.peer_request(c.subscribe(kVideo));
         c.write_object(0, 0);
       }},
      {"odd-messages", [](Conversation& c) { c.setup(); odd_messages(c); }},
      {"header-forms", [](Conversation& c) { c.setup(); header_forms(c); }},
      {"stream-limit", [](Conversation& c) {
         c.op(Op::kStreamLimit, {1});
         c.setup();
         stream_limit(c);
       }},
      {"all", [](Conversation& c) {
         c.setup();
         peer_subscribes(c);
         app_subscribes(c, c.app_subscribe());
         early_data(c);
         peer_publishes(c);
         namespaces(c);
         app_fetches(c);
         app_publishes(c);
         track_status(c);
         reentrancy(c, Action::kForwardToLocal);
         header_forms(c);
         goaway(c, false);
       }},
  };
  for (bool server : {false, true}) {
    {  // A protocol the session does not speak, with requests waiting for the setup.
      Conversation c(server, kProtocolUnsupported);
      c.app_subscribe();
      c.op(Op::kPublishNamespace, {0});
      c.op(Op::kDrain);  // the transport becomes ready
      c.op(Op::kSubscribe, {0, kOptionsLargest, 0});
      emit(std::string(server ? "server" : "client") + "-unsupported-protocol", c);
    }
    for (uint8_t protocol : {0, 1, 2, 3, 5, 6}) {
      const std::string who = std::string(server ? "server-" : "client-") + (kProtocols[protocol].webtransport ? "wt" : "") +
                              "d" + std::to_string(int(Conversation::draft_of(protocol)));
      for (const auto& [name, scenario] : scenarios) {
        Conversation c(server, protocol);
        scenario(c);
        emit(who + "-" + name, c);
      }
      for (uint8_t a = 1; a < uint8_t(Action::kCount); ++a) {
        Conversation c(server, protocol);
        c.setup();
        reentrancy(c, Action(a));
        emit(who + "-reentrancy-" + std::to_string(a), c);
      }
      {  // Request timeouts (and the setup timeout) fire when the timers run.
        Conversation c(server, protocol, kZeroTimeouts);
        c.app_subscribe();
        c.op(Op::kTrackStatus, {0});
        c.op(Op::kPublishNamespace, {1});
        c.setup();
        c.op(Op::kRunTimers, {0});
        emit(who + "-request-timeouts", c);
        Conversation s(server, protocol, kZeroTimeouts);
        s.app_subscribe();
        s.op(Op::kRunTimers, {0});
        emit(who + "-setup-timeout", s);
      }
      {
        Conversation c(server, protocol, kQueueing | kSmallLimits);
        c.setup();
        congestion(c);
        emit(who + "-congestion", c);
      }
      {  // The policy's handlers: refuse, close on GOAWAY, subscribe on ready, publish handlers.
        Conversation c(server, protocol, 0, kPolicyRefusePublish | kPolicyRefuseNamespace | kPolicyCloseOnGoaway);
        c.setup();
        c.peer_request(c.publish(FullTrackName{{"peer"}, "refused"}, 30));
        c.peer_request(PublishNamespace{0, {"peer"}, {}});
        c.send(c.control(), c.goaway());
        emit(who + "-policy-refuse", c);
        Conversation r(server, protocol, 0, uint8_t(kPolicySubscribeOnReady | publish_action(Action::kCloseOnObject)));
        Request early = r.app_subscribe();
        r.setup();
        // on_ready runs before the queued request goes out: in -18 it gets the first stream.
        Request on_ready = r.callback_subscribe();
        if (r.d18()) std::swap(early.stream, on_ready.stream);
        r.reply(early, r.subscribe_ok(40, std::nullopt));
        r.reply(on_ready, r.subscribe_ok(41, std::nullopt));
        peer_publishes(r);
        emit(who + "-policy-subscribe-on-ready", r);
      }
      if (Conversation::draft_of(protocol) != Draft::k18) {
        // -14/-16 request-id flow control: requests wait for MAX_REQUEST_ID.
        Conversation c(server, protocol);
        c.setup("fuzz-peer/1", server ? 3 : 2);
        const Request a = c.app_subscribe(), b = c.app_subscribe(1);
        c.send(c.control(), MaxRequestId{40});
        c.reply(a, c.subscribe_ok(50, std::nullopt));
        c.reply(b, c.request_error(RequestKind::kSubscribe, 0x10));
        emit(who + "-max-request-id", c);
      } else {  // @moq/net workarounds (and without them)
        for (uint8_t flags : {uint8_t(0), uint8_t(kNoWorkarounds)}) {
          Conversation c(server, protocol, flags);
          c.setup("moq-lite-js/0.1");
          peer_subscribes(c);
          emit(who + "-moq-lite-js" + (flags ? "-strict" : ""), c);
        }
      }
    }
  }
  return n;
}

}  // namespace seeds

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus OUTDIR\n";
    return 2;
  }
  const fs::path control = fs::path(argv[1]) / "control", data = fs::path(argv[1]) / "data";
  fs::create_directories(control);
  fs::create_directories(data);
  int n = 0;
  for (uint8_t di = 0; di < std::size(kAllDrafts); ++di) {
    const Draft d = kAllDrafts[di];
    Bytes all;
    for (const ControlMessage& m : moqt::wire::test::sample_messages(d)) {
      Bytes one;
      check(encode_control(m, d, one));
      write(control, "d" + std::to_string(int(d)) + "-" + std::to_string(n++), {di, 7}, one);
      all.insert(all.end(), one.begin(), one.end());
    }
    write(control, "d" + std::to_string(int(d)) + "-all", {di, 3}, all);

    // Subgroup streams: explicit id with properties; zero id; first-object id.
    const bool d14 = d == Draft::k14;
    for (int variant = 0; variant < 3; ++variant) {
      SubgroupHeader h;
      h.track_alias = 2;
      h.group_id = 10;
      h.mode = variant == 0 ? SubgroupIdMode::kExplicit : variant == 1 ? SubgroupIdMode::kZero : SubgroupIdMode::kFirstObject;
      h.subgroup_id = variant == 0 ? 1 : 0;
      h.has_properties = variant != 1;
      h.end_of_group = variant == 2;
      if (d14 || variant != 1) h.publisher_priority = 5;
      Bytes s;
      check(encode_subgroup_header(h, d, s));
      std::optional<uint64_t> prev;
      for (uint64_t id : {0, 1, 3}) {
        ObjectHeader o;
        o.object_id = id;
        if (h.has_properties && id == 1) o.properties = {KeyValuePair::integer(0x3c, 2), KeyValuePair::bytes(0x41, "trace")};
        const std::string payload = id == 3 ? "" : "payload-" + std::to_string(id);
        o.payload_length = payload.size();
        if (id == 3) o.status = ObjectStatus::kEndOfGroup;
        check(encode_subgroup_object(o, prev, h.has_properties, d, s));
        s.insert(s.end(), payload.begin(), payload.end());
        prev = id;
      }
      write(data, "d" + std::to_string(int(d)) + "-subgroup-" + std::to_string(variant), {di, 5, 0}, s);
    }
    // A fetch stream.
    for (GroupOrder order : {GroupOrder::kAscending, GroupOrder::kDescending}) {
      Bytes s;
      check(encode_fetch_header(FetchHeader{4}, d, s));
      FetchObjectEncoder enc(d, order);
      const uint64_t groups[] = {5, 6, 8};
      for (int gi = 0; gi < 3; ++gi) {
        const uint64_t g = order == GroupOrder::kAscending ? groups[gi] : groups[2 - gi];
        for (uint64_t obj = 0; obj < 3; ++obj) {
          FetchObject o;
          o.location = {g, obj};
          o.subgroup_id = obj == 2 ? 1 : 0;
          o.publisher_priority = obj == 2 ? 9 : 128;
          if (obj == 1) o.properties = {KeyValuePair::integer(0x02, 7)};
          o.payload_length = 3;
          check(enc.encode(o, s));
          s.insert(s.end(), {'a', 'b', 'c'});
        }
        if (!d14 && gi == 1) {
          FetchObject marker;
          marker.entry = FetchEntry::kEndOfUnknownRange;
          marker.location = {g, 9};
          check(enc.encode(marker, s));
        }
      }
      write(data, "d" + std::to_string(int(d)) + "-fetch-" + std::to_string(int(order)),
            {di, 9, static_cast<uint8_t>(order == GroupOrder::kDescending)}, s);
    }
    // Datagrams.
    for (int variant = 0; variant < 4; ++variant) {
      ObjectDatagram g;
      g.track_alias = 3;
      g.group_id = 1;
      g.object_id = variant;
      g.end_of_group = variant == 1;
      if (d14 || variant != 2) g.publisher_priority = 64;
      if (variant == 3) g.status = ObjectStatus::kEndOfTrack;
      if (variant == 2) g.properties = {KeyValuePair::integer(0x04, 1)};
      const std::string payload = variant == 3 ? "" : "datagram";
      Result<Bytes> b = encode_datagram(g, as_bytes(payload), d);
      if (!b) check(b.error());
      write(data, "d" + std::to_string(int(d)) + "-datagram-" + std::to_string(variant), {di, 1, 0}, *b);
    }
  }
  const int sessions = seeds::write_session_seeds(fs::path(argv[1]) / "session");
  std::cout << "seed corpus written to " << argv[1] << " (" << sessions << " session programs)\n";
  return 0;
}
