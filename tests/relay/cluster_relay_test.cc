// Relays as one cluster (Redis control plane, relay-to-relay MoQT): three relays on 127.0.0.11,
// .12 and .13 (distinct loopback addresses, as distinct hosts) and one redis-server started for
// the test. A publisher on A is watched on B and C; A carries one subscription per track for each
// of B and C whatever the number of viewers; namespaces announced on A are seen (and end) on C;
// an unknown namespace is refused; with Redis down, local delivery goes on and remote lookups fail
// with a clear error, then work again when Redis is back.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/free_port.h"
#include "../common/redis_server.h"
#include "moqt/relay/auth.h"
#include "relay_fixture.h"

namespace moqt::relay::test {
namespace {

using moqt::test::RedisServer;
using moqt::test::free_udp_port;
using wire::Draft;

const TrackNamespace kNs{"live", "show"};
const FullTrackName kTrack{kNs, "video"};

struct Node {
  std::string id, ip;
  uint16_t port = 0;
  quic::EventLoop loop;
  std::unique_ptr<Relay> relay;
  std::mutex mu;
  std::vector<std::string> log;

  // `auth`: relays require JWTs; `cluster_token`: what this relay presents to the others.
  void start(const std::string& node_id, const std::string& addr, const std::string& redis,
             std::shared_ptr<const Authorizer> auth = nullptr, const std::string& cluster_token = "") {
    id = node_id;
    ip = addr;
    loop.start("relay-" + id);
    std::string err;
    auto cert = quic::generate_self_signed({ip}, 1, &err);
    ASSERT_TRUE(cert) << err;
    port = free_udp_port(ip);
    RelayConfig cfg;
    cfg.server.listen = ip + ":" + std::to_string(port);
    cfg.server.cert = *cert;
    cfg.linger = std::chrono::milliseconds(300);
    cfg.cluster.redis = redis;
    cfg.cluster.node_id = id;
    cfg.cluster.advertise = url(false);
    cfg.cluster.ttl = std::chrono::milliseconds(900);
    cfg.cluster.command_timeout = std::chrono::milliseconds(500);
    cfg.cluster_client.verify = quic::VerifyMode::kInsecure;
    cfg.cluster_client.drafts = {Draft::k18};
    cfg.cluster_link_linger = std::chrono::milliseconds(500);
    cfg.auth = auth;
    if (!cluster_token.empty()) cfg.cluster_client.auth_token = cluster_token;
    loop.run_sync([&] {
      relay = Relay::start(loop, cfg, &err);
      if (relay)
        relay->set_log([this](const std::string& line) {
          std::lock_guard<std::mutex> l(mu);
          log.push_back(line);
        });
    });
    ASSERT_TRUE(relay) << err;
  }
  ~Node() {
    if (loop.running()) loop.run_sync([&] { relay.reset(); });
    loop.stop();
  }
  std::string url(bool wt) const {
    return std::string(wt ? "https" : "moqt") + "://" + ip + ":" + std::to_string(port) + "/moq";
  }
  RelayStats stats() {
    return on(loop, [&] { return relay ? relay->stats() : RelayStats{}; });
  }
  bool logged(const std::string& what) {
    std::lock_guard<std::mutex> l(mu);
    for (auto& line : log)
      if (line.find(what) != std::string::npos) return true;
    return false;
  }
};

struct ClusterRelayTest : ::testing::Test {
  RedisServer redis;
  std::deque<Node> nodes;
  quic::EventLoop pub_loop, view_loop;
  std::vector<std::unique_ptr<TrackRegistry>> registries;
  std::vector<std::unique_ptr<Client>> publishers, viewers;

