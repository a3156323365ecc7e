// A MoQT session over one quic::Transport (raw QUIC or WebTransport), for drafts 14, 16 and 18.
// One object plays both roles: subscriber (subscribe, fetch, namespace discovery) and publisher
// (answering those from a TrackRegistry, announcing namespaces, pushing tracks with PUBLISH).
// The draft is a session detail: callers see the same API whatever was negotiated.
//
// Threads: a Session lives on its transport's EventLoop thread; every method must be called
// there and every callback runs there. Other threads post().
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "moqt/quic/event_loop.h"
#include "moqt/quic/transport.h"
#include "moqt/session/track.h"
#include "moqt/wire/control_codec.h"
#include "moqt/wire/data_codec.h"

namespace moqt::session {

using wire::Draft;
using wire::GroupOrder;
using wire::SubscriptionFilter;
using wire::TrackNamespace;

enum class Perspective { kClient, kServer };

// Every draft we speak, newest first. (A function, not an initializer list in each config: g++ 12
// warns falsely about the list's copy when several configs sit in one struct.)
inline std::vector<Draft> all_drafts() { return {Draft::k18, Draft::k16, Draft::k14}; }

struct SessionConfig {
  Perspective perspective = Perspective::kClient;
  std::vector<Draft> drafts = all_drafts();  // acceptable drafts
  bool webtransport = false;        // PATH/AUTHORITY must not be sent over WebTransport
  std::string path;                 // raw QUIC client: PATH setup option (path [+ ?query])
  std::string authority;            // raw QUIC client: AUTHORITY setup option
  std::string implementation = "moq-gst/0.1";
  std::optional<std::string> auth_token;  // sent in SETUP as a USE_VALUE token of type 0
  // Sent as the AUTHORIZATION TOKEN parameter (USE_VALUE, type 0) of every request we make
  // (SUBSCRIBE, FETCH, TRACK_STATUS, PUBLISH, PUBLISH_NAMESPACE, SUBSCRIBE_NAMESPACE/_TRACKS).
  std::optional<std::string> request_auth_token;
  uint64_t max_request_id = 256;    // requests the peer may have in flight (-14/-16)
  std::chrono::milliseconds setup_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  size_t max_incoming_subscriptions = 1024;
  size_t max_queued_bytes = 8 << 20;      // per outgoing subscription before old groups are reset
  size_t max_object_bytes = 32 << 20;     // largest object we reassemble
  size_t max_unknown_alias_bytes = 1 << 20;  // data waiting for its SUBSCRIBE_OK / PUBLISH
  // PUBLISH_DONE can overtake the data streams it counts; the subscription ends when they are in
  // (and finished), or after this long.
  std::chrono::milliseconds publish_done_wait{2000};
  // A subscriber joining with the LargestObject filter gets the live group from its object 0
  // (from the track's cache), so it can decode at once (a relay's fast join).
  bool join_at_group_start = false;
  // Work around known deviations of peers recognised by their MOQT_IMPLEMENTATION setup option
  // (docs/interop.md). Off = strictly what the draft says.
  bool peer_workarounds = true;
};

// An object as received (payload reassembled).
struct ReceivedObject {
  Location location;
  uint64_t subgroup = 0;
  uint8_t publisher_priority = 128;
  ObjectStatus status = ObjectStatus::kNormal;
  KeyValueList properties;
  std::vector<uint8_t> payload;
  bool datagram = false;
};

struct SubscribeOptions {
  uint8_t priority = 128;
  GroupOrder group_order = GroupOrder::kPublisher;
  SubscriptionFilter filter{wire::FilterType::kLargestObject, {}, {}};
  bool forward = true;
  std::optional<uint64_t> delivery_timeout_ms;
  // Refuse subgroups above this one (e.g. SVC enhancement layers): their streams get
  // STOP_SENDING as soon as their first object shows the subgroup, so they stop costing bandwidth.
  std::optional<uint64_t> max_subgroup;
};

struct SubscribeResult {
  uint64_t track_alias = 0;
  std::optional<Location> largest;
  GroupOrder group_order = GroupOrder::kAscending;
  uint64_t expires_ms = 0;
  // Properties of the whole track (-16+: e.g. LOC Timescale 0x08 or a decoder configuration
  // that holds for every object).
  KeyValueList track_properties;
};

class SubscriptionHandler {
 public:
  virtual ~SubscriptionHandler() = default;
  virtual void on_subscribe_ok(const SubscribeResult&) {}
  virtual void on_subscribe_error(uint64_t /*code*/, const std::string& /*reason*/) {}
  virtual void on_object(const ReceivedObject& o) = 0;
  // PUBLISH_DONE, or the session ended: no more objects.
  virtual void on_done(uint64_t /*status*/, const std::string& /*reason*/) {}
};

class FetchHandler {
 public:
  virtual ~FetchHandler() = default;
  virtual void on_fetch_ok(Location /*end*/, bool /*end_of_track*/) {}
  virtual void on_fetch_error(uint64_t /*code*/, const std::string& /*reason*/) {}
  virtual void on_object(const ReceivedObject& o) = 0;
  // Objects up to `end` (inclusive) do not exist / have unknown status (-16+).
  virtual void on_range_gap(Location /*end*/, bool /*unknown*/) {}
  virtual void on_fetch_done() {}
};

struct TrackStatusResult {
  bool ok = false;
  uint64_t error_code = 0;
  std::string reason;
  std::optional<Location> largest;
};

// Session-level events. Everything has a default, so a pure subscriber implements nothing.
class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  virtual void on_ready(Draft) {}
  virtual void on_closed(uint64_t /*code*/, const std::string& /*reason*/) {}
  virtual void on_goaway(const std::string& /*new_uri*/) {}
  // May the peer publish under `ns` (PUBLISH_NAMESPACE, PUBLISH)? Asked first; false answers the
  // request UNAUTHORIZED.
  virtual bool may_publish(const TrackNamespace&) { return true; }
  // The peer announced a namespace (PUBLISH_NAMESPACE). Return true to accept.
  virtual bool on_namespace_published(const TrackNamespace&) { return true; }
  virtual void on_namespace_done(const TrackNamespace&) {}
  // The peer pushes a track (PUBLISH). Return a handler to accept, nullptr to refuse.
  virtual SubscriptionHandler* on_incoming_publish(const FullTrackName&) { return nullptr; }
  // A request of the peer was refused because a configured limit was reached (named).
  virtual void on_limit(const std::string& /*which*/) {}
  // For SUBSCRIBE_NAMESPACE: a namespace under the prefix appeared (true) or went away (false);
  // the whole namespace, whatever the draft sends.
  virtual void on_namespace_update(const TrackNamespace&, bool /*active*/) {}
};

