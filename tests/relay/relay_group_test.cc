// A relay on several loops (RelayGroup): one UDP port shared with SO_REUSEPORT, tracks crossing
// loops through LoopLinks (one per track and loop, payloads shared, not copied), namespaces known
// on every loop, a publisher's departure seen everywhere, nothing left after churn.
#include <set>

#include "moqt/relay/relay_group.h"
#include "relay_fixture.h"

namespace moqt::relay::test {
namespace {

using wire::Draft;

const TrackNamespace kNs{"live", "show"};
const FullTrackName kTrack{kNs, "video"};

struct GroupTest : ::testing::Test {
  std::unique_ptr<RelayGroup> group;
  quic::EventLoop pub_loop, view_loop;
  std::vector<std::unique_ptr<TrackRegistry>> registries;
  std::vector<std::pair<quic::EventLoop*, std::unique_ptr<Client>>> clients;

  GroupTest() {
    pub_loop.start("publishers");
    view_loop.start("viewers");
  }
  ~GroupTest() override {
    close_clients();
    group.reset();
    view_loop.stop();
    pub_loop.stop();
  }
  void start(size_t loops, std::chrono::milliseconds linger = std::chrono::milliseconds(300)) {
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 1, &err);
    ASSERT_TRUE(cert) << err;
    RelayConfig cfg;
    cfg.server.listen = "127.0.0.1:0";
    cfg.server.cert = *cert;
    cfg.linger = linger;
    group = RelayGroup::start(loops, cfg, &err, [](Relay& r) { r.set_log([](const std::string&) {}); });
    ASSERT_TRUE(group) << err;
    ASSERT_EQ(group->size(), loops);
  }
  std::string url(bool wt) const {
    return std::string(wt ? "https" : "moqt") + "://127.0.0.1:" + std::to_string(group->port()) + "/moq";
  }
  Client* connect(quic::EventLoop& loop, Draft d, bool wt, SessionHandler* h, TrackSource* tracks) {
    auto c = connect_client(loop, url(wt), d, h, tracks);
    clients.push_back({&loop, std::move(c)});
    return clients.back().second.get();
  }
  void close_clients() {
    for (auto& [loop, c] : clients) loop->run_sync([&] { c.reset(); });
    clients.clear();
    pub_loop.run_sync([&] { registries.clear(); });
  }
  Client* announce(Draft d, const TrackNamespace& ns, std::shared_ptr<TrackPublisher> track) {
    registries.push_back(std::make_unique<TrackRegistry>());
    TrackRegistry* reg = registries.back().get();
    pub_loop.run_sync([&] { reg->add(track); });
    Client* c = connect(pub_loop, d, false, nullptr, reg);
    auto ok = std::make_shared<std::promise<bool>>();
    pub_loop.run_sync([&] { c->publish_namespace(ns, [ok](bool good, uint64_t) { ok->set_value(good); }); });
    auto f = ok->get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(f.get());
    return c;
  }
};

// 30 viewers from their own sockets spread over 3 loops; the publisher's loop subscribes once at
// the publisher and feeds each other loop that has viewers once.
TEST_F(GroupTest, TrackOnOneLoopReachesViewersOnEveryLoop) {
  start(3);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k16, kNs, track);
  ASSERT_TRUE(eventually([&] {
    for (const RelayStats& s : group->stats_per_loop())
      if (s.namespaces != 1) return false;
    return true;
  })) << "every loop knows the namespace";
  constexpr int kViewers = 30;
  const std::vector<Draft> drafts = {Draft::k14, Draft::k16, Draft::k18};
  std::deque<Recorder> rec(kViewers);
  for (int i = 0; i < kViewers; ++i) {
    Client* v = connect(view_loop, drafts[i % 3], i % 2, nullptr, nullptr);
    ASSERT_TRUE(on(view_loop, [&] { return v->subscribe(kTrack, SubscribeOptions{}, &rec[i]); }));
  }
  for (int i = 0; i < kViewers; ++i) ASSERT_TRUE(rec[i].wait([&] { return rec[i].ok || rec[i].error; })) << i;
  for (int i = 0; i < kViewers; ++i) ASSERT_TRUE(rec[i].ok) << "viewer " << i << " refused " << *rec[i].error;