  ClusterRelayTest() {
    pub_loop.start("publishers");
    view_loop.start("viewers");
  }
  ~ClusterRelayTest() override {
    close_viewers();
    pub_loop.run_sync([&] {
      publishers.clear();
      registries.clear();
    });
    nodes.clear();
    view_loop.stop();
    pub_loop.stop();
  }
  std::shared_ptr<const Authorizer> auth;  // set by a test before start_nodes()
  std::string cluster_token;
  void SetUp() override { ASSERT_TRUE(redis.running()); }
  void start_nodes() {
    const char* ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; ++i) {
      nodes.emplace_back();
      nodes.back().start(ids[i], "127.0.0." + std::to_string(11 + i), redis.url(), auth, cluster_token);
    }
    for (Node& n : nodes) ASSERT_TRUE(eventually([&] { return n.stats().cluster_connected; }));
  }
  void close_viewers() {
    // The relays hear it now, not at an idle timeout (a WebTransport close needs its packets out
    // before the connection object goes).
    view_loop.run_sync([&] {
      for (auto& v : viewers) v->close(0, "bye");
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    view_loop.run_sync([&] { viewers.clear(); });
  }
  Node& A() { return nodes[0]; }
  Node& B() { return nodes[1]; }
  Node& C() { return nodes[2]; }

  Client* announce(Node& n, Draft d, std::shared_ptr<TrackPublisher> track) {
    registries.push_back(std::make_unique<TrackRegistry>());
    TrackRegistry* reg = registries.back().get();
    pub_loop.run_sync([&] { reg->add(track); });
    publishers.push_back(connect_client(pub_loop, n.url(false), d, nullptr, reg));
    Client* c = publishers.back().get();
    auto ok = std::make_shared<std::promise<bool>>();
    pub_loop.run_sync([&] { c->publish_namespace(track->name().ns, [ok](bool g, uint64_t) { ok->set_value(g); }); });
    auto f = ok->get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(f.get());
    return c;
  }
  Client* viewer(Node& n, Draft d, bool wt, SessionHandler* h = nullptr) {
    viewers.push_back(connect_client(view_loop, n.url(wt), d, h, nullptr));
    return viewers.back().get();
  }
};

TEST_F(ClusterRelayTest, PublisherOnOneRelayWatchedOnTheOthersThroughOneSubscriptionEach) {
  start_nodes();
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(A(), Draft::k16, track);
  ASSERT_TRUE(eventually([&] { return B().stats().namespaces == 1 && C().stats().namespaces == 1; }))
      << "announced on A, known on B and C through Redis";
  const std::vector<std::pair<Draft, bool>> kinds = {
      {Draft::k14, false}, {Draft::k16, true}, {Draft::k18, false}, {Draft::k18, true}};
  std::deque<Recorder> rec(2 * 6);
  for (size_t i = 0; i < rec.size(); ++i) {
    auto [d, wt] = kinds[i % kinds.size()];
    Client* v = viewer(i < 6 ? B() : C(), d, wt);
    ASSERT_TRUE(on(view_loop, [&] { return v->subscribe(kTrack, SubscribeOptions{}, &rec[i]); }));
  }
  for (auto& r : rec) ASSERT_TRUE(r.wait([&] { return r.ok || r.error; }));
  for (size_t i = 0; i < rec.size(); ++i) ASSERT_FALSE(rec[i].error) << "viewer " << i << ": " << *rec[i].error;
  pub_loop.run_sync([&] {
    for (uint64_t g = 0; g < 2; ++g)
      for (uint64_t o = 0; o < 5; ++o) track->write(make_object(g, o));
  });
  for (size_t i = 0; i < rec.size(); ++i) {
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() == 10; })) << "viewer " << i;
    expect_intact(rec[i], 10, "viewer " + std::to_string(i));
  }
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u) << "the publisher serves A once";
  const RelayStats a = A().stats(), b = B().stats(), c = C().stats();
  EXPECT_EQ(a.upstream_subscriptions, 1u);
  EXPECT_EQ(a.downstream_subscriptions, 2u) << "one for B, one for C, whatever their viewers";
  EXPECT_EQ(b.upstream_subscriptions, 1u);
  EXPECT_EQ(b.downstream_subscriptions, 6u);
  EXPECT_EQ(b.cluster_links, 1u);
  EXPECT_EQ(c.upstream_subscriptions, 1u);
  EXPECT_EQ(c.downstream_subscriptions, 6u);
  EXPECT_EQ(a.cluster_links, 0u);

  // The viewers go: B's and C's subscriptions at A end after the linger, then the links close.
  close_viewers();
  ASSERT_TRUE(eventually([&] { return A().stats().downstream_subscriptions == 0; })) << [&] {
    std::string out;
    for (Node& n : nodes) {
      const RelayStats s = n.stats();
      out += n.id + ": down " + std::to_string(s.downstream_subscriptions) + " up " +
             std::to_string(s.upstream_subscriptions) + " tracks " + std::to_string(s.tracks) + " links " +
             std::to_string(s.cluster_links) + " sessions " + std::to_string(s.sessions) + "\n";
      std::lock_guard<std::mutex> l(n.mu);
      for (auto& line : n.log) out += "  " + line + "\n";
    }
    return out;
  }();
  ASSERT_TRUE(eventually([&] { return B().stats().cluster_links == 0 && C().stats().cluster_links == 0; }));
}

