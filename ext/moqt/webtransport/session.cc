#include "moqt/webtransport/session.h"

#include <algorithm>
#include <cstdio>

#include "moqt/quic/event_loop.h"

namespace moqt::webtransport {
namespace {

constexpr size_t kMaxControlFrame = 16384;   // SETTINGS, GOAWAY: tiny in practice
constexpr size_t kMaxHeadersFrame = 16384;   // our MAX_FIELD_SECTION_SIZE
constexpr size_t kMaxCapsule = 65536;
constexpr size_t kMaxStreamHeader = 16;      // type varint + session id varint

bool is_bidi(quic::StreamId id) { return (id & 0x2) == 0; }
bool client_initiated(quic::StreamId id) { return (id & 0x1) == 0; }

std::string header(const Headers& h, const char* name) {
  for (auto& [k, v] : h)
    if (k == name) return v;
  return {};
}

}  // namespace

Session::Session(quic::Transport& conn, bool server) : conn_(conn), server_(server) { conn_.set_handler(this); }

Session::~Session() {
  *alive_ = false;
  if (state_ != State::kClosed) conn_.set_handler(nullptr);  // after on_closed the connection may be gone
}

std::unique_ptr<Session> Session::server(quic::Transport& conn, ServerOptions opts) {
  std::unique_ptr<Session> s(new Session(conn, true));
  s->sopts_ = std::move(opts);
  return s;
}

std::unique_ptr<Session> Session::client(quic::Transport& conn, ClientOptions opts, quic::TransportHandler* app) {
  std::unique_ptr<Session> s(new Session(conn, false));
  s->copts_ = std::move(opts);
  s->app_ = app;
  return s;
}

// --- H3 setup --------------------------------------------------------------------------------

void Session::on_ready(std::string_view alpn) {
  if (alpn != "h3") {
    fail_connection(h3::kGeneralProtocolError, "WebTransport needs ALPN h3, got " + std::string(alpn));
    return;
  }
  start_h3();
}

void Session::start_h3() {
  // Control stream with our SETTINGS, and the two QPACK streams (empty: no dynamic table).
  auto control = conn_.open_uni_stream();
  auto enc = conn_.open_uni_stream();
  auto dec = conn_.open_uni_stream();
  if (!control || !enc || !dec) {
    fail_connection(h3::kGeneralProtocolError, "peer allows too few unidirectional streams for HTTP/3");
    return;
  }
  Bytes c;
  put_varint(c, h3::kStreamControl);
  put_frame(c, h3::kFrameSettings, encode_settings(webtransport_settings(server_)));
  conn_.write(*control, quic::SendBuffer::take(std::move(c)), false);
  Bytes e{uint8_t(h3::kStreamQpackEncoder)}, d{uint8_t(h3::kStreamQpackDecoder)};
  conn_.write(*enc, quic::SendBuffer::take(std::move(e)), false);
  conn_.write(*dec, quic::SendBuffer::take(std::move(d)), false);
  for (quic::StreamId id : {*control, *enc, *dec}) {
    Stream& s = streams_[id];
    s.kind = Kind::kIgnored;
    s.local = true;
  }
  if (!server_) state_ = State::kConnecting;  // the CONNECT goes out once the server's SETTINGS arrive
}

void Session::on_peer_settings(const Settings& settings) {
  peer_settings_ = true;
  for (auto& [id, v] : settings) {
    if ((id == h3::kSettingWtEnabled || id == h3::kSettingEnableWebtransportLegacy ||
         id == h3::kSettingWtMaxSessions || id == h3::kSettingWtMaxSessionsLegacy) && v > 0)
      peer_wt_enabled_ = true;
  }
  if (server_) {
    maybe_process_connect();
  } else if (!peer_wt_enabled_) {
    fail_connection(0x212c0d48 /* WT_REQUIREMENTS_NOT_MET */, "server does not support WebTransport");
  } else {
    send_connect();
  }
}

void Session::send_connect() {
  auto id = conn_.open_bidi_stream();
  if (!id) {
    fail_connection(h3::kGeneralProtocolError, "cannot open the CONNECT stream");
    return;
  }
  connect_stream_ = *id;
  Stream& s = streams_[*id];
  s.kind = Kind::kConnect;
  s.bidi = s.local = true;
  s.frames = std::make_unique<FrameReader>(kMaxHeadersFrame);
  Headers h = {{":method", "CONNECT"}, {":protocol", "webtransport"}, {":scheme", "https"},
               {":authority", copts_.authority}, {":path", copts_.path}, {"sec-webtransport-http3-draft02", "1"}};
  if (!copts_.origin.empty()) h.emplace_back("origin", copts_.origin);
  if (!copts_.protocols.empty()) {
    std::string list;
    for (const std::string& p : copts_.protocols) list += (list.empty() ? "" : ", ") + sf_string(p);
    h.emplace_back("wt-available-protocols", list);
  }
  Bytes frame;
  put_frame(frame, h3::kFrameHeaders, qpack_encode(h));
  conn_.write(*id, quic::SendBuffer::take(std::move(frame)), false);
}

// --- incoming streams ------------------------------------------------------------------------

void Session::on_stream_opened(quic::StreamId id, bool bidi) {
  Stream& s = streams_[id];
  s.bidi = bidi;
}

void Session::on_stream_data(quic::StreamId id, std::span<const uint8_t> data, bool fin) {
  if (state_ == State::kClosed) return;
  Stream& s = streams_[id];
  switch (s.kind) {
    case Kind::kUnknown: classify(id, s, data, fin); return;
    case Kind::kControl:
      on_control_data(s, data);
      if (fin) fail_connection(0x104 /* H3_CLOSED_CRITICAL_STREAM */, "peer closed its control stream");
      return;
    case Kind::kConnect: on_connect_stream_data(id, s, data, fin); return;
    case Kind::kWt: deliver_wt(id, s, data, fin); return;
    case Kind::kQpack:
    case Kind::kIgnored: return;
  }
}

void Session::classify(quic::StreamId id, Stream& s, std::span<const uint8_t> data, bool fin) {
  s.header.insert(s.header.end(), data.begin(), data.end());
  size_t pos = 0;
  auto type = get_varint(s.header, pos);
  if (!type) {
    if (s.header.size() > kMaxStreamHeader) fail_connection(h3::kFrameError, "oversized stream header");
    return;
  }
  if (!is_bidi(id)) {
    if (*type == h3::kStreamControl) {
      s.kind = Kind::kControl;
      s.frames = std::make_unique<FrameReader>(kMaxControlFrame);
      Bytes rest(s.header.begin() + long(pos), s.header.end());
      s.header.clear();
      on_control_data(s, rest);
      return;
    }
    if (*type == h3::kStreamQpackEncoder || *type == h3::kStreamQpackDecoder) {
      s.kind = Kind::kQpack;  // capacity 0: nothing on these streams matters to us
      s.header.clear();
      return;
    }
    if (*type != h3::kStreamWtUni) {
      s.kind = Kind::kIgnored;  // unknown stream types are read and discarded (RFC 9114 §6.2)
      s.header.clear();
      conn_.stop_sending(id, h3::kStreamCreationError);
      return;
    }
  } else if (*type == h3::kFrameHeaders && server_ && client_initiated(id) && connect_stream_ < 0) {
    // An HTTP request stream: our CONNECT.
    s.kind = Kind::kConnect;
    s.frames = std::make_unique<FrameReader>(kMaxHeadersFrame);
    connect_stream_ = id;
    Bytes all = std::move(s.header);
    s.header.clear();
    on_connect_stream_data(id, s, all, fin);
    return;
  } else if (*type != h3::kFrameWtBidi) {
    // A second request or some other frame: we serve exactly one WT session per connection.
    s.kind = Kind::kIgnored;
    s.header.clear();
    conn_.reset_stream(id, h3::kRequestRejected);
    conn_.stop_sending(id, h3::kRequestRejected);
    return;
  }
  // WT stream: the session id follows.
  auto sid = get_varint(s.header, pos);
  if (!sid) {
    if (s.header.size() > kMaxStreamHeader) fail_connection(h3::kFrameError, "oversized WT stream header");
    return;
  }
  const bool ours = connect_stream_ >= 0 && *sid == uint64_t(connect_stream_);
  const bool maybe_future = server_ && connect_stream_ < 0 && state_ != State::kClosing;
  if (!ours && !maybe_future) {
    s.kind = Kind::kIgnored;
    s.header.clear();
    if (s.bidi) conn_.reset_stream(id, h3::kWtSessionGone);
    conn_.stop_sending(id, h3::kWtSessionGone);
    return;
  }
  if (!server_ && !copts_.buffer_early_streams &&
      (state_ != State::kEstablished || conn_.stats().packets_received == response_packet_)) {
    ++early_streams_rejected_;
    s.kind = Kind::kIgnored;
    s.header.clear();
    if (s.bidi) conn_.reset_stream(id, h3::kWtBufferedStreamRejected);
    conn_.stop_sending(id, h3::kWtBufferedStreamRejected);
    return;
  }
  s.kind = Kind::kWt;
  s.session = *sid;  // before the CONNECT is read, remember which session the stream claims
  Bytes rest(s.header.begin() + long(pos), s.header.end());
  s.header.clear();
  deliver_wt(id, s, rest, fin);
}

void Session::deliver_wt(quic::StreamId id, Stream& s, std::span<const uint8_t> data, bool fin) {
  if (state_ == State::kEstablished && app_) {
    app_->on_stream_data(id, data, fin);
    return;
  }
  // Not accepted yet: buffer, bounded (WT §4.6).
  if (buffered_bytes_ + data.size() > sopts_.max_buffered_bytes) {
    s.kind = Kind::kIgnored;
    buffered_bytes_ -= s.buffered.size();
    s.buffered.clear();
    if (s.bidi) conn_.reset_stream(id, h3::kWtBufferedStreamRejected);
    conn_.stop_sending(id, h3::kWtBufferedStreamRejected);
    return;
  }
  s.buffered.insert(s.buffered.end(), data.begin(), data.end());
  s.buffered_fin = s.buffered_fin || fin;
  buffered_bytes_ += data.size();
}

void Session::on_control_data(Stream& s, std::span<const uint8_t> data) {
  s.frames->push(data);
  for (;;) {
    bool too_big = false;
    auto f = s.frames->next(&too_big);
    if (too_big) return fail_connection(h3::kFrameError, "oversized frame on the control stream");
    if (!f) return;
    if (!peer_settings_) {
      if (f->type != h3::kFrameSettings) return fail_connection(h3::kMissingSettings, "control stream must start with SETTINGS");
      auto settings = decode_settings(f->payload);
      if (!settings) return fail_connection(h3::kFrameError, "malformed SETTINGS");
      on_peer_settings(*settings);
      if (state_ == State::kClosed) return;
      continue;
    }
    if (f->type == h3::kFrameSettings) return fail_connection(h3::kFrameUnexpected, "second SETTINGS frame");
    if (f->type == h3::kFrameData || f->type == h3::kFrameHeaders)
      return fail_connection(h3::kFrameUnexpected, "DATA/HEADERS on the control stream");
    // GOAWAY and unknown frames: nothing to do for a single-session connection.
  }
}

void Session::on_connect_stream_data(quic::StreamId, Stream& s, std::span<const uint8_t> data, bool fin) {
  s.frames->push(data);
  for (;;) {
    bool too_big = false;
    auto f = s.frames->next(&too_big);
    if (too_big) return fail_connection(h3::kFrameError, "oversized frame on the CONNECT stream");
    if (!f) break;
    if (f->type == h3::kFrameHeaders) {
      auto h = qpack_decode(f->payload, connect_stream_);
      if (!h) return fail_connection(0x200 /* QPACK_DECOMPRESSION_FAILED */, "undecodable header block");
      if (server_) {
        if (state_ != State::kH3Setup || pending_connect_) return fail_connection(h3::kFrameUnexpected, "second HEADERS on the CONNECT stream");
        pending_connect_ = std::move(*h);
        maybe_process_connect();
      } else {
        if (response_status_ == 0) on_response(*h);
      }
      if (state_ == State::kClosed) return;
      continue;
    }
    if (f->type == h3::kFrameData) {
      if (state_ != State::kEstablished && state_ != State::kClosing) continue;  // early capsules: dropped
      capsule_buf_.insert(capsule_buf_.end(), f->payload.begin(), f->payload.end());
      for (;;) {
        bool err = false;
        auto c = get_capsule(capsule_buf_, kMaxCapsule, &err);
        if (err) return fail_connection(h3::kMessageError, "oversized capsule");
        if (!c) break;
        if (c->type == h3::kCapsuleCloseSession) {
          uint32_t code = 0;
          std::string msg;
          if (c->value.size() >= 4) {
            code = uint32_t(c->value[0]) << 24 | uint32_t(c->value[1]) << 16 | uint32_t(c->value[2]) << 8 | c->value[3];
            msg.assign(c->value.begin() + 4, c->value.end());
          }
          end_session(quic::CloseInfo{quic::CloseSource::kPeer, true, code, msg});
          // Answer with our FIN and let the connection go once that is out.
          conn_.write(connect_stream_, quic::SendBuffer{}, true);
          conn_.close(h3::kNoError, "webtransport session closed");
          return;
        }
        // WT_DRAIN_SESSION and unknown capsules: ignored.
      }
      continue;
    }
    // Other frame types on a request stream are ignored (RFC 9114 §9).
  }
  if (fin && state_ == State::kClosing && close_sent_) return;  // the peer's answer to our capsule: see close()
  if (fin && state_ != State::kClosed) {
    end_session(quic::CloseInfo{quic::CloseSource::kPeer, true, 0, "CONNECT stream closed"});
    conn_.close(h3::kNoError, "webtransport session closed");
  }
}

void Session::maybe_process_connect() {
  // For draft WT versions the server must not process requests before the client's SETTINGS.
  if (!pending_connect_ || !peer_settings_ || state_ != State::kH3Setup) return;
  Headers h = std::move(*pending_connect_);
  pending_connect_.reset();
  process_connect(h);
}

void Session::process_connect(const Headers& h) {
  ConnectRequest& r = request_;
  r.headers = h;
  r.method = header(h, ":method");
  r.protocol = header(h, ":protocol");
  r.scheme = header(h, ":scheme");
  r.authority = header(h, ":authority");
  r.path = header(h, ":path");
  r.origin = header(h, "origin");
  r.available_protocols = parse_sf_string_list(header(h, "wt-available-protocols"));
  auto respond = [&](int status, const std::string& proto) {
    Headers rh = {{":status", std::to_string(status)}};
    if (status / 100 == 2) {
      rh.emplace_back("sec-webtransport-http3-draft", "draft02");
      if (!proto.empty()) rh.emplace_back("wt-protocol", sf_string(proto));
    }
    Bytes frame;
    put_frame(frame, h3::kFrameHeaders, qpack_encode(rh));
    conn_.write(connect_stream_, quic::SendBuffer::take(std::move(frame)), status / 100 != 2);
  };
  const bool wt = r.protocol == "webtransport" || r.protocol == "webtransport-h3";
  if (r.method != "CONNECT" || !wt || r.scheme != "https" || r.authority.empty() || r.path.empty()) {
    respond(400, "");
    end_session(quic::CloseInfo{quic::CloseSource::kError, false, 400, "not a WebTransport CONNECT"});
    return;
  }
  std::string chosen;
  for (const std::string& ours : sopts_.protocols) {
    if (std::find(r.available_protocols.begin(), r.available_protocols.end(), ours) != r.available_protocols.end()) {
      chosen = ours;
      break;
    }
  }
  ConnectDecision d;
  if (sopts_.on_connect) d = sopts_.on_connect(*this, r, chosen);
  response_status_ = d.status;
  if (d.status / 100 != 2 || !d.handler) {
    respond(d.status / 100 == 2 ? 500 : d.status, "");
    state_ = State::kClosing;
    return;
  }
  app_ = d.handler;
  protocol_ = d.protocol;
  respond(d.status, protocol_);
  // The application (and its first WT stream, e.g. a MoQT SETUP) starts only once the response
  // is in a packet of its own: a client that does not buffer streams of a session it has not
  // seen accepted would otherwise drop them (the WT draft only says SHOULD buffer).
  state_ = State::kConnecting;
  establish_when_sent_ = true;
}

void Session::on_response(const Headers& h) {
  response_packet_ = conn_.stats().packets_received;
  const std::string status = header(h, ":status");
  response_status_ = std::atoi(status.c_str());
  if (response_status_ / 100 != 2) {
    end_session(quic::CloseInfo{quic::CloseSource::kPeer, false, uint64_t(response_status_),
                                "WebTransport CONNECT refused with status " + status});
    conn_.close(h3::kNoError, "session refused");
    return;
  }
  const std::string wp = header(h, "wt-protocol");
  if (!wp.empty()) {
    auto p = parse_sf_string(wp);
    if (!p || (!copts_.protocols.empty() &&
               std::find(copts_.protocols.begin(), copts_.protocols.end(), *p) == copts_.protocols.end())) {
      end_session(quic::CloseInfo{quic::CloseSource::kError, true, 0x0817b3dd /* WT_ALPN_ERROR */,
                                  "server chose a protocol we did not offer: " + wp});
      conn_.close(0x0817b3dd, "WT_ALPN_ERROR");
      return;
    }
    protocol_ = *p;
  }
  establish();
}

void Session::establish() {
  state_ = State::kEstablished;
  if (!app_) return;
  app_->on_ready(protocol_);
  // Streams that arrived before the session was accepted.
  auto alive = alive_;
  for (auto& [id, s] : streams_) {
    if (s.kind != Kind::kWt || s.local) continue;
    if (s.session != uint64_t(connect_stream_)) {  // claimed a session that never came
      s.kind = Kind::kIgnored;
      buffered_bytes_ -= std::min(buffered_bytes_, s.buffered.size());
      s.buffered.clear();
      if (s.bidi) conn_.reset_stream(id, h3::kWtSessionGone);
      conn_.stop_sending(id, h3::kWtSessionGone);
      continue;
    }
    if (s.buffered.empty() && !s.buffered_fin) continue;
    Bytes data = std::move(s.buffered);
    const bool fin = s.buffered_fin;
    s.buffered.clear();
    s.buffered_fin = false;
    buffered_bytes_ -= std::min(buffered_bytes_, data.size());
    app_->on_stream_opened(id, s.bidi);
    app_->on_stream_data(id, data, fin);
    if (!*alive || state_ != State::kEstablished) return;
  }
}

// --- other connection events -----------------------------------------------------------------

void Session::on_stream_reset(quic::StreamId id, uint64_t code) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (it->second.kind == Kind::kConnect) {
    end_session(quic::CloseInfo{quic::CloseSource::kPeer, false, code, "CONNECT stream reset"});
    conn_.close(h3::kNoError, "webtransport session reset");
    return;
  }
  if (it->second.kind == Kind::kWt && app_ && state_ == State::kEstablished)
    app_->on_stream_reset(id, h3_to_wt_error(code).value_or(0));
}

