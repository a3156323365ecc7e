// moqt-quic-bench: throughput of ONE raw QUIC stream (ngtcp2 + GnuTLS, ext/moqt/quic) over UDP.
//
//   moqt-quic-bench [--bytes 1G] [--cc cubic|bbr|reno] [--write-size 64K] [--queue 1M]
//                   [--gso on|off] [--gro on|off] [--json] [--trace-ms N]
//       same process (default): the server and the client each run on their own EventLoop
//       thread, so the two sides can use both cores; they talk over 127.0.0.1.
//   moqt-quic-bench --ceiling [--ceiling-seconds 2] [--json] [...]
//       first this machine's ceiling without QUIC (plain UDP GSO over 127.0.0.1 with a sender and
//       a receiver thread; AES-128-GCM seal on one thread), then the same-process run, reported
//       as a fraction of the UDP ceiling; with --json one JSON line. --ceiling-only: no QUIC run.
//   moqt-quic-bench --mode server [--listen 127.0.0.1:4433]        prints the certificate pin
//   moqt-quic-bench --mode client --connect 127.0.0.1:4433 --pin HEX [--bytes ...]
//       two processes; each prints its own measurement (the server from the first byte to the
//       FIN, the client from the first write to the server's receipt).
//
// The client opens one bidirectional stream and writes `--bytes` of a deterministic pattern as
// fast as flow and congestion control allow, keeping at most `--queue` bytes queued in the
// transport (it refills from on_stream_drained; the payload is never copied: every write is a
// slice of one shared pattern buffer). The server compares every received byte with the pattern
// at its stream offset (memcmp), and on FIN answers on the same stream with the byte count and
// a verdict, then FIN. A corrupted, truncated or over-long transfer exits with status 1 and
// prints no result line.
//
// Measured: wall time from the first write to the server's FIN (same process: both timestamps
// on the steady clock of one process), MB/s (10^6 bytes), Gbit/s, process CPU
// (getrusage RUSAGE_SELF, user + sys) and per-loop-thread CPU (getrusage RUSAGE_THREAD, taken
// on each loop thread) and CPU seconds per GB (10^9 bytes), plus UDP and QUIC counters.
// --trace-ms N samples the sender every N ms (bytes sent/received, in flight, cwnd, RTT) and
// prints the timeline to stderr: what to look at when a run is slower than its CPU time says.
// See docs/benchmarks.md.
#include <arpa/inet.h>
#include <glib.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "moqt/quic/connection.h"

using namespace moqt::quic;

namespace {

constexpr const char* kAlpn = "moqt-bench";
using Clock = std::chrono::steady_clock;

// ---- options ------------------------------------------------------------------------------------

struct Options {
  uint64_t bytes = uint64_t(1) << 30;
  std::string mode = "same-process";
  CongestionControl cc = CongestionControl::kCubic;
  std::string cc_name = "cubic";
  size_t write_size = 64 * 1024;
  size_t queue = 1 << 20;
  bool gso = true;
  bool gro = false;  // UDP GRO on the receiving sockets (flatters loopback numbers)
  bool json = false;
  std::string listen = "127.0.0.1:4433";
  std::string connect;
  std::string pin;
  int timeout_s = 600;
  int trace_ms = 0;  // > 0: sample the sender every N ms and print a timeline to stderr
  bool ceiling = false;       // measure plain UDP and AES-GCM first, then compare the QUIC run
  bool ceiling_only = false;  // ... and skip the QUIC run
  double ceiling_seconds = 2.0;
  double seal_seconds = 1.0;
};

// "1073741824", "256M", "64K", "1G", "1.5G" (K/M/G are powers of 1024; KB/MB/GB of 1000).
std::optional<uint64_t> parse_size(const char* text) {
  if (!text || !*text) return std::nullopt;
  char* end = nullptr;
  const double v = g_ascii_strtod(text, &end);
  if (end == text || v < 0) return std::nullopt;
  std::string suffix(end);
  for (auto& ch : suffix) ch = char(g_ascii_toupper(ch));
  double mult = 1;
  if (suffix.empty() || suffix == "B") mult = 1;
  else if (suffix == "K" || suffix == "KIB") mult = 1024.0;
  else if (suffix == "M" || suffix == "MIB") mult = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GIB") mult = 1024.0 * 1024 * 1024;
  else if (suffix == "KB") mult = 1e3;
  else if (suffix == "MB") mult = 1e6;
  else if (suffix == "GB") mult = 1e9;
  else return std::nullopt;
  return uint64_t(v * mult);
}

// ---- CPU time -----------------------------------------------------------------------------------

struct Cpu {
  double user = 0, sys = 0;
  double total() const { return user + sys; }
  Cpu operator-(const Cpu& o) const { return {user - o.user, sys - o.sys}; }
};

Cpu cpu_now(int who) {  // RUSAGE_SELF (process) or RUSAGE_THREAD (the calling thread)
  rusage ru{};
  getrusage(who, &ru);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return {sec(ru.ru_utime), sec(ru.ru_stime)};
}

// The whole machine's CPU from /proc/stat (all CPUs): softirq time, where loopback delivery
// mostly runs, is charged to no thread's getrusage, so the per-thread numbers miss it.
struct MachineCpu {
  double busy = 0, softirq = 0;  // seconds; busy = everything but idle and iowait
  MachineCpu operator-(const MachineCpu& o) const { return {busy - o.busy, softirq - o.softirq}; }
};

MachineCpu machine_cpu_now() {
  MachineCpu m;
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return m;
  unsigned long long v[10] = {};
  if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &v[6], &v[7], &v[8], &v[9]) >= 8) {
    const double hz = double(sysconf(_SC_CLK_TCK));
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    m.busy = double(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
    m.softirq = double(v[6]) / hz;
  }
  std::fclose(f);
  return m;
}

// ---- the payload --------------------------------------------------------------------------------

// A pseudo-random pattern with a period that is not a multiple of any power-of-two write size,
// stored with `max_write` extra bytes so that every write is one contiguous slice of it.
class Pattern {
 public:
  static constexpr size_t kPeriod = (size_t(1) << 20) + 4093;

  explicit Pattern(size_t max_write) : buf_(std::make_shared<std::vector<uint8_t>>(kPeriod + max_write)) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < kPeriod; ++i) {  // splitmix64, one byte per step
      x += 0x9e3779b97f4a7c15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      (*buf_)[i] = uint8_t(z ^ (z >> 31));
    }
    for (size_t i = kPeriod; i < buf_->size(); ++i) (*buf_)[i] = (*buf_)[i - kPeriod];
  }
  // The stream bytes [offset, offset + len), len <= max_write, without copying.
  SendBuffer slice(uint64_t offset, size_t len) const {
    const uint8_t* p = buf_->data() + offset % kPeriod;
    return SendBuffer{buf_, std::span<const uint8_t>(p, len)};
  }
  // True when `data` is exactly the pattern at stream offset `offset`.
  bool matches(uint64_t offset, std::span<const uint8_t> data) const {
    while (!data.empty()) {
      const size_t start = size_t(offset % kPeriod);
      const size_t n = std::min(data.size(), kPeriod - start);
      if (memcmp(buf_->data() + start, data.data(), n) != 0) return false;
      data = data.subspan(n);
      offset += n;
    }
    return true;
  }

 private:
  std::shared_ptr<std::vector<uint8_t>> buf_;
};

// ---- shared state -------------------------------------------------------------------------------

