// A server Session over the in-memory transport, with the test as its client writing real wire
// bytes: what a third-party peer may legally do that a loopback pair of our own sessions never
// does (requests arriving out of order across streams), and exactly what we put on which
// stream and when (the -18 FETCH request stream stays open until the data stream is done).
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "../common/memory_transport.h"
#include "moqt/session/session.h"
#include "moqt/wire/control_codec.h"
#include "moqt/wire/data_codec.h"

namespace {

using namespace moqt;
using namespace moqt::session;
using namespace moqt::wire;
using quic::StreamId;

const FullTrackName kTrack{{"ns"}, "t"};

// A server session (answering from `registry`) whose client is the test.
class ServerUnderTest {
 public:
  explicit ServerUnderTest(Draft d) : draft(d), t(loop, true, std::string(profile(d).alpn)) {
    track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
    registry.add(track);
    for (uint64_t o = 0; o < 3; ++o) {
      Object obj;
      obj.location = {0, o};
      obj.payload = quic::SendBuffer::take(std::vector<uint8_t>(5, uint8_t(o)));
      track->write(std::move(obj));
    }
    SessionConfig cfg;
    cfg.perspective = Perspective::kServer;
    session = std::make_unique<Session>(t, cfg, nullptr, &registry);
    t.start();
  }
  ~ServerUnderTest() { session.reset(); }

  Bytes encode(const ControlMessage& m) {
    Bytes b;
    auto e = encode_control(m, draft, b);
    EXPECT_FALSE(e) << (e ? e->detail : "");
    return b;
  }
  void send(StreamId id, const ControlMessage& m, bool fin = false) {
    const Bytes b = encode(m);
    EXPECT_TRUE(t.peer_data(id, b, fin)) << "stream " << id;
  }
  // The client's SETUP: CLIENT_SETUP on its first bidi stream (-14/-16), SETUP on a uni control
  // stream (-18). Returns the stream the client's control messages go on.
  StreamId setup() {
    SetupParams p;
    if (draft != Draft::k18) p.max_request_id = 100;
    StreamId ctl = t.peer_stream(0, draft != Draft::k18);
    if (draft == Draft::k18) send(ctl, Setup{p});
    else send(ctl, ClientSetup{draft == Draft::k14 ? std::vector<uint64_t>{profile(Draft::k14).version} : std::vector<uint64_t>{}, p});
    EXPECT_TRUE(session->ready());
    return ctl;
  }
  // Control messages the session wrote on `id`.
  std::vector<ControlMessage> written(StreamId id) {
    std::vector<ControlMessage> out;
    auto it = t.sent().find(id);
    if (it == t.sent().end()) return out;
    ControlStreamParser parser(draft);
    parser.push(it->second.data);
    while (auto m = parser.next()) {
      EXPECT_TRUE(*m) << m->error().detail;
      if (!*m) break;
      out.push_back(std::move(m->value()));
    }
    return out;
  }

