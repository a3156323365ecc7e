// The relay end to end over loopback: publishers (PUBLISH_NAMESPACE and PUBLISH) and viewers at
// drafts 14, 16 and 18 over raw QUIC and WebTransport on one port. Cross-draft delivery, one
// upstream subscription per track, fast join from the cache, routing, held requests, namespace
// subscriptions, a publisher's departure and its successor, linger.
#include "relay_fixture.h"

namespace moqt::relay::test {
namespace {

using wire::Draft;

const TrackNamespace kNs{"live", "show"};
const FullTrackName kTrack{kNs, "video"};

const char* name(Draft d) { return wire::profile(d).name; }

struct CrossDraft : RelayFixture, ::testing::TestWithParam<std::tuple<Draft, bool>> {};

TEST_P(CrossDraft, PublisherAtOneDraftReachesViewersAtEvery) {
  const auto [pub_draft, pub_wt] = GetParam();
  start_relay();
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(pub_draft, pub_wt, kNs, track);

  const std::vector<Draft> drafts = {Draft::k14, Draft::k16, Draft::k18};
  std::deque<Recorder> rec(6);
  for (int i = 0; i < 6; ++i) {
    const bool wt = i % 2;
    const Draft d = drafts[i / 2];
    Client* v = viewer(d, wt);
    ASSERT_TRUE(subscribe(v, kTrack, rec[i]));
  }
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(rec[i].wait([&] { return rec[i].ok; })) << "viewer " << i;
  // However many viewers: one subscription at the publisher.
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u);
  EXPECT_EQ(stats().upstream_subscriptions, 1u);
  EXPECT_EQ(stats().downstream_subscriptions, 6u);

  constexpr uint64_t kGroups = 3, kPerGroup = 4;
  pub_loop.run_sync([&] {
    for (uint64_t g = 0; g < kGroups; ++g) {
      for (uint64_t o = 0; o < kPerGroup; ++o) track->write(make_object(g, o));
      track->write(make_object(g, kPerGroup, 1));  // an enhancement layer: subgroup 1
    }
    track->finish();
  });
  const size_t want = kGroups * (kPerGroup + 1);
  for (int i = 0; i < 6; ++i) {
    const std::string who = std::string("viewer at draft-") + name(drafts[i / 2]) + (i % 2 ? " WT" : " QUIC");
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() >= want && rec[i].done; })) << who << " got "
                                                                                           << rec[i].count();
    expect_intact(rec[i], want, who);
    EXPECT_EQ(*rec[i].done, 0x2u) << who << ": TRACK_ENDED";
  }
  stop();
}

INSTANTIATE_TEST_SUITE_P(Relay, CrossDraft,
                         ::testing::Combine(::testing::Values(Draft::k14, Draft::k16, Draft::k18), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string("d") + std::to_string(int(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) ? "_wt" : "_quic");
                         });

struct RelayTest : RelayFixture, ::testing::Test {};

// A viewer joining mid-group gets the live group from object 0 out of the relay's cache, then the
// rest live: it can decode at once.
TEST_F(RelayTest, JoinerGetsTheLiveGroupFromObjectZeroFromTheCache) {
  start_relay();
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k16, false, kNs, track);
  Recorder first, late;
  ASSERT_TRUE(subscribe(viewer(Draft::k18, false), kTrack, first));
  ASSERT_TRUE(first.wait([&] { return first.ok; }));
  pub_loop.run_sync([&] {
    for (uint64_t o = 0; o < 5; ++o) track->write(make_object(0, o));
    for (uint64_t o = 0; o < 3; ++o) track->write(make_object(1, o));
  });
  ASSERT_TRUE(first.wait([&] { return first.objects.size() == 8; }));
  ASSERT_TRUE(subscribe(viewer(Draft::k14, true), kTrack, late));
  ASSERT_TRUE(late.wait([&] { return late.ok && late.objects.size() == 3; })) << late.count();
  pub_loop.run_sync([&] { track->write(make_object(1, 3)); });
  ASSERT_TRUE(late.wait([&] { return late.objects.size() == 4; }));
  {
    std::lock_guard<std::mutex> l(late.mu);
    for (uint64_t o = 0; o < 4; ++o) EXPECT_EQ(late.objects[o].location, (wire::Location{1, o}));
    ASSERT_TRUE(late.largest);
    EXPECT_EQ(*late.largest, (wire::Location{1, 2}));
  }
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u);
  stop();
}