  const auto per_loop = group->stats_per_loop();
  size_t loops_with_sessions = 0, links = 0;
  for (const RelayStats& s : per_loop) {
    loops_with_sessions += s.sessions > 0;
    links += s.loop_links;
  }
  EXPECT_GE(loops_with_sessions, 2u) << "the kernel spreads 31 clients over the loops";
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u);
  const RelayStats total = group->stats();
  EXPECT_EQ(total.upstream_subscriptions, 1u);
  EXPECT_EQ(total.downstream_subscriptions, size_t(kViewers)) << "links to other loops are not viewers";
  size_t origin = 0, other_loops_with_viewers = 0;
  for (size_t i = 0; i < per_loop.size(); ++i)
    if (per_loop[i].upstream_subscriptions == 1) origin = i;
  for (size_t i = 0; i < per_loop.size(); ++i)
    other_loops_with_viewers += i != origin && per_loop[i].downstream_subscriptions > 0;
  EXPECT_EQ(links, other_loops_with_viewers) << "one link per other loop with viewers";

  constexpr uint64_t kGroups = 3, kPerGroup = 5;
  pub_loop.run_sync([&] {
    for (uint64_t g = 0; g < kGroups; ++g) {
      for (uint64_t o = 0; o < kPerGroup; ++o) track->write(make_object(g, o));
      track->write(make_object(g, kPerGroup, 1));
    }
    track->finish();
  });
  const size_t want = kGroups * (kPerGroup + 1);
  for (int i = 0; i < kViewers; ++i) {
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() >= want && rec[i].done; }))
        << "viewer " << i << " got " << rec[i].count();
    expect_intact(rec[i], want, "viewer " + std::to_string(i));
    EXPECT_EQ(*rec[i].done, 0x2u) << "TRACK_ENDED crosses loops";
  }
  EXPECT_EQ(group->stats().loop_link_drops, 0u);
  ASSERT_TRUE(eventually([&] { return group->stats().loop_links == 0; })) << "ended links go";
}

// In-process: published on loop 0, read on loop 1 through a link: the same payload bytes (not a
// copy), the live group from object 0, subgroup ends, then the end of the track.
TEST_F(GroupTest, ObjectsCrossLoopsWithoutCopies) {
  start(2);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  uint64_t pub_id = 0, sub_id = 0;
  group->loop(0).run_sync([&] {
    pub_id = group->relay(0)->add_local("test publisher");
    ASSERT_TRUE(group->relay(0)->publish_local(pub_id, track));
    for (uint64_t o = 0; o < 3; ++o) track->write(make_object(0, o));
  });
  std::set<const void*> sent;
  group->loop(0).run_sync([&] {
    for (const Object* o : track->cached_range({0, 0}, {0, 2}, wire::GroupOrder::kAscending))
      sent.insert(o->payload.data.data());
  });
  struct Seen : Waitable {
    std::vector<std::pair<wire::Location, const void*>> objects;
    std::optional<session::TrackEnd> end;
  } seen;
  std::unique_ptr<LocalSubscription> sub;
  ASSERT_TRUE(eventually([&] { return group->stats_per_loop()[1].namespaces == 1; })) << "loop 1 learns the namespace";
  group->loop(1).run_sync([&] {
    sub_id = group->relay(1)->add_local("test viewer");
    // Answered later, once loop 0 has fed the link its first event.
    group->relay(1)->find_local(sub_id, kTrack, session::RequestFor::kSubscribe,
                                [&](std::shared_ptr<TrackPublisher> pub, session::LookupError, const std::string&) {
                                  ASSERT_TRUE(pub);
                                  LocalSubscription::Callbacks cb;
                                  cb.object = [&](const Object& o) {
                                    seen.set([&] { seen.objects.push_back({o.location, o.payload.data.data()}); });
                                  };
                                  cb.end = [&](session::TrackEnd why) { seen.set([&] { seen.end = why; }); };
                                  sub = std::make_unique<LocalSubscription>(pub, std::move(cb));
                                });
  });
  ASSERT_TRUE(seen.wait([&] { return seen.objects.size() == 3; }));
  group->loop(0).run_sync([&] {
    for (uint64_t o = 3; o < 5; ++o) {
      track->write(make_object(0, o));
      sent.insert(track->cached_range({0, o}, {0, o}, wire::GroupOrder::kAscending)[0]->payload.data.data());
    }
    track->finish();
  });
  ASSERT_TRUE(seen.wait([&] { return seen.objects.size() == 5 && seen.end; }));
  std::lock_guard<std::mutex> l(seen.mu);
  for (uint64_t o = 0; o < 5; ++o) {
    EXPECT_EQ(seen.objects[o].first, (wire::Location{0, o}));
    EXPECT_TRUE(sent.count(seen.objects[o].second)) << "object " << o << " was copied";
  }
  EXPECT_EQ(*seen.end, session::TrackEnd::kTrackEnded);
  group->loop(1).run_sync([&] { sub.reset(); });
}

