// An in-process subscriber of a relayed track (e.g. moqsrc attached to a moqrelay of its own
// process): it gets what a network subscriber of the relay gets — the live group from its object 0
// out of the cache (or N groups before it), then every new object — with no session and no copy.
//
// Threads: created, used and destroyed on the relay's EventLoop thread, like the track.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "moqt/session/track.h"

namespace moqt::relay {

class LocalSubscription : public session::ObjectSink {
 public:
  struct Callbacks {
    std::function<void(const session::Object&)> object;
    // The track ended. Called from inside the track: do not destroy the subscription here.
    std::function<void(session::TrackEnd)> end;
    // Optional: a subgroup's end / reset (a mirror of the track needs them).
    std::function<void(uint64_t group, uint64_t subgroup)> subgroup_end, subgroup_reset;
  };
  // `max_subgroup`: subgroups above it are skipped (SVC enhancement layers). `groups_back`: also
  // replay this many cached groups before the live one.
  LocalSubscription(std::shared_ptr<session::TrackPublisher> track, Callbacks cb,
                    std::optional<uint64_t> max_subgroup = {}, uint64_t groups_back = 0);
  ~LocalSubscription() override;
  LocalSubscription(const LocalSubscription&) = delete;
  LocalSubscription& operator=(const LocalSubscription&) = delete;

  const std::shared_ptr<session::TrackPublisher>& track() const { return track_; }
  uint64_t objects() const { return objects_; }

  // session::ObjectSink
  void on_object(const session::Object& o) override;
  void on_subgroup_end(uint64_t group, uint64_t subgroup) override;
  void on_subgroup_reset(uint64_t group, uint64_t subgroup) override;
  void on_track_end(session::TrackEnd why) override;

 private:
  std::shared_ptr<session::TrackPublisher> track_;
  Callbacks cb_;
  std::optional<uint64_t> max_subgroup_;
  uint64_t objects_ = 0;
  bool attached_ = false;
};

}  // namespace moqt::relay
