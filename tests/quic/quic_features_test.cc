// Raw QUIC transport features over real UDP sockets on 127.0.0.1: NAT rebinding and active
// migration in the middle of a transfer, stateless resets after a server restart, SSLKEYLOGFILE,
// qlog output, the three congestion controllers, datagram size and queue limits, the handshake
// timeout, and tearing a server endpoint down under live clients.
//
// Threading: transport objects are only touched on the loop thread (on_loop); handlers
// are called there and keep everything they record under their mutex, which the test thread
// takes for every read.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "moqt/quic/connection.h"

extern char** environ;

namespace moqt::quic {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// State shared between the loop thread (callbacks) and the test thread (asserts).
class Recorder {
 public:
  template <typename Pred>
  bool wait(Pred p, std::chrono::milliseconds t = 10s) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, t, p);
  }
  // Runs fn under the lock: the only way the test thread reads what was recorded.
  template <typename Fn>
  auto locked(Fn fn) {
    std::lock_guard<std::mutex> l(mu_);
    return fn();
  }

 protected:
  void notify() { cv_.notify_all(); }
  std::mutex mu_;
  std::condition_variable cv_;
};

// A client: records the ALPN, what comes back on each stream, datagrams, and the close.
class ClientHandler : public TransportHandler, public Recorder {
 public:
  void on_ready(std::string_view proto) override {
    std::lock_guard<std::mutex> l(mu_);
    ready = std::string(proto);
    notify();
  }
  void on_stream_data(StreamId id, std::span<const uint8_t> data, bool fin) override {
    std::lock_guard<std::mutex> l(mu_);
    received[id].insert(received[id].end(), data.begin(), data.end());
    if (fin) finished.insert(id);
    notify();
  }
  void on_datagram(std::span<const uint8_t> d) override {
    std::lock_guard<std::mutex> l(mu_);
    datagrams.emplace_back(d.begin(), d.end());
    notify();
  }
  void on_closed(const CloseInfo& info) override {
    std::lock_guard<std::mutex> l(mu_);
    closed = info;
    notify();
  }
  // Guarded by the mutex (read them through locked() or inside wait()).
  std::optional<std::string> ready;
  std::map<StreamId, std::vector<uint8_t>> received;
  std::set<StreamId> finished;
  std::vector<std::vector<uint8_t>> datagrams;
  std::optional<CloseInfo> closed;
};

// A server connection: echoes bidi streams on themselves, uni streams on a new uni stream, and
// datagrams (when they fit), and records the datagrams and the close.
class EchoHandler : public TransportHandler, public Recorder {
 public:
  explicit EchoHandler(Connection& c) : c_(c) {}
  void on_ready(std::string_view) override {}
  void on_stream_data(StreamId id, std::span<const uint8_t> data, bool fin) override {
    StreamId out = id;
    if (id & 0x2) {
      auto it = uni_out_.find(id);
      if (it == uni_out_.end()) {
        auto s = c_.open_uni_stream();
        if (!s) return;
        it = uni_out_.emplace(id, *s).first;
      }
      out = it->second;
    }
    c_.write(out, SendBuffer::copy(data), fin);
  }
  void on_datagram(std::span<const uint8_t> d) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      datagrams.emplace_back(d.begin(), d.end());
      notify();
    }
    c_.send_datagram(SendBuffer::copy(d));
  }
  void on_closed(const CloseInfo& info) override {
    std::lock_guard<std::mutex> l(mu_);
    closed = info;
    notify();
  }
  std::vector<std::vector<uint8_t>> datagrams;  // guarded
  std::optional<CloseInfo> closed;              // guarded

 private:
  Connection& c_;  // loop thread only
  std::map<StreamId, StreamId> uni_out_;
};

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A fresh directory under the temp dir, removed with the object.
struct TempDir {
  TempDir() {
    std::string t = (fs::temp_directory_path() / "moqt-quic-XXXXXX").string();
    if (mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
  fs::path path;
};

class QuicFeatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    auto cert = generate_self_signed({"localhost", "127.0.0.1", "::1"}, 10, &err);
    ASSERT_TRUE(cert) << err;
    cert_ = *cert;
    loop_.start("quic-feat");
  }
  void TearDown() override {
    destroy_endpoints();
    loop_.stop();
  }
  // Runs fn on the loop thread and waits for it; generous, since sanitizer builds are slow.
  template <typename Fn>
  void on_loop(Fn fn) {
    ASSERT_TRUE(loop_.run_sync(fn, 60s)) << "loop task timed out";
  }
  // Deletes every endpoint (and so every connection; qlog files are closed) on the loop thread.
  void destroy_endpoints() {
    on_loop([this] {
      clients_.clear();
      server_.reset();
    });
  }