void Session::on_stop_sending(quic::StreamId id, uint64_t code) {
  auto it = streams_.find(id);
  if (it != streams_.end() && it->second.kind == Kind::kWt && app_ && state_ == State::kEstablished)
    app_->on_stop_sending(id, h3_to_wt_error(code).value_or(0));
}

void Session::on_stream_drained(quic::StreamId id) {
  if (id == connect_stream_ && establish_when_sent_) {
    establish_when_sent_ = false;
    // Not from inside the flush that packed the response: the next writes go in a later packet.
    conn_.loop().add_timer(std::chrono::nanoseconds(0), [this, alive = alive_] {
      if (*alive && state_ == State::kConnecting) establish();
    });
    return;
  }
  auto it = streams_.find(id);
  if (it != streams_.end() && it->second.kind == Kind::kWt && app_) app_->on_stream_drained(id);
}

void Session::on_stream_closed(quic::StreamId id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  const bool wt = it->second.kind == Kind::kWt;
  if (it->second.kind != Kind::kConnect && it->second.kind != Kind::kControl) {
    buffered_bytes_ -= std::min(buffered_bytes_, it->second.buffered.size());
    streams_.erase(it);
  }
  if (wt && app_ && state_ == State::kEstablished) app_->on_stream_closed(id);
}

