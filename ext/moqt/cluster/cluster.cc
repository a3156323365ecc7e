#include "moqt/cluster/cluster.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace moqt::cluster {

using wire::TrackNamespace;

namespace {

// Renews what this node holds and claims what is free, in one round trip for a batch:
// 1 = renewed, 2 = claimed now (announced on the channel), 0 = held by another node.
// KEYS: origin keys. ARGV: value "ID URL", ttl ms, channel, node id, origin key prefix.
const char* kClaimScript = R"(
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2]); out[i] = 1
  elseif not v then
    redis.call('SET', k, ARGV[1], 'PX', ARGV[2]); out[i] = 2
    redis.call('PUBLISH', ARGV[3], '+ ' .. ARGV[4] .. ' ' .. string.sub(k, #ARGV[5] + 1))
  else
    out[i] = 0
  end
end
return out
)";

// Gives a lease up if this node still holds it. KEYS[1]: origin key. ARGV: value, channel, message.
const char* kReleaseScript = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1]); redis.call('PUBLISH', ARGV[2], ARGV[3]); return 1
end
return 0
)";

constexpr size_t kBatch = 256;         // keys per EVAL / MGET
constexpr size_t kMaxRemote = 100000;  // remote namespaces remembered

bool valid_node_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace

std::string encode_namespace(const TrackNamespace& ns) {
  std::string out;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (i) out += '/';
    for (unsigned char c : ns[i]) {
      if (c == '/' || c == '%' || c == ' ' || c < 0x21 || c > 0x7e) {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      } else {
        out += char(c);
      }
    }
  }
  return out;
}

std::optional<TrackNamespace> decode_namespace(const std::string& s) {
  TrackNamespace ns;
  if (s.empty()) return ns;
  std::string field;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '/') {
      ns.push_back(std::move(field));
      field.clear();
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const std::string hex = s.substr(i + 1, 2);
      char* end = nullptr;
      const long v = std::strtol(hex.c_str(), &end, 16);
      if (*end) return std::nullopt;
      field += char(v);
      i += 2;
    } else {
      field += c;
    }
  }
  ns.push_back(std::move(field));
  if (ns.size() > 32) return std::nullopt;
  return ns;
}

bool Cluster::check(const ClusterConfig& cfg, std::string* error, std::string* field) {
  auto bad = [&](const char* f, std::string why) {
    *error = std::move(why);
    if (field) *field = f;
    return false;
  };
  if (!valid_node_id(cfg.node_id))
    return bad("node_id", "node id '" + cfg.node_id + "' must be 1-64 characters of A-Z a-z 0-9 . _ -");
  if (cfg.advertise.rfind("moqt://", 0) != 0 && cfg.advertise.rfind("https://", 0) != 0)
    return bad("advertise", "advertise address '" + cfg.advertise + "' must be a moqt:// or https:// URL");
  if (cfg.advertise.find(' ') != std::string::npos) return bad("advertise", "advertise address must not contain spaces");
  if (cfg.ttl < std::chrono::milliseconds(300)) return bad("ttl", "cluster ttl must be at least 300 ms");
  if (!RedisAddress::parse(cfg.redis, error)) return bad("redis", *error);
  return true;
}

std::unique_ptr<Cluster> Cluster::create(quic::EventLoop& loop, ClusterConfig cfg, std::string* error) {
  if (!check(cfg, error)) return nullptr;
  auto addr = RedisAddress::parse(cfg.redis, error);
  if (!addr) return nullptr;
  RedisOptions ro;
  ro.address = *addr;
  ro.command_timeout = cfg.command_timeout;
  ro.connect_timeout = cfg.command_timeout;
  return std::unique_ptr<Cluster>(new Cluster(loop, std::move(cfg), ro));
}

Cluster::Cluster(quic::EventLoop& loop, ClusterConfig cfg, RedisOptions ro)
    : loop_(loop),
      cfg_(std::move(cfg)),
      redis_display_(ro.address.to_string()),
      redis_(std::make_unique<RedisClient>(loop, ro)),
      sub_(std::make_unique<RedisClient>(loop, ro)) {}

Cluster::~Cluster() {
  *alive_ = false;
  if (renew_timer_) loop_.cancel_timer(renew_timer_);
  if (check_timer_) loop_.cancel_timer(check_timer_);
  // Leave at once rather than at the lease's end: a clean stop moves viewers sooner.
  if (redis_ && redis_->connected()) {
    for (const TrackNamespace& ns : held_) {
      const std::string enc = encode_namespace(ns);
      redis_->command({"EVAL", kReleaseScript, "1", key("origin", enc), cfg_.node_id + " " + cfg_.advertise,
                       key("namespaces", ""), "- " + cfg_.node_id + " " + enc});
    }
    redis_->command({"DEL", key("node", cfg_.node_id)});
    redis_->command({"SREM", key("nodes", ""), cfg_.node_id});
  }
  // Destroying the clients drops their replies; the commands above are already written out
  // only if the socket took them, which is the best a stopping relay can do.
}

