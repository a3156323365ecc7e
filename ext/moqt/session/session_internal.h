// The session's internal state, shared by its three source files (session.cc: setup, control
// I/O, incoming streams, transport events; session_publisher.cc: answering the peer's requests
// and the publisher API; session_subscriber.cc: replies to our requests and the subscriber API).
// Private to ext/moqt/session/.
#pragma once

#include <algorithm>
#include <cstdio>

#include "moqt/session/session.h"

namespace moqt::session {

using namespace wire;
using quic::SendBuffer;
using quic::StreamId;

namespace session_internal {

// PUBLISH_DONE status codes (same in -14, -16, -18 for these).
inline constexpr uint64_t kDoneInternalError = 0x0;
inline constexpr uint64_t kDoneTrackEnded = 0x2;
inline constexpr uint64_t kDoneSubscriptionEnded = 0x3;
inline constexpr uint64_t kDoneGoingAway = 0x4;
// Request error codes (-14 per-message tables share these values for the cases we use).
inline uint64_t does_not_exist(Draft d) { return d == Draft::k14 ? 0x4 : 0x10; }  // TRACK_DOES_NOT_EXIST / DOES_NOT_EXIST
inline uint64_t not_supported() { return 0x3; }
inline uint64_t uninterested(Draft d) { return d == Draft::k14 ? 0x4 : 0x20; }
inline uint64_t invalid_range(Draft d) { return d == Draft::k14 ? 0x5 : 0x11; }
// Out-of-order request ids we track at most (ids between the lowest unused one and this many
// above it).
inline constexpr uint64_t kMaxRequestIdWindow = 4096;
// Stream reset codes.
inline constexpr uint64_t kResetCancelled = 0x1;
inline constexpr uint64_t kResetDeliveryTimeout = 0x2;

inline bool is_bidi(StreamId id) { return (id & 0x2) == 0; }

}  // namespace session_internal
using namespace session_internal;

// -------------------------------------------------------------------------------------------
// Internal state

struct Session::Request {
  uint64_t id = 0;
  MessageKind kind = MessageKind::kSubscribe;
  ControlMessage msg;
  StreamId stream = -1;  // request stream (-18, and -16 SUBSCRIBE_NAMESPACE)
  bool sent = false;
  quic::EventLoop::TimerId timer = 0;
  std::function<void(bool ok, uint64_t code)> done;           // namespace / publish requests
  std::function<void(const TrackStatusResult&)> status_done;  // TRACK_STATUS
  TrackNamespace ns;                                          // PUBLISH_NAMESPACE / SUBSCRIBE_NAMESPACE
  std::shared_ptr<TrackPublisher> published;                  // PUBLISH
};

struct Session::IncomingSubscription {
  uint64_t id = 0;
  FullTrackName track;
  SubscriptionHandler* handler = nullptr;
  std::optional<uint64_t> max_subgroup;
  std::optional<uint64_t> alias;
  bool established = false;
  bool done = false;
  std::optional<Location> largest_at_ok;
  GroupOrder order = GroupOrder::kAscending;
  // PUBLISH_DONE may overtake the data streams it counts: the subscription ends once the
  // announced number of subgroup streams was seen and none is still open (or after a wait).
  uint64_t streams_seen = 0, streams_open = 0;
  struct Done {
    uint64_t status, stream_count;
    std::string reason;
  };
  std::optional<Done> pending_done;
  quic::EventLoop::TimerId done_timer = 0;
};

struct Session::IncomingFetch {
  uint64_t id = 0;
  FetchHandler* handler = nullptr;
  bool ok = false;
  GroupOrder order = GroupOrder::kAscending;
};

// A subscription the peer has to one of our tracks: turns the track's objects into streams.
struct Session::OutgoingSubscription : ObjectSink {
  Session& s;
  uint64_t request_id = 0;
  uint64_t alias = 0;
  std::shared_ptr<TrackPublisher> track;
  StreamId request_stream = -1;  // -18: PUBLISH_DONE goes here
  Location start{0, 0};
  std::optional<Location> joining;  // the Largest Location told in SUBSCRIBE_OK / at PUBLISH_OK
  std::optional<uint64_t> end_group;
  bool forward = true;
  uint8_t subscriber_priority = 128;
  GroupOrder order = GroupOrder::kAscending;
  struct Out {
    StreamId stream;
    uint64_t group;
    uint64_t last_object;
    bool properties;  // the header said every object carries a properties block
    uint64_t written = 0;  // bytes handed to the transport
    // (when, end offset) of each object still possibly unsent: for the delivery timeout.
    std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> marks;
    uint64_t subgroup = 0;
  };
  std::map<std::pair<uint64_t, uint64_t>, Out> streams;  // (group, subgroup) -> open stream
  std::map<StreamId, Out> finishing;  // FIN queued, data still waiting to go
  // Subgroups reset for lateness: their later objects are dropped too (bounded: recent groups).
  std::set<std::pair<uint64_t, uint64_t>> expired;
  uint64_t streams_opened = 0;
  bool ended = false;
  std::chrono::milliseconds delivery_timeout{0};
  quic::EventLoop::TimerId timeout_timer = 0;

