// Namespace routing for the relay: which source (a publisher's session, or an upstream relay)
// serves a track namespace. PUBLISH_NAMESPACE and PUBLISH register a source for a namespace; a
// SUBSCRIBE, FETCH or TRACK_STATUS is routed to the source of the longest registered prefix of
// the track's namespace; SUBSCRIBE_NAMESPACE subscribers watch a prefix and hear namespaces under
// it appear and go.
//
// Several sources may register the same namespace (a publisher reconnecting before its old
// session timed out, a backup encoder): the newest one serves it, and when it goes the previous
// one takes over. A closed session drops everything it registered at once (remove_source), so a
// new publisher is served the moment the old one is gone.
//
// Pure data structure: no I/O, not thread-safe (owned by one relay loop thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "moqt/wire/types.h"

namespace moqt::relay {

using wire::TrackNamespace;
using SourceId = uint64_t;

class NamespaceTable {
 public:
  using WatchId = uint64_t;
  // (namespace, true) when it gets its first source; (namespace, false) when its last one goes.
  using Watcher = std::function<void(const TrackNamespace& ns, bool active)>;

  // Registers `source` for `ns` (newest first). False if it already had it.
  bool add(const TrackNamespace& ns, SourceId source);
  // Unregisters one (namespace, source). False if it was not registered.
  bool remove(const TrackNamespace& ns, SourceId source);
  // Unregisters everything `source` registered; returns the namespaces it had.
  std::vector<TrackNamespace> remove_source(SourceId source);

  // The source serving a track in `track_ns`: the newest source of the longest registered
  // prefix of `track_ns` (the namespace itself included).
  std::optional<SourceId> route(const TrackNamespace& track_ns) const;
  // Namespaces with a source, equal to or under `prefix`, in order.
  std::vector<TrackNamespace> under(const TrackNamespace& prefix) const;
  size_t size() const { return sources_.size(); }

  // Watches `prefix`; the watcher is not called for what exists already (use under()).
  WatchId watch(const TrackNamespace& prefix, Watcher w);
  void unwatch(WatchId id);

 private:
  void notify(const TrackNamespace& ns, bool active);

  std::map<TrackNamespace, std::vector<SourceId>> sources_;  // newest last
  std::map<WatchId, std::pair<TrackNamespace, Watcher>> watchers_;
  WatchId next_watch_ = 1;
};

bool is_prefix(const TrackNamespace& prefix, const TrackNamespace& ns);

}  // namespace moqt::relay