void Session::on_streams_available(bool bidi) {
  if (app_ && state_ == State::kEstablished) app_->on_streams_available(bidi);
}

void Session::on_datagram(std::span<const uint8_t> data) {
  size_t pos = 0;
  auto qsid = get_varint(data, pos);
  if (!qsid || state_ != State::kEstablished || !app_) return;  // not ours / too early: dropped
  if (*qsid != uint64_t(connect_stream_) / 4) return;
  app_->on_datagram(data.subspan(pos));
}

void Session::on_closed(const quic::CloseInfo& info) {
  end_session(info);
  state_ = State::kClosed;
  finish();
}

// --- the application's side ------------------------------------------------------------------

std::optional<quic::StreamId> Session::open_bidi_stream() {
  if (state_ != State::kEstablished) return std::nullopt;
  auto id = conn_.open_bidi_stream();
  if (!id) return std::nullopt;
  Stream& s = streams_[*id];
  s.kind = Kind::kWt;
  s.bidi = s.local = true;
  Bytes hdr;
  put_varint(hdr, h3::kFrameWtBidi);
  put_varint(hdr, uint64_t(connect_stream_));
  conn_.write(*id, quic::SendBuffer::take(std::move(hdr)), false);
  return id;
}

std::optional<quic::StreamId> Session::open_uni_stream() {
  if (state_ != State::kEstablished) return std::nullopt;
  auto id = conn_.open_uni_stream();
  if (!id) return std::nullopt;
  Stream& s = streams_[*id];
  s.kind = Kind::kWt;
  s.local = true;
  Bytes hdr;
  put_varint(hdr, h3::kStreamWtUni);
  put_varint(hdr, uint64_t(connect_stream_));
  conn_.write(*id, quic::SendBuffer::take(std::move(hdr)), false);
  return id;
}

