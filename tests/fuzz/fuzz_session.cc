// libFuzzer target: a whole MoQT Session (client or server, drafts 14/16/18) over the in-memory
// transport. The input is a program (session_program.h): the peer writes, resets and stops
// streams, sends datagrams and closes; the local application subscribes, fetches, announces,
// publishes and writes objects into local tracks the session serves. Handlers call back into
// the session from inside its callbacks (unsubscribe in on_object, close in on_done, ...).
// Oracles: sanitizers (ASan/UBSan/LSan); no handler callback after the end it was told of
// (on_done, on_subscribe_error, on_fetch_done/error, on_closed, or the application's own
// unsubscribe/cancel); a closed session has ended every subscription and fetch; everything the
// session wrote on its streams decodes, and the requests it sent on a stream carry increasing ids.
// Seeds: make_corpus writes valid conversations per perspective and protocol (OUTDIR/session);
// failures found so far are in tests/fuzz/regressions/session/. FUZZ_SESSION_TRACE=1 prints how
// far each input got, 2 also what the session wrote.
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "../common/memory_transport.h"
#include "moqt/session/session.h"
#include "moqt/wire/control_codec.h"
#include "moqt/wire/data_codec.h"
#include "session_program.h"

using namespace moqt;
using namespace moqt::session;
using namespace moqt::fuzz;
using quic::StreamId;
using wire::FilterType;
using wire::KeyValuePair;

