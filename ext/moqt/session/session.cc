#include "moqt/session/session.h"

#include <algorithm>
#include <cstdio>

namespace moqt::session {

using namespace wire;
using quic::SendBuffer;
using quic::StreamId;

namespace {

// PUBLISH_DONE status codes (same in -14, -16, -18 for these).
constexpr uint64_t kDoneInternalError = 0x0;
constexpr uint64_t kDoneTrackEnded = 0x2;
constexpr uint64_t kDoneSubscriptionEnded = 0x3;
constexpr uint64_t kDoneGoingAway = 0x4;
// Request error codes (-14 per-message tables share these values for the cases we use).
uint64_t does_not_exist(Draft d) { return d == Draft::k14 ? 0x4 : 0x10; }  // TRACK_DOES_NOT_EXIST / DOES_NOT_EXIST
uint64_t not_supported() { return 0x3; }
uint64_t uninterested(Draft d) { return d == Draft::k14 ? 0x4 : 0x20; }
uint64_t invalid_range(Draft d) { return d == Draft::k14 ? 0x5 : 0x11; }
// Out-of-order request ids we track at most (ids between the lowest unused one and this many
// above it).
constexpr uint64_t kMaxRequestIdWindow = 4096;
// Stream reset codes.
constexpr uint64_t kResetCancelled = 0x1;
constexpr uint64_t kResetDeliveryTimeout = 0x2;

bool is_bidi(StreamId id) { return (id & 0x2) == 0; }

}  // namespace

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

// -------------------------------------------------------------------------------------------
// Construction and setup

Session::Session(quic::Transport& transport, SessionConfig cfg, SessionHandler* handler, TrackSource* tracks)
    : t_(transport), cfg_(std::move(cfg)), handler_(handler), tracks_(tracks) {
  const bool client = cfg_.perspective == Perspective::kClient;
  next_request_id_ = client ? 0 : 1;
  next_peer_request_id_ = client ? 1 : 0;
  peer_ids_low_ = next_peer_request_id_;
  t_.set_handler(this);
}

Session::~Session() {
  *alive_ = false;
  if (setup_timer_) t_.loop().cancel_timer(setup_timer_);
  if (goaway_timer_) t_.loop().cancel_timer(goaway_timer_);
  for (auto& [id, r] : requests_)
    if (r->timer) t_.loop().cancel_timer(r->timer);
  for (auto& [id, sub] : in_subs_)
    if (sub->done_timer) t_.loop().cancel_timer(sub->done_timer);
  out_subs_.clear();  // detaches from tracks
  if (tracks_)
    for (auto& [id, prefix] : namespace_watches_) tracks_->unwatch_namespaces(*this, id);
  if (state_ != State::kClosed) t_.set_handler(nullptr);
}

void Session::on_ready(std::string_view protocol) {
  // The negotiated protocol decides the draft: ALPN (raw QUIC) or WT-Protocol; "moq-00" or no
  // WT protocol at all means draft-14, whose version is agreed in CLIENT_SETUP/SERVER_SETUP.
  const std::string p(protocol);
  if (p.empty() || p == "moq-00") {
    draft_ = Draft::k14;
  } else if (auto d = draft_from_alpn(p)) {
    draft_ = *d;
  } else {
    fail(SessionError::kVersionNegotiationFailed, "unsupported protocol '" + p + "'");
    return;
  }
  if (std::find(cfg_.drafts.begin(), cfg_.drafts.end(), draft_) == cfg_.drafts.end()) {
    fail(SessionError::kVersionNegotiationFailed, std::string("draft ") + profile(draft_).name + " is disabled");
    return;
  }
  draft_known_ = true;
  profile_ = &profile(draft_);
  state_ = State::kSettingUp;
  start_setup();
}

void Session::start_setup() {
  auto alive = alive_;
  setup_timer_ = t_.loop().add_timer(cfg_.setup_timeout, [this, alive] {
    setup_timer_ = 0;
    if (*alive && state_ == State::kSettingUp) fail(SessionError::kControlMessageTimeout, "no SETUP within the timeout");
  });
  SetupParams p;
  p.implementation = cfg_.implementation;
  if (cfg_.auth_token) p.auth_tokens.push_back(AuthToken{TokenAliasType::kUseValue, 0, 0, *cfg_.auth_token});
  const bool client = cfg_.perspective == Perspective::kClient;
  if (client && !cfg_.webtransport) {
    if (!cfg_.path.empty()) p.path = cfg_.path;
    if (!cfg_.authority.empty()) p.authority = cfg_.authority;
  }
  if (draft_ != Draft::k18) {
    p.max_request_id = cfg_.max_request_id;
    granted_max_request_id_ = cfg_.max_request_id;
  }
  if (draft_ == Draft::k18) {
    // Each side opens its own uni control stream starting with SETUP.
    auto id = t_.open_uni_stream();
    if (!id) return fail(SessionError::kInternalError, "cannot open the control stream");
    control_out_ = *id;
    t_.set_priority(control_out_, 0);
    send_on(control_out_, Setup{p});
    return;
  }
  if (client) {
    auto id = t_.open_bidi_stream();
    if (!id) return fail(SessionError::kInternalError, "cannot open the control stream");
    control_out_ = control_in_ = *id;
    t_.set_priority(control_out_, 0);
    control_parser_ = std::make_unique<ControlStreamParser>(draft_);
    ClientSetup cs{{}, p};
    if (draft_ == Draft::k14) cs.versions = {profile(Draft::k14).version};
    send_on(control_out_, cs);
  }
  // A -14/-16 server waits for CLIENT_SETUP on the client's first bidi stream.
}

void Session::handle_setup(const ControlMessage& m) {
  const bool client = cfg_.perspective == Perspective::kClient;
  const SetupParams* p = nullptr;
  if (auto* cs = std::get_if<ClientSetup>(&m)) {
    if (client) return protocol_violation("CLIENT_SETUP received by a client");
    p = &cs->params;
    if (draft_ == Draft::k14 &&
        std::find(cs->versions.begin(), cs->versions.end(), profile(Draft::k14).version) == cs->versions.end())
      return fail(SessionError::kVersionNegotiationFailed, "client offers no version we speak (want draft-14)");
  } else if (auto* ss = std::get_if<ServerSetup>(&m)) {
    if (!client) return protocol_violation("SERVER_SETUP received by a server");
    p = &ss->params;
    if (draft_ == Draft::k14 && ss->selected_version != profile(Draft::k14).version)
      return fail(SessionError::kVersionNegotiationFailed, "server selected an unsupported version");
  } else if (auto* s = std::get_if<Setup>(&m)) {
    p = &s->params;
  } else {
    return protocol_violation(std::string("expected SETUP, got ") + to_string(kind_of(m)));
  }
  // PATH / AUTHORITY: only a raw-QUIC client may send them.
  if ((p->path || p->authority) && (client || cfg_.webtransport))
    return fail(p->path ? SessionError::kInvalidPath : SessionError::kInvalidAuthority,
                "PATH/AUTHORITY not allowed from this peer");
  if (draft_ != Draft::k18) peer_max_request_id_ = p->max_request_id.value_or(0);
  peer_implementation_ = p->implementation.value_or("");
  if (p->path) peer_path_ = *p->path;
  for (const AuthToken& t : p->auth_tokens)
    if (t.alias_type == TokenAliasType::kUseValue || t.alias_type == TokenAliasType::kRegister) peer_auth_token_ = t.value;
  // @moq/net (MOQT_IMPLEMENTATION "moq-lite-js") decodes LARGEST_OBJECT with a length prefix
  // from -17 on, where -18 ("LARGEST OBJECT Parameter", "Message Parameters") makes it a bare
  // Location, and then fails the whole reply. It only uses the value from -20 on, so it gets
  // SUBSCRIBE_OK / TRACK_STATUS replies without it (docs/interop.md).
  omit_largest_object_ = cfg_.peer_workarounds && draft_ == Draft::k18 &&
                         peer_implementation_.starts_with("moq-lite-js");
  // It also takes only whole groups (a subgroup stream must start at object 0) and cannot
  // FETCH, so a LargestObject subscription would lose the current group, and a track written
  // once (a catalog) would never arrive: it gets the current group from object 0 (its own
  // publisher does the same).
  whole_groups_ = cfg_.peer_workarounds && peer_implementation_.starts_with("moq-lite-js");
  if (!client && draft_ != Draft::k18) {
    // Answer CLIENT_SETUP with SERVER_SETUP on the same stream.
    SetupParams sp;
    sp.implementation = cfg_.implementation;
    sp.max_request_id = cfg_.max_request_id;
    granted_max_request_id_ = cfg_.max_request_id;
    ServerSetup ss{draft_ == Draft::k14 ? profile(Draft::k14).version : 0, sp};
    send_on(control_out_, ss);
  }
  become_ready();
}

void Session::become_ready() {
  state_ = State::kReady;
  if (setup_timer_) t_.loop().cancel_timer(setup_timer_);
  setup_timer_ = 0;
  // Requests made before setup completed go first: one the handler makes in on_ready has a
  // higher id and must not overtake them (a fuzz find).
  send_blocked_requests();
  auto alive_ready = alive_;
  if (handler_) handler_->on_ready(draft_);
  if (!*alive_ready || state_ != State::kReady) return;
  // -18 requests that arrived before the peer's SETUP.
  std::vector<std::pair<ControlMessage, StreamId>> early = std::move(early_messages_);
  early_messages_.clear();
  auto alive = alive_;
  for (auto& [m, stream] : early) {
    on_control_message(std::move(m), stream);
    if (!*alive || state_ != State::kReady) return;
  }
  // Uni streams that arrived before setup (e.g. -18 data racing the control stream).
  for (auto& [id, u] : uni_) u->flush_waiting();
  if (pending_goaway_) {
    auto [uri, timeout] = *std::exchange(pending_goaway_, std::nullopt);
    goaway(uri, timeout);
  }
}

// -------------------------------------------------------------------------------------------
// Control message I/O

void Session::send_on(StreamId stream, const ControlMessage& m, bool fin) {
  Bytes b;
  if (auto e = encode_control(m, draft_, b)) {
    std::fprintf(stderr, "moqt session: cannot encode %s: %s\n", to_string(kind_of(m)), e->detail.c_str());
    return;
  }
  t_.write(stream, SendBuffer::take(std::move(b)), fin);
}

void Session::send_control(const ControlMessage& m) {
  if (control_out_ < 0) return;
  send_on(control_out_, m);
}

bool Session::check_incoming_request_id(uint64_t id) {
  const bool client = cfg_.perspective == Perspective::kClient;
  if ((id & 1) != (client ? 1u : 0u)) {
    fail(SessionError::kInvalidRequestId, "request id " + std::to_string(id) + " has the wrong parity");
    return false;
  }
  if (draft_ != Draft::k14) {
    // Requests travel on different streams (-18 request streams; -16 SUBSCRIBE_NAMESPACE on its
    // own bidi stream), so ids may arrive out of order: only duplicates are errors. Holes are
    // bounded, so a peer cannot make us remember ids forever.
    if (id < peer_ids_low_ || peer_ids_seen_.count(id)) {
      fail(SessionError::kInvalidRequestId, "duplicate request id " + std::to_string(id));
      return false;
    }
    if (draft_ != Draft::k18 && id >= granted_max_request_id_) {
      fail(SessionError::kTooManyRequests, "request id " + std::to_string(id) + " beyond MAX_REQUEST_ID");
      return false;
    }
    if ((id - peer_ids_low_) / 2 >= kMaxRequestIdWindow) {
      fail(SessionError::kInvalidRequestId, "request id " + std::to_string(id) + " too far ahead of the lowest unused (" +
                                                std::to_string(peer_ids_low_) + ")");
      return false;
    }
    peer_ids_seen_.insert(id);
    while (peer_ids_seen_.count(peer_ids_low_)) peer_ids_seen_.erase(peer_ids_low_), peer_ids_low_ += 2;
    if (draft_ == Draft::k18) return true;
    next_peer_request_id_ = std::max(next_peer_request_id_, id + 2);
    ++peer_requests_seen_;
    grant_request_ids();
    return true;
  }
  // -14 requests share the control stream: ids only increase.
  if (id < next_peer_request_id_) {
    fail(SessionError::kInvalidRequestId, "request id " + std::to_string(id) + " out of sequence (expected " +
                                              std::to_string(next_peer_request_id_) + ")");
    return false;
  }
  if (id >= granted_max_request_id_) {
    fail(SessionError::kTooManyRequests, "request id " + std::to_string(id) + " beyond MAX_REQUEST_ID");
    return false;
  }
  next_peer_request_id_ = id + 2;
  ++peer_requests_seen_;
  grant_request_ids();
  return true;
}

void Session::grant_request_ids() {
  if (draft_ == Draft::k18) return;
  // Keep the window open: once half is used, move the bound forward (MAX_REQUEST_ID).
  const uint64_t window = cfg_.max_request_id;
  if (granted_max_request_id_ - next_peer_request_id_ < window / 2) {
    granted_max_request_id_ = next_peer_request_id_ + window;
    send_control(MaxRequestId{granted_max_request_id_});
  }
}

std::optional<uint64_t> Session::new_request(std::function<ControlMessage(uint64_t)> build, Request** out) {
  if (state_ == State::kClosed || goaway_received_) return std::nullopt;
  if (requests_.size() + blocked_requests_.size() > 4096) return std::nullopt;  // bounded
  auto r = std::make_unique<Request>();
  r->id = next_request_id_;
  next_request_id_ += 2;
  r->msg = build(r->id);
  r->kind = kind_of(r->msg);
  Request* raw = r.get();
  const uint64_t id = raw->id;  // `raw` may be gone after send_request (a -14 update is)
  if (out) *out = raw;
  const bool blocked = state_ != State::kReady || !blocked_requests_.empty() ||
                       (draft_ != Draft::k18 && raw->id >= peer_max_request_id_);
  if (blocked) {
    if (state_ == State::kReady && draft_ != Draft::k18 && raw->id >= peer_max_request_id_)
      send_control(RequestsBlocked{peer_max_request_id_});
    blocked_requests_.push_back(std::move(r));
  } else {
    requests_[raw->id] = std::move(r);
    send_request(*raw);
  }
  return id;
}

void Session::send_request(Request& r) {
  const bool own_stream = draft_ == Draft::k18 || (draft_ == Draft::k16 && r.kind == MessageKind::kSubscribeNamespace);
  if (own_stream) {
    auto id = t_.open_bidi_stream();
    if (!id) {
      // The peer's stream limit: retried on on_streams_available.
      auto it = requests_.find(r.id);
      if (it != requests_.end()) {
        blocked_requests_.push_back(std::move(it->second));
        requests_.erase(it);
      }
      return;
    }
    r.stream = *id;
    request_streams_[*id] = r.id;
    request_parsers_[*id] = std::make_unique<ControlStreamParser>(draft_);
    t_.set_priority(*id, 1);
    send_on(*id, r.msg);
  } else {
    send_control(r.msg);
  }
  r.sent = true;
  if (r.kind == MessageKind::kRequestUpdate && draft_ == Draft::k14) {
    requests_.erase(r.id);  // -14 SUBSCRIBE_UPDATE has no reply
    return;
  }
  // Every request is answered or times out.
  auto alive = alive_;
  const uint64_t id = r.id;
  r.timer = t_.loop().add_timer(cfg_.request_timeout, [this, alive, id] {
    if (!*alive) return;
    auto it = requests_.find(id);
    if (it == requests_.end()) return;
    it->second->timer = 0;
    RequestError e;
    e.request_id = id;
    e.error_code = 0x2;  // TIMEOUT
    e.reason = "no reply within the request timeout";
    on_request_error(e, it->second->stream);
  });
}

void Session::reply(uint64_t request_id, const ControlMessage& m, bool fin) {
  if (draft_ == Draft::k18 || peer_request_stream_by_id_.count(request_id)) {
    auto it = peer_request_stream_by_id_.find(request_id);
    if (it == peer_request_stream_by_id_.end()) return;
    send_on(it->second, m, fin);
    if (fin) {
      peer_request_streams_.erase(it->second);
      peer_request_stream_by_id_.erase(it);
    }
    return;
  }
  send_control(m);
}

uint64_t Session::request_id_of(StreamId stream, uint64_t in_message) const {
  if (draft_ != Draft::k18) {
    auto it = request_streams_.find(stream);  // -16 SUBSCRIBE_NAMESPACE replies carry the id too
    return it != request_streams_.end() && in_message == 0 ? it->second : in_message;
  }
  auto it = request_streams_.find(stream);
  return it == request_streams_.end() ? UINT64_MAX : it->second;
}

// -------------------------------------------------------------------------------------------
// Incoming streams

void Session::on_stream_opened(StreamId id, bool bidi) {
  if (bidi) {
    request_parsers_[id] = std::make_unique<ControlStreamParser>(draft_known_ ? draft_ : Draft::k18);
  } else {
    uni_[id] = std::make_unique<UniStream>(*this, id);
  }
}

void Session::on_stream_data(StreamId id, std::span<const uint8_t> data, bool fin) {
  if (state_ == State::kClosed || !draft_known_) return;
  if (!is_bidi(id)) {
    auto it = uni_.find(id);
    if (it == uni_.end()) it = uni_.emplace(id, std::make_unique<UniStream>(*this, id)).first;
    on_uni_data(id, *it->second, data, fin);
    return;
  }
  // Bidirectional: the -14/-16 control stream, or a request stream.
  ControlStreamParser* parser = nullptr;
  const bool server = cfg_.perspective == Perspective::kServer;
  if (draft_ != Draft::k18 && id == control_in_) {
    parser = control_parser_.get();
  } else if (draft_ != Draft::k18 && server && control_in_ < 0) {
    control_in_ = control_out_ = id;  // the client's first bidi stream is the control stream
    control_parser_ = std::make_unique<ControlStreamParser>(draft_);
    t_.set_priority(id, 0);
    parser = control_parser_.get();
  } else {
    auto it = request_parsers_.find(id);
    if (it == request_parsers_.end())
      it = request_parsers_.emplace(id, std::make_unique<ControlStreamParser>(draft_)).first;
    parser = it->second.get();
  }
  parser->push(data);
  auto alive = alive_;
  while (auto m = parser->next()) {
    if (!*m) return fail(m->error().code, m->error().detail);
    on_control_message(std::move(m->value()), id);
    if (!*alive || state_ == State::kClosed) return;
  }
  if (fin) {
    if (draft_ != Draft::k18 && id == control_in_) return protocol_violation("the peer closed the control stream");
    if (!parser->at_message_boundary()) return protocol_violation("request stream ended inside a message");
    // -16: closing a SUBSCRIBE_NAMESPACE stream cancels it.
    if (auto it = peer_request_streams_.find(id); draft_ == Draft::k16 && it != peer_request_streams_.end())
      end_namespace_watch(it->second);
  }
}

void Session::on_uni_data(StreamId id, UniStream& s, std::span<const uint8_t> data, bool fin) {
  if (s.dead) return;
  if (!s.classified) {
    s.prefix.insert(s.prefix.end(), data.begin(), data.end());
    Result<UniStreamKind> k = classify_uni_stream(s.prefix, draft_);
    if (!k) return fail(k.error().code, k.error().detail);
    if (*k == UniStreamKind::kNeedMore) return;
    s.classified = true;
    Bytes all = std::move(s.prefix);
    s.prefix.clear();
    if (*k == UniStreamKind::kControl) {
      if (control_in_ >= 0) return protocol_violation("a second control stream");
      s.control = true;
      control_in_ = id;
      control_parser_ = std::make_unique<ControlStreamParser>(draft_);
    } else {
      s.parser = std::make_unique<DataStreamParser>(draft_, s);
    }
    return on_uni_data(id, s, all, fin);
  }
  if (s.control) {
    control_parser_->push(data);
    auto alive = alive_;
    while (auto m = control_parser_->next()) {
      if (!*m) return fail(m->error().code, m->error().detail);
      on_control_message(std::move(m->value()), id);
      if (!*alive || state_ == State::kClosed) return;
    }
    if (fin) protocol_violation("the peer closed its control stream");
    return;
  }
  if (auto e = s.parser->feed(data, fin)) return fail(e->code, e->detail);
}

void Session::on_control_message(ControlMessage m, StreamId stream) {
  const MessageKind k = kind_of(m);
  if (state_ == State::kSettingUp) {
    if (k == MessageKind::kClientSetup || k == MessageKind::kServerSetup || k == MessageKind::kSetup) return handle_setup(m);
    if (draft_ != Draft::k18) return protocol_violation(std::string("expected SETUP, got ") + to_string(k));
    // -18 requests may race the peer's SETUP on other streams. The draft says to buffer them
    // "until both control streams arrive and setup is complete" (-18, "Control Streams"): the
    // SETUP tells how to answer (extensions, peer_workarounds). Replayed by become_ready().
    if (early_messages_.size() >= 256) return protocol_violation("too many requests before SETUP");
    early_messages_.emplace_back(std::move(m), stream);
    return;
  }
  if (k == MessageKind::kClientSetup || k == MessageKind::kServerSetup || k == MessageKind::kSetup)
    return protocol_violation("a second SETUP");
  const bool on_request_stream = draft_ == Draft::k18 ? stream != control_in_ : false;
  // A peer's new request stream (-18; -16 SUBSCRIBE_NAMESPACE) starts with the request itself.
  if (on_request_stream || (draft_ == Draft::k16 && stream != control_in_)) {
    if (!request_streams_.count(stream) && !peer_request_streams_.count(stream)) {
      uint64_t rid = 0;
      bool is_request = true;
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, Subscribe> || std::is_same_v<T, TrackStatus> ||
                          std::is_same_v<T, Publish> || std::is_same_v<T, Fetch> ||
                          std::is_same_v<T, PublishNamespace> || std::is_same_v<T, SubscribeNamespace> ||
                          std::is_same_v<T, SubscribeTracks>)
              rid = x.request_id;
            else
              is_request = false;
          },
          m);
      if (!is_request) return protocol_violation(std::string("a request stream must start with a request, got ") + to_string(k));
      peer_request_streams_[stream] = rid;
      peer_request_stream_by_id_[rid] = stream;
    }
  }
  switch (k) {
    case MessageKind::kGoaway: {
      if (cfg_.perspective == Perspective::kServer && !std::get<Goaway>(m).new_session_uri.empty())
        return protocol_violation("a client's GOAWAY must not carry a URI");
      if (goaway_received_) return protocol_violation("a second GOAWAY");
      goaway_received_ = true;
      if (handler_) handler_->on_goaway(std::get<Goaway>(m).new_session_uri);
      return;
    }
    case MessageKind::kMaxRequestId: {
      const uint64_t v = std::get<MaxRequestId>(m).request_id;
      if (v <= peer_max_request_id_) return protocol_violation("MAX_REQUEST_ID must increase");
      peer_max_request_id_ = v;
      send_blocked_requests();
      return;
    }
    case MessageKind::kRequestsBlocked: return;  // informational: our window logic already moves
    case MessageKind::kSubscribe: return on_subscribe(std::get<Subscribe>(m), stream);
    case MessageKind::kSubscribeOk: return on_subscribe_ok(std::get<SubscribeOk>(m), stream);
    case MessageKind::kRequestError: return on_request_error(std::get<RequestError>(m), stream);
    case MessageKind::kRequestOk: return on_request_ok(std::get<RequestOk>(m), stream);
    case MessageKind::kUnsubscribe: return on_unsubscribe(std::get<Unsubscribe>(m).request_id);
    case MessageKind::kPublishDone: return on_publish_done(std::get<PublishDone>(m), stream);
    case MessageKind::kFetch: return on_fetch(std::get<Fetch>(m), stream);
    case MessageKind::kFetchOk: return on_fetch_ok(std::get<FetchOk>(m), stream);
    case MessageKind::kFetchCancel: return;  // the fetch stream is reset by the peer as well
    case MessageKind::kTrackStatus: return on_track_status(std::get<TrackStatus>(m), stream);
    case MessageKind::kPublishNamespace: return on_publish_namespace(std::get<PublishNamespace>(m), stream);
    case MessageKind::kPublishNamespaceDone: {
      const auto& d = std::get<PublishNamespaceDone>(m);
      if (draft_ == Draft::k14) {
        for (auto it = peer_namespaces_.begin(); it != peer_namespaces_.end(); ++it)
          if (it->second == d.ns) return peer_request_ended(it->first);
        if (handler_) handler_->on_namespace_done(d.ns);
        return;
      }
      return peer_request_ended(d.request_id);  // -16: by request id
    }
    case MessageKind::kPublishNamespaceCancel: return;
    case MessageKind::kSubscribeNamespace: return on_subscribe_namespace(std::get<SubscribeNamespace>(m), stream);
    case MessageKind::kUnsubscribeNamespace: {
      const TrackNamespace& prefix = std::get<UnsubscribeNamespace>(m).prefix;  // -14: by prefix
      for (auto it = namespace_watches_.begin(); it != namespace_watches_.end(); ++it)
        if (it->second == prefix) return end_namespace_watch(it->first);
      return;
    }
    case MessageKind::kNamespace:
    case MessageKind::kNamespaceDone: {
      // The suffix after our SUBSCRIBE_NAMESPACE prefix: the handler hears the whole namespace.
      const bool active = k == MessageKind::kNamespace;
      TrackNamespace ns;
      if (auto r = requests_.find(request_id_of(stream, 0)); r != requests_.end()) ns = r->second->ns;
      const TrackNamespace& suffix = active ? std::get<Namespace>(m).suffix : std::get<NamespaceDone>(m).suffix;
      ns.insert(ns.end(), suffix.begin(), suffix.end());
      if (handler_) handler_->on_namespace_update(ns, active);
      return;
    }
    case MessageKind::kPublish: return on_publish(std::get<Publish>(m), stream);
    case MessageKind::kRequestUpdate: return on_request_update(std::get<RequestUpdate>(m), stream);
    case MessageKind::kSubscribeTracks: {
      RequestError e;
      e.request_id = std::get<SubscribeTracks>(m).request_id;
      e.error_code = not_supported();
      e.reason = "SUBSCRIBE_TRACKS is not supported";
      reply(e.request_id, e, true);
      return;
    }
    case MessageKind::kPublishBlocked: return;
    default: return protocol_violation(std::string("unexpected ") + to_string(k));
  }
}

