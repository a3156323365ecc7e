// The relay: one MoQT endpoint (raw QUIC and WebTransport, drafts 14/16/18 on one port) that
// publishers and subscribers both connect to. Publishers register sources (PUBLISH_NAMESPACE,
// PUBLISH); a SUBSCRIBE / FETCH / TRACK_STATUS is routed to the source of the longest matching
// namespace; one upstream subscription per track feeds a TrackPublisher (cache + fan-out) that
// every downstream session subscribes to at its own draft. Objects are never parsed: payloads and
// properties pass through as shared buffers.
//
// Pieces, each testable alone: NamespaceTable (routing), UpstreamTrack (upstream subscription ->
// track), session::TrackPublisher (cache and fan-out), session::Session (per-subscriber queues,
// priorities, delivery timeout). This class wires them to sessions and owns their lifetimes.
//
// Threads: a Relay lives on one EventLoop thread (create it there: EventLoop::run_sync); every
// method must be called there. Its sessions, tracks and upstream subscriptions live there too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "moqt/cluster/cluster.h"
#include "moqt/relay/auth.h"
#include "moqt/relay/local_subscription.h"
#include "moqt/relay/loop_link.h"
#include "moqt/relay/namespace_table.h"
#include "moqt/relay/upstream_track.h"
#include "moqt/session/client.h"
#include "moqt/session/endpoint.h"

namespace moqt::relay {

struct RelayConfig {
  session::ServerConfig server;  // listen address, certificate, drafts, session template, max sessions
  // Per track: recent groups kept for joiners and FETCH, bounded by count and bytes.
  size_t cache_groups = 8;
  size_t cache_bytes = 64 << 20;
  std::chrono::milliseconds cache_age{0};  // and groups older than this go (0 = no age bound)
  // A track nobody watches any more keeps its upstream subscription this long (a viewer that
  // reloads rejoins from the cache).
  std::chrono::milliseconds linger{2000};
  // A request for a namespace nobody announced waits this long for its publisher (0: answered
  // DOES_NOT_EXIST at once, as -18's RENDEZVOUS_TIMEOUT default).
  std::chrono::milliseconds hold{0};
  size_t max_held = 1024;     // requests waiting for a publisher at once
  size_t max_tracks = 10000;  // relayed tracks at once
  // Chaining: requests for namespaces nobody announced here go to this relay or origin (moqt://
  // or https:// URL) over one reused session, with this relay's own fan-out and cache; namespace
  // subscriptions are forwarded there too. "" = none.
  std::string upstream;
  session::ClientConfig upstream_client;        // its drafts, TLS verification, auth token
  std::chrono::milliseconds upstream_retry{500};  // reconnect backoff: doubles up to 30 s
  size_t max_upstream_watches = 256;            // distinct prefixes forwarded upstream
  // When set, a session may publish / subscribe only under the prefixes its JWT grants (taken
  // from the SETUP AUTHORIZATION TOKEN or a `jwt=` query in the connect path). Without a token
  // it may do nothing; a bad token closes the session (MALFORMED_AUTH_TOKEN /
  // EXPIRED_AUTH_TOKEN), and so does its expiry. A request may also carry its own token (the
  // AUTHORIZATION TOKEN parameter): what that grants is allowed for that request (a bad one
  // refuses the request, UNAUTHORIZED). In-process (local) sources are trusted.
  std::shared_ptr<const Authorizer> auth;
  // Cluster: with cluster.redis set, this relay registers itself and the namespaces its
  // publishers announce in Redis (cluster/cluster.h), and requests for namespaces it does not
  // have go to the relay that has them, over one relay-to-relay MoQT session per peer (opened
  // on demand with `cluster_client`: its TLS verification and the cluster token it presents),
  // with this relay's own fan-out and cache. Checked before a configured `upstream`.
  cluster::ClusterConfig cluster;
  session::ClientConfig cluster_client;
  std::chrono::milliseconds cluster_link_linger{5000};  // an unused relay-to-relay session stays
  // Failover: a track pulled from another relay of the cluster whose origin went away (the relay
  // died, the publisher left without ending the track) stays open this long for its viewers
  // while the relay looks for its next origin (a publisher reconnecting elsewhere); they see the
  // missing groups as a gap, not an end.
  std::chrono::milliseconds cluster_failover{15000};
};

// What the relay tells its front end (the moqrelay element posts these on the bus).
struct RelayEvent {
  enum class Kind : uint8_t { kSessionOpened, kSessionClosed, kNamespacePublished, kNamespaceDone };
  Kind kind;
  uint64_t source = 0;  // the session's (or in-process publisher's) id, as in the log lines
  std::string detail;   // opened: draft and transport; closed: code and reason; else the namespace
};

struct RelayStats {
  size_t sessions = 0;
  size_t tracks = 0;                    // relayed tracks (pulled and pushed)
  size_t upstream_subscriptions = 0;    // SUBSCRIBEs the relay holds at publishers
  size_t pushed_tracks = 0;             // tracks publishers PUBLISHed to the relay
  size_t downstream_subscriptions = 0;  // subscribers of relayed tracks
  size_t namespaces = 0;
  size_t held_requests = 0;
  bool upstream_connected = false;
  size_t cache_bytes = 0;
  uint64_t sessions_opened = 0, sessions_closed = 0;
  uint64_t objects_in = 0, objects_out = 0, bytes_in = 0, bytes_out = 0;
  uint64_t objects_dropped = 0;           // by downstream queues (slow subscribers)
  uint64_t streams_reset_congestion = 0;  // downstream streams reset: queue bound
  uint64_t streams_reset_timeout = 0;     // downstream streams reset: delivery timeout
  uint64_t requests_refused = 0;          // no such namespace / track, limits
  uint64_t limit_hits = 0;                // max_tracks, max_held
  uint64_t upstream_connects = 0;         // sessions opened to the upstream (1 + reconnects)
  uint64_t fetches_forwarded = 0;         // FETCHes of what the cache lacked, sent to the source
  uint64_t auth_refused = 0;              // requests refused UNAUTHORIZED, sessions closed for their token
  size_t loop_links = 0;                  // tracks mirrored from another loop of this process
  uint64_t loop_link_drops = 0;           // objects a slow loop could not take
  uint64_t tracks_pushed = 0;             // PUBLISHes sent to SUBSCRIBE_TRACKS subscribers
  bool cluster_connected = false;         // the cluster's Redis is reachable
  size_t cluster_links = 0;               // relay-to-relay sessions open now
  uint64_t cluster_lookup_errors = 0;     // lookups Redis could not answer
};

// What one relay of a RelayGroup (one per event loop, see relay_group.h) asks of the others.
// Called on the asking relay's loop; the group carries it to the other loops.
class LoopPeers {
 public:
  virtual ~LoopPeers() = default;
  // A namespace of one of `from`'s own sources appeared / went away.
  virtual void namespace_changed(size_t from, const TrackNamespace& ns, bool active) = 0;
  // Relay `to` should feed `link` with its track (Relay::feed_link on `to`'s loop).
  virtual void open_link(size_t to, std::shared_ptr<LoopLink> link) = 0;
  virtual void close_link(size_t to, std::shared_ptr<LoopLink> link) = 0;
  // SUBSCRIBE_NAMESPACE forwarding, for the relay that holds the upstream session (index 0).
  virtual void forward_watch(const TrackNamespace& prefix) = 0;
  // A track one of `from`'s sources pushed (PUBLISH, in-process) appeared / went away: the other
  // loops PUBLISH it to their SUBSCRIBE_TRACKS subscribers.
  virtual void track_changed(size_t from, const wire::FullTrackName& name, bool active) = 0;
};

class Relay : public session::TrackSource {
 public:
  static std::unique_ptr<Relay> start(quic::EventLoop& loop, RelayConfig cfg, std::string* error);
  ~Relay() override;

