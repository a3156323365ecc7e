// An in-memory quic::Transport for driving a MoQT Session without sockets: the test (or fuzz
// target) plays the peer by injecting stream data, resets and datagrams, and reads back what the
// session wrote, stream by stream, in order. Not a mock of QUIC semantics beyond what the
// session relies on: stream ids follow RFC 9000 (bit 0 = initiator, bit 1 = unidirectional),
// writes after FIN/reset fail, stream limits are enforced, datagrams have a size limit.
//
// Threads: everything on the calling thread; the EventLoop is only used for the session's timers
// (which fire only if the test runs the loop).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "moqt/quic/event_loop.h"
#include "moqt/quic/transport.h"

namespace moqt::test {

class MemoryTransport final : public quic::Transport {
 public:
  struct Sent {
    std::vector<uint8_t> data;
    bool fin = false;
    std::optional<uint64_t> reset;         // we reset it (RESET_STREAM)
    std::optional<uint64_t> stop_sending;  // we asked the peer to stop
    bool bidi = false;
    bool local = false;  // opened by the session
  };
  // What happened, in order (for tests that care about ordering across streams).
  struct Event {
    enum Kind { kWrite, kFin, kReset, kStopSending, kDatagram, kClose } kind;
    quic::StreamId stream = -1;
  };

  MemoryTransport(quic::EventLoop& loop, bool server, std::string protocol)
      : loop_(loop), server_(server), protocol_(std::move(protocol)) {}

  // --- the peer's side (called by the test) ---
  void start() {
    if (h_) h_->on_ready(protocol_);
  }
  // The peer opens (if new) and writes on one of its streams (ids it may use), or on one of
  // the session's bidi streams. Returns false if the id is not usable by the peer.
  bool peer_data(quic::StreamId id, std::span<const uint8_t> data, bool fin) {
    if (closed_ || !h_ || id < 0) return false;
    const bool peer_initiated = bool(id & 1) != server_;
    const bool bidi = (id & 2) == 0;
    if (!peer_initiated && !bidi) return false;  // our uni streams are send-only
    if (!peer_initiated && !sent_.count(id)) return false;
    auto& in = received_[id];
    if (in.fin || in.reset) return false;
    if (peer_initiated && !in.opened) {
      if (opened_by_peer_[bidi] >= peer_stream_limit_) return false;
      ++opened_by_peer_[bidi];
      in.opened = true;
      if (bidi) sent_[id].bidi = true;
      h_->on_stream_opened(id, bidi);
      if (closed_ || !h_) return true;
    }
    in.fin = fin;
    h_->on_stream_data(id, data, fin);
    return true;
  }
  bool peer_reset(quic::StreamId id, uint64_t code) {
    if (closed_ || !h_ || !received_.count(id)) return false;
    auto& in = received_[id];
    if (in.reset) return false;
    in.reset = true;
    h_->on_stream_reset(id, code);
    return true;
  }
  bool peer_stop_sending(quic::StreamId id, uint64_t code) {
    if (closed_ || !h_ || !sent_.count(id)) return false;
    h_->on_stop_sending(id, code);
    return true;
  }
  void peer_datagram(std::span<const uint8_t> data) {
    if (!closed_ && h_) h_->on_datagram(data);
  }
  // Everything the session queued "went out": drained for each stream with unsent data.
  void drain() {
    std::vector<quic::StreamId> ids(pending_drain_.begin(), pending_drain_.end());
    pending_drain_.clear();
    for (quic::StreamId id : ids) {
      if (closed_ || !h_) return;
      h_->on_stream_drained(id);
    }
  }
  // One of our streams is done in both directions (its data acknowledged, or reset).
  void stream_closed(quic::StreamId id) {
    if (!closed_ && h_) h_->on_stream_closed(id);
  }
  void peer_close(uint64_t code, const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    if (h_) h_->on_closed(quic::CloseInfo{quic::CloseSource::kPeer, true, code, reason});
  }
  // The peer's id for its n-th stream of a kind.
  quic::StreamId peer_stream(uint64_t n, bool bidi) const {
    return quic::StreamId(n * 4 + (server_ ? 0 : 1) + (bidi ? 0 : 2));
  }
  void set_peer_stream_limit(uint64_t n) { peer_stream_limit_ = n; }
  void set_local_stream_limit(uint64_t n) {
    local_stream_limit_ = n;
    if (h_ && !closed_) {
      h_->on_streams_available(true);
      if (h_ && !closed_) h_->on_streams_available(false);
    }
  }