// -------------------------------------------------------------------------------------------
// Publisher side: answering requests

uint64_t Session::lookup_error_code(LookupError e) const {
  switch (e) {
    case LookupError::kDoesNotExist: return does_not_exist(draft_);
    case LookupError::kUnauthorized: return 0x1;
    case LookupError::kTimeout: return 0x2;
    case LookupError::kExcessiveLoad: return draft_ == Draft::k18 ? 0x9 : 0x0;
    default: return 0x0;
  }
}

void Session::lookup(const FullTrackName& name, RequestFor why, uint64_t request_id,
                     std::function<void(std::shared_ptr<TrackPublisher>, LookupError, const std::string&)> then) {
  if (!tracks_) return then(nullptr, LookupError::kDoesNotExist, "no such track");
  pending_lookups_.insert(request_id);
  // The answer may come later (a relay subscribing upstream): by then the session may be gone
  // or the request cancelled.
  tracks_->find_track(*this, name, why,
                      [this, alive = alive_, request_id, then = std::move(then)](
                          std::shared_ptr<TrackPublisher> t, LookupError e, const std::string& reason) {
                        if (!*alive || state_ != State::kReady || !pending_lookups_.erase(request_id)) return;
                        then(std::move(t), e, reason);
                      });
}

void Session::on_subscribe(const Subscribe& m, StreamId stream) {
  if (!check_incoming_request_id(m.request_id)) return;
  lookup(m.track, RequestFor::kSubscribe, m.request_id,
         [this, m, stream](std::shared_ptr<TrackPublisher> t, LookupError e, const std::string& why) {
           accept_subscribe(m, stream, std::move(t), e, why);
         });
}