  const quic::SocketAddress& address() const { return server_->address(); }
  RelayStats stats() const;
  // One line per event worth a log (sessions opening and closing, limits hit); default: stderr.
  void set_log(std::function<void(const std::string&)> log) { log_ = std::move(log); }
  void set_events(std::function<void(const RelayEvent&)> cb) { events_ = std::move(cb); }

  // --- In-process publishers and subscribers (e.g. moqsink / moqsrc in the relay's process): no
  // session, no copies. A local source owns namespaces and tracks like a session does.
  SourceId add_local(const std::string& label);
  // What it published ends (its subscribers get PUBLISH_DONE); its waiting requests are dropped.
  void remove_local(SourceId id);
  // Serves `t` as a track `id` published (like a PUBLISH: the newest publisher of a name wins).
  // The caller keeps writing into `t` on this loop. False (and logged) if a limit refuses it.
  bool publish_local(SourceId id, std::shared_ptr<session::TrackPublisher> t);
  void unpublish_local(SourceId id, const wire::FullTrackName& name);
  // Like a request from a session: answered with the track (subscribed upstream if need be);
  // subscribe to it with a LocalSubscription.
  void find_local(SourceId id, const wire::FullTrackName& name, session::RequestFor why, Answer answer);

  // --- One of a RelayGroup (called by the group, on this relay's loop) ---
  // Joins a group of `size` relays as number `index`, before any session. `upstream_elsewhere`:
  // the group has an upstream, held by relay 0: what nobody announced goes there.
  void join_group(size_t index, size_t size, LoopPeers* peers, bool upstream_elsewhere);
  // Relay `shard`'s namespace appeared / went away: requests for it are mirrored from there.
  void mirror_namespace(size_t shard, const TrackNamespace& ns, bool active);
  // The namespaces this relay's own sources (sessions, in-process, upstream) have now.
  std::vector<TrackNamespace> own_namespaces() const;
  // Every namespace it can route now: its own, the other loops' and the cluster's (sorted).
  std::vector<TrackNamespace> namespaces() const { return namespaces_.under({}); }
  // Feeds another loop's mirror of a track from here (answer, then objects, then the end).
  void feed_link(std::shared_ptr<LoopLink> link);
  void unfeed_link(const std::shared_ptr<LoopLink>& link);
  // Relay `shard`'s pushed track appeared / went away (LoopPeers::track_changed).
  void mirror_pushed_track(size_t shard, const wire::FullTrackName& name, bool active);
  // SUBSCRIBE_NAMESPACE of another loop's session: forwarded to our upstream.
  void forward_watch(const TrackNamespace& prefix) {
    if (upstream_) watch_upstream(prefix);
  }

