// A MoQT client: connects to a moqt:// (raw QUIC) or https:// (WebTransport) URL and keeps the
// application's requests alive across GOAWAY. On GOAWAY it opens a session to the new URI (or the
// same one), re-issues every subscription there from the next group, re-announces namespaces and
// re-publishes pushed tracks, and lets the old session finish the groups it had started before
// closing it with NO_ERROR (draft-18 §3.6 "graceful subscriber switchover"). Objects of a group
// come from one session only, so the application sees no duplicates and no gap at the switch.
//
// Threads: lives on one EventLoop thread (create it there: EventLoop::run_sync); every method
// must be called there and every callback runs there.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "moqt/session/endpoint.h"

namespace moqt::session {

struct ClientConfig {
  std::vector<Draft> drafts = all_drafts();
  quic::VerifyMode verify = quic::VerifyMode::kSystemCa;
  std::string pinned_sha256;
  std::string ca_file;
  std::optional<std::string> auth_token;          // SETUP AUTHORIZATION TOKEN
  std::optional<std::string> request_auth_token;  // AUTHORIZATION TOKEN parameter of every request
  quic::QuicConfig quic;
  // On GOAWAY move to the new session (false: only tell the handler, the application decides).
  bool follow_goaway = true;
  // How long the old session may go on delivering the groups it had started after the move.
  std::chrono::milliseconds goaway_drain{2000};
  // How long the new session may take to come up before the move is given up.
  std::chrono::milliseconds move_timeout{10000};
};

struct ClientStats {
  uint64_t moves = 0;         // completed GOAWAY moves
  uint64_t failed_moves = 0;  // new sessions that did not come up
};

class Client {
 public:
  // `handler` gets the session events of whichever session is current: on_ready once per session
  // (again after a move), on_goaway, on_closed only when the application's session really ends
  // (not for an old session closed after a move). `tracks` answers the peer's requests.
  static std::unique_ptr<Client> connect(quic::EventLoop& loop, const std::string& url, ClientConfig cfg,
                                         SessionHandler* handler, TrackSource* tracks, std::string* error);
  ~Client();

  // The current session, for requests that need not survive a move (fetch, track status, ...).
  Session& session();
  const std::string& url() const;  // of the current session
  const ClientStats& stats() const { return stats_; }

  // Requests that survive GOAWAY. subscribe() returns a handle for unsubscribe()/joining_fetch()
  // (not a request id); `h` sees one on_subscribe_ok and, after a move, objects from the new
  // session starting with the first group the old one did not deliver.
  std::optional<uint64_t> subscribe(const FullTrackName& track, const SubscribeOptions& o, SubscriptionHandler* h);
  void unsubscribe(uint64_t handle);
  std::optional<uint64_t> joining_fetch(uint64_t handle, uint64_t start, bool relative, FetchHandler* h,
                                        uint8_t priority = 128);
  std::optional<uint64_t> publish_namespace(const TrackNamespace& ns, std::function<void(bool ok, uint64_t code)> done);
  std::optional<uint64_t> publish(std::shared_ptr<TrackPublisher> track, std::function<void(bool ok, uint64_t code)> done);
  void close(uint64_t code, const std::string& reason);

 private:
  struct Conn;  // one connection and its session
  struct Sub;   // one application subscription
  struct Leg;   // that subscription on one session

  explicit Client(quic::EventLoop& loop);
  std::unique_ptr<Conn> open(const std::string& url, std::string* error);
  bool issue(Sub& s, Conn& c, bool next_group);
  void start_move(const std::string& url);
  void conn_ready(Conn& c, Draft d);
  void conn_closed(Conn& c, uint64_t code, const std::string& reason);
  void conn_goaway(Conn& c, const std::string& uri);
  void leg_object(Leg& l, const ReceivedObject& o);
  void leg_done(Leg& l, uint64_t status, const std::string& reason);
  void leg_error(Leg& l, uint64_t code, const std::string& reason);
  void retire_leg(Sub& s, bool next_leg);  // unsubscribes it; promotes `next` when the old one goes
  void retire_conn(std::unique_ptr<Conn>& slot, uint64_t code, const std::string& reason);
  void maybe_finish_drain();
  void bury(std::unique_ptr<Conn> c);
  void bury(std::unique_ptr<Leg> l);
  void schedule_reap();

  quic::EventLoop& loop_;
  ClientConfig cfg_;
  SessionHandler* app_ = nullptr;
  TrackSource* tracks_ = nullptr;
  std::unique_ptr<Conn> active_;    // what session() returns
  std::unique_ptr<Conn> pending_;   // after GOAWAY: the new session, until it is set up
  std::unique_ptr<Conn> draining_;  // after the move: the old session finishing its groups
  quic::EventLoop::TimerId drain_timer_ = 0, move_timer_ = 0;
  std::map<uint64_t, std::unique_ptr<Sub>> subs_;
  uint64_t next_handle_ = 1;
  struct Announce {
    TrackNamespace ns;
    std::function<void(bool, uint64_t)> done;  // the application's, called once
  };
  std::vector<Announce> namespaces_;
  std::vector<std::shared_ptr<TrackPublisher>> publishes_;
  // Objects the sessions may still call into until the current callback returns.
  std::vector<std::unique_ptr<Conn>> dead_conns_;
  std::vector<std::unique_ptr<Leg>> dead_legs_;
  bool reaper_posted_ = false;
  ClientStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace moqt::session
