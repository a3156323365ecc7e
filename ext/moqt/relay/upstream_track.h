// One upstream subscription feeding a local TrackPublisher: the relay's per-track cache and
// fan-out point (the cache *is* the track). Downstream sessions subscribe to the TrackPublisher
// like to any local track, each at its own draft: headers are re-encoded per session, while
// payloads and object properties pass through untouched, the payload as one SendBuffer shared by
// the cache and every downstream stream.
//
// Threads: the upstream session, the TrackPublisher and every downstream session of a track live
// on one loop (crossing loops is the relay's business, not this class's).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "moqt/session/session.h"
#include "moqt/session/track.h"

namespace moqt::relay {

class UpstreamTrack : public session::SubscriptionHandler {
 public:
  explicit UpstreamTrack(std::shared_ptr<session::TrackPublisher> track) : track_(std::move(track)) {}

  // What the owner hears: the upstream answered (kReady / kFailed with the upstream's code) or
  // the subscription ended (kEnded; the track is finished by then). Called from the upstream
  // session's callbacks: the owner must not destroy this object inside the call.
  // kLost: with keep_open, the subscription ended without the track ending (the source's session
  // or relay went away, GOING_AWAY): the track stays open for another source to continue it.
  enum class Event { kReady, kFailed, kEnded, kLost };
  using Listener = std::function<void(Event, uint64_t code, const std::string& reason)>;
  void set_listener(Listener l) { listener_ = std::move(l); }

  const std::shared_ptr<session::TrackPublisher>& track() const { return track_; }
  // Cluster failover: a lost subscription does not finish the track (its viewers wait for the
  // track's next origin); only TRACK_ENDED / SUBSCRIPTION_ENDED do.
  void set_keep_open(bool k) { keep_open_ = k; }
  bool subscribed() const { return subscribed_; }
  bool done() const { return done_; }
  uint64_t objects_in() const { return objects_in_; }
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t objects_refused() const { return objects_refused_; }

  // session::SubscriptionHandler
  void on_subscribe_ok(const session::SubscribeResult&) override;
  void on_subscribe_error(uint64_t code, const std::string& reason) override;
  void on_object(const session::ReceivedObject& o) override;
  void on_done(uint64_t status, const std::string& reason) override;

 private:
  std::shared_ptr<session::TrackPublisher> track_;
  Listener listener_;
  bool subscribed_ = false, done_ = false, keep_open_ = false;
  uint64_t objects_in_ = 0, bytes_in_ = 0, objects_refused_ = 0;
};

}  // namespace moqt::relay