void Session::accept_subscribe(const Subscribe& m, StreamId stream, std::shared_ptr<TrackPublisher> track,
                               LookupError lookup_error, const std::string& why) {
  auto error = [&](uint64_t code, const std::string& reason) {
    RequestError e{RequestKind::kSubscribe, m.request_id, code, 0, reason, {}};
    reply(m.request_id, e, true);
  };
  if (!track || track->finished()) {
    if (lookup_error == LookupError::kNone || lookup_error == LookupError::kDoesNotExist)
      return error(does_not_exist(draft_), "no such track: " + to_string(m.track));
    return error(lookup_error_code(lookup_error), why);
  }
  if (out_subs_.size() >= cfg_.max_incoming_subscriptions) return error(0x0, "too many subscriptions");
  auto sub = std::make_unique<OutgoingSubscription>(*this);
  sub->request_id = m.request_id;
  sub->alias = next_track_alias_++;
  sub->track = track;
  sub->request_stream = stream;
  sub->forward = m.params.forward.value_or(true);
  sub->subscriber_priority = m.params.subscriber_priority.value_or(128);
  sub->set_delivery_timeout(m.params.delivery_timeout.value_or(0));
  const GroupOrder want = m.params.group_order.value_or(GroupOrder::kPublisher);
  sub->order = want == GroupOrder::kPublisher ? track->options().group_order : want;
  const std::optional<Location> largest = track->largest();
  const SubscriptionFilter f = m.params.filter.value_or(SubscriptionFilter{FilterType::kLargestObject, {}, {}});
  switch (f.type) {
    case FilterType::kLargestObject:
      sub->start = largest ? Location{largest->group, whole_groups_ || cfg_.join_at_group_start ? 0 : largest->object + 1}
                           : Location{};
      break;
    case FilterType::kNextGroupStart: sub->start = largest ? Location{largest->group + 1, 0} : Location{}; break;
    case FilterType::kAbsoluteStart: sub->start = f.start; break;
    case FilterType::kAbsoluteRange:
      sub->start = f.start;
      sub->end_group = f.end_group;
      if (f.end_group && *f.end_group < f.start.group) return error(invalid_range(draft_), "end group before start");
      break;
  }
  SubscribeOk ok;
  ok.request_id = m.request_id;
  ok.track_alias = sub->alias;
  if (!omit_largest_object_) ok.params.largest_object = largest;
  if (draft_ == Draft::k14) {
    ok.params.expires = 0;
    ok.params.group_order = sub->order;
  } else {
    ok.track_properties = {KeyValuePair::integer(0x0E, track->options().publisher_priority),
                           KeyValuePair::integer(0x22, uint64_t(track->options().group_order))};
  }
  reply(m.request_id, ok);
  OutgoingSubscription* raw = sub.get();
  out_subs_[m.request_id] = std::move(sub);
  stats_.incoming_subscriptions = out_subs_.size();
  if ((whole_groups_ || cfg_.join_at_group_start) && largest && f.type == FilterType::kLargestObject) {
    // The current group so far, from the cache, on the streams live objects then continue.
    for (const Object* o : track->cached_range(raw->start, *largest, GroupOrder::kAscending)) raw->on_object(*o);
  }
  track->add_sink(raw);
}

