// A relay on several cores: one Relay per event loop, all listening on one UDP port
// (SO_REUSEPORT: the kernel spreads clients over the loops by address). Each loop's relay serves
// its own sessions; a track published on one loop reaches viewers on another through one
// LoopLink per (track, loop): the other loop mirrors it into a TrackPublisher of its own (its
// own cache and fan-out), so the publisher's loop feeds each other loop once, however many
// viewers are there. Objects cross loops through the link's lock-free ring with their payloads
// shared, never copied. Namespaces are announced to every loop; with an upstream, relay 0 holds
// the one upstream session and the other loops go through it.
//
// Threads: relay(i) lives on loop(i) and is touched only there (run_sync / post); the group
// object itself is used from one controlling thread (the daemon's main thread, an element's
// state changes).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moqt/relay/relay.h"

namespace moqt::relay {

class RelayGroup : public LoopPeers {
 public:
  // `loops` >= 1 threads named "relay-N". cfg.server.listen may use port 0: every loop then
  // shares the port the first one got.
  static std::unique_ptr<RelayGroup> start(size_t loops, RelayConfig cfg, std::string* error,
                                           std::function<void(Relay&)> setup = nullptr);
  ~RelayGroup() override;  // stop(), then the loops end

  size_t size() const { return shards_.size(); }
  quic::EventLoop& loop(size_t i) { return *shards_[i]->loop; }
  Relay* relay(size_t i) { return shards_[i]->relay.get(); }  // loop(i) thread only; null once stopped
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }

  // The sum over the loops (RelayStats::loop_links: tracks crossing loops).
  RelayStats stats();
  std::vector<RelayStats> stats_per_loop();
  // Every namespace the group can route now (relay 0 knows all loops' and the cluster's); empty
  // if loop 0 does not answer within `timeout`.
  std::vector<TrackNamespace> namespaces(std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));
  // GOAWAY everywhere; returns once every session left or `grace` passed (the rest is closed).
  void drain(const std::string& new_uri, std::chrono::milliseconds grace);
  // The same without waiting: `done` runs (on some loop's thread) once every loop has drained.
  void drain_async(const std::string& new_uri, std::chrono::milliseconds grace, std::function<void()> done);
  // Cluster: the least loaded other live relay (asked on relay 0's loop, waiting at most
  // `timeout`); "" if none.
  std::string cluster_goaway_target(std::chrono::milliseconds timeout);
  // Destroys the relays (their sessions close); the loops keep running until the group goes, so
  // in-process attachments can still post to loop 0.
  void stop();

  // LoopPeers
  void namespace_changed(size_t from, const TrackNamespace& ns, bool active) override;
  void open_link(size_t to, std::shared_ptr<LoopLink> link) override;
  void close_link(size_t to, std::shared_ptr<LoopLink> link) override;
  void forward_watch(const TrackNamespace& prefix) override;
  void track_changed(size_t from, const wire::FullTrackName& name, bool active) override;

 private:
  struct Shard {
    std::unique_ptr<quic::EventLoop> loop;
    std::unique_ptr<Relay> relay;
  };
  RelayGroup() = default;
  std::vector<std::unique_ptr<Shard>> shards_;
  uint16_t port_ = 0;
  std::string address_;
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace moqt::relay