struct Side {  // one side's snapshot, written on its loop thread
  Clock::time_point t0, t1;
  Cpu thread0, thread1, proc0, proc1;
  UdpStats udp;
  TransportStats quic;
  bool have = false;
};

struct Shared {
  std::atomic<uint64_t> live_received{0};  // server's byte count, for --trace-ms
  std::mutex mu;
  std::condition_variable cv;
  // server side
  bool server_done = false;  // FIN seen (verdict below)
  uint64_t received = 0;
  bool verified = false;
  std::string server_error;
  Side server;
  // client side
  bool client_done = false;  // the server's verdict arrived
  uint64_t reported = 0;     // byte count in the server's verdict
  bool reported_ok = false;
  std::string client_error;
  Side client;

  void notify() {
    std::lock_guard<std::mutex> l(mu);
    cv.notify_all();
  }
};

// The verdict the server writes back: 8 bytes received count (big-endian), 1 byte ok.
std::vector<uint8_t> encode_verdict(uint64_t n, bool ok) {
  std::vector<uint8_t> v(9);
  for (int i = 0; i < 8; ++i) v[size_t(i)] = uint8_t(n >> (56 - 8 * i));
  v[8] = ok ? 1 : 0;
  return v;
}

// ---- server -------------------------------------------------------------------------------------

class ServerHandler : public TransportHandler {
 public:
  ServerHandler(Connection& c, Endpoint& ep, const Pattern& pat, Shared& sh) : c_(c), ep_(ep), pat_(pat), sh_(sh) {}

  void on_ready(std::string_view) override {}
  void on_stream_opened(StreamId id, bool) override {
    if (stream_ >= 0) return;
    stream_ = id;
    std::lock_guard<std::mutex> l(sh_.mu);
    sh_.server.t0 = Clock::now();
    sh_.server.thread0 = cpu_now(RUSAGE_THREAD);
    sh_.server.proc0 = cpu_now(RUSAGE_SELF);
  }
  void on_stream_data(StreamId id, std::span<const uint8_t> data, bool fin) override {
    if (id != stream_) return;
    if (!data.empty()) {
      if (ok_ && !pat_.matches(received_, data)) {
        ok_ = false;
        bad_offset_ = received_;
      }
      received_ += data.size();
      sh_.live_received.store(received_, std::memory_order_relaxed);
    }
    if (!fin) return;
    const auto t1 = Clock::now();
    const Cpu th = cpu_now(RUSAGE_THREAD), pr = cpu_now(RUSAGE_SELF);
    {
      std::lock_guard<std::mutex> l(sh_.mu);
      sh_.server.t1 = t1;
      sh_.server.thread1 = th;
      sh_.server.proc1 = pr;
      sh_.server.udp = ep_.udp_stats();
      sh_.server.quic = c_.stats();
      sh_.server.have = true;
      sh_.received = received_;
      sh_.verified = ok_;
      if (!ok_) sh_.server_error = "payload mismatch in the chunk at stream offset " + std::to_string(bad_offset_);
      sh_.server_done = true;
      sh_.cv.notify_all();
    }
    c_.write(id, SendBuffer::take(encode_verdict(received_, ok_)), true);
  }
  void on_stream_reset(StreamId id, uint64_t code) override {
    if (id != stream_) return;
    std::lock_guard<std::mutex> l(sh_.mu);
    sh_.server_error = "stream reset by the client, code " + std::to_string(code);
    sh_.cv.notify_all();
  }
  void on_closed(const CloseInfo& info) override {
    std::lock_guard<std::mutex> l(sh_.mu);
    closed_ = true;
    if (!sh_.server_done && sh_.server_error.empty())
      sh_.server_error = "connection closed before FIN: code " + std::to_string(info.code) + " " + info.reason;
    sh_.cv.notify_all();
  }
  bool closed() const { return closed_; }

 private:
  Connection& c_;
  Endpoint& ep_;
  const Pattern& pat_;
  Shared& sh_;
  StreamId stream_ = -1;
  uint64_t received_ = 0, bad_offset_ = 0;
  bool ok_ = true;
  bool closed_ = false;
};

// ---- client -------------------------------------------------------------------------------------

class ClientHandler : public TransportHandler {
 public:
  ClientHandler(const Options& o, const Pattern& pat, Shared& sh) : o_(o), pat_(pat), sh_(sh) {}
  ~ClientHandler() override {  // on the loop thread
    if (trace_timer_) loop_->cancel_timer(trace_timer_);
  }
  void attach(Connection* c, Endpoint* ep) {
    c_ = c;
    ep_ = ep;
    loop_ = &ep->loop();
  }

  void on_ready(std::string_view) override {
    auto id = c_->open_bidi_stream();
    if (!id) {
      fail("cannot open a stream");
      return;
    }
    stream_ = *id;
    {
      std::lock_guard<std::mutex> l(sh_.mu);
      sh_.client.t0 = Clock::now();
      sh_.client.thread0 = cpu_now(RUSAGE_THREAD);
      sh_.client.proc0 = cpu_now(RUSAGE_SELF);
    }
    if (o_.trace_ms > 0) sample();
    fill();
  }
  // Everything queued went to QUIC: queue the next `--queue` bytes. This runs inside the
  // connection's write loop, which picks the new data up in the same pass.
  void on_stream_drained(StreamId id) override {
    if (id == stream_) fill();
  }
  void on_stream_data(StreamId id, std::span<const uint8_t> data, bool fin) override {
    if (id != stream_) return;
    reply_.insert(reply_.end(), data.begin(), data.end());
    if (!fin) return;
    const auto t1 = Clock::now();
    const Cpu th = cpu_now(RUSAGE_THREAD), pr = cpu_now(RUSAGE_SELF);
    {
      std::lock_guard<std::mutex> l(sh_.mu);
      sh_.client.t1 = t1;
      sh_.client.thread1 = th;
      sh_.client.proc1 = pr;
      sh_.client.udp = ep_->udp_stats();
      sh_.client.quic = c_->stats();
      sh_.client.have = true;
      if (reply_.size() != 9) {
        sh_.client_error = "malformed verdict from the server";
      } else {
        uint64_t n = 0;
        for (int i = 0; i < 8; ++i) n = n << 8 | reply_[size_t(i)];
        sh_.reported = n;
        sh_.reported_ok = reply_[8] == 1;
      }
      sh_.client_done = true;
      sh_.cv.notify_all();
    }
    c_->close(0, "done");
  }
  void on_stream_reset(StreamId id, uint64_t code) override {
    if (id == stream_) fail("stream reset by the server, code " + std::to_string(code));
  }
  void on_stop_sending(StreamId id, uint64_t code) override {
    if (id == stream_) fail("STOP_SENDING from the server, code " + std::to_string(code));
  }
  void on_closed(const CloseInfo& info) override {
    std::lock_guard<std::mutex> l(sh_.mu);
    closed_ = true;
    if (!sh_.client_done && sh_.client_error.empty())
      sh_.client_error = "connection closed: code " + std::to_string(info.code) + " " + info.reason;
    sh_.cv.notify_all();
  }
  bool closed() const { return closed_; }

