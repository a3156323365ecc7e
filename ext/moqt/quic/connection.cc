#include "moqt/quic/connection.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace moqt::quic {
namespace {

constexpr size_t kScidLen = 18;
constexpr size_t kMaxGsoPackets = 64;
constexpr size_t kMaxUdpPayload = 1472;  // what we send at most; loopback/ethernet safe

std::string cid_key(const uint8_t* data, size_t len) { return std::string(reinterpret_cast<const char*>(data), len); }
std::string cid_key(const ngtcp2_cid& c) { return cid_key(c.data, c.datalen); }

std::string cid_hex(const ngtcp2_cid& c) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < c.datalen; ++i) {
    s.push_back(k[c.data[i] >> 4]);
    s.push_back(k[c.data[i] & 15]);
  }
  return s;
}

ngtcp2_path make_path(const SocketAddress& local, const SocketAddress& remote) {
  ngtcp2_path p{};
  p.local.addr = const_cast<sockaddr*>(local.get());
  p.local.addrlen = local.size();
  p.remote.addr = const_cast<sockaddr*>(remote.get());
  p.remote.addrlen = remote.size();
  return p;
}

void random_bytes(uint8_t* p, size_t n) { gnutls_rnd(GNUTLS_RND_RANDOM, p, n); }

void log_printf(void*, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(Endpoint& ep, bool server)
    : ep_(ep), loop_(ep.loop_), server_(server), serial_(++ep.next_serial_) {
  conn_ref_.get_conn = &Connection::get_conn;
  conn_ref_.user_data = this;
}

Connection::~Connection() {
  if (timer_) loop_.cancel_timer(timer_);
  if (flush_timer_) loop_.cancel_timer(flush_timer_);
  for (const ngtcp2_cid& c : cids_) ep_.unregister_cid(c);
  if (conn_) ngtcp2_conn_del(conn_);
  if (tls_) gnutls_deinit(tls_);
  if (qlog_) fclose(qlog_);
}

ngtcp2_conn* Connection::get_conn(ngtcp2_crypto_conn_ref* ref) { return static_cast<Connection*>(ref->user_data)->conn_; }

void Connection::cb_rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*) { random_bytes(dest, len); }

void Connection::setup_settings(ngtcp2_settings& s, ngtcp2_transport_params& p) {
  const QuicConfig& cfg = ep_.cfg_;
  ngtcp2_settings_default(&s);
  s.initial_ts = EventLoop::now_ns();
  s.cc_algo = cfg.cc == CongestionControl::kBbr    ? NGTCP2_CC_ALGO_BBR
              : cfg.cc == CongestionControl::kReno ? NGTCP2_CC_ALGO_RENO
                                                   : NGTCP2_CC_ALGO_CUBIC;
  s.max_tx_udp_payload_size = kMaxUdpPayload;
  s.handshake_timeout = uint64_t(cfg.handshake_timeout.count()) * NGTCP2_MILLISECONDS;
  s.max_window = cfg.max_connection_window;
  s.max_stream_window = cfg.max_stream_window;
  if (!cfg.qlog_dir.empty()) s.qlog_write = &Connection::cb_qlog;
  if (getenv("MOQT_NGTCP2_DEBUG")) s.log_printf = &log_printf;

  ngtcp2_transport_params_default(&p);
  p.initial_max_stream_data_bidi_local = cfg.stream_window;
  p.initial_max_stream_data_bidi_remote = cfg.stream_window;
  p.initial_max_stream_data_uni = cfg.stream_window;
  p.initial_max_data = cfg.connection_window;
  p.initial_max_streams_bidi = cfg.max_streams_bidi;
  p.initial_max_streams_uni = cfg.max_streams_uni;
  p.max_idle_timeout = uint64_t(cfg.idle_timeout.count()) * NGTCP2_MILLISECONDS;
  p.max_datagram_frame_size = 65535;  // MoQT needs DATAGRAM on raw QUIC too
  p.active_connection_id_limit = 7;
}

namespace {
ngtcp2_callbacks base_callbacks() {
  ngtcp2_callbacks cb{};
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  return cb;
}
}  // namespace

#define MOQT_CONN_CALLBACKS(cb)                                              \
  cb.handshake_completed = &Connection::cb_handshake_completed;              \
  cb.recv_stream_data = &Connection::cb_recv_stream_data;                    \
  cb.acked_stream_data_offset = &Connection::cb_acked_stream_data_offset;    \
  cb.stream_open = &Connection::cb_stream_open;                              \
  cb.stream_close = &Connection::cb_stream_close;                            \
  cb.stream_reset = &Connection::cb_stream_reset;                            \
  cb.stream_stop_sending = &Connection::cb_stream_stop_sending;              \
  cb.extend_max_stream_data = &Connection::cb_extend_max_stream_data;        \
  cb.extend_max_local_streams_bidi = &Connection::cb_extend_max_local_streams_bidi; \
  cb.extend_max_local_streams_uni = &Connection::cb_extend_max_local_streams_uni;   \
  cb.recv_datagram = &Connection::cb_recv_datagram;                          \
  cb.get_new_connection_id = &Connection::cb_get_new_connection_id;          \
  cb.remove_connection_id = &Connection::cb_remove_connection_id;            \
  cb.rand = &Connection::cb_rand;

bool Connection::init_client(const SocketAddress& local, const SocketAddress& remote, std::shared_ptr<ClientTls> tls,
                             std::string* error) {
  local_ = local;
  remote_ = remote;
  client_tls_ = std::move(tls);
  ngtcp2_callbacks cb = base_callbacks();
  cb.client_initial = ngtcp2_crypto_client_initial_cb;
  cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  cb.recv_stateless_reset = &Connection::cb_recv_stateless_reset;
  MOQT_CONN_CALLBACKS(cb)
  ngtcp2_cid dcid, scid;
  dcid.datalen = kScidLen;
  random_bytes(dcid.data, dcid.datalen);
  scid.datalen = kScidLen;
  random_bytes(scid.data, scid.datalen);
  ngtcp2_settings s;
  ngtcp2_transport_params p;
  setup_settings(s, p);
  if (!ep_.cfg_.qlog_dir.empty())
    qlog_ = fopen((ep_.cfg_.qlog_dir + "/client-" + cid_hex(scid) + ".sqlog").c_str(), "w");
  ngtcp2_path path = make_path(local_, remote_);
  int rc = ngtcp2_conn_client_new(&conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &s, &p, nullptr, this);
  if (rc != 0) {
    if (error) *error = std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(rc);
    return false;
  }
  tls_ = client_tls_->new_session(error);
  if (!tls_) return false;
  gnutls_session_set_ptr(tls_, &conn_ref_);
  ngtcp2_conn_set_tls_native_handle(conn_, tls_);
  if (ep_.cfg_.keep_alive.count() > 0)
    ngtcp2_conn_set_keep_alive_timeout(conn_, uint64_t(ep_.cfg_.keep_alive.count()) * NGTCP2_MILLISECONDS);
  cids_.push_back(scid);
  ep_.register_cid(scid, this);
  return true;
}