std::string Cluster::key(const std::string& kind, const std::string& rest) const {
  return cfg_.key_prefix + ":" + kind + (rest.empty() && kind != "origin" ? "" : ":" + rest);
}

void Cluster::log(const std::string& line) {
  if (log_) log_(line);
  else std::fprintf(stderr, "cluster: %s\n", line.c_str());
}

ClusterStats Cluster::stats() const {
  ClusterStats s = stats_;
  s.connected = redis_->connected();
  return s;
}

void Cluster::start() {
  redis_->set_on_state([this](bool up, const std::string& why) {
    if (up) {
      log("Redis " + redis_display_ + " connected: node " + cfg_.node_id + " (" + cfg_.advertise + ") registers");
      renew();
      // Everyone re-registers after an outage: what is missing now may be back within a ttl, so
      // only additions count until then (viewers' namespaces do not flap), then a full listing.
      quiet_until_ = quic::EventLoop::now() + cfg_.ttl;
      rescan(false);
      loop_.add_timer(cfg_.ttl, [this, alive = alive_] {
        if (*alive) rescan(true);
      });
    } else {
      ++stats_.redis_errors;
      log("Redis unavailable: " + why + " (serving what this relay has; retrying)");
    }
  });
  sub_->subscribe(key("namespaces", ""), [this](const std::string&, const std::string& m) { on_message(m); });
  redis_->start();
  sub_->start();
  schedule_renew();
  schedule_check();
}

// Renewals every ttl/3: a lease survives two lost renewals.
void Cluster::schedule_renew() {
  renew_timer_ = loop_.add_timer(cfg_.ttl / 3, [this, alive = alive_] {
    if (!*alive) return;
    renew();
    schedule_renew();
  });
}

void Cluster::schedule_check() {
  check_timer_ = loop_.add_timer(cfg_.ttl, [this, alive = alive_] {
    if (!*alive) return;
    check_remote();
    schedule_check();
  });
}

void Cluster::renew() {
  if (!redis_->connected()) return;
  const std::string ttl = std::to_string(cfg_.ttl.count());
  redis_->command({"SET", key("node", cfg_.node_id),
                   cfg_.advertise + " " + std::to_string(sessions_) + " " + std::to_string(egress_bps_), "PX", ttl},
                  [this](const RedisReply& r) {
                    if (r.error()) ++stats_.redis_errors;
                  });
  redis_->command({"SADD", key("nodes", ""), cfg_.node_id});
  std::vector<TrackNamespace> batch;
  for (auto& [ns, n] : announced_) {
    batch.push_back(ns);
    if (batch.size() == kBatch) claim(std::move(batch)), batch.clear();
  }
  if (!batch.empty()) claim(std::move(batch));
}

void Cluster::claim(std::vector<TrackNamespace> batch) {
  if (!redis_->connected() || batch.empty()) return;
  std::vector<std::string> argv = {"EVAL", kClaimScript, std::to_string(batch.size())};
  for (const TrackNamespace& ns : batch) argv.push_back(key("origin", encode_namespace(ns)));
  argv.push_back(cfg_.node_id + " " + cfg_.advertise);
  argv.push_back(std::to_string(cfg_.ttl.count()));
  argv.push_back(key("namespaces", ""));
  argv.push_back(cfg_.node_id);
  argv.push_back(key("origin", ""));
  redis_->command(std::move(argv), [this, alive = alive_, batch](const RedisReply& r) {
    if (!*alive) return;
    if (r.type != RedisReply::Type::kArray || r.elements.size() != batch.size()) {
      ++stats_.redis_errors;
      return;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const TrackNamespace& ns = batch[i];
      const long long v = r.elements[i].integer;
      if (v == 0) {
        held_.erase(ns);
        if (conflicted_.insert(ns).second) {
          ++stats_.conflicts;
          log("namespace " + wire::to_string(ns) +
              " is held by another relay: served here to local viewers, remote viewers go to the holder");
        }
        continue;
      }
      conflicted_.erase(ns);
      if (v == 2) ++stats_.claims;
      held_.insert(ns);
      set_remote(ns, "", false);  // ours now
      if (!announced_.count(ns)) {  // withdrawn while the claim was on its way
        held_.erase(ns);
        const std::string enc = encode_namespace(ns);
        redis_->command({"EVAL", kReleaseScript, "1", key("origin", enc), cfg_.node_id + " " + cfg_.advertise,
                         key("namespaces", ""), "- " + cfg_.node_id + " " + enc});
      }
    }
  });
}

