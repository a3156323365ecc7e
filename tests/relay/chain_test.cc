// Chained relays over loopback: a relay given an upstream sends requests for namespaces nobody
// announced to it there, over one reused session, with its own fan-out and cache. Two and three
// relays, the links at different drafts and transports, namespace subscriptions across the chain,
// and an upstream that goes away and comes back.
#include "relay_fixture.h"

namespace moqt::relay::test {
namespace {

using wire::Draft;

const TrackNamespace kNs{"live", "show"};
const FullTrackName kTrack{kNs, "video"};

// One relay on its own loop thread.
struct Node {
  quic::EventLoop loop;
  std::unique_ptr<Relay> relay;
  uint16_t port = 0;

  // `upstream`: "" or the next relay's URL; the link speaks only `draft`.
  void start(const std::string& upstream = "", Draft draft = Draft::k18, uint16_t fixed_port = 0) {
    if (!loop.running()) loop.start("relay");
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 1, &err);
    ASSERT_TRUE(cert) << err;
    RelayConfig cfg;
    cfg.server.listen = "127.0.0.1:" + std::to_string(fixed_port);
    cfg.server.cert = *cert;
    cfg.linger = std::chrono::milliseconds(300);
    cfg.upstream = upstream;
    cfg.upstream_client.verify = quic::VerifyMode::kInsecure;
    cfg.upstream_client.drafts = {draft};
    cfg.upstream_retry = std::chrono::milliseconds(100);
    loop.run_sync([&] {
      relay = Relay::start(loop, cfg, &err);
      if (relay) {
        relay->set_log([](const std::string&) {});
        port = relay->address().port();
      }
    });
    ASSERT_TRUE(relay) << err;
  }
  void stop_relay() {
    loop.run_sync([&] { relay.reset(); });
  }
  ~Node() {
    stop_relay();
    loop.stop();
  }
  std::string url(bool webtransport) const {
    return std::string(webtransport ? "https" : "moqt") + "://127.0.0.1:" + std::to_string(port) + "/moq";
  }
  RelayStats stats() {
    return on(loop, [&] { return relay ? relay->stats() : RelayStats{}; });
  }
};

struct ChainTest : ::testing::Test {
  quic::EventLoop pub_loop, view_loop;
  std::vector<std::unique_ptr<TrackRegistry>> registries;
  std::vector<std::pair<quic::EventLoop*, std::unique_ptr<Client>>> owned;

  ChainTest() {
    pub_loop.start("publishers");
    view_loop.start("viewers");
  }
  Client* connect(quic::EventLoop& loop, const Node& n, Draft d, bool wt, SessionHandler* h, TrackSource* tracks) {
    auto c = connect_client(loop, n.url(wt), d, h, tracks);
    owned.push_back({&loop, std::move(c)});
    return owned.back().second.get();
  }
  // A publisher announcing kNs (PUBLISH_NAMESPACE) with `track` in its registry.
  Client* announce(const Node& n, Draft d, const TrackNamespace& ns, std::shared_ptr<TrackPublisher> track) {
    registries.push_back(std::make_unique<TrackRegistry>());
    TrackRegistry* reg = registries.back().get();
    if (track) pub_loop.run_sync([&] { reg->add(track); });
    Client* c = connect(pub_loop, n, d, false, nullptr, reg);
    auto ok = std::make_shared<std::promise<bool>>();
    pub_loop.run_sync([&] { c->publish_namespace(ns, [ok](bool good, uint64_t) { ok->set_value(good); }); });
    auto f = ok->get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(f.get());
    return c;
  }
  std::optional<uint64_t> subscribe(Client* c, const FullTrackName& t, Recorder& r) {
    return on(view_loop, [&] { return c->subscribe(t, SubscribeOptions{}, &r); });
  }
  // Clients go before the loops stop (each on its own loop thread).
  void close_clients() {
    for (auto& [loop, c] : owned) loop->run_sync([&] { c.reset(); });
    owned.clear();
    pub_loop.run_sync([&] { registries.clear(); });
  }
  ~ChainTest() override {
    close_clients();
    view_loop.stop();
    pub_loop.stop();
  }
};

void publish_groups(quic::EventLoop& loop, const std::shared_ptr<TrackPublisher>& t, uint64_t first, uint64_t groups,
                    uint64_t per_group) {
  loop.run_sync([&] {
    for (uint64_t g = first; g < first + groups; ++g) {
      for (uint64_t o = 0; o < per_group; ++o) t->write(make_object(g, o));
      t->write(make_object(g, per_group, 1));  // an enhancement layer: subgroup 1
    }
  });
}

// Viewers on B (the edge) get a track published on A (the origin side) through one subscription
// at each hop: A holds one upstream subscription at the publisher and serves B only; B serves
// every viewer. The B -> A link speaks draft 14 over WebTransport, the viewers 14/16/18.
TEST_F(ChainTest, TwoRelaysFanOutOncePerHop) {
  Node a, b;
  a.start();
  b.start(a.url(true), Draft::k14);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(a, Draft::k16, kNs, track);
  std::deque<Recorder> rec(4);
  const std::vector<Draft> drafts = {Draft::k14, Draft::k16, Draft::k18, Draft::k18};
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(subscribe(connect(view_loop, b, drafts[i], i % 2, nullptr, nullptr), kTrack, rec[i]));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(rec[i].wait([&] { return rec[i].ok; })) << "viewer " << i;
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u);
  EXPECT_EQ(a.stats().upstream_subscriptions, 1u);
  EXPECT_EQ(a.stats().downstream_subscriptions, 1u) << "B subscribes once for all its viewers";
  EXPECT_EQ(b.stats().upstream_subscriptions, 1u);
  EXPECT_EQ(b.stats().downstream_subscriptions, 4u);
  EXPECT_TRUE(b.stats().upstream_connected);