bool Connection::init_server(const SocketAddress& local, const SocketAddress& remote, const ngtcp2_pkt_hd& hd,
                             const ServerTls& tls, std::string* error) {
  local_ = local;
  remote_ = remote;
  ngtcp2_callbacks cb = base_callbacks();
  cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  MOQT_CONN_CALLBACKS(cb)
  ngtcp2_cid scid;
  scid.datalen = kScidLen;
  random_bytes(scid.data, scid.datalen);
  ngtcp2_settings s;
  ngtcp2_transport_params p;
  setup_settings(s, p);
  p.original_dcid = hd.dcid;
  p.original_dcid_present = 1;
  p.stateless_reset_token_present = 1;
  ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, ep_.reset_secret_, sizeof ep_.reset_secret_,
                                               &scid);
  if (!ep_.cfg_.qlog_dir.empty())
    qlog_ = fopen((ep_.cfg_.qlog_dir + "/server-" + cid_hex(scid) + ".sqlog").c_str(), "w");
  ngtcp2_path path = make_path(local_, remote_);
  int rc = ngtcp2_conn_server_new(&conn_, &hd.scid, &scid, &path, hd.version, &cb, &s, &p, nullptr, this);
  if (rc != 0) {
    if (error) *error = std::string("ngtcp2_conn_server_new: ") + ngtcp2_strerror(rc);
    return false;
  }
  tls_ = tls.new_session(error);
  if (!tls_) return false;
  gnutls_session_set_ptr(tls_, &conn_ref_);
  ngtcp2_conn_set_tls_native_handle(conn_, tls_);
  if (ep_.cfg_.keep_alive.count() > 0)
    ngtcp2_conn_set_keep_alive_timeout(conn_, uint64_t(ep_.cfg_.keep_alive.count()) * NGTCP2_MILLISECONDS);
  cids_.push_back(scid);
  ep_.register_cid(scid, this);
  cids_.push_back(hd.dcid);  // the client's chosen DCID routes Initial retransmissions here
  ep_.register_cid(hd.dcid, this);
  return true;
}

void Connection::cb_qlog(void* ud, uint32_t, const void* data, size_t len) {
  auto* c = static_cast<Connection*>(ud);
  if (c->qlog_) fwrite(data, 1, len, c->qlog_);
}

int Connection::cb_handshake_completed(ngtcp2_conn*, void* ud) {
  auto* c = static_cast<Connection*>(ud);
  c->handshake_done_ = true;
  c->alpn_ = negotiated_alpn(c->tls_);
  if (!c->server_) {
    if (auto why = c->client_tls_->verify_peer(c->tls_)) {
      // Refuse before the application sees the connection: 0x12a = CRYPTO_ERROR(bad_certificate).
      c->ep_.post_to(c, [c, why = *why] {
        if (c->state_ != State::kOpen) return;
        ngtcp2_ccerr e;
        ngtcp2_ccerr_set_tls_alert(&e, 42, reinterpret_cast<const uint8_t*>(why.data()), why.size());
        c->write_close_packet(e);
        c->enter_dead(CloseInfo{CloseSource::kError, false, 0x12a, why});
      });
      return 0;
    }
    if (c->handler_) c->handler_->on_ready(c->alpn_);
    return 0;
  }
  TransportHandler* h = c->ep_.accept_ ? c->ep_.accept_(*c) : nullptr;
  if (!h) {
    c->ep_.post_to(c, [c] { c->close(0, "refused"); });
    return 0;
  }
  c->handler_ = h;
  h->on_ready(c->alpn_);
  return 0;
}

int Connection::cb_recv_stream_data(ngtcp2_conn*, uint32_t flags, int64_t id, uint64_t, const uint8_t* data,
                                    size_t len, void* ud, void*) {
  auto* c = static_cast<Connection*>(ud);
  c->counters_.stream_bytes_received += len;
  const bool fin = flags & NGTCP2_STREAM_DATA_FLAG_FIN;
  if (c->handler_) c->handler_->on_stream_data(id, {data, len}, fin);
  // The handler consumed the bytes: return the credit (flow control follows consumption).
  if (c->conn_ && c->state_ == State::kOpen) {
    ngtcp2_conn_extend_max_stream_offset(c->conn_, id, len);
    ngtcp2_conn_extend_max_offset(c->conn_, len);
  }
  return 0;
}

int Connection::cb_acked_stream_data_offset(ngtcp2_conn*, int64_t id, uint64_t offset, uint64_t len, void* ud,
                                            void*) {
  auto* c = static_cast<Connection*>(ud);
  Stream* s = c->stream(id);
  if (!s) return 0;
  const uint64_t acked = offset + len;
  while (!s->chunks.empty() && s->chunks_start + s->chunks.front().data.size() <= acked) {
    const size_t n = s->chunks.front().data.size();
    s->chunks_start += n;
    s->chunks.pop_front();
    if (s->unsent_idx > 0) --s->unsent_idx;
    else s->unsent_start += n;  // (acked data is always sent: not reached in practice)
  }
  return 0;
}

int Connection::cb_stream_open(ngtcp2_conn*, int64_t id, void* ud) {
  auto* c = static_cast<Connection*>(ud);
  c->add_stream(id);
  if (c->handler_) c->handler_->on_stream_opened(id, ngtcp2_is_bidi_stream(id));
  return 0;
}

