// WebTransport over HTTP/3 (draft-ietf-webtrans-http3) on one QUIC connection, exposed to the
// MoQT session as a quic::Transport: the WT stream headers (0x54 / 0x41 + session id), the
// datagram quarter-stream-id prefix, error-code mapping and session close capsules are hidden.
//
// Our HTTP/3 layer is small on purpose (see h3.h): SETTINGS with every WT codepoint browsers
// look for, extended CONNECT (`:protocol` webtransport or webtransport-h3), WT-Available-Protocols
// / WT-Protocol negotiation, one WT session per connection (we do not enable WT flow control),
// the URL path chooses the endpoint (the server's on_connect callback decides).
//
// Threads: a Session lives on its QUIC connection's EventLoop thread, like the connection.
// Lifetime: the Session stops touching its connection once it got on_closed (which an
// endpoint that shuts down also delivers), so either may be destroyed first.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "moqt/quic/transport.h"
#include "moqt/webtransport/h3.h"

namespace moqt::webtransport {

struct ConnectRequest {
  std::string method, protocol, scheme, authority, path, origin;
  std::vector<std::string> available_protocols;  // WT-Available-Protocols, client preference order
  Headers headers;                               // everything, as received
};

// The server's decision on a CONNECT.
struct ConnectDecision {
  int status = 404;                       // 2xx accepts
  quic::TransportHandler* handler = nullptr;
  std::string protocol;                   // WT-Protocol to answer ("" = none)
};

struct ServerOptions {
  // Protocols this server speaks, in its preference order (used to choose from the client list
  // before on_connect is asked; on_connect may override).
  std::vector<std::string> protocols;
  // Called once per CONNECT with the protocol already chosen (or "").
  std::function<ConnectDecision(class Session&, const ConnectRequest&, const std::string& chosen)> on_connect;
  size_t max_buffered_bytes = 1 << 20;  // WT data arriving before the session is accepted
};

struct ClientOptions {
  std::string authority;                  // host:port
  std::string path = "/";
  std::string origin;                     // optional Origin header
  std::vector<std::string> protocols;     // WT-Available-Protocols, preference order
  // false: behave like clients that do not buffer streams of a session they have not seen
  // accepted: a WT stream arriving before the CONNECT response, or in the same packet, is
  // rejected (WT_BUFFERED_STREAM_REJECTED) and counted in early_streams_rejected().
  bool buffer_early_streams = true;
};

class Session final : public quic::Transport, public quic::TransportHandler {
 public:
  // Takes over the connection's events. `conn` must have negotiated ALPN "h3".
  static std::unique_ptr<Session> server(quic::Transport& conn, ServerOptions opts);
  static std::unique_ptr<Session> client(quic::Transport& conn, ClientOptions opts, quic::TransportHandler* app);
  ~Session() override;

  const ConnectRequest& request() const { return request_; }
  bool established() const { return state_ == State::kEstablished; }
  int response_status() const { return response_status_; }
  size_t early_streams_rejected() const { return early_streams_rejected_; }
  uint64_t session_id() const { return uint64_t(connect_stream_); }
  // Closed and the QUIC connection is gone: the owner may delete this object.
  bool finished() const { return finished_; }
  // Called (on the loop) once finished() became true.
  void set_on_finished(std::function<void()> f) { on_finished_ = std::move(f); }

  // quic::Transport: the WT session as the application sees it.
  void set_handler(quic::TransportHandler* h) override { app_ = h; }
  quic::EventLoop& loop() override { return conn_.loop(); }
  std::string_view protocol() const override { return protocol_; }
  bool is_server() const override { return server_; }
  std::optional<quic::StreamId> open_bidi_stream() override;
  std::optional<quic::StreamId> open_uni_stream() override;
  bool write(quic::StreamId id, quic::SendBuffer data, bool fin) override;
  void reset_stream(quic::StreamId id, uint64_t app_code) override;
  void stop_sending(quic::StreamId id, uint64_t app_code) override;
  void set_priority(quic::StreamId id, uint64_t key) override { conn_.set_priority(id, key); }
  size_t queued_bytes(quic::StreamId id) const override { return conn_.queued_bytes(id); }
  bool send_datagram(quic::SendBuffer data) override;
  size_t max_datagram_payload() const override;
  void close(uint64_t app_code, std::string_view reason) override;
  quic::TransportStats stats() const override { return conn_.stats(); }