  // --trace-ms: one line per sample (time, what the sender handed to QUIC, what the server has
  // received, bytes in flight, cwnd, RTT, UDP packets sent/received).
  void print_trace() const {
    std::fprintf(stderr, "# t_ms sent_MB recv_MB in_flight_KB cwnd_KB srtt_us latest_rtt_us udp_tx udp_rx queued_KB\n");
    for (const auto& t : trace_)
      std::fprintf(stderr, "%8.2f %9.2f %9.2f %9.1f %9.1f %7llu %7llu %8llu %6llu %7.1f\n", t.t_ms, t.sent / 1e6,
                   t.recv / 1e6, t.q.bytes_in_flight / 1e3, t.q.cwnd / 1e3, (unsigned long long)t.q.smoothed_rtt_us,
                   (unsigned long long)t.q.latest_rtt_us, (unsigned long long)t.udp_tx, (unsigned long long)t.udp_rx,
                   t.queued / 1e3);
  }

 private:
  struct TracePoint {
    double t_ms;
    uint64_t sent, recv, udp_tx, udp_rx;
    size_t queued;
    TransportStats q;
  };
  void sample() {
    if (closed_ || !c_ || c_->closed()) return;
    const auto q = c_->stats();
    trace_.push_back(TracePoint{std::chrono::duration<double, std::milli>(Clock::now() - sh_.client.t0).count(),
                                q.stream_bytes_sent, sh_.live_received.load(std::memory_order_relaxed),
                                ep_->udp_stats().packets_sent, ep_->udp_stats().packets_received,
                                c_->queued_bytes(stream_), q});
    trace_timer_ = loop_->add_timer(std::chrono::milliseconds(o_.trace_ms), [this] {
      trace_timer_ = 0;
      sample();
    });
  }
  std::vector<TracePoint> trace_;
  EventLoop* loop_ = nullptr;
  EventLoop::TimerId trace_timer_ = 0;

  void fill() {
    while (offset_ < o_.bytes && c_->queued_bytes(stream_) < o_.queue) {
      const size_t n = size_t(std::min<uint64_t>(o_.write_size, o_.bytes - offset_));
      const bool fin = offset_ + n == o_.bytes;
      if (!c_->write(stream_, pat_.slice(offset_, n), fin)) {
        fail("write refused at offset " + std::to_string(offset_));
        return;
      }
      offset_ += n;
    }
  }
  void fail(const std::string& why) {
    {
      std::lock_guard<std::mutex> l(sh_.mu);
      if (sh_.client_error.empty()) sh_.client_error = why;
      sh_.cv.notify_all();
    }
    if (c_) c_->close(1, why);
  }

  const Options& o_;
  const Pattern& pat_;
  Shared& sh_;
  Connection* c_ = nullptr;
  Endpoint* ep_ = nullptr;
  StreamId stream_ = -1;
  uint64_t offset_ = 0;
  std::vector<uint8_t> reply_;
  bool closed_ = false;
};

// ---- --ceiling: this machine's limits, measured in the same run, no QUIC ------------------------

struct Ceiling {
  // (a) plain UDP over 127.0.0.1 with GSO: one sender thread, one receiver thread.
  bool udp_gso = false;   // the kernel took UDP_SEGMENT
  double udp_secs = 0;    // the sender's sending time
  uint64_t udp_pkts_sent = 0, udp_pkts_received = 0, udp_bytes_sent = 0, udp_bytes_received = 0;
  uint64_t udp_send_calls = 0, udp_send_errors = 0;
  Cpu udp_snd_cpu, udp_rcv_cpu;
  MachineCpu udp_machine;  // whole machine during the UDP run
  std::string udp_error;
  double udp_gbps() const { return udp_secs > 0 ? double(udp_bytes_received) * 8 / udp_secs / 1e9 : 0; }
  double udp_pps() const { return udp_secs > 0 ? double(udp_pkts_received) / udp_secs : 0; }
  double udp_loss() const { return udp_pkts_sent ? 1.0 - double(udp_pkts_received) / double(udp_pkts_sent) : 0; }
  double udp_snd_s_per_gb() const { return udp_bytes_sent ? udp_snd_cpu.total() / (double(udp_bytes_sent) / 1e9) : 0; }
  double udp_rcv_s_per_gb() const {
    return udp_bytes_received ? udp_rcv_cpu.total() / (double(udp_bytes_received) / 1e9) : 0;
  }
  // (b) AES-128-GCM seal, one thread.
  double seal_secs = 0;
  uint64_t seal_pkts = 0;
  std::string seal_error;
  double seal_gbps() const { return seal_secs > 0 ? double(seal_pkts) * kCeilingPayload * 8 / seal_secs / 1e9 : 0; }
  double seal_pps() const { return seal_secs > 0 ? double(seal_pkts) / seal_secs : 0; }

  static constexpr size_t kCeilingPayload = 1452;  // what our QUIC packets are after PMTUD
  static constexpr size_t kSegments = 44;          // per sendmsg: 44 x 1452 = 63888 B < 64 KiB
};

// The same socket setup as UdpSocket::bind (buffers, PKTINFO/TOS control messages, DF), so the
// ceiling is what the QUIC layer's own sockets could do.
int ceiling_socket(bool blocking_timeout) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1, buf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof one);
  setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  const int pmtud = IP_PMTUDISC_PROBE;
  setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtud, sizeof pmtud);
  if (blocking_timeout) {  // the receiver wakes up every 20 ms to see whether the sender is done
    timeval tv{0, 20000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void measure_udp_ceiling(double seconds, Ceiling& c) {
  constexpr size_t kSeg = Ceiling::kCeilingPayload, kSegs = Ceiling::kSegments, kBatch = 64;
  const int rfd = ceiling_socket(true), sfd = ceiling_socket(false);
  if (rfd < 0 || sfd < 0) {
    c.udp_error = std::string("socket: ") + strerror(errno);
    if (rfd >= 0) close(rfd);
    if (sfd >= 0) close(sfd);
    return;
  }
  sockaddr_in to{};
  socklen_t tolen = sizeof to;
  getsockname(rfd, reinterpret_cast<sockaddr*>(&to), &tolen);
  int seg_probe = 0;
  socklen_t sl = sizeof seg_probe;
  c.udp_gso = getsockopt(sfd, SOL_UDP, UDP_SEGMENT, &seg_probe, &sl) == 0;
  std::atomic<bool> sending{true};
  std::atomic<bool> receiver_ready{false};
  const MachineCpu m0 = machine_cpu_now();

  std::thread receiver([&] {
    std::vector<uint8_t> buf(kBatch * 2048);
    mmsghdr msgs[kBatch];
    iovec iovs[kBatch];
    sockaddr_storage peers[kBatch];
    alignas(cmsghdr) char ctrl[kBatch][128];
    uint64_t pkts = 0, bytes = 0;
    const Cpu c0 = cpu_now(RUSAGE_THREAD);
    receiver_ready = true;
    for (;;) {
      for (size_t i = 0; i < kBatch; ++i) {
        iovs[i] = {buf.data() + i * 2048, 2048};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_name = &peers[i];
        msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_control = ctrl[i];
        msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
      }
      const int n = recvmmsg(rfd, msgs, kBatch, MSG_WAITFORONE, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (!sending.load()) break;  // timed out (20 ms without a packet) after the sender stopped
        continue;
      }
      for (int i = 0; i < n; ++i) bytes += msgs[i].msg_len;
      pkts += uint64_t(n);
    }
    c.udp_rcv_cpu = cpu_now(RUSAGE_THREAD) - c0;
    c.udp_pkts_received = pkts;
    c.udp_bytes_received = bytes;
  });

  std::thread sender([&] {
    while (!receiver_ready.load()) std::this_thread::yield();
    std::vector<uint8_t> payload(kSeg * kSegs);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = uint8_t(i * 131 + 7);
    iovec iov{payload.data(), payload.size()};
    msghdr h{};
    h.msg_name = &to;
    h.msg_namelen = sizeof to;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(uint16_t))] = {};
    if (c.udp_gso) {
      h.msg_control = ctrl;
      h.msg_controllen = sizeof ctrl;
      cmsghdr* cm = CMSG_FIRSTHDR(&h);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t seg = uint16_t(kSeg);
      memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    } else {
      iov.iov_len = kSeg;  // no GSO: one packet per sendmsg
    }
    const uint64_t pkts_per_call = c.udp_gso ? kSegs : 1;
    uint64_t calls = 0, errors = 0;
    const Cpu c0 = cpu_now(RUSAGE_THREAD);
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    auto t1 = t0;
    for (;;) {
      for (int k = 0; k < 16; ++k) {  // look at the clock every 16 sends
        if (sendmsg(sfd, &h, 0) >= 0) ++calls;
        else if (errno != EINTR) ++errors;  // ENOBUFS and the like: counted, the loop goes on
      }
      t1 = Clock::now();
      if (t1 >= deadline) break;
    }
    c.udp_snd_cpu = cpu_now(RUSAGE_THREAD) - c0;
    c.udp_secs = std::chrono::duration<double>(t1 - t0).count();
    c.udp_send_calls = calls;
    c.udp_send_errors = errors;
    c.udp_pkts_sent = calls * pkts_per_call;
    c.udp_bytes_sent = c.udp_pkts_sent * kSeg;
    sending = false;
  });
  sender.join();
  receiver.join();
  c.udp_machine = machine_cpu_now() - m0;
  close(rfd);
  close(sfd);
}

