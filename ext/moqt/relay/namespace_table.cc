#include "moqt/relay/namespace_table.h"

#include <algorithm>

namespace moqt::relay {

bool is_prefix(const TrackNamespace& prefix, const TrackNamespace& ns) {
  return prefix.size() <= ns.size() && std::equal(prefix.begin(), prefix.end(), ns.begin());
}

bool NamespaceTable::add(const TrackNamespace& ns, SourceId source) {
  std::vector<SourceId>& v = sources_[ns];
  if (std::find(v.begin(), v.end(), source) != v.end()) return false;
  v.push_back(source);
  if (v.size() == 1) notify(ns, true);
  return true;
}

bool NamespaceTable::remove(const TrackNamespace& ns, SourceId source) {
  auto it = sources_.find(ns);
  if (it == sources_.end()) return false;
  auto pos = std::find(it->second.begin(), it->second.end(), source);
  if (pos == it->second.end()) return false;
  it->second.erase(pos);
  if (it->second.empty()) {
    sources_.erase(it);
    notify(ns, false);
  }
  return true;
}

std::vector<TrackNamespace> NamespaceTable::remove_source(SourceId source) {
  std::vector<TrackNamespace> had;
  for (const auto& [ns, v] : sources_)
    if (std::find(v.begin(), v.end(), source) != v.end()) had.push_back(ns);
  for (const TrackNamespace& ns : had) remove(ns, source);
  return had;
}

std::optional<SourceId> NamespaceTable::route(const TrackNamespace& track_ns) const {
  // Longest prefix first: the namespace itself, then shorter ones.
  for (size_t n = track_ns.size(); n > 0; --n) {
    auto it = sources_.find(TrackNamespace(track_ns.begin(), track_ns.begin() + long(n)));
    if (it != sources_.end()) return it->second.back();
  }
  return std::nullopt;
}

std::vector<TrackNamespace> NamespaceTable::under(const TrackNamespace& prefix) const {
  std::vector<TrackNamespace> out;
  for (auto it = sources_.lower_bound(prefix); it != sources_.end() && is_prefix(prefix, it->first); ++it)
    out.push_back(it->first);
  return out;
}

NamespaceTable::WatchId NamespaceTable::watch(const TrackNamespace& prefix, Watcher w) {
  const WatchId id = next_watch_++;
  watchers_.emplace(id, std::make_pair(prefix, std::move(w)));
  return id;
}

void NamespaceTable::unwatch(WatchId id) { watchers_.erase(id); }

void NamespaceTable::notify(const TrackNamespace& ns, bool active) {
  // Copied: a watcher may unwatch (itself or others) while being called.
  std::vector<WatchId> ids;
  for (const auto& [id, w] : watchers_)
    if (is_prefix(w.first, ns)) ids.push_back(id);
  for (WatchId id : ids) {
    auto it = watchers_.find(id);
    if (it != watchers_.end()) {
      Watcher w = it->second.second;
      w(ns, active);
    }
  }
}

}  // namespace moqt::relay
