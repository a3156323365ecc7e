#include "moqt/cluster/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace moqt::cluster {

// --- address ------------------------------------------------------------------------------------

std::optional<RedisAddress> RedisAddress::parse(const std::string& url, std::string* error) {
  RedisAddress a;
  std::string rest = url;
  if (rest.rfind("redis://", 0) == 0) rest = rest.substr(8);
  else if (rest.find("://") != std::string::npos) {
    *error = "not a redis:// URL: " + url;
    return std::nullopt;
  }
  if (const size_t at = rest.rfind('@'); at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // redis://:password@host or redis://user:password@host (the user is not used: Redis 5 AUTH).
    const size_t colon = cred.find(':');
    a.password = colon == std::string::npos ? cred : cred.substr(colon + 1);
  }
  std::string hostport = rest;
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    hostport = rest.substr(0, slash);
    const std::string db = rest.substr(slash + 1);
    if (!db.empty()) {
      char* end = nullptr;
      const long v = std::strtol(db.c_str(), &end, 10);
      if (*end || v < 0 || v > 1000) {
        *error = "bad database number in " + url;
        return std::nullopt;
      }
      a.db = int(v);
    }
  }
  std::string host = hostport;
  if (!hostport.empty() && hostport[0] == '[') {  // [::1]:6379
    const size_t close = hostport.find(']');
    if (close == std::string::npos) {
      *error = "bad address in " + url;
      return std::nullopt;
    }
    host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') hostport = hostport.substr(close + 2);
    else hostport.clear();
  } else if (const size_t colon = hostport.rfind(':'); colon != std::string::npos) {
    host = hostport.substr(0, colon);
    hostport = hostport.substr(colon + 1);
  } else {
    hostport.clear();
  }
  if (!hostport.empty()) {
    char* end = nullptr;
    const long p = std::strtol(hostport.c_str(), &end, 10);
    if (*end || p <= 0 || p > 65535) {
      *error = "bad port in " + url;
      return std::nullopt;
    }
    a.port = uint16_t(p);
  }
  if (host.empty()) {
    *error = "no host in " + url;
    return std::nullopt;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0 || !res) {
    *error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  char buf[NI_MAXHOST];
  const int rc = getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST);
  freeaddrinfo(res);
  if (rc != 0) {
    *error = "cannot resolve " + host;
    return std::nullopt;
  }
  a.host = buf;
  return a;
}

std::string RedisAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "redis://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

// --- client -------------------------------------------------------------------------------------

namespace {

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::kArray; break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    out.str.assign(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  return out;
}

RedisClient* self_of(const redisAsyncContext* ac) { return static_cast<RedisClient*>(ac->data); }

}  // namespace

RedisClient::RedisClient(quic::EventLoop& loop, RedisOptions o) : loop_(loop), opts_(std::move(o)) {}

RedisClient::~RedisClient() {
  *alive_ = false;
  if (connect_timer_) loop_.cancel_timer(connect_timer_);
  if (retry_timer_) loop_.cancel_timer(retry_timer_);
  for (auto& [id, p] : pending_)
    if (p.timer) loop_.cancel_timer(p.timer);
  pending_.clear();  // dropped unanswered: their owners are going too
  if (ctx_) {
    redisAsyncContext* c = ctx_;
    ctx_ = nullptr;
    c->data = nullptr;  // its NULL-reply callbacks find nobody
    redisAsyncFree(c);
  }
  if (fd_added_) loop_.remove_fd(fd_);
}

void RedisClient::start() {
  if (started_) return;
  started_ = true;
  connect();
}

void RedisClient::connect() {
  ++stats_.connects;
  redisAsyncContext* c = redisAsyncConnect(opts_.address.host.c_str(), opts_.address.port);
  if (!c || c->err) {
    const std::string why = c ? c->errstr : "out of memory";
    if (c) redisAsyncFree(c);
    if (on_state_) on_state_(false, "cannot connect to " + opts_.address.to_string() + ": " + why);
    return schedule_reconnect();
  }
  ctx_ = c;
  fd_ = c->c.fd;
  events_ = 0;
  c->data = this;
  c->ev.data = this;
  c->ev.addRead = ev_add_read;
  c->ev.delRead = ev_del_read;
  c->ev.addWrite = ev_add_write;
  c->ev.delWrite = ev_del_write;
  c->ev.cleanup = ev_cleanup;
  redisAsyncSetDisconnectCallback(c, on_disconnect);
  redisAsyncSetConnectCallback(c, on_connect);  // watches for writability: the connect's end
  connect_timer_ = loop_.add_timer(opts_.connect_timeout, [this, alive = alive_] {
    if (!*alive) return;
    connect_timer_ = 0;
    if (!ready_) drop("connect timed out");
  });
}

