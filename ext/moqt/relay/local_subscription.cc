#include "moqt/relay/local_subscription.h"

namespace moqt::relay {

LocalSubscription::LocalSubscription(std::shared_ptr<session::TrackPublisher> track, Callbacks cb,
                                     std::optional<uint64_t> max_subgroup, uint64_t groups_back)
    : track_(std::move(track)), cb_(std::move(cb)), max_subgroup_(max_subgroup) {
  if (track_->finished()) {
    if (cb_.end) cb_.end(session::TrackEnd::kTrackEnded);
    return;
  }
  // The same loop turn replays the cache and attaches: no object falls between the two.
  if (const auto largest = track_->largest()) {
    const uint64_t first = largest->group > groups_back ? largest->group - groups_back : 0;
    for (const session::Object* o :
         track_->cached_range(wire::Location{first, 0}, *largest, wire::GroupOrder::kAscending))
      on_object(*o);
  }
  track_->add_sink(this);
  attached_ = true;
}

LocalSubscription::~LocalSubscription() {
  if (attached_) track_->remove_sink(this);
}

void LocalSubscription::on_object(const session::Object& o) {
  if (max_subgroup_ && !o.datagram && o.subgroup > *max_subgroup_) return;
  ++objects_;
  if (cb_.object) cb_.object(o);
}

void LocalSubscription::on_subgroup_end(uint64_t group, uint64_t subgroup) {
  if (cb_.subgroup_end && !(max_subgroup_ && subgroup > *max_subgroup_)) cb_.subgroup_end(group, subgroup);
}

void LocalSubscription::on_subgroup_reset(uint64_t group, uint64_t subgroup) {
  if (cb_.subgroup_reset && !(max_subgroup_ && subgroup > *max_subgroup_)) cb_.subgroup_reset(group, subgroup);
}

void LocalSubscription::on_track_end(session::TrackEnd why) {
  if (cb_.end) cb_.end(why);
}

}  // namespace moqt::relay
