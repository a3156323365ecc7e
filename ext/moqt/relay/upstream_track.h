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
#include <memory>
#include <string>

#include "moqt/session/session.h"
#include "moqt/session/track.h"

namespace moqt::relay {

class UpstreamTrack : public session::SubscriptionHandler {
 public:
  explicit UpstreamTrack(std::shared_ptr<session::TrackPublisher> track) : track_(std::move(track)) {}

  const std::shared_ptr<session::TrackPublisher>& track() const { return track_; }
  bool subscribed() const { return subscribed_; }
  bool done() const { return done_; }
  uint64_t objects_in() const { return objects_in_; }
  uint64_t objects_refused() const { return objects_refused_; }

  // session::SubscriptionHandler
  void on_subscribe_ok(const session::SubscribeResult&) override { subscribed_ = true; }
  void on_subscribe_error(uint64_t code, const std::string& reason) override;
  void on_object(const session::ReceivedObject& o) override;
  void on_done(uint64_t status, const std::string& reason) override;

 private:
  std::shared_ptr<session::TrackPublisher> track_;
  bool subscribed_ = false, done_ = false;
  uint64_t objects_in_ = 0, objects_refused_ = 0;
};

}  // namespace moqt::relay