void RedisClient::schedule_reconnect() {
  if (!*alive_ || retry_timer_) return;
  backoff_ = std::clamp(backoff_ * 2, opts_.retry_min, opts_.retry_max);
  retry_timer_ = loop_.add_timer(backoff_, [this, alive = alive_] {
    if (!*alive) return;
    retry_timer_ = 0;
    if (!ctx_) connect();
  });
}

void RedisClient::fail_pending(const std::string& why) {
  std::map<uint64_t, Pending> gone = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : gone) {
    if (p.timer) loop_.cancel_timer(p.timer);
    ++stats_.errors;
    if (p.cb) p.cb(RedisReply::make_error(why));
  }
}

void RedisClient::drop(const std::string& why) {
  if (!ctx_) return;
  if (in_callback_) {
    // Not under hiredis's feet: on the next loop turn.
    loop_.add_timer(std::chrono::nanoseconds(0), [this, alive = alive_, why] {
      if (*alive) drop(why);
    });
    return;
  }
  redisAsyncContext* c = ctx_;
  ctx_ = nullptr;
  const bool was_ready = ready_;
  ready_ = false;
  c->data = nullptr;
  redisAsyncFree(c);  // its cleanup hook removes the socket from the loop
  if (connect_timer_) loop_.cancel_timer(std::exchange(connect_timer_, 0));
  ++stats_.disconnects;
  fail_pending(why);
  if (on_state_ && was_ready) on_state_(false, why);
  else if (on_state_) on_state_(false, "cannot connect to " + opts_.address.to_string() + ": " + why);
  schedule_reconnect();
}

void RedisClient::on_connect(const redisAsyncContext* ac, int status) {
  RedisClient* self = self_of(ac);
  if (!self) return;
  if (self->connect_timer_) self->loop_.cancel_timer(std::exchange(self->connect_timer_, 0));
  if (status != REDIS_OK) {
    // hiredis frees the context after this call.
    const std::string why = ac->errstr ? ac->errstr : "connect failed";
    self->ctx_ = nullptr;
    self->ready_ = false;
    if (self->on_state_) self->on_state_(false, "cannot connect to " + self->opts_.address.to_string() + ": " + why);
    self->schedule_reconnect();
    return;
  }
  self->ready_ = true;
  self->backoff_ = std::chrono::milliseconds(0);
  // Sent first, answered first: nothing runs unauthenticated or in the wrong database.
  if (!self->opts_.address.password.empty())
    self->command({"AUTH", self->opts_.address.password}, [self](const RedisReply& r) {
      if (r.error()) self->drop("AUTH refused: " + r.str);
    });
  if (self->opts_.address.db != 0)
    self->command({"SELECT", std::to_string(self->opts_.address.db)}, [self](const RedisReply& r) {
      if (r.error()) self->drop("SELECT refused: " + r.str);
    });
  self->send_subscriptions();
  if (self->on_state_) self->on_state_(true, "");
}

void RedisClient::on_disconnect(const redisAsyncContext* ac, int status) {
  RedisClient* self = self_of(ac);
  if (!self) return;
  // hiredis frees the context after this call.
  self->ctx_ = nullptr;
  const bool was_ready = self->ready_;
  self->ready_ = false;
  ++self->stats_.disconnects;
  const std::string why = status == REDIS_OK ? "connection closed" : (ac->errstr ? ac->errstr : "connection lost");
  self->fail_pending(why);
  if (self->on_state_ && was_ready) self->on_state_(false, why);
  self->schedule_reconnect();
}