// A publisher that leaves: viewers on every loop hear PUBLISH_DONE, every loop forgets the
// namespace, and a new publisher is served on every loop at once.
TEST_F(GroupTest, PublisherGoneEverywhereThenSuccessor) {
  start(2);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  Client* pub = announce(Draft::k18, kNs, track);
  std::deque<Recorder> rec(8);
  for (int i = 0; i < 8; ++i) {
    Client* v = connect(view_loop, Draft::k16, i % 2, nullptr, nullptr);
    ASSERT_TRUE(on(view_loop, [&] { return v->subscribe(kTrack, SubscribeOptions{}, &rec[i]); }));
  }
  for (auto& r : rec) ASSERT_TRUE(r.wait([&] { return r.ok; }));
  pub_loop.run_sync([&] { pub->close(0, "bye"); });
  for (auto& r : rec) ASSERT_TRUE(r.wait([&] { return r.done.has_value(); }));
  ASSERT_TRUE(eventually([&] {
    for (const RelayStats& s : group->stats_per_loop())
      if (s.namespaces != 0 || s.tracks != 0 || s.loop_links != 0) return false;
    return true;
  })) << "gone from every loop";

  auto track2 = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k14, kNs, track2);
  std::deque<Recorder> again(8);
  for (int i = 0; i < 8; ++i) {
    Client* v = connect(view_loop, Draft::k18, i % 2, nullptr, nullptr);
    ASSERT_TRUE(on(view_loop, [&] { return v->subscribe(kTrack, SubscribeOptions{}, &again[i]); }));
  }
  for (auto& r : again) ASSERT_TRUE(r.wait([&] { return r.ok || r.error; }));
  pub_loop.run_sync([&] { track2->write(make_object(0, 0)); });
  for (auto& r : again) ASSERT_TRUE(r.wait([&] { return r.objects.size() == 1; }));
}

