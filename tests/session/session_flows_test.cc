// More MoQT session flows over raw QUIC on loopback, for drafts 14, 16 and 18: request-id flow
// control (MAX_REQUEST_ID / REQUESTS_BLOCKED), datagram objects, priorities on a congested link
// (subgroup 0 intact, higher subgroups late or reset), subscription updates, and hostile input
// closing only the offending session.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>

#include "../common/waitable.h"
#include "moqt/session/client.h"

namespace moqt::session {
namespace {

using namespace std::chrono_literals;

struct Sub : SubscriptionHandler, moqt::test::Waitable {
  std::optional<SubscribeResult> ok;
  std::optional<uint64_t> error, done;
  std::vector<ReceivedObject> objects;
  std::vector<std::chrono::steady_clock::time_point> arrival;
  void on_subscribe_ok(const SubscribeResult& r) override { set([&] { ok = r; }); }
  void on_subscribe_error(uint64_t c, const std::string&) override { set([&] { error = c; }); }
  void on_object(const ReceivedObject& o) override {
    set([&] {
      objects.push_back(o);
      arrival.push_back(std::chrono::steady_clock::now());
    });
  }
  void on_done(uint64_t s, const std::string&) override { set([&] { done = s; }); }
};

struct Events : SessionHandler, moqt::test::Waitable {
  std::optional<Draft> ready;
  std::optional<uint64_t> closed;
  std::string reason;
  void on_ready(Draft d) override { set([&] { ready = d; }); }
  void on_closed(uint64_t c, const std::string& r) override { set([&] { closed = c; reason = r; }); }
};

const FullTrackName kTrack{{"live"}, "video"};

class FlowsTest : public ::testing::TestWithParam<Draft> {
 protected:
  void SetUp() override {
    loop_.start("flows-test");
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 10, &err);
    ASSERT_TRUE(cert);
    cert_ = *cert;
    track_ = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
    registry_.add(track_);
  }
  void TearDown() override {
    loop_.run_sync([this] {
      clients_.clear();
      server_.reset();
      track_.reset();
    });
    loop_.stop();
  }
  void start_server(ServerConfig sc = {}) {
    sc.listen = "127.0.0.1:0";
    sc.cert = cert_;
    std::string err;
    loop_.run_sync([&] {
      server_ = Server::start(loop_, sc, &registry_, [this](Session&) { return &server_events_; }, &err);
    });
    ASSERT_TRUE(server_) << err;
  }
  Client* connect(Events& ev, ClientConfig cc = {}) {
    cc.drafts = {GetParam()};
    cc.verify = quic::VerifyMode::kPinnedSha256;
    cc.pinned_sha256 = cert_.sha256_hex;
    std::string err;
    Client* out = nullptr;
    loop_.run_sync([&] {
      auto c = Client::connect(loop_, "moqt://" + server_->address().to_string() + "/moq", cc, &ev, nullptr, &err);
      if (c) clients_.push_back(std::move(c));
      out = clients_.empty() ? nullptr : clients_.back().get();
    });
    EXPECT_TRUE(out) << err;
    EXPECT_TRUE(ev.wait([&] { return ev.ready || ev.closed; }));
    return out;
  }
  void write(uint64_t g, uint64_t o, uint64_t subgroup, size_t size, bool datagram = false, uint8_t prio = 128) {
    loop_.run_sync([&] {
      Object obj;
      obj.location = {g, o};
      obj.subgroup = subgroup;
      obj.datagram = datagram;
      obj.publisher_priority = prio;
      obj.payload = quic::SendBuffer::take(std::vector<uint8_t>(size, uint8_t(o)));
      track_->write(std::move(obj));
    });
  }