// PUBLISH (pushed) tracks are served like announced ones; the longest announced prefix routes.
TEST_F(RelayTest, PushedTracksAndLongestPrefixRouting) {
  start_relay();
  auto pushed = std::make_shared<TrackPublisher>(FullTrackName{{"push"}, "t"}, TrackOptions{});
  Client* pusher = connect(pub_loop, Draft::k18, true, nullptr, nullptr).release();
  publishers.emplace_back(pusher);
  auto ok = std::make_shared<std::promise<bool>>();
  pub_loop.run_sync([&] { pusher->publish(pushed, [ok](bool good, uint64_t) { ok->set_value(good); }); });
  auto f = ok->get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(f.get());
  pub_loop.run_sync([&] { pushed->write(make_object(0, 0)); });

  auto broad = std::make_shared<TrackPublisher>(FullTrackName{{"live"}, "x"}, TrackOptions{});
  auto narrow = std::make_shared<TrackPublisher>(FullTrackName{{"live", "a"}, "x"}, TrackOptions{});
  announce(Draft::k14, false, {"live"}, broad);
  announce(Draft::k16, false, {"live", "a"}, narrow);

  Recorder r_push, r_broad, r_narrow, r_missing;
  Client* v = viewer(Draft::k16, false);
  ASSERT_TRUE(subscribe(v, {{"push"}, "t"}, r_push));
  ASSERT_TRUE(subscribe(v, {{"live"}, "x"}, r_broad));
  ASSERT_TRUE(subscribe(v, {{"live", "a"}, "x"}, r_narrow));
  ASSERT_TRUE(subscribe(v, {{"live", "a"}, "nope"}, r_missing));
  ASSERT_TRUE(r_push.wait([&] { return r_push.ok && r_push.objects.size() == 1; }));
  ASSERT_TRUE(r_broad.wait([&] { return r_broad.ok; }));
  ASSERT_TRUE(r_narrow.wait([&] { return r_narrow.ok; }));
  ASSERT_TRUE(r_missing.wait([&] { return r_missing.error.has_value(); }));
  EXPECT_EQ(*r_missing.error, 0x10u) << "DOES_NOT_EXIST, as the publisher answered";
  EXPECT_EQ(on(pub_loop, [&] { return broad->subscriber_count() + 10 * narrow->subscriber_count(); }), 11u);
  stop();
}

// The publisher goes mid-group: its viewers get PUBLISH_DONE, everything it registered is gone at
// once, and a new publisher of the same namespace is served right away.
TEST_F(RelayTest, PublisherGoneThenSuccessorServedAtOnce) {
  start_relay();
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  Client* pub = announce(Draft::k18, false, kNs, track);
  Recorder r1;
  Client* v = viewer(Draft::k16, true);
  ASSERT_TRUE(subscribe(v, kTrack, r1));
  ASSERT_TRUE(r1.wait([&] { return r1.ok; }));
  pub_loop.run_sync([&] {
    for (uint64_t o = 0; o < 3; ++o) track->write(make_object(0, o));
  });
  ASSERT_TRUE(r1.wait([&] { return r1.objects.size() == 3; }));
  pub_loop.run_sync([&] {
    pub->close(0, "gone");
    publishers.clear();
  });
  ASSERT_TRUE(r1.wait([&] { return r1.done.has_value(); })) << "PUBLISH_DONE after the publisher left";
  ASSERT_TRUE(eventually([&] { return stats().namespaces == 0 && stats().tracks == 0; }));

  auto track2 = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k14, true, kNs, track2);
  Recorder r2;
  ASSERT_TRUE(subscribe(v, kTrack, r2));
  ASSERT_TRUE(r2.wait([&] { return r2.ok; }));
  pub_loop.run_sync([&] { track2->write(make_object(5, 0)); });
  ASSERT_TRUE(r2.wait([&] { return r2.objects.size() == 1; }));
  EXPECT_EQ(stats().namespaces, 1u);
  stop();
}