  // Starts (or restarts) the server endpoint on `addr`.
  void start_server(QuicConfig cfg = {}, std::string addr = "127.0.0.1:0") {
    std::string err;
    auto tls = ServerTls::create(cert_, {"moqt-18", "moq-00"}, &err);
    ASSERT_TRUE(tls) << err;
    bool ok = false;
    on_loop([&] {
      server_ = Endpoint::listen(loop_, *SocketAddress::parse(addr), cfg, tls,
                                 [this](Connection& c) {
                                   std::lock_guard<std::mutex> l(echo_mu_);
                                   echo_.push_back(std::make_unique<EchoHandler>(c));
                                   echo_cv_.notify_all();
                                   return echo_.back().get();
                                 },
                                 &err);
      ok = server_ != nullptr;
      if (ok) server_addr_ = server_->local_address();
    });
    ASSERT_TRUE(ok) << err;
  }

  ClientTlsConfig pinned() {
    ClientTlsConfig c;
    c.alpns = {"moqt-18"};
    c.server_name = "localhost";
    c.verify = VerifyMode::kPinnedSha256;
    c.pinned_sha256 = cert_.sha256_hex;
    return c;
  }

  // Connects a new client endpoint to `to` (the server by default) and waits for the handshake
  // unless wait is false.
  Connection* connect(ClientHandler& h, QuicConfig cfg = {}, bool wait = true,
                      std::optional<SocketAddress> to = std::nullopt) {
    Connection* conn = nullptr;
    std::string err;
    auto tls = ClientTls::create(pinned(), &err);
    EXPECT_TRUE(tls) << err;
    if (!tls) return nullptr;
    const SocketAddress remote = to ? *to : server_addr_;
    on_loop([&] {
      auto ep = Endpoint::client(loop_, remote.family(), cfg, &err);
      if (!ep) return;
      conn = ep->connect(remote, tls, &h, &err);
      clients_.push_back(std::move(ep));
    });
    EXPECT_TRUE(conn) << err;
    if (conn && wait) {
      EXPECT_TRUE(h.wait([&] { return h.ready.has_value() || h.closed.has_value(); }));
      EXPECT_TRUE(h.locked([&] { return h.ready.has_value(); })) << "handshake failed";
    }
    return conn;
  }

  // Queues `data` on stream `id` in 64 KiB writes (on the loop thread).
  void write_all(Connection* c, StreamId id, const std::vector<uint8_t>& data, bool fin) {
    for (size_t off = 0; off < data.size(); off += 65536) {
      const size_t n = std::min<size_t>(65536, data.size() - off);
      ASSERT_TRUE(c->write(id, SendBuffer::copy(std::span<const uint8_t>(data).subspan(off, n)),
                           fin && off + n == data.size()));
    }
  }

  size_t received(ClientHandler& h, StreamId id) {
    return h.locked([&] { return h.received.count(id) ? h.received.at(id).size() : size_t(0); });
  }

  // The server side of connection i (its handshake may complete after the client's).
  EchoHandler* server_handler(size_t i) {
    std::unique_lock<std::mutex> l(echo_mu_);
    echo_cv_.wait_for(l, 10s, [&] { return echo_.size() > i; });
    return echo_.size() > i ? echo_[i].get() : nullptr;
  }

  // Handlers outlive the connections (which destroy_endpoints deletes on the loop thread).
  ClientHandler& handler() { return handlers_.emplace_back(); }
  std::deque<ClientHandler> handlers_;
  std::mutex echo_mu_;
  std::condition_variable echo_cv_;
  std::vector<std::unique_ptr<EchoHandler>> echo_;
  EventLoop loop_;
  CertificatePem cert_;
  std::unique_ptr<Endpoint> server_;                // loop thread only
  std::vector<std::unique_ptr<Endpoint>> clients_;  // loop thread only
  SocketAddress server_addr_;
};

// --- 1. NAT rebinding and migration ---------------------------------------------------------

// A 4 MiB echo; after the first 256 KiB came back the client's socket is swapped for one on a
// new port. The transfer must complete byte for byte, the server must follow the client to the
// new port (and have validated it: PATH_CHALLENGE out, PATH_RESPONSE in, per its qlog).
class RebindTest : public QuicFeatureTest, public ::testing::WithParamInterface<bool> {};

