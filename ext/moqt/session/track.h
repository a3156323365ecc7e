// A locally published track: the application writes objects into it; every session subscribed
// to it (and every FETCH) reads from it. It keeps a bounded cache of recent groups so late
// joiners and FETCHes can be served, and knows whether anyone is listening so producers can
// skip work.
//
// Threads: a TrackPublisher belongs to one EventLoop thread (the one its sessions run on). Other
// threads hand objects over with EventLoop::post; payloads are SendBuffers, so one payload is
// shared by the cache and by every subscriber's stream without copies.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "moqt/quic/transport.h"
#include "moqt/wire/data_codec.h"
#include "moqt/wire/types.h"

namespace moqt::session {

class Session;
using wire::FullTrackName;
using wire::KeyValueList;
using wire::Location;
using wire::ObjectStatus;

// One object as published (immutable once written).
struct Object {
  Location location;
  uint64_t subgroup = 0;
  uint8_t publisher_priority = 128;
  ObjectStatus status = ObjectStatus::kNormal;
  KeyValueList properties;
  quic::SendBuffer payload;
  bool datagram = false;  // forwarding preference Datagram (no subgroup stream)
  // How the subgroup stream this object opens is announced (the first object of a subgroup
  // decides): nullopt = the compact form (no id field for subgroup 0); kExplicit; kFirstObject
  // (only when the subgroup id equals this object's id). Forms a draft cannot express fall back.
  std::optional<wire::SubgroupIdMode> header_mode;
  bool end_of_group_header = false;  // the header says this subgroup holds the group's last object
};

enum class TrackEnd : uint8_t { kTrackEnded, kPublisherGone };

// What a subscription (inside a session) implements to receive a track's objects live.
class ObjectSink {
 public:
  virtual ~ObjectSink() = default;
  virtual void on_object(const Object& o) = 0;
  // No more objects in this subgroup: close its stream (FIN).
  virtual void on_subgroup_end(uint64_t group, uint64_t subgroup) = 0;
  // The publisher abandoned the subgroup: reset its stream (objects not yet sent are lost).
  virtual void on_subgroup_reset(uint64_t /*group*/, uint64_t /*subgroup*/) {}
  virtual void on_track_end(TrackEnd why) = 0;
};

struct TrackOptions {
  uint8_t publisher_priority = 128;
  wire::GroupOrder group_order = wire::GroupOrder::kAscending;
  size_t cache_groups = 4;              // recent groups kept for joiners and FETCH
  size_t cache_bytes = 32 << 20;        // and at most this many payload bytes (a group alone over it is not cached)
  // And no group whose last object was written longer ago than this (0 = no age bound). Checked
  // on every write and by trim_cache(): a track nobody writes to any more keeps its groups until
  // its owner calls trim_cache() (TrackPublisher has no timer; cache_expiry() says when).
  std::chrono::milliseconds cache_max_age{0};
  uint64_t delivery_timeout_ms = 0;     // track-level default (0 = none)
  bool object_properties = false;       // objects carry properties (LOC metadata etc.)
};

class TrackPublisher : public std::enable_shared_from_this<TrackPublisher> {
 public:
  TrackPublisher(FullTrackName name, TrackOptions opts);
  ~TrackPublisher();

  const FullTrackName& name() const { return name_; }
  const TrackOptions& options() const { return opts_; }

  // Writes the next object. Objects of a group must not go backwards in (subgroup, object);
  // a new group id ends the previous group's subgroups. Returns false (and drops the object)
  // if it would go backwards or the track has ended.
  bool write(Object o);
  // Ends a subgroup early (its stream gets a FIN) / ends the whole group.
  void end_subgroup(uint64_t group, uint64_t subgroup);
  // Abandons a subgroup: its streams are reset; later objects of it are refused.
  void reset_subgroup(uint64_t group, uint64_t subgroup);
  void end_group(uint64_t group);
  // No more objects ever: subscribers get PUBLISH_DONE(TRACK_ENDED).
  void finish(TrackEnd why = TrackEnd::kTrackEnded);
  bool finished() const { return finished_; }

  std::optional<Location> largest() const { return largest_; }
  bool has_subscribers() const { return !sinks_.empty(); }
  size_t subscriber_count() const { return sinks_.size(); }
  // Notified when the subscriber count changes (e.g. to start/stop an encoder).
  void set_on_subscribers(std::function<void(size_t)> cb) { on_subscribers_ = std::move(cb); }

  void add_sink(ObjectSink* s);
  void remove_sink(ObjectSink* s);

  // Cached objects with start <= location <= end (end.object == 0 with whole_end_group means
  // "the whole end group"), in the given group order, objects ascending within a group.
  std::vector<const Object*> cached_range(Location start, Location end_inclusive,
                                          wire::GroupOrder order) const;
  // Groups in the cache, oldest first.
  std::vector<uint64_t> cached_groups() const;
  std::optional<uint64_t> oldest_cached_group() const;
  size_t cached_bytes() const { return cache_bytes_; }
  // Applies the cache bounds as of `now` (the age bound needs the clock; count and bytes are
  // applied on every write anyway): groups whose last object was written before
  // now - cache_max_age go, the newest one included (its later objects are then not cached
  // either: the cache never holds a group without its start). Returns the groups dropped.
  size_t trim_cache(std::chrono::steady_clock::time_point now);
  // When the oldest cached group gets too old (nullopt: no age bound or nothing cached): an
  // owner with a timer calls trim_cache() then.
  std::optional<std::chrono::steady_clock::time_point> cache_expiry() const;