  // quic::TransportHandler: events of the underlying QUIC connection.
  void on_ready(std::string_view alpn) override;
  void on_stream_opened(quic::StreamId id, bool bidi) override;
  void on_stream_data(quic::StreamId id, std::span<const uint8_t> data, bool fin) override;
  void on_stream_reset(quic::StreamId id, uint64_t code) override;
  void on_stop_sending(quic::StreamId id, uint64_t code) override;
  void on_stream_drained(quic::StreamId id) override;
  void on_stream_closed(quic::StreamId id) override;
  void on_streams_available(bool bidi) override;
  void on_datagram(std::span<const uint8_t> data) override;
  void on_closed(const quic::CloseInfo& info) override;

 private:
  enum class State { kH3Setup, kConnecting, kEstablished, kClosing, kClosed };
  enum class Kind { kUnknown, kControl, kQpack, kIgnored, kWt, kConnect };
  struct Stream {
    Kind kind = Kind::kUnknown;
    bool bidi = false;
    bool local = false;
    uint64_t session = 0;    // WT stream: the session id in its header
    Bytes header;            // bytes of a not yet classified stream
    Bytes buffered;          // WT data waiting for the session to be accepted
    bool buffered_fin = false;
    std::unique_ptr<FrameReader> frames;  // control / CONNECT stream
  };

  Session(quic::Transport& conn, bool server);
  void start_h3();
  void classify(quic::StreamId id, Stream& s, std::span<const uint8_t> data, bool fin);
  void on_control_data(Stream& s, std::span<const uint8_t> data);
  void on_connect_stream_data(quic::StreamId id, Stream& s, std::span<const uint8_t> data, bool fin);
  void on_peer_settings(const Settings& settings);
  void maybe_process_connect();
  void process_connect(const Headers& h);
  void send_connect();
  void on_response(const Headers& h);
  void establish();
  void deliver_wt(quic::StreamId id, Stream& s, std::span<const uint8_t> data, bool fin);
  void fail_connection(uint64_t h3_code, const std::string& why);
  void end_session(quic::CloseInfo info);  // notify the app once
  void finish();

  quic::Transport& conn_;
  bool server_;
  State state_ = State::kH3Setup;
  quic::TransportHandler* app_ = nullptr;
  ServerOptions sopts_;
  ClientOptions copts_;
  std::map<quic::StreamId, Stream> streams_;
  bool peer_settings_ = false;
  bool peer_wt_enabled_ = false;
  quic::StreamId connect_stream_ = -1;
  std::optional<Headers> pending_connect_;
  ConnectRequest request_;
  int response_status_ = 0;
  std::string protocol_;
  Bytes capsule_buf_;
  size_t buffered_bytes_ = 0;
  bool app_notified_ = false;
  bool close_sent_ = false;  // our CLOSE_WEBTRANSPORT_SESSION capsule is out
  bool establish_when_sent_ = false;  // server: accepted, waiting for the 200 to leave
  uint64_t response_packet_ = 0;      // client: packets received when the response was read
  size_t early_streams_rejected_ = 0;
  bool finished_ = false;
  std::function<void()> on_finished_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Owns the WebTransport sessions of a server endpoint: plug accept() into the QUIC endpoint's
// accept callback for connections that negotiated ALPN "h3". Sessions are deleted once their
// connection is gone. Loop thread only.
class SessionHost {
 public:
  explicit SessionHost(ServerOptions opts) : opts_(std::move(opts)) {}
  quic::TransportHandler* accept(quic::Transport& conn);
  size_t size() const { return sessions_.size(); }

 private:
  ServerOptions opts_;
  std::map<Session*, std::unique_ptr<Session>> sessions_;
};

}  // namespace moqt::webtransport