void Cluster::announce(const TrackNamespace& ns) {
  if (++announced_[ns] == 1) claim({ns});
}

void Cluster::withdraw(const TrackNamespace& ns) {
  auto it = announced_.find(ns);
  if (it == announced_.end() || --it->second > 0) return;
  announced_.erase(it);
  conflicted_.erase(ns);
  if (!held_.erase(ns) || !redis_->connected()) return;  // else the lease lapses by itself
  const std::string enc = encode_namespace(ns);
  redis_->command({"EVAL", kReleaseScript, "1", key("origin", enc), cfg_.node_id + " " + cfg_.advertise,
                   key("namespaces", ""), "- " + cfg_.node_id + " " + enc});
}

void Cluster::lookup(const TrackNamespace& ns, LookupDone done) {
  ++stats_.lookups;
  if (ns.empty()) {
    ++stats_.lookup_misses;
    return done(std::nullopt, "");
  }
  if (!redis_->connected()) {
    ++stats_.lookup_errors;
    return done(std::nullopt, "the cluster's Redis is unavailable");
  }
  std::vector<std::string> argv = {"MGET"};
  for (size_t n = 1; n <= ns.size(); ++n)
    argv.push_back(key("origin", encode_namespace(TrackNamespace(ns.begin(), ns.begin() + long(n)))));
  redis_->command(std::move(argv), [this, alive = alive_, done = std::move(done)](const RedisReply& r) {
    if (!*alive) return;
    if (r.type != RedisReply::Type::kArray) {
      ++stats_.lookup_errors;
      return done(std::nullopt, "Redis lookup failed: " + r.str);
    }
    for (size_t i = r.elements.size(); i-- > 0;) {  // the longest prefix wins
      const RedisReply& e = r.elements[i];
      if (e.type != RedisReply::Type::kString) continue;
      const size_t sp = e.str.find(' ');
      if (sp == std::string::npos) continue;
      NodeInfo n;
      n.id = e.str.substr(0, sp);
      n.url = e.str.substr(sp + 1);
      return done(n, "");
    }
    ++stats_.lookup_misses;
    done(std::nullopt, "");
  });
}

void Cluster::members(std::function<void(std::vector<NodeInfo>, const std::string&)> done) {
  if (!redis_->connected()) return done({}, "the cluster's Redis is unavailable");
  redis_->command({"SMEMBERS", key("nodes", "")}, [this, alive = alive_, done](const RedisReply& r) {
    if (!*alive) return;
    if (r.type != RedisReply::Type::kArray) return done({}, "Redis: " + r.str);
    if (r.elements.empty()) return done({}, "");
    std::vector<std::string> ids, argv = {"MGET"};
    for (const RedisReply& e : r.elements) {
      ids.push_back(e.str);
      argv.push_back(key("node", e.str));
    }
    redis_->command(std::move(argv), [this, alive, done, ids](const RedisReply& v) {
      if (!*alive) return;
      if (v.type != RedisReply::Type::kArray || v.elements.size() != ids.size()) return done({}, "Redis: " + v.str);
      std::vector<NodeInfo> out;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (v.elements[i].type != RedisReply::Type::kString) {
          redis_->command({"SREM", key("nodes", ""), ids[i]});  // its record lapsed: it is gone
          continue;
        }
        std::istringstream in(v.elements[i].str);
        NodeInfo n;
        n.id = ids[i];
        in >> n.url >> n.sessions >> n.egress_bps;
        if (!n.url.empty()) out.push_back(n);
      }
      std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) {
        return std::tie(a.sessions, a.egress_bps, a.id) < std::tie(b.sessions, b.egress_bps, b.id);
      });
      done(out, "");
    });
  });
}

std::vector<TrackNamespace> Cluster::remote_namespaces() const {
  std::vector<TrackNamespace> out;
  for (auto& [ns, node] : remote_) out.push_back(ns);
  return out;
}

