#include "moqt/quic/udp.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace moqt::quic {
namespace {

constexpr size_t kBatch = 64;
constexpr size_t kSlot = 2048;  // larger than any QUIC packet we accept (max_udp_payload 1472)
constexpr size_t kGroBatch = 16;
constexpr size_t kGroSlot = 65536;  // a GRO buffer holds up to 64 KiB of coalesced datagrams

uint64_t mono_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

}  // namespace

SocketAddress::SocketAddress(const sockaddr* sa, socklen_t len) { assign(sa, len); }

void SocketAddress::assign(const sockaddr* sa, socklen_t len) {
  if (len > sizeof ss_) len = sizeof ss_;
  if (len < len_) memset(reinterpret_cast<char*>(&ss_) + len, 0, len_ - len);  // no stale tail bytes
  memcpy(&ss_, sa, len);
  len_ = len;
}

std::optional<SocketAddress> SocketAddress::resolve(const std::string& host, uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* res = nullptr;
  const std::string p = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), p.c_str(), &hints, &res) != 0 || !res) return std::nullopt;
  // Prefer IPv4 for names like "localhost" (what most peers listen on); literals are exact.
  const addrinfo* pick = res;
  for (const addrinfo* a = res; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  }
  SocketAddress out(pick->ai_addr, pick->ai_addrlen);
  freeaddrinfo(res);
  return out;
}

std::optional<SocketAddress> SocketAddress::parse(const std::string& host_port, bool passive) {
  std::string host, port;
  if (!host_port.empty() && host_port[0] == '[') {
    const auto close = host_port.find(']');
    if (close == std::string::npos || close + 1 >= host_port.size() || host_port[close + 1] != ':') return std::nullopt;
    host = host_port.substr(1, close - 1);
    port = host_port.substr(close + 2);
  } else {
    const auto colon = host_port.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = host_port.substr(0, colon);
    port = host_port.substr(colon + 1);
  }
  char* end = nullptr;
  const unsigned long pn = strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end || pn > 65535) return std::nullopt;
  if (host.empty() && passive) host = "0.0.0.0";
  return resolve(host, uint16_t(pn), passive);
}

uint16_t SocketAddress::port() const {
  if (ss_.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss_)->sin_port);
  if (ss_.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_port);
  return 0;
}

void SocketAddress::set_port(uint16_t p) {
  if (ss_.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&ss_)->sin_port = htons(p);
  if (ss_.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss_)->sin6_port = htons(p);
}

std::string SocketAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (ss_.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss_)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (ss_.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  return "?";
}