  constexpr uint64_t kGroups = 3, kPerGroup = 4;
  publish_groups(pub_loop, track, 0, kGroups, kPerGroup);
  pub_loop.run_sync([&] { track->finish(); });
  const size_t want = kGroups * (kPerGroup + 1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() >= want && rec[i].done; }))
        << "viewer " << i << " got " << rec[i].count();
    expect_intact(rec[i], want, "viewer " + std::to_string(i));
    EXPECT_EQ(*rec[i].done, 0x2u) << "TRACK_ENDED crosses the chain";
  }
  close_clients();
}

// A <- B <- C (links at drafts 18 over QUIC and 16 over WebTransport): a PUBLISHed (pushed) track
// on A reaches viewers on C and on B; a late viewer on C joins from the live group's object 0
// out of C's cache. Each relay holds one subscription upstream.
TEST_F(ChainTest, ThreeRelaysCarryAPushedTrackAndJoinFromTheEdgeCache) {
  Node a, b, c;
  a.start();
  b.start(a.url(false), Draft::k18);
  c.start(b.url(true), Draft::k16);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  Client* pusher = connect(pub_loop, a, Draft::k18, true, nullptr, nullptr);
  auto ok = std::make_shared<std::promise<bool>>();
  pub_loop.run_sync([&] { pusher->publish(track, [ok](bool good, uint64_t) { ok->set_value(good); }); });
  auto f = ok->get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(f.get());

  Recorder on_c, on_b, late;
  ASSERT_TRUE(subscribe(connect(view_loop, c, Draft::k14, false, nullptr, nullptr), kTrack, on_c));
  ASSERT_TRUE(subscribe(connect(view_loop, b, Draft::k16, true, nullptr, nullptr), kTrack, on_b));
  ASSERT_TRUE(on_c.wait([&] { return on_c.ok; }));
  ASSERT_TRUE(on_b.wait([&] { return on_b.ok; }));
  publish_groups(pub_loop, track, 0, 2, 4);
  pub_loop.run_sync([&] {
    for (uint64_t o = 0; o < 3; ++o) track->write(make_object(2, o));
  });
  const size_t want = 2 * 5 + 3;
  ASSERT_TRUE(on_c.wait([&] { return on_c.objects.size() >= want; })) << on_c.count();
  ASSERT_TRUE(on_b.wait([&] { return on_b.objects.size() >= want; })) << on_b.count();
  expect_intact(on_c, want, "viewer on C");
  expect_intact(on_b, want, "viewer on B");
  EXPECT_EQ(b.stats().downstream_subscriptions, 2u) << "C and the viewer";
  EXPECT_EQ(c.stats().upstream_subscriptions, 1u);
  EXPECT_EQ(a.stats().downstream_subscriptions, 1u);

  ASSERT_TRUE(subscribe(connect(view_loop, c, Draft::k18, true, nullptr, nullptr), kTrack, late));
  ASSERT_TRUE(late.wait([&] { return late.ok && late.objects.size() >= 3; })) << late.count();
  {
    std::lock_guard<std::mutex> l(late.mu);
    for (uint64_t o = 0; o < 3; ++o) EXPECT_EQ(late.objects[o].location, (wire::Location{2, o}));
  }
  EXPECT_EQ(a.stats().downstream_subscriptions, 1u) << "the late viewer costs A nothing";
  close_clients();
}