void measure_seal_ceiling(double seconds, Ceiling& c) {
  uint8_t key[16], nonce[12], ad[25];
  for (size_t i = 0; i < sizeof key; ++i) key[i] = uint8_t(i * 7 + 1);
  memset(nonce, 0x5a, sizeof nonce);
  memset(ad, 0x40, sizeof ad);  // about a short header: flags + 18-byte DCID + packet number
  gnutls_datum_t k{key, sizeof key};
  gnutls_aead_cipher_hd_t h = nullptr;
  if (const int rc = gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_128_GCM, &k); rc < 0) {
    c.seal_error = gnutls_strerror(rc);
    return;
  }
  std::vector<uint8_t> in(Ceiling::kCeilingPayload, 0xab), out(Ceiling::kCeilingPayload + 16);
  uint64_t n = 0;
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto t1 = t0;
  for (;;) {
    for (int k = 0; k < 256; ++k) {
      memcpy(nonce + 4, &n, sizeof n);  // a new nonce per packet, as QUIC's packet number does
      size_t outlen = out.size();
      if (const int rc = gnutls_aead_cipher_encrypt(h, nonce, sizeof nonce, ad, sizeof ad, 16, in.data(), in.size(),
                                                    out.data(), &outlen);
          rc < 0) {
        c.seal_error = gnutls_strerror(rc);
        gnutls_aead_cipher_deinit(h);
        return;
      }
      ++n;
    }
    t1 = Clock::now();
    if (t1 >= deadline) break;
  }
  gnutls_aead_cipher_deinit(h);
  c.seal_secs = std::chrono::duration<double>(t1 - t0).count();
  c.seal_pkts = n;
}

std::string ceiling_json(const Ceiling& c) {
  char b[1024];
  std::snprintf(b, sizeof b,
                "\"udp_gso\": %s, \"udp_seconds\": %.4f, \"udp_segment\": %zu, \"udp_segments_per_send\": %zu, "
                "\"udp_gbps\": %.4f, \"udp_pps\": %.0f, \"udp_pkts_sent\": %llu, \"udp_pkts_received\": %llu, "
                "\"udp_loss\": %.6f, \"udp_send_errors\": %llu, \"udp_snd_cpu_s\": %.4f, \"udp_rcv_cpu_s\": %.4f, "
                "\"udp_snd_cpu_s_per_gb\": %.4f, \"udp_rcv_cpu_s_per_gb\": %.4f, \"udp_machine_cpu_s\": %.2f, "
                "\"udp_machine_softirq_s\": %.2f, \"udp_machine_cpu_s_per_gb\": %.4f, "
                "\"seal_cipher\": \"AES-128-GCM\", \"seal_bytes\": %zu, \"seal_seconds\": %.4f, \"seal_gbps\": %.4f, "
                "\"seal_pps\": %.0f",
                c.udp_gso ? "true" : "false", c.udp_secs, Ceiling::kCeilingPayload, Ceiling::kSegments, c.udp_gbps(),
                c.udp_pps(), (unsigned long long)c.udp_pkts_sent, (unsigned long long)c.udp_pkts_received,
                c.udp_loss(), (unsigned long long)c.udp_send_errors, c.udp_snd_cpu.total(), c.udp_rcv_cpu.total(),
                c.udp_snd_s_per_gb(), c.udp_rcv_s_per_gb(), c.udp_machine.busy, c.udp_machine.softirq,
                c.udp_bytes_received ? c.udp_machine.busy / (double(c.udp_bytes_received) / 1e9) : 0.0,
                Ceiling::kCeilingPayload, c.seal_secs, c.seal_gbps(),
                c.seal_pps());
  return b;
}

void print_ceiling_text(const Ceiling& c) {
  std::printf("ceiling udp   127.0.0.1, %s, %zu-byte payloads, %.2f s: %.3f Gbit/s, %.0f pkts/s received "
              "(%llu sent, loss %.2f%%, %llu send errors)\n",
              c.udp_gso ? "GSO 44 segments per sendmsg" : "no GSO (one sendmsg per packet)", Ceiling::kCeilingPayload,
              c.udp_secs, c.udp_gbps(), c.udp_pps(), (unsigned long long)c.udp_pkts_sent, 100 * c.udp_loss(),
              (unsigned long long)c.udp_send_errors);
  std::printf("              sender thread %.3f s = %.3f s/GB sent; receiver thread %.3f s = %.3f s/GB received\n",
              c.udp_snd_cpu.total(), c.udp_snd_s_per_gb(), c.udp_rcv_cpu.total(), c.udp_rcv_s_per_gb());
  std::printf("              whole machine (/proc/stat) %.2f s busy, of which %.2f s softirq = %.3f s/GB received\n",
              c.udp_machine.busy, c.udp_machine.softirq,
              c.udp_bytes_received ? c.udp_machine.busy / (double(c.udp_bytes_received) / 1e9) : 0.0);
  std::printf("ceiling seal  AES-128-GCM, %zu-byte packets, one thread, %.2f s: %.3f Gbit/s, %.0f pkts/s\n",
              Ceiling::kCeilingPayload, c.seal_secs, c.seal_gbps(), c.seal_pps());
  std::fflush(stdout);
}

// ---- reporting ----------------------------------------------------------------------------------

double seconds(const Side& s) { return std::chrono::duration<double>(s.t1 - s.t0).count(); }

struct Result {
  uint64_t bytes = 0;
  double secs = 0;
  Cpu proc, sender, receiver;
  bool have_sender = false, have_receiver = false;
  MachineCpu machine;  // same process: the whole machine from connect to FIN (--ceiling)
  const Side* client = nullptr;
  const Side* server = nullptr;
};

