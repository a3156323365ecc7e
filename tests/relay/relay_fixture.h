// A relay on its own loop thread, publishers and viewers on theirs, over real loopback sockets:
// the pieces the relay tests assemble.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../common/waitable.h"
#include "moqt/relay/relay.h"
#include "moqt/session/client.h"

namespace moqt::relay::test {

using namespace moqt::session;
using namespace std::chrono_literals;
using moqt::test::eventually;
using moqt::test::Waitable;

// Runs f on the loop thread and returns its value.
template <typename F>
auto on(quic::EventLoop& l, F f) {
  decltype(f()) v{};
  l.run_sync([&] { v = f(); });
  return v;
}

struct Recorder : SubscriptionHandler, Waitable {
  bool ok = false;
  std::optional<uint64_t> error;
  std::optional<uint64_t> done;
  std::optional<wire::Location> largest;
  std::vector<ReceivedObject> objects;
  void on_subscribe_ok(const SubscribeResult& r) override {
    set([&] {
      ok = true;
      largest = r.largest;
    });
  }
  void on_subscribe_error(uint64_t code, const std::string&) override { set([&] { error = code; }); }
  void on_object(const ReceivedObject& o) override { set([&] { objects.push_back(o); }); }
  void on_done(uint64_t status, const std::string&) override { set([&] { done = status; }); }
  size_t count() {
    std::lock_guard<std::mutex> l(mu);
    return objects.size();
  }
};

struct NamespaceEvents : SessionHandler, Waitable {
  std::vector<std::pair<TrackNamespace, bool>> updates;
  void on_namespace_update(const TrackNamespace& ns, bool active) override {
    set([&] { updates.emplace_back(ns, active); });
  }
};

// A subscriber that takes every track the relay PUBLISHes to it (SUBSCRIBE_TRACKS).
struct TrackPushes : SessionHandler, Waitable {
  std::deque<Recorder> recorders;
  std::vector<FullTrackName> names;  // in arrival order
  SubscriptionHandler* on_incoming_publish(const FullTrackName& n) override {
    std::lock_guard<std::mutex> l(mu);
    recorders.emplace_back();
    names.push_back(n);
    cv.notify_all();
    return &recorders.back();
  }
  Recorder* of(const FullTrackName& n) {
    std::lock_guard<std::mutex> l(mu);
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == n) return &recorders[i];
    return nullptr;
  }
  size_t count() {
    std::lock_guard<std::mutex> l(mu);
    return names.size();
  }
};

inline Object make_object(uint64_t group, uint64_t object, uint64_t subgroup = 0, size_t size = 100) {
  Object o;
  o.location = {group, object};
  o.subgroup = subgroup;
  o.properties = {wire::KeyValuePair::integer(0x10, 1000 * group + object)};
  o.payload = quic::SendBuffer::take(std::vector<uint8_t>(size + object, uint8_t(group * 16 + object)));
  return o;
}

// Every object once, in order within its subgroup, payload and properties untouched.
inline void expect_intact(Recorder& r, size_t want, const std::string& who) {
  std::lock_guard<std::mutex> l(r.mu);
  EXPECT_EQ(r.objects.size(), want) << who;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> last;
  for (const ReceivedObject& o : r.objects) {
    auto key = std::make_pair(o.location.group, o.subgroup);
    if (last.count(key)) {
      EXPECT_GT(o.location.object, last[key]) << who << ": out of order within a subgroup";
    }
    last[key] = o.location.object;
    EXPECT_EQ(o.payload.size(), 100 + o.location.object) << who;
    if (!o.payload.empty()) {
      EXPECT_EQ(o.payload[0], uint8_t(o.location.group * 16 + o.location.object)) << who;
    }
    ASSERT_EQ(o.properties.size(), 1u) << who;
    EXPECT_EQ(o.properties[0].int_value, 1000 * o.location.group + o.location.object) << who;
  }
}