  quic::EventLoop loop_;
  quic::CertificatePem cert_;
  TrackRegistry registry_;
  std::shared_ptr<TrackPublisher> track_;
  Events server_events_;
  std::deque<Events> events_;
  std::deque<Sub> subs_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_P(FlowsTest, RequestsBeyondMaxRequestIdWaitForMoreCredit) {
  if (GetParam() == Draft::k18) GTEST_SKIP() << "draft-18 limits requests with QUIC stream credit, not MAX_REQUEST_ID";
  start_server();
  Events& ev = events_.emplace_back();
  // The server's window is 256 requests; ask for 300 subscriptions at once: the ones beyond the
  // window go out after MAX_REQUEST_ID moves (the server grants more as requests arrive).
  Client* c = connect(ev);
  ASSERT_TRUE(c);
  constexpr int kN = 300;
  for (int i = 0; i < kN; ++i) subs_.emplace_back();
  loop_.run_sync([&] {
    for (int i = 0; i < kN; ++i) ASSERT_TRUE(c->session().subscribe(kTrack, {}, &subs_[i]));
  });
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(subs_[i].wait([&] { return subs_[i].ok.has_value(); })) << i;
  EXPECT_FALSE(ev.closed.has_value());
}

TEST_P(FlowsTest, DatagramObjectsArrive) {
  start_server();
  Events& ev = events_.emplace_back();
  Client* c = connect(ev);
  ASSERT_TRUE(c);
  Sub& s = subs_.emplace_back();
  loop_.run_sync([&] { c->session().subscribe(kTrack, {}, &s); });
  ASSERT_TRUE(s.wait([&] { return s.ok.has_value(); }));
  for (uint64_t o = 0; o < 20; ++o) write(0, o, 0, 200, true);
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= 18; }, 5s)) << s.objects.size();  // loopback: (almost) none lost
  std::lock_guard<std::mutex> l(s.mu);
  for (auto& o : s.objects) {
    EXPECT_TRUE(o.datagram);
    EXPECT_EQ(o.payload, std::vector<uint8_t>(200, uint8_t(o.location.object)));
  }
}

TEST_P(FlowsTest, CongestedLinkKeepsTheBaseLayerAndSacrificesEnhancementLayers) {
  // The server's sends go through a 4 Mbit/s bottleneck. Each group has a small base layer
  // (subgroup 0, publisher priority 10) and two large enhancement layers (subgroups 1 and 2,
  // priorities 100 and 200): 7x more than the link carries. More important streams go first
  // and the per-subscription queue bound resets stale streams, so the base layer arrives
  // complete and promptly while enhancement layers lose objects.
  ServerConfig sc;
  sc.quic.impairment.rate_bps = 4'000'000;
  sc.quic.impairment.queue_limit = 64;  // a router buffer, not bufferbloat: loss makes QUIC back off
  sc.session.max_queued_bytes = 256 << 10;  // what a subscriber may lag behind before old groups go
  start_server(sc);
  Events& ev = events_.emplace_back();
  Client* c = connect(ev);
  ASSERT_TRUE(c);
  Sub& s = subs_.emplace_back();
  loop_.run_sync([&] { c->session().subscribe(kTrack, {}, &s); });
  ASSERT_TRUE(s.wait([&] { return s.ok.has_value(); }));
  constexpr int kGroups = 20, kPerGroup = 5;
  for (int g = 0; g < kGroups; ++g) {
    for (int o = 0; o < kPerGroup; ++o) {
      // Layers map to subgroups and publisher priorities (lower = more important), which
      // outrank group order in the drafts' scheduling (-18 §7.2).
      write(g, o * 3 + 0, 0, 1000, false, 10);    // base:        5 KB / group
      write(g, o * 3 + 1, 1, 12000, false, 100);  // enhancement: 60 KB / group
      write(g, o * 3 + 2, 2, 12000, false, 200);  // enhancement: 60 KB / group
    }
    std::this_thread::sleep_for(33ms);  // ~30 groups/s: 3.8 MB/s offered vs 0.5 MB/s link
  }
  // Everything of the base layer, and it is not stuck behind enhancement data.
  auto base_count = [&] {
    size_t n = 0;
    for (auto& o : s.objects) n += o.subgroup == 0;
    return n;
  };
  ASSERT_TRUE(s.wait([&] { return base_count() == kGroups * kPerGroup; }, 20s)) << base_count();
  std::lock_guard<std::mutex> l(s.mu);
  size_t enh = 0;
  for (auto& o : s.objects) enh += o.subgroup != 0;
  EXPECT_LT(enh, size_t(kGroups * kPerGroup * 2)) << "enhancement layers should have lost objects on this link";
  uint64_t resets = 0;
  loop_.run_sync([&] {
    for (Session* ss : server_->sessions()) resets += ss->stats().streams_reset_for_congestion;
  });
  EXPECT_GT(resets, 0u);
}