// A publisher that PUBLISHes a track the relay already has (an encoder restarted while its dead
// predecessor's session has not timed out yet) takes it over: the old one's viewers get
// PUBLISH_DONE, the old publisher is unsubscribed, new viewers get the new publisher's objects.
TEST_F(RelayTest, NewestPublisherOfATrackTakesItOver) {
  start_relay();
  auto push = [&](Draft d, std::shared_ptr<TrackPublisher> t) {
    Client* c = connect(pub_loop, d, d == Draft::k18, nullptr, nullptr).release();
    publishers.emplace_back(c);
    auto ok = std::make_shared<std::promise<bool>>();
    pub_loop.run_sync([&] { c->publish(t, [ok](bool good, uint64_t) { ok->set_value(good); }); });
    auto f = ok->get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(f.get()) << name(d);
  };
  const FullTrackName a{{"cam"}, "a"}, b{{"cam"}, "b"};
  auto old_a = std::make_shared<TrackPublisher>(a, TrackOptions{});
  auto old_b = std::make_shared<TrackPublisher>(b, TrackOptions{});
  push(Draft::k18, old_a);  // the relay cancels a -18 PUBLISH on its request stream
  push(Draft::k14, old_b);  // and a -14 one with UNSUBSCRIBE
  Recorder r1a, r1b;
  Client* v = viewer(Draft::k16, true);
  ASSERT_TRUE(subscribe(v, a, r1a));
  ASSERT_TRUE(subscribe(v, b, r1b));
  ASSERT_TRUE(r1a.wait([&] { return r1a.ok; }));
  ASSERT_TRUE(r1b.wait([&] { return r1b.ok; }));
  pub_loop.run_sync([&] {
    old_a->write(make_object(7, 0));
    old_b->write(make_object(7, 0));
  });
  ASSERT_TRUE(r1a.wait([&] { return r1a.objects.size() == 1; }));

  auto new_a = std::make_shared<TrackPublisher>(a, TrackOptions{});
  auto new_b = std::make_shared<TrackPublisher>(b, TrackOptions{});
  push(Draft::k16, new_a);
  push(Draft::k16, new_b);
  ASSERT_TRUE(r1a.wait([&] { return r1a.done.has_value(); })) << "the old source's viewers hear PUBLISH_DONE";
  ASSERT_TRUE(r1b.wait([&] { return r1b.done.has_value(); }));
  ASSERT_TRUE(eventually([&] {
    return on(pub_loop, [&] { return old_a->subscriber_count() + old_b->subscriber_count(); }) == 0;
  })) << "the old publisher is unsubscribed";
  Recorder r2a, r2b;
  ASSERT_TRUE(subscribe(v, a, r2a));
  ASSERT_TRUE(subscribe(v, b, r2b));
  ASSERT_TRUE(r2a.wait([&] { return r2a.ok; }));
  ASSERT_TRUE(r2b.wait([&] { return r2b.ok; }));
  pub_loop.run_sync([&] {
    old_a->write(make_object(8, 0));  // nobody listens to the old ones any more
    new_a->write(make_object(0, 0));
    new_b->write(make_object(0, 0));
  });
  ASSERT_TRUE(r2a.wait([&] { return r2a.objects.size() == 1; }));
  ASSERT_TRUE(r2b.wait([&] { return r2b.objects.size() == 1; }));
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard<std::mutex> l(r2a.mu);
    ASSERT_EQ(r2a.objects.size(), 1u);
    EXPECT_EQ(r2a.objects[0].location, (wire::Location{0, 0}));
  }
  EXPECT_EQ(stats().pushed_tracks, 2u);
  EXPECT_EQ(stats().sessions, 5u) << "the old publishers stay connected";
  stop();
}

TEST_F(RelayTest, UnknownNamespaceIsRefusedAtOnce) {
  start_relay();
  Recorder r14, r18;
  ASSERT_TRUE(subscribe(viewer(Draft::k14, false), kTrack, r14));
  ASSERT_TRUE(subscribe(viewer(Draft::k18, true), kTrack, r18));
  ASSERT_TRUE(r14.wait([&] { return r14.error.has_value(); }, 3s));
  ASSERT_TRUE(r18.wait([&] { return r18.error.has_value(); }, 3s));
  EXPECT_EQ(*r14.error, 0x4u) << "-14 TRACK_DOES_NOT_EXIST";
  EXPECT_EQ(*r18.error, 0x10u) << "-18 DOES_NOT_EXIST";
  stop();
}