  explicit OutgoingSubscription(Session& sess) : s(sess) {}
  ~OutgoingSubscription() override {
    if (track) track->remove_sink(this);
    if (timeout_timer) s.t_.loop().cancel_timer(timeout_timer);
    for (auto& [k, out] : streams) s.stream_owner_.erase(out.stream);
    for (auto& [id, out] : finishing) s.stream_owner_.erase(id);
  }

  // DELIVERY_TIMEOUT: an object not sent within the timeout is dropped by resetting its
  // subgroup's stream (-14 §7.2.2.1, -18 §10.2.2); checked a few times per timeout period.
  void set_delivery_timeout(uint64_t subscriber_ms) {
    uint64_t ms = subscriber_ms;
    if (const uint64_t pub = track->options().delivery_timeout_ms; pub && (!ms || pub < ms)) ms = pub;
    delivery_timeout = std::chrono::milliseconds(ms);
    if (ms && !timeout_timer) schedule_timeout_check();
  }
  void schedule_timeout_check() {
    const auto period = std::clamp(delivery_timeout / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
    timeout_timer = s.t_.loop().add_timer(period, [this] {
      timeout_timer = 0;
      if (!delivery_timeout.count()) return;  // turned off by an update
      expire_late();
      schedule_timeout_check();
    });
  }
  void reset_late(StreamId id) {
    s.t_.reset_stream(id, kResetDeliveryTimeout);
    s.stream_owner_.erase(id);
    ++s.stats_.streams_reset_for_delivery_timeout;
  }
  // Whether the oldest object not yet sent on `out` has waited longer than the timeout.
  bool late(Out& out, std::chrono::steady_clock::time_point now) {
    const uint64_t sent = out.written - std::min<uint64_t>(out.written, s.t_.queued_bytes(out.stream));
    while (!out.marks.empty() && out.marks.front().second <= sent) out.marks.pop_front();
    return !out.marks.empty() && now - out.marks.front().first > delivery_timeout;
  }
  void expire_late() {
    if (s.state_ != State::kReady) return;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = finishing.begin(); it != finishing.end();) {
      if (late(it->second, now)) {
        reset_late(it->first);
        it = finishing.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = streams.begin(); it != streams.end();) {
      if (late(it->second, now)) {
        reset_late(it->second.stream);
        expired.insert(it->first);
        it = streams.erase(it);
      } else {
        ++it;
      }
    }
  }

  uint64_t priority_key(uint64_t group, uint64_t subgroup, uint8_t pub_prio) const {
    // Lower is sent first: subscriber priority, publisher priority, group order, subgroup.
    const uint64_t g = order == GroupOrder::kDescending ? (~group & 0xffffffffffull) : (group & 0xffffffffffull);
    return uint64_t(subscriber_priority) << 56 | uint64_t(pub_prio) << 48 | g << 8 | std::min<uint64_t>(subgroup, 255);
  }

  bool passes(const Object& o) const {
    if (!forward || o.location < start) return false;
    return !end_group || o.location.group <= *end_group;
  }

  void drop() { ++s.stats_.objects_dropped; }

  // Objects (and subgroup ends) waiting for stream credit: the peer's limit on concurrent
  // streams (browsers allow ~100) must not lose the subgroups beyond it. Kept in order; a
  // subgroup with anything waiting queues its later objects behind it. Bounded by
  // max_queued_bytes, oldest groups dropped first.
  struct Waiting {
    Object o;
    bool end = false;  // on_subgroup_end for (o.location.group, o.subgroup)
  };
  std::deque<Waiting> waiting;
  std::map<std::pair<uint64_t, uint64_t>, size_t> waiting_keys;  // (group, subgroup) -> entries
  size_t waiting_bytes = 0;

  void wait_for_stream(const Object& o, bool end) {
    waiting.push_back(Waiting{o, end});
    ++waiting_keys[{o.location.group, o.subgroup}];
    waiting_bytes += o.payload.data.size();
    while (waiting_bytes > s.cfg_.max_queued_bytes && waiting.size() > 1) {
      Waiting& w = waiting.front();
      if (!w.end) drop();
      unwait(w);
      waiting.pop_front();
    }
  }
  void unwait(const Waiting& w) {
    auto it = waiting_keys.find({w.o.location.group, w.o.subgroup});
    if (it != waiting_keys.end() && --it->second == 0) waiting_keys.erase(it);
    waiting_bytes -= std::min(waiting_bytes, w.o.payload.data.size());
  }
  // The peer raised its stream limit: what waited goes, in order, until the limit bites again.
  void retry_waiting() {
    std::deque<Waiting> w = std::move(waiting);
    waiting.clear();
    waiting_keys.clear();
    waiting_bytes = 0;
    for (Waiting& x : w) {
      if (x.end) on_subgroup_end(x.o.location.group, x.o.subgroup);
      else on_object(x.o);
    }
  }

  void on_object(const Object& o) override {
    if (!passes(o) || s.state_ != State::kReady) return;
    quic::Transport& t = s.t_;
    if (o.datagram) {
      ObjectDatagram d;
      d.track_alias = alias;
      d.group_id = o.location.group;
      d.object_id = o.location.object;
      d.publisher_priority = o.publisher_priority;
      d.properties = o.properties;
      if (o.status != ObjectStatus::kNormal) d.status = o.status;
      Result<Bytes> b = encode_datagram(d, o.payload.data, s.draft_);
      if (b && t.send_datagram(SendBuffer::take(std::move(*b)))) ++s.stats_.objects_sent;
      else ++s.stats_.objects_dropped;
      return;
    }
    const auto key = std::make_pair(o.location.group, o.subgroup);
    if (!expired.empty()) {
      if (expired.count(key)) {
        ++s.stats_.objects_dropped;
        return;
      }
      while (!expired.empty() && expired.begin()->first + 8 < o.location.group) expired.erase(expired.begin());
    }
    auto it = streams.find(key);
    if (it == streams.end() && waiting_keys.count(key)) return wait_for_stream(o, false);
    Bytes hdr;
    hdr.reserve(64);  // one allocation per delivery, not one per growth step of a few bytes
    std::optional<uint64_t> prev;
    SubgroupHeader h;
    if (it == streams.end()) {
      h.track_alias = alias;
      h.group_id = o.location.group;
      h.mode = o.subgroup == 0 ? SubgroupIdMode::kZero : SubgroupIdMode::kExplicit;
      h.subgroup_id = o.subgroup;
      h.publisher_priority = o.publisher_priority;
      h.first_object = s.draft_ >= Draft::k18 && o.location.object == 0 && o.subgroup == 0;
      // Properties are passed through untouched; a stream either carries a block per object or
      // none, decided by the track's setting or by its first object.
      h.has_properties = track->options().object_properties || !o.properties.empty();
      SubgroupHeader asked = h;
      if (o.header_mode == SubgroupIdMode::kExplicit) asked.mode = SubgroupIdMode::kExplicit;
      if (o.header_mode == SubgroupIdMode::kFirstObject && o.subgroup == o.location.object)
        asked.mode = SubgroupIdMode::kFirstObject;
      asked.end_of_group = o.end_of_group_header;
      if (!encode_subgroup_header(asked, s.draft_, hdr)) h = asked;  // else the compact form
      else if (hdr.clear(); encode_subgroup_header(h, s.draft_, hdr)) return drop();
    } else {
      prev = it->second.last_object;
    }
    const bool properties = it == streams.end() ? h.has_properties : it->second.properties;
    ObjectHeader oh;
    oh.object_id = o.location.object;
    oh.status = o.status;
    oh.payload_length = o.payload.data.size();
    if (properties) oh.properties = o.properties;  // else: dropped (set object_properties)
    // Encoded before a stream is opened for it: an object the draft cannot express (e.g. a
    // status object with properties) is dropped alone, never leaving a stream without its header.
    if (encode_subgroup_object(oh, prev, properties, s.draft_, hdr)) {
      if (o.status == ObjectStatus::kNormal || oh.properties.empty()) return drop();
      oh.properties.clear();  // a status object whose properties this draft does not carry
      if (encode_subgroup_object(oh, prev, properties, s.draft_, hdr)) return drop();
    }
    if (it == streams.end()) {
      auto id = t.open_uni_stream();
      if (!id) return wait_for_stream(o, false);  // the peer's stream limit: on_streams_available
      t.set_priority(*id, priority_key(o.location.group, o.subgroup, o.publisher_priority));
      it = streams.emplace(key, Out{*id, o.location.group, 0, h.has_properties}).first;
      it->second.subgroup = o.subgroup;
      s.stream_owner_[*id] = request_id;
      ++streams_opened;
    }
    it->second.last_object = o.location.object;
    it->second.written += hdr.size() + o.payload.data.size();
    if (delivery_timeout.count()) it->second.marks.emplace_back(std::chrono::steady_clock::now(), it->second.written);
    t.write(it->second.stream, SendBuffer::take(std::move(hdr)), false);
    if (!o.payload.data.empty()) t.write(it->second.stream, o.payload, false);  // shared, no copy
    ++s.stats_.objects_sent;
    s.stats_.bytes_sent += o.payload.data.size();
    limit_queue(o.location.group);
  }

  // Bounded queue: when the peer cannot keep up, older groups' streams are reset (their
  // objects would arrive too late anyway) so the newest group gets the bandwidth.
  void limit_queue(uint64_t newest_group) {
    size_t queued = 0;
    for (auto& [k, out] : streams) queued += s.t_.queued_bytes(out.stream);
    for (auto& [id, out] : finishing) queued += s.t_.queued_bytes(id);
    if (queued <= s.cfg_.max_queued_bytes) return;
    // Older groups' streams that still hold unsent bytes, least important first (higher
    // subgroup, then older group): reset until under the bound. A stream whose bytes are all
    // out stays (resetting it would only stop its retransmissions), and an enhancement layer
    // goes before the base layer of the same age.
    struct Victim {
      uint64_t subgroup, group;
      StreamId stream;
      size_t bytes;
      bool finishing;
    };
    std::vector<Victim> victims;
    for (auto& [k, out] : streams)
      if (k.first < newest_group)
        if (size_t b = s.t_.queued_bytes(out.stream)) victims.push_back({k.second, k.first, out.stream, b, false});
    for (auto& [id, out] : finishing)
      if (out.group < newest_group)
        if (size_t b = s.t_.queued_bytes(id)) victims.push_back({out.subgroup, out.group, id, b, true});
    std::sort(victims.begin(), victims.end(), [](const Victim& a, const Victim& b) {
      return a.subgroup != b.subgroup ? a.subgroup > b.subgroup : a.group < b.group;
    });
    for (const Victim& v : victims) {
      if (queued <= s.cfg_.max_queued_bytes) break;
      s.t_.reset_stream(v.stream, kResetDeliveryTimeout);
      s.stream_owner_.erase(v.stream);
      ++s.stats_.streams_reset_for_congestion;
      queued -= std::min(queued, v.bytes);
      if (v.finishing) finishing.erase(v.stream);
      else streams.erase({v.group, v.subgroup});
    }
  }

  void on_subgroup_end(uint64_t group, uint64_t subgroup) override {
    if (waiting_keys.count({group, subgroup})) {  // FIN once its objects got a stream
      Object marker;
      marker.location = {group, 0};
      marker.subgroup = subgroup;
      return wait_for_stream(marker, true);
    }
    auto it = streams.find({group, subgroup});
    if (it == streams.end()) return;
    s.t_.write(it->second.stream, SendBuffer{}, true);
    // Until its bytes are out the stream still counts against the queue bound (and may be reset).
    if (s.t_.queued_bytes(it->second.stream) > 0) finishing.emplace(it->second.stream, std::move(it->second));
    else s.stream_owner_.erase(it->second.stream);
    streams.erase(it);
  }

  void on_subgroup_reset(uint64_t group, uint64_t subgroup) override {
    if (waiting_keys.count({group, subgroup})) {  // never got a stream: nothing to reset
      std::erase_if(waiting, [&](const Waiting& w) {
        if (w.o.location.group != group || w.o.subgroup != subgroup) return false;
        if (!w.end) drop();
        unwait(w);
        return true;
      });
    }
    auto it = streams.find({group, subgroup});
    if (it == streams.end()) return;
    s.t_.reset_stream(it->second.stream, kResetCancelled);
    s.stream_owner_.erase(it->second.stream);
    streams.erase(it);
  }

  void on_track_end(TrackEnd why) override {
    track.reset();  // the track already dropped us
    end(why == TrackEnd::kTrackEnded ? kDoneTrackEnded : kDoneGoingAway, "track ended");
  }

  void end(uint64_t status, const std::string& reason) {
    if (ended) return;
    ended = true;
    for (const Waiting& w : waiting)
      if (!w.end) drop();  // still waiting for stream credit: lost with the subscription
    waiting.clear();
    waiting_keys.clear();
    waiting_bytes = 0;
    for (auto& [k, out] : streams) s.t_.write(out.stream, SendBuffer{}, true);
    streams.clear();
    if (s.state_ == State::kReady) {
      PublishDone d{request_id, status, streams_opened, reason};
      s.reply(request_id, d, true);
    }
  }
};

struct Session::UniStream : DataStreamVisitor {
  Session& s;
  StreamId id;
  bool classified = false;
  bool control = false;
  bool dead = false;
  Bytes prefix;
  std::unique_ptr<DataStreamParser> parser;
  std::optional<SubgroupHeader> subgroup;
  std::optional<FetchHeader> fetch;
  std::optional<ReceivedObject> current;
  std::vector<ReceivedObject> waiting;  // objects whose track alias is not known yet
  size_t waiting_bytes = 0;

