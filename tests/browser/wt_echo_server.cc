// A WebTransport echo server for the browser test: generates a short-lived ECDSA certificate,
// listens on 127.0.0.1 (ALPN h3), prints {"port":..,"sha256":".."} on stdout, echoes streams and
// datagrams of sessions on /echo, and reports each session's end on stdout. Exits when stdin
// closes or after --lifetime seconds (default 120): it can never outlive its test.
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <string>

#include "../common/transport_echo.h"
#include "moqt/quic/connection.h"
#include "moqt/webtransport/session.h"

using namespace moqt;

namespace {

class ReportingEcho : public test::EchoHandler {
 public:
  using EchoHandler::EchoHandler;
  void on_closed(const quic::CloseInfo& info) override {
    std::printf("{\"event\":\"closed\",\"code\":%llu,\"reason\":\"%s\"}\n", (unsigned long long)info.code,
                info.reason.c_str());
    std::fflush(stdout);
    EchoHandler::on_closed(info);
  }
};

}  // namespace

int main(int argc, char** argv) {
  int lifetime = 120;
  for (int i = 1; i < argc; ++i)
    if (!strncmp(argv[i], "--lifetime=", 11)) lifetime = atoi(argv[i] + 11);
  std::string err;
  auto cert = quic::generate_self_signed({"localhost", "127.0.0.1"}, 10, &err);
  if (!cert) {
    std::fprintf(stderr, "wt_echo_server: %s\n", err.c_str());
    return 1;
  }
  auto tls = quic::ServerTls::create(*cert, {"h3"}, &err);
  if (!tls) {
    std::fprintf(stderr, "wt_echo_server: %s\n", err.c_str());
    return 1;
  }
  quic::EventLoop loop;
  loop.start("wt-echo");
  std::deque<ReportingEcho> handlers;
  std::unique_ptr<webtransport::SessionHost> host;
  std::unique_ptr<quic::Endpoint> ep;
  loop.run_sync([&] {
    webtransport::ServerOptions opts;
    opts.protocols = {"moqt-18", "moqt-16"};
    opts.on_connect = [&](webtransport::Session& s, const webtransport::ConnectRequest& r, const std::string& chosen) {
      std::printf("{\"event\":\"connect\",\"path\":\"%s\",\"origin\":\"%s\",\"protocol\":\"%s\"}\n", r.path.c_str(),
                  r.origin.c_str(), chosen.c_str());
      std::fflush(stdout);
      if (r.path != "/echo") return webtransport::ConnectDecision{404, nullptr, ""};
      handlers.emplace_back(s);
      return webtransport::ConnectDecision{200, &handlers.back(), chosen};
    };
    host = std::make_unique<webtransport::SessionHost>(opts);
    ep = quic::Endpoint::listen(loop, *quic::SocketAddress::parse("127.0.0.1:0"), {}, tls,
                                [&](quic::Connection& c) { return host->accept(c); }, &err);
  });
  if (!ep) {
    std::fprintf(stderr, "wt_echo_server: %s\n", err.c_str());
    return 1;
  }
  std::printf("{\"port\":%u,\"sha256\":\"%s\"}\n", ep->local_address().port(), cert->sha256_hex.c_str());
  std::fflush(stdout);
  pollfd pfd{0, POLLIN, 0};
  for (int waited = 0; waited < lifetime * 10; ++waited) {
    if (poll(&pfd, 1, 100) > 0) {
      char buf[64];
      if (read(0, buf, sizeof buf) <= 0) break;  // the test closed our stdin: done
    }
  }
  loop.run_sync([&] {
    host.reset();
    ep.reset();
  });
  loop.stop();
  return 0;
}