// With a hold time, a SUBSCRIBE that comes before its publisher waits for it.
TEST_F(RelayTest, RequestHeldUntilThePublisherAppears) {
  RelayConfig cfg;
  cfg.hold = 5s;
  start_relay(cfg);
  Recorder r;
  ASSERT_TRUE(subscribe(viewer(Draft::k16, false), kTrack, r));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(stats().held_requests, 1u);
  EXPECT_FALSE(r.ok);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k18, true, kNs, track);
  ASSERT_TRUE(r.wait([&] { return r.ok; }));
  pub_loop.run_sync([&] { track->write(make_object(0, 0)); });
  ASSERT_TRUE(r.wait([&] { return r.objects.size() == 1; }));
  EXPECT_EQ(stats().held_requests, 0u);
  stop();
}

// SUBSCRIBE_NAMESPACE hears current and future namespaces and their ends, at every draft.
TEST_F(RelayTest, NamespaceSubscribersHearAnnouncementsAndEnds) {
  start_relay();
  announce(Draft::k16, false, {"live", "a"}, nullptr);
  std::deque<NamespaceEvents> ev(3);
  const std::vector<Draft> drafts = {Draft::k14, Draft::k16, Draft::k18};
  for (int i = 0; i < 3; ++i) {
    Client* v = viewer(drafts[i], i == 1, &ev[i]);
    view_loop.run_sync([&] { v->session().subscribe_namespace({"live"}, nullptr); });
  }
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(ev[i].wait([&] { return ev[i].updates.size() == 1; })) << name(drafts[i]);
  announce(Draft::k18, true, {"live", "b"}, nullptr);
  announce(Draft::k18, true, {"other"}, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ev[i].wait([&] { return ev[i].updates.size() == 2; })) << name(drafts[i]);
  pub_loop.run_sync([&] { publishers[1]->close(0, "bye"); });  // {"live", "b"} goes with its session
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(ev[i].wait([&] { return ev[i].updates.size() == 3; })) << name(drafts[i]);
    std::lock_guard<std::mutex> l(ev[i].mu);
    EXPECT_EQ(ev[i].updates[0], std::make_pair(TrackNamespace{"live", "a"}, true)) << name(drafts[i]);
    EXPECT_EQ(ev[i].updates[1], std::make_pair(TrackNamespace{"live", "b"}, true)) << name(drafts[i]);
    EXPECT_EQ(ev[i].updates[2], std::make_pair(TrackNamespace{"live", "b"}, false)) << name(drafts[i]);
  }
  stop();
}

// A held SUBSCRIBE goes to a publisher that announces its namespace and at once PUBLISHes the
// same track: the PUBLISH takes the track over and the waiting subscriber is served by it (it
// used to get no answer at all).
TEST_F(RelayTest, WaitingSubscriberServedByAPublishThatTakesOver) {
  RelayConfig cfg;
  cfg.hold = 5000ms;
  start_relay(cfg);
  Recorder r;
  ASSERT_TRUE(subscribe(viewer(Draft::k16, false), kTrack, r));
  ASSERT_TRUE(eventually([&] { return stats().held_requests == 1; }));
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  registries.push_back(std::make_unique<TrackRegistry>());
  TrackRegistry* reg = registries.back().get();
  pub_loop.run_sync([&] { reg->add(track); });
  publishers.push_back(connect(pub_loop, Draft::k16, false, nullptr, reg));
  Client* c = publishers.back().get();
  pub_loop.run_sync([&] {
    c->publish_namespace(kNs, nullptr);
    c->publish(track, nullptr);
  });
  ASSERT_TRUE(r.wait([&] { return r.ok || r.error || r.done; })) << "the subscriber got an answer";
  EXPECT_TRUE(r.ok);
  ASSERT_TRUE(eventually([&] { return on(pub_loop, [&] { return track->subscriber_count(); }) >= 1; }));
  pub_loop.run_sync([&] {
    for (uint64_t o = 0; o < 3; ++o) track->write(make_object(0, o));
  });
  ASSERT_TRUE(r.wait([&] { return r.objects.size() >= 3 || r.done; })) << r.count();
  EXPECT_EQ(r.count(), 3u);
  stop();
}