bool Session::write(quic::StreamId id, quic::SendBuffer data, bool fin) {
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second.kind != Kind::kWt || state_ != State::kEstablished) return false;
  return conn_.write(id, std::move(data), fin);
}

void Session::reset_stream(quic::StreamId id, uint64_t app_code) {
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second.kind != Kind::kWt) return;
  conn_.reset_stream(id, wt_to_h3_error(uint32_t(app_code)));
}

void Session::stop_sending(quic::StreamId id, uint64_t app_code) {
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second.kind != Kind::kWt) return;
  conn_.stop_sending(id, wt_to_h3_error(uint32_t(app_code)));
}

bool Session::send_datagram(quic::SendBuffer data) {
  if (state_ != State::kEstablished) return false;
  Bytes d;
  put_varint(d, uint64_t(connect_stream_) / 4);
  d.insert(d.end(), data.data.begin(), data.data.end());
  return conn_.send_datagram(quic::SendBuffer::take(std::move(d)));
}

size_t Session::max_datagram_payload() const {
  const size_t m = conn_.max_datagram_payload();
  Bytes prefix;
  put_varint(prefix, uint64_t(std::max<quic::StreamId>(connect_stream_, 0)) / 4);
  return m > prefix.size() ? m - prefix.size() : 0;
}

