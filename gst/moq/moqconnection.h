// The connection object shared by moqsink and moqsrc (in the spirit of gst-plugins-bad's
// srtobject): parses the URI and the TLS/draft settings, owns the engine's event-loop thread and
// either a listening MoQT server or a client session, and hides the engine from the element
// files. Streaming threads never block on the network: they hand work to the loop thread.
#pragma once

#include <gst/gst.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "moqt/relay/local_subscription.h"
#include "moqt/session/client.h"

namespace moqgst {

struct RelayHost;

enum class Mode { kCaller, kListener };

struct Settings {
  std::string uri;            // moqt://host:port/ns/... or https://host:port/ns/...
  Mode mode = Mode::kCaller;
  std::string cert_file, key_file;
  std::string pin;            // caller: accept only this certificate SHA-256
  bool insecure = false;      // caller: do not verify the certificate
  int draft = 0;              // 0 = any of 18, 16, 14
  std::string auth_token;
  bool reconnect = true;      // caller: re-establish a lost session with backoff (?reconnect=false: error)
  std::string relay;          // attach to the moqrelay of this name in this process (no network)
  // Caller: other relays serving the same namespace; a lost session is re-established at the
  // next one of uri, fallbacks... in turn (failover in a relay cluster).
  std::vector<std::string> fallback_uris;

  // Applies the URI's query (mode=listener, tls-insecure=true, tls-pin=HEX, draft=16, ...) on
  // top of the properties. Unknown keys are errors naming the key.
  bool apply_uri_query(std::string* error);
};

// The properties moqsink and moqsrc share, in the order gst_moq_install_common_properties()
// installs them: uri, mode, cert-file, key-file, tls-pin, tls-insecure, draft, the read-only
// port, cert-sha256, stats, then reconnect, auth-token, relay, fallback-uris. Accessed under the
// element's object lock.
class Connection;
struct CommonProps {
  static constexpr guint kCount = 14;
  std::string uri, cert_file, key_file, tls_pin, auth_token, relay, fallback_uris;  // comma-separated
  Mode mode = Mode::kCaller;
  bool tls_insecure = false;
  bool reconnect = true;
  int draft = 0;
  void set(guint index, const GValue* v);
  void get(guint index, GValue* v, const Connection* conn) const;
  Settings settings() const;
};

struct ParsedUri {
  moqt::session::MoqUrl url;
  moqt::wire::TrackNamespace ns;  // from the URI path: /live/cam -> (live, cam)
  std::map<std::string, std::string> query;
};
std::optional<ParsedUri> parse_uri(const std::string& uri, std::string* error);

// Posts the element message the elements use for Connection events: "moq" with "event" and
// "detail" strings (listening, connected, disconnected, reconnecting, subscribers, ...).
void post_event(GstElement* element, const std::string& event, const std::string& detail);

// Posts a WARNING naming a GST_PARAM_MUTABLE_READY property that was set while the element is
// running; the caller keeps the value in use. Call without the element's object lock.
void refuse_property_change(GstElement* element, GParamSpec* pspec);

// Receives objects for moqsrc (called on the loop thread).
using ObjectCallback = std::function<void(const moqt::session::ReceivedObject&)>;
using EventCallback = std::function<void(const std::string& event, const std::string& detail)>;

// More about one subscription (callbacks run on the loop thread).
struct SubscribeExtras {
  // Set: a refused SUBSCRIBE calls this instead of posting an error/warning event (for tracks
  // that may not exist, such as one format's catalog).
  std::function<void(const std::string& reason)> on_refused;
  // The track's properties (SUBSCRIBE_OK / PUBLISH, draft-16+), before its first object.
  std::function<void(const moqt::wire::KeyValueList&)> on_track_properties;
};

class Connection {
 public:
  static std::shared_ptr<Connection> create(const Settings& s, EventCallback events, std::string* error);
  ~Connection();

  const ParsedUri& uri() const { return uri_; }
  bool listener() const { return settings_.mode == Mode::kListener; }
  bool attached() const { return host_ != nullptr; }  // to an in-process moqrelay
  // Listener: the bound port (useful with port 0) and the certificate hash browsers pin.
  uint16_t port() const { return port_; }
  const std::string& cert_sha256() const { return cert_sha256_; }