int Connection::cb_stream_close(ngtcp2_conn*, uint32_t, int64_t id, uint64_t, void* ud, void*) {
  auto* c = static_cast<Connection*>(ud);
  if (Stream* s = c->stream(id)) {
    c->unmark_ready(*s);
    c->streams_.erase(id);
  }
  // Keep the peer's concurrency constant: a closed peer stream makes room for a new one.
  if (!ngtcp2_conn_is_local_stream(c->conn_, id)) {
    if (ngtcp2_is_bidi_stream(id)) ngtcp2_conn_extend_max_streams_bidi(c->conn_, 1);
    else ngtcp2_conn_extend_max_streams_uni(c->conn_, 1);
  }
  if (c->handler_) c->handler_->on_stream_closed(id);
  return 0;
}

int Connection::cb_stream_reset(ngtcp2_conn*, int64_t id, uint64_t, uint64_t code, void* ud, void*) {
  auto* c = static_cast<Connection*>(ud);
  if (c->handler_) c->handler_->on_stream_reset(id, code);
  return 0;
}

int Connection::cb_stream_stop_sending(ngtcp2_conn*, int64_t id, uint64_t code, void* ud, void*) {
  auto* c = static_cast<Connection*>(ud);
  if (c->handler_) c->handler_->on_stop_sending(id, code);
  return 0;
}

int Connection::cb_extend_max_stream_data(ngtcp2_conn*, int64_t id, uint64_t, void* ud, void*) {
  auto* c = static_cast<Connection*>(ud);
  if (Stream* s = c->stream(id)) {
    s->blocked = false;
    c->mark_ready(*s);
  }
  return 0;
}

int Connection::cb_extend_max_local_streams_bidi(ngtcp2_conn*, uint64_t, void* ud) {
  auto* c = static_cast<Connection*>(ud);
  if (c->handler_ && c->handshake_done_) c->handler_->on_streams_available(true);
  return 0;
}

int Connection::cb_extend_max_local_streams_uni(ngtcp2_conn*, uint64_t, void* ud) {
  auto* c = static_cast<Connection*>(ud);
  if (c->handler_ && c->handshake_done_) c->handler_->on_streams_available(false);
  return 0;
}

int Connection::cb_recv_datagram(ngtcp2_conn*, uint32_t, const uint8_t* data, size_t len, void* ud) {
  auto* c = static_cast<Connection*>(ud);
  ++c->counters_.datagrams_received;
  if (c->handler_) c->handler_->on_datagram({data, len});
  return 0;
}

int Connection::cb_get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t len, void* ud) {
  auto* c = static_cast<Connection*>(ud);
  cid->datalen = len;
  random_bytes(cid->data, len);
  if (ngtcp2_crypto_generate_stateless_reset_token(token, c->ep_.reset_secret_, sizeof c->ep_.reset_secret_, cid) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  c->cids_.push_back(*cid);
  c->ep_.register_cid(*cid, c);
  return 0;
}

int Connection::cb_remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* cid, void* ud) {
  auto* c = static_cast<Connection*>(ud);
  c->ep_.unregister_cid(*cid);
  c->cids_.erase(std::remove_if(c->cids_.begin(), c->cids_.end(), [&](const ngtcp2_cid& x) { return ngtcp2_cid_eq(&x, cid); }),
                 c->cids_.end());
  return 0;
}

int Connection::cb_recv_stateless_reset(ngtcp2_conn*, const ngtcp2_pkt_stateless_reset*, void* ud) {
  // read_pkt returns NGTCP2_ERR_DRAINING next; on_packet reports the close with this source.
  static_cast<Connection*>(ud)->reset_received_ = true;
  return 0;
}

// --- streams -----------------------------------------------------------------------------------

Connection::Stream* Connection::stream(StreamId id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

Connection::Stream& Connection::add_stream(StreamId id) {
  Stream& s = streams_[id];
  s.id = id;
  return s;
}

void Connection::mark_ready(Stream& s) {
  const bool has_work = s.sent < s.queued_end || (s.fin_queued && !s.fin_sent);
  if (s.in_ready || s.blocked || s.write_shut || !has_work) return;
  ready_.insert({s.priority, s.id});
  s.in_ready = true;
}

void Connection::unmark_ready(Stream& s) {
  if (!s.in_ready) return;
  ready_.erase({s.priority, s.id});
  s.in_ready = false;
}

std::optional<StreamId> Connection::open_bidi_stream() {
  if (state_ != State::kOpen || !conn_) return std::nullopt;
  int64_t id;
  if (ngtcp2_conn_open_bidi_stream(conn_, &id, nullptr) != 0) return std::nullopt;
  add_stream(id);
  return id;
}

std::optional<StreamId> Connection::open_uni_stream() {
  if (state_ != State::kOpen || !conn_) return std::nullopt;
  int64_t id;
  if (ngtcp2_conn_open_uni_stream(conn_, &id, nullptr) != 0) return std::nullopt;
  add_stream(id);
  return id;
}

bool Connection::write(StreamId id, SendBuffer data, bool fin) {
  if (state_ != State::kOpen) return false;
  Stream* s = stream(id);
  if (!s || s->fin_queued || s->write_shut) return false;
  if (!data.data.empty()) {
    s->queued_end += data.data.size();
    s->chunks.push_back(std::move(data));
  }
  s->fin_queued = fin;
  mark_ready(*s);
  schedule_flush();
  return true;
}

void Connection::reset_stream(StreamId id, uint64_t app_code) {
  if (state_ != State::kOpen || !conn_) return;
  if (Stream* s = stream(id)) {
    unmark_ready(*s);
    s->write_shut = true;
    s->chunks.clear();
    s->unsent_idx = 0;
    s->unsent_start = s->chunks_start;
  }
  ngtcp2_conn_shutdown_stream_write(conn_, 0, id, app_code);
  schedule_flush();
}

void Connection::stop_sending(StreamId id, uint64_t app_code) {
  if (state_ != State::kOpen || !conn_) return;
  ngtcp2_conn_shutdown_stream_read(conn_, 0, id, app_code);
  schedule_flush();
}

void Connection::set_priority(StreamId id, uint64_t key) {
  Stream* s = stream(id);
  if (!s || s->priority == key) return;
  const bool was = s->in_ready;
  unmark_ready(*s);
  s->priority = key;
  if (was) mark_ready(*s);
}

size_t Connection::queued_bytes(StreamId id) const {
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  return size_t(it->second.queued_end - it->second.sent);
}

bool Connection::send_datagram(SendBuffer data) {
  if (state_ != State::kOpen || !handshake_done_) return false;
  if (data.data.size() > max_datagram_payload() || datagrams_.size() >= ep_.cfg_.max_datagram_queue) {
    ++counters_.datagrams_dropped;
    return false;
  }
  datagrams_.push_back(std::move(data));
  schedule_flush();
  return true;
}

size_t Connection::max_datagram_payload() const {
  if (!conn_) return 0;
  const ngtcp2_transport_params* rp = ngtcp2_conn_get_remote_transport_params(conn_);
  if (!rp || rp->max_datagram_frame_size == 0) return 0;
  // Short header (1 + DCID + 4 packet number) + AEAD tag 16 + DATAGRAM frame type and length.
  const size_t overhead = 1 + kScidLen + 4 + 16 + 1 + 8;
  const size_t path = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_);
  return std::min<size_t>(rp->max_datagram_frame_size - 9, path > overhead ? path - overhead : 0);
}