void print_udp_json(FILE* f, const char* name, const UdpStats& u, bool comma) {
  std::fprintf(f, 
      "  \"%s_udp\": {\"packets_sent\": %llu, \"bytes_sent\": %llu, \"gso_sends\": %llu, \"packets_received\": %llu, "
      "\"bytes_received\": %llu, \"send_errors\": %llu}%s\n",
      name, (unsigned long long)u.packets_sent, (unsigned long long)u.bytes_sent, (unsigned long long)u.gso_sends,
      (unsigned long long)u.packets_received, (unsigned long long)u.bytes_received, (unsigned long long)u.send_errors,
      comma ? "," : "");
}

void print_quic_json(FILE* f, const char* name, const TransportStats& q, bool comma) {
  std::fprintf(f, 
      "  \"%s_quic\": {\"packets_sent\": %llu, \"packets_received\": %llu, \"stream_bytes_sent\": %llu, "
      "\"stream_bytes_received\": %llu, \"stream_frames_lost\": %llu, \"smoothed_rtt_us\": %llu, \"min_rtt_us\": %llu, "
      "\"latest_rtt_us\": %llu, \"cwnd\": %llu, \"bytes_in_flight\": %llu}%s\n",
      name, (unsigned long long)q.packets_sent, (unsigned long long)q.packets_received,
      (unsigned long long)q.stream_bytes_sent, (unsigned long long)q.stream_bytes_received,
      (unsigned long long)q.packets_lost, (unsigned long long)q.smoothed_rtt_us, (unsigned long long)q.min_rtt_us,
      (unsigned long long)q.latest_rtt_us, (unsigned long long)q.cwnd, (unsigned long long)q.bytes_in_flight,
      comma ? "," : "");
}

// QUIC against the UDP ceiling: throughput ratio and CPU per GB per side.
struct Comparison {
  double quic_gbps, ratio, snd_s_per_gb, rcv_s_per_gb, snd_vs_udp, rcv_vs_udp, machine_s_per_gb;
};
Comparison compare(const Result& r, const Ceiling& c) {
  Comparison x{};
  const double gb = double(r.bytes) / 1e9;
  x.quic_gbps = double(r.bytes) * 8 / r.secs / 1e9;
  x.ratio = c.udp_gbps() > 0 ? x.quic_gbps / c.udp_gbps() : 0;
  x.snd_s_per_gb = r.sender.total() / gb;
  x.rcv_s_per_gb = r.receiver.total() / gb;
  x.snd_vs_udp = c.udp_snd_s_per_gb() > 0 ? x.snd_s_per_gb / c.udp_snd_s_per_gb() : 0;
  x.rcv_vs_udp = c.udp_rcv_s_per_gb() > 0 ? x.rcv_s_per_gb / c.udp_rcv_s_per_gb() : 0;
  x.machine_s_per_gb = r.machine.busy / gb;
  return x;
}

std::string comparison_json(const Result& r, const Ceiling& c) {
  const Comparison x = compare(r, c);
  char b[512];
  std::snprintf(b, sizeof b,
                "\"quic_gbps\": %.4f, \"quic_udp_ratio\": %.4f, \"quic_snd_cpu_s_per_gb\": %.4f, "
                "\"quic_rcv_cpu_s_per_gb\": %.4f, \"quic_udp_snd_cpu_ratio\": %.3f, \"quic_udp_rcv_cpu_ratio\": %.3f, "
                "\"quic_machine_cpu_s\": %.2f, \"quic_machine_softirq_s\": %.2f, \"quic_machine_cpu_s_per_gb\": %.4f",
                x.quic_gbps, x.ratio, x.snd_s_per_gb, x.rcv_s_per_gb, x.snd_vs_udp, x.rcv_vs_udp, r.machine.busy,
                r.machine.softirq, x.machine_s_per_gb);
  return b;
}