  const std::map<quic::StreamId, Sent>& sent() const { return sent_; }
  const std::vector<std::vector<uint8_t>>& datagrams() const { return datagrams_; }
  const std::vector<Event>& events() const { return events_; }
  bool closed() const { return closed_; }
  uint64_t close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }

  // --- quic::Transport ---
  void set_handler(quic::TransportHandler* h) override { h_ = h; }
  quic::EventLoop& loop() override { return loop_; }
  std::string_view protocol() const override { return protocol_; }
  bool is_server() const override { return server_; }
  std::optional<quic::StreamId> open_bidi_stream() override { return open(true); }
  std::optional<quic::StreamId> open_uni_stream() override { return open(false); }
  bool write(quic::StreamId id, quic::SendBuffer data, bool fin) override {
    auto it = sent_.find(id);
    if (closed_ || it == sent_.end() || it->second.fin || it->second.reset) return false;
    it->second.data.insert(it->second.data.end(), data.data.begin(), data.data.end());
    if (!data.data.empty()) events_.push_back({Event::kWrite, id});
    if (fin) {
      it->second.fin = true;
      events_.push_back({Event::kFin, id});
    }
    pending_drain_.push_back(id);
    return true;
  }
  void reset_stream(quic::StreamId id, uint64_t app_code) override {
    auto it = sent_.find(id);
    if (closed_ || it == sent_.end() || it->second.reset) return;
    it->second.reset = app_code;
    events_.push_back({Event::kReset, id});
  }
  void stop_sending(quic::StreamId id, uint64_t app_code) override {
    if (closed_) return;
    sent_[id].stop_sending = app_code;
    events_.push_back({Event::kStopSending, id});
  }
  void set_priority(quic::StreamId, uint64_t) override {}
  size_t queued_bytes(quic::StreamId) const override { return 0; }
  bool send_datagram(quic::SendBuffer data) override {
    if (closed_ || data.data.size() > max_datagram_payload()) return false;
    datagrams_.emplace_back(data.data.begin(), data.data.end());
    events_.push_back({Event::kDatagram, -1});
    return true;
  }
  size_t max_datagram_payload() const override { return 1200; }
  void close(uint64_t app_code, std::string_view reason) override {
    if (closed_) return;
    closed_ = true;
    close_code_ = app_code;
    close_reason_ = std::string(reason);
    events_.push_back({Event::kClose, -1});
    // A real connection reports its own close too (from the loop, not inside this call); the
    // session already knows it is closed, so nothing more is delivered.
  }
  quic::TransportStats stats() const override { return {}; }

 private:
  struct In {
    bool opened = false, fin = false, reset = false;
  };
  std::optional<quic::StreamId> open(bool bidi) {
    if (closed_ || opened_local_[bidi] >= local_stream_limit_) return std::nullopt;
    const quic::StreamId id = quic::StreamId(opened_local_[bidi]++ * 4 + (server_ ? 1 : 0) + (bidi ? 0 : 2));
    Sent& s = sent_[id];
    s.bidi = bidi;
    s.local = true;
    return id;
  }

  quic::EventLoop& loop_;
  bool server_;
  std::string protocol_;
  quic::TransportHandler* h_ = nullptr;
  bool closed_ = false;
  uint64_t close_code_ = 0;
  std::string close_reason_;
  std::map<quic::StreamId, Sent> sent_;
  std::map<quic::StreamId, In> received_;
  std::vector<std::vector<uint8_t>> datagrams_;
  std::vector<Event> events_;
  std::vector<quic::StreamId> pending_drain_;
  uint64_t opened_local_[2] = {0, 0}, opened_by_peer_[2] = {0, 0};
  uint64_t local_stream_limit_ = 1000, peer_stream_limit_ = 1000;
};

}  // namespace moqt::test