TEST_P(RebindTest, TransferSpanningTheNewPathCompletesAndTheServerFollows) {
  const bool migrate = GetParam();
  TempDir qlog;
  ASSERT_FALSE(qlog.path.empty());
  QuicConfig scfg;
  scfg.qlog_dir = qlog.path.string();
  scfg.impairment.delay_us = 5000;  // keeps packets in flight across the switch
  start_server(scfg);
  QuicConfig ccfg;
  ccfg.qlog_dir = qlog.path.string();
  ccfg.impairment.delay_us = 5000;
  ClientHandler& h = handler();
  Connection* c = connect(h, ccfg);
  ASSERT_TRUE(c);

  const auto data = pattern(4 << 20, 77);
  const std::vector<uint8_t> first(data.begin(), data.begin() + (2 << 20));
  const std::vector<uint8_t> second(data.begin() + (2 << 20), data.end());
  StreamId id = -1;
  on_loop([&] {
    id = *c->open_bidi_stream();
    write_all(c, id, first, false);
  });
  ASSERT_TRUE(h.wait([&] { return h.received[id].size() >= (256u << 10); }, 30s));

  uint16_t old_port = 0, new_port = 0;
  bool ok = false;
  std::string err;
  on_loop([&] {
    old_port = clients_.back()->local_address().port();
    ok = clients_.back()->rebind(migrate, &err);
    new_port = clients_.back()->local_address().port();
    write_all(c, id, second, true);
  });
  ASSERT_TRUE(ok) << err;
  ASSERT_NE(old_port, new_port);
  EXPECT_LT(received(h, id), data.size()) << "the transfer must span the rebinding";

  ASSERT_TRUE(h.wait([&] { return h.finished.count(id) > 0 || h.closed.has_value(); }, 60s));
  h.locked([&] {
    EXPECT_FALSE(h.closed.has_value());
    EXPECT_TRUE(h.received[id] == data) << "echo differs after " << h.received[id].size() << " bytes";
  });

  // The server now talks to the new port.
  uint16_t server_sees = 0;
  size_t nconn = 0;
  on_loop([&] {
    auto conns = server_->connections();
    nconn = conns.size();
    if (!conns.empty()) server_sees = conns[0]->remote().port();
  });
  EXPECT_EQ(nconn, 1u);
  EXPECT_EQ(server_sees, new_port) << "old port " << old_port;

  // And it validated the new path before trusting it.
  destroy_endpoints();
  std::string server_log, client_log;
  for (const auto& e : fs::directory_iterator(qlog.path)) {
    const std::string name = e.path().filename().string();
    (name.rfind("server-", 0) == 0 ? server_log : client_log) += read_file(e.path());
  }
  EXPECT_NE(server_log.find("\"path_challenge\""), std::string::npos);
  EXPECT_NE(server_log.find("\"path_response\""), std::string::npos);
  EXPECT_NE(client_log.find("\"path_response\""), std::string::npos);
  if (migrate) {  // the client validates its new path as well
    EXPECT_NE(client_log.find("\"path_challenge\""), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Quic, RebindTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "ActiveMigration" : "NatRebinding"; });

TEST_F(QuicFeatureTest, ServerEndpointsCannotRebind) {
  start_server();
  bool ok = true;
  std::string err;
  on_loop([&] { ok = server_->rebind(false, &err); });
  EXPECT_FALSE(ok);
  EXPECT_FALSE(err.empty());
}

// --- 2. Stateless reset -------------------------------------------------------------------
//
// The realistic case: the server restarts (crash, deploy) on the same address and has lost every
// connection. Its new endpoint answers the clients' short-header packets with stateless resets;
// they only work if the new endpoint derives the same tokens, i.e. when the operator configured a
// stateless_reset_key. Without one (a random secret per endpoint) the resets are sent but the
// clients must ignore them and wait for their idle timeout.

class StatelessResetTest : public QuicFeatureTest {
 protected:
  void restart_server(const QuicConfig& cfg) {
    const std::string addr = server_addr_.to_string();
    on_loop([this] { server_.reset(); });
    start_server(cfg, addr);
    ASSERT_EQ(server_addr_.to_string(), addr);
  }
  // A new stream with `n` bytes: a short-header packet the new server does not know.
  void poke(Connection* c, size_t n) {
    on_loop([&] {
      if (auto id = c->open_bidi_stream()) c->write(*id, SendBuffer::copy(pattern(n, 3)), true);
    });
  }
  uint64_t resets_sent() {
    uint64_t n = 0;
    on_loop([&] { n = server_->stateless_resets_sent(); });
    return n;
  }
  uint64_t packets_sent(Connection* c) {
    uint64_t n = 0;
    on_loop([&] { n = c->stats().packets_sent; });
    return n;
  }
  // One echo round trip (after it the client's handshake is confirmed: no more long-header
  // packets, which cannot be reset), then silence: nothing sent for 300 ms (delayed ACKs and
  // path MTU probes are over).
  void settle(ClientHandler& h, Connection* c) {
    const size_t done = h.locked([&] { return h.finished.size(); });
    poke(c, 100);
    ASSERT_TRUE(h.wait([&] { return h.finished.size() > done; }));
    uint64_t last = packets_sent(c);
    for (int quiet = 0, i = 0; quiet < 3 && i < 100; ++i) {
      std::this_thread::sleep_for(100ms);
      const uint64_t now = packets_sent(c);
      quiet = now == last ? quiet + 1 : 0;
      last = now;
    }
  }
};

TEST_F(StatelessResetTest, RestartedServerWithTheSameKeyResetsOldConnectionsAtOnce) {
  QuicConfig scfg;
  scfg.stateless_reset_key = "operator-configured secret, same on every restart";
  start_server(scfg);
  ClientHandler& h = handler();
  Connection* c = connect(h);  // idle timeout: the default 30 s
  ASSERT_TRUE(c);
  poke(c, 1000);
  ASSERT_TRUE(h.wait([&] { return h.finished.size() == 1; }));

  restart_server(scfg);
  const auto t0 = std::chrono::steady_clock::now();
  poke(c, 1000);
  ASSERT_TRUE(h.wait([&] { return h.closed.has_value(); }, 10s)) << "no reset within 10 s";
  h.locked([&] {
    EXPECT_EQ(h.closed->source, CloseSource::kStatelessReset) << h.closed->reason;
    EXPECT_FALSE(h.closed->application);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_GE(resets_sent(), 1u);
}

TEST_F(StatelessResetTest, ResetsFromAnEndpointWithAnotherSecretAreIgnored) {
  start_server();  // random secret
  ClientHandler& h = handler();
  QuicConfig ccfg;
  ccfg.idle_timeout = 1500ms;
  Connection* c = connect(h, ccfg);
  ASSERT_TRUE(c);
  settle(h, c);
  restart_server({});  // another random secret
  poke(c, 1000);
  ASSERT_TRUE(h.wait([&] { return h.closed.has_value(); }, 20s));
  h.locked([&] { EXPECT_EQ(h.closed->source, CloseSource::kIdleTimeout) << h.closed->reason; });
  EXPECT_GE(resets_sent(), 1u) << "the new endpoint did answer; the client had to drop the resets";
}

// A client endpoint cannot route a reset by its DCID (random bytes), so it offers it to every
// connection on that path and ngtcp2 checks the token: the sibling connection to the same server
// must not be affected by its neighbour's reset.
TEST_F(StatelessResetTest, AResetOnlyClosesTheConnectionItIsFor) {
  QuicConfig scfg;
  scfg.stateless_reset_key = "k";
  start_server(scfg);
  ClientHandler& h1 = handler();
  ClientHandler& h2 = handler();
  Connection* c1 = connect(h1);
  ASSERT_TRUE(c1);
  Connection* c2 = nullptr;
  std::string err;
  auto tls = ClientTls::create(pinned(), &err);
  ASSERT_TRUE(tls) << err;
  on_loop([&] { c2 = clients_.back()->connect(server_addr_, tls, &h2, &err); });  // same endpoint
  ASSERT_TRUE(c2) << err;
  ASSERT_TRUE(h2.wait([&] { return h2.ready.has_value(); }));
  settle(h1, c1);
  settle(h2, c2);

  const uint64_t c2_sent = packets_sent(c2);
  restart_server(scfg);
  poke(c1, 1000);
  ASSERT_TRUE(h1.wait([&] { return h1.closed.has_value(); }));
  EXPECT_EQ(h1.locked([&] { return h1.closed->source; }), CloseSource::kStatelessReset);
  EXPECT_FALSE(h2.wait([&] { return h2.closed.has_value(); }, 500ms))
      << "the sibling was closed too: " << h2.locked([&] { return h2.closed ? h2.closed->reason : std::string(); })
      << "; it sent " << packets_sent(c2) - c2_sent << " packets of its own meanwhile";
  poke(c2, 1000);
  ASSERT_TRUE(h2.wait([&] { return h2.closed.has_value(); }));
  EXPECT_EQ(h2.locked([&] { return h2.closed->source; }), CloseSource::kStatelessReset);
}

// Junk from the server's own address (short-header shaped, any size) is offered to the
// connection as a possible reset and must be dropped without harm: afterwards the connection
// still answers a real reset.
TEST_F(StatelessResetTest, JunkFromThePeerAddressDoesNotCloseTheConnection) {
  QuicConfig scfg;
  scfg.stateless_reset_key = "k";
  start_server(scfg);
  ClientHandler& h = handler();
  Connection* c = connect(h);
  ASSERT_TRUE(c);
  settle(h, c);
  uint16_t client_port = 0;
  on_loop([&] {
    client_port = clients_.back()->local_address().port();
    server_.reset();
  });
  // Impersonate the server: its port is free now.
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(bind(fd, server_addr_.get(), server_addr_.size()), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(client_port);
  std::mt19937 rng(9);
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> junk(19 + rng() % 1300);
    for (auto& b : junk) b = uint8_t(rng());
    junk[0] = uint8_t(0x40 | (junk[0] & 0x3f));
    sendto(fd, junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  close(fd);
  EXPECT_FALSE(h.wait([&] { return h.closed.has_value(); }, 500ms)) << "junk closed the connection";
  start_server(scfg, server_addr_.to_string());
  poke(c, 1000);
  ASSERT_TRUE(h.wait([&] { return h.closed.has_value(); }));
  EXPECT_EQ(h.locked([&] { return h.closed->source; }), CloseSource::kStatelessReset);
}

// The endpoint's reset path on its own, from a raw socket: nothing for packets under 43 bytes,
// replies always shorter than the packet that triggered them, and at most 100 per second.
TEST_F(StatelessResetTest, ResetsAreShorterThanTheTriggerAndRateLimited) {
  start_server();
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  timeval tv{0, 500000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const int rcvbuf = 4 << 20;  // room for every reply of the flood below
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  std::mt19937 rng(5);
  auto send_short = [&](size_t len) {
    std::vector<uint8_t> p(len);
    for (auto& b : p) b = uint8_t(rng());
    p[0] = uint8_t(0x40 | (p[0] & 0x3f));  // short header, fixed bit: DCID = 18 random bytes
    ASSERT_EQ(sendto(fd, p.data(), p.size(), 0, server_addr_.get(), server_addr_.size()), ssize_t(len));
  };
  // Collects replies until the socket has been quiet for 500 ms.
  auto replies = [&] {
    std::vector<size_t> sizes;
    uint8_t buf[2048];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) {
      EXPECT_EQ(buf[0] & 0xc0, 0x40) << "a reset looks like a short-header packet";
      sizes.push_back(size_t(n));
    }
    return sizes;
  };

  for (int i = 0; i < 20; ++i) send_short(42);
  EXPECT_TRUE(replies().empty()) << "packets under 43 bytes must not be answered";
  EXPECT_EQ(resets_sent(), 0u);

  send_short(43);
  auto r = replies();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], 42u);
  send_short(1200);
  r = replies();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_LT(r[0], 1200u);
  EXPECT_GE(r[0], 43u) << "long enough to look like any other short-header packet";

  // A flood: the limit is 100 per calendar second, so a burst that straddles a second boundary
  // may get up to 200 answers, never all 400.
  const uint64_t before = resets_sent();
  for (int i = 0; i < 400; ++i) send_short(1200);
  r = replies();
  const uint64_t sent = resets_sent() - before;
  EXPECT_LE(r.size(), sent);
  EXPECT_GE(r.size(), 1u);
  EXPECT_LE(sent, 200u);
  close(fd);
}

// --- 3. SSLKEYLOGFILE ----------------------------------------------------------------------
//
// GnuTLS (3.7.9 included) writes NSS key log lines itself: every session's default keylog hook
// appends to $SSLKEYLOGFILE. It reads the variable once per process, at the first secret it
// logs, so the handshake runs in a child process started with the variable set, the way a user
// runs a program.

// Runs this test binary again with only `test` selected and `env` added to the environment;
// stderr goes to `stderr_path` when given. Returns the exit status (-1 if it could not run).
int run_child(const std::string& test, const std::vector<std::string>& extra_env, const std::string& stderr_path = {}) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (strncmp(*e, "SSLKEYLOGFILE=", 14) != 0 && strncmp(*e, "GTEST_", 6) != 0) env.emplace_back(*e);
  }
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=" + test;
  std::vector<char*> argv{self.data(), filter.data(), nullptr};
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!stderr_path.empty())
    posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, self.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST_F(QuicFeatureTest, KeylogChild) {
  if (!getenv("MOQT_KEYLOG_CHILD")) GTEST_SKIP() << "runs inside SslKeylogFileGetsTheQuicSecrets";
  start_server();
  ClientHandler& h = handler();
  Connection* c = connect(h);
  ASSERT_TRUE(c);
  on_loop([&] { c->write(*c->open_bidi_stream(), SendBuffer::copy(pattern(100, 1)), true); });
  ASSERT_TRUE(h.wait([&] { return h.finished.size() == 1; }));
}

TEST_F(QuicFeatureTest, SslKeylogFileGetsTheQuicSecrets) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string keylog = (dir.path / "keys.log").string();
  ASSERT_EQ(run_child("QuicFeatureTest.KeylogChild", {"SSLKEYLOGFILE=" + keylog, "MOQT_KEYLOG_CHILD=1"}), 0)
      << "the child handshake failed";

  // "<LABEL> <client random, 64 hex> <secret, hex>" per line.
  std::map<std::string, std::set<std::string>> randoms;  // label -> client randoms
  std::istringstream in(read_file(keylog));
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string label, random, secret;
    ls >> label >> random >> secret;
    EXPECT_EQ(random.size(), 64u) << line;
    EXPECT_GE(secret.size(), 64u) << line;
    EXPECT_EQ(secret.find_first_not_of("0123456789abcdef"), std::string::npos) << line;
    randoms[label].insert(random);
  }
  for (const char* label : {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                            "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}) {
    ASSERT_EQ(randoms[label].size(), 1u) << label << " missing from\n" << read_file(keylog);
  }
  // One connection: every line is keyed by its client random.
  EXPECT_EQ(randoms["CLIENT_HANDSHAKE_TRAFFIC_SECRET"], randoms["SERVER_TRAFFIC_SECRET_0"]);
}