TEST_F(ClusterRelayTest, NamespacesAnnouncedAnywhereAreSeenEverywhereWithTheirEnds) {
  start_nodes();
  NamespaceEvents ev14, ev18;
  Client* v14 = viewer(C(), Draft::k14, false, &ev14);
  Client* v18 = viewer(C(), Draft::k18, true, &ev18);
  view_loop.run_sync([&] {
    v14->session().subscribe_namespace({"live"}, nullptr);
    v18->session().subscribe_namespace({"live"}, nullptr);
  });
  std::this_thread::sleep_for(200ms);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  Client* pub = announce(A(), Draft::k18, track);
  for (NamespaceEvents* e : {&ev14, &ev18}) {
    ASSERT_TRUE(e->wait([&] { return e->updates.size() == 1; }));
    std::lock_guard<std::mutex> l(e->mu);
    EXPECT_EQ(e->updates[0], std::make_pair(kNs, true));
  }
  pub_loop.run_sync([&] { pub->close(0, "bye"); });
  for (NamespaceEvents* e : {&ev14, &ev18}) {
    ASSERT_TRUE(e->wait([&] { return e->updates.size() == 2; }));
    std::lock_guard<std::mutex> l(e->mu);
    EXPECT_EQ(e->updates[1], std::make_pair(kNs, false));
  }
  close_viewers();
}

TEST_F(ClusterRelayTest, UnknownNamespaceIsRefused) {
  start_nodes();
  Recorder r;
  Client* v = viewer(B(), Draft::k18, false);
  ASSERT_TRUE(on(view_loop, [&] { return v->subscribe({{"nobody"}, "x"}, SubscribeOptions{}, &r); }));
  ASSERT_TRUE(r.wait([&] { return r.ok || r.error; }));
  EXPECT_EQ(r.error, std::optional<uint64_t>(0x10)) << "DOES_NOT_EXIST";
  close_viewers();
}

