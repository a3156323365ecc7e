// One upstream subscription fanned out: an origin speaking only draft 14, a relay node built from
// an UpstreamTrack (a Client subscribed upstream writing into a local TrackPublisher served by
// the relay's Server), and downstream subscribers at drafts 16 and 18 over raw QUIC and
// WebTransport. Every subscriber gets every object once, in order per subgroup, with payload and
// properties untouched; the origin sees one subscriber; the track's end reaches everyone.
#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "../common/waitable.h"
#include "moqt/relay/upstream_track.h"
#include "moqt/session/client.h"
#include "moqt/session/endpoint.h"

namespace moqt::relay {
namespace {

using namespace moqt::session;
using namespace std::chrono_literals;

const FullTrackName kTrack{{"live"}, "cam"};

struct Recorder : SubscriptionHandler, test::Waitable {
  bool ok = false;
  std::optional<uint64_t> done;
  std::vector<ReceivedObject> objects;
  void on_subscribe_ok(const SubscribeResult&) override { set([&] { ok = true; }); }
  void on_object(const ReceivedObject& o) override { set([&] { objects.push_back(o); }); }
  void on_done(uint64_t status, const std::string&) override { set([&] { done = status; }); }
};

std::unique_ptr<Server> serve(quic::EventLoop& loop, TrackRegistry* registry, std::vector<wire::Draft> drafts) {
  std::string err;
  auto cert = quic::generate_self_signed({"127.0.0.1"}, 1, &err);
  EXPECT_TRUE(cert) << err;
  ServerConfig sc;
  sc.listen = "127.0.0.1:0";
  sc.cert = *cert;
  sc.drafts = std::move(drafts);
  std::unique_ptr<Server> s;
  loop.run_sync([&] { s = Server::start(loop, sc, registry, nullptr, &err); });
  EXPECT_TRUE(s) << err;
  return s;
}

TEST(UpstreamTrack, OneUpstreamSubscriptionFansOutAcrossDrafts) {
  quic::EventLoop origin_loop, relay_loop, viewers_loop;
  origin_loop.start("origin");
  relay_loop.start("relay");
  viewers_loop.start("viewers");

  TrackRegistry origin_registry, relay_registry;
  auto origin_track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  origin_registry.add(origin_track);
  auto origin = serve(origin_loop, &origin_registry, {wire::Draft::k14});

  auto relay_track = std::make_shared<TrackPublisher>(kTrack, TrackOptions{});
  relay_registry.add(relay_track);
  UpstreamTrack upstream(relay_track);
  auto relay = serve(relay_loop, &relay_registry, {wire::Draft::k18, wire::Draft::k16, wire::Draft::k14});
  std::unique_ptr<Client> up;
  ClientConfig cc;
  cc.verify = quic::VerifyMode::kInsecure;
  std::string err;
  relay_loop.run_sync([&] {
    ClientConfig c14 = cc;
    c14.drafts = {wire::Draft::k14};
    up = Client::connect(relay_loop, "moqt://127.0.0.1:" + std::to_string(origin->address().port()) + "/moq", c14,
                         nullptr, nullptr, &err);
    ASSERT_TRUE(up) << err;
    SubscribeOptions so;
    so.filter = wire::SubscriptionFilter{wire::FilterType::kNextGroupStart, {}, {}};
    up->subscribe(kTrack, so, &upstream);
  });
  auto on_loop = [](quic::EventLoop& l, auto f) {
    decltype(f()) v{};
    l.run_sync([&] { v = f(); });
    return v;
  };
  ASSERT_TRUE(test::eventually([&] { return on_loop(relay_loop, [&] { return upstream.subscribed(); }); }));

  constexpr int kViewers = 24;
  std::deque<Recorder> rec(kViewers);
  std::vector<std::unique_ptr<Client>> viewers;
  viewers_loop.run_sync([&] {
    for (int i = 0; i < kViewers; ++i) {
      ClientConfig v = cc;
      v.drafts = {i % 2 ? wire::Draft::k16 : wire::Draft::k18};
      const std::string scheme = i % 4 < 2 ? "moqt" : "https";
      viewers.push_back(Client::connect(viewers_loop, scheme + "://127.0.0.1:" + std::to_string(relay->address().port()) +
                                                          "/moq",
                                        v, nullptr, nullptr, &err));
      ASSERT_TRUE(viewers.back()) << err;
      SubscribeOptions so;
      so.filter = wire::SubscriptionFilter{wire::FilterType::kNextGroupStart, {}, {}};
      viewers.back()->subscribe(kTrack, so, &rec[i]);
    }
  });
  for (int i = 0; i < kViewers; ++i) ASSERT_TRUE(rec[i].wait([&] { return rec[i].ok; })) << i;

  constexpr int kGroups = 3, kPerGroup = 5;
  origin_loop.run_sync([&] {
    for (uint64_t g = 0; g < kGroups; ++g)
      for (uint64_t o = 0; o <= kPerGroup; ++o) {
        Object obj;
        obj.location = {g, o};
        obj.subgroup = o == kPerGroup ? 1 : 0;  // one object of an enhancement layer per group
        obj.properties = {wire::KeyValuePair::integer(0x10, 1000 * g + o), wire::KeyValuePair::bytes(0x3f, "x")};
        obj.payload = quic::SendBuffer::take(std::vector<uint8_t>(100 + o, uint8_t(g * 16 + o)));
        origin_track->write(std::move(obj));
      }
    origin_track->finish();
  });
  const size_t want = kGroups * (kPerGroup + 1);
  for (int i = 0; i < kViewers; ++i) {
    ASSERT_TRUE(rec[i].wait([&] { return rec[i].objects.size() >= want && rec[i].done; }, 10s))
        << "viewer " << i << " got " << rec[i].objects.size();
    std::lock_guard<std::mutex> l(rec[i].mu);
    EXPECT_EQ(rec[i].objects.size(), want) << "viewer " << i << ": duplicates";
    EXPECT_EQ(*rec[i].done, 0x2u) << "TRACK_ENDED reaches the viewers";
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> last;  // (group, subgroup) -> last object id
    for (const ReceivedObject& o : rec[i].objects) {
      auto key = std::make_pair(o.location.group, o.subgroup);
      if (last.count(key)) {
        EXPECT_GT(o.location.object, last[key]) << "out of order within a subgroup";
      }
      last[key] = o.location.object;
      EXPECT_EQ(o.payload, std::vector<uint8_t>(100 + o.location.object, uint8_t(o.location.group * 16 + o.location.object)));
      ASSERT_EQ(o.properties.size(), 2u);
      EXPECT_EQ(o.properties[0].int_value, 1000 * o.location.group + o.location.object);
      EXPECT_EQ(o.properties[1].bytes_value, "x");
    }
  }
  EXPECT_EQ(on_loop(relay_loop, [&] { return upstream.objects_in(); }), want);
  EXPECT_EQ(on_loop(relay_loop, [&] { return upstream.objects_refused(); }), 0u);

  viewers_loop.run_sync([&] { viewers.clear(); });
  relay_loop.run_sync([&] {
    up.reset();
    relay.reset();
    relay_track.reset();
  });
  origin_loop.run_sync([&] {
    origin.reset();
    origin_track.reset();
  });
  viewers_loop.stop();
  relay_loop.stop();
  origin_loop.stop();
}

}  // namespace
}  // namespace moqt::relay
