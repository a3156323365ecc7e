#include "moqt/relay/upstream_track.h"

namespace moqt::relay {

using session::Object;
using session::TrackEnd;

void UpstreamTrack::on_object(const session::ReceivedObject& o) {
  ++objects_in_;
  bytes_in_ += o.payload.size();
  Object out;
  out.location = o.location;
  out.subgroup = o.subgroup;
  out.publisher_priority = o.publisher_priority;
  out.status = o.status;
  out.properties = o.properties;
  out.datagram = o.datagram;
  // One copy out of the receive buffer; from here the bytes are shared, never copied again.
  out.payload = quic::SendBuffer::copy(o.payload);
  // Out of order across subgroups is normal (one stream each); what the track refuses (an
  // object older than its newest group, or after the end) is late and only counted.
  if (!track_->write(std::move(out))) ++objects_refused_;
}

void UpstreamTrack::on_subscribe_ok(const session::SubscribeResult&) {
  subscribed_ = true;
  if (listener_) listener_(Event::kReady, 0, "");
}

void UpstreamTrack::on_subscribe_error(uint64_t code, const std::string& reason) {
  done_ = true;
  if (keep_open_ && subscribed_) {
    if (listener_) listener_(Event::kLost, code, reason);
    return;
  }
  if (!keep_open_) track_->finish(TrackEnd::kPublisherGone);
  if (listener_) listener_(Event::kFailed, code, reason);
}

void UpstreamTrack::on_done(uint64_t status, const std::string& reason) {
  done_ = true;
  // TRACK_ENDED / SUBSCRIPTION_ENDED end it for everyone; anything else means the source went.
  const bool ended = status == 0x2 || status == 0x3;
  if (keep_open_ && !ended) {
    if (listener_) listener_(Event::kLost, status, reason);
    return;
  }
  track_->finish(ended ? TrackEnd::kTrackEnded : TrackEnd::kPublisherGone);
  if (listener_) listener_(Event::kEnded, status, reason);
}

}  // namespace moqt::relay
