// The benchmark's MoQT clients: one publisher of timestamped objects on a fixed schedule, and a
// group of subscribers spread over event-loop threads that count what they receive.
//
// Payload layout (at least 16 bytes): publish time (steady clock, ns, host-wide CLOCK_MONOTONIC so
// worker processes compare it too) then the object's sequence number over the run, both
// little-endian u64; the rest is filler.
//
// Threads: a Subscriber lives on one of the group's loops and is touched only there; the group's
// methods are called from the benchmark's main thread and hop onto the loops with run_sync.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "histogram.h"
#include "moqt/session/client.h"

namespace moqt::bench {

int64_t now_ns();

struct ClientMix {
  std::string quic_url, wt_url;
  std::string transport = "mix";  // quic, wt or mix
  std::vector<wire::Draft> drafts = {wire::Draft::k14, wire::Draft::k16, wire::Draft::k18};
  size_t offset = 0;  // a worker process's first subscriber index over the whole run
  // Subscriber i's choice: every combination of draft and transport, round-robin.
  wire::Draft draft(size_t i) const { return drafts[(i + offset) % drafts.size()]; }
  bool webtransport(size_t i) const {
    return transport == "wt" || (transport == "mix" && ((i + offset) / drafts.size()) % 2 == 1);
  }
};

// What the subscribers received, summed (one loop, one process, or all of them).
struct Tally {
  uint64_t subscribers = 0, subscribed = 0, refused = 0, ended = 0;
  uint64_t objects = 0, bytes = 0, complete = 0, min_objects = UINT64_MAX, duplicates = 0;
  Histogram latency;     // publish -> receive, per object
  Histogram join_ok;     // subscribe() -> SUBSCRIBE_OK
  Histogram first_obj;   // SUBSCRIBE_OK -> first object
  Histogram rtt;         // the session's smoothed RTT at the first object
  uint64_t first_from_group_start = 0, first_within_rtt = 0, joined = 0;
  void merge(const Tally& o);
  std::string encode() const;
  static bool decode(const std::string& s, Tally* t);
};

class Subscriber : public session::SubscriptionHandler {
 public:
  Subscriber(Histogram* latency, std::vector<int64_t>* arrivals) : latency_(latency), arrivals_(arrivals) {}
  void on_subscribe_ok(const session::SubscribeResult&) override;
  void on_subscribe_error(uint64_t, const std::string&) override { refused = true; }
  void on_object(const session::ReceivedObject& o) override;
  void on_done(uint64_t code, const std::string& reason) override {
    ended = true;
    end_reason = std::to_string(code) + " " + reason;
  }

  std::unique_ptr<session::Client> client;
  bool ok = false, refused = false, ended = false, removed = false;
  uint64_t objects = 0, bytes = 0, duplicates = 0, last_seq = UINT64_MAX;
  int64_t t_subscribe = 0, t_ok = 0, t_first = 0;
  uint64_t first_object_id = 0, rtt_us = 0;
  std::string end_reason;

 private:
  Histogram* latency_;
  std::vector<int64_t>* arrivals_;  // receive time by sequence number (chain probes), or null
  std::vector<bool> seen_;          // sequence numbers received (duplicates)
};

class SubscriberGroup {
 public:
  SubscriberGroup(ClientMix mix, std::vector<wire::FullTrackName> tracks, int loops, const char* thread_name);
  ~SubscriberGroup();

  // Connects and subscribes `count` more (batches of 50, each waited for, at most 30 s), returns
  // how many got SUBSCRIBE_OK. `arrivals` (optional) records per-sequence receive times.
  size_t add(size_t count, std::string* error, std::vector<int64_t>* arrivals = nullptr);
  // Unsubscribes and closes subscriber i (its client is destroyed a little later).
  void remove(size_t i);
  size_t size() const { return subs_.size(); }
  // Counts over every subscriber (removed ones included); `expected` objects each for "complete".
  Tally tally(uint64_t expected);
  void close_all();

 private:
  quic::EventLoop& loop_of(size_t i) { return *loops_[i % loops_.size()]; }

  ClientMix mix_;
  std::vector<wire::FullTrackName> tracks_;
  std::vector<std::unique_ptr<quic::EventLoop>> loops_;
  std::vector<std::unique_ptr<Histogram>> latency_;  // one per loop
  std::deque<Subscriber> subs_;
};

// One Client per namespace; every track gets an object per tick, all on one loop thread.
class Publisher {
 public:
  struct Shape {
    int fps = 25;
    int gop = 50;        // objects per group
    int subgroups = 1;   // object k of a group goes to subgroup k % subgroups
    std::vector<size_t> sizes;  // object sizes, cycled (>= 16 bytes each)
  };
  Publisher(const std::string& url, std::vector<wire::FullTrackName> tracks, Shape shape);
  ~Publisher();
  bool announce(std::string* error);  // PUBLISH_NAMESPACE of every namespace, waited for (10 s)
  // Starts writing `objects` objects per track on the fixed schedule; done() says when it has.
  void start(uint64_t objects);
  bool done() const { return done_.load(); }
  uint64_t written() const { return written_.load(); }
  uint64_t bytes_per_track() const { return bytes_.load(); }
  // Publish time (steady clock, ns) by sequence number; read once done().
  const std::vector<int64_t>& sent_ns() const { return sent_ns_; }
  void stop();

 private:
  void tick();

  std::string url_;
  std::vector<wire::FullTrackName> tracks_;
  Shape shape_;
  quic::EventLoop loop_;
  session::TrackRegistry registry_;
  std::vector<std::shared_ptr<session::TrackPublisher>> publishers_;
  std::vector<std::unique_ptr<session::Client>> clients_;
  std::chrono::steady_clock::time_point t0_;
  uint64_t total_ = 0;
  std::vector<int64_t> sent_ns_;
  std::atomic<uint64_t> written_{0}, bytes_{0};
  std::atomic<bool> done_{false};
};

}  // namespace moqt::bench