struct SessionStats {
  uint64_t objects_sent = 0, objects_received = 0, bytes_sent = 0, bytes_received = 0;
  uint64_t streams_reset_for_congestion = 0;        // queue bound (max_queued_bytes) exceeded
  uint64_t streams_reset_for_delivery_timeout = 0;  // an object waited longer than DELIVERY_TIMEOUT
  uint64_t objects_dropped = 0;
  size_t incoming_subscriptions = 0, outgoing_subscriptions = 0;
};

class Session final : public quic::TransportHandler {
 public:
  // `tracks` (may be null) answers incoming SUBSCRIBE/FETCH/TRACK_STATUS; it must outlive the
  // session. The session starts the handshake as soon as the transport is ready.
  Session(quic::Transport& transport, SessionConfig cfg, SessionHandler* handler, TrackSource* tracks);
  ~Session() override;

  void set_session_handler(SessionHandler* h) { handler_ = h; }
  bool ready() const { return state_ == State::kReady; }
  // True from the moment the session ends, including inside the on_done()/on_fetch_error() calls
  // that end its subscriptions and fetches (so a handler can tell a session end from PUBLISH_DONE).
  bool closed() const { return state_ == State::kClosed; }
  Draft draft() const { return draft_; }
  bool webtransport() const { return cfg_.webtransport; }
  // The peer's MOQT_IMPLEMENTATION setup option ("" if it sent none), known once ready.
  const std::string& peer_implementation() const { return peer_implementation_; }
  // The peer's credentials, known once ready: the value of its SETUP AUTHORIZATION TOKEN (a
  // USE_VALUE token; none if it sent none) and the path it connected to (the raw-QUIC PATH
  // option, or the WebTransport CONNECT path, query included).
  const std::optional<std::string>& peer_auth_token() const { return peer_auth_token_; }
  const std::string& peer_path() const { return peer_path_; }
  void set_peer_path(std::string path) { peer_path_ = std::move(path); }  // the endpoint, for WT
  // The AUTHORIZATION TOKEN parameter (USE_VALUE) of the peer request being handled: valid only
  // inside the TrackSource / SessionHandler calls that request makes, none otherwise.
  const std::optional<std::string>& request_auth_token() const { return request_auth_token_; }
  // Changes the token our later requests carry (SessionConfig::request_auth_token).
  void set_request_auth_token(std::optional<std::string> t) { cfg_.request_auth_token = std::move(t); }
  quic::EventLoop& loop() { return t_.loop(); }
  const SessionStats& stats() const { return stats_; }
  // The connection's (or WebTransport session's) counters and RTT estimate.
  quic::TransportStats transport_stats() const { return t_.stats(); }