size_t Connection::build_iov(const Stream& s, ngtcp2_vec* iov, size_t max_iov, bool* all) const {
  size_t n = 0;
  uint64_t off = s.unsent_start;  // chunks before unsent_idx are all sent: skip them
  *all = true;
  for (size_t i = s.unsent_idx; i < s.chunks.size(); ++i) {
    const SendBuffer& b = s.chunks[i];
    const uint64_t end = off + b.data.size();
    if (end > s.sent) {
      if (n == max_iov) {
        *all = false;
        break;
      }
      const size_t skip = s.sent > off ? size_t(s.sent - off) : 0;
      iov[n].base = const_cast<uint8_t*>(b.data.data() + skip);
      iov[n].len = b.data.size() - skip;
      ++n;
    }
    off = end;
  }
  return n;
}

void Connection::consume(Stream& s, size_t n, bool fin_written) {
  s.sent += n;
  while (s.unsent_idx < s.chunks.size() && s.unsent_start + s.chunks[s.unsent_idx].data.size() <= s.sent) {
    s.unsent_start += s.chunks[s.unsent_idx].data.size();
    ++s.unsent_idx;
  }
  counters_.stream_bytes_sent += n;
  if (fin_written) s.fin_sent = true;
  if (s.sent >= s.queued_end && (!s.fin_queued || s.fin_sent)) {
    unmark_ready(s);
    if (handler_) handler_->on_stream_drained(s.id);
  }
}

// --- I/O -----------------------------------------------------------------------------------------

void Connection::on_packet(const ReceivedDatagram& d) {
  if (state_ == State::kDead) return;
  if (state_ == State::kClosing) {  // answer with the close again (rate: once per packet burst)
    if (!close_pkt_.empty()) ep_.send(d.peer, close_pkt_.data(), close_pkt_.size(), 0, 0);
    return;
  }
  if (state_ == State::kDraining) return;
  ++counters_.packets_received;
  counters_.bytes_received += d.data.size();
  ngtcp2_path path = make_path(d.local, d.peer);
  ngtcp2_pkt_info pi{};
  pi.ecn = d.ecn;
  const int rc = ngtcp2_conn_read_pkt(conn_, &path, &pi, d.data.data(), d.data.size(), EventLoop::now_ns());
  if (rc == 0) return;
  switch (rc) {
    case NGTCP2_ERR_DRAINING: {
      const ngtcp2_ccerr* e = ngtcp2_conn_get_ccerr(conn_);
      CloseInfo info{CloseSource::kPeer, e->type == NGTCP2_CCERR_TYPE_APPLICATION, e->error_code,
                     std::string(reinterpret_cast<const char*>(e->reason), e->reasonlen)};
      if (reset_received_) info = CloseInfo{CloseSource::kStatelessReset, false, 0, "stateless reset"};
      state_ = State::kDraining;
      notify_closed(info);
      // Stay silent for 3 PTO so late packets are absorbed, then disappear.
      const uint64_t pto = ngtcp2_conn_get_pto(conn_);
      if (timer_) loop_.cancel_timer(timer_);
      timer_ = loop_.add_timer(std::chrono::nanoseconds(3 * pto), [this] {
        timer_ = 0;
        enter_dead(CloseInfo{});
      });
      return;
    }
    case NGTCP2_ERR_DROP_CONN:
      enter_dead(CloseInfo{CloseSource::kError, false, 0, "connection dropped"});
      return;
    case NGTCP2_ERR_CRYPTO: {
      ngtcp2_ccerr e;
      ngtcp2_ccerr_set_tls_alert(&e, ngtcp2_conn_get_tls_alert(conn_), nullptr, 0);
      write_close_packet(e);
      enter_dead(CloseInfo{CloseSource::kError, false, e.error_code, "TLS handshake failed"});
      return;
    }
    default:
      fail(rc, "read_pkt");
  }
}

void Connection::fail(int liberr, const char* where) {
  if (state_ != State::kOpen) return;
  ngtcp2_ccerr e;
  ngtcp2_ccerr_set_liberr(&e, liberr, nullptr, 0);
  write_close_packet(e);
  enter_dead(CloseInfo{CloseSource::kError, false, e.error_code, std::string(where) + ": " + ngtcp2_strerror(liberr)});
}

bool Connection::send_packets(const ngtcp2_path& path, const uint8_t* data, size_t len, size_t segment, uint8_t ecn) {
  SocketAddress to(path.remote.addr, path.remote.addrlen);
  const size_t pkts = segment ? (len + segment - 1) / segment : 1;
  counters_.packets_sent += pkts;
  counters_.bytes_sent += len;
  return ep_.send(to, data, len, segment, ep_.cfg_.ecn ? ecn : 0);
}