void Session::on_unsubscribe(uint64_t request_id) {
  pending_lookups_.erase(request_id);  // not answered yet: never will be
  auto it = out_subs_.find(request_id);
  if (it == out_subs_.end()) return;
  OutgoingSubscription& sub = *it->second;
  for (auto& [k, out] : sub.streams) t_.reset_stream(out.stream, kResetCancelled);
  sub.streams.clear();
  if (!sub.ended) {
    sub.ended = true;
    PublishDone d{request_id, kDoneSubscriptionEnded, sub.streams_opened, "unsubscribed"};
    reply(request_id, d, true);
  }
  out_subs_.erase(it);
  stats_.incoming_subscriptions = out_subs_.size();
}

void Session::on_fetch(const Fetch& m, StreamId) {
  if (!check_incoming_request_id(m.request_id)) return;
  if (m.type != FetchType::kStandalone) return serve_fetch(m, nullptr, LookupError::kNone, "");
  lookup(m.track, RequestFor::kFetch, m.request_id,
         [this, m](std::shared_ptr<TrackPublisher> t, LookupError e, const std::string& why) {
           if (!t) {
             RequestError err{RequestKind::kFetch, m.request_id,
                              e == LookupError::kNone ? does_not_exist(draft_) : lookup_error_code(e), 0,
                              e == LookupError::kDoesNotExist || e == LookupError::kNone
                                  ? "no such track: " + to_string(m.track)
                                  : why,
                              {}};
             return reply(m.request_id, err, true);
           }
           serve_fetch(m, std::move(t), e, why);
         });
}

void Session::serve_fetch(const Fetch& m, std::shared_ptr<TrackPublisher> track, LookupError, const std::string&) {
  auto error = [&](uint64_t code, const std::string& reason) {
    RequestError e{RequestKind::kFetch, m.request_id, code, 0, reason, {}};
    reply(m.request_id, e, true);
  };
  Location start, end_incl;
  if (m.type == FetchType::kStandalone) {
    start = m.start;
    // End Location's object is "last + 1"; 0 means the whole end group.
    end_incl = m.end.object == 0 ? Location{m.end.group, UINT64_MAX} : Location{m.end.group, m.end.object - 1};
  } else {
    auto it = out_subs_.find(m.joining_request_id);
    if (it == out_subs_.end() || !it->second->track)
      return error(draft_ == Draft::k14 ? 0x7 : 0x32, "joining fetch for an unknown subscription");
    track = it->second->track;
    const Location joining = it->second->start;  // where the subscription starts delivering
    const uint64_t jg = joining.object == 0 && joining.group > 0 ? joining.group - 1 : joining.group;
    start = m.type == FetchType::kRelativeJoining ? Location{jg >= m.joining_start ? jg - m.joining_start : 0, 0}
                                                  : Location{m.joining_start, 0};
    // Up to (not including) the first object the subscription delivers.
    if (joining.object > 0) end_incl = Location{joining.group, joining.object - 1};
    else if (joining.group > 0) end_incl = Location{joining.group - 1, UINT64_MAX};
    else return error(invalid_range(draft_), "nothing before the subscription start");
  }
  if (end_incl < start) return error(invalid_range(draft_), "end before start");
  const GroupOrder order = m.params.group_order.value_or(GroupOrder::kAscending) == GroupOrder::kDescending
                               ? GroupOrder::kDescending
                               : GroupOrder::kAscending;
  std::vector<const Object*> objs = track->cached_range(start, end_incl, order);
  if (objs.empty() && draft_ == Draft::k14) return error(0x6, "no objects in the range");  // NO_OBJECTS
  Location last = objs.empty() ? start : objs.front()->location;
  for (const Object* o : objs) last = std::max(last, o->location);
  FetchOk ok;
  ok.request_id = m.request_id;
  ok.end_of_track = track->finished() && track->largest() && !(*track->largest() > last);
  ok.end_location = Location{last.group, last.object + 1};
  if (draft_ == Draft::k14) ok.params.group_order = order;
  // -18: the request stream stays open until the data stream is done (a peer may drop the
  // FETCH on the request stream's FIN before its data stream arrives).
  auto uni = t_.open_uni_stream();
  reply(m.request_id, ok, !uni);
  if (!uni) return;
  if (draft_ == Draft::k18) fetch_data_streams_[*uni] = m.request_id;
  Bytes b;
  encode_fetch_header(FetchHeader{m.request_id}, draft_, b);
  t_.set_priority(*uni, uint64_t(m.params.subscriber_priority.value_or(128)) << 56);
  FetchObjectEncoder enc(draft_, order);
  for (const Object* o : objs) {
    FetchObject f;
    f.location = o->location;
    f.subgroup_id = o->subgroup;
    f.datagram = o->datagram && draft_ != Draft::k14;
    f.publisher_priority = o->publisher_priority;
    f.properties = o->properties;
    f.status = draft_ == Draft::k14 ? o->status : ObjectStatus::kNormal;
    if (draft_ != Draft::k14 && o->status != ObjectStatus::kNormal) continue;  // no status in -16+ fetches
    f.payload_length = o->payload.data.size();
    if (enc.encode(f, b)) break;
    t_.write(*uni, SendBuffer::take(std::move(b)), false);
    b.clear();
    if (!o->payload.data.empty()) t_.write(*uni, o->payload, false);
  }
  t_.write(*uni, SendBuffer::take(std::move(b)), true);
}