  // --- subscriber ---
  // Returns the request id (the handle), or nullopt if the session cannot take more requests.
  // Requests made before on_ready() are sent once the session is set up.
  std::optional<uint64_t> subscribe(const FullTrackName& track, const SubscribeOptions& o, SubscriptionHandler* h);
  void unsubscribe(uint64_t request_id);
  // Ends whichever subscription `h` receives (ours, or a track the peer PUBLISHed to us); `h` is
  // not called again. False if it has none here.
  bool unsubscribe_handler(SubscriptionHandler* h);
  // Changes priority / forward / (narrows) the filter of a subscription.
  bool update_subscription(uint64_t request_id, const SubscribeOptions& o);
  std::optional<uint64_t> fetch(const FullTrackName& track, Location start, Location end, FetchHandler* h,
                                uint8_t priority = 128, GroupOrder order = GroupOrder::kAscending);
  // Joining FETCH for an existing subscription: `relative` = groups before the subscription's
  // largest group (or an absolute start group when !relative).
  std::optional<uint64_t> joining_fetch(uint64_t subscription, uint64_t start, bool relative, FetchHandler* h,
                                        uint8_t priority = 128);
  void cancel_fetch(uint64_t request_id);
  std::optional<uint64_t> subscribe_namespace(const TrackNamespace& prefix, std::function<void(bool ok, uint64_t code)> done);
  // SUBSCRIBE_TRACKS (-18; at -16 a SUBSCRIBE_NAMESPACE asking for PUBLISH only): the peer
  // PUBLISHes every track under `prefix` it has now and later to on_incoming_publish (with
  // `forward` as their FORWARD state). -14 has no way to ask: `done` gets NOT_SUPPORTED.
  std::optional<uint64_t> subscribe_tracks(const TrackNamespace& prefix, std::function<void(bool ok, uint64_t code)> done,
                                           bool forward = true);
  // Ends a subscribe_namespace / subscribe_tracks request (tracks already PUBLISHed stay).
  void unsubscribe_namespace(uint64_t request_id);
  std::optional<uint64_t> track_status(const FullTrackName& track, std::function<void(const TrackStatusResult&)> done);

  // --- publisher ---
  std::optional<uint64_t> publish_namespace(const TrackNamespace& ns, std::function<void(bool ok, uint64_t code)> done);
  void publish_namespace_done(const TrackNamespace& ns);
  // PUBLISH: push a local track to the peer; objects flow once the peer answers PUBLISH_OK.
  std::optional<uint64_t> publish(std::shared_ptr<TrackPublisher> track, std::function<void(bool ok, uint64_t code)> done,
                                  bool forward = true);

  // SUBSCRIBE_TRACKS (answered from the TrackSource): PUBLISH `track` to the subscriber of
  // request `request_id`, with the FORWARD state it asked for. nullopt if that request ended.
  std::optional<uint64_t> push_track(uint64_t request_id, std::shared_ptr<TrackPublisher> track,
                                     std::function<void(bool ok, uint64_t code)> done = nullptr);

  // SUBSCRIBE_NAMESPACE (answered from the TrackSource): tell the subscriber of request
  // `request_id` that `ns` appeared or went away.
  void namespace_update(uint64_t request_id, const TrackNamespace& ns, bool active);