void Connection::flush() {
  if (state_ != State::kOpen || !conn_) return;
  if (ep_.tx_blocked_.count(this)) return;  // the endpoint resumes us when the socket drains
  const uint64_t ts = EventLoop::now_ns();
  const size_t max_udp = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn_);
  // Each packet gets room for the configured maximum, not just the current path maximum:
  // ngtcp2 writes its Path MTU Discovery probes (up to 1452 bytes) only into a buffer that
  // large, and with the path maximum (1200 until a probe succeeds) PMTUD could never succeed.
  const size_t pkt_room = ngtcp2_conn_get_max_tx_udp_payload_size(conn_);
  const size_t quantum = ngtcp2_conn_get_send_quantum(conn_);
  const size_t max_pkts = std::clamp<size_t>(quantum / max_udp, 1, kMaxGsoPackets);
  ngtcp2_path_storage ps, first_ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_path_storage_zero(&first_ps);
  ngtcp2_pkt_info pi{};
  uint8_t first_ecn = 0;
  // The endpoint's packet buffer; a flush nested in another (a callback flushing a second
  // connection) gets its own.
  std::vector<uint8_t> own;
  const bool shared = !ep_.txbuf_busy_;
  if (shared && ep_.txbuf_.empty()) ep_.txbuf_.resize(kMaxUdpPayload * kMaxGsoPackets);
  if (!shared) own.resize(kMaxUdpPayload * kMaxGsoPackets);
  uint8_t* const buf = shared ? ep_.txbuf_.data() : own.data();
  struct Release {
    bool* busy;
    ~Release() {
      if (busy) *busy = false;
    }
  } release{shared ? &ep_.txbuf_busy_ : nullptr};
  if (shared) ep_.txbuf_busy_ = true;
  size_t used = 0, npkts = 0, first_size = 0;
  size_t written = 0;  // packets written by this call
  bool blocked = false, more = false;

  auto send_batch = [&]() {
    if (npkts == 0) return true;
    const bool ok = send_packets(first_ps.path, buf, used, npkts > 1 ? first_size : 0, first_ecn);
    used = npkts = first_size = 0;
    return ok;
  };

  for (;;) {
    uint8_t* p = buf + used;
    ngtcp2_ssize ndatalen = -1;
    ngtcp2_ssize nwrite;
    Stream* s = nullptr;
    size_t total = 0;  // stream bytes offered in this call
    bool fin_flag = false, dgram = false;
    int accepted = 0;
    if (!datagrams_.empty()) {
      dgram = true;
      ngtcp2_vec v{const_cast<uint8_t*>(datagrams_.front().data.data()), datagrams_.front().data.size()};
      nwrite = ngtcp2_conn_writev_datagram(conn_, &ps.path, &pi, p, pkt_room, &accepted, NGTCP2_WRITE_DATAGRAM_FLAG_MORE,
                                           0, &v, 1, ts);
    } else {
      ngtcp2_vec iov[16];
      size_t niov = 0;
      int64_t sid = -1;
      uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      if (!ready_.empty()) {
        s = stream(ready_.begin()->second);
        bool all = false;
        niov = build_iov(*s, iov, 16, &all);
        for (size_t i = 0; i < niov; ++i) total += iov[i].len;
        sid = s->id;
        if (all && s->fin_queued && !s->fin_sent) {
          flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
          fin_flag = true;
        }
      }
      nwrite = ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, p, pkt_room, &ndatalen, flags, sid, iov, niov, ts);
    }
    if (nwrite < 0) {
      if (dgram && (nwrite == NGTCP2_ERR_WRITE_MORE || nwrite == NGTCP2_ERR_INVALID_ARGUMENT)) {
        if (nwrite == NGTCP2_ERR_INVALID_ARGUMENT) ++counters_.datagrams_dropped;  // too large for the path
        else if (accepted) ++counters_.datagrams_sent;
        datagrams_.pop_front();
        continue;
      }
      switch (nwrite) {
        case NGTCP2_ERR_WRITE_MORE:
          if (s) consume(*s, size_t(ndatalen), fin_flag && size_t(ndatalen) == total);
          continue;
        case NGTCP2_ERR_STREAM_DATA_BLOCKED:
          if (s) {
            unmark_ready(*s);
            s->blocked = true;
          }
          continue;
        case NGTCP2_ERR_STREAM_SHUT_WR:
        case NGTCP2_ERR_STREAM_NOT_FOUND:
          if (s) {
            unmark_ready(*s);
            s->write_shut = true;
          }
          continue;
        default:
          send_batch();
          fail(int(nwrite), "writev");
          return;
      }
    }
    if (dgram && accepted) {
      ++counters_.datagrams_sent;
      datagrams_.pop_front();
    }  // else: the packet went out without the datagram (e.g. ACKs first); it stays queued
    if (s && ndatalen >= 0) consume(*s, size_t(ndatalen), fin_flag && size_t(ndatalen) == total);
    if (nwrite == 0) break;  // nothing more now (or congestion/pacing limited)

    if (npkts > 0 && (!ngtcp2_path_eq(&first_ps.path, &ps.path) || size_t(nwrite) > first_size ||
                      pi.ecn != first_ecn)) {
      // This packet cannot join the GSO batch: the path changed (migration), it is larger than
      // the batch's segment size (a PMTUD probe), or it carries another ECN mark. Send the
      // batch, then start a new one with this packet. If the socket is full the endpoint keeps
      // the batch queued, and this packet follows it (the send_batch() after the loop).
      std::vector<uint8_t> pkt(p, p + nwrite);
      if (!send_batch()) blocked = true;
      memcpy(buf, pkt.data(), pkt.size());
      p = buf;
    }
    if (npkts == 0) {
      ngtcp2_path_copy(&first_ps.path, &ps.path);
      first_ecn = pi.ecn;
      first_size = size_t(nwrite);
    }
    used = size_t(p - buf) + size_t(nwrite);
    ++npkts;
    ++written;
    if (blocked) break;
    // GSO needs equal-size packets (the last may be shorter): a short packet ends the batch.
    if (size_t(nwrite) < first_size || npkts == max_pkts) {
      if (!send_batch()) {
        blocked = true;
        break;
      }
    }
    // One send quantum per call, as in ngtcp2's examples. Writing until the congestion window
    // is full instead (megabytes at loopback speed) kept this thread away from its socket for
    // milliseconds: ACKs waited unread and the RTT estimate (hence cwnd and pacing) grew with
    // the burst, 5-17 ms instead of 0.2 ms on loopback (docs/benchmarks.md). Continue from the
    // loop, after whatever has arrived meanwhile.
    if (written >= max_pkts) {
      more = true;
      break;
    }
  }
  if (!send_batch()) blocked = true;
  if (blocked) ep_.tx_blocked_.insert(this);
  ngtcp2_conn_update_pkt_tx_time(conn_, ts);
  if (more && !blocked) schedule_flush();
  arm_timer();
}