TEST_F(ClusterRelayTest, RedisDownLocalDeliveryGoesOnRemoteLookupsFailThenRecover) {
  start_nodes();
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(A(), Draft::k18, track);
  ASSERT_TRUE(eventually([&] { return B().stats().namespaces == 1; }));
  Recorder local, remote_before;
  Client* va = viewer(A(), Draft::k18, false);
  Client* vb = viewer(B(), Draft::k16, false);
  ASSERT_TRUE(on(view_loop, [&] { return va->subscribe(kTrack, SubscribeOptions{}, &local); }));
  ASSERT_TRUE(on(view_loop, [&] { return vb->subscribe(kTrack, SubscribeOptions{}, &remote_before); }));
  ASSERT_TRUE(local.wait([&] { return local.ok; }));
  ASSERT_TRUE(remote_before.wait([&] { return remote_before.ok; }));

  redis.stop();
  for (Node& n : nodes) ASSERT_TRUE(eventually([&] { return !n.stats().cluster_connected; }));
  pub_loop.run_sync([&] { track->write(make_object(0, 0)); });
  ASSERT_TRUE(local.wait([&] { return local.objects.size() == 1; })) << "A serves its own viewers";
  ASSERT_TRUE(remote_before.wait([&] { return remote_before.objects.size() == 1; }))
      << "an established relay-to-relay subscription does not need Redis";
  // A new namespace on A cannot be found from C while Redis is down: a clear error.
  auto other = std::make_shared<TrackPublisher>(FullTrackName{{"live", "other"}, "v"}, TrackOptions{});
  announce(A(), Draft::k18, other);
  Recorder during;
  Client* vc = viewer(C(), Draft::k18, false);
  ASSERT_TRUE(on(view_loop, [&] { return vc->subscribe(other->name(), SubscribeOptions{}, &during); }));
  ASSERT_TRUE(during.wait([&] { return during.ok || during.error; }));
  EXPECT_TRUE(during.error.has_value()) << "not found while Redis is down";
  EXPECT_TRUE(C().logged("cluster lookup of live-other failed")) << "said why";
  EXPECT_GE(C().stats().cluster_lookup_errors, 1u);

  ASSERT_TRUE(redis.start());
  ASSERT_TRUE(eventually([&] { return C().stats().cluster_connected; }));
  std::deque<Recorder> probes;  // outlive their subscriptions (the viewers go first)
  ASSERT_TRUE(eventually(
      [&] {
        Recorder& probe = probes.emplace_back();
        if (!on(view_loop, [&] { return vc->subscribe(other->name(), SubscribeOptions{}, &probe); })) return false;
        if (!probe.wait([&] { return probe.ok || probe.error; })) return false;
        return probe.ok;
      },
      10s))
      << "found again once the claims are back in Redis";
  close_viewers();
}


// A relay told to drain sends its clients to the least loaded other live relay (from the
// membership); a viewer moves there (GOAWAY) and keeps receiving the track.
TEST_F(ClusterRelayTest, DrainSendsClientsToTheLeastLoadedRelay) {
  start_nodes();
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(A(), Draft::k18, track);  // A has a session more than C
  ASSERT_TRUE(eventually([&] { return B().stats().namespaces == 1; }));
  Recorder r;
  Client* v = viewer(B(), Draft::k18, false);
  ASSERT_TRUE(on(view_loop, [&] { return v->subscribe(kTrack, SubscribeOptions{}, &r); }));
  ASSERT_TRUE(r.wait([&] { return r.ok; }));
  pub_loop.run_sync([&] { track->write(make_object(0, 0)); });
  ASSERT_TRUE(r.wait([&] { return r.objects.size() == 1; }));
  // The load each relay reports reaches Redis within a second and a renewal.
  std::string target;
  ASSERT_TRUE(eventually(
      [&] {
        auto p = std::make_shared<std::promise<std::string>>();
        B().loop.post([&, p] { B().relay->cluster_goaway_target([p](std::string u) { p->set_value(u); }); });
        target = p->get_future().get();
        return target == C().url(false);
      },
      5s))
      << "least loaded other relay: C, got '" << target << "'";
  B().loop.post([&] { B().relay->drain(target, 5s, [] {}); });
  ASSERT_TRUE(eventually([&] { return on(view_loop, [&] { return v->stats().moves; }) == 1; }))
      << "the viewer followed the GOAWAY to C";
  // The old session may still deliver what it had started while the new one comes up.
  ASSERT_TRUE(eventually([&] { return C().stats().downstream_subscriptions >= 1; })) << "subscribed at C";
  pub_loop.run_sync([&] { track->write(make_object(1, 0)); });
  ASSERT_TRUE(r.wait([&] { return r.objects.size() == 2; })) << "and still receives the track, through C";
  EXPECT_EQ(r.objects.back().location.group, 1u);
  close_viewers();
}

