#include "moqt/relay/relay_group.h"

#include <future>

#include <thread>

namespace moqt::relay {

namespace {

// "host:port" with the port replaced (the host part may be "[v6]").
std::string with_port(const std::string& listen, uint16_t port) {
  const auto colon = listen.rfind(':');
  return (colon == std::string::npos ? listen : listen.substr(0, colon)) + ":" + std::to_string(port);
}

void add(RelayStats& a, const RelayStats& b) {
  a.sessions += b.sessions;
  a.tracks += b.tracks;
  a.upstream_subscriptions += b.upstream_subscriptions;
  a.pushed_tracks += b.pushed_tracks;
  a.downstream_subscriptions += b.downstream_subscriptions;
  a.namespaces = std::max(a.namespaces, b.namespaces);  // every loop knows every namespace
  a.held_requests += b.held_requests;
  a.upstream_connected = a.upstream_connected || b.upstream_connected;
  a.cache_bytes += b.cache_bytes;
  a.sessions_opened += b.sessions_opened;
  a.sessions_closed += b.sessions_closed;
  a.objects_in += b.objects_in;
  a.objects_out += b.objects_out;
  a.bytes_in += b.bytes_in;
  a.bytes_out += b.bytes_out;
  a.objects_dropped += b.objects_dropped;
  a.streams_reset_congestion += b.streams_reset_congestion;
  a.streams_reset_timeout += b.streams_reset_timeout;
  a.requests_refused += b.requests_refused;
  a.limit_hits += b.limit_hits;
  a.upstream_connects += b.upstream_connects;
  a.auth_refused += b.auth_refused;
  a.fetches_forwarded += b.fetches_forwarded;
  a.tracks_pushed += b.tracks_pushed;
  a.cluster_connected = a.cluster_connected || b.cluster_connected;
  a.cluster_links += b.cluster_links;
  a.cluster_lookup_errors += b.cluster_lookup_errors;
  a.loop_links += b.loop_links;
  a.loop_link_drops += b.loop_link_drops;
}

}  // namespace

std::unique_ptr<RelayGroup> RelayGroup::start(size_t loops, RelayConfig cfg, std::string* error,
                                              std::function<void(Relay&)> setup) {
  std::unique_ptr<RelayGroup> g(new RelayGroup());
  loops = std::max<size_t>(1, loops);
  const bool many = loops > 1;
  // Relay 0 holds the upstream and cluster sessions for all; the others go through it.
  const bool upstream = !cfg.upstream.empty() || !cfg.cluster.redis.empty();
  for (size_t i = 0; i < loops; ++i) {
    auto sh = std::make_unique<Shard>();
    sh->loop = std::make_unique<quic::EventLoop>();
    sh->loop->start("relay-" + std::to_string(i));
    RelayConfig c = cfg;
    c.server.quic.reuse_port = many;
    if (i > 0) {
      c.server.listen = with_port(cfg.server.listen, g->port_);
      c.upstream.clear();
      c.cluster.redis.clear();
    }
    Shard* raw = sh.get();
    g->shards_.push_back(std::move(sh));
    raw->loop->run_sync([&] {
      raw->relay = Relay::start(*raw->loop, c, error);
      if (!raw->relay) return;
      // Before any session can reach it: same loop turn.
      if (many) raw->relay->join_group(i, loops, g.get(), upstream && i > 0);
      if (setup) setup(*raw->relay);
      if (i == 0) {
        g->port_ = raw->relay->address().port();
        g->address_ = raw->relay->address().to_string();
      }
    });
    if (!raw->relay) {
      if (error) *error = "loop " + std::to_string(i) + ": " + *error;
      return nullptr;
    }
  }
  // Namespaces announced on a loop before the later loops joined.
  if (many)
    for (size_t j = 0; j < loops; ++j) {
      Relay* r = g->relay(j);
      g->loop(j).run_sync([&] {
        for (const TrackNamespace& ns : r->own_namespaces()) g->namespace_changed(j, ns, true);
      });
    }
  return g;
}

RelayGroup::~RelayGroup() {
  stop();
  alive_->store(false);
  shards_.clear();  // each loop stops and joins
}

void RelayGroup::stop() {
  for (auto& sh : shards_)
    if (sh->relay) sh->loop->run_sync([&] { sh->relay.reset(); }, std::chrono::seconds(30));
}

RelayStats RelayGroup::stats() {
  RelayStats total;
  for (const RelayStats& s : stats_per_loop()) add(total, s);
  return total;
}

std::vector<RelayStats> RelayGroup::stats_per_loop() {
  // Shared: a loop that misses run_sync's timeout may still write its part later.
  auto out = std::make_shared<std::vector<RelayStats>>(shards_.size());
  for (size_t i = 0; i < shards_.size(); ++i) {
    Shard* sh = shards_[i].get();
    sh->loop->run_sync([sh, out, i] {
      if (sh->relay) (*out)[i] = sh->relay->stats();
    });
  }
  return *out;
}

std::vector<TrackNamespace> RelayGroup::namespaces(std::chrono::milliseconds timeout) {
  // Shared: loop 0 may still write it after run_sync's timeout.
  auto out = std::make_shared<std::vector<TrackNamespace>>();
  Shard* sh = shards_.empty() ? nullptr : shards_[0].get();
  if (!sh || !sh->loop->run_sync([sh, out] { if (sh->relay) *out = sh->relay->namespaces(); }, timeout)) return {};
  return *out;
}

void RelayGroup::drain_async(const std::string& new_uri, std::chrono::milliseconds grace, std::function<void()> done) {
  auto left = std::make_shared<std::atomic<size_t>>(shards_.size());
  auto last = [left, done = std::make_shared<std::function<void()>>(std::move(done))] {
    if (left->fetch_sub(1) == 1 && *done) (*done)();
  };
  for (auto& sh : shards_) {
    Shard* raw = sh.get();
    raw->loop->post([raw, new_uri, grace, last] {
      if (raw->relay) raw->relay->drain(new_uri, grace, last);
      else last();
    });
  }
}

void RelayGroup::drain(const std::string& new_uri, std::chrono::milliseconds grace) {
  auto finished = std::make_shared<std::atomic<bool>>(false);
  drain_async(new_uri, grace, [finished] { finished->store(true); });
  const auto deadline = std::chrono::steady_clock::now() + grace + std::chrono::seconds(2);
  while (!*finished && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// --- LoopPeers: called on one relay's loop, carried to the others ----------------------------------

void RelayGroup::namespace_changed(size_t from, const TrackNamespace& ns, bool active) {
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (i == from) continue;
    Shard* sh = shards_[i].get();
    sh->loop->post([sh, from, ns, active] {
      if (sh->relay) sh->relay->mirror_namespace(from, ns, active);
    });
  }
}

std::string RelayGroup::cluster_goaway_target(std::chrono::milliseconds timeout) {
  auto p = std::make_shared<std::promise<std::string>>();
  Shard* sh = shards_.at(0).get();
  sh->loop->post([sh, p] {
    if (!sh->relay) return p->set_value("");
    sh->relay->cluster_goaway_target([p](std::string url) { p->set_value(std::move(url)); });
  });
  auto f = p->get_future();
  return f.wait_for(timeout) == std::future_status::ready ? f.get() : "";
}

void RelayGroup::track_changed(size_t from, const wire::FullTrackName& name, bool active) {
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (i == from) continue;
    Shard* sh = shards_[i].get();
    sh->loop->post([sh, from, name, active] {
      if (sh->relay) sh->relay->mirror_pushed_track(from, name, active);
    });
  }
}

void RelayGroup::open_link(size_t to, std::shared_ptr<LoopLink> link) {
  Shard* sh = shards_.at(to).get();
  sh->loop->post([sh, link] {
    if (sh->relay) return sh->relay->feed_link(link);
    LinkEvent e;
    e.kind = LinkEvent::Kind::kRefused;
    e.error = session::LookupError::kInternal;
    e.reason = "relay stopping";
    link->push(std::move(e));
  });
}

void RelayGroup::close_link(size_t to, std::shared_ptr<LoopLink> link) {
  Shard* sh = shards_.at(to).get();
  sh->loop->post([sh, link] {
    if (sh->relay) sh->relay->unfeed_link(link);
  });
}

void RelayGroup::forward_watch(const TrackNamespace& prefix) {
  Shard* sh = shards_.at(0).get();
  sh->loop->post([sh, prefix] {
    if (sh->relay) sh->relay->forward_watch(prefix);
  });
}

}  // namespace moqt::relay