void Connection::schedule_flush() {
  // Writes made in one loop iteration go out together, in as few packets as possible.
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  if (loop_.in_loop_thread()) {
    // A zero-delay timer rather than post(): it costs no eventfd write and read (three
    // syscalls per continuation at loopback speed). It runs after this iteration's socket
    // events, and never in the timer pass that scheduled it, so a flush that continues
    // itself still lets the loop read ACKs in between.
    flush_timer_ = loop_.add_timer(EventLoop::TimePoint{}, [this] {
      flush_timer_ = 0;
      flush_scheduled_ = false;
      flush();
    });
    return;
  }
  ep_.post_to(this, [this] {
    flush_scheduled_ = false;
    flush();
  });
}

void Connection::arm_timer() {
  if (state_ != State::kOpen || !conn_) return;
  const uint64_t expiry = ngtcp2_conn_get_expiry(conn_);
  if (expiry == UINT64_MAX) {
    if (timer_) loop_.cancel_timer(timer_);
    timer_ = 0;
    return;
  }
  if (timer_ && timer_at_ == expiry) return;
  if (timer_) loop_.cancel_timer(timer_);
  const uint64_t now = EventLoop::now_ns();
  const auto delay = std::chrono::nanoseconds(expiry > now ? expiry - now : 0);
  timer_at_ = expiry;
  timer_ = loop_.add_timer(delay, [this] {
    timer_ = 0;
    on_timer();
  });
}

void Connection::on_timer() {
  if (state_ != State::kOpen) return;
  const int rc = ngtcp2_conn_handle_expiry(conn_, EventLoop::now_ns());
  if (rc == NGTCP2_ERR_IDLE_CLOSE) {
    enter_dead(CloseInfo{CloseSource::kIdleTimeout, false, 0, "idle timeout"});
    return;
  }
  if (rc == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    enter_dead(CloseInfo{CloseSource::kHandshakeTimeout, false, 0, "handshake timeout"});
    return;
  }
  if (rc != 0) {
    fail(rc, "handle_expiry");
    return;
  }
  flush();
}

void Connection::write_close_packet(const ngtcp2_ccerr& ccerr) {
  if (!conn_ || ngtcp2_conn_in_closing_period(conn_) || ngtcp2_conn_in_draining_period(conn_)) return;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  close_pkt_.resize(kMaxUdpPayload);
  const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, close_pkt_.data(), close_pkt_.size(),
                                                            &ccerr, EventLoop::now_ns());
  if (n <= 0) {
    close_pkt_.clear();
    return;
  }
  close_pkt_.resize(size_t(n));
  send_packets(ps.path, close_pkt_.data(), close_pkt_.size(), 0, 0);
}

