// The relay under bad input and at its limits, over real loopback sockets: a session that sends
// malformed control messages or garbage data streams is closed alone with PROTOCOL_VIOLATION while
// a healthy viewer keeps every object; sessions beyond max_sessions are refused while the others
// go on (and a freed slot is usable at once); the per-track cache stays within its byte bound.
#include "relay_fixture.h"

namespace moqt::relay::test {
namespace {

using wire::Draft;

const TrackNamespace kNs{"live", "show"};
const FullTrackName kTrack{kNs, "video"};
constexpr uint64_t kProtocolViolation = 0x3;

// A client whose transport the test also drives: a real Session does the handshake and SETUP,
// then the test writes bytes of its choosing on the session's streams or on new ones.
struct RawPeer : SessionHandler, Waitable {
  std::unique_ptr<quic::Endpoint> ep;
  std::unique_ptr<webtransport::Session> wt;
  std::unique_ptr<Session> session;  // declared last: destroyed first (it uses wt / the connection)
  quic::Transport* t = nullptr;
  bool ready = false;
  std::optional<uint64_t> closed;

  void on_ready(Draft) override { set([&] { ready = true; }); }
  void on_closed(uint64_t code, const std::string&) override { set([&] { closed = code; }); }

  // On the loop thread. Raw QUIC at `d`, or WebTransport offering `d`.
  bool open(quic::EventLoop& loop, uint16_t port, Draft d, bool webtransport, TrackSource* tracks = nullptr) {
    std::string err;
    quic::ClientTlsConfig tc;
    tc.alpns = webtransport ? std::vector<std::string>{"h3"} : alpns_for({d});
    tc.server_name = "127.0.0.1";
    tc.verify = quic::VerifyMode::kInsecure;
    auto tls = quic::ClientTls::create(tc, &err);
    auto remote = quic::SocketAddress::resolve("127.0.0.1", port);
    if (!tls || !remote) return false;
    ep = quic::Endpoint::client(loop, remote->family(), quic::QuicConfig{}, &err);
    if (!ep) return false;
    quic::Connection* conn = ep->connect(*remote, tls, nullptr, &err);
    if (!conn) return false;
    SessionConfig sc;
    sc.drafts = {d};
    t = conn;
    if (webtransport) {
      webtransport::ClientOptions wo;
      wo.authority = "127.0.0.1:" + std::to_string(port);
      wo.path = "/moq";
      if (d != Draft::k14) wo.protocols.emplace_back(wire::profile(d).alpn);
      wt = webtransport::Session::client(*conn, wo, nullptr);
      t = wt.get();
      sc.webtransport = true;
    } else {
      sc.path = "/moq";
      sc.authority = "127.0.0.1:" + std::to_string(port);
    }
    session = std::make_unique<Session>(*t, sc, this, tracks);
    return true;
  }
  bool send(quic::StreamId id, std::vector<uint8_t> bytes, bool fin = false) {
    return t->write(id, quic::SendBuffer::take(std::move(bytes)), fin);
  }
};

struct RelayRobustness : RelayFixture, ::testing::Test {
  std::deque<RawPeer> raw;  // on view_loop

  RawPeer& raw_peer(Draft d, bool webtransport, TrackSource* tracks = nullptr) {
    RawPeer& p = raw.emplace_back();
    bool ok = false;
    view_loop.run_sync([&] { ok = p.open(view_loop, relay->address().port(), d, webtransport, tracks); });
    EXPECT_TRUE(ok);
    return p;
  }
  RawPeer& ready_peer(Draft d, bool webtransport, TrackSource* tracks = nullptr) {
    RawPeer& p = raw_peer(d, webtransport, tracks);
    EXPECT_TRUE(p.wait([&] { return p.ready || p.closed; })) << "no SETUP";
    EXPECT_TRUE(p.ready);
    return p;
  }
  void teardown() {
    view_loop.run_sync([&] { raw.clear(); });
    stop();
  }
};

// A healthy publisher and viewer; five sessions misbehave in different ways, each is closed with
// PROTOCOL_VIOLATION and nothing else is disturbed.
TEST_F(RelayRobustness, MalformedInputClosesOnlyThatSession) {
  start_relay();
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k16, false, kNs, track);
  Recorder healthy;
  ASSERT_TRUE(subscribe(viewer(Draft::k18, true), kTrack, healthy));
  ASSERT_TRUE(healthy.wait([&] { return healthy.ok; }));
  uint64_t next = 0;  // objects of group 0, subgroup 0, one after each attack
  auto publish_one = [&] { pub_loop.run_sync([&] { track->write(make_object(0, next++)); }); };
  publish_one();