TEST_P(FlowsTest, DeliveryTimeoutDropsLateObjectsInsteadOfQueueingThem) {
  // A subscriber asking for a 300 ms DELIVERY_TIMEOUT on a link far slower than the track: the
  // publisher resets subgroups whose objects waited longer, so the newest group arrives promptly
  // instead of after the whole backlog (the queue bound is out of the way here).
  ServerConfig sc;
  sc.quic.impairment.rate_bps = 2'000'000;
  sc.quic.impairment.queue_limit = 64;
  sc.session.max_queued_bytes = 64 << 20;
  start_server(sc);
  Events& ev = events_.emplace_back();
  Client* c = connect(ev);
  ASSERT_TRUE(c);
  Sub& s = subs_.emplace_back();
  SubscribeOptions so;
  so.delivery_timeout_ms = 300;
  loop_.run_sync([&] { c->session().subscribe(kTrack, so, &s); });
  ASSERT_TRUE(s.wait([&] { return s.ok.has_value(); }));
  // A burst (say the publisher's uplink stalled and caught up): 30 groups at once, 900 KB, 3.6 s
  // of this link. Then, after a pause, a fresh group.
  constexpr int kBurst = 30, kPerGroup = 5;
  for (int g = 0; g < kBurst; ++g)
    for (int o = 0; o < kPerGroup; ++o) write(g, o, 0, 6000);
  std::this_thread::sleep_for(600ms);
  for (int o = 0; o < kPerGroup; ++o) write(kBurst, o, 0, 6000);
  const auto written = std::chrono::steady_clock::now();
  // Without the timeout the fresh group waits for the backlog; with it, the backlog is gone.
  auto fresh = [&] {
    size_t n = 0;
    for (auto& o : s.objects) n += o.location.group == kBurst;
    return n;
  };
  ASSERT_TRUE(s.wait([&] { return fresh() == kPerGroup; }, 20s));
  EXPECT_LT(std::chrono::steady_clock::now() - written, 1500ms);
  {
    std::lock_guard<std::mutex> l(s.mu);
    EXPECT_LT(s.objects.size(), size_t((kBurst + 1) * kPerGroup)) << "late objects should have been dropped";
  }
  SessionStats st;
  loop_.run_sync([&] { st = server_->sessions().at(0)->stats(); });
  EXPECT_GT(st.streams_reset_for_delivery_timeout, 0u);
  EXPECT_EQ(st.streams_reset_for_congestion, 0u);
}

TEST_P(FlowsTest, UpdateTurnsForwardingOffAndOn) {
  start_server();
  Events& ev = events_.emplace_back();
  Client* c = connect(ev);
  ASSERT_TRUE(c);
  Sub& s = subs_.emplace_back();
  std::optional<uint64_t> id;
  loop_.run_sync([&] { id = c->session().subscribe(kTrack, {}, &s); });
  ASSERT_TRUE(s.wait([&] { return s.ok.has_value(); }));
  write(0, 0, 0, 10);
  ASSERT_TRUE(s.wait([&] { return s.objects.size() == 1; }));
  SubscribeOptions off;
  off.forward = false;
  off.filter = SubscriptionFilter{wire::FilterType::kAbsoluteStart, {0, 1}, {}};
  loop_.run_sync([&] { ASSERT_TRUE(c->session().update_subscription(*id, off)); });
  std::this_thread::sleep_for(200ms);
  write(0, 1, 0, 10);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(s.objects.size(), 1u);
  SubscribeOptions on = off;
  on.forward = true;
  on.filter.start = {0, 2};
  loop_.run_sync([&] { ASSERT_TRUE(c->session().update_subscription(*id, on)); });
  std::this_thread::sleep_for(200ms);
  write(0, 2, 0, 10);
  ASSERT_TRUE(s.wait([&] { return s.objects.size() == 2; }));
  EXPECT_EQ(s.objects.back().location, (Location{0, 2}));
}

