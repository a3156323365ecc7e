// The cluster's control plane against a real redis-server (started per test on a free port):
// the async Redis client (round trips, outage and reconnect, a command timeout, password and
// database), then Cluster: membership, origin leases and longest-prefix lookup, the conflict rule,
// namespace events across nodes (announce, withdraw, a dead node's lapsed lease), Redis outages.
#include <gtest/gtest.h>

#include <deque>
#include <future>
#include <mutex>

#include "../common/redis_server.h"
#include "../common/waitable.h"
#include "moqt/cluster/cluster.h"

namespace moqt::cluster {
namespace {

using namespace std::chrono_literals;
using moqt::test::eventually;
using moqt::test::RedisServer;
using wire::TrackNamespace;

template <typename F>
auto on(quic::EventLoop& l, F f) {
  decltype(f()) v{};
  l.run_sync([&] { v = f(); });
  return v;
}

struct Fixture : ::testing::Test {
  quic::EventLoop loop;
  Fixture() { loop.start("cluster-test"); }
  ~Fixture() override { loop.stop(); }

  // Runs a command on the loop and waits for its reply.
  RedisReply run(RedisClient& c, std::vector<std::string> argv) {
    auto p = std::make_shared<std::promise<RedisReply>>();
    loop.post([&c, argv, p] { c.command(argv, [p](const RedisReply& r) { p->set_value(r); }); });
    auto f = p->get_future();
    if (f.wait_for(10s) != std::future_status::ready) return RedisReply::make_error("test: no answer");
    return f.get();
  }
  std::unique_ptr<RedisClient> client(const std::string& url, std::chrono::milliseconds timeout = 2000ms) {
    std::string err;
    auto addr = RedisAddress::parse(url, &err);
    EXPECT_TRUE(addr) << err;
    RedisOptions o;
    o.address = *addr;
    o.command_timeout = timeout;
    o.retry_min = 50ms;
    o.retry_max = 200ms;
    std::unique_ptr<RedisClient> c;
    loop.run_sync([&] {
      c = std::make_unique<RedisClient>(loop, o);
      c->start();
    });
    return c;
  }
  void destroy(std::unique_ptr<RedisClient>& c) {
    loop.run_sync([&] { c.reset(); });
  }
};

TEST(RedisAddress, ParsesTheUrlForms) {
  std::string err;
  auto a = RedisAddress::parse("redis://:pw@127.0.0.1:6380/2", &err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->password, "pw");
  EXPECT_EQ(a->db, 2);
  EXPECT_EQ(a->to_string(), "redis://127.0.0.1:6380/2") << "no password in what gets logged";
  auto b = RedisAddress::parse("127.0.0.1", &err);  // (a fresh container may not resolve "localhost")
  ASSERT_TRUE(b) << err;
  EXPECT_EQ(b->port, 6379);
  EXPECT_FALSE(RedisAddress::parse("redis://127.0.0.1:99999", &err));
  EXPECT_FALSE(RedisAddress::parse("http://127.0.0.1", &err));
  EXPECT_FALSE(RedisAddress::parse("redis://127.0.0.1/x", &err));
}

TEST(Namespaces, EncodeDecodeRoundTrip) {
  const TrackNamespace ns{"live", "a/b", "100%", "sp ace", std::string("\x01\xff", 2), ""};
  const std::string e = encode_namespace(ns);
  EXPECT_EQ(e.find(' '), std::string::npos);
  EXPECT_EQ(std::count(e.begin(), e.end(), '/'), 5);
  EXPECT_EQ(decode_namespace(e), ns);
  EXPECT_FALSE(decode_namespace("bad%4"));
}

TEST_F(Fixture, RedisClientRoundTripsOutageAndTimeout) {
  RedisServer redis;
  ASSERT_TRUE(redis.running());
  auto c = client(redis.url(), 300ms);
  ASSERT_TRUE(eventually([&] { return on(loop, [&] { return c->connected(); }); }));
  EXPECT_EQ(run(*c, {"SET", "k", std::string("v\0w", 3)}).str, "OK");
  RedisReply g = run(*c, {"GET", "k"});
  EXPECT_EQ(g.type, RedisReply::Type::kString);
  EXPECT_EQ(g.str, std::string("v\0w", 3)) << "binary safe";
  EXPECT_EQ(run(*c, {"INCR", "n"}).integer, 1);
  RedisReply m = run(*c, {"MGET", "k", "missing"});
  ASSERT_EQ(m.elements.size(), 2u);
  EXPECT_TRUE(m.elements[1].nil());
  EXPECT_TRUE(run(*c, {"NOSUCHCOMMAND"}).error());

  redis.stop();
  ASSERT_TRUE(eventually([&] { return !on(loop, [&] { return c->connected(); }); }));
  RedisReply down = run(*c, {"GET", "k"});
  EXPECT_TRUE(down.error());
  EXPECT_NE(down.str.find("not connected"), std::string::npos) << down.str;
  ASSERT_TRUE(redis.start());
  ASSERT_TRUE(eventually([&] { return on(loop, [&] { return c->connected(); }); })) << "reconnects by itself";
  EXPECT_EQ(run(*c, {"PING"}).str, "PONG");

  // A command Redis does not answer in time fails, and costs the connection, which comes back.
  RedisReply slow = run(*c, {"DEBUG", "SLEEP", "1"});
  EXPECT_TRUE(slow.error());
  EXPECT_NE(slow.str.find("in time"), std::string::npos) << slow.str;
  ASSERT_TRUE(eventually([&] { return run(*c, {"PING"}).str == "PONG"; }));
  const auto st = on(loop, [&] { return c->stats(); });
  EXPECT_GE(st.timeouts, 1u);  // a PING while Redis still sleeps times out too
  EXPECT_GE(st.disconnects, 2u);
  destroy(c);
}

TEST_F(Fixture, PasswordAndDatabase) {
  RedisServer redis("s3cret");
  auto c = client(redis.url(3));
  ASSERT_TRUE(eventually([&] { return on(loop, [&] { return c->connected(); }); }));
  EXPECT_EQ(run(*c, {"SET", "k", "v"}).str, "OK");
  EXPECT_NE(run(*c, {"CLIENT", "INFO"}).str.find(" db=3 "), std::string::npos);
  destroy(c);
  auto wrong = client("redis://:nope@127.0.0.1:" + std::to_string(redis.port()));
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(run(*wrong, {"GET", "k"}).error()) << "nothing runs without the right password";
  destroy(wrong);
}

struct ClusterTest : Fixture {
  RedisServer redis;
  struct Node {
    std::unique_ptr<Cluster> c;
    std::mutex mu;
    std::vector<std::pair<TrackNamespace, bool>> events;
    std::vector<std::string> log;
    size_t count() {
      std::lock_guard<std::mutex> l(mu);
      return events.size();
    }
    std::pair<TrackNamespace, bool> at(size_t i) {
      std::lock_guard<std::mutex> l(mu);
      return events.at(i);
    }
  };
  std::deque<Node> nodes;