// --- 4. qlog ----------------------------------------------------------------------------------

TEST_F(QuicFeatureTest, QlogDirGetsAJsonSeqFilePerConnectionSide) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  QuicConfig cfg;
  cfg.qlog_dir = dir.path.string();
  start_server(cfg);
  ClientHandler& h = handler();
  Connection* c = connect(h, cfg);
  ASSERT_TRUE(c);
  on_loop([&] { c->write(*c->open_bidi_stream(), SendBuffer::copy(pattern(5000, 1)), true); });
  ASSERT_TRUE(h.wait([&] { return h.finished.size() == 1; }));
  on_loop([&] { c->close(0, "done"); });
  destroy_endpoints();  // closes the files

  std::map<std::string, std::string> logs;  // "client" / "server" -> contents
  for (const auto& e : fs::directory_iterator(dir.path)) {
    const std::string name = e.path().filename().string();
    ASSERT_EQ(e.path().extension(), ".sqlog") << name;
    const std::string side = name.substr(0, name.find('-'));
    EXPECT_TRUE(logs.emplace(side, read_file(e.path())).second) << "one file per side: " << name;
  }
  ASSERT_EQ(logs.size(), 2u);
  for (const auto& [side, log] : logs) {
    SCOPED_TRACE(side);
    ASSERT_GT(log.size(), 100u);
    EXPECT_EQ(log[0], '\x1e') << "JSON-SEQ records start with the record separator";
    EXPECT_NE(log.find("\"qlog_format\":\"JSON-SEQ\""), std::string::npos) << log.substr(0, 200);
    // Every record: RS, one JSON object, newline.
    size_t records = 0;
    for (size_t pos = 0; pos < log.size();) {
      ASSERT_EQ(log[pos], '\x1e') << "at byte " << pos;
      size_t next = log.find('\x1e', pos + 1);
      if (next == std::string::npos) next = log.size();
      const std::string rec = log.substr(pos + 1, next - pos - 1);
      ASSERT_GE(rec.size(), 3u);
      EXPECT_EQ(rec.front(), '{');
      EXPECT_EQ(rec.substr(rec.size() - 2), "}\n") << rec;
      ++records;
      pos = next;
    }
    EXPECT_GT(records, 10u);
    EXPECT_NE(log.find("packet_sent"), std::string::npos);
    EXPECT_NE(log.find("packet_received"), std::string::npos);
  }
  EXPECT_NE(logs["client"].find("\"vantage_point\":{\"name\":\"ngtcp2\",\"type\":\"client\"}"), std::string::npos);
  EXPECT_NE(logs["server"].find("\"type\":\"server\""), std::string::npos);
}