void Session::on_track_status(const TrackStatus& m, StreamId) {
  if (!check_incoming_request_id(m.request_id)) return;
  lookup(m.track, RequestFor::kTrackStatus, m.request_id,
         [this, m](std::shared_ptr<TrackPublisher> t, LookupError e, const std::string& why) {
           answer_track_status(m, std::move(t), e, why);
         });
}

void Session::answer_track_status(const TrackStatus& m, std::shared_ptr<TrackPublisher> track, LookupError e,
                                  const std::string& why) {
  if (!track) {
    const bool missing = e == LookupError::kNone || e == LookupError::kDoesNotExist;
    RequestError err{RequestKind::kTrackStatus, m.request_id, missing ? does_not_exist(draft_) : lookup_error_code(e), 0,
                     missing ? "no such track" : why, {}};
    reply(m.request_id, err, true);
    return;
  }
  RequestOk ok;
  ok.of = RequestKind::kTrackStatus;
  ok.request_id = m.request_id;
  if (!omit_largest_object_) ok.params.largest_object = track->largest();
  if (draft_ == Draft::k14) {
    ok.params.expires = 0;
    ok.params.group_order = track->options().group_order;
  }
  if (draft_ == Draft::k18) ok.track_properties = {KeyValuePair::integer(0x0E, track->options().publisher_priority)};
  reply(m.request_id, ok, true);
}

void Session::on_publish_namespace(const PublishNamespace& m, StreamId) {
  if (!check_incoming_request_id(m.request_id)) return;
  if (handler_ && !handler_->may_publish(m.ns)) {
    reply(m.request_id, RequestError{RequestKind::kPublishNamespace, m.request_id, 0x1, 0, "unauthorized", {}}, true);
    return;
  }
  const bool accept = handler_ ? handler_->on_namespace_published(m.ns) : false;
  if (accept) {
    peer_namespaces_[m.request_id] = m.ns;
    if (draft_ == Draft::k14 && watching_namespace(m.ns)) handler_->on_namespace_update(m.ns, true);
    reply(m.request_id, RequestOk{RequestKind::kPublishNamespace, m.request_id, {}, {}});
  } else {
    RequestError e{RequestKind::kPublishNamespace, m.request_id, uninterested(draft_), 0, "uninterested", {}};
    reply(m.request_id, e, true);
  }
}

void Session::on_subscribe_namespace(const SubscribeNamespace& m, StreamId) {
  if (!check_incoming_request_id(m.request_id)) return;
  LookupError e = LookupError::kDoesNotExist;
  std::optional<std::vector<TrackNamespace>> now;
  if (tracks_) now = tracks_->watch_namespaces(*this, m.request_id, m.prefix, &e);
  if (!now) {
    const uint64_t code = e == LookupError::kDoesNotExist ? (draft_ == Draft::k14 ? 0x4 : does_not_exist(draft_))
                                                          : lookup_error_code(e);
    RequestError err{RequestKind::kSubscribeNamespace, m.request_id, code, 0, "namespace subscription refused", {}};
    reply(m.request_id, err, true);
    return;
  }
  if (tracks_) namespace_watches_[m.request_id] = m.prefix;
  reply(m.request_id, RequestOk{RequestKind::kSubscribeNamespace, m.request_id, {}, {}});
  for (const TrackNamespace& ns : *now) namespace_update(m.request_id, ns, true);
}

void Session::namespace_update(uint64_t request_id, const TrackNamespace& ns, bool active) {
  if (state_ != State::kReady) return;
  auto w = namespace_watches_.find(request_id);
  if (w == namespace_watches_.end()) return;
  const TrackNamespace& prefix = w->second;
  if (ns.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), ns.begin())) return;
  if (draft_ == Draft::k14) {
    // -14 announces with PUBLISH_NAMESPACE on the control stream (a request of ours).
    if (active) publish_namespace(ns, nullptr);
    else publish_namespace_done(ns);
    return;
  }
  TrackNamespace suffix(ns.begin() + long(prefix.size()), ns.end());
  if (active) reply(request_id, Namespace{suffix});
  else reply(request_id, NamespaceDone{suffix});
}

// -14: a PUBLISH_NAMESPACE answers one of our SUBSCRIBE_NAMESPACEs when it is under its prefix.
bool Session::watching_namespace(const TrackNamespace& ns) const {
  for (const auto& [id, r] : requests_)
    if (r->kind == MessageKind::kSubscribeNamespace && ns.size() >= r->ns.size() &&
        std::equal(r->ns.begin(), r->ns.end(), ns.begin()))
      return true;
  return false;
}

void Session::end_namespace_watch(uint64_t request_id) {
  if (namespace_watches_.erase(request_id) && tracks_) tracks_->unwatch_namespaces(*this, request_id);
}

// The peer withdrew one of its requests that has no message of its own to end it (-16
// SUBSCRIBE_NAMESPACE stream closed, -18 request stream reset): namespace requests end here.
void Session::peer_request_ended(uint64_t request_id) {
  end_namespace_watch(request_id);
  if (auto it = peer_namespaces_.find(request_id); it != peer_namespaces_.end()) {
    const TrackNamespace ns = it->second;
    peer_namespaces_.erase(it);
    if (handler_) handler_->on_namespace_done(ns);
    if (handler_ && draft_ == Draft::k14 && watching_namespace(ns)) handler_->on_namespace_update(ns, false);
  }
}

void Session::on_publish(const Publish& m, StreamId) {
  if (!check_incoming_request_id(m.request_id)) return;
  if (handler_ && !handler_->may_publish(m.track.ns)) {
    reply(m.request_id, RequestError{RequestKind::kPublish, m.request_id, 0x1, 0, "unauthorized", {}}, true);
    return;
  }
  SubscriptionHandler* h = handler_ ? handler_->on_incoming_publish(m.track) : nullptr;
  if (!h || alias_to_sub_.count(m.track_alias)) {
    RequestError e{RequestKind::kPublish, m.request_id, uninterested(draft_), 0,
                   h ? "duplicate track alias" : "uninterested", {}};
    reply(m.request_id, e, true);
    return;
  }
  // The publisher's request id keys the subscription on our side too.
  auto sub = std::make_unique<IncomingSubscription>();
  sub->id = m.request_id;
  sub->track = m.track;
  sub->handler = h;
  sub->alias = m.track_alias;
  sub->established = true;
  sub->largest_at_ok = m.params.largest_object;
  alias_to_sub_[m.track_alias] = m.request_id;
  in_subs_[m.request_id] = std::move(sub);
  RequestOk ok;
  ok.of = RequestKind::kPublish;
  ok.request_id = m.request_id;
  ok.params.forward = true;
  ok.params.subscriber_priority = 128;
  ok.params.group_order = GroupOrder::kAscending;
  ok.params.filter = SubscriptionFilter{FilterType::kLargestObject, {}, {}};
  reply(m.request_id, ok);
  SubscribeResult r;
  r.track_alias = m.track_alias;
  r.largest = m.params.largest_object;
  h->on_subscribe_ok(r);
  for (auto& [id, u] : uni_) u->flush_waiting();
}

void Session::on_request_update(const RequestUpdate& m, StreamId stream) {
  if (!check_incoming_request_id(m.request_id)) return;
  const uint64_t target = draft_ == Draft::k18 ? (peer_request_streams_.count(stream) ? peer_request_streams_[stream] : UINT64_MAX)
                                               : m.existing_request_id;
  auto it = out_subs_.find(target);
  if (it == out_subs_.end()) {
    if (draft_ == Draft::k14) return;  // -14 SUBSCRIBE_UPDATE has no reply
    return protocol_violation("REQUEST_UPDATE for an unknown request");
  }
  OutgoingSubscription& s = *it->second;
  if (m.params.forward) s.forward = *m.params.forward;
  if (m.params.subscriber_priority) s.subscriber_priority = *m.params.subscriber_priority;
  if (m.params.delivery_timeout) s.set_delivery_timeout(*m.params.delivery_timeout);
  if (m.params.filter) {
    if (m.params.filter->type == FilterType::kAbsoluteStart || m.params.filter->type == FilterType::kAbsoluteRange)
      s.start = std::max(s.start, m.params.filter->start);
    s.end_group = m.params.filter->end_group;
  }
  if (draft_ != Draft::k14) {
    RequestOk ok{RequestKind::kUpdate, m.request_id, {}, {}};
    if (draft_ == Draft::k18) send_on(stream, ok);
    else send_control(ok);
  }
}

// -------------------------------------------------------------------------------------------
// Subscriber side: replies to our requests

void Session::on_subscribe_ok(const SubscribeOk& m, StreamId stream) {
  const uint64_t id = request_id_of(stream, m.request_id);
  auto rit = requests_.find(id);
  auto sit = in_subs_.find(id);
  if (rit == requests_.end() || sit == in_subs_.end()) {
    if (id < next_request_id_) return;  // answers a SUBSCRIBE we cancelled meanwhile
    return protocol_violation("SUBSCRIBE_OK for an unknown request");
  }
  if (rit->second->timer) t_.loop().cancel_timer(rit->second->timer);
  rit->second->timer = 0;
  if (alias_to_sub_.count(m.track_alias)) return fail(SessionError::kDuplicateTrackAlias, "track alias reused");
  IncomingSubscription& s = *sit->second;
  s.alias = m.track_alias;
  s.established = true;
  s.largest_at_ok = m.params.largest_object;
  alias_to_sub_[m.track_alias] = id;
  SubscribeResult r;
  r.track_alias = m.track_alias;
  r.largest = m.params.largest_object;
  r.expires_ms = m.params.expires.value_or(0);
  r.group_order = m.params.group_order.value_or(GroupOrder::kAscending);
  if (s.handler) s.handler->on_subscribe_ok(r);
  for (auto& [sid, u] : uni_) u->flush_waiting();
}