namespace {

[[noreturn]] void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("fuzz_session: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::abort();
}

// FUZZ_SESSION_TRACE=1 prints a line per input (Harness::trace), 2 also what the session wrote.
int trace_level() {
  static const int level = std::getenv("FUZZ_SESSION_TRACE") ? std::atoi(std::getenv("FUZZ_SESSION_TRACE")) : 0;
  return level;
}

class Program {
 public:
  Program(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  size_t length() {
    const uint8_t b = byte();
    return b < 128 ? b : size_t(b & 0x7f) << 8 | byte();
  }
  std::span<const uint8_t> bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::span<const uint8_t> s(data_ + pos_, n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// MemoryTransport reports nothing queued. With kQueueing, bytes written stay queued until the
// peer drains, so the session's queue bound and DELIVERY_TIMEOUT see a congested link.
class QueueingTransport final : public quic::Transport {
 public:
  QueueingTransport(test::MemoryTransport& inner, bool queueing) : t_(inner), queueing_(queueing) {}
  void drain() {
    queued_.clear();
    t_.drain();
  }

  void set_handler(quic::TransportHandler* h) override { t_.set_handler(h); }
  quic::EventLoop& loop() override { return t_.loop(); }
  std::string_view protocol() const override { return t_.protocol(); }
  bool is_server() const override { return t_.is_server(); }
  std::optional<StreamId> open_bidi_stream() override { return t_.open_bidi_stream(); }
  std::optional<StreamId> open_uni_stream() override { return t_.open_uni_stream(); }
  bool write(StreamId id, quic::SendBuffer data, bool fin) override {
    const size_t n = data.data.size();
    if (!t_.write(id, std::move(data), fin)) return false;
    if (queueing_) queued_[id] += n;
    return true;
  }
  void reset_stream(StreamId id, uint64_t code) override {
    queued_.erase(id);
    t_.reset_stream(id, code);
  }
  void stop_sending(StreamId id, uint64_t code) override { t_.stop_sending(id, code); }
  void set_priority(StreamId id, uint64_t key) override { t_.set_priority(id, key); }
  size_t queued_bytes(StreamId id) const override {
    auto it = queued_.find(id);
    return it == queued_.end() ? 0 : it->second;
  }
  bool send_datagram(quic::SendBuffer data) override { return t_.send_datagram(std::move(data)); }
  size_t max_datagram_payload() const override { return t_.max_datagram_payload(); }
  void close(uint64_t code, std::string_view reason) override { t_.close(code, reason); }
  quic::TransportStats stats() const override { return t_.stats(); }

 private:
  test::MemoryTransport& t_;
  bool queueing_;
  std::map<StreamId, size_t> queued_;
};

const FullTrackName kRemoteTrack[kRemoteTracks] = {
    {{"example.net", "live", "cam"}, "video"}, {{"live", "cam"}, "video"}, {{"example.net"}, ""}};
const TrackNamespace kNamespace[kNamespaces] = {
    {"example.net", "live"}, {"example.net"}, {"live", "cam"}, {"example.net", "live", "cam"}};
constexpr size_t kMaxHandlers = 64;  // per kind and input: bounds memory on long programs
constexpr size_t kMaxPushedTracks = 6;

SubscribeOptions subscribe_options(uint8_t b) {
  SubscribeOptions o;
  o.priority = b;
  o.filter.type = FilterType(1 + (b & 3));
  if (o.filter.type == FilterType::kAbsoluteStart || o.filter.type == FilterType::kAbsoluteRange) o.filter.start = {1, 0};
  if (o.filter.type == FilterType::kAbsoluteRange) o.filter.end_group = 3;
  o.forward = !(b & 0x04);
  o.group_order = GroupOrder(((b >> 3) & 3) % 3);
  if (b & 0x20) o.delivery_timeout_ms = 1;
  if (b & 0x40) o.max_subgroup = 0;
  return o;
}

class Harness;

struct Subscriber final : SubscriptionHandler {
  Subscriber(Harness& harness, uint8_t act, FullTrackName t) : h(harness), action(act), track(std::move(t)) {}
  void on_subscribe_ok(const SubscribeResult&) override;
  void on_subscribe_error(uint64_t, const std::string&) override;
  void on_object(const ReceivedObject& o) override;
  void on_done(uint64_t, const std::string&) override;
  void check_live(const char* callback) const {
    if (ended) die("SubscriptionHandler::%s after the subscription ended", callback);
  }

  Harness& h;
  uint8_t action;
  FullTrackName track;
  std::optional<uint64_t> id;  // ours (subscribe()); unknown for an incoming PUBLISH
  bool established = false;
  bool ended = false;
  unsigned objects = 0;
};

struct Fetcher final : FetchHandler {
  Fetcher(Harness& harness, uint8_t act) : h(harness), action(act) {}
  void on_fetch_ok(Location, bool) override;
  void on_fetch_error(uint64_t, const std::string&) override;
  void on_object(const ReceivedObject&) override;
  void on_range_gap(Location, bool) override { check_live("on_range_gap"); }
  void on_fetch_done() override;
  void check_live(const char* callback) const {
    if (ended) die("FetchHandler::%s after the fetch ended", callback);
  }

  Harness& h;
  uint8_t action;
  std::optional<uint64_t> id;
  bool ended = false;
  unsigned objects = 0;
};

struct Events final : SessionHandler {
  explicit Events(Harness& harness) : h(harness) {}
  void on_ready(Draft) override;
  void on_closed(uint64_t, const std::string&) override {
    check_live("on_closed");
    closed = true;
  }
  void on_goaway(const std::string&) override;
  bool on_namespace_published(const TrackNamespace&) override;
  void on_namespace_done(const TrackNamespace&) override { check_live("on_namespace_done"); }
  SubscriptionHandler* on_incoming_publish(const FullTrackName& n) override;
  void on_namespace_update(const TrackNamespace&, bool) override { check_live("on_namespace_update"); }
  void check_live(const char* callback) const {
    if (closed) die("SessionHandler::%s after on_closed", callback);
  }

  Harness& h;
  bool readied = false, closed = false;
};

struct LocalTrack {
  std::shared_ptr<TrackPublisher> track;
  bool started = false;
  uint64_t group = 0, next_object = 0;
};

class Harness {
 public:
  Harness(uint8_t cfg, uint8_t policy)
      : policy_(policy),
        server_(cfg & kServer),
        protocol_(kProtocols[(cfg >> 1) & 7].name),
        memory_(loop_, server_, protocol_),
        transport_(memory_, cfg & kQueueing),
        events_(*this) {
    auto local = [&](FullTrackName n, TrackOptions o) {
      locals_.push_back({std::make_shared<TrackPublisher>(std::move(n), o)});
      registry_.add(locals_.back().track);
    };
    local(kRemoteTrack[0], TrackOptions{});  // the name peers (and the seeds) subscribe to
    TrackOptions audio;
    audio.publisher_priority = 10;
    audio.group_order = GroupOrder::kDescending;
    audio.cache_groups = 2;
    audio.delivery_timeout_ms = 1;
    audio.object_properties = true;
    local(FullTrackName{kRemoteTrack[0].ns, "audio"}, audio);

    SessionConfig c;
    c.perspective = server_ ? Perspective::kServer : Perspective::kClient;
    c.webtransport = kProtocols[(cfg >> 1) & 7].webtransport;
    if (!server_ && !c.webtransport) {
      c.path = "/moq";
      c.authority = "example.net";
    }
    if (cfg & kZeroTimeouts) c.setup_timeout = c.request_timeout = std::chrono::milliseconds(0);
    c.peer_workarounds = !(cfg & kNoWorkarounds);
    if (cfg & kSmallLimits) {
      c.max_request_id = 4;
      c.max_incoming_subscriptions = 2;
      c.max_queued_bytes = 256;
      c.max_object_bytes = 64;
      c.max_unknown_alias_bytes = 128;
    }
    session_ = std::make_unique<Session>(transport_, c, &events_, &registry_);
  }

  void run(Program& p) {
    while (!p.done()) step(p);
  }

  // Oracles that look at the state after the whole program.
  void check_end() {
    if (session_->closed()) {
      for (auto& s : subscribers_)
        if ((s->id || s->established) && !s->ended) die("the session closed without ending a subscription");
      for (auto& f : fetchers_)
        if (f->id && !f->ended) die("the session closed without ending a fetch");
    }
    check_output();
  }

  Session& session() { return *session_; }
  uint8_t policy() const { return policy_; }

  // FUZZ_SESSION_TRACE=1: one line per input, to check that seeds get deep (ready, data flowing);
  // 2: also every control message the session wrote.
  void trace() const {
    size_t established = 0, objects = 0, fetch_objects = 0;
    for (auto& s : subscribers_) established += s->established, objects += s->objects;
    for (auto& f : fetchers_) fetch_objects += f->objects;
    const SessionStats& st = session_->stats();
    std::fprintf(stderr, "trace: %s '%s' ready=%d closed=%d close=%llu '%s' subs=%zu ok=%zu objects=%zu fetches=%zu "
                 "fetch_objects=%zu sent=%llu incoming_subs=%zu\n", server_ ? "server" : "client", protocol_.c_str(),
                 events_.readied, session_->closed(), (unsigned long long)memory_.close_code(),
                 memory_.close_reason().c_str(), app_subs_.size(), established, objects, app_fetches_.size(),
                 fetch_objects, (unsigned long long)st.objects_sent, st.incoming_subscriptions);
  }

  std::optional<uint64_t> subscribe(size_t track, uint8_t options, uint8_t act) {
    if (subscribers_.size() >= kMaxHandlers) return std::nullopt;
    const FullTrackName& name = kRemoteTrack[track % kRemoteTracks];
    auto s = std::make_unique<Subscriber>(*this, act, name);
    Subscriber* raw = s.get();
    subscribers_.push_back(std::move(s));
    raw->id = session_->subscribe(name, subscribe_options(options), raw);
    if (raw->id) app_subs_.push_back(raw);
    return raw->id;
  }
  void unsubscribe(Subscriber& s) {
    if (!s.id) return;
    s.ended = true;  // the application's own end: no callbacks from here on
    session_->unsubscribe(*s.id);
  }
  void joining_fetch(uint64_t sub, uint64_t start, bool relative, uint8_t act) {
    if (fetchers_.size() >= kMaxHandlers) return;
    Fetcher* f = fetchers_.emplace_back(std::make_unique<Fetcher>(*this, act)).get();
    f->id = session_->joining_fetch(sub, start, relative, f, 64);
    if (f->id) app_fetches_.push_back(f);
  }
  void cancel_fetch(Fetcher& f) {
    if (!f.id) return;
    f.ended = true;
    session_->cancel_fetch(*f.id);
  }
  Subscriber* incoming_publish_handler() {
    if (subscribers_.size() >= kMaxHandlers) return nullptr;
    return subscribers_.emplace_back(std::make_unique<Subscriber>(*this, uint8_t(policy_ >> 4), FullTrackName{})).get();
  }
  // A relay: what arrives on a subscription is published again on local track 0.
  void forward(const ReceivedObject& o) { write(locals_[0], o.datagram ? kWriteDatagram : 0, o.payload.size()); }
  // The next object of a local track (kWrite operands); the payload is filler.
  void write(LocalTrack& t, uint8_t flags, size_t payload_len, uint8_t hints = 0) {
    if (!t.started || (flags & kWriteNewGroup)) {
      if (t.started) t.group += 1 + (flags >> 6);
      t.started = true;
      t.next_object = 0;
    }
    if (hints & kHintObjectGap) ++t.next_object;
    Object o;
    o.location = {t.group, t.next_object++};
    o.subgroup = hints & kHintSubgroupIsObject ? o.location.object : flags & kWriteSubgroup1 ? 1 : 0;
    if (hints & kHintExplicit) o.header_mode = wire::SubgroupIdMode::kExplicit;
    else if (hints & kHintFirstObject) o.header_mode = wire::SubgroupIdMode::kFirstObject;
    o.end_of_group_header = hints & kHintEndOfGroup;
    o.datagram = flags & kWriteDatagram;
    if (flags & kWriteProperties) o.properties = {KeyValuePair::integer(0x3c, 2), KeyValuePair::bytes(0x41, "trace")};
    if (flags & kWriteEndOfGroup) o.status = ObjectStatus::kEndOfGroup;
    else o.payload = quic::SendBuffer::take(std::vector<uint8_t>(std::min<size_t>(payload_len, 2048), 'p'));
    const uint64_t subgroup = o.subgroup;
    t.track->write(std::move(o));
    if (flags & kWriteEndSubgroup) t.track->end_subgroup(t.group, subgroup);
  }

 private:
  void step(Program& p) {
    const Op op = Op(p.byte() % uint8_t(Op::kCount));
    switch (op) {
      case Op::kPeerWrite: {
        start();
        const StreamId id = stream_id(p.byte());
        const bool fin = p.byte() & 1;
        auto data = p.bytes(p.length());
        // After STOP_SENDING, QUIC discards what arrives (ngtcp2_conn_shutdown_stream_read).
        if (auto it = memory_.sent().find(id); it != memory_.sent().end() && it->second.stop_sending) return;
        if (memory_.peer_data(id, data, fin) && fin) peer_done_.insert(id);
        return;
      }
      case Op::kPeerReset: {
        start();
        const StreamId id = stream_id(p.byte());
        const uint64_t code = p.byte();
        // A stream the peer has not written to yet: QUIC opens it with the RESET_STREAM.
        if (!memory_.peer_reset(id, code) && memory_.peer_data(id, {}, false)) memory_.peer_reset(id, code);
        peer_done_.insert(id);
        return;
      }
      case Op::kPeerStopSending: {
        start();
        const StreamId id = stream_id(p.byte());
        memory_.peer_stop_sending(id, p.byte());
        return;
      }
      case Op::kPeerDatagram: {
        start();
        memory_.peer_datagram(p.bytes(p.length()));
        return;
      }
      case Op::kDrain:
        start();
        transport_.drain();
        return;
      case Op::kStreamClosed: {
        start();
        const StreamId id = stream_id(p.byte());
        if (finished(id) && closed_streams_.insert(id).second) memory_.stream_closed(id);
        return;
      }
      case Op::kStreamLimit:
        memory_.set_local_stream_limit(p.byte());
        return;
      case Op::kPeerClose:
        memory_.peer_close(p.byte(), "peer closed");
        return;
      case Op::kRunTimers: {
        start();
        const bool wait = p.byte() == kRunTimersWait;
        if (timers_run_) return;  // EventLoop::run() works once per loop
        timers_run_ = true;
        loop_.add_timer(std::chrono::milliseconds(wait ? 6 : 0), [this] { loop_.stop(); });
        loop_.run();
        return;
      }
      case Op::kSubscribe: {
        const uint8_t track = p.byte(), options = p.byte();
        subscribe(track, options, p.byte());
        return;
      }
      case Op::kUnsubscribe:
        if (Subscriber* s = pick(app_subs_, p.byte())) unsubscribe(*s);
        return;
      case Op::kUpdate: {
        Subscriber* s = pick(app_subs_, p.byte());
        const uint8_t options = p.byte();
        if (s) session_->update_subscription(*s->id, subscribe_options(options));
        return;
      }
      case Op::kFetch: {
        const FullTrackName& name = kRemoteTrack[p.byte() % kRemoteTracks];
        const uint64_t start_group = p.byte(), end_group = p.byte();
        const uint8_t act = p.byte();
        if (fetchers_.size() >= kMaxHandlers) return;
        Fetcher* f = fetchers_.emplace_back(std::make_unique<Fetcher>(*this, act)).get();
        f->id = session_->fetch(name, {start_group, 0}, {end_group, 0}, f, 128,
                                act & 0x80 ? GroupOrder::kDescending : GroupOrder::kAscending);
        if (f->id) app_fetches_.push_back(f);
        return;
      }
      case Op::kJoiningFetch: {
        Subscriber* s = pick(app_subs_, p.byte());
        const uint64_t start_group = p.byte();
        const bool relative = p.byte() & 1;
        const uint8_t act = p.byte();
        if (s) joining_fetch(*s->id, start_group, relative, act);
        return;
      }
      case Op::kCancelFetch:
        if (Fetcher* f = pick(app_fetches_, p.byte())) cancel_fetch(*f);
        return;
      case Op::kPublishNamespace: {
        const TrackNamespace& ns = kNamespace[p.byte() % kNamespaces];
        // A refused announcement is withdrawn, from inside the reply.
        session_->publish_namespace(ns, [this, ns](bool ok, uint64_t) {
          if (!ok) session_->publish_namespace_done(ns);
        });
        return;
      }
      case Op::kPublishNamespaceDone:
        session_->publish_namespace_done(kNamespace[p.byte() % kNamespaces]);
        return;
      case Op::kSubscribeNamespace:
        session_->subscribe_namespace(kNamespace[p.byte() % kNamespaces], [](bool, uint64_t) {});
        return;
      case Op::kTrackStatus: {
        const size_t track = p.byte();
        // Subscribe once the track is known to have content, from inside the reply.
        session_->track_status(kRemoteTrack[track % kRemoteTracks], [this, track](const TrackStatusResult& r) {
          if (r.ok && r.largest) subscribe(track, kOptionsLargest, action(Action::kNone));
        });
        return;
      }
      case Op::kPublish: {
        if (locals_.size() >= 2 + kMaxPushedTracks) return;
        FullTrackName name{{"example.net", "push"}, "t" + std::to_string(locals_.size())};
        locals_.push_back({std::make_shared<TrackPublisher>(std::move(name), TrackOptions{})});
        session_->publish(locals_.back().track, [](bool, uint64_t) {});
        return;
      }
      case Op::kWrite: {
        LocalTrack& t = locals_[p.byte() % locals_.size()];
        const uint8_t flags = p.byte(), hints = p.byte();
        write(t, flags, p.length(), hints);
        return;
      }
      case Op::kEndGroup: {
        LocalTrack& t = locals_[p.byte() % locals_.size()];
        const uint8_t how = p.byte() % 3;
        if (how == 0) t.track->end_group(t.group);
        else t.track->reset_subgroup(t.group, how - 1);
        return;
      }
      case Op::kFinishTrack: {
        LocalTrack& t = locals_[p.byte() % locals_.size()];
        const uint8_t flags = p.byte();
        t.track->finish(flags & 1 ? TrackEnd::kPublisherGone : TrackEnd::kTrackEnded);
        if (flags & 2) registry_.remove(t.track->name());
        return;
      }
      case Op::kGoaway: {
        const uint8_t flags = p.byte();
        session_->goaway(flags & 1 ? "moqt://other.example.net/moq" : "",
                         std::chrono::milliseconds(flags & 2 ? 1 : 0));
        return;
      }
      case Op::kClose:
        session_->close(p.byte(), "application closed");
        return;
      case Op::kCount:
        return;
    }
  }

  void start() {
    if (started_) return;
    started_ = true;
    memory_.start();
  }

  StreamId stream_id(uint8_t sel) const {
    const uint64_t n = sel & 63;
    switch (StreamKind(sel >> 6)) {
      case StreamKind::kPeerBidi: return memory_.peer_stream(n, true);
      case StreamKind::kPeerUni: return memory_.peer_stream(n, false);
      case StreamKind::kLocalBidi: return StreamId(n * 4 + (server_ ? 1 : 0));
      case StreamKind::kLocalUni: return StreamId(n * 4 + (server_ ? 1 : 0) + 2);
    }
    return -1;
  }

  // on_stream_closed is only for streams done in every direction they have (and our data out).
  bool finished(StreamId id) const {
    const bool bidi = (id & 2) == 0, ours = bool(id & 1) == server_;
    bool local_done = false;
    if (auto it = memory_.sent().find(id); it != memory_.sent().end())
      local_done = it->second.reset || (it->second.fin && transport_.queued_bytes(id) == 0);
    const bool peer_done = peer_done_.count(id) > 0;
    if (!bidi) return ours ? local_done : peer_done;
    return local_done && peer_done;
  }

  template <typename T>
  static T* pick(const std::vector<T*>& v, uint8_t i) {
    return v.empty() ? nullptr : v[i % v.size()];
  }

  // The id of a message that starts a request of the sender's.
  static std::optional<uint64_t> new_request_id(const wire::ControlMessage& m) {
    std::optional<uint64_t> id;
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, wire::Subscribe> || std::is_same_v<T, wire::Fetch> ||
                        std::is_same_v<T, wire::TrackStatus> || std::is_same_v<T, wire::PublishNamespace> ||
                        std::is_same_v<T, wire::SubscribeNamespace> || std::is_same_v<T, wire::Publish> ||
                        std::is_same_v<T, wire::RequestUpdate> || std::is_same_v<T, wire::SubscribeTracks>)
            id = x.request_id;
        },
        m);
    return id;
  }

