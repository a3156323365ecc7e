// Raw QUIC on ngtcp2: Endpoint (one UDP socket, many connections, client and/or server) and
// Connection (one ngtcp2_conn + its GnuTLS session), driven from one EventLoop the way ngtcp2's
// own examples do it: read packets -> ngtcp2_conn_read_pkt; write with ngtcp2_conn_writev_stream
// into GSO batches bounded by the send quantum; one timer per connection at ngtcp2's expiry
// (loss detection, idle, pacing).
//
// Ownership and threads: the Endpoint owns its Connections; both live on the EventLoop thread
// and are only touched there. A Connection's handler is called on that thread.
#pragma once

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "moqt/quic/event_loop.h"
#include "moqt/quic/tls.h"
#include "moqt/quic/transport.h"
#include "moqt/quic/udp.h"

namespace moqt::quic {

enum class CongestionControl { kCubic, kBbr, kReno };

struct QuicConfig {
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds keep_alive{0};  // PING interval while idle; 0 = none
  CongestionControl cc = CongestionControl::kCubic;
  uint64_t max_streams_bidi = 256;          // concurrent peer-initiated streams
  uint64_t max_streams_uni = 1024;
  uint64_t stream_window = 1 << 20;         // initial per-stream receive window
  uint64_t connection_window = 4 << 20;
  uint64_t max_stream_window = 16 << 20;    // auto-tuning ceiling
  uint64_t max_connection_window = 64 << 20;
  size_t max_datagram_queue = 256;          // outgoing datagrams waiting for the congestion window
  size_t max_connections = 1000;            // server: more are refused
  std::string qlog_dir;                     // write <dir>/<scid>.sqlog per connection when set
  // Server: the stateless reset secret is derived from this key when set (random per endpoint
  // otherwise). A restarted server (or another instance on the same address) that uses the same
  // key can then reset its predecessor's connections: clients close at once instead of waiting
  // for their idle timeout.
  std::string stateless_reset_key;
  Impairment impairment;                    // test shim on this endpoint's sends
  bool ecn = true;
  bool gso = true;                          // false: no UDP_SEGMENT even when the kernel has it
  // Receive with UDP GRO (UdpSocket::enable_gro) when the kernel has it. Off by default: on
  // loopback it lets a GSO batch reach the receiver unsplit, which flatters benchmarks.
  bool gro = false;
  // Server: SO_REUSEPORT, so several loops can listen on one port (the kernel spreads clients
  // over them by address; give each its own stateless reset secret).
  bool reuse_port = false;
};

class Endpoint;

class Connection final : public Transport {
 public:
  ~Connection() override;

  // Transport.
  void set_handler(TransportHandler* h) override { handler_ = h; }
  EventLoop& loop() override { return loop_; }
  std::string_view protocol() const override { return alpn_; }
  bool is_server() const override { return server_; }
  std::optional<StreamId> open_bidi_stream() override;
  std::optional<StreamId> open_uni_stream() override;
  bool write(StreamId id, SendBuffer data, bool fin) override;
  void reset_stream(StreamId id, uint64_t app_code) override;
  void stop_sending(StreamId id, uint64_t app_code) override;
  void set_priority(StreamId id, uint64_t key) override;
  size_t queued_bytes(StreamId id) const override;
  bool send_datagram(SendBuffer data) override;
  size_t max_datagram_payload() const override;
  void close(uint64_t app_code, std::string_view reason) override;
  TransportStats stats() const override;

  // The peer's address on the current path: follows NAT rebinding and migration.
  SocketAddress remote() const;
  bool handshake_completed() const { return handshake_done_; }
  bool closed() const { return state_ != State::kOpen; }

 private:
  friend class Endpoint;
  enum class State { kOpen, kClosing, kDraining, kDead };
  struct Stream {
    StreamId id = -1;
    std::deque<SendBuffer> chunks;  // unacknowledged data, in order
    uint64_t chunks_start = 0;      // stream offset of chunks.front()
    size_t unsent_idx = 0;          // first chunk with bytes not yet handed to ngtcp2 (or size())
    uint64_t unsent_start = 0;      // stream offset of chunks[unsent_idx]
    uint64_t queued_end = 0;        // offset after the last queued byte
    uint64_t sent = 0;              // bytes handed to ngtcp2
    bool fin_queued = false, fin_sent = false;
    bool write_shut = false, blocked = false;
    uint64_t priority = UINT64_MAX / 2;
    bool in_ready = false;
  };