void Session::on_request_error(const RequestError& m, StreamId stream) {
  const uint64_t id = request_id_of(stream, m.request_id);
  auto rit = requests_.find(id);
  if (rit == requests_.end()) return;  // late (e.g. after our timeout): ignore
  std::unique_ptr<Request> r = std::move(rit->second);
  requests_.erase(rit);
  if (r->timer) t_.loop().cancel_timer(r->timer);
  if (r->stream >= 0) request_streams_.erase(r->stream);
  if (auto sit = in_subs_.find(id); sit != in_subs_.end()) {
    SubscriptionHandler* h = sit->second->handler;
    in_subs_.erase(sit);
    if (h) h->on_subscribe_error(m.error_code, m.reason);
    return;
  }
  if (auto fit = in_fetches_.find(id); fit != in_fetches_.end()) {
    FetchHandler* h = fit->second->handler;
    in_fetches_.erase(fit);
    if (h) h->on_fetch_error(m.error_code, m.reason);
    return;
  }
  if (r->status_done) return r->status_done(TrackStatusResult{false, m.error_code, m.reason, {}});
  if (r->done) r->done(false, m.error_code);
}

void Session::on_request_ok(const RequestOk& m, StreamId stream) {
  const uint64_t id = request_id_of(stream, m.request_id);
  auto rit = requests_.find(id);
  if (rit == requests_.end()) return;
  Request& r = *rit->second;
  if (r.timer) t_.loop().cancel_timer(r.timer);
  r.timer = 0;
  if (r.kind == MessageKind::kRequestUpdate) {
    requests_.erase(rit);
    return;
  }
  if (r.status_done) {
    auto cb = std::move(r.status_done);
    requests_.erase(rit);
    return cb(TrackStatusResult{true, 0, "", m.params.largest_object});
  }
  if (r.kind == MessageKind::kPublish && r.published) {
    // PUBLISH_OK: start sending the track (the request id keys the subscription).
    auto sub = std::make_unique<OutgoingSubscription>(*this);
    sub->request_id = id;
    sub->alias = std::get<Publish>(r.msg).track_alias;
    sub->track = r.published;
    sub->request_stream = r.stream;
    sub->forward = m.params.forward.value_or(true);
    sub->subscriber_priority = m.params.subscriber_priority.value_or(128);
    sub->set_delivery_timeout(m.params.delivery_timeout.value_or(0));
    sub->order = r.published->options().group_order;
    if (m.params.filter && (m.params.filter->type == FilterType::kAbsoluteStart ||
                            m.params.filter->type == FilterType::kAbsoluteRange))
      sub->start = m.params.filter->start;
    const std::optional<Location> largest = r.published->largest();
    const bool from_cache = largest && !(m.params.filter && (m.params.filter->type == FilterType::kAbsoluteStart ||
                                                             m.params.filter->type == FilterType::kAbsoluteRange));
    // Objects written while PUBLISH_OK was on its way would be lost: the peer gets the current
    // group from its object 0 out of the cache (a relay can then serve joiners from its start).
    if (from_cache) sub->start = Location{largest->group, 0};
    OutgoingSubscription* raw = sub.get();
    out_subs_[id] = std::move(sub);
    if (draft_ == Draft::k18) peer_request_stream_by_id_[id] = r.stream;
    if (from_cache)
      for (const Object* o : r.published->cached_range(raw->start, *largest, GroupOrder::kAscending)) raw->on_object(*o);
    r.published->add_sink(raw);
  }
  // The request lives on (PUBLISH, namespaces; in -18 a REQUEST_OK on a subscription's stream
  // answers a REQUEST_UPDATE): only a one-shot reply would end it, and TRACK_STATUS did above.
  auto done = std::move(r.done);
  if (done) done(true, 0);
}

void Session::on_publish_done(const PublishDone& m, StreamId stream) {
  uint64_t id = request_id_of(stream, m.request_id);
  // -18: PUBLISH_DONE for a track the peer pushed comes on the peer's PUBLISH request stream.
  if (auto it = peer_request_streams_.find(stream); draft_ == Draft::k18 && it != peer_request_streams_.end()) {
    id = it->second;
    peer_request_stream_by_id_.erase(id);
    peer_request_streams_.erase(it);
  }
  auto sit = in_subs_.find(id);
  if (sit == in_subs_.end() || sit->second->pending_done) return;
  IncomingSubscription& sub = *sit->second;
  sub.pending_done = IncomingSubscription::Done{m.status_code, m.stream_count, m.reason};
  // Data streams it counts may still be on their way: wait for them, bounded.
  sub.done_timer = t_.loop().add_timer(cfg_.publish_done_wait, [this, alive = alive_, id] {
    if (!*alive) return;
    if (auto it = in_subs_.find(id); it != in_subs_.end()) {
      it->second->done_timer = 0;
      end_subscription(id);
    }
  });
  maybe_end_subscription(id, false);
}

void Session::maybe_end_subscription(uint64_t id, bool defer) {
  auto it = in_subs_.find(id);
  if (it == in_subs_.end()) return;
  const IncomingSubscription& sub = *it->second;
  if (!sub.pending_done || sub.streams_seen < sub.pending_done->stream_count || sub.streams_open > 0) return;
  if (!defer) return end_subscription(id);
  // From inside stream processing: not under the caller's feet.
  t_.loop().add_timer(std::chrono::nanoseconds(0), [this, alive = alive_, id] {
    if (*alive) end_subscription(id);
  });
}

void Session::end_subscription(uint64_t id) {
  auto sit = in_subs_.find(id);
  if (sit == in_subs_.end() || !sit->second->pending_done) return;
  std::unique_ptr<IncomingSubscription> s = std::move(sit->second);
  in_subs_.erase(sit);
  stats_.outgoing_subscriptions = in_subs_.size();
  if (s->done_timer) t_.loop().cancel_timer(s->done_timer);
  if (s->alias) alias_to_sub_.erase(*s->alias);
  if (auto rit = requests_.find(id); rit != requests_.end()) {
    if (rit->second->stream >= 0) request_streams_.erase(rit->second->stream);
    requests_.erase(rit);
  }
  if (s->handler) s->handler->on_done(s->pending_done->status, s->pending_done->reason);
}

void Session::on_fetch_ok(const FetchOk& m, StreamId stream) {
  const uint64_t id = request_id_of(stream, m.request_id);
  auto fit = in_fetches_.find(id);
  if (fit == in_fetches_.end()) return;
  if (auto rit = requests_.find(id); rit != requests_.end() && rit->second->timer) {
    t_.loop().cancel_timer(rit->second->timer);
    rit->second->timer = 0;
  }
  fit->second->ok = true;
  if (fit->second->handler) fit->second->handler->on_fetch_ok(m.end_location, m.end_of_track);
}

// -------------------------------------------------------------------------------------------
// Subscriber API

std::optional<uint64_t> Session::subscribe(const FullTrackName& track, const SubscribeOptions& o, SubscriptionHandler* h) {
  auto id = new_request(
      [&](uint64_t rid) {
        Subscribe s;
        s.request_id = rid;
        s.track = track;
        s.params.subscriber_priority = o.priority;
        s.params.forward = o.forward;
        s.params.filter = o.filter;
        if (o.group_order != GroupOrder::kPublisher || draft_ == Draft::k14) s.params.group_order = o.group_order;
        if (o.delivery_timeout_ms) s.params.delivery_timeout = *o.delivery_timeout_ms;
        return ControlMessage(s);
      },
      nullptr);
  if (!id) return std::nullopt;
  auto sub = std::make_unique<IncomingSubscription>();
  sub->id = *id;
  sub->track = track;
  sub->handler = h;
  sub->max_subgroup = o.max_subgroup;
  in_subs_[*id] = std::move(sub);
  stats_.outgoing_subscriptions = in_subs_.size();
  return id;
}

void Session::unsubscribe(uint64_t request_id) {
  auto sit = in_subs_.find(request_id);
  if (sit == in_subs_.end()) return;
  if (sit->second->done_timer) t_.loop().cancel_timer(sit->second->done_timer);
  if (sit->second->alias) alias_to_sub_.erase(*sit->second->alias);
  in_subs_.erase(sit);
  auto rit = requests_.find(request_id);
  if (state_ != State::kReady) return;
  if (draft_ == Draft::k18) {
    // Cancel = reset our side and stop the peer's (-18 §3.3.2).
    if (rit != requests_.end() && rit->second->stream >= 0) {
      t_.reset_stream(rit->second->stream, kResetCancelled);
      t_.stop_sending(rit->second->stream, kResetCancelled);
      request_streams_.erase(rit->second->stream);
    } else {
      // A track the peer PUBLISHed: its request stream is the peer's.
      for (auto ps = peer_request_streams_.begin(); ps != peer_request_streams_.end(); ++ps) {
        if (ps->second != request_id) continue;
        t_.reset_stream(ps->first, kResetCancelled);
        t_.stop_sending(ps->first, kResetCancelled);
        peer_request_streams_.erase(ps);
        break;
      }
    }
  } else {
    send_control(Unsubscribe{request_id});
  }
  if (rit != requests_.end()) {
    if (rit->second->timer) t_.loop().cancel_timer(rit->second->timer);
    requests_.erase(rit);
  }
}