  Node& node(const std::string& id, std::chrono::milliseconds ttl = 600ms) {
    nodes.emplace_back();
    Node& n = nodes.back();
    ClusterConfig cfg;
    cfg.redis = redis.url();
    cfg.node_id = id;
    cfg.advertise = "moqt://" + id + ".example:4443/moq";
    cfg.ttl = ttl;
    cfg.command_timeout = 500ms;
    std::string err;
    loop.run_sync([&] {
      n.c = Cluster::create(loop, cfg, &err);
      if (!n.c) return;
      n.c->set_log([&n](const std::string& l) {
        std::lock_guard<std::mutex> g(n.mu);
        n.log.push_back(l);
      });
      n.c->set_on_remote_namespace([&n](const TrackNamespace& ns, bool active) {
        std::lock_guard<std::mutex> g(n.mu);
        n.events.emplace_back(ns, active);
      });
      n.c->start();
    });
    EXPECT_TRUE(n.c) << err;
    EXPECT_TRUE(eventually([&] { return on(loop, [&] { return n.c->stats().connected; }); }));
    return n;
  }
  void gone(Node& n) {
    loop.run_sync([&] { n.c.reset(); });
  }
  // The lookup's answer: the node id, "" for none, "error: ..." if Redis could not be asked.
  std::string lookup(Node& n, const TrackNamespace& ns) {
    auto p = std::make_shared<std::promise<std::string>>();
    loop.post([&n, ns, p] {
      n.c->lookup(ns, [p](std::optional<NodeInfo> info, const std::string& err) {
        p->set_value(info ? info->id + " " + info->url : err.empty() ? "" : "error: " + err);
      });
    });
    auto f = p->get_future();
    if (f.wait_for(10s) != std::future_status::ready) return "test: no answer";
    return f.get();
  }
  std::vector<std::string> members(Node& n) {
    auto p = std::make_shared<std::promise<std::vector<std::string>>>();
    loop.post([&n, p] {
      n.c->members([p](std::vector<NodeInfo> all, const std::string&) {
        std::vector<std::string> ids;
        for (auto& i : all) ids.push_back(i.id);
        p->set_value(ids);
      });
    });
    return p->get_future().get();
  }
  ~ClusterTest() override {
    loop.run_sync([&] { nodes.clear(); });
  }
};

TEST_F(ClusterTest, AnnounceLookupWithdrawAndMembership) {
  Node& a = node("a");
  Node& b = node("b");
  loop.run_sync([&] { a.c->set_load(5, 1000); });
  loop.run_sync([&] { a.c->announce({"live", "show"}); });
  ASSERT_TRUE(eventually([&] { return b.count() == 1; }));
  EXPECT_EQ(b.at(0), std::make_pair(TrackNamespace{"live", "show"}, true));
  EXPECT_EQ(a.count(), 0u) << "a node does not hear of its own namespaces";
  EXPECT_EQ(lookup(b, {"live", "show", "cam"}), "a moqt://a.example:4443/moq") << "longest registered prefix";
  EXPECT_EQ(lookup(b, {"live"}), "") << "a shorter namespace is not under it";
  loop.run_sync([&] { b.c->announce({"live", "show", "cam"}); });
  ASSERT_TRUE(eventually([&] { return lookup(a, {"live", "show", "cam", "hd"}) == "b moqt://b.example:4443/moq"; }));
  EXPECT_EQ(lookup(a, {"live", "show", "mic"}), "a moqt://a.example:4443/moq");

  ASSERT_TRUE(eventually([&] { return members(a) == std::vector<std::string>{"b", "a"}; }))
      << "least loaded first (a's load is in its next renewal)";

  loop.run_sync([&] { a.c->withdraw({"live", "show"}); });
  ASSERT_TRUE(eventually([&] { return b.count() == 2; }));
  EXPECT_EQ(b.at(1), std::make_pair(TrackNamespace{"live", "show"}, false));
  EXPECT_EQ(lookup(b, {"live", "show", "mic"}), "");
  gone(b);  // a clean stop leaves at once
  ASSERT_TRUE(eventually([&] { return members(a) == std::vector<std::string>{"a"}; }));
  ASSERT_TRUE(eventually([&] { return lookup(a, {"live", "show", "cam"}).empty(); }));
}

TEST_F(ClusterTest, FirstClaimHoldsUntilItsHolderLetsGo) {
  Node& a = node("a");
  Node& b = node("b");
  Node& c = node("c");
  loop.run_sync([&] { a.c->announce({"news"}); });
  ASSERT_TRUE(eventually([&] { return on(loop, [&] { return a.c->holds({"news"}); }); }));
  loop.run_sync([&] { b.c->announce({"news"}); });
  ASSERT_TRUE(eventually([&] { return on(loop, [&] { return b.c->stats().conflicts; }) == 1; }));
  EXPECT_FALSE(on(loop, [&] { return b.c->holds({"news"}); }));
  EXPECT_EQ(lookup(c, {"news"}), "a moqt://a.example:4443/moq") << "remote viewers go to the holder";
  std::this_thread::sleep_for(700ms);  // renewals keep the holder
  EXPECT_EQ(lookup(c, {"news"}), "a moqt://a.example:4443/moq");
  loop.run_sync([&] { a.c->withdraw({"news"}); });
  ASSERT_TRUE(eventually([&] { return on(loop, [&] { return b.c->holds({"news"}); }); })) << "taken over at renewal";
  EXPECT_EQ(lookup(c, {"news"}), "b moqt://b.example:4443/moq");
}

TEST_F(ClusterTest, ADeadRelaysNamespacesEndWithTheirLease) {
  Node& b = node("b");
  // What a relay that dies leaves: its claim, announced, then never renewed.
  auto raw = client(redis.url());
  ASSERT_TRUE(eventually([&] { return on(loop, [&] { return raw->connected(); }); }));
  EXPECT_EQ(run(*raw, {"SET", "moq:origin:live/ghost", "ghost moqt://ghost:1/moq", "PX", "500"}).str, "OK");
  run(*raw, {"PUBLISH", "moq:namespaces", "+ ghost live/ghost"});
  ASSERT_TRUE(eventually([&] { return b.count() == 1; }));
  EXPECT_EQ(b.at(0), std::make_pair(TrackNamespace{"live", "ghost"}, true));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return b.count() == 2; }, 5s));
  EXPECT_EQ(b.at(1), std::make_pair(TrackNamespace{"live", "ghost"}, false));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s) << "within about a ttl of the lapse";
  destroy(raw);
}