// SUBSCRIBE_NAMESPACE on the edge sees namespaces announced at the origin side, and their ends.
TEST_F(ChainTest, NamespaceSubscriptionsReachAcrossTheChain) {
  Node a, b, c;
  a.start();
  b.start(a.url(false), Draft::k14);
  c.start(b.url(false), Draft::k16);
  NamespaceEvents ev;
  Client* v = connect(view_loop, c, Draft::k18, true, &ev, nullptr);
  view_loop.run_sync([&] { v->session().subscribe_namespace({"live"}, nullptr); });
  ASSERT_TRUE(eventually([&] { return b.stats().upstream_connected && c.stats().upstream_connected; }));
  std::this_thread::sleep_for(200ms);  // the SUBSCRIBE_NAMESPACEs travel up the chain
  Client* pub = announce(a, Draft::k18, {"live", "a"}, nullptr);
  announce(a, Draft::k16, {"other"}, nullptr);
  ASSERT_TRUE(ev.wait([&] { return ev.updates.size() >= 1; }));
  pub_loop.run_sync([&] { pub->close(0, "bye"); });
  ASSERT_TRUE(ev.wait([&] { return ev.updates.size() >= 2; }));
  std::lock_guard<std::mutex> l(ev.mu);
  ASSERT_EQ(ev.updates.size(), 2u) << "{other} is not under {live}";
  EXPECT_EQ(ev.updates[0], std::make_pair(TrackNamespace{"live", "a"}, true));
  EXPECT_EQ(ev.updates[1], std::make_pair(TrackNamespace{"live", "a"}, false));
}

// The upstream relay goes away: the edge's viewers get PUBLISH_DONE, the edge stays up and
// reconnects with backoff; once the upstream is back, viewers on the edge are served again.
TEST_F(ChainTest, UpstreamLostThenBack) {
  Node a, b;
  a.start();
  const uint16_t a_port = a.port;
  b.start(a.url(false), Draft::k18);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(a, Draft::k16, kNs, track);
  Recorder r1;
  Client* v = connect(view_loop, b, Draft::k16, false, nullptr, nullptr);
  ASSERT_TRUE(subscribe(v, kTrack, r1));
  ASSERT_TRUE(r1.wait([&] { return r1.ok; }));
  a.stop_relay();
  ASSERT_TRUE(r1.wait([&] { return r1.done.has_value(); }, 15s)) << "PUBLISH_DONE when the upstream goes";
  ASSERT_TRUE(eventually([&] { return !b.stats().upstream_connected && b.stats().tracks == 0; }, 15s));

  close_clients();
  a.start("", Draft::k18, a_port);
  ASSERT_TRUE(eventually([&] { return b.stats().upstream_connected; }, 15s)) << "B reconnects";
  EXPECT_GE(b.stats().upstream_connects, 2u);
  auto track2 = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(a, Draft::k18, kNs, track2);
  Recorder r2;
  ASSERT_TRUE(subscribe(connect(view_loop, b, Draft::k14, true, nullptr, nullptr), kTrack, r2));
  ASSERT_TRUE(r2.wait([&] { return r2.ok; }));
  publish_groups(pub_loop, track2, 0, 1, 4);
  ASSERT_TRUE(r2.wait([&] { return r2.objects.size() >= 5; })) << r2.count();
  expect_intact(r2, 5, "viewer after the upstream came back");
  close_clients();
}

}  // namespace
}  // namespace moqt::relay::test
