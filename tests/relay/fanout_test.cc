// The relay's fan-out requirement (issue 17): one publisher, one relay, N viewers (500 by default;
// MOQT_FANOUT_SUBSCRIBERS overrides, sanitizer builds use fewer) over real loopback sockets, raw
// QUIC and WebTransport and drafts 14/16/18 round-robin. Every viewer gets every object once and in
// order per subgroup, the publisher sees one subscription, and once the viewers are gone (and the
// linger time passed) nothing is left in the relay.
#include <sys/resource.h>

#include <cstdlib>

#include "relay_fixture.h"

namespace moqt::relay::test {
namespace {

using wire::Draft;

const TrackNamespace kNs{"fanout", "show"};
const FullTrackName kTrack{kNs, "video"};
constexpr uint64_t kGroups = 5, kPerGroup = 30, kSubgroups = 2;
constexpr size_t kBatch = 50;  // viewers connected (and later closed) per loop task

size_t viewer_count() {
  const char* env = std::getenv("MOQT_FANOUT_SUBSCRIBERS");
  if (env && *env) return std::strtoul(env, nullptr, 10);
  return 500;
}

// Every viewer's client endpoint holds a UDP socket on this process: raise the soft limit.
bool raise_fd_limit(rlim_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= want) return true;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) return false;
  rl.rlim_cur = want;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

struct Fanout : RelayFixture, ::testing::Test {};

TEST_F(Fanout, EveryViewerGetsEveryObjectOnceThroughOneUpstreamSubscription) {
  const size_t n = viewer_count();
  ASSERT_GT(n, 0u);
  ASSERT_TRUE(raise_fd_limit(n + 256)) << "need " << n + 256 << " file descriptors";
  RelayConfig cfg;
  cfg.linger = 500ms;
  start_relay(cfg);
  auto track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  announce(Draft::k16, true, kNs, track);

  // All viewers share one loop thread; a batch connects and subscribes in one task (requests
  // made before the session is set up go out once it is).
  const std::vector<Draft> drafts = {Draft::k14, Draft::k16, Draft::k18};
  auto kind = [&](size_t i) {
    return std::string("viewer ") + std::to_string(i) + " (draft-" + wire::profile(drafts[i % 3]).name +
           ((i / 3) % 2 ? " WT)" : " QUIC)");
  };
  std::deque<Recorder> rec(n);
  std::vector<uint64_t> handles(n);
  viewers.resize(n);
  for (size_t first = 0; first < n; first += kBatch) {
    const size_t last = std::min(n, first + kBatch);
    std::string err;
    bool ok = true;
    ASSERT_TRUE(view_loop.run_sync(
        [&] {
          for (size_t i = first; i < last && ok; ++i) {
            ClientConfig cc;
            cc.verify = quic::VerifyMode::kInsecure;
            cc.drafts = {drafts[i % 3]};
            viewers[i] = Client::connect(view_loop, url((i / 3) % 2), cc, nullptr, nullptr, &err);
            if (!viewers[i]) {
              ok = false;
              break;
            }
            auto h = viewers[i]->subscribe(kTrack, SubscribeOptions{}, &rec[i]);
            if (!h) ok = false;
            else handles[i] = *h;
          }
        },
        30s));
    ASSERT_TRUE(ok) << err;
    for (size_t i = first; i < last; ++i)
      ASSERT_TRUE(rec[i].wait([&] { return rec[i].ok || rec[i].error; }, 30s)) << kind(i) << ": no answer";
    for (size_t i = first; i < last; ++i) ASSERT_TRUE(rec[i].ok) << kind(i) << ": error " << *rec[i].error;
  }
  // Each combination of draft and transport was negotiated as asked.
  const auto mix = on(view_loop, [&] {
    std::map<std::pair<Draft, bool>, size_t> m;
    for (size_t i = 0; i < n; ++i) {
      Session& s = viewers[i]->session();
      EXPECT_EQ(s.draft(), drafts[i % 3]) << kind(i);
      EXPECT_EQ(s.webtransport(), bool((i / 3) % 2)) << kind(i);
      ++m[{s.draft(), s.webtransport()}];
    }
    return m;
  });
  EXPECT_EQ(mix.size(), std::min<size_t>(n, 6));
  // However many viewers: one subscription at the publisher, n at the relay.
  EXPECT_EQ(on(pub_loop, [&] { return track->subscriber_count(); }), 1u);
  RelayStats st = stats();
  EXPECT_EQ(st.upstream_subscriptions, 1u);
  EXPECT_EQ(st.downstream_subscriptions, n);
  EXPECT_EQ(st.tracks, 1u);
  EXPECT_EQ(st.sessions, n + 1);

  // Subgroups interleaved within a group: object o goes to subgroup o % kSubgroups.
  pub_loop.run_sync([&] {
    for (uint64_t g = 0; g < kGroups; ++g)
      for (uint64_t o = 0; o < kPerGroup; ++o) track->write(make_object(g, o, o % kSubgroups));
    track->end_group(kGroups - 1);
  });
  const size_t want = kGroups * kPerGroup;
  const auto deadline = std::chrono::steady_clock::now() + 45s;
  for (size_t i = 0; i < n; ++i) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() >= want; }, std::max(left, 1ms)))
        << kind(i) << " got " << rec[i].count() << " of " << want;
  }
  st = stats();
  EXPECT_EQ(st.objects_in, want);
  EXPECT_EQ(st.objects_out, n * want) << "each object sent once to each viewer";
  EXPECT_EQ(st.objects_dropped, 0u);
  EXPECT_EQ(st.upstream_subscriptions, 1u);

  // Half the viewers unsubscribe, the other half close their sessions.
  for (size_t first = 0; first < n; first += kBatch) {
    ASSERT_TRUE(view_loop.run_sync(
        [&] {
          for (size_t i = first; i < std::min(n, first + kBatch); ++i) {
            if (i % 2) viewers[i]->close(0, "bye");
            else viewers[i]->unsubscribe(handles[i]);
          }
        },
        30s));
  }
  ASSERT_TRUE(eventually([&] { return stats().downstream_subscriptions == 0; }, 30s))
      << stats().downstream_subscriptions << " downstream subscriptions left";
  // After the linger time the upstream subscription goes, and the track with it.
  ASSERT_TRUE(eventually([&] { return stats().upstream_subscriptions == 0 && stats().tracks == 0; }, 10s));
  ASSERT_TRUE(eventually([&] { return on(pub_loop, [&] { return track->subscriber_count(); }) == 0; }, 10s))
      << "the publisher still has the relay's subscription";
  const size_t unsubscribed = (n + 1) / 2;
  ASSERT_TRUE(eventually([&] { return stats().sessions == unsubscribed + 1; }, 30s))
      << stats().sessions << " sessions; want the " << unsubscribed << " unsubscribed viewers and the publisher";

  // Nothing arrived late: still each object exactly once, in order within its subgroup.
  for (size_t i = 0; i < n; ++i) expect_intact(rec[i], want, kind(i));

  // The rest leave (closing: a client just destroyed would leave its session to the idle
  // timeout), then the publisher: nothing remains.
  for (size_t first = 0; first < n; first += kBatch) {
    ASSERT_TRUE(view_loop.run_sync(
        [&] {
          for (size_t i = first; i < std::min(n, first + kBatch); i += 2) viewers[i]->close(0, "bye");
        },
        30s));
  }
  ASSERT_TRUE(eventually([&] { return stats().sessions == 1; }, 30s)) << stats().sessions << " sessions left";
  pub_loop.run_sync([&] { publishers[0]->close(0, "bye"); });
  ASSERT_TRUE(eventually([&] { return stats().sessions == 0; }, 30s)) << "the publisher's session is left";
  st = stats();
  EXPECT_EQ(st.tracks, 0u);
  EXPECT_EQ(st.upstream_subscriptions, 0u);
  EXPECT_EQ(st.downstream_subscriptions, 0u);
  EXPECT_EQ(st.namespaces, 0u);
  EXPECT_EQ(st.held_requests, 0u);
  EXPECT_EQ(st.cache_bytes, 0u);
  EXPECT_EQ(st.sessions_opened, n + 1);
  EXPECT_EQ(st.sessions_closed, n + 1);
  EXPECT_EQ(st.objects_out, n * want);
  for (size_t first = 0; first < n; first += kBatch)
    view_loop.run_sync([&] {
      for (size_t i = first; i < std::min(n, first + kBatch); ++i) viewers[i].reset();
    });
  stop();
}

}  // namespace
}  // namespace moqt::relay::test