  // Each attacker is a viewer of the healthy track first, so the relay has to tear down a real
  // downstream subscription along with it.
  std::deque<Recorder> theirs;
  auto attacker = [&](Draft d, bool wt) -> RawPeer& {
    RawPeer& p = ready_peer(d, wt);
    Recorder& r = theirs.emplace_back();
    view_loop.run_sync([&] { p.session->subscribe(kTrack, SubscribeOptions{}, &r); });
    EXPECT_TRUE(r.wait([&] { return r.ok; }));
    return p;
  };
  auto expect_violation = [&](RawPeer& p, const std::string& what) {
    ASSERT_TRUE(p.wait([&] { return p.closed.has_value(); })) << what << ": the relay kept the session";
    EXPECT_EQ(*p.closed, kProtocolViolation) << what;
    publish_one();
  };

  // -16 over raw QUIC: a message of an unknown type on the control stream (the client's first
  // bidi stream), its type varint split across two writes.
  {
    RawPeer& p = attacker(Draft::k16, false);
    ASSERT_TRUE(on(view_loop, [&] { return p.send(0, {0x7F}); }));
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(p.closed) << "half a message type is no error yet";
    ASSERT_TRUE(on(view_loop, [&] { return p.send(0, {0xFF, 0x00, 0x02, 0xAB, 0xCD}); }));
    expect_violation(p, "-16 unknown control message");
  }
  // -14 over raw QUIC: a SUBSCRIBE whose length cuts its fields short.
  {
    RawPeer& p = attacker(Draft::k14, false);
    ASSERT_TRUE(on(view_loop, [&] { return p.send(0, {0x03, 0x00, 0x02, 0x02, 0x01}); }));
    expect_violation(p, "-14 truncated SUBSCRIBE");
  }
  // -18 over WebTransport: a request stream that ends inside its message (a SUBSCRIBE announcing
  // 64 bytes, carrying 3).
  {
    RawPeer& p = attacker(Draft::k18, true);
    ASSERT_TRUE(on(view_loop, [&] {
      auto s = p.t->open_bidi_stream();
      return s && p.send(*s, {0x03, 0x00, 0x40, 0x00, 0x01, 0x02}, true);
    }));
    expect_violation(p, "-18 request stream ended inside a message");
  }
  // -16 over WebTransport, a publisher of its own namespace: a uni stream of no known type.
  {
    RawPeer& p = attacker(Draft::k16, true);
    auto announced = std::make_shared<std::promise<bool>>();
    view_loop.run_sync([&] { p.session->publish_namespace({"bad"}, [announced](bool ok, uint64_t) { announced->set_value(ok); }); });
    auto f = announced->get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    ASSERT_TRUE(f.get());
    EXPECT_EQ(stats().namespaces, 2u);
    ASSERT_TRUE(on(view_loop, [&] {
      auto s = p.t->open_uni_stream();
      return s && p.send(*s, {0x3F, 0xDE, 0xAD, 0xBE, 0xEF});
    }));
    expect_violation(p, "-16 uni stream of an unknown type");
    ASSERT_TRUE(eventually([&] { return stats().namespaces == 1; })) << "its namespace goes with it";
  }
  // -18 over raw QUIC, a publisher that PUBLISHed a track: a subgroup stream of that track (alias
  // 1, the session's first) whose object ends before its announced payload length.
  {
    RawPeer& p = attacker(Draft::k18, false);
    auto pushed = std::make_shared<TrackPublisher>(FullTrackName{{"bad18"}, "t"}, TrackOptions{});
    auto published = std::make_shared<std::promise<bool>>();
    view_loop.run_sync([&] { p.session->publish(pushed, [published](bool ok, uint64_t) { published->set_value(ok); }); });
    auto f = published->get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    ASSERT_TRUE(f.get());
    ASSERT_TRUE(on(view_loop, [&] {
      auto s = p.t->open_uni_stream();
      // SUBGROUP_HEADER 0x10: alias 1, group 0 (subgroup 0); object delta 0, 100 payload bytes
      // announced, 3 sent, FIN.
      return s && p.send(*s, {0x10, 0x01, 0x00, 0x00, 0x40, 0x64, 0x01, 0x02, 0x03}, true);
    }));
    expect_violation(p, "-18 subgroup stream ended inside an object");
  }

  // Only the attackers went; the healthy viewer has every object, in order.
  ASSERT_TRUE(healthy.wait([&] { return healthy.objects.size() == next; })) << healthy.count() << " of " << next;
  expect_intact(healthy, next, "healthy viewer");
  EXPECT_FALSE(healthy.done.has_value());
  const RelayStats st = stats();
  EXPECT_EQ(st.sessions, 2u);
  EXPECT_EQ(st.upstream_subscriptions, 1u);
  EXPECT_EQ(st.downstream_subscriptions, 1u);
  EXPECT_EQ(st.namespaces, 1u);
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u);
  teardown();
}