// --- 5. Congestion controllers -----------------------------------------------------------------
//
// A 4 MiB echo (4 MiB each way) with each controller on both ends, on a clean path and with 2%
// seeded loss and 5 ms one-way delay (so recovery and the controller's loss response run too).

struct CcCase {
  CongestionControl cc;
  bool lossy;
};

class CongestionControlTest : public QuicFeatureTest, public ::testing::WithParamInterface<CcCase> {};

TEST_P(CongestionControlTest, FourMebibyteEchoArrivesIntact) {
  QuicConfig cfg;
  cfg.cc = GetParam().cc;
  if (GetParam().lossy) {
    cfg.impairment.drop = 0.02;
    cfg.impairment.delay_us = 5000;
    cfg.impairment.seed = 11;
  }
  start_server(cfg);
  ClientHandler& h = handler();
  QuicConfig ccfg = cfg;
  ccfg.impairment.seed = 12;
  Connection* c = connect(h, ccfg);
  ASSERT_TRUE(c);
  const auto data = pattern(4 << 20, 99);
  StreamId id = -1;
  on_loop([&] {
    id = *c->open_bidi_stream();
    write_all(c, id, data, true);
  });
  ASSERT_TRUE(h.wait([&] { return h.finished.count(id) > 0 || h.closed.has_value(); }, 120s))
      << "got " << received(h, id) << " of " << data.size();
  h.locked([&] {
    EXPECT_FALSE(h.closed.has_value());
    EXPECT_TRUE(h.received[id] == data) << "echo differs (" << h.received[id].size() << " bytes)";
  });
  TransportStats st;
  uint64_t dropped = 0;
  on_loop([&] {
    st = c->stats();
    dropped = clients_.back()->udp_stats().shim_dropped + server_->udp_stats().shim_dropped;
  });
  EXPECT_GE(st.stream_bytes_sent, data.size());
  EXPECT_GT(st.cwnd, 0u);
  if (GetParam().lossy) {
    EXPECT_GT(dropped, 20u) << "the shim must really have dropped packets";
  }
}