  // Cluster: the least loaded other live relay's URL ("" if none, or no cluster), for GOAWAY.
  void cluster_goaway_target(std::function<void(std::string)> done);
  // Sends GOAWAY (naming `new_uri`, "" = reconnect here) to every session (and to any that
  // connects meanwhile); `done` runs once all have left, or after `grace`, when the rest is closed.
  // A moqt:// URI is given to WebTransport sessions as the https:// of the same address (one
  // port serves both).
  void drain(const std::string& new_uri, std::chrono::milliseconds grace, std::function<void()> done);

  // session::TrackSource
  void find_track(session::Session& asker, const wire::FullTrackName& name, session::RequestFor why,
                  Answer answer) override;
  std::optional<std::vector<TrackNamespace>> watch_namespaces(session::Session& asker, uint64_t request_id,
                                                              const TrackNamespace& prefix,
                                                              session::LookupError* error) override;
  void unwatch_namespaces(session::Session& asker, uint64_t request_id) override;
  // SUBSCRIBE_TRACKS: every track publishers pushed here (PUBLISH, in-process), on any loop,
  // under the prefix, now and later, but the asker's own; one PUBLISH per track and session.
  std::optional<std::vector<std::shared_ptr<session::TrackPublisher>>> watch_tracks(session::Session& asker,
                                                                                   uint64_t request_id,
                                                                                   const TrackNamespace& prefix,
                                                                                   session::LookupError* error) override;
  void unwatch_tracks(session::Session& asker, uint64_t request_id) override;
  // What a track's cache no longer has is FETCHed from the track's source (its publisher's
  // session or the upstream), bounded by the cache's byte bound and a timeout.
  bool fetch_missing(session::Session& asker, const wire::FullTrackName& name, wire::Location start,
                     wire::Location end_incl, FetchDone done) override;

 private:
  struct Peer;   // one session: publisher, subscriber or both
  struct Track;  // one relayed track
  struct Held;   // a request waiting for its namespace's publisher
  struct Local;  // an in-process publisher or subscriber
  struct UpLink;  // the upstream session's handler
  struct MissingFetch;  // a FETCH forwarded to a track's source
  using TrackKey = std::pair<TrackNamespace, std::string>;

