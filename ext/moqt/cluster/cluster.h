// The relay cluster's control plane in Redis: which relays are alive (membership, with their load)
// and which relay is the origin of each namespace (leases). Media never goes through Redis:
// relays subscribe to each other over MoQT (the relay's own chaining); this class only answers
// "who has this namespace" and tells of namespaces coming and going elsewhere.
//
// Keys (P = key prefix, "moq" by default; docs/cluster.md has the costs):
//   P:node:ID        "URL SESSIONS EGRESS_BPS"  PX ttl, renewed every ttl/3 (membership)
//   P:nodes          set of node ids (members whose node key lapsed are pruned when listed)
//   P:origin:NS      "ID URL"                   PX ttl, renewed every ttl/3 (origin lease)
//   P:namespaces     pub/sub channel: "+ ID NS" / "- ID NS"
// NS is the namespace's fields joined by '/', each field percent-encoded ('/', '%', bytes
// outside printable ASCII).
//
// Conflicts: the first relay to claim a namespace holds it (SET NX) until it withdraws it or its
// lease lapses; a second relay announcing the same namespace serves its own publisher locally,
// counts a conflict, and takes the lease over at its next renewal once it is free. Every relay
// applies the same rule, so remote viewers always go to the holder.
//
// Redis down: lookups fail at once with an error (the relay retries with backoff); claims and
// membership are restored when the connection comes back (the next renewal), the namespace
// channel is subscribed again and remote namespaces are listed again.
//
// Threads: a Cluster lives on one EventLoop thread; every method there, every callback there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "moqt/cluster/redis_client.h"
#include "moqt/quic/event_loop.h"
#include "moqt/wire/types.h"

namespace moqt::cluster {

struct ClusterConfig {
  std::string redis;      // redis://[:password@]host:port/db
  std::string node_id;    // [A-Za-z0-9._-], unique in the cluster
  std::string advertise;  // how other relays reach this one: moqt://host:port/path or https://...
  std::string key_prefix = "moq";
  std::chrono::milliseconds ttl{3000};  // membership and origin leases (renewed every ttl/3)
  std::chrono::milliseconds command_timeout{1000};
};

struct NodeInfo {
  std::string id, url;
  uint64_t sessions = 0, egress_bps = 0;
};

struct ClusterStats {
  uint64_t lookups = 0, lookup_misses = 0, lookup_errors = 0;
  uint64_t claims = 0, conflicts = 0;  // namespaces claimed; announced here but held elsewhere
  uint64_t redis_errors = 0;
  bool connected = false;
};

std::string encode_namespace(const wire::TrackNamespace& ns);
std::optional<wire::TrackNamespace> decode_namespace(const std::string& s);

class Cluster {
 public:
  // Checks the configuration (node id, advertise URL, Redis URL; resolves the Redis host).
  static std::unique_ptr<Cluster> create(quic::EventLoop& loop, ClusterConfig cfg, std::string* error);
  // The same checks without creating anything; `*field` names what is wrong ("redis", "node_id",
  // "advertise", "ttl").
  static bool check(const ClusterConfig& cfg, std::string* error, std::string* field = nullptr);
  ~Cluster();

  // Connects, registers this node and keeps everything renewed until destroyed.
  void start();
  const ClusterConfig& config() const { return cfg_; }
  void set_log(std::function<void(const std::string&)> log) { log_ = std::move(log); }
  ClusterStats stats() const;

  // Load published with the membership record (for GOAWAY targets).
  void set_load(uint64_t sessions, uint64_t egress_bps) {
    sessions_ = sessions;
    egress_bps_ = egress_bps;
  }

  // This node is an origin of `ns` (a publisher announced it here) until withdraw(); reference
  // counted per namespace by the caller.
  void announce(const wire::TrackNamespace& ns);
  void withdraw(const wire::TrackNamespace& ns);
  bool holds(const wire::TrackNamespace& ns) const { return held_.count(ns) > 0; }

  // The node holding the longest registered prefix of `ns` (nullopt and "" if none; nullopt and
  // the reason if Redis could not be asked). May be this node.
  using LookupDone = std::function<void(std::optional<NodeInfo>, const std::string& error)>;
  void lookup(const wire::TrackNamespace& ns, LookupDone done);
  // Live members (this one included), least loaded first.
  void members(std::function<void(std::vector<NodeInfo>, const std::string& error)> done);

  // Namespaces held by other nodes appearing and going (announcements, withdrawals, lapsed
  // leases of dead relays within about one ttl).
  void set_on_remote_namespace(std::function<void(const wire::TrackNamespace&, bool active)> cb) {
    on_remote_ = std::move(cb);
  }
  std::vector<wire::TrackNamespace> remote_namespaces() const;
  // A remote namespace is (now) held by `node` (it appeared, or moved: its publisher reconnected
  // there): a relay still pulling it from another node switches now rather than at its link's
  // idle timeout.
  void set_on_origin_moved(std::function<void(const wire::TrackNamespace&, const std::string& node)> cb) {
    on_moved_ = std::move(cb);
  }

 private:
  Cluster(quic::EventLoop& loop, ClusterConfig cfg, RedisOptions ro);
  std::string key(const std::string& kind, const std::string& rest) const;
  void renew();                                  // membership + every claim
  void schedule_renew();
  void schedule_check();
  void claim(std::vector<wire::TrackNamespace> batch);
  void on_message(const std::string& message);
  // All origins now (after (re)connecting); `removals`: what is not listed any more ends.
  void rescan(bool removals);
  void scan_step(const std::string& cursor, std::shared_ptr<std::map<wire::TrackNamespace, std::string>> found,
                 bool removals);
  void check_remote();                           // lapsed leases of remote namespaces
  void set_remote(const wire::TrackNamespace& ns, const std::string& node, bool active);
  void log(const std::string& line);

  quic::EventLoop& loop_;
  ClusterConfig cfg_;
  std::string redis_display_;  // the address without the password
  std::unique_ptr<RedisClient> redis_, sub_;
  std::function<void(const std::string&)> log_;
  std::function<void(const wire::TrackNamespace&, bool)> on_remote_;
  std::function<void(const wire::TrackNamespace&, const std::string&)> on_moved_;
  std::map<wire::TrackNamespace, int> announced_;  // by local publishers (refs)
  std::set<wire::TrackNamespace> held_;            // of those, the leases this node holds
  std::set<wire::TrackNamespace> conflicted_;      // held elsewhere (logged once)
  std::map<wire::TrackNamespace, std::string> remote_;  // held by other nodes -> node id
  uint64_t sessions_ = 0, egress_bps_ = 0;
  quic::EventLoop::TimerId renew_timer_ = 0, check_timer_ = 0;
  quic::EventLoop::TimePoint quiet_until_{};  // after a reconnect: no removals until then
  ClusterStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace moqt::cluster