// Viewers come and go on every loop: after the linger, no link, feed, track or session is left.
TEST_F(GroupTest, ChurnLeavesNothingBehind) {
  start(3, std::chrono::milliseconds(100));
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k16, kNs, track);
  for (int round = 0; round < 3; ++round) {
    std::deque<Recorder> rec(12);
    std::vector<Client*> vs;
    for (int i = 0; i < 12; ++i) {
      vs.push_back(connect(view_loop, Draft::k18, i % 2, nullptr, nullptr));
      ASSERT_TRUE(on(view_loop, [&] { return vs.back()->subscribe(kTrack, SubscribeOptions{}, &rec[i]); }));
    }
    for (auto& r : rec) ASSERT_TRUE(r.wait([&] { return r.ok; }));
    pub_loop.run_sync([&] { track->write(make_object(round, 0)); });
    for (auto& r : rec) ASSERT_TRUE(r.wait([&] { return !r.objects.empty(); }));
    // Half unsubscribe, half close.
    for (int i = 0; i < 12; ++i) view_loop.run_sync([&] { vs[i]->close(0, "bye"); });
    ASSERT_TRUE(eventually([&] {
      const RelayStats s = group->stats();
      return s.sessions == 1 && s.downstream_subscriptions == 0 && s.loop_links == 0;
    })) << "round " << round;
    // Client objects go on their loop.
    std::vector<std::pair<quic::EventLoop*, std::unique_ptr<Client>>> keep;
    for (auto& c : clients)
      if (c.first == &pub_loop) keep.push_back(std::move(c));
      else view_loop.run_sync([&] { c.second.reset(); });
    clients = std::move(keep);
  }
  EXPECT_TRUE(eventually([&] { return on(pub_loop, [&] { return track->subscriber_count(); }) == 0; }))
      << "the publisher's loop let go too, after its linger";
  ASSERT_TRUE(eventually([&] { return group->stats().tracks == 0; }));
  const RelayStats s = group->stats();
  EXPECT_EQ(s.sessions_opened, s.sessions_closed + 1);
}


// SUBSCRIBE_TRACKS on every loop: a track PUBLISHed on one loop is PUBLISHed to watchers on all
// loops, those that watched before it came and those that watch after, each once, through one
// mirror per loop.
TEST_F(GroupTest, PushedTrackReachesTrackWatchersOnEveryLoop) {
  start(3);
  std::deque<TrackPushes> early(6), late(6);
  auto watch = [&](TrackPushes& h, int i) {
    Client* v = connect(view_loop, i % 2 ? Draft::k18 : Draft::k16, i % 3 == 0, &h, nullptr);
    view_loop.run_sync([&] { v->session().subscribe_tracks({"live"}, nullptr); });
  };
  for (int i = 0; i < 6; ++i) watch(early[i], i);
  std::this_thread::sleep_for(300ms);  // the watches are in before the track comes
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  Client* pub = connect(pub_loop, Draft::k18, false, nullptr, nullptr);
  auto ok = std::make_shared<std::promise<bool>>();
  pub_loop.run_sync([&] { pub->publish(track, [ok](bool good, uint64_t) { ok->set_value(good); }); });
  auto f = ok->get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(f.get());
  pub_loop.run_sync([&] { track->write(make_object(0, 0)); });
  for (auto& h : early) ASSERT_TRUE(h.wait([&] { return h.names.size() == 1; }));
  for (int i = 0; i < 6; ++i) watch(late[i], i + 6);
  for (auto& h : late) ASSERT_TRUE(h.wait([&] { return h.names.size() == 1; }));
  pub_loop.run_sync([&] { track->write(make_object(0, 1)); });
  for (auto* set : {&early, &late})
    for (auto& h : *set) {
      Recorder* r = h.of(kTrack);
      ASSERT_TRUE(r);
      ASSERT_TRUE(r->wait([&] { return r->objects.size() == 2; })) << "from the live group's object 0";
      expect_intact(*r, 2, "pushed");
    }
  const std::vector<RelayStats> per = group->stats_per_loop();
  size_t loops_with_viewers = 0, pushed = 0;
  for (const RelayStats& s : per) {
    loops_with_viewers += s.sessions > 0;
    pushed += s.tracks_pushed;
  }
  EXPECT_GE(loops_with_viewers, 2u) << "13 clients over 3 loops";
  EXPECT_EQ(pushed, 12u) << "once per watcher";
  EXPECT_EQ(group->stats().tracks, 1u);
  for (auto* set : {&early, &late})
    for (auto& h : *set) EXPECT_EQ(h.count(), 1u);
}

}  // namespace
}  // namespace moqt::relay::test