// Objects a publisher writes right after PUBLISH, before PUBLISH_OK comes back, reach the relay:
// the publisher's session sends the current group from object 0 once accepted, so a viewer
// joining later still decodes from the group's start.
TEST_F(RelayTest, ObjectsWrittenBeforePublishOkAreNotLost) {
  start_relay();
  for (Draft d : {Draft::k14, Draft::k16, Draft::k18}) {
    const FullTrackName name{{"push", wire::profile(d).name}, "t"};
    auto track = std::make_shared<TrackPublisher>(name, TrackOptions{});
    publishers.push_back(connect(pub_loop, d, d == Draft::k16, nullptr, nullptr));
    Client* c = publishers.back().get();
    pub_loop.run_sync([&] {
      c->publish(track, nullptr);
      for (uint64_t o = 0; o < 3; ++o) track->write(make_object(0, o));
    });
    ASSERT_TRUE(eventually([&] { return on(pub_loop, [&] { return track->subscriber_count(); }) == 1; }));
    Recorder r;
    ASSERT_TRUE(subscribe(viewer(Draft::k18, true), name, r));
    ASSERT_TRUE(r.wait([&] { return r.objects.size() >= 3; })) << wire::profile(d).name << ": got " << r.count();
    pub_loop.run_sync([&] { track->write(make_object(0, 3)); });
    ASSERT_TRUE(r.wait([&] { return r.objects.size() >= 4; }));
    expect_intact(r, 4, wire::profile(d).name);
  }
  stop();
}

// A session asking for more subscriptions than max_incoming_subscriptions is refused (and the
// refusal counted and logged) while its first ones keep flowing.
TEST_F(RelayTest, RequestsPerSessionAreBounded) {
  RelayConfig cfg;
  cfg.server.session.max_incoming_subscriptions = 2;
  start_relay(cfg);
  std::vector<std::shared_ptr<TrackPublisher>> tracks;
  registries.push_back(std::make_unique<TrackRegistry>());
  TrackRegistry* reg = registries.back().get();
  for (int i = 0; i < 3; ++i) {
    tracks.push_back(std::make_shared<TrackPublisher>(FullTrackName{kNs, "t" + std::to_string(i)}, TrackOptions{}));
    pub_loop.run_sync([&] { reg->add(tracks.back()); });
  }
  publishers.push_back(connect(pub_loop, Draft::k18, false, nullptr, reg));
  Client* c = publishers.back().get();
  pub_loop.run_sync([&] { c->publish_namespace(kNs, nullptr); });
  ASSERT_TRUE(eventually([&] { return stats().namespaces == 1; }));
  Client* v = viewer(Draft::k16, false);
  std::deque<Recorder> rec(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(subscribe(v, tracks[i]->name(), rec[i]));
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].ok || rec[i].error; }));
  }
  EXPECT_TRUE(rec[0].ok);
  EXPECT_TRUE(rec[1].ok);
  EXPECT_TRUE(rec[2].error) << "the third subscription is over the limit";
  EXPECT_GE(stats().limit_hits, 1u);
  pub_loop.run_sync([&] { tracks[1]->write(make_object(0, 0)); });
  ASSERT_TRUE(rec[1].wait([&] { return rec[1].objects.size() == 1; }));
  std::lock_guard<std::mutex> l(log_mu);
  EXPECT_TRUE(std::any_of(log.begin(), log.end(),
                          [](const std::string& line) { return line.find("max_incoming_subscriptions") != std::string::npos; }));
  stop();
}