// Relays that require JWTs: a relay-to-relay session presents the cluster token; a publisher
// without a token registers nothing in the cluster; a viewer gets only what its token allows.
TEST_F(ClusterRelayTest, TokensBetweenRelaysAndForClients) {
  const std::string secret = "cluster-test-secret-0123456789abcdef";
  std::string err;
  auth = Authorizer::create(Authorizer::Alg::kHS256, secret, &err);
  ASSERT_TRUE(auth) << err;
  auto mint = [&](std::vector<std::string> pub, std::vector<std::string> sub) {
    return Authorizer::mint(Authorizer::Alg::kHS256, secret, pub, sub, std::nullopt, &err).value_or("");
  };
  cluster_token = mint({}, {""});  // relays may subscribe to everything, publish nothing
  start_nodes();

  // Without a token nothing is published: no claim in Redis, so B cannot find it.
  registries.push_back(std::make_unique<TrackRegistry>());
  auto stray = std::make_shared<TrackPublisher>(FullTrackName{{"stray"}, "v"}, TrackOptions{});
  pub_loop.run_sync([&] { registries.back()->add(stray); });
  publishers.push_back(connect_client(pub_loop, A().url(false), Draft::k18, nullptr, registries.back().get()));
  auto refused = std::make_shared<std::promise<uint64_t>>();
  pub_loop.run_sync([&] {
    publishers.back()->publish_namespace({"stray"}, [refused](bool ok, uint64_t c) { refused->set_value(ok ? 0 : c); });
  });
  EXPECT_EQ(refused->get_future().get(), 0x1u) << "UNAUTHORIZED";

  // A publisher with a token on A; a viewer with a token on B: B pulls from A with the cluster token.
  registries.push_back(std::make_unique<TrackRegistry>());
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  pub_loop.run_sync([&] { registries.back()->add(track); });
  ClientConfig pc;
  pc.verify = quic::VerifyMode::kInsecure;
  pc.drafts = {Draft::k16};
  pc.auth_token = mint({"live/show"}, {});
  pub_loop.run_sync([&] {
    publishers.push_back(Client::connect(pub_loop, A().url(false), pc, nullptr, registries.back().get(), &err));
  });
  ASSERT_TRUE(publishers.back()) << err;
  auto ok = std::make_shared<std::promise<uint64_t>>();
  pub_loop.run_sync([&] { publishers.back()->publish_namespace(kNs, [ok](bool g, uint64_t c) { ok->set_value(g ? 0 : c); }); });
  ASSERT_EQ(ok->get_future().get(), 0u);
  ASSERT_TRUE(eventually([&] { return B().stats().namespaces == 1; })) << "only the authorized namespace";

  ClientConfig vc;
  vc.verify = quic::VerifyMode::kInsecure;
  vc.drafts = {Draft::k18};
  vc.auth_token = mint({}, {"live"});
  Recorder r, other;
  view_loop.run_sync([&] { viewers.push_back(Client::connect(view_loop, B().url(true), vc, nullptr, nullptr, &err)); });
  ASSERT_TRUE(viewers.back()) << err;
  Client* v = viewers.back().get();
  ASSERT_TRUE(on(view_loop, [&] { return v->subscribe(kTrack, SubscribeOptions{}, &r); }));
  ASSERT_TRUE(on(view_loop, [&] { return v->subscribe({{"stray"}, "v"}, SubscribeOptions{}, &other); }));
  ASSERT_TRUE(r.wait([&] { return r.ok || r.error; }));
  ASSERT_FALSE(r.error) << *r.error;
  pub_loop.run_sync([&] { track->write(make_object(0, 0)); });
  ASSERT_TRUE(r.wait([&] { return r.objects.size() == 1; }));
  ASSERT_TRUE(other.wait([&] { return other.ok || other.error; }));
  EXPECT_EQ(other.error, std::optional<uint64_t>(0x1)) << "outside the viewer's token: UNAUTHORIZED";
  EXPECT_EQ(A().stats().auth_refused, 1u) << "the relay-to-relay session was accepted";
  close_viewers();
}

}  // namespace
}  // namespace moqt::relay::test
