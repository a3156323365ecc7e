// GOAWAY and session migration, end to end over real loopback sockets for every draft and both
// transports: a server asks the client to move (to another server, or back to itself); the
// Client opens the new session, re-subscribes from the next group and closes the old session,
// and the application sees one subscription whose objects have no duplicates and no gap. Also:
// a client that stays is closed with GOAWAY_TIMEOUT; a move to a dead address fails cleanly
// and the old session keeps delivering.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>

#include "../common/waitable.h"
#include "draft_transport_params.h"
#include "moqt/session/client.h"

namespace moqt::session {
namespace {

using namespace std::chrono_literals;

using Param = test::DraftTransport;

struct Sub : SubscriptionHandler, moqt::test::Waitable {
  int oks = 0;
  std::optional<uint64_t> error, done;
  std::vector<Location> objects;
  void on_subscribe_ok(const SubscribeResult&) override { set([&] { ++oks; }); }
  void on_subscribe_error(uint64_t c, const std::string&) override { set([&] { error = c; }); }
  void on_object(const ReceivedObject& o) override { set([&] { objects.push_back(o.location); }); }
  void on_done(uint64_t s, const std::string&) override { set([&] { done = s; }); }
  size_t count() {
    std::lock_guard<std::mutex> l(mu);
    return objects.size();
  }
};

struct Events : SessionHandler, moqt::test::Waitable {
  int ready = 0;
  std::vector<std::string> goaways;
  std::optional<uint64_t> closed;
  void on_ready(Draft) override { set([&] { ++ready; }); }
  void on_goaway(const std::string& uri) override { set([&] { goaways.push_back(uri); }); }
  void on_closed(uint64_t c, const std::string&) override { set([&] { closed = c; }); }
};

const FullTrackName kTrack{{"live", "cam"}, "video"};
constexpr uint64_t kObjectsPerGroup = 5;

class GoawayTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    loop_.start("goaway-test");
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 10, &err);
    ASSERT_TRUE(cert) << err;
    cert_ = *cert;
    track_ = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
    registry_.add(track_);
    a_ = start_server();
    b_ = start_server();
    ASSERT_TRUE(a_ && b_);
    // A live track: one object every 10 ms, a new group every 5 objects; both servers serve it.
    loop_.run_sync([this] { produce(); });
  }
  void TearDown() override {
    loop_.run_sync([this] {
      if (producer_) loop_.cancel_timer(producer_);
      producer_ = 0;
      clients_.clear();
      a_.reset();
      b_.reset();
      track_.reset();
    });
    loop_.stop();
  }

  void produce() {
    Object o;
    o.location = {next_ / kObjectsPerGroup, next_ % kObjectsPerGroup};
    o.payload = quic::SendBuffer::take(std::vector<uint8_t>(200, uint8_t(next_)));
    ++next_;
    track_->write(std::move(o));
    producer_ = loop_.add_timer(10ms, [this] { produce(); });
  }

  std::unique_ptr<Server> start_server() {
    ServerConfig sc;
    sc.listen = "127.0.0.1:0";
    sc.cert = cert_;
    sc.wt_path = "/moq";
    std::string err;
    std::unique_ptr<Server> s;
    loop_.run_sync([&] { s = Server::start(loop_, sc, &registry_, nullptr, &err); });
    EXPECT_TRUE(s) << err;
    return s;
  }
  std::string url_of(Server& s) {
    return std::string(GetParam().wt ? "https://" : "moqt://") + s.address().to_string() + "/moq";
  }
  size_t live_sessions(Server& s) {
    size_t n = 0;
    loop_.run_sync([&] { n = s.sessions().size(); });
    return n;
  }
  void goaway(Server& s, const std::string& uri, std::chrono::milliseconds timeout = 10s) {
    loop_.run_sync([&] {
      for (Session* x : s.sessions()) x->goaway(uri, timeout);
    });
  }

  Client* connect(Events& ev, ClientConfig cc = {}) {
    cc.drafts = {GetParam().draft};
    cc.verify = quic::VerifyMode::kPinnedSha256;
    cc.pinned_sha256 = cert_.sha256_hex;
    std::string err;
    Client* out = nullptr;
    loop_.run_sync([&] {
      auto c = Client::connect(loop_, url_of(*a_), cc, &ev, nullptr, &err);
      if (!c) return;
      clients_.push_back(std::move(c));
      out = clients_.back().get();
    });
    EXPECT_TRUE(out) << err;
    EXPECT_TRUE(ev.wait([&] { return ev.ready > 0 || ev.closed; }));
    return out;
  }
  std::optional<uint64_t> subscribe(Client* c, Sub& s) {
    std::optional<uint64_t> h;
    loop_.run_sync([&] { h = c->subscribe(kTrack, {}, &s); });
    return h;
  }
  size_t subscribers() {
    size_t n = 0;
    loop_.run_sync([&] { n = track_->subscriber_count(); });
    return n;
  }
  ClientStats stats(Client* c) {
    ClientStats st;
    loop_.run_sync([&] { st = c->stats(); });
    return st;
  }

  // What the application saw is one clean live sequence: every object once, and from the first
  // whole group on, every group complete up to the one in progress.
  void expect_clean_sequence(Sub& s) {
    std::lock_guard<std::mutex> l(s.mu);
    std::set<std::pair<uint64_t, uint64_t>> seen;
    std::map<uint64_t, uint64_t> per_group;
    for (const Location& loc : s.objects) {
      EXPECT_TRUE(seen.insert({loc.group, loc.object}).second) << "duplicate " << loc.group << "/" << loc.object;
      ++per_group[loc.group];
    }
    ASSERT_GE(per_group.size(), 3u);
    const uint64_t first = per_group.begin()->first + 1, last = per_group.rbegin()->first;
    for (uint64_t g = first; g < last; ++g)
      EXPECT_EQ(per_group[g], kObjectsPerGroup) << "group " << g << " incomplete across the move";
  }

  quic::EventLoop loop_;
  quic::CertificatePem cert_;
  TrackRegistry registry_;
  std::shared_ptr<TrackPublisher> track_;
  quic::EventLoop::TimerId producer_ = 0;
  uint64_t next_ = 0;
  std::unique_ptr<Server> a_, b_;
  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_P(GoawayTest, ClientMovesToTheNewUriWithoutGapOrDuplicate) {
  Events ev;
  Sub s;
  Client* c = connect(ev);
  ASSERT_TRUE(c && ev.ready == 1);
  ASSERT_TRUE(subscribe(c, s));
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= 12; }));
  EXPECT_EQ(live_sessions(*b_), 0u);

  goaway(*a_, url_of(*b_));
  ASSERT_TRUE(ev.wait([&] { return ev.ready == 2; })) << "no session to B";
  EXPECT_EQ(ev.goaways, std::vector<std::string>{url_of(*b_)});
  // The client closes the old session itself, well before the server's 10 s GOAWAY timeout.
  ASSERT_TRUE(moqt::test::eventually([&] { return live_sessions(*a_) == 0; }, 5s)) << "old session still open";
  EXPECT_EQ(live_sessions(*b_), 1u);
  const size_t at_move = s.count();
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= at_move + 15; })) << "nothing from B";

  EXPECT_EQ(stats(c).moves, 1u);
  EXPECT_EQ(s.oks, 1);
  EXPECT_FALSE(s.done);
  EXPECT_FALSE(ev.closed) << "the application's session did not end";
  loop_.run_sync([&] { EXPECT_EQ(c->url(), url_of(*b_)); });
  expect_clean_sequence(s);
}