bool Session::unsubscribe_handler(SubscriptionHandler* h) {
  for (auto& [id, sub] : in_subs_) {
    if (sub->handler != h) continue;
    unsubscribe(id);
    return true;
  }
  return false;
}

bool Session::update_subscription(uint64_t request_id, const SubscribeOptions& o) {
  auto sit = in_subs_.find(request_id);
  if (sit == in_subs_.end() || state_ != State::kReady) return false;
  auto rit = requests_.find(request_id);
  RequestUpdate u;
  u.existing_request_id = request_id;
  u.params.subscriber_priority = o.priority;
  u.params.forward = o.forward;
  if (o.filter.type == FilterType::kAbsoluteStart || o.filter.type == FilterType::kAbsoluteRange) u.params.filter = o.filter;
  if (draft_ == Draft::k14 && !u.params.filter)
    u.params.filter = SubscriptionFilter{FilterType::kAbsoluteStart, sit->second->largest_at_ok.value_or(Location{}), {}};
  if (draft_ == Draft::k18) {
    if (rit == requests_.end() || rit->second->stream < 0) return false;
    u.request_id = next_request_id_;
    next_request_id_ += 2;
    send_on(rit->second->stream, u);
    return true;
  }
  // -14/-16: an update is a request of its own on the control stream: it takes its turn behind
  // requests still waiting for MAX_REQUEST_ID (a fuzz find: it used to overtake them).
  return new_request(
             [&](uint64_t rid) {
               u.request_id = rid;
               return ControlMessage(u);
             },
             nullptr)
      .has_value();
}

std::optional<uint64_t> Session::fetch(const FullTrackName& track, Location start, Location end, FetchHandler* h,
                                       uint8_t priority, GroupOrder order) {
  auto id = new_request(
      [&](uint64_t rid) {
        Fetch f;
        f.request_id = rid;
        f.type = FetchType::kStandalone;
        f.track = track;
        f.start = start;
        f.end = end;
        f.params.subscriber_priority = priority;
        f.params.group_order = order;
        return ControlMessage(f);
      },
      nullptr);
  if (!id) return std::nullopt;
  in_fetches_[*id] = std::make_unique<IncomingFetch>(IncomingFetch{*id, h, false, order});
  return id;
}

std::optional<uint64_t> Session::joining_fetch(uint64_t subscription, uint64_t start, bool relative, FetchHandler* h,
                                               uint8_t priority) {
  if (!in_subs_.count(subscription)) return std::nullopt;
  auto id = new_request(
      [&](uint64_t rid) {
        Fetch f;
        f.request_id = rid;
        f.type = relative ? FetchType::kRelativeJoining : FetchType::kAbsoluteJoining;
        f.joining_request_id = subscription;
        f.joining_start = start;
        f.params.subscriber_priority = priority;
        if (draft_ == Draft::k14) f.params.group_order = GroupOrder::kAscending;
        return ControlMessage(f);
      },
      nullptr);
  if (!id) return std::nullopt;
  in_fetches_[*id] = std::make_unique<IncomingFetch>(IncomingFetch{*id, h, false, GroupOrder::kAscending});
  return id;
}

void Session::cancel_fetch(uint64_t request_id) {
  in_fetches_.erase(request_id);
  auto rit = requests_.find(request_id);
  if (state_ == State::kReady) {
    if (draft_ == Draft::k18) {
      if (rit != requests_.end() && rit->second->stream >= 0) {
        t_.reset_stream(rit->second->stream, kResetCancelled);
        t_.stop_sending(rit->second->stream, kResetCancelled);
      }
    } else {
      send_control(FetchCancel{request_id});
    }
  }
  if (rit != requests_.end()) {
    if (rit->second->timer) t_.loop().cancel_timer(rit->second->timer);
    requests_.erase(rit);
  }
}

std::optional<uint64_t> Session::subscribe_namespace(const TrackNamespace& prefix, std::function<void(bool, uint64_t)> done) {
  Request* r = nullptr;
  auto id = new_request(
      [&](uint64_t rid) {
        SubscribeNamespace s;
        s.request_id = rid;
        s.prefix = prefix;
        s.options = wire::SubscribeOptions::kNamespace;
        return ControlMessage(s);
      },
      &r);
  if (id) {
    r->done = std::move(done);
    r->ns = prefix;
  }
  return id;
}

std::optional<uint64_t> Session::track_status(const FullTrackName& track, std::function<void(const TrackStatusResult&)> done) {
  Request* r = nullptr;
  auto id = new_request(
      [&](uint64_t rid) {
        TrackStatus s;
        s.request_id = rid;
        s.track = track;
        if (draft_ == Draft::k14) {
          s.params.subscriber_priority = 128;
          s.params.group_order = GroupOrder::kPublisher;
          s.params.forward = false;
          s.params.filter = SubscriptionFilter{FilterType::kLargestObject, {}, {}};
        }
        return ControlMessage(s);
      },
      &r);
  if (id) r->status_done = std::move(done);
  return id;
}

// -------------------------------------------------------------------------------------------
// Publisher API

std::optional<uint64_t> Session::publish_namespace(const TrackNamespace& ns, std::function<void(bool, uint64_t)> done) {
  Request* r = nullptr;
  auto id = new_request(
      [&](uint64_t rid) {
        PublishNamespace p;
        p.request_id = rid;
        p.ns = ns;
        return ControlMessage(p);
      },
      &r);
  if (id) {
    r->done = std::move(done);
    r->ns = ns;
    published_namespaces_.insert(ns);
    namespace_requests_[ns] = *id;
  }
  return id;
}

void Session::publish_namespace_done(const TrackNamespace& ns) {
  auto it = namespace_requests_.find(ns);
  if (it == namespace_requests_.end()) return;
  const uint64_t id = it->second;
  namespace_requests_.erase(it);
  published_namespaces_.erase(ns);
  auto rit = requests_.find(id);
  if (state_ == State::kReady) {
    if (draft_ == Draft::k18) {
      if (rit != requests_.end() && rit->second->stream >= 0) t_.reset_stream(rit->second->stream, kResetCancelled);
    } else {
      PublishNamespaceDone d;
      d.ns = ns;
      d.request_id = id;
      send_control(d);
    }
  }
  if (rit != requests_.end()) requests_.erase(rit);
}

std::optional<uint64_t> Session::publish(std::shared_ptr<TrackPublisher> track, std::function<void(bool, uint64_t)> done) {
  Request* r = nullptr;
  const uint64_t alias = next_track_alias_++;
  auto id = new_request(
      [&](uint64_t rid) {
        Publish p;
        p.request_id = rid;
        p.track = track->name();
        p.track_alias = alias;
        p.params.forward = true;
        p.params.largest_object = track->largest();
        if (draft_ == Draft::k14) p.params.group_order = track->options().group_order;
        else p.track_properties = {KeyValuePair::integer(0x0E, track->options().publisher_priority),
                                   KeyValuePair::integer(0x22, uint64_t(track->options().group_order))};
        return ControlMessage(p);
      },
      &r);
  if (id) {
    r->done = std::move(done);
    r->published = std::move(track);
  }
  return id;
}

void Session::goaway(const std::string& new_uri, std::chrono::milliseconds timeout) {
  if (state_ == State::kSettingUp || state_ == State::kWaitingTransport) {
    pending_goaway_ = {new_uri, timeout};  // sent as soon as the session is set up
    return;
  }
  if (goaway_sent_ || state_ != State::kReady) return;
  goaway_sent_ = true;
  Goaway g;
  g.new_session_uri = cfg_.perspective == Perspective::kServer ? new_uri : "";
  if (draft_ == Draft::k18) {
    g.timeout_ms = uint64_t(timeout.count());
    g.request_id = next_peer_request_id_;  // nothing from here on will be processed
  }
  send_control(g);
  // The peer had its chance to move: past the timeout, close (-14 §3.5, -18 §3.6).
  if (timeout.count() > 0)
    goaway_timer_ = t_.loop().add_timer(timeout, [this, alive = alive_] {
      if (!*alive) return;
      goaway_timer_ = 0;
      fail(SessionError::kGoawayTimeout, "the peer did not close the session after GOAWAY");
    });
}

void Session::close(uint64_t code, const std::string& reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;  // closed() is already true inside the handlers' on_done
  finish_all(kDoneGoingAway, reason);
  t_.close(code, reason);
}

void Session::fail(SessionError code, const std::string& why) {
  if (state_ == State::kClosed) return;
  std::fprintf(stderr, "moqt session (%s): closing with %s: %s\n", draft_known_ ? profile(draft_).name : "?",
               to_string(code), why.c_str());
  state_ = State::kClosed;
  finish_all(kDoneInternalError, why);
  t_.close(uint64_t(code), why);
  SessionHandler* h = handler_;
  handler_ = nullptr;
  if (h) h->on_closed(uint64_t(code), why);
}