  Connection(Endpoint& ep, bool server);
  bool init_client(const SocketAddress& local, const SocketAddress& remote, std::shared_ptr<ClientTls> tls,
                   std::string* error);
  bool init_server(const SocketAddress& local, const SocketAddress& remote, const ngtcp2_pkt_hd& hd,
                   const ServerTls& tls, std::string* error);
  void setup_settings(ngtcp2_settings& s, ngtcp2_transport_params& p);

  // Called by the endpoint.
  void on_packet(const ReceivedDatagram& d);
  void flush();  // write whatever can be written now and re-arm the timer
  void schedule_flush();
  void on_timer();

  // ngtcp2 callbacks.
  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref);
  static int cb_handshake_completed(ngtcp2_conn*, void* ud);
  static int cb_recv_stream_data(ngtcp2_conn*, uint32_t flags, int64_t id, uint64_t offset, const uint8_t* data,
                                 size_t len, void* ud, void* sud);
  static int cb_acked_stream_data_offset(ngtcp2_conn*, int64_t id, uint64_t offset, uint64_t len, void* ud,
                                         void* sud);
  static int cb_stream_open(ngtcp2_conn*, int64_t id, void* ud);
  static int cb_stream_close(ngtcp2_conn*, uint32_t flags, int64_t id, uint64_t code, void* ud, void* sud);
  static int cb_stream_reset(ngtcp2_conn*, int64_t id, uint64_t final_size, uint64_t code, void* ud, void* sud);
  static int cb_stream_stop_sending(ngtcp2_conn*, int64_t id, uint64_t code, void* ud, void* sud);
  static int cb_extend_max_stream_data(ngtcp2_conn*, int64_t id, uint64_t max, void* ud, void* sud);
  static int cb_extend_max_local_streams_bidi(ngtcp2_conn*, uint64_t max, void* ud);
  static int cb_extend_max_local_streams_uni(ngtcp2_conn*, uint64_t max, void* ud);
  static int cb_recv_datagram(ngtcp2_conn*, uint32_t flags, const uint8_t* data, size_t len, void* ud);
  static int cb_get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t len, void* ud);
  static int cb_remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* cid, void* ud);
  static void cb_rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*);
  static int cb_recv_stateless_reset(ngtcp2_conn*, const ngtcp2_pkt_stateless_reset*, void* ud);
  static void cb_qlog(void* ud, uint32_t flags, const void* data, size_t len);

  Stream* stream(StreamId id);
  Stream& add_stream(StreamId id);
  void mark_ready(Stream& s);
  void unmark_ready(Stream& s);
  void consume(Stream& s, size_t n, bool fin_written);
  size_t build_iov(const Stream& s, ngtcp2_vec* iov, size_t max_iov, bool* all) const;
  bool send_packets(const ngtcp2_path& path, const uint8_t* data, size_t len, size_t segment, uint8_t ecn);
  void fail(int liberr, const char* where);          // ngtcp2 error: close with the inferred code
  void write_close_packet(const ngtcp2_ccerr& ccerr);
  void enter_dead(CloseInfo info);                   // notify once, schedule removal
  void notify_closed(CloseInfo info);
  void arm_timer();

  Endpoint& ep_;
  EventLoop& loop_;
  bool server_;
  uint64_t serial_;
  ngtcp2_conn* conn_ = nullptr;
  gnutls_session_t tls_ = nullptr;
  ngtcp2_crypto_conn_ref conn_ref_{};
  std::shared_ptr<ClientTls> client_tls_;
  SocketAddress local_, remote_;
  TransportHandler* handler_ = nullptr;
  std::string alpn_;
  State state_ = State::kOpen;
  bool handshake_done_ = false;
  bool closed_notified_ = false;
  bool reset_received_ = false;  // the peer's stateless reset put us into draining
  bool flush_scheduled_ = false;
  std::vector<ngtcp2_cid> cids_;  // our SCIDs registered with the endpoint
  std::unordered_map<StreamId, Stream> streams_;
  std::set<std::pair<uint64_t, StreamId>> ready_;
  std::deque<SendBuffer> datagrams_;
  std::vector<uint8_t> close_pkt_;  // CONNECTION_CLOSE re-sent while closing
  EventLoop::TimerId timer_ = 0;
  EventLoop::TimerId flush_timer_ = 0;  // schedule_flush() on the loop thread
  uint64_t timer_at_ = 0;
  TransportStats counters_;
  FILE* qlog_ = nullptr;
};

