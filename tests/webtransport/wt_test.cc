// WebTransport over HTTP/3: the pure pieces (frames, SETTINGS, QPACK, error mapping, structured
// fields) and our client against our server over real UDP on 127.0.0.1.
#include <gtest/gtest.h>

#include "../common/transport_echo.h"
#include "moqt/quic/connection.h"
#include "moqt/webtransport/session.h"

namespace moqt::webtransport {
namespace {

using namespace std::chrono_literals;
using test::EchoHandler;
using test::pattern;
using test::RecordingHandler;

TEST(H3, VarintsAndFrames) {
  Bytes b;
  for (uint64_t v : {0ull, 63ull, 64ull, 16383ull, 16384ull, (1ull << 30) - 1, 1ull << 30, (1ull << 62) - 1}) put_varint(b, v);
  size_t pos = 0;
  for (uint64_t v : {0ull, 63ull, 64ull, 16383ull, 16384ull, (1ull << 30) - 1, 1ull << 30, (1ull << 62) - 1})
    EXPECT_EQ(get_varint(b, pos), v);
  EXPECT_EQ(pos, b.size());
  Bytes f;
  put_frame(f, h3::kFrameSettings, encode_settings({{0x01, 0}, {0x2c7cf000, 1}}));
  EXPECT_EQ(f, (Bytes{0x04, 0x07, 0x01, 0x00, 0xac, 0x7c, 0xf0, 0x00, 0x01}));
  FrameReader r(1024);
  for (uint8_t byte : f) r.push(ByteView(&byte, 1));  // one byte at a time
  bool err = false;
  auto fr = r.next(&err);
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr->type, h3::kFrameSettings);
  EXPECT_EQ(decode_settings(fr->payload), (Settings{{0x01, 0}, {0x2c7cf000, 1}}));
  FrameReader small(4);
  Bytes big;
  put_frame(big, 0, Bytes(10, 0));
  small.push(big);
  EXPECT_FALSE(small.next(&err));
  EXPECT_TRUE(err);
}

TEST(H3, ServerSettingsCarryEveryWebTransportCodepoint) {
  Settings s = webtransport_settings(true);
  auto has = [&](uint64_t id, uint64_t v) {
    return std::find(s.begin(), s.end(), std::make_pair(id, v)) != s.end();
  };
  EXPECT_TRUE(has(h3::kSettingEnableConnectProtocol, 1));
  EXPECT_TRUE(has(h3::kSettingH3Datagram, 1));
  EXPECT_TRUE(has(h3::kSettingH3DatagramLegacy, 1));
  EXPECT_TRUE(has(h3::kSettingWtEnabled, 1));
  EXPECT_TRUE(has(h3::kSettingWtMaxSessions, 1));
  EXPECT_TRUE(has(h3::kSettingWtMaxSessionsLegacy, 1));
  EXPECT_TRUE(has(h3::kSettingEnableWebtransportLegacy, 1));
  EXPECT_TRUE(has(h3::kSettingQpackMaxTableCapacity, 0));
}

TEST(H3, QpackRoundTripThroughNghttp3Decoder) {
  Headers h = {{":method", "CONNECT"}, {":protocol", "webtransport"}, {":scheme", "https"},
               {":authority", "127.0.0.1:4433"}, {":path", "/moq?x=1"}, {"origin", "http://127.0.0.1:8080"},
               {"wt-available-protocols", "\"moqt-18\", \"moqt-16\""}};
  Bytes block = qpack_encode(h);
  auto back = qpack_decode(block, 0);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, h);
  // `:status 200` is static index 25: one byte after the two-byte prefix.
  EXPECT_EQ(qpack_encode({{":status", "200"}}), (Bytes{0x00, 0x00, 0xd9}));
  // A Huffman-coded literal (as browsers send): "www.example.com" from RFC 7541 C.4.1.
  Bytes huff = {0x00, 0x00, 0x50, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff};
  auto hh = qpack_decode(huff, 0);
  ASSERT_TRUE(hh);
  EXPECT_EQ(*hh, (Headers{{":authority", "www.example.com"}}));
  // A dynamic-table reference (we allow none) and garbage fail cleanly.
  EXPECT_FALSE(qpack_decode(Bytes{0x02, 0x00, 0x80}, 0));
  EXPECT_FALSE(qpack_decode(Bytes{0x00, 0x00, 0x3f}, 0));
}

