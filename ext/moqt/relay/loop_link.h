// One relayed track crossing from the event loop that has it (the producer) to another loop of
// the same relay process (the consumer), which mirrors it into a TrackPublisher of its own for
// its sessions. Everything about the track crosses in order through one bounded single-producer /
// single-consumer ring: the answer to the request, objects (their payload SendBuffers are shared,
// never copied), subgroup ends and resets, the track's end.
//
// Per object: no lock. The producer wakes the consumer's loop (EventLoop::post) only when it
// finds no drain pending, i.e. once per batch, not per object.
//
// Threads: push() and the producer-side calls only on the producer's loop; set_consumer(), the
// consumer callback and close() only on the consumer's loop. Either side may drop its reference
// at any time: the link is shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "moqt/quic/event_loop.h"
#include "moqt/session/track.h"

namespace moqt::relay {

struct LinkEvent {
  enum class Kind : uint8_t { kReady, kRefused, kObject, kSubgroupEnd, kSubgroupReset, kTrackEnd };
  Kind kind = Kind::kObject;
  session::Object object;                                      // kObject
  uint64_t group = 0, subgroup = 0;                            // kSubgroupEnd / kSubgroupReset
  session::TrackEnd end = session::TrackEnd::kPublisherGone;   // kTrackEnd
  session::LookupError error = session::LookupError::kNone;    // kRefused
  std::string reason;                                          // kRefused
};

class LoopLink : public std::enable_shared_from_this<LoopLink> {
 public:
  LoopLink(quic::EventLoop& consumer_loop, wire::FullTrackName name, size_t capacity = 4096);

  const wire::FullTrackName& name() const { return name_; }

  // Producer side. Objects that find the ring full are dropped (and counted): the consumer's
  // loop is too slow for the producer's. The other events never are.
  void push(LinkEvent e);
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  // Consumer side: `on_event` gets every event in order on the consumer's loop.
  void set_consumer(std::function<void(LinkEvent&)> on_event) { consumer_ = std::move(on_event); }
  // The consumer is gone: nothing more is delivered; the producer sees closed() and detaches.
  void close() { closed_.store(true, std::memory_order_release); consumer_ = nullptr; }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  bool try_push(LinkEvent& e);
  void wake();
  void drain();  // consumer loop

  quic::EventLoop& consumer_loop_;
  wire::FullTrackName name_;
  std::vector<LinkEvent> ring_;
  std::atomic<size_t> head_{0};  // next to read (consumer)
  std::atomic<size_t> tail_{0};  // next to write (producer)
  std::atomic<bool> drain_pending_{false};
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> dropped_{0};
  // Control events that found the ring full wait here (rare: the ring holds thousands).
  std::mutex overflow_mu_;
  std::vector<LinkEvent> overflow_;  // guarded by overflow_mu_
  std::atomic<bool> have_overflow_{false};
  std::function<void(LinkEvent&)> consumer_;  // consumer loop only
};

}  // namespace moqt::relay