void report(const Options& o, const Result& r, bool gso_active, const Ceiling* ceil = nullptr) {
  const double mbps = double(r.bytes) / r.secs / 1e6;
  const double gbps = double(r.bytes) * 8 / r.secs / 1e9;
  const double gb = double(r.bytes) / 1e9;
  if (o.json) {
    // --ceiling: everything on one line (another tool parses it); otherwise the same object as always.
    char* mem = nullptr;
    size_t memlen = 0;
    FILE* f = ceil ? open_memstream(&mem, &memlen) : stdout;
    std::fprintf(f, "{\n  \"mode\": \"%s\", \"cc\": \"%s\", \"gso\": %s, \"write_size\": %zu, \"queue\": %zu,\n",
                o.mode.c_str(), o.cc_name.c_str(), gso_active ? "true" : "false", o.write_size, o.queue);
    std::fprintf(f, "  \"bytes\": %llu, \"seconds\": %.6f, \"MBps\": %.2f, \"Gbps\": %.4f, \"verified\": true,\n",
                (unsigned long long)r.bytes, r.secs, mbps, gbps);
    std::fprintf(f, "  \"cpu_s\": %.4f, \"cpu_user_s\": %.4f, \"cpu_sys_s\": %.4f, \"cpu_s_per_GB\": %.4f,\n",
                r.proc.total(), r.proc.user, r.proc.sys, r.proc.total() / gb);
    if (r.have_sender)
      std::fprintf(f, "  \"sender_thread\": {\"cpu_s\": %.4f, \"user_s\": %.4f, \"sys_s\": %.4f, \"cpu_s_per_GB\": %.4f},\n",
                  r.sender.total(), r.sender.user, r.sender.sys, r.sender.total() / gb);
    if (r.have_receiver)
      std::fprintf(f, 
          "  \"receiver_thread\": {\"cpu_s\": %.4f, \"user_s\": %.4f, \"sys_s\": %.4f, \"cpu_s_per_GB\": %.4f},\n",
          r.receiver.total(), r.receiver.user, r.receiver.sys, r.receiver.total() / gb);
    const bool both = r.client && r.server;
    if (r.client) {
      print_udp_json(f, "client", r.client->udp, true);
      print_quic_json(f, "client", r.client->quic, both);
    }
    if (r.server) {
      print_udp_json(f, "server", r.server->udp, true);
      print_quic_json(f, "server", r.server->quic, false);
    }
    std::fprintf(f, "}\n");
    if (ceil) {
      std::fclose(f);
      std::string line;  // drop the newlines and the indentation after them; no value holds one
      for (size_t i = 0; i < memlen; ++i) {
        if (mem[i] != '\n') {
          line.push_back(mem[i]);
          continue;
        }
        while (i + 1 < memlen && mem[i + 1] == ' ') ++i;
        if (i + 1 < memlen && mem[i + 1] != '}' && !line.empty() && line.back() != '{') line.push_back(' ');
      }
      free(mem);
      const auto brace = line.rfind('}');
      line.insert(brace, std::string(", \"gro\": ") + (o.gro ? "true" : "false") + ", " + ceiling_json(*ceil) + ", " +
                             comparison_json(r, *ceil));
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
    return;
  }
  std::printf("moqt-quic-bench: %s, cc=%s, gso=%s, %llu bytes in %zu-byte writes (at most %zu queued)\n",
              o.mode.c_str(), o.cc_name.c_str(), gso_active ? "on" : "off", (unsigned long long)r.bytes, o.write_size,
              o.queue);
  if (o.gro) std::printf("  gro       on: on loopback a GSO batch reaches the receiver unsplit (flattering)\n");
  std::printf("  transfer  %.3f s  %.1f MB/s  %.3f Gbit/s  (every byte verified)\n", r.secs, mbps, gbps);
  std::printf("  cpu       process %.3f s (user %.3f, sys %.3f) = %.3f s/GB, %.0f%% of one core\n", r.proc.total(),
              r.proc.user, r.proc.sys, r.proc.total() / gb, 100 * r.proc.total() / r.secs);
  if (r.have_sender)
    std::printf("            sender thread   %.3f s (user %.3f, sys %.3f) = %.3f s/GB, %.0f%% busy\n", r.sender.total(),
                r.sender.user, r.sender.sys, r.sender.total() / gb, 100 * r.sender.total() / r.secs);
  if (r.have_receiver)
    std::printf("            receiver thread %.3f s (user %.3f, sys %.3f) = %.3f s/GB, %.0f%% busy\n",
                r.receiver.total(), r.receiver.user, r.receiver.sys, r.receiver.total() / gb,
                100 * r.receiver.total() / r.secs);
  auto udp = [](const char* who, const UdpStats& u, bool sender) {
    // Packets per GSO send: only meaningful for the data sender, whose packets nearly all go
    // out in GSO batches (UdpStats does not count the packets of GSO sends separately).
    const double per_gso = u.gso_sends ? double(u.packets_sent) / double(u.gso_sends) : 0.0;
    char gso[64] = "";
    if (sender && per_gso > 0) std::snprintf(gso, sizeof gso, ", ~%.1f pkts each", per_gso);
    std::printf("  %s udp  sent %llu pkts (%llu GSO sends%s), %.1f MB; received %llu pkts; errors %llu\n", who,
                (unsigned long long)u.packets_sent, (unsigned long long)u.gso_sends, gso, double(u.bytes_sent) / 1e6,
                (unsigned long long)u.packets_received, (unsigned long long)u.send_errors);
  };
  auto quic = [](const char* who, const TransportStats& q) {
    std::printf("  %s quic srtt %.3f ms, min rtt %.3f ms, cwnd %llu B, in flight %llu B, lost stream frames %llu\n", who,
                double(q.smoothed_rtt_us) / 1e3, double(q.min_rtt_us) / 1e3, (unsigned long long)q.cwnd,
                (unsigned long long)q.bytes_in_flight, (unsigned long long)q.packets_lost);
  };
  if (r.client) {
    udp("client", r.client->udp, true);
    quic("client", r.client->quic);
  }
  if (r.server) {
    udp("server", r.server->udp, false);
    quic("server", r.server->quic);
  }
  if (ceil) {
    const Comparison x = compare(r, *ceil);
    std::printf("  quic/udp ratio  %.3f Gbit/s of stream data = %.1f%% of the UDP ceiling (%.3f Gbit/s)\n", x.quic_gbps,
                100 * x.ratio, ceil->udp_gbps());
    std::printf("  cpu vs udp      sender %.3f s/GB = %.2fx the UDP sender's %.3f; receiver %.3f s/GB = %.2fx the UDP "
                "receiver's %.3f\n",
                x.snd_s_per_gb, x.snd_vs_udp, ceil->udp_snd_s_per_gb(), x.rcv_s_per_gb, x.rcv_vs_udp,
                ceil->udp_rcv_s_per_gb());
    std::printf("  whole machine   %.2f s busy (%.2f s softirq) = %.3f s/GB (/proc/stat, connect to FIN)\n",
                r.machine.busy, r.machine.softirq, x.machine_s_per_gb);
  }
  std::printf("RESULT mode=%s cc=%s gso=%s bytes=%llu seconds=%.4f MBps=%.1f Gbps=%.3f cpu_s=%.3f cpu_s_per_GB=%.3f",
              o.mode.c_str(), o.cc_name.c_str(), gso_active ? "on" : "off", (unsigned long long)r.bytes, r.secs, mbps,
              gbps, r.proc.total(), r.proc.total() / gb);
  if (r.have_sender) std::printf(" sender_cpu_s=%.3f", r.sender.total());
  if (r.have_receiver) std::printf(" receiver_cpu_s=%.3f", r.receiver.total());
  std::printf(" verified=yes\n");
}

// Waits until `done` or an error (or the timeout); returns the error text ("" = success).
template <typename Done>
std::string wait_for(Shared& sh, int timeout_s, Done done) {
  std::unique_lock<std::mutex> l(sh.mu);
  const bool ok = sh.cv.wait_for(l, std::chrono::seconds(timeout_s), [&] {
    return done() || !sh.server_error.empty() || !sh.client_error.empty();
  });
  if (!sh.server_error.empty()) return "server: " + sh.server_error;
  if (!sh.client_error.empty()) return "client: " + sh.client_error;
  if (!ok) return "timed out after " + std::to_string(timeout_s) + " s";
  return "";
}

QuicConfig quic_config(const Options& o) {
  QuicConfig cfg;
  cfg.cc = o.cc;
  cfg.gso = o.gso;
  cfg.gro = o.gro;
  cfg.idle_timeout = std::chrono::milliseconds(30000);
  return cfg;
}

std::shared_ptr<ServerTls> make_server_tls(CertificatePem* cert_out) {
  std::string err;
  auto cert = generate_self_signed({"localhost", "127.0.0.1", "::1"}, 10, &err);
  if (!cert) {
    std::fprintf(stderr, "moqt-quic-bench: certificate: %s\n", err.c_str());
    return nullptr;
  }
  auto tls = ServerTls::create(*cert, {kAlpn}, &err);
  if (!tls) std::fprintf(stderr, "moqt-quic-bench: server TLS: %s\n", err.c_str());
  *cert_out = *cert;
  return tls;
}

std::shared_ptr<ClientTls> make_client_tls(const std::string& pin) {
  ClientTlsConfig c;
  c.alpns = {kAlpn};
  c.server_name = "localhost";
  c.verify = pin.empty() ? VerifyMode::kInsecure : VerifyMode::kPinnedSha256;
  c.pinned_sha256 = pin;
  std::string err;
  auto tls = ClientTls::create(c, &err);
  if (!tls) std::fprintf(stderr, "moqt-quic-bench: client TLS: %s\n", err.c_str());
  return tls;
}

// Everything a server needs; lives on its loop thread (create and destroy it there).
struct ServerState {
  std::unique_ptr<Endpoint> ep;
  std::unique_ptr<ServerHandler> handler;
};

bool start_server(EventLoop& loop, const Options& o, const SocketAddress& addr, const Pattern& pat, Shared& sh,
                  ServerState& st, std::shared_ptr<ServerTls> tls) {
  std::string err;
  loop.run_sync([&] {
    st.ep = Endpoint::listen(loop, addr, quic_config(o), tls,
                             [&](Connection& c) -> TransportHandler* {
                               std::lock_guard<std::mutex> l(sh.mu);  // main thread reads st.handler
                               if (st.handler) return nullptr;         // one transfer per run
                               st.handler = std::make_unique<ServerHandler>(c, *st.ep, pat, sh);
                               return st.handler.get();
                             },
                             &err);
  });
  if (!st.ep) {
    std::fprintf(stderr, "moqt-quic-bench: listen %s: %s\n", addr.to_string().c_str(), err.c_str());
    return false;
  }
  return true;
}

struct ClientState {
  std::unique_ptr<Endpoint> ep;
  std::unique_ptr<ClientHandler> handler;
};

bool start_client(EventLoop& loop, const Options& o, const SocketAddress& server, const Pattern& pat, Shared& sh,
                  ClientState& st, std::shared_ptr<ClientTls> tls) {
  std::string err;
  bool ok = false;
  loop.run_sync([&] {
    st.ep = Endpoint::client(loop, server.family(), quic_config(o), &err);
    if (!st.ep) return;
    st.handler = std::make_unique<ClientHandler>(o, pat, sh);
    Connection* c = st.ep->connect(server, tls, st.handler.get(), &err);
    if (!c) return;
    st.handler->attach(c, st.ep.get());
    ok = true;
  });
  if (!ok) std::fprintf(stderr, "moqt-quic-bench: connect %s: %s\n", server.to_string().c_str(), err.c_str());
  return ok;
}

bool gso_active(const Options& o, const UdpStats& sender) { return o.gso && sender.gso_sends > 0; }

int run_same_process(const Options& o, const Ceiling* ceil = nullptr) {
  Pattern pat(o.write_size);
  Shared sh;
  CertificatePem cert;
  auto stls = make_server_tls(&cert);
  auto ctls = make_client_tls(cert.sha256_hex);
  if (!stls || !ctls) return 2;
  EventLoop sloop, cloop;
  sloop.start("bench-server");
  cloop.start("bench-client");
  ServerState ss;
  ClientState cs;
  int rc = 0;
  if (!start_server(sloop, o, *SocketAddress::parse("127.0.0.1:0"), pat, sh, ss, stls)) return 2;
  const MachineCpu m0 = machine_cpu_now();
  if (!start_client(cloop, o, ss.ep->local_address(), pat, sh, cs, ctls)) {
    rc = 2;
  } else {
    const std::string err = wait_for(sh, o.timeout_s, [&] { return sh.server_done && sh.client_done; });
    std::lock_guard<std::mutex> l(sh.mu);
    if (!err.empty()) {
      std::fprintf(stderr, "moqt-quic-bench: FAILED: %s\n", err.c_str());
      rc = 1;
    } else if (!sh.verified || !sh.reported_ok || sh.received != o.bytes || sh.reported != o.bytes) {
      std::fprintf(stderr, "moqt-quic-bench: FAILED: server received %llu of %llu bytes, verified=%d\n",
                   (unsigned long long)sh.received, (unsigned long long)o.bytes, int(sh.verified));
      rc = 1;
    } else {
      Result r;
      r.bytes = o.bytes;
      r.secs = std::chrono::duration<double>(sh.server.t1 - sh.client.t0).count();  // first write -> FIN
      r.proc = sh.server.proc1 - sh.client.proc0;
      r.sender = sh.client.thread1 - sh.client.thread0;
      r.receiver = sh.server.thread1 - sh.server.thread0;
      r.machine = machine_cpu_now() - m0;
      r.have_sender = r.have_receiver = true;
      r.client = &sh.client;
      r.server = &sh.server;
      report(o, r, gso_active(o, sh.client.udp), ceil);
    }
  }
  // Give the CONNECTION_CLOSE a moment to arrive (clean shutdown), then tear down on each loop.
  {
    std::unique_lock<std::mutex> l(sh.mu);
    sh.cv.wait_for(l, std::chrono::seconds(1), [&] { return ss.handler && ss.handler->closed(); });
  }
  cloop.run_sync([&] {
    if (o.trace_ms > 0 && cs.handler) cs.handler->print_trace();
    cs.ep.reset();
    cs.handler.reset();
  });
  sloop.run_sync([&] {
    ss.ep.reset();
    ss.handler.reset();
  });
  cloop.stop();
  sloop.stop();
  return rc;
}

// --ceiling: UDP and AES-GCM first (no QUIC running), then the normal same-process run, compared.
int run_ceiling(const Options& o) {
  Ceiling c;
  measure_udp_ceiling(o.ceiling_seconds, c);
  if (!c.udp_error.empty()) {
    std::fprintf(stderr, "moqt-quic-bench: UDP ceiling: %s\n", c.udp_error.c_str());
    return 2;
  }
  measure_seal_ceiling(o.seal_seconds, c);
  if (!c.seal_error.empty()) {
    std::fprintf(stderr, "moqt-quic-bench: AES-GCM ceiling: %s\n", c.seal_error.c_str());
    return 2;
  }
  if (!o.json) print_ceiling_text(c);
  if (o.ceiling_only) {
    if (o.json) std::printf("{\"mode\": \"ceiling-only\", %s}\n", ceiling_json(c).c_str());
    return 0;
  }
  return run_same_process(o, &c);
}

int run_server(const Options& o) {
  auto addr = SocketAddress::parse(o.listen, true);
  if (!addr) {
    std::fprintf(stderr, "moqt-quic-bench: bad --listen address %s\n", o.listen.c_str());
    return 2;
  }
  Pattern pat(o.write_size);
  Shared sh;
  CertificatePem cert;
  auto stls = make_server_tls(&cert);
  if (!stls) return 2;
  EventLoop loop;
  loop.start("bench-server");
  ServerState ss;
  if (!start_server(loop, o, *addr, pat, sh, ss, stls)) return 2;
  std::fprintf(stderr, "listening on %s\npin %s\n", ss.ep->local_address().to_string().c_str(),
               cert.sha256_hex.c_str());
  std::fflush(stderr);
  int rc = 0;
  const std::string err = wait_for(sh, o.timeout_s, [&] { return sh.server_done; });
  {
    std::lock_guard<std::mutex> l(sh.mu);
    if (!err.empty() || !sh.verified) {
      std::fprintf(stderr, "moqt-quic-bench: FAILED: %s\n", err.empty() ? "payload mismatch" : err.c_str());
      rc = 1;
    } else {
      Result r;
      r.bytes = sh.received;
      r.secs = seconds(sh.server);  // first stream byte -> FIN
      r.proc = sh.server.proc1 - sh.server.proc0;
      r.receiver = sh.server.thread1 - sh.server.thread0;
      r.have_receiver = true;
      r.server = &sh.server;
      Options shown = o;
      shown.mode = "server";
      report(shown, r, o.gso);
    }
  }
  {
    std::unique_lock<std::mutex> l(sh.mu);
    sh.cv.wait_for(l, std::chrono::seconds(2), [&] { return ss.handler && ss.handler->closed(); });
  }
  loop.run_sync([&] {
    ss.ep.reset();
    ss.handler.reset();
  });
  loop.stop();
  return rc;
}

int run_client(const Options& o) {
  auto addr = SocketAddress::parse(o.connect);
  if (!addr) {
    std::fprintf(stderr, "moqt-quic-bench: bad --connect address %s\n", o.connect.c_str());
    return 2;
  }
  Pattern pat(o.write_size);
  Shared sh;
  auto ctls = make_client_tls(o.pin);
  if (!ctls) return 2;
  EventLoop loop;
  loop.start("bench-client");
  ClientState cs;
  int rc = 0;
  if (!start_client(loop, o, *addr, pat, sh, cs, ctls)) {
    rc = 2;
  } else {
    const std::string err = wait_for(sh, o.timeout_s, [&] { return sh.client_done; });
    std::lock_guard<std::mutex> l(sh.mu);
    if (!err.empty()) {
      std::fprintf(stderr, "moqt-quic-bench: FAILED: %s\n", err.c_str());
      rc = 1;
    } else if (!sh.reported_ok || sh.reported != o.bytes) {
      std::fprintf(stderr, "moqt-quic-bench: FAILED: the server received %llu of %llu bytes, verified=%d\n",
                   (unsigned long long)sh.reported, (unsigned long long)o.bytes, int(sh.reported_ok));
      rc = 1;
    } else {
      Result r;
      r.bytes = o.bytes;
      r.secs = seconds(sh.client);  // first write -> the server's verdict
      r.proc = sh.client.proc1 - sh.client.proc0;
      r.sender = sh.client.thread1 - sh.client.thread0;
      r.have_sender = true;
      r.client = &sh.client;
      report(o, r, gso_active(o, sh.client.udp));
    }
  }
  {
    std::unique_lock<std::mutex> l(sh.mu);
    sh.cv.wait_for(l, std::chrono::milliseconds(200), [&] { return cs.handler && cs.handler->closed(); });
  }
  loop.run_sync([&] {
    if (o.trace_ms > 0 && cs.handler) cs.handler->print_trace();
    cs.ep.reset();
    cs.handler.reset();
  });
  loop.stop();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  gchar *bytes = nullptr, *mode = nullptr, *cc = nullptr, *write_size = nullptr, *queue = nullptr, *gso = nullptr;
  gchar *listen = nullptr, *connect = nullptr, *pin = nullptr, *gro = nullptr;
  gboolean json = FALSE, ceiling = FALSE, ceiling_only = FALSE;
  gint timeout = o.timeout_s, trace_ms = 0;
  gdouble ceiling_seconds = o.ceiling_seconds;
  GOptionEntry entries[] = {
      {"bytes", 'b', 0, G_OPTION_ARG_STRING, &bytes, "Bytes to send (default 1G; K/M/G = KiB/MiB/GiB, KB/MB/GB = 10^3..)",
       "N"},
      {"mode", 'm', 0, G_OPTION_ARG_STRING, &mode, "same-process (default), server or client", "MODE"},
      {"cc", 0, 0, G_OPTION_ARG_STRING, &cc, "Congestion control: cubic (default), bbr or reno", "ALGO"},
      {"write-size", 'w', 0, G_OPTION_ARG_STRING, &write_size, "Bytes per Transport::write (default 64K)", "N"},
      {"queue", 'q', 0, G_OPTION_ARG_STRING, &queue, "Refill the stream up to this many queued bytes (default 1M)", "N"},
      {"gso", 0, 0, G_OPTION_ARG_STRING, &gso, "UDP GSO: on (default, when the kernel has it) or off", "on|off"},
      {"gro", 0, 0, G_OPTION_ARG_STRING, &gro,
       "UDP GRO on receive: off (default) or on. On loopback GSO batches then arrive unsplit: flattering", "on|off"},
      {"listen", 'l', 0, G_OPTION_ARG_STRING, &listen, "Server mode: address to listen on (default 127.0.0.1:4433)",
       "ADDR"},
      {"connect", 'c', 0, G_OPTION_ARG_STRING, &connect, "Client mode: server address", "ADDR"},
      {"pin", 'p', 0, G_OPTION_ARG_STRING, &pin, "Client mode: server certificate SHA-256 (hex; none = insecure)",
       "HEX"},
      {"json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print one JSON object instead of text", nullptr},
      {"timeout", 't', 0, G_OPTION_ARG_INT, &timeout, "Give up after this many seconds (default 600)", "S"},
      {"trace-ms", 0, 0, G_OPTION_ARG_INT, &trace_ms,
       "Diagnostics: sample the sender every N ms, print the timeline to stderr", "N"},
      {"ceiling", 0, 0, G_OPTION_ARG_NONE, &ceiling,
       "First measure this machine's ceiling without QUIC (UDP GSO over 127.0.0.1, AES-128-GCM seal), then compare",
       nullptr},
      {"ceiling-only", 0, 0, G_OPTION_ARG_NONE, &ceiling_only, "Measure the ceiling only (no QUIC run)", nullptr},
      {"ceiling-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &ceiling_seconds,
       "How long the UDP ceiling runs (default 2; the AES-GCM one runs half as long)", "S"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext* ctx = g_option_context_new("- throughput of one raw QUIC stream");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  GError* gerr = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
    std::fprintf(stderr, "moqt-quic-bench: %s\n", gerr->message);
    g_error_free(gerr);
    g_option_context_free(ctx);
    return 2;
  }
  g_option_context_free(ctx);
  auto bad = [](const char* what, const char* v) {
    std::fprintf(stderr, "moqt-quic-bench: bad %s: %s\n", what, v ? v : "");
    return 2;
  };
  if (bytes) {
    auto v = parse_size(bytes);
    if (!v || *v == 0) return bad("--bytes", bytes);
    o.bytes = *v;
  }
  if (write_size) {
    auto v = parse_size(write_size);
    if (!v || *v == 0 || *v > (uint64_t(64) << 20)) return bad("--write-size", write_size);
    o.write_size = size_t(*v);
  }
  if (queue) {
    auto v = parse_size(queue);
    if (!v || *v == 0) return bad("--queue", queue);
    o.queue = size_t(*v);
  }
  if (mode) {
    o.mode = mode;
    if (o.mode != "same-process" && o.mode != "server" && o.mode != "client") return bad("--mode", mode);
  }
  if (cc) {
    o.cc_name = cc;
    if (o.cc_name == "cubic") o.cc = CongestionControl::kCubic;
    else if (o.cc_name == "bbr") o.cc = CongestionControl::kBbr;
    else if (o.cc_name == "reno") o.cc = CongestionControl::kReno;
    else return bad("--cc", cc);
  }
  if (gso) {
    if (std::string(gso) == "on") o.gso = true;
    else if (std::string(gso) == "off") o.gso = false;
    else return bad("--gso", gso);
  }
  if (gro) {
    if (std::string(gro) == "on") o.gro = true;
    else if (std::string(gro) != "off") return bad("--gro", gro);
  }
  if (listen) o.listen = listen;
  if (connect) o.connect = connect;
  if (pin) o.pin = pin;
  o.json = json;
  o.timeout_s = timeout > 0 ? timeout : o.timeout_s;
  o.trace_ms = trace_ms > 0 ? trace_ms : 0;
  o.ceiling = ceiling || ceiling_only;
  o.ceiling_only = ceiling_only;
  if (ceiling_seconds <= 0 || ceiling_seconds > 600) {
    std::fprintf(stderr, "moqt-quic-bench: bad --ceiling-seconds: %g\n", ceiling_seconds);
    return 2;
  }
  o.ceiling_seconds = ceiling_seconds;
  o.seal_seconds = std::min(1.0, ceiling_seconds / 2);
  g_free(bytes), g_free(mode), g_free(cc), g_free(write_size), g_free(queue), g_free(gso);
  g_free(listen), g_free(connect), g_free(pin), g_free(gro);
  if (o.mode == "client" && o.connect.empty()) {
    std::fprintf(stderr, "moqt-quic-bench: --mode client needs --connect ADDR\n");
    return 2;
  }
  if (o.ceiling && o.mode != "same-process") {
    std::fprintf(stderr, "moqt-quic-bench: --ceiling needs the same-process mode\n");
    return 2;
  }
  if (o.ceiling) return run_ceiling(o);
  if (o.mode == "server") return run_server(o);
  if (o.mode == "client") return run_client(o);
  return run_same_process(o);
}