// Server: called when a connection's handshake completes; return the handler for it (nullptr
// refuses the connection with application code 0).
using AcceptCallback = std::function<TransportHandler*(Connection&)>;

class Endpoint {
 public:
  // A server listening on `local`, optionally also usable as a client.
  static std::unique_ptr<Endpoint> listen(EventLoop& loop, const SocketAddress& local, QuicConfig cfg,
                                          std::shared_ptr<ServerTls> tls, AcceptCallback accept, std::string* error);
  // A client-only endpoint on an ephemeral port of the given family's wildcard address.
  static std::unique_ptr<Endpoint> client(EventLoop& loop, int family, QuicConfig cfg, std::string* error);
  ~Endpoint();  // drops every connection; handlers not yet told get on_closed(kLocal)

  // Starts a connection; the handler gets on_ready() after the handshake or on_closed().
  Connection* connect(const SocketAddress& remote, std::shared_ptr<ClientTls> tls, TransportHandler* handler,
                      std::string* error);

  const SocketAddress& local_address() const { return sock_.local(); }
  size_t connection_count() const { return conns_.size(); }
  EventLoop& loop() { return loop_; }
  const QuicConfig& config() const { return cfg_; }
  const UdpStats& udp_stats() const { return sock_.stats(); }  // of the current socket
  // Client endpoints: moves to a new UDP socket on a fresh ephemeral port, as if a NAT had
  // rebound our mapping (migrate = false: the connections do not know and the server sees a new
  // path mid-connection), or as an active migration (migrate = true: each connection switches to
  // the new path with a fresh connection ID and validates it; one that cannot, before its
  // handshake is confirmed or without a spare ID, is closed with an error). Packets in flight to
  // the old port are lost. False (and nothing changes) if no socket can be bound.
  bool rebind(bool migrate, std::string* error);
  // Stateless resets sent in answer to packets for unknown connections.
  uint64_t stateless_resets_sent() const { return stateless_resets_sent_; }
  // Live connections (for tests and stats).
  std::vector<Connection*> connections();
  void set_impairment(const Impairment& imp);

 private:
  friend class Connection;
  Endpoint(EventLoop& loop, UdpSocket sock, QuicConfig cfg);
  void start();
  void on_readable();
  void on_writable();
  void on_datagram(const ReceivedDatagram& d, std::set<Connection*>& touched);
  void send_stateless_reset(const ReceivedDatagram& d, const uint8_t* dcid, size_t dcidlen);
  void send_version_negotiation(const ReceivedDatagram& d, const ngtcp2_version_cid& vc);
  bool send(const SocketAddress& to, const uint8_t* data, size_t len, size_t segment, uint8_t ecn);
  void register_cid(const ngtcp2_cid& cid, Connection* c);
  void unregister_cid(const ngtcp2_cid& cid);
  void remove(Connection* c);  // deferred to the loop (never while inside the connection)
  // Runs fn on the loop later if `c` is still alive then.
  void post_to(Connection* c, std::function<void()> fn);
  void arm_shim_timer();

  EventLoop& loop_;
  UdpSocket sock_;
  QuicConfig cfg_;
  std::shared_ptr<ServerTls> server_tls_;
  AcceptCallback accept_;
  // Transparent hashing: the lookup for each received datagram takes a string_view of its DCID
  // (18 bytes, past std::string's small-buffer size, so a std::string key allocated per packet).
  struct CidHash {
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  std::unordered_map<std::string, Connection*, CidHash, std::equal_to<>> cids_;  // binary CID -> connection
  std::map<Connection*, std::unique_ptr<Connection>> conns_;
  std::set<Connection*> tx_blocked_;
  // Packets are built here, one flush at a time (loop thread): one buffer per endpoint, not 94 KB
  // per connection (most of an idle subscriber's memory on a relay).
  std::vector<uint8_t> txbuf_;
  bool txbuf_busy_ = false;
  struct PendingTx {
    SocketAddress to;
    std::vector<uint8_t> data;
    size_t segment;
    uint8_t ecn;
  };
  std::deque<PendingTx> pending_tx_;
  uint8_t reset_secret_[32];
  EventLoop::TimerId shim_timer_ = 0;
  uint64_t next_serial_ = 0;
  uint64_t stateless_resets_this_second_ = 0;
  uint64_t stateless_reset_window_ = 0;
  uint64_t stateless_resets_sent_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace moqt::quic