INSTANTIATE_TEST_SUITE_P(Quic, CongestionControlTest,
                         ::testing::Values(CcCase{CongestionControl::kBbr, false}, CcCase{CongestionControl::kBbr, true},
                                           CcCase{CongestionControl::kReno, false},
                                           CcCase{CongestionControl::kReno, true},
                                           CcCase{CongestionControl::kCubic, true}),
                         [](const auto& info) {
                           const char* n = info.param.cc == CongestionControl::kBbr    ? "Bbr"
                                           : info.param.cc == CongestionControl::kReno ? "Reno"
                                                                                       : "Cubic";
                           return std::string(n) + (info.param.lossy ? "Lossy" : "Clean");
                         });

// The setting reaches ngtcp2: with its debug log on (MOQT_NGTCP2_DEBUG, read when a connection
// is made), BBR announces its state machine; Reno does not.
TEST_F(QuicFeatureTest, CcChild) {
  const char* cc = getenv("MOQT_CC_CHILD");
  if (!cc) GTEST_SKIP() << "runs inside TheChosenControllerIsTheOneNgtcp2Runs";
  QuicConfig cfg;
  cfg.cc = std::string(cc) == "bbr" ? CongestionControl::kBbr : CongestionControl::kReno;
  start_server(cfg);
  ClientHandler& h = handler();
  Connection* c = connect(h, cfg);
  ASSERT_TRUE(c);
  on_loop([&] { c->write(*c->open_bidi_stream(), SendBuffer::copy(pattern(50000, 1)), true); });
  ASSERT_TRUE(h.wait([&] { return h.finished.size() == 1; }));
}