TEST_F(ClusterTest, RedisOutageThenEverythingIsRegisteredAgain) {
  Node& a = node("a");
  Node& b = node("b");
  loop.run_sync([&] { a.c->announce({"live", "x"}); });
  ASSERT_TRUE(eventually([&] { return b.count() == 1; }));
  redis.stop();
  ASSERT_TRUE(eventually([&] { return !on(loop, [&] { return b.c->stats().connected; }); }));
  const std::string down = lookup(b, {"live", "x"});
  EXPECT_EQ(down.rfind("error: ", 0), 0u) << down;
  ASSERT_TRUE(redis.start());  // empty: no persistence
  ASSERT_TRUE(eventually([&] { return lookup(b, {"live", "x"}) == "a moqt://a.example:4443/moq"; }))
      << "the claim is restored by the next renewal";
  ASSERT_TRUE(eventually([&] { return members(b).size() == 2; }));
  EXPECT_EQ(b.count(), 1u) << "the namespace did not end for b's watchers";
  {
    std::lock_guard<std::mutex> l(b.mu);
    bool logged = false;
    for (auto& line : b.log) logged |= line.find("Redis unavailable") != std::string::npos;
    EXPECT_TRUE(logged);
  }
}

}  // namespace
}  // namespace moqt::cluster