 private:
  struct Group {
    uint64_t id;
    std::vector<Object> objects;  // in write order
    size_t bytes = 0;
    std::set<uint64_t> open_subgroups;
    std::set<uint64_t> reset_subgroups;
    std::map<uint64_t, uint64_t> last_object;  // subgroup -> last object id (stream objects)
    bool uncached = false;  // alone over cache_bytes, or expired: its objects are not kept
    std::chrono::steady_clock::time_point last_write{};  // of its last object (age bound)
  };
  size_t enforce_bounds(std::optional<std::chrono::steady_clock::time_point> now);
  void uncache_newest();

  FullTrackName name_;
  TrackOptions opts_;
  std::deque<Group> groups_;  // ascending group ids
  size_t cache_bytes_ = 0;
  std::optional<Location> largest_;
  std::set<ObjectSink*> sinks_;
  std::function<void(size_t)> on_subscribers_;
  bool finished_ = false;
};

// Where a session finds the tracks its peer asks for (SUBSCRIBE, FETCH, TRACK_STATUS) and the
// namespaces a SUBSCRIBE_NAMESPACE sees. A TrackRegistry answers at once from local tracks; a
// relay answers later, once it has subscribed upstream.
enum class RequestFor : uint8_t { kSubscribe, kFetch, kTrackStatus };
enum class LookupError : uint8_t { kNone, kDoesNotExist, kUnauthorized, kTimeout, kInternal, kExcessiveLoad, kNotSupported };

class TrackSource {
 public:
  virtual ~TrackSource() = default;
  // The track, or nullptr and why not. Called exactly once, now or later, on the asking
  // session's loop thread; the session ignores an answer that comes after it closed or after
  // the request was cancelled.
  using Answer = std::function<void(std::shared_ptr<TrackPublisher>, LookupError, const std::string& reason)>;
  virtual void find_track(Session& asker, const FullTrackName& name, RequestFor why, Answer answer) = 0;
  // SUBSCRIBE_NAMESPACE: nullopt refuses (with `*error`); else the namespaces under `prefix`
  // now. A source that can tell later changes calls Session::namespace_update(request_id, ...)
  // until unwatch_namespaces (the request ended or the session closed).
  virtual std::optional<std::vector<wire::TrackNamespace>> watch_namespaces(Session& asker, uint64_t request_id,
                                                                            const wire::TrackNamespace& prefix,
                                                                            LookupError* error) = 0;
  virtual void unwatch_namespaces(Session& /*asker*/, uint64_t /*request_id*/) {}
  // SUBSCRIBE_TRACKS (-18; -16 SUBSCRIBE_NAMESPACE asking for PUBLISH): nullopt refuses (with
  // `*error`); else the tracks under `prefix` now, which the session PUBLISHes to the asker. A
  // source that learns of later tracks calls Session::push_track(request_id, ...) until
  // unwatch_tracks (the request ended or the session closed). Not every source can.
  virtual std::optional<std::vector<std::shared_ptr<TrackPublisher>>> watch_tracks(Session& /*asker*/,
                                                                                  uint64_t /*request_id*/,
                                                                                  const wire::TrackNamespace& /*prefix*/,
                                                                                  LookupError* error) {
    *error = LookupError::kNotSupported;
    return std::nullopt;
  }
  virtual void unwatch_tracks(Session& /*asker*/, uint64_t /*request_id*/) {}
  // FETCH of a range the track's cache no longer has (start..end_incl, groups older than its
  // oldest cached one): a source that can get it from its own source (a relay) returns true and
  // calls `done` once, on the asker's loop, with the objects it got in ascending order (fewer or
  // none on failure). false: the FETCH is answered from the cache alone.
  using FetchDone = std::function<void(std::vector<Object>)>;
  virtual bool fetch_missing(Session& /*asker*/, const FullTrackName& /*name*/, Location /*start*/,
                             Location /*end_incl*/, FetchDone /*done*/) {
    return false;
  }
};

// Local tracks by name: what a publisher application serves.
class TrackRegistry : public TrackSource {
 public:
  void add(std::shared_ptr<TrackPublisher> t);
  void remove(const FullTrackName& n);
  std::shared_ptr<TrackPublisher> find(const FullTrackName& n) const;
  std::vector<wire::TrackNamespace> namespaces() const;

  // TrackSource
  void find_track(Session& asker, const FullTrackName& name, RequestFor why, Answer answer) override;
  std::optional<std::vector<wire::TrackNamespace>> watch_namespaces(Session& asker, uint64_t request_id,
                                                                    const wire::TrackNamespace& prefix,
                                                                    LookupError* error) override;

 private:
  std::map<std::pair<wire::TrackNamespace, std::string>, std::shared_ptr<TrackPublisher>> tracks_;
};

}  // namespace moqt::session