// A client on `loop` speaking only draft `d`, certificate not verified (test relays).
inline std::unique_ptr<Client> connect_client(quic::EventLoop& loop, const std::string& url, wire::Draft d,
                                              SessionHandler* h, TrackSource* tracks) {
  ClientConfig cc;
  cc.verify = quic::VerifyMode::kInsecure;
  cc.drafts = {d};
  std::string err;
  std::unique_ptr<Client> c;
  loop.run_sync([&] { c = Client::connect(loop, url, cc, h, tracks, &err); });
  EXPECT_TRUE(c) << err;
  return c;
}

class RelayFixture {
 public:
  quic::EventLoop relay_loop, pub_loop, view_loop;
  std::unique_ptr<Relay> relay;
  std::vector<std::string> log;
  std::mutex log_mu;

  void start_relay(RelayConfig cfg = {}) {
    relay_loop.start("relay");
    pub_loop.start("publishers");
    view_loop.start("viewers");
    std::string err;
    auto cert = quic::generate_self_signed({"127.0.0.1"}, 1, &err);
    ASSERT_TRUE(cert) << err;
    cfg.server.listen = "127.0.0.1:0";
    cfg.server.cert = *cert;
    relay_loop.run_sync([&] {
      relay = Relay::start(relay_loop, cfg, &err);
      if (relay)
        relay->set_log([this](const std::string& line) {
          std::lock_guard<std::mutex> l(log_mu);
          log.push_back(line);
        });
    });
    ASSERT_TRUE(relay) << err;
  }

  void stop() {
    view_loop.run_sync([&] { viewers.clear(); });
    pub_loop.run_sync([&] {
      publishers.clear();
      registries.clear();
    });
    relay_loop.run_sync([&] { relay.reset(); });
    view_loop.stop();
    pub_loop.stop();
    relay_loop.stop();
  }

  std::string url(bool webtransport) const {
    return std::string(webtransport ? "https" : "moqt") + "://127.0.0.1:" + std::to_string(relay->address().port()) +
           "/moq";
  }

  // A client on `loop` at one draft; `tracks` answers the relay's SUBSCRIBEs (publishers).
  std::unique_ptr<Client> connect(quic::EventLoop& loop, wire::Draft d, bool webtransport, SessionHandler* h,
                                  TrackSource* tracks) {
    return connect_client(loop, url(webtransport), d, h, tracks);
  }

  // A publisher that announces `ns` (PUBLISH_NAMESPACE) and serves `track` from its registry.
  Client* announce(wire::Draft d, bool webtransport, const TrackNamespace& ns,
                   std::shared_ptr<TrackPublisher> track) {
    registries.push_back(std::make_unique<TrackRegistry>());
    TrackRegistry* reg = registries.back().get();
    if (track) pub_loop.run_sync([&] { reg->add(track); });
    publishers.push_back(connect(pub_loop, d, webtransport, nullptr, reg));
    Client* c = publishers.back().get();
    auto ok = std::make_shared<std::promise<bool>>();
    pub_loop.run_sync([&] { c->publish_namespace(ns, [ok](bool good, uint64_t) { ok->set_value(good); }); });
    auto f = ok->get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(f.get());
    return c;
  }

  Client* viewer(wire::Draft d, bool webtransport, SessionHandler* h = nullptr) {
    viewers.push_back(connect(view_loop, d, webtransport, h, nullptr));
    return viewers.back().get();
  }

  std::optional<uint64_t> subscribe(Client* c, const FullTrackName& t, Recorder& r) {
    return on(view_loop, [&] { return c->subscribe(t, SubscribeOptions{}, &r); });
  }

  RelayStats stats() {
    return on(relay_loop, [&] { return relay->stats(); });
  }

  std::vector<std::unique_ptr<TrackRegistry>> registries;
  std::vector<std::unique_ptr<Client>> publishers;
  std::vector<std::unique_ptr<Client>> viewers;
};

}  // namespace moqt::relay::test