TEST(H3, WebTransportErrorCodeMapping) {
  EXPECT_EQ(wt_to_h3_error(0), 0x52e4a40fa8dbull);
  EXPECT_EQ(wt_to_h3_error(0x1d), 0x52e4a40fa8dbull + 0x1d);
  EXPECT_EQ(wt_to_h3_error(0x1e), 0x52e4a40fa8dbull + 0x1f);  // skips the reserved 0x...fa8f9
  EXPECT_EQ(h3_to_wt_error(0x52e4a40fa8dbull + 0x1e), std::nullopt);
  for (uint32_t n : {0u, 1u, 2u, 29u, 30u, 31u, 1000u, 0xffffffffu}) EXPECT_EQ(h3_to_wt_error(wt_to_h3_error(n)), n);
  EXPECT_EQ(h3_to_wt_error(0x100), std::nullopt);
}

TEST(H3, StructuredFieldProtocolLists) {
  EXPECT_EQ(parse_sf_string_list("\"moqt-18\", \"moqt-16\",\"moq-00\""),
            (std::vector<std::string>{"moqt-18", "moqt-16", "moq-00"}));
  EXPECT_EQ(parse_sf_string_list("moqt-16, \"a\\\"b\";q=1"), (std::vector<std::string>{"moqt-16", "a\"b"}));
  EXPECT_EQ(parse_sf_string("\"moqt-16\""), "moqt-16");
  EXPECT_EQ(sf_string("x\"y"), "\"x\\\"y\"");
  EXPECT_TRUE(parse_sf_string_list("").empty());
}

TEST(H3, CapsulesAndCloseSession) {
  Bytes buf;
  put_capsule(buf, h3::kCapsuleCloseSession, close_session_value(7, "bye"));
  bool err = false;
  Bytes partial(buf.begin(), buf.end() - 1);
  EXPECT_FALSE(get_capsule(partial, 1024, &err));
  auto c = get_capsule(buf, 1024, &err);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, h3::kCapsuleCloseSession);
  EXPECT_EQ(c->value, (Bytes{0, 0, 0, 7, 'b', 'y', 'e'}));
  EXPECT_TRUE(buf.empty());
}

class WtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    auto cert = quic::generate_self_signed({"localhost", "127.0.0.1"}, 10, &err);
    ASSERT_TRUE(cert) << err;
    cert_ = *cert;
    loop_.start("wt-test");
  }
  void TearDown() override {
    loop_.run_sync([this] {
      client_sessions_.clear();
      clients_.clear();
      server_.reset();
      host_.reset();
    });
    loop_.stop();
  }

  void start_server(std::vector<std::string> protocols = {"moqt-18", "moqt-16"}) {
    ServerOptions opts;
    opts.protocols = std::move(protocols);
    opts.on_connect = [this](Session& s, const ConnectRequest& r, const std::string& chosen) {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(r);
      if (r.path == "/greet") {  // speaks first, like a MoQT -18 server's SETUP
        greeters_.push_back(std::make_unique<Greeter>(s));
        return ConnectDecision{200, greeters_.back().get(), chosen};
      }
      if (r.path != "/echo") return ConnectDecision{404, nullptr, ""};
      echo_.push_back(std::make_unique<EchoHandler>(s));
      return ConnectDecision{200, echo_.back().get(), chosen};
    };
    std::string err;
    auto tls = quic::ServerTls::create(cert_, {"h3"}, &err);
    ASSERT_TRUE(tls) << err;
    loop_.run_sync([&] {
      host_ = std::make_unique<SessionHost>(opts);
      server_ = quic::Endpoint::listen(loop_, *quic::SocketAddress::parse("127.0.0.1:0"), {}, tls,
                                       [this](quic::Connection& c) { return host_->accept(c); }, &err);
    });
    ASSERT_TRUE(server_) << err;
    addr_ = server_->local_address();
  }

  // Opens a uni stream and writes to it as soon as the session is accepted, at top priority.
  struct Greeter : quic::TransportHandler {
    quic::Transport& t;
    explicit Greeter(quic::Transport& tr) : t(tr) {}
    void on_ready(std::string_view) override {
      auto id = t.open_uni_stream();
      if (!id) return;
      t.set_priority(*id, 0);
      t.write(*id, quic::SendBuffer::copy(pattern(64, 7)), true);
    }
    void on_stream_data(quic::StreamId, std::span<const uint8_t>, bool) override {}
    void on_closed(const quic::CloseInfo&) override {}
  };

  Session* connect(RecordingHandler& h, const std::string& path, std::vector<std::string> protocols = {"moqt-18", "moqt-16"},
                   bool buffer_early_streams = true) {
    std::string err;
    quic::ClientTlsConfig tc;
    tc.alpns = {"h3"};
    tc.server_name = "127.0.0.1";
    tc.verify = quic::VerifyMode::kPinnedSha256;
    tc.pinned_sha256 = cert_.sha256_hex;
    auto tls = quic::ClientTls::create(tc, &err);
    Session* out = nullptr;
    loop_.run_sync([&] {
      auto ep = quic::Endpoint::client(loop_, AF_INET, {}, &err);
      quic::Connection* c = ep->connect(addr_, tls, nullptr, &err);
      if (!c) return;
      ClientOptions o;
      o.authority = addr_.to_string();
      o.path = path;
      o.origin = "http://127.0.0.1";
      o.protocols = std::move(protocols);
      o.buffer_early_streams = buffer_early_streams;
      client_sessions_.push_back(Session::client(*c, o, &h));
      out = client_sessions_.back().get();
      clients_.push_back(std::move(ep));
    });
    EXPECT_TRUE(out) << err;
    EXPECT_TRUE(h.wait([&] { return h.ready || h.closed; }));
    return out;
  }
  RecordingHandler& handler() { return handlers_.emplace_back(); }

  std::deque<RecordingHandler> handlers_;
  quic::EventLoop loop_;
  quic::CertificatePem cert_;
  std::unique_ptr<SessionHost> host_;
  std::unique_ptr<quic::Endpoint> server_;
  std::vector<std::unique_ptr<quic::Endpoint>> clients_;
  std::vector<std::unique_ptr<Session>> client_sessions_;
  quic::SocketAddress addr_;
  std::mutex mu_;
  std::vector<ConnectRequest> requests_;
  std::vector<std::unique_ptr<EchoHandler>> echo_;
  std::vector<std::unique_ptr<Greeter>> greeters_;
};

// A client that does not buffer streams of a session it has not seen accepted (as some MoQT
// stacks do) still gets the server's first stream: the 200 response leaves in an earlier packet.
TEST_F(WtTest, ServerStreamsFollowTheConnectResponseInALaterPacket) {
  start_server();
  for (int i = 0; i < 5; ++i) {
    RecordingHandler& h = handler();
    Session* s = connect(h, "/greet", {"moqt-18"}, false);
    ASSERT_TRUE(s && h.ready);
    EXPECT_TRUE(h.wait([&] { return h.finished.size() == 1; })) << "the server's first stream was rejected";
    size_t rejected = 1;
    loop_.run_sync([&] { rejected = s->early_streams_rejected(); });
    EXPECT_EQ(rejected, 0u);
  }
}

