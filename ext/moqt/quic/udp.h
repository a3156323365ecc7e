// UDP sockets for QUIC: IPv4/IPv6, batched receive (recvmmsg) with ECN and local-address
// control messages, sends with UDP GSO (UDP_SEGMENT) when the kernel has it, and a seeded
// impairment shim (drop, delay, rate limit) that tests switch on, since this kernel has no netem.
// A UdpSocket belongs to one EventLoop thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace moqt::quic {

class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(const sockaddr* sa, socklen_t len);
  // Overwrites this address with `len` bytes of `sa` (no full sockaddr_storage copy).
  void assign(const sockaddr* sa, socklen_t len);
  // "127.0.0.1:4443", "[::1]:4443", "localhost:4443" (resolved, IPv4 first), ":4443" (any).
  static std::optional<SocketAddress> parse(const std::string& host_port, bool passive = false);
  static std::optional<SocketAddress> resolve(const std::string& host, uint16_t port, bool passive = false);

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&ss_); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&ss_); }
  socklen_t size() const { return len_; }
  socklen_t* size_ptr() { return &len_; }
  void set_size(socklen_t l) { len_ = l; }
  int family() const { return ss_.ss_family; }
  uint16_t port() const;
  void set_port(uint16_t p);
  std::string to_string() const;
  bool operator==(const SocketAddress& o) const;
  bool valid() const { return len_ > 0; }

 private:
  sockaddr_storage ss_{};
  socklen_t len_ = 0;
};

struct ReceivedDatagram {
  SocketAddress peer;
  SocketAddress local;
  uint8_t ecn = 0;
  std::span<const uint8_t> data;
};

// Loss/delay/rate emulation applied to what a socket sends. Seeded: a test run is repeatable.
struct Impairment {
  double drop = 0.0;            // probability of dropping each packet
  uint64_t delay_us = 0;        // added one-way delay
  uint64_t rate_bps = 0;        // bottleneck rate in bits/s (0 = unlimited)
  size_t queue_limit = 256;     // packets held by the rate limiter before tail drop
  uint32_t seed = 1;
  bool active() const { return drop > 0 || delay_us || rate_bps; }
};

struct UdpStats {
  uint64_t packets_sent = 0, bytes_sent = 0, packets_received = 0, bytes_received = 0;
  uint64_t send_errors = 0, shim_dropped = 0, gso_sends = 0;
};

class UdpSocket {
 public:
  // Binds a non-blocking socket. reuse_port lets several loops share a port.
  static std::optional<UdpSocket> bind(const SocketAddress& local, bool reuse_port, std::string* error);
  UdpSocket(UdpSocket&& o) noexcept;
  UdpSocket& operator=(UdpSocket&& o) noexcept;
  ~UdpSocket();

  int fd() const { return fd_; }
  const SocketAddress& local() const { return local_; }
  bool gso() const { return gso_; }
  // Never use UDP_SEGMENT: GSO batches go out one sendmsg per packet (benchmarks compare both).
  void disable_gso() { gso_ = false; }
  // Receive with UDP GRO: the kernel may hand over several datagrams of one flow as one buffer,
  // which receive() splits by the segment size in the UDP_GRO control message, so callers still
  // see one datagram at a time. Fewer, larger receive buffers (16 x 64 KiB). False (and nothing
  // changes) when the kernel refuses. Note: on loopback a GSO send then reaches the receiver
  // unsplit, which costs much less than on a real path (docs/benchmarks.md).
  bool enable_gro();
  bool gro() const { return gro_; }

  // Reads everything available (batches of up to 64 datagrams) and calls `cb` for each.
  // Returns the number of datagrams read.
  size_t receive(const std::function<void(const ReceivedDatagram&)>& cb);

  // Sends `data` to `peer`. With segment > 0 and segment < data.size(), `data` holds several
  // packets of `segment` bytes (the last may be shorter) sent with one GSO call, or one by one
  // when GSO is unavailable. Returns false when the socket would block (retry on EPOLLOUT).
  bool send(const SocketAddress& peer, std::span<const uint8_t> data, size_t segment, uint8_t ecn);

  // Impaired sending: packets pass through the shim; held packets go out from flush_held().
  void set_impairment(const Impairment& imp);
  // When the shim holds delayed/queued packets: the time (steady clock, ns) the next one is due.
  std::optional<uint64_t> next_release_ns() const;
  void flush_held(uint64_t now_ns);

  const UdpStats& stats() const { return stats_; }

 private:
  UdpSocket() = default;
  bool send_now(const SocketAddress& peer, std::span<const uint8_t> data, size_t segment, uint8_t ecn);
  bool send_one(const SocketAddress& peer, std::span<const uint8_t> data, uint8_t ecn);

  int fd_ = -1;
  SocketAddress local_;
  bool gso_ = false;
  bool gro_ = false;
  UdpStats stats_;
  std::vector<uint8_t> rxbuf_;

  struct Held {
    uint64_t release_ns;
    SocketAddress peer;
    std::vector<uint8_t> data;
    uint8_t ecn;
  };
  Impairment imp_;
  std::mt19937_64 rng_{1};
  std::deque<Held> held_;     // ordered by release time
  uint64_t link_free_ns_ = 0; // rate limiter: when the emulated link is idle again
};

}  // namespace moqt::quic