// max_sessions = 4: a fifth and sixth session (raw QUIC, WebTransport) are refused and never set
// up, the four go on; once one leaves, a newcomer gets its slot at once. The QUIC endpoint's own
// connection limit (here lower) does not undercut max_sessions.
TEST_F(RelayRobustness, SessionsBeyondTheLimitAreRefused) {
  RelayConfig cfg;
  cfg.server.max_sessions = 4;
  cfg.server.quic.max_connections = 2;
  start_relay(cfg);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k18, false, kNs, track);
  std::deque<Recorder> rec(3);
  const Draft drafts[] = {Draft::k14, Draft::k16, Draft::k18};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(subscribe(viewer(drafts[i], i % 2), kTrack, rec[i]));
  for (auto& r : rec) ASSERT_TRUE(r.wait([&] { return r.ok; }));
  ASSERT_EQ(stats().sessions, 4u);

  RawPeer& over_quic = raw_peer(Draft::k16, false);
  RawPeer& over_wt = raw_peer(Draft::k18, true);
  ASSERT_TRUE(over_quic.wait([&] { return over_quic.closed.has_value(); })) << "raw QUIC beyond the limit";
  ASSERT_TRUE(over_wt.wait([&] { return over_wt.closed.has_value(); })) << "WebTransport beyond the limit";
  EXPECT_FALSE(over_quic.ready);
  EXPECT_FALSE(over_wt.ready);
  EXPECT_EQ(stats().sessions, 4u);

  pub_loop.run_sync([&] {
    for (uint64_t o = 0; o < 5; ++o) track->write(make_object(0, o));
  });
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() == 5; })) << "viewer " << i << ": " << rec[i].count();
    expect_intact(rec[i], 5, "viewer " + std::to_string(i));
  }

  // A viewer leaves: its slot is free as soon as the relay has seen it go.
  view_loop.run_sync([&] { viewers[0]->close(0, "bye"); });
  ASSERT_TRUE(eventually([&] { return stats().sessions == 3; }));
  RawPeer& next = raw_peer(Draft::k18, false);
  ASSERT_TRUE(next.wait([&] { return next.ready || next.closed; }));
  EXPECT_TRUE(next.ready) << "refused with " << next.closed.value_or(0) << " although a slot was free";
  teardown();
}

// The relay's per-track cache stays within cache_bytes however much is published: many small
// groups, and one group larger than the bound (not cached at all then: a joiner gets its live
// objects). The viewer still gets every object.
TEST_F(RelayRobustness, CacheStaysWithinItsByteBound) {
  RelayConfig cfg;
  cfg.cache_bytes = 40000;
  start_relay(cfg);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k16, true, kNs, track);
  Recorder r;
  ASSERT_TRUE(subscribe(viewer(Draft::k14, false), kTrack, r));
  ASSERT_TRUE(r.wait([&] { return r.ok; }));

  size_t sent = 0, published_bytes = 0, max_cache = 0;
  auto write = [&](uint64_t g, uint64_t o) {
    pub_loop.run_sync([&] { track->write(make_object(g, o, 0, 2000)); });
    published_bytes += 2000 + o;
    ++sent;
    // Once the viewer has it, the relay's cache has seen it too.
    ASSERT_TRUE(r.wait([&] { return r.objects.size() == sent; })) << r.count() << " of " << sent;
    const size_t c = stats().cache_bytes;
    max_cache = std::max(max_cache, c);
    ASSERT_LE(c, cfg.cache_bytes) << "after group " << g << " object " << o;
  };
  std::vector<std::pair<uint64_t, uint64_t>> plan;
  for (uint64_t g = 0; g < 10; ++g)  // 10 groups of 10 kB
    for (uint64_t o = 0; o < 5; ++o) plan.emplace_back(g, o);
  for (uint64_t o = 0; o < 40; ++o) plan.emplace_back(10, o);  // one group of 80 kB
  for (uint64_t o = 0; o < 5; ++o) plan.emplace_back(11, o);   // and the next
  Recorder joiner;  // comes while the big group is live: nothing of it is cached any more
  for (auto [g, o] : plan) {
    if (g == 10 && o == 30) {
      ASSERT_TRUE(subscribe(viewer(Draft::k18, true), kTrack, joiner));
      ASSERT_TRUE(joiner.wait([&] { return joiner.ok; }));
    }
    write(g, o);
    if (HasFatalFailure()) return teardown();
  }
  // The joiner gets the big group's live objects, then the next group whole.
  ASSERT_TRUE(joiner.wait([&] { return joiner.objects.size() == 15; })) << joiner.count();
  {
    std::lock_guard<std::mutex> l(joiner.mu);
    EXPECT_EQ(joiner.objects.front().location, (wire::Location{10, 30}));
    EXPECT_EQ(joiner.objects[10].location, (wire::Location{11, 0}));
  }
  EXPECT_GT(published_bytes, 4 * cfg.cache_bytes);
  EXPECT_GT(max_cache, cfg.cache_bytes / 2) << "the cache was used";
  teardown();
}

}  // namespace
}  // namespace moqt::relay::test