  // --- session ---
  // Asks the peer to move (a server may name a new URI; "" = reconnect to the same one). After
  // `timeout` (0 = never) a session still open is closed with GOAWAY_TIMEOUT.
  void goaway(const std::string& new_uri, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void close(uint64_t code, const std::string& reason);

  // quic::TransportHandler
  void on_ready(std::string_view protocol) override;
  void on_stream_opened(quic::StreamId id, bool bidi) override;
  void on_stream_data(quic::StreamId id, std::span<const uint8_t> data, bool fin) override;
  void on_stream_reset(quic::StreamId id, uint64_t code) override;
  void on_stop_sending(quic::StreamId id, uint64_t code) override;
  void on_stream_drained(quic::StreamId id) override;
  void on_stream_closed(quic::StreamId id) override;
  void on_streams_available(bool bidi) override;
  void on_datagram(std::span<const uint8_t> data) override;
  void on_closed(const quic::CloseInfo& info) override;

 private:
  enum class State { kWaitingTransport, kSettingUp, kReady, kClosed };
  struct OutgoingSubscription;  // we publish to the peer
  struct IncomingSubscription;  // we receive from the peer
  struct OutgoingFetch;
  struct IncomingFetch;
  struct PendingRequest;
  struct UniStream;
  struct Request;  // -18 request stream or -14/-16 virtual channel

  friend struct OutgoingSubscription;

  // Setup.
  void start_setup();
  void on_control_message(wire::ControlMessage m, quic::StreamId stream);
  void handle_setup(const wire::ControlMessage& m);
  void become_ready();

  // Sending control messages: on the control stream (-14/-16) or a request stream (-18).
  void send_control(const wire::ControlMessage& m);
  void send_on(quic::StreamId stream, const wire::ControlMessage& m, bool fin = false);
  // A new outgoing request: allocates a request id and, in -18, a bidi stream.
  std::optional<uint64_t> new_request(std::function<wire::ControlMessage(uint64_t)> build, Request** out);
  void send_request(Request& r);
  void send_blocked_requests();
  void reply(uint64_t request_id, const wire::ControlMessage& m, bool fin = false);
  bool check_incoming_request_id(uint64_t id);
  void grant_request_ids();

  // Dispatch of each message kind.
  void on_subscribe(const wire::Subscribe& m, quic::StreamId stream);
  // Asks the TrackSource; `then` runs unless the session closed or the request was cancelled.
  void lookup(const FullTrackName& name, RequestFor why, uint64_t request_id,
              std::function<void(std::shared_ptr<TrackPublisher>, LookupError, const std::string&)> then);
  uint64_t lookup_error_code(LookupError e) const;
  void accept_subscribe(const wire::Subscribe& m, quic::StreamId stream, std::shared_ptr<TrackPublisher> track,
                        LookupError e, const std::string& why);
  void serve_fetch(const wire::Fetch& m, std::shared_ptr<TrackPublisher> track, LookupError e, const std::string& why);
  // Writes FETCH_OK and the fetch stream: `older` (objects the cache no longer had, from the
  // TrackSource) then what the cache has in the range, in `order`.
  void send_fetch(const wire::Fetch& m, const std::shared_ptr<TrackPublisher>& track, Location start, Location end_incl,
                  GroupOrder order, std::vector<Object> older);
  void answer_track_status(const wire::TrackStatus& m, std::shared_ptr<TrackPublisher> track, LookupError e,
                           const std::string& why);
  void end_namespace_watch(uint64_t request_id);
  void on_subscribe_tracks(const wire::SubscribeTracks& m, quic::StreamId stream);
  // Registers a SUBSCRIBE_TRACKS (or -16 SUBSCRIBE_NAMESPACE asking for PUBLISH) with the
  // TrackSource: the tracks there now, or nullopt (refused, `*error` says why).
  std::optional<std::vector<std::shared_ptr<TrackPublisher>>> start_track_watch(uint64_t request_id,
                                                                               const TrackNamespace& prefix,
                                                                               bool forward, LookupError* error);
  void end_track_watch(uint64_t request_id);
  bool watching_namespace(const TrackNamespace& ns) const;
  void peer_request_ended(uint64_t request_id);
  bool peer_cancelled_publish(quic::StreamId stream);
  void on_subscribe_ok(const wire::SubscribeOk& m, quic::StreamId stream);
  void on_request_error(const wire::RequestError& m, quic::StreamId stream);
  void on_request_ok(const wire::RequestOk& m, quic::StreamId stream);
  void on_unsubscribe(uint64_t request_id);
  void on_publish_done(const wire::PublishDone& m, quic::StreamId stream);
  void on_fetch(const wire::Fetch& m, quic::StreamId stream);
  void on_fetch_ok(const wire::FetchOk& m, quic::StreamId stream);
  void on_track_status(const wire::TrackStatus& m, quic::StreamId stream);
  void on_publish_namespace(const wire::PublishNamespace& m, quic::StreamId stream);
  void on_subscribe_namespace(const wire::SubscribeNamespace& m, quic::StreamId stream);
  void on_publish(const wire::Publish& m, quic::StreamId stream);
  void on_request_update(const wire::RequestUpdate& m, quic::StreamId stream);
  // -18: FIN (or, cancelled, reset the data of) the request stream of the FETCH whose data
  // stream is `data_stream`.
  void finish_fetch_request(quic::StreamId data_stream, bool cancel);
  void cancel_fetch_data(uint64_t request_id);
  // A subscription with PUBLISH_DONE received ends once its streams are in (deferred: a zero
  // timer, when called from inside stream processing).
  void maybe_end_subscription(uint64_t id, bool defer);
  void end_subscription(uint64_t id);
  uint64_t request_id_of(quic::StreamId stream, uint64_t in_message) const;

  // Data plane.
  void on_uni_data(quic::StreamId id, UniStream& s, std::span<const uint8_t> data, bool fin);
  void deliver(uint64_t track_alias, ReceivedObject&& o);
  IncomingSubscription* by_alias(uint64_t alias);

  void fail(wire::SessionError code, const std::string& why);
  void protocol_violation(const std::string& why) { fail(wire::SessionError::kProtocolViolation, why); }
  void finish_all(uint64_t status, const std::string& reason);

  quic::Transport& t_;
  SessionConfig cfg_;
  SessionHandler* handler_;
  TrackSource* tracks_;
  State state_ = State::kWaitingTransport;
  Draft draft_ = Draft::k18;
  bool draft_known_ = false;
  const wire::Profile* profile_ = nullptr;
  quic::StreamId control_out_ = -1;  // our control stream (bidi -14/-16 shared, uni -18)
  quic::StreamId control_in_ = -1;   // the peer's (same stream in -14/-16)
  std::unique_ptr<wire::ControlStreamParser> control_parser_;
  std::map<quic::StreamId, std::unique_ptr<wire::ControlStreamParser>> request_parsers_;  // -18 / -16 namespace streams
  std::map<quic::StreamId, std::unique_ptr<UniStream>> uni_;
  std::map<uint64_t, std::unique_ptr<Request>> requests_;           // ours, by request id
  std::map<quic::StreamId, uint64_t> request_streams_;             // -18: stream -> our request id
  std::map<quic::StreamId, uint64_t> peer_request_streams_;        // -18: stream -> peer request id
  std::map<uint64_t, quic::StreamId> peer_request_stream_by_id_;
  std::map<quic::StreamId, uint64_t> fetch_data_streams_;          // -18: our FETCH data stream -> request id
  std::map<uint64_t, std::unique_ptr<OutgoingSubscription>> out_subs_;  // by peer request id
  std::map<uint64_t, std::unique_ptr<IncomingSubscription>> in_subs_;   // by our request id
  std::map<uint64_t, uint64_t> alias_to_sub_;                      // track alias -> our request id
  std::map<quic::StreamId, uint64_t> stream_owner_;                // our data stream -> peer request id
  std::map<uint64_t, std::unique_ptr<IncomingFetch>> in_fetches_;  // by our request id
  std::set<TrackNamespace> published_namespaces_;                  // by us
  std::set<uint64_t> pending_lookups_;                              // peer requests the TrackSource has not answered
  std::map<uint64_t, TrackNamespace> namespace_watches_;            // peer SUBSCRIBE_NAMESPACE id -> prefix
  struct TrackWatch {
    TrackNamespace prefix;
    bool forward = true;
  };
  std::map<uint64_t, TrackWatch> track_watches_;  // peer SUBSCRIBE_TRACKS id -> prefix (-16: SUBSCRIBE_NAMESPACE)
  std::map<uint64_t, TrackNamespace> peer_namespaces_;              // peer PUBLISH_NAMESPACE id -> namespace
  std::map<TrackNamespace, uint64_t> namespace_requests_;           // our PUBLISH_NAMESPACE ids
  std::vector<std::unique_ptr<Request>> blocked_requests_;          // waiting for request ids / streams
  uint64_t next_request_id_ = 0;
  uint64_t peer_max_request_id_ = 0;   // exclusive bound on our request ids (-14/-16)
  uint64_t granted_max_request_id_ = 0;  // exclusive bound we gave the peer
  uint64_t peer_requests_seen_ = 0;
  uint64_t next_peer_request_id_ = 0;
  std::set<uint64_t> peer_ids_seen_;    // -16/-18 duplicate detection above the low-water mark
  uint64_t peer_ids_low_ = 0;
  uint64_t next_track_alias_ = 1;
  size_t unknown_alias_bytes_ = 0;
  bool goaway_sent_ = false, goaway_received_ = false;
  std::vector<std::pair<wire::ControlMessage, quic::StreamId>> early_messages_;  // -18 requests before the peer's SETUP
  std::string peer_implementation_;
  std::optional<std::string> peer_auth_token_;
  std::optional<std::string> request_auth_token_;  // of the peer request being dispatched
  std::string peer_path_;
  bool omit_largest_object_ = false;  // peer_workarounds: @moq/net at -18
  bool whole_groups_ = false;         // peer_workarounds: @moq/net, LargestObject from object 0
  std::optional<std::pair<std::string, std::chrono::milliseconds>> pending_goaway_;
  quic::EventLoop::TimerId setup_timer_ = 0, goaway_timer_ = 0;
  SessionStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace moqt::session