TEST_F(WtTest, EchoesBidiUniAndDatagramsAndNegotiatesTheProtocol) {
  start_server();
  RecordingHandler& h = handler();
  Session* s = connect(h, "/echo", {"moqt-16", "moqt-18"});
  ASSERT_TRUE(s && h.ready);
  EXPECT_EQ(*h.ready, "moqt-18");  // the server's preference among the client's offers
  {
    std::lock_guard<std::mutex> l(mu_);
    ASSERT_EQ(requests_.size(), 1u);
    EXPECT_EQ(requests_[0].path, "/echo");
    EXPECT_EQ(requests_[0].origin, "http://127.0.0.1");
    EXPECT_EQ(requests_[0].available_protocols, (std::vector<std::string>{"moqt-16", "moqt-18"}));
  }
  const auto big = pattern(300000, 1);
  quic::StreamId bidi = -1;
  loop_.run_sync([&] {
    bidi = *s->open_bidi_stream();
    s->write(bidi, quic::SendBuffer::copy(big), true);
    s->write(*s->open_uni_stream(), quic::SendBuffer::copy(pattern(1000, 2)), true);
    EXPECT_GT(s->max_datagram_payload(), 1000u);
    s->send_datagram(quic::SendBuffer::copy(pattern(700, 3)));
  });
  ASSERT_TRUE(h.wait([&] { return h.finished.size() == 2 && !h.datagrams.empty(); }));
  std::lock_guard<std::mutex> l(h.mu);
  EXPECT_EQ(h.received[bidi], big);  // the WT header is invisible to the application
  for (auto& [id, d] : h.received)
    if (id != bidi) {
      EXPECT_EQ(d, pattern(1000, 2));
    }
  EXPECT_EQ(h.datagrams[0], pattern(700, 3));
}

TEST_F(WtTest, UnknownPathIsRefusedWith404) {
  start_server();
  RecordingHandler& h = handler();
  connect(h, "/nope");
  ASSERT_TRUE(h.closed.has_value());
  EXPECT_FALSE(h.ready.has_value());
  EXPECT_EQ(h.closed->code, 404u);
}

TEST_F(WtTest, NoCommonProtocolMeansNoWtProtocolHeader) {
  start_server({"moqt-18"});
  RecordingHandler& h = handler();
  connect(h, "/echo", {"moq-lite-05"});
  ASSERT_TRUE(h.ready.has_value());
  EXPECT_EQ(*h.ready, "");  // MoQT then falls back to draft-14 negotiation in CLIENT_SETUP
}

TEST_F(WtTest, SessionCloseCodeAndReasonReachThePeer) {
  start_server();
  RecordingHandler& h = handler();
  Session* s = connect(h, "/echo");
  ASSERT_TRUE(s && h.ready);
  loop_.run_sync([&] { s->close(0x3, "protocol violation"); });
  EchoHandler* e = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    ASSERT_EQ(echo_.size(), 1u);
    e = echo_[0].get();
  }
  ASSERT_TRUE(e->wait([&] { return e->closed.has_value(); }));
  EXPECT_EQ(e->closed->source, quic::CloseSource::kPeer);
  EXPECT_EQ(e->closed->code, 0x3u);
  EXPECT_EQ(e->closed->reason, "protocol violation");
  ASSERT_TRUE(h.wait([&] { return h.closed.has_value(); }));
  EXPECT_EQ(h.closed->source, quic::CloseSource::kLocal);
  // The server forgets the session once its connection is gone.
  size_t left = 1;
  for (int i = 0; i < 50 && left; ++i) {
    std::this_thread::sleep_for(20ms);
    loop_.run_sync([&] { left = host_->size(); });
  }
  EXPECT_EQ(left, 0u);
}

TEST_F(WtTest, StreamResetCodesAreMappedBothWays) {
  start_server();
  RecordingHandler& h = handler();
  Session* s = connect(h, "/echo");
  ASSERT_TRUE(s && h.ready);
  // Reset our sending side: the echo server sees the reset, and our STOP_SENDING/RESET codes
  // travel in the WT range; the session stays up.
  quic::StreamId id = -1;
  loop_.run_sync([&] {
    id = *s->open_bidi_stream();
    s->write(id, quic::SendBuffer::copy(pattern(10, 1)), false);
  });
  ASSERT_TRUE(h.wait([&] { return h.received[id].size() == 10; }));
  loop_.run_sync([&] { s->reset_stream(id, 0x2); });
  loop_.run_sync([&] { s->write(*s->open_bidi_stream(), quic::SendBuffer::copy(pattern(5, 1)), true); });
  EXPECT_TRUE(h.wait([&] { return h.finished.size() == 1; }));
  EXPECT_FALSE(h.closed.has_value());
}

}  // namespace
}  // namespace moqt::webtransport