  struct NullVisitor : wire::DataStreamVisitor {
    void on_payload(wire::ByteView, bool) override {}
  };

  // Whatever the session wrote must parse as what the stream is (control or data); streams it
  // reset may end anywhere.
  void check_output() const {
    const bool d14 = protocol_ == "moq-00" || protocol_.empty();  // as Session::on_ready decides
    const std::optional<Draft> d = d14 ? Draft::k14 : wire::draft_from_alpn(protocol_);
    if (!d) return;
    for (const auto& [id, s] : memory_.sent()) {
      if (s.data.empty() || s.reset) continue;
      bool control = s.bidi;
      if (trace_level() >= 2 && !s.bidi) {
        std::fprintf(stderr, "trace: stream %lld: uni%s", (long long)id, s.fin ? " fin" : "");
        for (size_t i = 0; i < std::min<size_t>(s.data.size(), 24); ++i) std::fprintf(stderr, " %02x", s.data[i]);
        std::fputc('\n', stderr);
      }
      if (!s.bidi) {
        auto kind = wire::classify_uni_stream(s.data, *d);
        if (!kind) die("stream %lld: the session wrote an unclassifiable uni stream", (long long)id);
        if (*kind == wire::UniStreamKind::kFetch && *d == Draft::k18) continue;  // ids follow the FETCH's order
        control = *kind == wire::UniStreamKind::kControl;
      }
      if (control) {
        wire::ControlStreamParser parser(*d);
        parser.push(s.data);
        std::optional<uint64_t> last_request;
        while (auto m = parser.next()) {
          if (!*m) die("stream %lld: the session wrote an undecodable control message: %s", (long long)id,
                       m->error().detail.c_str());
          if (trace_level() >= 2)
            std::fprintf(stderr, "trace: stream %lld: %s\n", (long long)id, wire::to_string(m->value()).c_str());
          // A peer may close the session on a request id lower than one it has seen (-14 wants
          // them increasing, -16 each the next one).
          if (auto rid = new_request_id(m->value())) {
            if (last_request && *rid <= *last_request)
              die("stream %lld: the session sent request id %llu after %llu", (long long)id, (unsigned long long)*rid,
                  (unsigned long long)*last_request);
            last_request = rid;
          }
        }
        if (!parser.at_message_boundary()) die("stream %lld: the session wrote a partial control message", (long long)id);
      } else {
        NullVisitor v;
        wire::DataStreamParser parser(*d, v);
        if (auto e = parser.feed(s.data, s.fin))
          die("stream %lld: the session wrote an undecodable data stream: %s", (long long)id, e->detail.c_str());
      }
    }
  }