TEST_F(QuicFeatureTest, TheChosenControllerIsTheOneNgtcp2Runs) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  for (const std::string cc : {"bbr", "reno"}) {
    const std::string log = (dir.path / (cc + ".log")).string();
    const int rc = run_child("QuicFeatureTest.CcChild", {"MOQT_CC_CHILD=" + cc, "MOQT_NGTCP2_DEBUG=1"}, log);
    const std::string text = read_file(log);
    ASSERT_EQ(rc, 0) << cc << ", child stderr ends with:\n" << text.substr(text.size() > 4000 ? text.size() - 4000 : 0);
    ASSERT_NE(text.find(" pkt tx "), std::string::npos) << "no ngtcp2 debug log for " << cc;
    EXPECT_EQ(text.find("bbr enter Startup") != std::string::npos, cc == "bbr") << cc;
  }
}

// --- 6. Datagram limits ---------------------------------------------------------------------

TEST_F(QuicFeatureTest, DatagramsOverTheSizeLimitOrQueueLimitAreRefused) {
  start_server();
  ClientHandler& h = handler();
  QuicConfig ccfg;
  ccfg.max_datagram_queue = 4;
  Connection* c = connect(h, ccfg);
  ASSERT_TRUE(c);
  EchoHandler* e = server_handler(0);
  ASSERT_TRUE(e);

  // Too large: refused and counted. Exactly the limit: accepted, and it really fits (ngtcp2 would
  // drop a datagram the path cannot carry; then the server would never see it).
  size_t max = 0;
  bool too_big = true, exact = false;
  TransportStats st;
  on_loop([&] {
    max = c->max_datagram_payload();
    too_big = c->send_datagram(SendBuffer::copy(pattern(max + 1, 1)));
    exact = c->send_datagram(SendBuffer::copy(pattern(max, 2)));
    st = c->stats();
  });
  ASSERT_GT(max, 1000u);
  EXPECT_FALSE(too_big);
  EXPECT_TRUE(exact);
  EXPECT_EQ(st.datagrams_dropped, 1u);
  ASSERT_TRUE(e->wait([&] { return !e->datagrams.empty(); }));
  e->locked([&] {
    ASSERT_EQ(e->datagrams.size(), 1u);
    EXPECT_TRUE(e->datagrams[0] == pattern(max, 2)) << "size " << e->datagrams[0].size() << " of " << max;
  });

  // A full queue refuses more. Nothing is sent during this task (writes go out after it), so the
  // first four fill the queue and the fifth is refused.
  std::vector<bool> accepted;
  on_loop([&] {
    for (int i = 0; i < 5; ++i) accepted.push_back(c->send_datagram(SendBuffer::copy(pattern(100, 10 + i))));
    st = c->stats();
  });
  EXPECT_EQ(accepted, (std::vector<bool>{true, true, true, true, false}));
  EXPECT_EQ(st.datagrams_dropped, 2u);
  // The four queued ones go out (loopback, no loss) and come back.
  ASSERT_TRUE(e->wait([&] { return e->datagrams.size() == 5; }));
  on_loop([&] { st = c->stats(); });
  EXPECT_EQ(st.datagrams_sent, 5u);
  EXPECT_EQ(st.datagrams_dropped, 2u) << "nothing accepted may be dropped later";
}

