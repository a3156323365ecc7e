// The transport contract the MoQT session is written against: reliable streams, datagrams and
// connection events. Implemented by a raw QUIC connection (quic::Connection) and by a
// WebTransport session over HTTP/3 (webtransport::Session), so the session layer does not care
// which one carries it.
//
// Threading: a Transport and its handler live on one EventLoop thread; every call below and
// every callback happens on that thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moqt::quic {

class EventLoop;
using StreamId = int64_t;

// Bytes to send, kept alive by `owner` until the peer acknowledges them, so one payload can be
// shared by many streams (fan-out) without copies.
struct SendBuffer {
  std::shared_ptr<const void> owner;
  std::span<const uint8_t> data;

  static SendBuffer copy(std::span<const uint8_t> bytes) {
    auto v = std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
    return {v, std::span<const uint8_t>(v->data(), v->size())};
  }
  static SendBuffer take(std::vector<uint8_t>&& bytes) {
    auto v = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    return {v, std::span<const uint8_t>(v->data(), v->size())};
  }
};

enum class CloseSource : uint8_t { kLocal, kPeer, kIdleTimeout, kHandshakeTimeout, kStatelessReset, kError };

struct CloseInfo {
  CloseSource source = CloseSource::kLocal;
  bool application = true;   // application (MoQT / WT) code vs QUIC transport code
  uint64_t code = 0;
  std::string reason;
};

struct TransportStats {
  uint64_t packets_sent = 0, packets_received = 0, bytes_sent = 0, bytes_received = 0;
  uint64_t stream_bytes_sent = 0, stream_bytes_received = 0;
  uint64_t datagrams_sent = 0, datagrams_received = 0, datagrams_dropped = 0;
  uint64_t packets_lost = 0;          // retransmitted stream frames (ngtcp2 1.11 exposes no packet count)
  uint64_t smoothed_rtt_us = 0, min_rtt_us = 0, latest_rtt_us = 0;
  uint64_t cwnd = 0, bytes_in_flight = 0;
};

class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // The connection (or WT session) is ready; `protocol` is the negotiated ALPN / WT-Protocol.
  virtual void on_ready(std::string_view protocol) = 0;
  // The peer opened a stream (before its first data).
  virtual void on_stream_opened(StreamId, bool /*bidi*/) {}
  virtual void on_stream_data(StreamId id, std::span<const uint8_t> data, bool fin) = 0;
  virtual void on_stream_reset(StreamId, uint64_t /*app_code*/) {}
  virtual void on_stop_sending(StreamId, uint64_t /*app_code*/) {}
  // Everything queued on the stream was handed to QUIC (flow control and congestion allowed it).
  virtual void on_stream_drained(StreamId) {}
  // Both directions of the stream are finished and its state is gone.
  virtual void on_stream_closed(StreamId) {}
  // The peer raised its stream limit: open_*_stream may succeed again.
  virtual void on_streams_available(bool /*bidi*/) {}
  virtual void on_datagram(std::span<const uint8_t>) {}
  // Called once; the transport must not be used afterwards.
  virtual void on_closed(const CloseInfo&) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void set_handler(TransportHandler* h) = 0;
  virtual EventLoop& loop() = 0;
  virtual std::string_view protocol() const = 0;
  virtual bool is_server() const = 0;

  // nullopt when the peer's stream limit is reached (wait for on_streams_available).
  virtual std::optional<StreamId> open_bidi_stream() = 0;
  virtual std::optional<StreamId> open_uni_stream() = 0;
  // Queues data (and FIN). False if the stream cannot be written (unknown, reset, FIN sent).
  virtual bool write(StreamId id, SendBuffer data, bool fin) = 0;
  virtual void reset_stream(StreamId id, uint64_t app_code) = 0;
  virtual void stop_sending(StreamId id, uint64_t app_code) = 0;
  // Lower keys are sent first (the session maps MoQT priorities onto this).
  virtual void set_priority(StreamId id, uint64_t key) = 0;
  // Bytes queued on a stream and not yet handed to QUIC.
  virtual size_t queued_bytes(StreamId id) const = 0;
  // Unreliable; false if too large or the datagram queue is full.
  virtual bool send_datagram(SendBuffer data) = 0;
  virtual size_t max_datagram_payload() const = 0;
  virtual void close(uint64_t app_code, std::string_view reason) = 0;
  virtual TransportStats stats() const = 0;
};

}  // namespace moqt::quic