  explicit Relay(quic::EventLoop& loop);
  session::SessionHandler* on_session(session::Session& s);
  void peer_closed(Peer& p);
  std::map<TrackNamespace, int>* ns_refs(SourceId id);
  void add_namespace(SourceId id, const TrackNamespace& ns);
  void drop_namespace(SourceId id, const TrackNamespace& ns);
  void drop_all_namespaces(SourceId id);
  // A new publisher of `key` takes it over from whoever published it before.
  // Returns the requests that waited for the old source's answer.
  std::vector<Answer> take_over(const TrackKey& key, const std::string& by);
  void serve_waiting(std::vector<Answer> waiting, const std::shared_ptr<session::TrackPublisher>& pub);
  void find(SourceId asker, const wire::FullTrackName& name, session::RequestFor why, Answer answer);
  session::SubscriptionHandler* incoming_publish(Peer& p, const wire::FullTrackName& name);
  std::unique_ptr<Track> new_track(const wire::FullTrackName& name);
  void attach_upstream(Track& t);
  // From `source`'s session, or through `via` (the upstream or a cluster peer).
  void subscribe_upstream(Peer* source, UpLink* via, const wire::FullTrackName& name, Answer answer);
  // Cluster: the track from the relay Redis names as its namespace's origin.
  void route_cluster(const wire::FullTrackName& name, Answer answer);
  void resolve(const TrackKey& key, int attempt);
  bool subscribe_via(Track& t, UpLink& l);
  UpLink* link_to(const std::string& url, const std::string& node);
  void link_unused(UpLink& l);
  void start_cluster();
  void report_load();
  // Failover (cluster-pulled tracks): the origin is lost; look for the next one until found or
  // cluster_failover has passed.
  void orphan(const TrackKey& key, const std::string& why);
  void recover(const TrackKey& key);
  // Ends the track's upstream subscription and gives it a fresh UpstreamTrack (same cache);
  // returns the link it was pulled through, if any.
  UpLink* replace_upstream(Track& t);
  // Group: the track from relay `shard` of this process, mirrored here through a LoopLink.
  void subscribe_mirror(size_t shard, const wire::FullTrackName& name, Answer answer);
  void mirror_event(const TrackKey& key, LinkEvent& e);
  bool is_mirror_source(SourceId id) const;
  void namespace_transition(SourceId id, const TrackNamespace& ns, bool active);
  // SUBSCRIBE_TRACKS: a pushed track `key` appeared here (by source `by`): PUBLISH it to the
  // watchers, but to `skip` (their held SUBSCRIBE for it was just served).
  void pushed_track_appeared(const TrackKey& key, SourceId by, const std::set<SourceId>& skip);
  // Records that `p` gets `pub` (false: it already has it).
  bool mark_pushed(Peer& p, const TrackKey& key, const std::shared_ptr<session::TrackPublisher>& pub);
  // Another loop's pushed track to `p`'s watch `request_id`, through this loop's mirror of it.
  void push_remote(SourceId peer, uint64_t request_id, const wire::FullTrackName& name);
  std::set<SourceId> held_for(const wire::FullTrackName& name) const;
  // Chaining and cluster links (loop thread).
  void connect_link(UpLink& l);
  void link_closed(UpLink& l, uint64_t code, const std::string& reason);
  void watch_upstream(const TrackNamespace& prefix);
  void upstream_event(const TrackKey& key, UpstreamTrack::Event e, uint64_t code, const std::string& reason);
  void subscribers_changed(const TrackKey& key, size_t n);
  void retire(const TrackKey& key);  // the track goes (deferred: may be inside its callbacks)
  void retry_held();
  void schedule_cache_trim();
  void check_drain();
  void log(const std::string& line);
  void authenticate(Peer& p);
  void close_peer(Peer& p, uint64_t code, const std::string& reason);
  void refuse_unauthorized(Peer& p, const char* what, const TrackNamespace& ns);
  // With auth on: may `p` publish / subscribe under `ns`, by its session's token or by the
  // AUTHORIZATION TOKEN parameter of the request being handled. Logs and counts a refusal.
  bool allowed(Peer& p, const TrackNamespace& ns, bool publish, const char* what);
  void event(RelayEvent::Kind kind, SourceId id, const std::string& detail);

  quic::EventLoop& loop_;
  RelayConfig cfg_;
  std::function<void(const std::string&)> log_;
  std::function<void(const RelayEvent&)> events_;
  NamespaceTable namespaces_;
  std::map<session::Session*, std::unique_ptr<Peer>> peers_;
  std::map<SourceId, Peer*> sources_;
  std::map<SourceId, std::unique_ptr<Local>> locals_;
  SourceId next_source_ = 1;
  std::map<TrackKey, std::unique_ptr<Track>> tracks_;
  std::vector<std::unique_ptr<Track>> retired_;  // destroyed on the next loop turn
  std::vector<std::unique_ptr<UpstreamTrack>> retired_ups_;  // replaced upstream handlers, likewise
  std::vector<std::unique_ptr<Held>> held_;
  std::map<std::string, std::unique_ptr<UpLink>> links_;  // sessions to other relays, by URL
  UpLink* upstream_ = nullptr;                            // the configured upstream (in links_)
  std::unique_ptr<cluster::Cluster> cluster_;
  SourceId cluster_src_ = 0;  // namespaces other relays of the cluster hold
  uint64_t last_bytes_out_ = 0;
  // Group membership.
  LoopPeers* group_ = nullptr;
  size_t index_ = 0;
  std::vector<SourceId> shard_src_;  // the other relays as sources of namespaces (0 for self)
  SourceId group_asker_ = 0;         // other loops' requests come from this local source
  bool upstream_elsewhere_ = false;
  struct Feed {
    std::shared_ptr<LoopLink> link;
    std::unique_ptr<LocalSubscription> sub;
  };
  std::map<LoopLink*, Feed> feeds_;  // tracks fed to other loops
  std::map<TrackKey, size_t> remote_pushed_;  // pushed tracks of other loops -> their loop
  std::map<MissingFetch*, std::unique_ptr<MissingFetch>> fetches_;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::function<void()> drain_done_;
  RelayStats closed_;  // counters of sessions and tracks already gone
  std::unique_ptr<session::Server> server_;  // last member: its sessions go first
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace moqt::relay
