// An asynchronous Redis client on the engine's event loop: hiredis's async API (Debian's
// libhiredis-dev) with its socket watched by the quic::EventLoop, so a loop thread never blocks
// on Redis. It connects (AUTH, SELECT) and reconnects with backoff by itself; every command is
// answered exactly once, by Redis or by an error (timeout, connection lost, too many pending).
// A command that times out costs the connection (Redis answers in order, so nothing after it
// could be trusted): it is dropped and made again.
//
// Pub/sub: Redis turns a connection that SUBSCRIBEs into a subscriber only, so a client either
// runs commands or subscribes (use two clients); subscriptions are renewed on every reconnect.
//
// Threads: a RedisClient lives on one EventLoop thread; every method there, every callback there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "moqt/quic/event_loop.h"

struct redisAsyncContext;

namespace moqt::cluster {

// redis://[:password@]host[:port][/db] (also rediss-less "host:port"). The host is resolved
// here, once (the loop thread never resolves names).
struct RedisAddress {
  std::string host;  // an IP address after parse()
  uint16_t port = 6379;
  std::string password;
  int db = 0;
  static std::optional<RedisAddress> parse(const std::string& url, std::string* error);
  std::string to_string() const;  // without the password
};

struct RedisReply {
  enum class Type : uint8_t { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError (the message)
  long long integer = 0;
  std::vector<RedisReply> elements;
  bool error() const { return type == Type::kError; }
  bool nil() const { return type == Type::kNil; }
  static RedisReply make_error(std::string why) {
    RedisReply r;
    r.type = Type::kError;
    r.str = std::move(why);
    return r;
  }
};

struct RedisOptions {
  RedisAddress address;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  std::chrono::milliseconds retry_min{250};  // reconnect backoff, doubling up to retry_max
  std::chrono::milliseconds retry_max{5000};
  size_t max_pending = 10000;  // commands sent or queued and not answered yet
};

class RedisClient {
 public:
  using Callback = std::function<void(const RedisReply&)>;
  using MessageCallback = std::function<void(const std::string& channel, const std::string& message)>;

  RedisClient(quic::EventLoop& loop, RedisOptions o);
  ~RedisClient();  // pending commands are answered with an error first
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects now and keeps reconnecting until destroyed.
  void start();
  bool connected() const { return ready_; }
  // Connection up (after AUTH / SELECT) and down (with why); for logs and re-registration.
  void set_on_state(std::function<void(bool up, const std::string& why)> cb) { on_state_ = std::move(cb); }

  // A command, argument by argument (binary safe). While disconnected it fails at once: the
  // caller decides whether to retry (nothing is queued for later behind its back).
  void command(std::vector<std::string> argv, Callback cb = nullptr);
  // Subscriber clients: messages on `channel` (renewed after reconnects). Not with command().
  void subscribe(const std::string& channel, MessageCallback cb);

  struct Stats {
    uint64_t commands = 0, errors = 0, timeouts = 0, connects = 0, disconnects = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Pending {
    Callback cb;
    quic::EventLoop::TimerId timer = 0;
  };
  void connect();
  void schedule_reconnect();
  void drop(const std::string& why);  // the connection is unusable: free it, fail what waits
  void fail_pending(const std::string& why);
  void finish(uint64_t id, const RedisReply& r);
  void send_subscriptions();
  void update_events();

  // hiredis callbacks (C).
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_message(redisAsyncContext* ac, void* reply, void* privdata);
  static void ev_add_read(void* p);
  static void ev_del_read(void* p);
  static void ev_add_write(void* p);
  static void ev_del_write(void* p);
  static void ev_cleanup(void* p);

  quic::EventLoop& loop_;
  RedisOptions opts_;
  redisAsyncContext* ctx_ = nullptr;
  int fd_ = -1;
  uint32_t events_ = 0;
  bool fd_added_ = false;
  bool ready_ = false;
  bool in_callback_ = false;  // inside hiredis: freeing the context must wait
  bool started_ = false;
  std::chrono::milliseconds backoff_{0};
  quic::EventLoop::TimerId connect_timer_ = 0, retry_timer_ = 0;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending> pending_;
  std::map<std::string, MessageCallback> channels_;
  std::function<void(bool, const std::string&)> on_state_;
  Stats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace moqt::cluster
