#include "moqt/session/track.h"

#include <algorithm>

namespace moqt::session {

TrackPublisher::TrackPublisher(FullTrackName name, TrackOptions opts) : name_(std::move(name)), opts_(opts) {}

TrackPublisher::~TrackPublisher() {
  if (!finished_) finish(TrackEnd::kPublisherGone);
}

bool TrackPublisher::write(Object o) {
  if (finished_) return false;
  if (largest_ && o.location.group < largest_->group) return false;  // groups never go back
  if (groups_.empty() || groups_.back().id != o.location.group) {
    if (!groups_.empty()) end_group(groups_.back().id);
    // A group that was too big to cache holds nothing a joiner or FETCH could use.
    if (!groups_.empty() && groups_.back().uncached) groups_.pop_back();
    groups_.push_back(Group{o.location.group, {}, 0, {}});
  } else if (!o.datagram) {
    // Within a group, a subgroup's objects ascend.
    auto last = groups_.back().last_object.find(o.subgroup);
    if (last != groups_.back().last_object.end() && o.location.object <= last->second) return false;
  }
  Group& g = groups_.back();
  if (!o.datagram && g.reset_subgroups.count(o.subgroup)) return false;
  if (!o.datagram) {
    g.open_subgroups.insert(o.subgroup);
    g.last_object[o.subgroup] = o.location.object;
  }
  if (!largest_ || *largest_ < o.location) largest_ = o.location;
  std::optional<std::chrono::steady_clock::time_point> now;
  if (opts_.cache_max_age.count() > 0) g.last_write = *(now = std::chrono::steady_clock::now());
  const Object* stored = &o;
  if (!g.uncached) {
    g.bytes += o.payload.data.size();
    cache_bytes_ += o.payload.data.size();
    g.objects.push_back(std::move(o));
    stored = &g.objects.back();
  }
  // Copy the sink set: a sink may unsubscribe while being called.
  std::vector<ObjectSink*> sinks(sinks_.begin(), sinks_.end());
  for (ObjectSink* s : sinks)
    if (sinks_.count(s)) s->on_object(*stored);
  enforce_bounds(now);
  return true;
}

void TrackPublisher::end_subgroup(uint64_t group, uint64_t subgroup) {
  for (Group& g : groups_) {
    if (g.id != group || !g.open_subgroups.erase(subgroup)) continue;
    std::vector<ObjectSink*> sinks(sinks_.begin(), sinks_.end());
    for (ObjectSink* s : sinks)
      if (sinks_.count(s)) s->on_subgroup_end(group, subgroup);
  }
}

void TrackPublisher::reset_subgroup(uint64_t group, uint64_t subgroup) {
  for (Group& g : groups_) {
    if (g.id != group) continue;
    g.open_subgroups.erase(subgroup);
    g.reset_subgroups.insert(subgroup);
    std::vector<ObjectSink*> sinks(sinks_.begin(), sinks_.end());
    for (ObjectSink* s : sinks)
      if (sinks_.count(s)) s->on_subgroup_reset(group, subgroup);
  }
}

void TrackPublisher::end_group(uint64_t group) {
  for (Group& g : groups_) {
    if (g.id != group) continue;
    const std::set<uint64_t> open = g.open_subgroups;
    for (uint64_t sg : open) end_subgroup(group, sg);
  }
}

void TrackPublisher::finish(TrackEnd why) {
  if (finished_) return;
  if (!groups_.empty()) end_group(groups_.back().id);
  finished_ = true;
  std::vector<ObjectSink*> sinks(sinks_.begin(), sinks_.end());
  sinks_.clear();
  for (ObjectSink* s : sinks) s->on_track_end(why);
}

void TrackPublisher::add_sink(ObjectSink* s) {
  if (sinks_.insert(s).second && on_subscribers_) on_subscribers_(sinks_.size());
}

void TrackPublisher::remove_sink(ObjectSink* s) {
  if (sinks_.erase(s) && on_subscribers_) on_subscribers_(sinks_.size());
}

size_t TrackPublisher::trim_cache(std::chrono::steady_clock::time_point now) { return enforce_bounds(now); }

std::optional<std::chrono::steady_clock::time_point> TrackPublisher::cache_expiry() const {
  if (opts_.cache_max_age.count() <= 0) return std::nullopt;
  for (const Group& g : groups_)
    if (!g.uncached) return g.last_write + opts_.cache_max_age;
  return std::nullopt;
}

void TrackPublisher::uncache_newest() {
  Group& g = groups_.back();
  cache_bytes_ -= g.bytes;
  g.bytes = 0;
  g.objects.clear();
  g.objects.shrink_to_fit();
  g.uncached = true;
}

size_t TrackPublisher::enforce_bounds(std::optional<std::chrono::steady_clock::time_point> now) {
  size_t dropped = 0;
  // Only the newest group is written to, so last writes ascend along the deque: expired groups
  // are the oldest ones.
  const bool aged = now && opts_.cache_max_age.count() > 0;
  auto expired = [&](const Group& g) { return aged && *now - g.last_write > opts_.cache_max_age; };
  // Keep the newest group (a joiner needs it), drop the oldest beyond the limits.
  while (groups_.size() > 1 &&
         (groups_.size() > opts_.cache_groups || cache_bytes_ > opts_.cache_bytes || expired(groups_.front()))) {
    cache_bytes_ -= groups_.front().bytes;
    if (!groups_.front().uncached) ++dropped;
    groups_.pop_front();
  }
  // The newest group alone is over the byte bound (one endless group would grow without limit),
  // or nothing was written to it for longer than the age bound: it is not cached at all (nor its
  // later objects), so the cache never holds a group without its start. Joiners get its live
  // objects only.
  if (!groups_.empty() && !groups_.back().uncached && (cache_bytes_ > opts_.cache_bytes || expired(groups_.back()))) {
    uncache_newest();
    ++dropped;
  }
  return dropped;
}

std::vector<const Object*> TrackPublisher::cached_range(Location start, Location end, wire::GroupOrder order) const {
  std::vector<const Group*> gs;
  for (const Group& g : groups_)
    if (g.id >= start.group && g.id <= end.group) gs.push_back(&g);
  if (order == wire::GroupOrder::kDescending) std::reverse(gs.begin(), gs.end());
  std::vector<const Object*> out;
  for (const Group* g : gs) {
    std::vector<const Object*> objs;
    for (const Object& o : g->objects)
      if (start <= o.location && o.location <= end) objs.push_back(&o);
    std::stable_sort(objs.begin(), objs.end(),
                     [](const Object* a, const Object* b) { return a->location.object < b->location.object; });
    out.insert(out.end(), objs.begin(), objs.end());
  }
  return out;
}

std::vector<uint64_t> TrackPublisher::cached_groups() const {
  std::vector<uint64_t> v;
  for (const Group& g : groups_)
    if (!g.uncached) v.push_back(g.id);
  return v;
}

std::optional<uint64_t> TrackPublisher::oldest_cached_group() const {
  for (const Group& g : groups_)
    if (!g.uncached) return g.id;
  return std::nullopt;
}

void TrackRegistry::add(std::shared_ptr<TrackPublisher> t) { tracks_[{t->name().ns, t->name().name}] = std::move(t); }

void TrackRegistry::remove(const FullTrackName& n) { tracks_.erase({n.ns, n.name}); }

std::shared_ptr<TrackPublisher> TrackRegistry::find(const FullTrackName& n) const {
  auto it = tracks_.find({n.ns, n.name});
  return it == tracks_.end() ? nullptr : it->second;
}

std::vector<wire::TrackNamespace> TrackRegistry::namespaces() const {
  std::vector<wire::TrackNamespace> out;
  for (auto& [k, t] : tracks_)
    if (std::find(out.begin(), out.end(), k.first) == out.end()) out.push_back(k.first);
  return out;
}

void TrackRegistry::find_track(Session&, const FullTrackName& name, RequestFor, Answer answer) {
  std::shared_ptr<TrackPublisher> t = find(name);
  if (t && t->finished()) t.reset();
  answer(t, t ? LookupError::kNone : LookupError::kDoesNotExist, t ? "" : "no such track");
}

std::optional<std::vector<wire::TrackNamespace>> TrackRegistry::watch_namespaces(Session&, uint64_t,
                                                                                 const wire::TrackNamespace& prefix,
                                                                                 LookupError*) {
  std::vector<wire::TrackNamespace> out;
  for (const wire::TrackNamespace& ns : namespaces())
    if (ns.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), ns.begin())) out.push_back(ns);
  return out;
}

}  // namespace moqt::session