// cache_age: groups older than the bound leave the cache even when nothing more is written; a
// joiner then waits for the next group instead of getting stale media.
TEST_F(RelayTest, CacheAgeBoundEmptiesAQuietTrack) {
  RelayConfig cfg;
  cfg.cache_age = 300ms;
  start_relay(cfg);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k18, false, kNs, track);
  Recorder first;
  ASSERT_TRUE(subscribe(viewer(Draft::k18, false), kTrack, first));
  ASSERT_TRUE(first.wait([&] { return first.ok; }));
  pub_loop.run_sync([&] {
    for (uint64_t o = 0; o < 3; ++o) track->write(make_object(0, o));
  });
  ASSERT_TRUE(first.wait([&] { return first.objects.size() == 3; }));
  EXPECT_GT(stats().cache_bytes, 0u);
  ASSERT_TRUE(eventually([&] { return stats().cache_bytes == 0; }, 3s)) << "aged out";
  Recorder late;
  ASSERT_TRUE(subscribe(viewer(Draft::k16, true), kTrack, late));
  ASSERT_TRUE(late.wait([&] { return late.ok; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(late.count(), 0u) << "nothing stale replayed";
  pub_loop.run_sync([&] { track->write(make_object(1, 0)); });
  ASSERT_TRUE(late.wait([&] { return late.objects.size() == 1; }));
  stop();
}

// The last viewer leaving ends the upstream subscription after the linger time, not before.
TEST_F(RelayTest, UpstreamSubscriptionLingersThenGoes) {
  RelayConfig cfg;
  cfg.linger = 400ms;
  start_relay(cfg);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k18, false, kNs, track);
  Recorder r1, r2;
  Client* v = viewer(Draft::k18, false);
  auto h1 = subscribe(v, kTrack, r1);
  ASSERT_TRUE(h1);
  ASSERT_TRUE(r1.wait([&] { return r1.ok; }));
  view_loop.run_sync([&] { v->unsubscribe(*h1); });
  ASSERT_TRUE(eventually([&] { return stats().downstream_subscriptions == 0; }));
  EXPECT_EQ(stats().upstream_subscriptions, 1u) << "lingers";
  // A viewer back within the linger time reuses it.
  ASSERT_TRUE(subscribe(v, kTrack, r2));
  ASSERT_TRUE(r2.wait([&] { return r2.ok; }));
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(stats().upstream_subscriptions, 1u);
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u);
  view_loop.run_sync([&] { v->close(0, "bye"); });
  ASSERT_TRUE(eventually([&] { return on(pub_loop, [&] { return track->subscriber_count(); }) == 0; }, 5s));
  EXPECT_EQ(stats().tracks, 0u);
  stop();
}


// SUBSCRIBE_TRACKS (-18; -16: SUBSCRIBE_NAMESPACE with options PUBLISH): the relay PUBLISHes every
// pushed track under the prefix, those there already and those that come later, never the
// subscriber's own, once each; a cancelled request stops new PUBLISHes; -14 cannot ask.
struct TrackWatch : RelayFixture, ::testing::TestWithParam<Draft> {};