  UniStream(Session& sess, StreamId sid) : s(sess), id(sid) {}

  // Subgroup stream accounting for PUBLISH_DONE: counted once its subscription is known.
  bool counted = false, ended = false;
  bool fin_seen = false;  // FIN while objects still wait for their subscription
  IncomingSubscription* count() {
    IncomingSubscription* sub = subgroup ? s.by_alias(subgroup->track_alias) : nullptr;
    if (!sub || counted) return sub;
    counted = true;
    ++sub->streams_seen;
    if (!ended) ++sub->streams_open;
    return sub;
  }
  // FIN, reset or gone. May end the subscription (and so must be the caller's last step).
  void end() {
    if (ended || fetch) return;
    ended = true;
    const bool was_open = counted;
    IncomingSubscription* sub = count();
    if (!sub) return;
    if (was_open && sub->streams_open) --sub->streams_open;
    s.maybe_end_subscription(sub->id, true);
  }

  void on_subgroup_header(const SubgroupHeader& h) override {
    subgroup = h;
    count();
  }
  void on_fetch_header(const FetchHeader& h) override { fetch = h; }
  void on_object(const ObjectHeader& o) override {
    if (IncomingSubscription* sub = s.by_alias(subgroup->track_alias);
        sub && sub->max_subgroup && o.subgroup_id > *sub->max_subgroup) {
      dead = true;  // a layer the subscriber does not want: stop the sender
      s.t_.stop_sending(id, kResetCancelled);
      return;
    }
    current = ReceivedObject{};
    current->location = {subgroup->group_id, o.object_id};
    current->subgroup = o.subgroup_id;
    current->publisher_priority = subgroup->publisher_priority.value_or(128);
    current->status = o.status;
    current->properties = o.properties;
    if (o.payload_length > s.cfg_.max_object_bytes) {
      dead = true;  // larger than we accept: stop reading this stream
      return;
    }
    current->payload.reserve(size_t(o.payload_length));
  }
  void on_fetch_object(const FetchObject& o) override {
    auto it = s.in_fetches_.find(fetch->request_id);
    if (o.entry != FetchEntry::kObject) {
      if (it != s.in_fetches_.end() && it->second->handler)
        it->second->handler->on_range_gap(o.location, o.entry == FetchEntry::kEndOfUnknownRange);
      return;
    }
    current = ReceivedObject{};
    current->location = o.location;
    current->subgroup = o.subgroup_id;
    current->publisher_priority = o.publisher_priority;
    current->status = o.status;
    current->properties = o.properties;
    current->datagram = o.datagram;
    if (o.payload_length > s.cfg_.max_object_bytes) dead = true;
  }
  void on_payload(ByteView chunk, bool end) override {
    if (!current || dead) return;
    current->payload.insert(current->payload.end(), chunk.begin(), chunk.end());
    if (!end) return;
    ReceivedObject o = std::move(*current);
    current.reset();
    s.stats_.objects_received++;
    s.stats_.bytes_received += o.payload.size();
    if (fetch) {
      auto it = s.in_fetches_.find(fetch->request_id);
      if (it != s.in_fetches_.end() && it->second->handler) it->second->handler->on_object(o);
      return;
    }
    if (s.by_alias(subgroup->track_alias) && waiting.empty()) {
      count();
      s.deliver(subgroup->track_alias, std::move(o));
      return;
    }
    // SUBSCRIBE_OK / PUBLISH has not arrived yet: hold the object, bounded.
    waiting_bytes += o.payload.size();
    s.unknown_alias_bytes_ += o.payload.size();
    waiting.push_back(std::move(o));
    if (s.unknown_alias_bytes_ > s.cfg_.max_unknown_alias_bytes) drop_waiting();
  }
  void on_end_of_stream() override {
    if (fetch) {
      auto it = s.in_fetches_.find(fetch->request_id);
      if (it != s.in_fetches_.end()) {
        FetchHandler* h = it->second->handler;
        s.in_fetches_.erase(it);
        if (h) h->on_fetch_done();
      }
      return;
    }
    if (waiting.empty()) end();
    else fin_seen = true;  // ended once what waits is delivered (flush_waiting)
  }
  void flush_waiting() {
    if (waiting.empty() || !subgroup || !s.by_alias(subgroup->track_alias)) return;
    std::vector<ReceivedObject> w = std::move(waiting);
    waiting.clear();
    s.unknown_alias_bytes_ -= std::min(s.unknown_alias_bytes_, waiting_bytes);
    waiting_bytes = 0;
    count();
    const uint64_t alias = subgroup->track_alias;
    auto alive = s.alive_;
    for (ReceivedObject& o : w) {
      s.deliver(alias, std::move(o));
      if (!*alive || !s.by_alias(alias)) return;  // the handler unsubscribed or closed
    }
    if (fin_seen) end();
  }
  void drop_waiting() {
    s.unknown_alias_bytes_ -= std::min(s.unknown_alias_bytes_, waiting_bytes);
    waiting_bytes = 0;
    waiting.clear();
    dead = true;
    s.t_.stop_sending(id, kResetCancelled);
  }
};

}  // namespace moqt::session