  // Destroyed in reverse: the session first (it must not outlive the handlers, the registry,
  // the transport or the loop).
  uint8_t policy_;
  bool server_;
  std::string protocol_;
  quic::EventLoop loop_;
  test::MemoryTransport memory_;
  QueueingTransport transport_;
  TrackRegistry registry_;
  std::vector<LocalTrack> locals_;
  std::deque<std::unique_ptr<Subscriber>> subscribers_;
  std::deque<std::unique_ptr<Fetcher>> fetchers_;
  std::vector<Subscriber*> app_subs_;
  std::vector<Fetcher*> app_fetches_;
  Events events_;
  std::set<StreamId> peer_done_, closed_streams_;
  bool started_ = false, timers_run_ = false;
  std::unique_ptr<Session> session_;
};

Action kind_of(uint8_t a) { return Action((a & 15) % uint8_t(Action::kCount)); }

void Subscriber::on_subscribe_ok(const SubscribeResult&) {
  check_live("on_subscribe_ok");
  established = true;
  if (!id) return;
  if (kind_of(action) == Action::kUnsubscribeOnOk) h.unsubscribe(*this);
  else if (kind_of(action) == Action::kJoiningFetchOnOk) h.joining_fetch(*id, 1, true, fuzz::action(Action::kNone));
}

void Subscriber::on_subscribe_error(uint64_t, const std::string&) {
  check_live("on_subscribe_error");
  ended = true;
}

void Subscriber::on_object(const ReceivedObject& o) {
  check_live("on_object");
  const unsigned n = objects++;
  const Action a = kind_of(action);
  if (a == Action::kForwardToLocal) return h.forward(o);
  if (n != unsigned(action >> 4)) return;
  if (a == Action::kUnsubscribeOnObject) h.unsubscribe(*this);
  else if (a == Action::kCloseOnObject) h.session().close(0, "closed from on_object");
  else if (a == Action::kUpdateOnObject && id) h.session().update_subscription(*id, subscribe_options(0x03));
}

void Subscriber::on_done(uint64_t, const std::string&) {
  check_live("on_done");
  ended = true;
  if (kind_of(action) == Action::kResubscribeOnDone) h.subscribe(0, kOptionsLargest, fuzz::action(Action::kNone));
  else if (kind_of(action) == Action::kCloseOnDone) h.session().close(0, "closed from on_done");
}

void Fetcher::on_fetch_ok(Location, bool) {
  check_live("on_fetch_ok");
  if (kind_of(action) == Action::kUnsubscribeOnOk) h.cancel_fetch(*this);
}

void Fetcher::on_fetch_error(uint64_t, const std::string&) {
  check_live("on_fetch_error");
  ended = true;
}

void Fetcher::on_object(const ReceivedObject&) {
  check_live("on_object");
  if (objects++ != unsigned(action >> 4) % 8) return;  // bit 7 chose the FETCH's group order
  if (kind_of(action) == Action::kUnsubscribeOnObject) h.cancel_fetch(*this);
  else if (kind_of(action) == Action::kCloseOnObject) h.session().close(0, "closed from a fetch");
}

void Fetcher::on_fetch_done() {
  check_live("on_fetch_done");
  ended = true;
}

void Events::on_ready(Draft) {
  check_live("on_ready");
  readied = true;
  if (h.policy() & kPolicySubscribeOnReady) h.subscribe(0, kOptionsLargest, action(Action::kNone));
}

void Events::on_goaway(const std::string&) {
  check_live("on_goaway");
  if (h.policy() & kPolicyCloseOnGoaway) h.session().close(0, "moving");
}

bool Events::on_namespace_published(const TrackNamespace&) {
  check_live("on_namespace_published");
  return !(h.policy() & kPolicyRefuseNamespace);
}

SubscriptionHandler* Events::on_incoming_publish(const FullTrackName&) {
  check_live("on_incoming_publish");
  return h.policy() & kPolicyRefusePublish ? nullptr : h.incoming_publish_handler();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Program p(data + 2, size - 2);
  Harness h(data[0], data[1]);
  h.run(p);
  h.check_end();
  if (trace_level() > 0) h.trace();
  return 0;
}