void RedisClient::command(std::vector<std::string> argv, Callback cb) {
  ++stats_.commands;
  auto fail = [&](const std::string& why) {
    ++stats_.errors;
    if (cb) cb(RedisReply::make_error(why));
  };
  if (!ctx_ || !ready_) return fail("not connected to " + opts_.address.to_string());
  if (pending_.size() >= opts_.max_pending) return fail("too many Redis commands pending");
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  const uint64_t id = next_id_++;
  if (redisAsyncCommandArgv(ctx_, on_reply, reinterpret_cast<void*>(uintptr_t(id)), int(args.size()), args.data(),
                            lens.data()) != REDIS_OK)
    return fail("the command could not be queued");
  Pending& p = pending_[id];
  p.cb = std::move(cb);
  p.timer = loop_.add_timer(opts_.command_timeout, [this, alive = alive_, id] {
    if (!*alive) return;
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    it->second.timer = 0;
    ++stats_.timeouts;
    finish(id, RedisReply::make_error("Redis did not answer in time"));
    drop("a command timed out");
  });
}

void RedisClient::finish(uint64_t id, const RedisReply& r) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Callback cb = std::move(it->second.cb);
  if (it->second.timer) loop_.cancel_timer(it->second.timer);
  pending_.erase(it);
  if (r.error()) ++stats_.errors;
  if (cb) cb(r);
}

void RedisClient::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  RedisClient* self = self_of(ac);
  if (!self) return;
  const uint64_t id = uint64_t(reinterpret_cast<uintptr_t>(privdata));
  if (!reply) return self->finish(id, RedisReply::make_error("connection lost"));
  self->finish(id, convert(static_cast<redisReply*>(reply)));
}

void RedisClient::subscribe(const std::string& channel, MessageCallback cb) {
  channels_[channel] = std::move(cb);
  if (ctx_ && ready_) {
    const char* args[] = {"SUBSCRIBE", channel.c_str()};
    const size_t lens[] = {9, channel.size()};
    redisAsyncCommandArgv(ctx_, on_message, nullptr, 2, args, lens);
  }
}

void RedisClient::send_subscriptions() {
  for (auto& [channel, cb] : channels_) {
    const char* args[] = {"SUBSCRIBE", channel.c_str()};
    const size_t lens[] = {9, channel.size()};
    redisAsyncCommandArgv(ctx_, on_message, nullptr, 2, args, lens);
  }
}

void RedisClient::on_message(redisAsyncContext* ac, void* reply, void*) {
  RedisClient* self = self_of(ac);
  if (!self || !reply) return;
  const RedisReply r = convert(static_cast<redisReply*>(reply));
  // ["message", channel, payload]; the "subscribe" confirmations are not news.
  if (r.type != RedisReply::Type::kArray || r.elements.size() != 3 || r.elements[0].str != "message") return;
  auto it = self->channels_.find(r.elements[1].str);
  if (it != self->channels_.end() && it->second) it->second(r.elements[1].str, r.elements[2].str);
}

// --- hiredis event hooks --------------------------------------------------------------------------

void RedisClient::update_events() {
  if (fd_ < 0) return;
  if (!fd_added_) {
    fd_added_ = true;
    loop_.add_fd(fd_, events_, [this](uint32_t ev) {
      redisAsyncContext* c = ctx_;
      if (!c) return;
      in_callback_ = true;
      if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) redisAsyncHandleRead(c);
      if (ctx_ == c && (ev & EPOLLOUT)) redisAsyncHandleWrite(c);
      in_callback_ = false;
    });
  } else {
    loop_.modify_fd(fd_, events_);
  }
}

void RedisClient::ev_add_read(void* p) {
  auto* self = static_cast<RedisClient*>(p);
  self->events_ |= EPOLLIN;
  self->update_events();
}
void RedisClient::ev_del_read(void* p) {
  auto* self = static_cast<RedisClient*>(p);
  self->events_ &= ~uint32_t(EPOLLIN);
  self->update_events();
}
void RedisClient::ev_add_write(void* p) {
  auto* self = static_cast<RedisClient*>(p);
  self->events_ |= EPOLLOUT;
  self->update_events();
}
void RedisClient::ev_del_write(void* p) {
  auto* self = static_cast<RedisClient*>(p);
  self->events_ &= ~uint32_t(EPOLLOUT);
  self->update_events();
}
void RedisClient::ev_cleanup(void* p) {
  auto* self = static_cast<RedisClient*>(p);
  if (self->fd_added_) self->loop_.remove_fd(self->fd_);
  self->fd_added_ = false;
  self->fd_ = -1;
  self->events_ = 0;
}

}  // namespace moqt::cluster