TEST_P(GoawayTest, GoawayWithoutUriReconnectsToTheSameServer) {
  Events ev;
  Sub s;
  Client* c = connect(ev);
  ASSERT_TRUE(c);
  ASSERT_TRUE(subscribe(c, s));
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= 8; }));
  goaway(*a_, "");
  ASSERT_TRUE(ev.wait([&] { return ev.ready == 2; }));
  EXPECT_EQ(ev.goaways, std::vector<std::string>{""});
  // The first session goes; the second (on the same server) stays.
  ASSERT_TRUE(moqt::test::eventually([&] { return live_sessions(*a_) == 1 && stats(c).moves == 1; }, 5s));
  const size_t at_move = s.count();
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= at_move + 15; }));
  expect_clean_sequence(s);
}

TEST_P(GoawayTest, UnsubscribeAfterTheMoveReachesTheNewServer) {
  Events ev;
  Sub s;
  Client* c = connect(ev);
  auto h = subscribe(c, s);
  ASSERT_TRUE(h);
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= 5; }));
  goaway(*a_, url_of(*b_));
  ASSERT_TRUE(ev.wait([&] { return ev.ready == 2; }));
  ASSERT_TRUE(moqt::test::eventually([&] { return subscribers() == 1; }, 5s));
  loop_.run_sync([&] { c->unsubscribe(*h); });
  ASSERT_TRUE(moqt::test::eventually([&] { return subscribers() == 0; }, 5s))
      << "the subscription on B was not cancelled";
  EXPECT_FALSE(s.done);
}

TEST_P(GoawayTest, ClientThatStaysIsClosedWithGoawayTimeout) {
  Events ev;
  ClientConfig cc;
  cc.follow_goaway = false;
  Client* c = connect(ev, cc);
  ASSERT_TRUE(c);
  goaway(*a_, url_of(*b_), 300ms);
  ASSERT_TRUE(ev.wait([&] { return ev.closed.has_value(); }, 5s));
  EXPECT_EQ(*ev.closed, uint64_t(wire::SessionError::kGoawayTimeout));
  EXPECT_EQ(ev.goaways.size(), 1u);
  EXPECT_EQ(live_sessions(*b_), 0u);
}

TEST_P(GoawayTest, MoveToADeadAddressFailsAndTheOldSessionGoesOn) {
  Events ev;
  Sub s;
  ClientConfig cc;
  cc.move_timeout = 1s;
  Client* c = connect(ev, cc);
  ASSERT_TRUE(subscribe(c, s));
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= 5; }));
  // A port nobody listens on (B's, after B is gone).
  const std::string dead = url_of(*b_);
  loop_.run_sync([&] { b_.reset(); });
  goaway(*a_, dead, 0ms);
  ASSERT_TRUE(moqt::test::eventually([&] { return stats(c).failed_moves == 1; }, 5s));
  const size_t after = s.count();
  ASSERT_TRUE(s.wait([&] { return s.objects.size() >= after + 10; })) << "the old session stopped delivering";
  EXPECT_EQ(stats(c).moves, 0u);
  EXPECT_FALSE(s.done);
  EXPECT_FALSE(ev.closed);
  expect_clean_sequence(s);
}

INSTANTIATE_TEST_SUITE_P(All, GoawayTest, test::all_draft_transports(), test::draft_transport_name);

}  // namespace
}  // namespace moqt::session