void Cluster::set_remote(const TrackNamespace& ns, const std::string& node, bool active) {
  auto it = remote_.find(ns);
  if (!active) {
    if (it == remote_.end()) return;
    remote_.erase(it);
    if (on_remote_) on_remote_(ns, false);
    return;
  }
  if (node == cfg_.node_id || announced_.count(ns)) return;  // ours (or served here anyway)
  if (it != remote_.end()) {
    // Moved to another relay: the same namespace for our watchers, a new origin for our tracks.
    if (it->second != node) {
      it->second = node;
      if (on_moved_) on_moved_(ns, node);
    }
    return;
  }
  if (remote_.size() >= kMaxRemote) return;
  remote_[ns] = node;
  if (on_remote_) on_remote_(ns, true);
  // A namespace that lapsed with its dead relay and now comes back elsewhere: tracks still
  // pulled from the old relay switch now.
  if (on_moved_) on_moved_(ns, node);
}

void Cluster::on_message(const std::string& m) {
  // "+ ID NS" / "- ID NS"
  if (m.size() < 4 || (m[0] != '+' && m[0] != '-') || m[1] != ' ') return;
  const size_t sp = m.find(' ', 2);
  if (sp == std::string::npos) return;
  const std::string node = m.substr(2, sp - 2);
  auto ns = decode_namespace(m.substr(sp + 1));
  if (!ns || node == cfg_.node_id) return;
  if (m[0] == '+') return set_remote(*ns, node, true);
  auto it = remote_.find(*ns);
  if (it != remote_.end() && it->second == node) set_remote(*ns, node, false);
}

void Cluster::rescan(bool removals) {
  scan_step("0", std::make_shared<std::map<TrackNamespace, std::string>>(), removals);
}

void Cluster::scan_step(const std::string& cursor, std::shared_ptr<std::map<TrackNamespace, std::string>> found,
                        bool removals) {
  if (!redis_->connected()) return;
  const std::string prefix = key("origin", "");
  redis_->command(
      {"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "500"},
      [this, alive = alive_, found, prefix, removals](const RedisReply& r) {
        if (!*alive) return;
        if (r.type != RedisReply::Type::kArray || r.elements.size() != 2) return;
        const std::string next = r.elements[0].str;
        std::vector<std::string> keys;
        for (const RedisReply& k : r.elements[1].elements) keys.push_back(k.str);
        auto after = [this, alive, found, next, removals]() {
          if (!*alive) return;
          if (next != "0" && found->size() < kMaxRemote) return scan_step(next, found, removals);
          // The whole picture: what appeared and what went while we were not listening.
          std::vector<TrackNamespace> gone;
          if (removals)
            for (auto& [ns, node] : remote_)
              if (!found->count(ns)) gone.push_back(ns);
          for (const TrackNamespace& ns : gone) set_remote(ns, "", false);
          for (auto& [ns, node] : *found) set_remote(ns, node, true);
        };
        if (keys.empty()) return after();
        std::vector<std::string> argv = {"MGET"};
        argv.insert(argv.end(), keys.begin(), keys.end());
        redis_->command(std::move(argv), [this, alive, found, keys, prefix, after](const RedisReply& v) {
          if (!*alive) return;
          if (v.type == RedisReply::Type::kArray && v.elements.size() == keys.size())
            for (size_t i = 0; i < keys.size(); ++i) {
              if (v.elements[i].type != RedisReply::Type::kString) continue;
              auto ns = decode_namespace(keys[i].substr(prefix.size()));
              const std::string node = v.elements[i].str.substr(0, v.elements[i].str.find(' '));
              if (ns && node != cfg_.node_id) (*found)[*ns] = node;
            }
          after();
        });
      });
}

void Cluster::check_remote() {
  if (!redis_->connected() || remote_.empty() || quic::EventLoop::now() < quiet_until_) return;
  std::vector<TrackNamespace> all;
  for (auto& [ns, node] : remote_) all.push_back(ns);
  for (size_t off = 0; off < all.size(); off += kBatch) {
    std::vector<TrackNamespace> batch(all.begin() + long(off), all.begin() + long(std::min(all.size(), off + kBatch)));
    std::vector<std::string> argv = {"MGET"};
    for (const TrackNamespace& ns : batch) argv.push_back(key("origin", encode_namespace(ns)));
    redis_->command(std::move(argv), [this, alive = alive_, batch](const RedisReply& v) {
      if (!*alive || v.type != RedisReply::Type::kArray || v.elements.size() != batch.size()) return;
      for (size_t i = 0; i < batch.size(); ++i) {
        // A lapsed lease: its relay died (or lost Redis) without withdrawing.
        if (v.elements[i].type != RedisReply::Type::kString) set_remote(batch[i], "", false);
        else {
          const std::string node = v.elements[i].str.substr(0, v.elements[i].str.find(' '));
          if (node == cfg_.node_id) set_remote(batch[i], "", false);
          else set_remote(batch[i], node, true);
        }
      }
    });
  }
}

}  // namespace moqt::cluster
