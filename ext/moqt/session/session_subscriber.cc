#include "moqt/session/session_internal.h"

// Subscriber role: our SUBSCRIBE / FETCH / TRACK_STATUS / SUBSCRIBE_NAMESPACE requests and
// the peer's replies to them.
namespace moqt::session {

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
  r.track_properties = m.track_properties;
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
    sub->forward = m.params.forward.value_or(std::get<Publish>(r.msg).params.forward.value_or(true));
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
    sub->joining = largest;
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

std::optional<uint64_t> Session::subscribe_tracks(const TrackNamespace& prefix, std::function<void(bool, uint64_t)> done,
                                                 bool forward) {
  Request* r = nullptr;
  // Built as -18 says; send_request() words it for the draft the session ends up with.
  auto id = new_request(
      [&](uint64_t rid) {
        SubscribeTracks s;
        s.request_id = rid;
        s.prefix = prefix;
        if (!forward) s.params.forward = false;
        return ControlMessage(s);
      },
      &r);
  if (id) {
    r->done = std::move(done);
    r->ns = prefix;
  }
  return id;
}

void Session::unsubscribe_namespace(uint64_t request_id) {
  auto rit = requests_.find(request_id);
  if (rit == requests_.end()) {
    std::erase_if(blocked_requests_, [request_id](const auto& b) { return b->id == request_id; });
    return;
  }
  Request& r = *rit->second;
  if (r.kind != MessageKind::kSubscribeNamespace && r.kind != MessageKind::kSubscribeTracks) return;
  if (r.timer) t_.loop().cancel_timer(r.timer);
  if (r.stream >= 0) {
    // -16/-18: the request has its own stream; withdrawing it ends the request.
    t_.reset_stream(r.stream, kResetCancelled);
    t_.stop_sending(r.stream, kResetCancelled);
    request_streams_.erase(r.stream);
    request_parsers_.erase(r.stream);
  } else if (r.sent) {
    send_control(UnsubscribeNamespace{r.ns});  // -14
  }
  requests_.erase(rit);
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

}  // namespace moqt::session