// --- 7. Handshake timeout -------------------------------------------------------------------

TEST_F(QuicFeatureTest, HandshakeWithASilentPortTimesOut) {
  // A plain UDP socket that receives the Initials and never answers.
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  SocketAddress silent;
  silent.set_size(sizeof(sockaddr_storage));
  ASSERT_EQ(getsockname(fd, silent.get(), silent.size_ptr()), 0);

  QuicConfig ccfg;
  ccfg.handshake_timeout = 500ms;  // the idle timeout stays at 30 s
  ClientHandler& h = handler();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(connect(h, ccfg, false, silent));
  ASSERT_TRUE(h.wait([&] { return h.closed.has_value(); }, 10s));
  const auto took = std::chrono::steady_clock::now() - t0;
  h.locked([&] {
    EXPECT_EQ(h.closed->source, CloseSource::kHandshakeTimeout) << h.closed->reason;
    EXPECT_FALSE(h.ready.has_value());
  });
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 8s);

  // The client did try: a full-size (padded) Initial arrived (the first PTO, 1 s, comes later).
  size_t initials = 0;
  uint8_t buf[2048];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;) {
    EXPECT_EQ(buf[0] & 0xf0, 0xc0) << "long header, Initial";
    EXPECT_GE(n, 1200);
    ++initials;
  }
  EXPECT_GE(initials, 1u);
  close(fd);
  size_t left = 1;
  on_loop([&] { left = clients_.back()->connections().size(); });
  EXPECT_EQ(left, 0u);
}

// --- 8. Server endpoint teardown under live clients -----------------------------------------

// The server vanishes without a word (the process dies, or the endpoint is deleted) while three
// clients are mid-transfer: no crash, server handlers hear about it once, and the clients close
// by their idle timeout.
TEST_F(QuicFeatureTest, DeletingTheServerEndpointUnderLiveClients) {
  start_server();
  QuicConfig ccfg;
  ccfg.idle_timeout = 1s;
  constexpr int kClients = 3;
  std::vector<ClientHandler*> hs;
  std::vector<Connection*> cs;
  std::vector<StreamId> ids;
  for (int i = 0; i < kClients; ++i) {
    hs.push_back(&handler());
    cs.push_back(connect(*hs.back(), ccfg));
    ASSERT_TRUE(cs.back());
  }
  const auto data = pattern(4 << 20, 1);
  on_loop([&] {
    for (int i = 0; i < kClients; ++i) {
      ids.push_back(*cs[i]->open_bidi_stream());
      write_all(cs[i], ids[i], data, true);
    }
  });
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(hs[i]->wait([&] { return hs[i]->received[ids[i]].size() > 0; }));
  on_loop([&] { server_.reset(); });

  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(hs[i]->wait([&] { return hs[i]->closed.has_value(); }, 15s)) << "client " << i;
    hs[i]->locked([&] {
      EXPECT_EQ(hs[i]->closed->source, CloseSource::kIdleTimeout);
      EXPECT_LT(hs[i]->received[ids[i]].size(), data.size()) << "the server died mid-transfer";
    });
  }
  for (int i = 0; i < kClients; ++i) {
    EchoHandler* e = server_handler(size_t(i));
    ASSERT_TRUE(e);
    e->locked([&] {
      ASSERT_TRUE(e->closed.has_value()) << "the endpoint tells the handlers it drops";
      EXPECT_EQ(e->closed->source, CloseSource::kLocal);
    });
  }
}

// The polite way down: close every connection, then delete the endpoint in the same loop task.
// The CONNECTION_CLOSE packets are out before the socket goes, so the clients learn at once.
TEST_F(QuicFeatureTest, ClosingConnectionsThenDeletingTheServerEndpoint) {
  start_server();
  constexpr int kClients = 3;
  std::vector<ClientHandler*> hs;
  for (int i = 0; i < kClients; ++i) {
    hs.push_back(&handler());
    ASSERT_TRUE(connect(*hs.back()));
  }
  for (int i = 0; i < kClients; ++i) ASSERT_TRUE(server_handler(size_t(i)));
  size_t closed = 0;
  on_loop([&] {
    for (Connection* c : server_->connections()) {
      c->close(0x10, "going away");
      ++closed;
    }
    server_.reset();
  });
  EXPECT_EQ(closed, size_t(kClients));
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(hs[i]->wait([&] { return hs[i]->closed.has_value(); }, 5s)) << "client " << i;
    hs[i]->locked([&] {
      EXPECT_EQ(hs[i]->closed->source, CloseSource::kPeer);
      EXPECT_TRUE(hs[i]->closed->application);
      EXPECT_EQ(hs[i]->closed->code, 0x10u);
      EXPECT_EQ(hs[i]->closed->reason, "going away");
    });
  }
}

}  // namespace
}  // namespace moqt::quic