void Connection::close(uint64_t app_code, std::string_view reason) {
  if (state_ != State::kOpen) return;
  ngtcp2_ccerr e;
  ngtcp2_ccerr_set_application_error(&e, app_code, reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
  write_close_packet(e);
  CloseInfo info{CloseSource::kLocal, true, app_code, std::string(reason)};
  if (close_pkt_.empty()) {  // e.g. before any key exists: nothing to say, just go
    enter_dead(info);
    return;
  }
  state_ = State::kClosing;
  notify_closed(info);
  const uint64_t pto = conn_ ? ngtcp2_conn_get_pto(conn_) : 0;
  if (timer_) loop_.cancel_timer(timer_);
  timer_ = loop_.add_timer(std::chrono::nanoseconds(3 * pto), [this] {
    timer_ = 0;
    enter_dead(CloseInfo{});
  });
}

void Connection::notify_closed(CloseInfo info) {
  if (closed_notified_) return;
  closed_notified_ = true;
  TransportHandler* h = handler_;
  handler_ = nullptr;
  if (h) h->on_closed(info);
}

void Connection::enter_dead(CloseInfo info) {
  if (state_ == State::kDead) return;
  state_ = State::kDead;
  if (timer_) loop_.cancel_timer(timer_);
  timer_ = 0;
  notify_closed(std::move(info));
  ep_.remove(this);
}

SocketAddress Connection::remote() const {
  if (!conn_) return remote_;
  const ngtcp2_path* p = ngtcp2_conn_get_path(conn_);
  return SocketAddress(p->remote.addr, p->remote.addrlen);
}

TransportStats Connection::stats() const {
  TransportStats s = counters_;
  if (conn_) {
    ngtcp2_conn_info ci;
    ngtcp2_conn_get_conn_info(conn_, &ci);
    s.smoothed_rtt_us = ci.smoothed_rtt / 1000;
    s.min_rtt_us = ci.min_rtt / 1000;
    s.latest_rtt_us = ci.latest_rtt / 1000;
    s.cwnd = ci.cwnd;
    s.bytes_in_flight = ci.bytes_in_flight;
    for (const auto& [id, st] : streams_) s.packets_lost += ngtcp2_conn_get_stream_loss_count(conn_, id);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Endpoint

Endpoint::Endpoint(EventLoop& loop, UdpSocket sock, QuicConfig cfg)
    : loop_(loop), sock_(std::move(sock)), cfg_(std::move(cfg)), alive_(std::make_shared<bool>(true)) {
  static_assert(sizeof reset_secret_ == 32, "SHA-256 output");
  if (cfg_.stateless_reset_key.empty())
    random_bytes(reset_secret_, sizeof reset_secret_);
  else  // same key, same tokens: a restarted server can still reset its predecessor's connections
    gnutls_hash_fast(GNUTLS_DIG_SHA256, cfg_.stateless_reset_key.data(), cfg_.stateless_reset_key.size(),
                     reset_secret_);
  if (cfg_.impairment.active()) sock_.set_impairment(cfg_.impairment);
  if (!cfg_.gso) sock_.disable_gso();
  if (cfg_.gro) sock_.enable_gro();
}

std::unique_ptr<Endpoint> Endpoint::listen(EventLoop& loop, const SocketAddress& local, QuicConfig cfg,
                                           std::shared_ptr<ServerTls> tls, AcceptCallback accept, std::string* error) {
  auto sock = UdpSocket::bind(local, cfg.reuse_port, error);
  if (!sock) return nullptr;
  std::unique_ptr<Endpoint> ep(new Endpoint(loop, std::move(*sock), std::move(cfg)));
  ep->server_tls_ = std::move(tls);
  ep->accept_ = std::move(accept);
  ep->start();
  return ep;
}

std::unique_ptr<Endpoint> Endpoint::client(EventLoop& loop, int family, QuicConfig cfg, std::string* error) {
  auto any = SocketAddress::resolve(family == AF_INET6 ? "::" : "0.0.0.0", 0, true);
  if (!any) {
    if (error) *error = "cannot resolve the wildcard address";
    return nullptr;
  }
  auto sock = UdpSocket::bind(*any, false, error);
  if (!sock) return nullptr;
  std::unique_ptr<Endpoint> ep(new Endpoint(loop, std::move(*sock), std::move(cfg)));
  ep->start();
  return ep;
}

void Endpoint::start() {
  loop_.add_fd(sock_.fd(), EPOLLIN, [this](uint32_t ev) {
    if (ev & EPOLLOUT) on_writable();
    if (ev & (EPOLLIN | EPOLLERR)) on_readable();
  });
}

Endpoint::~Endpoint() {
  *alive_ = false;
  if (shim_timer_) loop_.cancel_timer(shim_timer_);
  loop_.remove_fd(sock_.fd());
  // Handlers hear about it (once), so nothing keeps a dangling reference to a connection.
  for (auto& [p, c] : conns_) {
    c->state_ = Connection::State::kDead;
    c->notify_closed(CloseInfo{CloseSource::kLocal, false, 0, "endpoint shut down"});
  }
  conns_.clear();
}

std::vector<Connection*> Endpoint::connections() {
  std::vector<Connection*> v;
  for (auto& [p, c] : conns_)
    if (c->state_ != Connection::State::kDead) v.push_back(p);
  return v;
}

bool Endpoint::rebind(bool migrate, std::string* error) {
  if (server_tls_) {  // a server's peers know it by its address
    if (error) *error = "only client endpoints can rebind";
    return false;
  }
  SocketAddress any = sock_.local();
  any.set_port(0);
  auto sock = UdpSocket::bind(any, false, error);
  if (!sock) return false;
  if (!sock_.gso()) sock->disable_gso();
  if (sock_.gro()) sock->enable_gro();
  if (cfg_.impairment.active()) sock->set_impairment(cfg_.impairment);
  loop_.remove_fd(sock_.fd());
  if (shim_timer_) loop_.cancel_timer(shim_timer_);
  shim_timer_ = 0;
  sock_ = std::move(*sock);  // closes the old socket: its port is gone, like an expired NAT mapping
  start();
  if (!pending_tx_.empty()) loop_.modify_fd(sock_.fd(), EPOLLIN | EPOLLOUT);
  const uint64_t ts = EventLoop::now_ns();
  for (auto& [p, c] : conns_) {
    if (c->state_ != Connection::State::kOpen || !c->conn_) continue;
    SocketAddress local = c->local_;  // the concrete source address, with the new port
    local.set_port(sock_.local().port());
    if (migrate) {
      const SocketAddress remote = c->remote();
      ngtcp2_path path = make_path(local, remote);
      const int rc = ngtcp2_conn_initiate_immediate_migration(c->conn_, &path, ts);
      if (rc != 0) {  // e.g. no spare connection ID yet: this connection is lost
        c->fail(rc, "migration");
        continue;
      }
    } else {
      // What a NAT does behind our back; ngtcp2 offers this for exactly that test.
      ngtcp2_addr addr;
      ngtcp2_conn_set_local_addr(c->conn_, ngtcp2_addr_init(&addr, local.get(), local.size()));
    }
    c->local_ = local;
    c->schedule_flush();
  }
  return true;
}

void Endpoint::set_impairment(const Impairment& imp) {
  cfg_.impairment = imp;
  sock_.set_impairment(imp);
}

Connection* Endpoint::connect(const SocketAddress& remote, std::shared_ptr<ClientTls> tls, TransportHandler* handler,
                              std::string* error) {
  // ngtcp2 matches paths exactly, and packets arrive with the concrete local address (from
  // IP_PKTINFO): ask the kernel which source address it uses towards `remote`.
  SocketAddress local = sock_.local();
  if (int probe = socket(remote.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0); probe >= 0) {
    SocketAddress src;
    src.set_size(sizeof(sockaddr_storage));
    if (::connect(probe, remote.get(), remote.size()) == 0 && getsockname(probe, src.get(), src.size_ptr()) == 0) {
      src.set_port(local.port());
      local = src;
    }
    ::close(probe);
  }
  auto c = std::unique_ptr<Connection>(new Connection(*this, false));
  c->handler_ = handler;
  if (!c->init_client(local, remote, std::move(tls), error)) return nullptr;
  Connection* raw = c.get();
  conns_[raw] = std::move(c);
  raw->flush();
  return raw;
}

void Endpoint::post_to(Connection* c, std::function<void()> fn) {
  // The serial guards against a new connection reusing the address of a removed one.
  loop_.post([this, c, serial = c->serial_, fn = std::move(fn), alive = alive_] {
    if (!*alive) return;
    auto it = conns_.find(c);
    if (it != conns_.end() && c->serial_ == serial && c->state_ != Connection::State::kDead) fn();
  });
}

void Endpoint::register_cid(const ngtcp2_cid& cid, Connection* c) { cids_[cid_key(cid)] = c; }
void Endpoint::unregister_cid(const ngtcp2_cid& cid) {
  auto it = cids_.find(std::string_view(reinterpret_cast<const char*>(cid.data), cid.datalen));
  if (it != cids_.end()) cids_.erase(it);
}

void Endpoint::remove(Connection* c) {
  tx_blocked_.erase(c);
  for (const ngtcp2_cid& id : c->cids_) unregister_cid(id);
  c->cids_.clear();
  // Deleting now could pull the connection out from under its own call stack.
  loop_.post([this, c, alive = alive_] {
    if (*alive) conns_.erase(c);
  });
}

bool Endpoint::send(const SocketAddress& to, const uint8_t* data, size_t len, size_t segment, uint8_t ecn) {
  if (!pending_tx_.empty()) {  // keep order behind what is already waiting
    pending_tx_.push_back(PendingTx{to, std::vector<uint8_t>(data, data + len), segment, ecn});
    return false;
  }
  const bool ok = sock_.send(to, {data, len}, segment, ecn);
  if (!ok) {
    pending_tx_.push_back(PendingTx{to, std::vector<uint8_t>(data, data + len), segment, ecn});
    loop_.modify_fd(sock_.fd(), EPOLLIN | EPOLLOUT);
  }
  arm_shim_timer();
  return ok;
}

void Endpoint::arm_shim_timer() {
  auto next = sock_.next_release_ns();
  if (!next || shim_timer_) return;
  const uint64_t now = EventLoop::now_ns();
  shim_timer_ = loop_.add_timer(std::chrono::nanoseconds(*next > now ? *next - now : 0), [this] {
    shim_timer_ = 0;
    sock_.flush_held(EventLoop::now_ns());
    arm_shim_timer();
  });
}

void Endpoint::on_writable() {
  while (!pending_tx_.empty()) {
    PendingTx& p = pending_tx_.front();
    if (!sock_.send(p.to, p.data, p.segment, p.ecn)) return;
    pending_tx_.pop_front();
  }
  loop_.modify_fd(sock_.fd(), EPOLLIN);
  std::set<Connection*> resume;
  resume.swap(tx_blocked_);
  for (Connection* c : resume) c->flush();
}

void Endpoint::on_readable() {
  std::set<Connection*> touched;
  sock_.receive([&](const ReceivedDatagram& d) { on_datagram(d, touched); });
  // One write pass per connection after the whole batch: ACKs and data coalesce.
  for (Connection* c : touched) {
    if (conns_.count(c)) c->flush();
  }
}

void Endpoint::on_datagram(const ReceivedDatagram& d, std::set<Connection*>& touched) {
  ngtcp2_version_cid vc;
  const int rc = ngtcp2_pkt_decode_version_cid(&vc, d.data.data(), d.data.size(), kScidLen);
  if (rc == NGTCP2_ERR_VERSION_NEGOTIATION) {
    if (server_tls_) send_version_negotiation(d, vc);
    return;
  }
  if (rc != 0) return;  // not QUIC: ignore, never disturb other connections
  auto it = cids_.find(std::string_view(reinterpret_cast<const char*>(vc.dcid), vc.dcidlen));
  if (it != cids_.end()) {
    Connection* c = it->second;
    c->on_packet(d);
    touched.insert(c);
    return;
  }
  // A stateless reset carries no DCID of ours (it is random): offer short-header packets of a
  // plausible size to the client connections on that path, and ngtcp2 checks the token at the
  // end. (Server connections are left out: a client that lost its state rarely comes back from
  // the same port, and a busy server should not run stray packets through its connections.)
  if (!(d.data[0] & 0x80) && d.data.size() >= NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN) {
    bool reset = false;
    for (auto& [p, c] : conns_) {
      if (c->server_ || c->state_ != Connection::State::kOpen || !(c->remote() == d.peer)) continue;
      c->on_packet(d);
      touched.insert(p);
      reset = reset || c->state_ != Connection::State::kOpen;
    }
    if (reset) return;  // never answer a reset with a reset
  }
  if (!server_tls_) return;
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, d.data.data(), d.data.size()) != 0) {
    // A short-header packet for a connection we do not know: tell the peer it is gone.
    if (!(d.data[0] & 0x80)) send_stateless_reset(d, vc.dcid, vc.dcidlen);
    return;
  }
  size_t live = 0;
  for (auto& [p, c] : conns_)
    if (c->state_ == Connection::State::kOpen) ++live;
  if (live >= cfg_.max_connections) {
    // Refuse with CONNECTION_CLOSE(CONNECTION_REFUSED) in an Initial packet.
    // The client's DCID doubles as our SCID: it is what the Initial keys are derived from.
    uint8_t buf[kMaxUdpPayload];
    const ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(buf, sizeof buf, hd.version, &hd.scid, &hd.dcid,
                                                                NGTCP2_CONNECTION_REFUSED, nullptr, 0);
    if (n > 0) send(d.peer, buf, size_t(n), 0, 0);
    return;
  }
  auto c = std::unique_ptr<Connection>(new Connection(*this, true));
  std::string err;
  if (!c->init_server(d.local, d.peer, hd, *server_tls_, &err)) {
    std::fprintf(stderr, "moqt quic: cannot accept a connection from %s: %s\n", d.peer.to_string().c_str(), err.c_str());
    return;
  }
  Connection* raw = c.get();
  conns_[raw] = std::move(c);
  raw->on_packet(d);
  touched.insert(raw);
}

void Endpoint::send_stateless_reset(const ReceivedDatagram& d, const uint8_t* dcid, size_t dcidlen) {
  // Bounded: at most 100 resets per second, and never in reply to a packet too small to be
  // answered without amplification (RFC 9000 §10.3).
  const uint64_t sec = EventLoop::now_ns() / 1000000000;
  if (sec != stateless_reset_window_) {
    stateless_reset_window_ = sec;
    stateless_resets_this_second_ = 0;
  }
  if (d.data.size() < 43 || ++stateless_resets_this_second_ > 100) return;
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid, dcidlen);
  uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  if (ngtcp2_crypto_generate_stateless_reset_token(token, reset_secret_, sizeof reset_secret_, &cid) != 0) return;
  // Shorter than the packet it answers (the first byte comes out of `rand`), so two endpoints
  // that both lost the state cannot keep resetting each other (RFC 9000 §10.3.3).
  uint8_t rand[64];
  const size_t randlen = std::min<size_t>(d.data.size() - 1 - NGTCP2_STATELESS_RESET_TOKENLEN, sizeof rand);
  random_bytes(rand, randlen);
  uint8_t buf[128];
  const ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(buf, sizeof buf, token, rand, randlen);
  if (n <= 0) return;
  ++stateless_resets_sent_;
  send(d.peer, buf, size_t(n), 0, 0);
}

void Endpoint::send_version_negotiation(const ReceivedDatagram& d, const ngtcp2_version_cid& vc) {
  const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
  uint8_t unused;
  random_bytes(&unused, 1);
  uint8_t buf[256];
  const ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(buf, sizeof buf, unused, vc.scid, vc.scidlen, vc.dcid,
                                                              vc.dcidlen, versions, 1);
  if (n > 0) send(d.peer, buf, size_t(n), 0, 0);
}

}  // namespace moqt::quic