void Session::finish_all(uint64_t status, const std::string& reason) {
  // The transport may be gone by the time this object is destroyed: no timers outlive the session.
  if (goaway_timer_) t_.loop().cancel_timer(std::exchange(goaway_timer_, 0));
  if (setup_timer_) t_.loop().cancel_timer(std::exchange(setup_timer_, 0));
  // Subscribers learn the end of their subscriptions, publishers stop writing to us.
  out_subs_.clear();
  pending_lookups_.clear();
  while (!namespace_watches_.empty()) end_namespace_watch(namespace_watches_.begin()->first);
  // The namespaces the peer announced are gone with it (the handler hears on_closed).
  peer_namespaces_.clear();
  std::map<uint64_t, std::unique_ptr<IncomingSubscription>> subs = std::move(in_subs_);
  in_subs_.clear();
  alias_to_sub_.clear();
  for (auto& [id, s] : subs) {
    if (s->done_timer) t_.loop().cancel_timer(std::exchange(s->done_timer, 0));
    // A PUBLISH_DONE already received says how it ended; else the session's end does.
    if (s->handler && s->pending_done) s->handler->on_done(s->pending_done->status, s->pending_done->reason);
    else if (s->handler) s->handler->on_done(status, reason);
  }
  std::map<uint64_t, std::unique_ptr<IncomingFetch>> fetches = std::move(in_fetches_);
  in_fetches_.clear();
  for (auto& [id, f] : fetches)
    if (f->handler) f->handler->on_fetch_error(0x0, reason);
  for (auto& [id, r] : requests_)
    if (r->timer) t_.loop().cancel_timer(r->timer);
  requests_.clear();
}

// -------------------------------------------------------------------------------------------
// Transport events

// -18: the subscriber cancelled a track we PUBLISHed by resetting / stopping its request stream.
bool Session::peer_cancelled_publish(StreamId stream) {
  auto it = request_streams_.find(stream);
  if (it == request_streams_.end()) return false;
  const uint64_t rid = it->second;
  auto sit = out_subs_.find(rid);
  auto rit = requests_.find(rid);
  if (sit == out_subs_.end() || rit == requests_.end() || rit->second->kind != MessageKind::kPublish) return false;
  for (auto& [k, out] : sit->second->streams) t_.reset_stream(out.stream, kResetCancelled);
  sit->second->streams.clear();
  out_subs_.erase(sit);
  stats_.incoming_subscriptions = out_subs_.size();
  peer_request_stream_by_id_.erase(rid);
  if (rit->second->timer) t_.loop().cancel_timer(rit->second->timer);
  requests_.erase(rit);
  request_streams_.erase(it);
  t_.reset_stream(stream, kResetCancelled);
  return true;
}

void Session::on_stream_reset(StreamId id, uint64_t code) {
  (void)code;
  if (peer_cancelled_publish(id)) return;
  std::erase_if(early_messages_, [id](const auto& e) { return e.second == id; });  // a request withdrawn before SETUP
  // -18: the peer cancelled one of its requests (e.g. unsubscribed) by resetting its stream.
  if (auto it = peer_request_streams_.find(id); it != peer_request_streams_.end()) {
    const uint64_t rid = it->second;
    if (out_subs_.count(rid) || pending_lookups_.count(rid)) on_unsubscribe(rid);
    cancel_fetch_data(rid);
    peer_request_ended(rid);
  }
  if (auto it = uni_.find(id); it != uni_.end()) {
    it->second->end();  // a reset subgroup stream is done too
    // A data stream reset (delivery timeout, cancel): drop its partial object.
    if (it->second->fetch) {
      auto f = in_fetches_.find(it->second->fetch->request_id);
      if (f != in_fetches_.end()) {
        FetchHandler* h = f->second->handler;
        in_fetches_.erase(f);
        if (h) h->on_fetch_error(code, "fetch stream reset");
      }
    }
    uni_.erase(it);
  }
}

void Session::on_stop_sending(StreamId id, uint64_t code) {
  (void)code;
  if (peer_cancelled_publish(id)) return;
  if (auto it = peer_request_streams_.find(id); it != peer_request_streams_.end()) {
    const uint64_t rid = it->second;
    if (out_subs_.count(rid) || pending_lookups_.count(rid)) on_unsubscribe(rid);
    cancel_fetch_data(rid);
    peer_request_ended(rid);
    return;
  }
  // The subscriber stopped one of our data streams: reset it, keep the subscription.
  t_.reset_stream(id, kResetCancelled);
}

void Session::on_stream_drained(StreamId id) {
  auto it = stream_owner_.find(id);
  if (it == stream_owner_.end()) return;
  auto sub = out_subs_.find(it->second);
  if (sub != out_subs_.end() && sub->second->finishing.erase(id)) stream_owner_.erase(it);
}

// -18 FETCH cancelled by the peer (its request stream reset or stopped): stop the data too.
void Session::cancel_fetch_data(uint64_t request_id) {
  for (auto& [data, rid] : fetch_data_streams_)
    if (rid == request_id) return finish_fetch_request(data, true);
}

void Session::finish_fetch_request(StreamId data_stream, bool cancel) {
  auto it = fetch_data_streams_.find(data_stream);
  if (it == fetch_data_streams_.end()) return;
  const uint64_t rid = it->second;
  fetch_data_streams_.erase(it);
  if (cancel) t_.reset_stream(data_stream, kResetCancelled);
  auto rs = peer_request_stream_by_id_.find(rid);
  if (rs == peer_request_stream_by_id_.end()) return;
  if (state_ == State::kReady && !cancel) t_.write(rs->second, SendBuffer{}, true);
  peer_request_streams_.erase(rs->second);
  peer_request_stream_by_id_.erase(rs);
}

void Session::on_stream_closed(StreamId id) {
  finish_fetch_request(id, false);  // a FETCH's data stream is done: so is its request stream
  request_parsers_.erase(id);
  if (auto it = uni_.find(id); it != uni_.end() && it->second->waiting.empty()) {
    it->second->end();
    uni_.erase(it);
  }
}

void Session::on_streams_available(bool bidi) {
  if (!bidi && state_ == State::kReady) {
    std::vector<uint64_t> ids;
    for (auto& [id, sub] : out_subs_)
      if (!sub->waiting.empty()) ids.push_back(id);
    for (uint64_t id : ids)  // looked up again: a write may end a subscription
      if (auto it = out_subs_.find(id); it != out_subs_.end()) it->second->retry_waiting();
    return;
  }
  if (!bidi || blocked_requests_.empty() || state_ != State::kReady) return;
  send_blocked_requests();
}

// Requests that waited (for setup, request ids or streams) go out in id order; once one still
// cannot go, everything after it waits too, so the peer sees ids in order.
void Session::send_blocked_requests() {
  if (state_ != State::kReady) return;
  std::vector<std::unique_ptr<Request>> pending = std::move(blocked_requests_);
  blocked_requests_.clear();
  for (auto& r : pending) {
    if (!blocked_requests_.empty() || (draft_ != Draft::k18 && r->id >= peer_max_request_id_)) {
      blocked_requests_.push_back(std::move(r));
      continue;
    }
    Request* raw = r.get();
    requests_[raw->id] = std::move(r);
    send_request(*raw);  // -18 without a stream: back into blocked_requests_
  }
  if (draft_ != Draft::k18 && !blocked_requests_.empty() && blocked_requests_.front()->id >= peer_max_request_id_)
    send_control(RequestsBlocked{peer_max_request_id_});
}

void Session::on_datagram(std::span<const uint8_t> data) {
  if (state_ != State::kReady) return;
  Result<DecodedDatagram> d = decode_datagram(data, draft_);
  if (!d) return fail(d.error().code, d.error().detail);
  if (d->padding) return;
  ReceivedObject o;
  o.location = {d->header.group_id, d->header.object_id};
  o.publisher_priority = d->header.publisher_priority.value_or(128);
  o.status = d->header.status.value_or(ObjectStatus::kNormal);
  o.properties = d->header.properties;
  o.payload.assign(d->payload.begin(), d->payload.end());
  o.datagram = true;
  ++stats_.objects_received;
  stats_.bytes_received += o.payload.size();
  deliver(d->header.track_alias, std::move(o));  // unknown alias: dropped (datagrams are lossy)
}

void Session::on_closed(const quic::CloseInfo& info) {
  if (state_ == State::kClosed) {
    return;
  }
  state_ = State::kClosed;
  finish_all(kDoneInternalError, info.reason.empty() ? "connection closed" : info.reason);
  SessionHandler* h = handler_;
  handler_ = nullptr;
  if (h) h->on_closed(info.code, info.reason);
}

Session::IncomingSubscription* Session::by_alias(uint64_t alias) {
  auto it = alias_to_sub_.find(alias);
  if (it == alias_to_sub_.end()) return nullptr;
  auto s = in_subs_.find(it->second);
  return s == in_subs_.end() ? nullptr : s->second.get();
}

void Session::deliver(uint64_t track_alias, ReceivedObject&& o) {
  IncomingSubscription* s = by_alias(track_alias);
  if (!s || !s->handler) return;
  s->handler->on_object(o);
}

}  // namespace moqt::session