void Session::close(uint64_t app_code, std::string_view reason) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  const bool was_established = state_ == State::kEstablished;
  state_ = State::kClosing;
  end_session(quic::CloseInfo{quic::CloseSource::kLocal, true, app_code, std::string(reason)});
  if (was_established && connect_stream_ >= 0) {
    Bytes capsule, frame;
    put_capsule(capsule, h3::kCapsuleCloseSession, close_session_value(uint32_t(app_code), std::string(reason)));
    put_frame(frame, h3::kFrameData, capsule);
    conn_.write(connect_stream_, quic::SendBuffer::take(std::move(frame)), true);
    close_sent_ = true;
    // Give the capsule a moment to reach the peer (it answers with FIN / closes), then go.
    // Not at the peer's FIN: Chromium 156 reports "Connection lost" instead of the close code
    // about half the time when the QUIC connection closes right after it answered the capsule.
    auto alive = alive_;
    conn_.loop().add_timer(std::chrono::milliseconds(300), [this, alive] {
      if (*alive && state_ != State::kClosed) conn_.close(h3::kNoError, "webtransport session closed");
    });
    return;
  }
  conn_.close(h3::kNoError, std::string(reason));
}

void Session::fail_connection(uint64_t h3_code, const std::string& why) {
  if (state_ == State::kClosed) return;
  end_session(quic::CloseInfo{quic::CloseSource::kError, false, h3_code, why});
  state_ = State::kClosing;
  conn_.close(h3_code, why);
}

void Session::end_session(quic::CloseInfo info) {
  if (app_notified_) return;
  app_notified_ = true;
  quic::TransportHandler* app = app_;
  app_ = nullptr;
  // Only an application that saw on_ready() (or a client waiting for it, or a server one
  // accepted and waiting for the response to leave) hears about the end.
  if (app && (state_ == State::kEstablished || state_ == State::kClosing || state_ == State::kConnecting || !server_)) app->on_closed(info);
}

void Session::finish() {
  if (finished_) return;
  finished_ = true;
  if (on_finished_) {
    auto alive = alive_;
    auto cb = on_finished_;
    conn_.loop().post([alive, cb] {
      if (*alive) cb();
    });
  }
}

quic::TransportHandler* SessionHost::accept(quic::Transport& conn) {
  std::unique_ptr<Session> s = Session::server(conn, opts_);
  Session* raw = s.get();
  raw->set_on_finished([this, raw] { sessions_.erase(raw); });
  sessions_[raw] = std::move(s);
  return raw;
}

}  // namespace moqt::webtransport