// Connects a pusher at -18 and PUBLISHes `t` through it.
static Client* push(RelayFixture& f, std::shared_ptr<TrackPublisher> t) {
  Client* c = f.connect(f.pub_loop, Draft::k18, false, nullptr, nullptr).release();
  f.publishers.emplace_back(c);
  auto ok = std::make_shared<std::promise<bool>>();
  f.pub_loop.run_sync([&] { c->publish(t, [ok](bool good, uint64_t) { ok->set_value(good); }); });
  auto fut = ok->get_future();
  EXPECT_EQ(fut.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(fut.get());
  return c;
}

static std::pair<bool, uint64_t> wait_done(std::shared_ptr<std::promise<std::pair<bool, uint64_t>>> p) {
  auto f = p->get_future();
  if (f.wait_for(10s) != std::future_status::ready) return {false, ~0ull};
  return f.get();
}

TEST_P(TrackWatch, PushedTracksUnderThePrefixArePublishedToTheSubscriber) {
  const Draft d = GetParam();
  start_relay();
  const FullTrackName a{{"live", "a"}, "v"}, c{{"live", "c"}, "w"}, other{{"other"}, "x"}, late{{"live", "d"}, "z"};
  auto ta = std::make_shared<TrackPublisher>(a, TrackOptions{});
  push(*this, ta);
  pub_loop.run_sync([&] { ta->write(make_object(0, 0)); });
  announce(Draft::k16, false, {"live", "b"}, nullptr);  // announced, not pushed: nothing to PUBLISH

  TrackPushes watcher, second;
  Client* v = viewer(d, d == Draft::k16, &watcher);
  Client* v2 = viewer(Draft::k18, true, &second);
  auto done = std::make_shared<std::promise<std::pair<bool, uint64_t>>>();
  auto rid = on(view_loop, [&] {
    return v->session().subscribe_tracks({"live"}, [done](bool ok, uint64_t code) { done->set_value({ok, code}); });
  });
  ASSERT_TRUE(rid);
  const auto answer = wait_done(done);
  if (d == Draft::k14) {
    EXPECT_EQ(answer, std::make_pair(false, uint64_t(0x3))) << "NOT_SUPPORTED: -14 has no way to ask";
    stop();
    return;
  }
  ASSERT_TRUE(answer.first) << answer.second;
  view_loop.run_sync([&] { v2->session().subscribe_tracks({"live"}, nullptr); });

  // The track already there, from its live group's object 0, then live.
  ASSERT_TRUE(watcher.wait([&] { return !watcher.names.empty(); }));
  Recorder* ra = watcher.of(a);
  ASSERT_TRUE(ra);
  pub_loop.run_sync([&] { ta->write(make_object(0, 1)); });
  ASSERT_TRUE(ra->wait([&] { return ra->objects.size() == 2; }));
  expect_intact(*ra, 2, "pushed track");

  // A track pushed later under the prefix comes; one elsewhere does not; nor the subscriber's own.
  auto tc = std::make_shared<TrackPublisher>(c, TrackOptions{});
  auto tother = std::make_shared<TrackPublisher>(other, TrackOptions{});
  push(*this, tc);
  push(*this, tother);
  auto own = std::make_shared<TrackPublisher>(FullTrackName{{"live", "mine"}, "o"}, TrackOptions{});
  auto own_ok = std::make_shared<std::promise<std::pair<bool, uint64_t>>>();
  view_loop.run_sync([&] { v->session().publish(own, [own_ok](bool ok, uint64_t code) { own_ok->set_value({ok, code}); }); });
  ASSERT_TRUE(wait_done(own_ok).first);
  pub_loop.run_sync([&] { tc->write(make_object(3, 0)); });
  ASSERT_TRUE(watcher.wait([&] { return watcher.names.size() >= 2; }));
  Recorder* rc = watcher.of(c);
  ASSERT_TRUE(rc);
  ASSERT_TRUE(rc->wait([&] { return rc->objects.size() == 1; }));
  // `second` sees the subscriber's own track: by then the relay has told everyone of it.
  ASSERT_TRUE(second.wait([&] { return second.names.size() == 3; }));
  EXPECT_TRUE(second.of(own.get()->name()));
  EXPECT_FALSE(watcher.of(other));
  EXPECT_EQ(watcher.count(), 2u) << "once each, never its own";

  if (d == Draft::k18) {  // a prefix overlapping an established one: PREFIX_OVERLAP
    auto overlap = std::make_shared<std::promise<std::pair<bool, uint64_t>>>();
    view_loop.run_sync([&] {
      v->session().subscribe_tracks({"live", "a"}, [overlap](bool ok, uint64_t code) { overlap->set_value({ok, code}); });
    });
    EXPECT_EQ(wait_done(overlap), std::make_pair(false, uint64_t(0x30)));
  }

  // Cancelled: what was pushed keeps flowing, nothing new is PUBLISHed to it.
  view_loop.run_sync([&] { v->session().unsubscribe_namespace(*rid); });
  ASSERT_TRUE(eventually([&] {
    return on(relay_loop, [&] { return relay->stats().downstream_subscriptions; }) >= 4;  // a, c to both
  }));
  std::this_thread::sleep_for(200ms);  // the cancel reaches the relay
  auto tlate = std::make_shared<TrackPublisher>(late, TrackOptions{});
  push(*this, tlate);
  ASSERT_TRUE(second.wait([&] { return second.names.size() == 4; }));
  pub_loop.run_sync([&] { ta->write(make_object(0, 2)); });
  ASSERT_TRUE(ra->wait([&] { return ra->objects.size() == 3; }));
  EXPECT_EQ(watcher.count(), 2u) << "no PUBLISH after the request was cancelled";
  EXPECT_EQ(stats().tracks_pushed, 6u);  // a, c to `v`; a, c, own, late to `v2`
  stop();
}

INSTANTIATE_TEST_SUITE_P(Relay, TrackWatch, ::testing::Values(Draft::k14, Draft::k16, Draft::k18),
                         [](const auto& info) { return "d" + std::to_string(int(info.param)); });

}  // namespace
}  // namespace moqt::relay::test