TEST_P(FlowsTest, HostileControlBytesCloseOnlyThatSession) {
  start_server();
  Events& good = events_.emplace_back();
  Client* ok = connect(good);
  ASSERT_TRUE(ok);
  Sub& s = subs_.emplace_back();
  loop_.run_sync([&] { ok->session().subscribe(kTrack, {}, &s); });
  ASSERT_TRUE(s.wait([&] { return s.ok.has_value(); }));
  // A second client speaks raw QUIC by hand: a valid setup, then a message of an unknown type.
  const Draft d = GetParam();
  std::string err;
  quic::ClientTlsConfig tc;
  tc.alpns = {std::string(wire::profile(d).alpn)};
  tc.verify = quic::VerifyMode::kInsecure;
  auto tls = quic::ClientTls::create(tc, &err);
  struct Raw : quic::TransportHandler {
    std::mutex mu;
    std::condition_variable cv;
    bool ready = false;
    std::optional<quic::CloseInfo> closed;
    void on_ready(std::string_view) override {
      std::lock_guard<std::mutex> l(mu);
      ready = true;
      cv.notify_all();
    }
    void on_stream_data(quic::StreamId, std::span<const uint8_t>, bool) override {}
    void on_closed(const quic::CloseInfo& i) override {
      std::lock_guard<std::mutex> l(mu);
      closed = i;
      cv.notify_all();
    }
  } raw;
  std::unique_ptr<quic::Endpoint> ep;
  quic::Connection* conn = nullptr;
  loop_.run_sync([&] {
    ep = quic::Endpoint::client(loop_, AF_INET, {}, &err);
    conn = ep->connect(server_->address(), tls, &raw, &err);
  });
  ASSERT_TRUE(conn) << err;
  {
    std::unique_lock<std::mutex> l(raw.mu);
    ASSERT_TRUE(raw.cv.wait_for(l, 5s, [&] { return raw.ready; }));
  }
  loop_.run_sync([&] {
    wire::SetupParams p;
    p.max_request_id = 10;
    wire::Bytes b;
    quic::StreamId sid;
    if (d == Draft::k18) {
      sid = *conn->open_uni_stream();
      wire::encode_control(wire::Setup{p}, d, b);
    } else {
      sid = *conn->open_bidi_stream();
      wire::ClientSetup cs{{}, p};
      if (d == Draft::k14) cs.versions = {wire::profile(d).version};
      wire::encode_control(cs, d, b);
    }
    b.insert(b.end(), {0x3f, 0x00, 0x00});  // message type 0x3f does not exist
    conn->write(sid, quic::SendBuffer::take(std::move(b)), false);
  });
  {
    std::unique_lock<std::mutex> l(raw.mu);
    ASSERT_TRUE(raw.cv.wait_for(l, 5s, [&] { return raw.closed.has_value(); }));
    EXPECT_TRUE(raw.closed->application);
    EXPECT_EQ(raw.closed->code, uint64_t(wire::SessionError::kProtocolViolation));
  }
  // The well-behaved session still gets its objects.
  write(0, 0, 0, 10);
  EXPECT_TRUE(s.wait([&] { return s.objects.size() == 1; }));
  EXPECT_FALSE(good.closed.has_value());
  loop_.run_sync([&] { ep.reset(); });
}

INSTANTIATE_TEST_SUITE_P(Drafts, FlowsTest, ::testing::Values(Draft::k14, Draft::k16, Draft::k18),
                         [](const auto& i) { return "Draft" + std::to_string(int(i.param)); });

}  // namespace
}  // namespace moqt::session
