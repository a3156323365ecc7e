#include "moqt/session/session_internal.h"

// Publisher role: answering the peer's SUBSCRIBE / FETCH / TRACK_STATUS / namespace requests
// from the TrackSource, and what we publish (PUBLISH_NAMESPACE, PUBLISH).
namespace moqt::session {

// -------------------------------------------------------------------------------------------
// Publisher side: answering requests

uint64_t Session::lookup_error_code(LookupError e) const {
  switch (e) {
    case LookupError::kDoesNotExist: return does_not_exist(draft_);
    case LookupError::kUnauthorized: return 0x1;
    case LookupError::kTimeout: return 0x2;
    case LookupError::kExcessiveLoad: return draft_ == Draft::k18 ? 0x9 : 0x0;
    case LookupError::kNotSupported: return not_supported();
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
  if (out_subs_.size() >= cfg_.max_incoming_subscriptions) {
    if (handler_) handler_->on_limit("max_incoming_subscriptions (" + std::to_string(cfg_.max_incoming_subscriptions) + ")");
    return error(lookup_error_code(LookupError::kExcessiveLoad), "too many subscriptions");
  }
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
  sub->joining = largest;
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
    // Relative: {Joining Location.Group - Joining Start, 0}, the Joining Location being the
    // Largest Location SUBSCRIBE_OK told (-18 §9.16.3). It ends before the subscription's first
    // object: one that starts at its group's object 0 (a relay's fast join) covers that group.
    const uint64_t jg = it->second->joining ? it->second->joining->group
                        : joining.object == 0 && joining.group > 0 ? joining.group - 1
                                                                  : joining.group;
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
  // Groups before the oldest cached one: the TrackSource (a relay) may fetch them from its source.
  const std::optional<Location> largest = track->largest();
  const std::optional<uint64_t> oldest = track->oldest_cached_group();
  if (tracks_ && largest && !(*largest < start) && (!oldest || start.group < *oldest)) {
    Location miss_end = oldest ? Location{*oldest - 1, UINT64_MAX} : *largest;
    if (end_incl < miss_end) miss_end = end_incl;
    pending_lookups_.insert(m.request_id);  // a cancel while we wait ends it
    const bool asked = tracks_->fetch_missing(
        *this, track->name(), start, miss_end,
        [this, alive = alive_, m, track, start, end_incl, order](std::vector<Object> older) {
          if (!*alive || state_ != State::kReady || !pending_lookups_.erase(m.request_id)) return;
          send_fetch(m, track, start, end_incl, order, std::move(older));
        });
    if (asked) return;
    pending_lookups_.erase(m.request_id);
  }
  send_fetch(m, track, start, end_incl, order, {});
}

void Session::send_fetch(const Fetch& m, const std::shared_ptr<TrackPublisher>& track, Location start,
                         Location end_incl, GroupOrder order, std::vector<Object> older) {
  auto error = [&](uint64_t code, const std::string& reason) {
    RequestError e{RequestKind::kFetch, m.request_id, code, 0, reason, {}};
    reply(m.request_id, e, true);
  };
  std::vector<const Object*> objs = track->cached_range(start, end_incl, order);
  if (!older.empty()) {
    // Older groups first (ascending) or last (descending); objects ascend within a group.
    for (const Object& o : older)
      if (!(o.location < start) && !(end_incl < o.location)) objs.push_back(&o);
    std::stable_sort(objs.begin(), objs.end(), [order](const Object* a, const Object* b) {
      if (a->location.group != b->location.group)
        return order == GroupOrder::kDescending ? a->location.group > b->location.group
                                                : a->location.group < b->location.group;
      return a->location.object < b->location.object;
    });
    objs.erase(std::unique(objs.begin(), objs.end(),
                           [](const Object* a, const Object* b) {
                             return a->location == b->location && a->subgroup == b->subgroup;
                           }),
               objs.end());
  }
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
  // -16 says in the message what the subscriber wants: NAMESPACE messages, PUBLISHes, or both.
  const bool want_namespaces = draft_ != Draft::k16 || m.options != wire::SubscribeOptions::kPublish;
  const bool want_tracks = draft_ == Draft::k16 && m.options != wire::SubscribeOptions::kNamespace;
  LookupError e = LookupError::kDoesNotExist;
  std::optional<std::vector<TrackNamespace>> now;
  if (!want_namespaces) now.emplace();
  else if (tracks_) now = tracks_->watch_namespaces(*this, m.request_id, m.prefix, &e);
  std::optional<std::vector<std::shared_ptr<TrackPublisher>>> tracks_now;
  if (now && want_tracks) {
    LookupError te = LookupError::kNotSupported;
    tracks_now = start_track_watch(m.request_id, m.prefix, true, &te);
    // "Both" from a source that cannot push tracks still gets the namespaces.
    if (!tracks_now && !(want_namespaces && te == LookupError::kNotSupported)) {
      if (want_namespaces && tracks_) tracks_->unwatch_namespaces(*this, m.request_id);
      now.reset();
      e = te;
    }
  }
  if (!now) {
    const uint64_t code = e == LookupError::kDoesNotExist ? (draft_ == Draft::k14 ? 0x4 : does_not_exist(draft_))
                                                          : lookup_error_code(e);
    RequestError err{RequestKind::kSubscribeNamespace, m.request_id, code, 0, "namespace subscription refused", {}};
    reply(m.request_id, err, true);
    return;
  }
  if (tracks_ && want_namespaces) namespace_watches_[m.request_id] = m.prefix;
  reply(m.request_id, RequestOk{RequestKind::kSubscribeNamespace, m.request_id, {}, {}});
  for (const TrackNamespace& ns : *now) namespace_update(m.request_id, ns, true);
  if (tracks_now)
    for (auto& t : *tracks_now) push_track(m.request_id, t);
}

void Session::on_subscribe_tracks(const SubscribeTracks& m, StreamId) {
  if (!check_incoming_request_id(m.request_id)) return;
  auto refuse = [&](uint64_t code, const char* why) {
    reply(m.request_id, RequestError{RequestKind::kSubscribeTracks, m.request_id, code, 0, why, {}}, true);
  };
  // -18 §10.19: a prefix that shares a common prefix with an established one is an overlap.
  for (auto& [id, w] : track_watches_) {
    const size_t n = std::min(w.prefix.size(), m.prefix.size());
    if (std::equal(w.prefix.begin(), w.prefix.begin() + long(n), m.prefix.begin()))
      return refuse(0x30, "prefix overlaps an established SUBSCRIBE_TRACKS");  // PREFIX_OVERLAP
  }
  LookupError e = LookupError::kNotSupported;
  auto now = start_track_watch(m.request_id, m.prefix, m.params.forward.value_or(true), &e);
  if (!now) return refuse(lookup_error_code(e), "track subscription refused");
  reply(m.request_id, RequestOk{RequestKind::kSubscribeTracks, m.request_id, {}, {}});
  for (auto& t : *now) push_track(m.request_id, t);
}

std::optional<std::vector<std::shared_ptr<TrackPublisher>>> Session::start_track_watch(uint64_t request_id,
                                                                                      const TrackNamespace& prefix,
                                                                                      bool forward, LookupError* error) {
  if (!tracks_) {
    *error = LookupError::kNotSupported;
    return std::nullopt;
  }
  // Registered first: the source may push at once.
  track_watches_[request_id] = TrackWatch{prefix, forward};
  auto now = tracks_->watch_tracks(*this, request_id, prefix, error);
  if (!now) track_watches_.erase(request_id);
  return now;
}

void Session::end_track_watch(uint64_t request_id) {
  if (track_watches_.erase(request_id) && tracks_) tracks_->unwatch_tracks(*this, request_id);
}

std::optional<uint64_t> Session::push_track(uint64_t request_id, std::shared_ptr<TrackPublisher> track,
                                            std::function<void(bool, uint64_t)> done) {
  if (state_ != State::kReady) return std::nullopt;
  auto w = track_watches_.find(request_id);
  if (w == track_watches_.end()) return std::nullopt;
  const TrackNamespace& prefix = w->second.prefix;
  const TrackNamespace& ns = track->name().ns;
  if (ns.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), ns.begin())) return std::nullopt;
  return publish(std::move(track), std::move(done), w->second.forward);
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
  end_track_watch(request_id);
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
  r.track_properties = m.track_properties;
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

std::optional<uint64_t> Session::publish(std::shared_ptr<TrackPublisher> track, std::function<void(bool, uint64_t)> done,
                                         bool forward) {
  Request* r = nullptr;
  const uint64_t alias = next_track_alias_++;
  auto id = new_request(
      [&](uint64_t rid) {
        Publish p;
        p.request_id = rid;
        p.track = track->name();
        p.track_alias = alias;
        p.params.forward = forward;
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
  while (!track_watches_.empty()) end_track_watch(track_watches_.begin()->first);
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

}  // namespace moqt::session