  Draft draft;
  quic::EventLoop loop;  // timers only; never run
  test::MemoryTransport t;
  TrackRegistry registry;
  std::shared_ptr<TrackPublisher> track;
  std::unique_ptr<Session> session;
};

Fetch whole_group_fetch(uint64_t request_id) {
  Fetch f;
  f.request_id = request_id;
  f.type = FetchType::kStandalone;
  f.track = kTrack;
  f.start = {0, 0};
  f.end = {0, 0};  // end object 0: the whole end group
  return f;
}

// Our uni stream that carries FETCH data (not the -18 control stream, which has no FIN).
StreamId fetch_data_stream(const test::MemoryTransport& t) {
  for (const auto& [id, s] : t.sent())
    if (s.local && !s.bidi && (s.fin || s.reset)) return id;
  return -1;
}

TEST(SessionMemory, Draft18FetchKeepsTheRequestStreamOpenUntilTheDataStreamIsDone) {
  ServerUnderTest st(Draft::k18);
  st.setup();
  const StreamId req = st.t.peer_stream(0, true);
  st.send(req, whole_group_fetch(0));
  ASSERT_FALSE(st.t.closed()) << st.t.close_reason();
  auto replies = st.written(req);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(kind_of(replies[0]), MessageKind::kFetchOk);
  const StreamId data = fetch_data_stream(st.t);
  ASSERT_GE(data, 0) << "no FETCH data stream";
  EXPECT_FALSE(st.t.sent().at(req).fin) << "request stream finished before the FETCH data stream was done";
  st.t.stream_closed(data);  // the data stream's bytes are acknowledged
  EXPECT_TRUE(st.t.sent().at(req).fin);
  EXPECT_FALSE(st.t.closed());
}

TEST(SessionMemory, Draft18FetchCancelledOnItsRequestStreamResetsTheDataStream) {
  ServerUnderTest st(Draft::k18);
  st.setup();
  const StreamId req = st.t.peer_stream(0, true);
  st.send(req, whole_group_fetch(0));
  const StreamId data = fetch_data_stream(st.t);
  ASSERT_GE(data, 0);
  ASSERT_TRUE(st.t.peer_reset(req, 0x1));
  EXPECT_TRUE(st.t.sent().at(data).reset.has_value());
  EXPECT_FALSE(st.t.closed());
}

// Accepts the track the peer pushes and records what arrives.
struct Pushed : SessionHandler, SubscriptionHandler {
  int objects = 0;
  int objects_at_done = -1;
  std::optional<uint64_t> done;
  SubscriptionHandler* on_incoming_publish(const FullTrackName&) override { return this; }
  void on_object(const ReceivedObject&) override { ++objects; }
  void on_done(uint64_t status, const std::string&) override {
    done = status;
    objects_at_done = objects;
  }
};

// The peer PUBLISHes a track with alias 7 on its first request stream (returned), accepted.
StreamId push_track(ServerUnderTest& st, Pushed& h) {
  st.session->set_session_handler(&h);
  st.setup();
  const StreamId req = st.t.peer_stream(0, true);
  Publish p;
  p.request_id = 0;
  p.track = FullTrackName{{"ns"}, "pushed"};
  p.track_alias = 7;
  st.send(req, p);
  EXPECT_FALSE(st.t.closed()) << st.t.close_reason();
  auto replies = st.written(req);
  EXPECT_EQ(replies.size(), 1u);
  EXPECT_TRUE(!replies.empty() && kind_of(replies[0]) == MessageKind::kRequestOk);
  return req;
}

// The peer pushes a track (PUBLISH on its request stream) and later ends it with PUBLISH_DONE on
// that same stream: the subscription ends with the publisher's status.
TEST(SessionMemory, Draft18PublishDoneOnThePeersPublishStreamEndsTheTrack) {
  Pushed pushed;
  ServerUnderTest st(Draft::k18);
  const StreamId req = push_track(st, pushed);
  PublishDone d;
  d.status_code = 0x2;  // TRACK_ENDED
  d.reason = "done";
  st.send(req, d, true);
  ASSERT_FALSE(st.t.closed()) << st.t.close_reason();
  ASSERT_TRUE(pushed.done.has_value()) << "PUBLISH_DONE was not delivered";
  EXPECT_EQ(*pushed.done, 0x2u);
}

// A status object given properties (which -16+ cannot carry) as the first object of a subgroup:
// sent without them, on a stream that starts with its header (a fuzz find: the stream was opened,
// the object refused, and the next object went out without a header).
TEST(SessionMemory, StatusObjectWithPropertiesStillOpensAWellFormedStream) {
  ServerUnderTest st(Draft::k18);
  st.setup();
  Subscribe sub;
  sub.request_id = 0;
  sub.track = kTrack;
  st.send(st.t.peer_stream(0, true), sub);
  Object eog;
  eog.location = {1, 0};
  eog.status = ObjectStatus::kEndOfGroup;
  eog.properties = {KeyValuePair::integer(0x3e, 1)};
  ASSERT_TRUE(st.track->write(std::move(eog)));
  st.track->end_group(1);
  struct Seen : DataStreamVisitor {
    std::vector<ObjectHeader> objects;
    void on_object(const ObjectHeader& o) override { objects.push_back(o); }
    void on_payload(ByteView, bool) override {}
  };
  int streams = 0;
  for (const auto& [id, sent] : st.t.sent()) {
    if (!sent.local || sent.bidi || !sent.fin) continue;  // data streams end with FIN
    ++streams;
    Seen seen;
    DataStreamParser parser(Draft::k18, seen);
    auto e = parser.feed(sent.data, true);
    EXPECT_FALSE(e) << e->detail;
    ASSERT_EQ(seen.objects.size(), 1u);
    EXPECT_EQ(seen.objects[0].status, ObjectStatus::kEndOfGroup);
  }
  EXPECT_EQ(streams, 1);
}

// More subgroups than the peer lets us open streams for (browsers allow about 100): the rest wait
// for stream credit instead of being dropped, and go, FIN included, once the peer raises the limit.
TEST(SessionMemory, SubgroupsBeyondThePeersStreamLimitWaitForCredit) {
  ServerUnderTest st(Draft::k18);
  st.setup();
  Subscribe sub;
  sub.request_id = 0;
  sub.track = kTrack;
  st.send(st.t.peer_stream(0, true), sub);
  st.t.set_local_stream_limit(3);  // our control stream + 2
  for (uint64_t sg = 0; sg < 5; ++sg) {
    Object o;
    o.location = {1, sg};
    o.subgroup = sg;
    o.payload = quic::SendBuffer::take(std::vector<uint8_t>(4, uint8_t(sg)));
    ASSERT_TRUE(st.track->write(std::move(o)));
  }
  st.track->end_group(1);
  auto data_streams = [&] {
    std::vector<StreamId> v;
    for (const auto& [id, sent] : st.t.sent())
      if (sent.local && !sent.bidi && sent.fin) v.push_back(id);
    return v;
  };
  EXPECT_EQ(data_streams().size(), 2u);
  st.t.set_local_stream_limit(100);
  const auto all = data_streams();
  ASSERT_EQ(all.size(), 5u) << "subgroups beyond the stream limit were lost";
  struct Seen : DataStreamVisitor {
    std::set<uint64_t> objects;
    void on_object(const ObjectHeader& o) override { objects.insert(o.object_id); }
    void on_payload(ByteView, bool) override {}
  } seen;
  for (StreamId id : all) {
    DataStreamParser parser(Draft::k18, seen);
    auto e = parser.feed(st.t.sent().at(id).data, true);
    EXPECT_FALSE(e) << e->detail;
  }
  EXPECT_EQ(seen.objects, (std::set<uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(st.session->stats().objects_dropped, 0u);
}

// PUBLISH_DONE overtaking the data stream it counts (it travels on another stream): the
// subscription ends only after that stream's objects were delivered.
TEST(SessionMemory, PublishDoneWaitsForTheStreamsItCounts) {
  Pushed pushed;
  ServerUnderTest st(Draft::k18);
  const StreamId req = push_track(st, pushed);
  PublishDone d;
  d.status_code = 0x2;
  d.stream_count = 1;
  st.send(req, d, true);
  EXPECT_FALSE(pushed.done.has_value()) << "ended before its data stream arrived";
  Bytes data;
  SubgroupHeader h;
  h.track_alias = 7;
  h.mode = SubgroupIdMode::kZero;
  h.publisher_priority = 128;
  ASSERT_FALSE(encode_subgroup_header(h, Draft::k18, data));
  ObjectHeader o;
  o.payload_length = 3;
  ASSERT_FALSE(encode_subgroup_object(o, std::nullopt, false, Draft::k18, data));
  data.insert(data.end(), {1, 2, 3});
  ASSERT_TRUE(st.t.peer_data(st.t.peer_stream(1, false), data, true));
  EXPECT_EQ(pushed.objects, 1);
  // The end is delivered from the loop (not from inside the stream's processing): one turn.
  st.loop.post([&] { st.loop.stop(); });
  st.loop.run();
  EXPECT_EQ(pushed.objects_at_done, 1);
}

TEST(SessionMemory, Draft16AcceptsRequestIdsOutOfOrderAcrossStreams) {
  ServerUnderTest st(Draft::k16);
  const StreamId ctl = st.setup();
  // A browser publisher's SUBSCRIBE (id 2, control stream) overtakes its earlier
  // SUBSCRIBE_NAMESPACE (id 0), which travels on its own bidi stream.
  Subscribe sub;
  sub.request_id = 2;
  sub.track = kTrack;
  st.send(ctl, sub);
  ASSERT_FALSE(st.t.closed()) << st.t.close_reason();
  SubscribeNamespace sn;
  sn.request_id = 0;
  sn.prefix = {"ns"};
  sn.options = wire::SubscribeOptions::kNamespace;
  const StreamId ns_stream = st.t.peer_stream(1, true);
  st.send(ns_stream, sn);
  ASSERT_FALSE(st.t.closed()) << st.t.close_reason();
  // Both answered: SUBSCRIBE_OK on the control stream, REQUEST_OK on the namespace stream.
  bool subscribed = false;
  for (const auto& m : st.written(ctl)) subscribed = subscribed || kind_of(m) == MessageKind::kSubscribeOk;
  EXPECT_TRUE(subscribed);
  auto ns_replies = st.written(ns_stream);
  ASSERT_FALSE(ns_replies.empty());
  EXPECT_EQ(kind_of(ns_replies[0]), MessageKind::kRequestOk);
  // The next id after both is fine; a duplicate is not.
  sub.request_id = 4;
  st.send(ctl, sub);
  ASSERT_FALSE(st.t.closed()) << st.t.close_reason();
  st.send(ctl, sub);
  EXPECT_TRUE(st.t.closed());
  EXPECT_EQ(st.t.close_code(), uint64_t(SessionError::kInvalidRequestId));
}

TEST(SessionMemory, Draft16RejectsWrongParityAndIdsBeyondMaxRequestId) {
  {
    ServerUnderTest st(Draft::k16);
    const StreamId ctl = st.setup();
    Subscribe sub;
    sub.request_id = 3;  // odd ids are the server's
    sub.track = kTrack;
    st.send(ctl, sub);
    EXPECT_TRUE(st.t.closed());
    EXPECT_EQ(st.t.close_code(), uint64_t(SessionError::kInvalidRequestId));
  }
  {
    ServerUnderTest st(Draft::k16);
    const StreamId ctl = st.setup();
    Subscribe sub;
    sub.request_id = 256;  // the session grants 256 (exclusive) at setup
    sub.track = kTrack;
    st.send(ctl, sub);
    EXPECT_TRUE(st.t.closed());
    EXPECT_EQ(st.t.close_code(), uint64_t(SessionError::kTooManyRequests));
  }
}

}  // namespace