  // --- publishing (moqsink) ---
  // Adds a track under the URI's namespace; in caller mode it is pushed with PUBLISH.
  std::shared_ptr<moqt::session::TrackPublisher> add_track(const std::string& name, moqt::session::TrackOptions o);
  // Writes an object from any thread (the work happens on the loop thread).
  void write(const std::shared_ptr<moqt::session::TrackPublisher>& t, moqt::session::Object o);
  void finish(const std::shared_ptr<moqt::session::TrackPublisher>& t);
  // Ends the track (PUBLISH_DONE to its subscribers) and forgets it: new SUBSCRIBEs get
  // DOES_NOT_EXIST, a reconnect does not PUBLISH it again.
  void remove_track(const std::shared_ptr<moqt::session::TrackPublisher>& t);
  // An object the element dropped before it reached the engine (counted in stats).
  void count_dropped();

  // --- subscribing (moqsrc) ---
  // Caller: SUBSCRIBE to `track` in the URI's namespace. Listener: accept a PUBLISH of it.
  // `max_subgroup`: layers above it are refused (STOP_SENDING on their streams).
  // `groups_back`: none = live from the next group (a decoder's keyframe); N = live from the
  // largest object plus a joining FETCH of the current group and N before it, delivered in order.
  void subscribe(const std::string& track, ObjectCallback cb, std::optional<uint64_t> max_subgroup = {},
                 std::optional<uint64_t> groups_back = {}, SubscribeExtras extras = {});
  // Any thread (done on the loop thread later): stops `track`'s subscription. Its callback gets
  // nothing more and a reconnect does not ask again; a caller or attached connection sends
  // UNSUBSCRIBE, a listener ignores what its peers push (refusing a PUBLISH would end it there).
  void unsubscribe(const std::string& track);

  // Listener: a PUBLISH of a track nobody subscribed to asks `acceptor`, which returns the
  // track's callback (or null to refuse). For sources that learn their tracks as they come.
  void accept_publishes(std::function<ObjectCallback(const std::string& track)> acceptor);
  // Runs `fn` on the loop thread after `delay` (never after the connection is gone).
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

  size_t subscriber_count(const std::shared_ptr<moqt::session::TrackPublisher>& t);
  GstStructure* stats() const;

 private:
  struct Handler;
  struct Peer;
  struct TrackSub;
  Connection() = default;
  bool start(std::string* error);
  // Loop thread: the caller's client session, and getting it back after a loss.
  std::unique_ptr<moqt::session::Client> connect_client(std::string* error);
  bool will_reconnect() const;
  const std::string& current_uri() const { return uri_index_ == 0 ? settings_.uri : settings_.fallback_uris[uri_index_ - 1]; }
  void schedule_reconnect();
  void publish_track(const std::shared_ptr<moqt::session::TrackPublisher>& t);
  // Attached to an in-process relay (loop thread): subscribe `sub` there, waiting a bounded time
  // for its publisher.
  void attach_local(TrackSub& sub);
  template <typename Target>
  void issue(Target& target, TrackSub& sub);
  static constexpr std::chrono::milliseconds kMinBackoff{250}, kMaxBackoff{8000};
  // Attached: how long a subscription waits for its track to be published (or published again).
  static constexpr std::chrono::milliseconds kLocalWait{10000}, kLocalRetry{100};

  Settings settings_;
  ParsedUri uri_;
  size_t uri_index_ = 0;  // 0: settings_.uri, i: fallback_uris[i - 1] (loop thread)
  EventCallback events_;
  std::unique_ptr<moqt::quic::EventLoop> own_loop_;  // null when attached to a relay's
  moqt::quic::EventLoop* loop_ = nullptr;            // ours or the relay's
  std::shared_ptr<RelayHost> host_;                  // attached: keeps the relay's loop alive
  uint64_t local_id_ = 0;                            // attached: our source id in the relay
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // loop thread
  moqt::session::TrackRegistry registry_;
  std::unique_ptr<moqt::session::Server> server_;
  std::unique_ptr<moqt::session::Client> client_;
  std::unique_ptr<Handler> handler_;
  std::map<moqt::session::Session*, std::unique_ptr<Peer>> peers_;  // listener, loop thread
  uint16_t port_ = 0;
  std::string cert_sha256_;
  // Loop thread only.
  std::vector<std::shared_ptr<moqt::session::TrackPublisher>> published_;
  bool established_ = false, stopping_ = false;
  std::chrono::milliseconds backoff_{0};
  mutable std::mutex mu_;  // guards the fields below (read by the elements' threads)
  uint64_t objects_written_ = 0, objects_received_ = 0, objects_dropped_ = 0, reconnects_ = 0;
};

}  // namespace moqgst