bool SocketAddress::operator==(const SocketAddress& o) const {
  if (ss_.ss_family != o.ss_.ss_family) return false;
  if (ss_.ss_family == AF_INET) {
    auto a = reinterpret_cast<const sockaddr_in*>(&ss_), b = reinterpret_cast<const sockaddr_in*>(&o.ss_);
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (ss_.ss_family == AF_INET6) {
    auto a = reinterpret_cast<const sockaddr_in6*>(&ss_), b = reinterpret_cast<const sockaddr_in6*>(&o.ss_);
    return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
  }
  return false;
}

std::optional<UdpSocket> UdpSocket::bind(const SocketAddress& local, bool reuse_port, std::string* error) {
  auto fail = [&](const char* what) -> std::optional<UdpSocket> {
    if (error) *error = std::string(what) + ": " + strerror(errno);
    return std::nullopt;
  };
  UdpSocket s;
  s.fd_ = socket(local.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd_ < 0) return fail("socket");
  const int one = 1;
  if (reuse_port) setsockopt(s.fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Large buffers: bursts of a paced sender must not overflow the kernel queue.
  const int buf = 8 << 20;
  if (setsockopt(s.fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(s.fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(s.fd_, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(s.fd_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (local.family() == AF_INET6) {
    const int zero = 0;  // "::" also accepts IPv4
    setsockopt(s.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(s.fd_, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof one);
    setsockopt(s.fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    const int pmtud = IPV6_PMTUDISC_PROBE;
    setsockopt(s.fd_, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtud, sizeof pmtud);
  }
  setsockopt(s.fd_, IPPROTO_IP, IP_RECVTOS, &one, sizeof one);
  setsockopt(s.fd_, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  const int pmtud = IP_PMTUDISC_PROBE;  // DF set: QUIC does its own path MTU discovery
  setsockopt(s.fd_, IPPROTO_IP, IP_MTU_DISCOVER, &pmtud, sizeof pmtud);
  if (::bind(s.fd_, local.get(), local.size()) != 0) return fail(("bind " + local.to_string()).c_str());
  s.local_ = local;
  if (getsockname(s.fd_, s.local_.get(), s.local_.size_ptr()) != 0) return fail("getsockname");
  int seg = 0;
  socklen_t sl = sizeof seg;
  s.gso_ = getsockopt(s.fd_, SOL_UDP, UDP_SEGMENT, &seg, &sl) == 0;
  s.rxbuf_.resize(kBatch * kSlot);
  return s;
}

bool UdpSocket::enable_gro() {
  if (gro_) return true;
  const int one = 1;
  if (setsockopt(fd_, SOL_UDP, UDP_GRO, &one, sizeof one) != 0) return false;
  gro_ = true;
  rxbuf_.assign(kGroBatch * kGroSlot, 0);
  return true;
}

UdpSocket::UdpSocket(UdpSocket&& o) noexcept { *this = std::move(o); }

UdpSocket& UdpSocket::operator=(UdpSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
    local_ = o.local_;
    gso_ = o.gso_;
    gro_ = o.gro_;
    stats_ = o.stats_;
    rxbuf_ = std::move(o.rxbuf_);
    imp_ = o.imp_;
    rng_ = o.rng_;
    held_ = std::move(o.held_);
    link_free_ns_ = o.link_free_ns_;
  }
  return *this;
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) close(fd_);
}

size_t UdpSocket::receive(const std::function<void(const ReceivedDatagram&)>& cb) {
  size_t total = 0;
  mmsghdr msgs[kBatch];
  iovec iovs[kBatch];
  sockaddr_storage peers[kBatch];
  alignas(cmsghdr) char ctrl[kBatch][128];
  // One ReceivedDatagram for the whole call: the peer address is overwritten in place (only the
  // bytes the kernel wrote), and the local address is rebuilt only when IP_PKTINFO names another
  // destination address than the previous datagram's. At ~1 M datagrams/s the per-datagram
  // copies and zeroing of two sockaddr_storage showed up in the profile (docs/benchmarks.md).
  ReceivedDatagram d;
  d.local = local_;
  sa_family_t last_pi_family = AF_UNSPEC;
  in_addr last_pi4{};
  in6_addr last_pi6{};
  const size_t batch = gro_ ? kGroBatch : kBatch, slot = gro_ ? kGroSlot : kSlot;
  for (;;) {
    for (size_t i = 0; i < batch; ++i) {
      iovs[i] = {rxbuf_.data() + i * slot, slot};
      msgs[i].msg_len = 0;
      msghdr& h = msgs[i].msg_hdr;
      h.msg_name = &peers[i];
      h.msg_namelen = sizeof peers[i];
      h.msg_iov = &iovs[i];
      h.msg_iovlen = 1;
      h.msg_control = ctrl[i];
      h.msg_controllen = sizeof ctrl[i];
      h.msg_flags = 0;
    }
    const int n = recvmmsg(fd_, msgs, unsigned(batch), MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      const msghdr& h = msgs[i].msg_hdr;
      if (h.msg_flags & MSG_TRUNC) continue;  // larger than any packet we allow: not QUIC for us
      d.peer.assign(reinterpret_cast<const sockaddr*>(&peers[i]), h.msg_namelen);
      d.ecn = 0;
      bool have_pi = false;
      size_t gro_segment = 0;  // > 0: the buffer holds datagrams of this size (the last may be shorter)
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
          d.ecn = *reinterpret_cast<uint8_t*>(CMSG_DATA(c)) & 0x3;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
          int tc;
          memcpy(&tc, CMSG_DATA(c), sizeof tc);
          d.ecn = uint8_t(tc & 0x3);
        } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int seg;
          memcpy(&seg, CMSG_DATA(c), sizeof seg);
          if (seg > 0) gro_segment = size_t(seg);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
          in_pktinfo pi;
          memcpy(&pi, CMSG_DATA(c), sizeof pi);
          have_pi = true;
          if (last_pi_family == AF_INET && pi.ipi_addr.s_addr == last_pi4.s_addr) continue;
          sockaddr_in sa{};
          sa.sin_family = AF_INET;
          sa.sin_addr = pi.ipi_addr;
          sa.sin_port = htons(local_.port());
          d.local = SocketAddress(reinterpret_cast<sockaddr*>(&sa), sizeof sa);
          last_pi_family = AF_INET;
          last_pi4 = pi.ipi_addr;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
          in6_pktinfo pi;
          memcpy(&pi, CMSG_DATA(c), sizeof pi);
          have_pi = true;
          if (last_pi_family == AF_INET6 && memcmp(&pi.ipi6_addr, &last_pi6, sizeof last_pi6) == 0) continue;
          sockaddr_in6 sa{};
          sa.sin6_family = AF_INET6;
          sa.sin6_addr = pi.ipi6_addr;
          sa.sin6_port = htons(local_.port());
          d.local = SocketAddress(reinterpret_cast<sockaddr*>(&sa), sizeof sa);
          last_pi_family = AF_INET6;
          last_pi6 = pi.ipi6_addr;
        }
      }
      if (!have_pi && last_pi_family != AF_UNSPEC) {  // no PKTINFO this time: the bound address
        d.local = local_;
        last_pi_family = AF_UNSPEC;
      }
      const uint8_t* base = rxbuf_.data() + size_t(i) * slot;
      const size_t len = msgs[i].msg_len;
      if (gro_segment == 0 || gro_segment >= len) {
        d.data = {base, len};
        ++stats_.packets_received;
        stats_.bytes_received += len;
        cb(d);
        continue;
      }
      for (size_t off = 0; off < len; off += gro_segment) {  // coalesced by GRO: one at a time
        d.data = {base + off, std::min(gro_segment, len - off)};
        ++stats_.packets_received;
        stats_.bytes_received += d.data.size();
        cb(d);
      }
    }
    total += size_t(n);
    if (size_t(n) < batch) break;
  }
  return total;
}

bool UdpSocket::send_one(const SocketAddress& peer, std::span<const uint8_t> data, uint8_t ecn) {
  return send_now(peer, data, 0, ecn);
}

bool UdpSocket::send_now(const SocketAddress& peer, std::span<const uint8_t> data, size_t segment, uint8_t ecn) {
  const bool use_gso = segment > 0 && segment < data.size();
  if (use_gso && !gso_) {
    for (size_t off = 0; off < data.size(); off += segment) {
      if (!send_now(peer, data.subspan(off, std::min(segment, data.size() - off)), 0, ecn)) return false;
    }
    return true;
  }
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  msghdr h{};
  h.msg_name = const_cast<sockaddr*>(peer.get());
  h.msg_namelen = peer.size();
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))] = {};
  h.msg_control = ctrl;
  h.msg_controllen = sizeof ctrl;
  size_t used = 0;
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  if (use_gso) {
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    const uint16_t seg = uint16_t(segment);
    memcpy(CMSG_DATA(c), &seg, sizeof seg);
    used += CMSG_SPACE(sizeof(uint16_t));
    c = CMSG_NXTHDR(&h, c);
  }
  if (ecn && c) {
    const int tos = ecn;
    if (peer.family() == AF_INET6) {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_TCLASS;
    } else {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_TOS;
    }
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &tos, sizeof tos);
    used += CMSG_SPACE(sizeof(int));
  }
  h.msg_controllen = used;
  if (used == 0) h.msg_control = nullptr;
  for (;;) {
    const ssize_t r = sendmsg(fd_, &h, 0);
    if (r >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (use_gso && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP)) {
      gso_ = false;  // e.g. a device without checksum offload: fall back for good
      return send_now(peer, data, segment, ecn);
    }
    ++stats_.send_errors;  // unreachable peer etc.: QUIC recovers or times out
    return true;
  }
  const size_t packets = use_gso ? (data.size() + segment - 1) / segment : 1;
  stats_.packets_sent += packets;
  stats_.bytes_sent += data.size();
  if (use_gso) ++stats_.gso_sends;
  return true;
}

void UdpSocket::set_impairment(const Impairment& imp) {
  imp_ = imp;
  rng_.seed(imp.seed);
}

bool UdpSocket::send(const SocketAddress& peer, std::span<const uint8_t> data, size_t segment, uint8_t ecn) {
  if (!imp_.active()) return send_now(peer, data, segment, ecn);
  const size_t seg = segment > 0 ? segment : data.size();
  const uint64_t now = mono_ns();
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (size_t off = 0; off < data.size(); off += seg) {
    auto pkt = data.subspan(off, std::min(seg, data.size() - off));
    if (imp_.drop > 0 && u(rng_) < imp_.drop) {
      ++stats_.shim_dropped;
      continue;
    }
    uint64_t leave = now;
    if (imp_.rate_bps) {
      if (held_.size() >= imp_.queue_limit) {  // bottleneck queue full: tail drop
        ++stats_.shim_dropped;
        continue;
      }
      link_free_ns_ = std::max(link_free_ns_, now) + pkt.size() * 8ull * 1000000000ull / imp_.rate_bps;
      leave = link_free_ns_;
    }
    const uint64_t release = leave + imp_.delay_us * 1000;
    if (release <= now) {
      send_now(peer, pkt, 0, ecn);
    } else {
      held_.push_back(Held{release, peer, std::vector<uint8_t>(pkt.begin(), pkt.end()), ecn});
    }
  }
  return true;
}

std::optional<uint64_t> UdpSocket::next_release_ns() const {
  if (held_.empty()) return std::nullopt;
  return held_.front().release_ns;
}

void UdpSocket::flush_held(uint64_t now_ns) {
  while (!held_.empty() && held_.front().release_ns <= now_ns) {
    Held& h = held_.front();
    if (!send_now(h.peer, h.data, 0, h.ecn)) break;  // kernel queue full: retry later
    held_.pop_front();
  }
}

}  // namespace moqt::quic
