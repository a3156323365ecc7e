// A small HTTP(S) server for the relay's side doors (the Prometheus endpoint, the watch page):
// libsoup 3 on its own thread and GMainContext, GET and HEAD only. Knows nothing about MoQT.
//
// Bounds: one request per connection (no keep-alive); a connection gets `deadline` from its
// accept to the end of its response, idle time and a held (long-poll) answer included, then its
// socket is shut down; at most `max_connections` at once (more are answered 503 at once);
// request bodies are refused (413, read and thrown away, never buffered). libsoup itself does not
// bound the size of request headers.
//
// Threads: the handler, every Reply and every post()ed task run on the server thread. start()
// and the destructor are called from the owner's thread; the destructor joins the server thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace moqt::web {

struct HttpRequest {
  std::string path;  // "/api/broadcasts"
  std::map<std::string, std::string> query;  // decoded query parameters
  bool head = false;
  // The value of one query parameter, "" if absent.
  std::string param(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  unsigned status = 200;
  std::string type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // added to the response's
};

// Answers a request once, on the server thread; may be kept and called later (long poll). Calling
// it after the client went away (or the deadline passed) does nothing.
using Reply = std::function<void(HttpResponse)>;
using Handler = std::function<void(const HttpRequest&, Reply)>;

struct HttpServerConfig {
  std::string listen;    // "ADDR:PORT" or "[V6ADDR]:PORT"; ADDR an IP address; port 0 = any
  std::string tls_pem;   // certificate chain + private key (PEM): HTTPS; "" = plain HTTP
  std::string name = "moqt";  // the Server header
  size_t max_connections = 256;
  std::chrono::seconds deadline{10};
};

class HttpServer {
 public:
  // Null (and `error` set) if the address is bad or cannot be bound, the certificate cannot be
  // used, or the build has no libsoup.
  static std::unique_ptr<HttpServer> start(HttpServerConfig cfg, Handler handler, std::string* error);
  ~HttpServer();  // stops serving (open connections are closed) and joins the thread
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const std::string& address() const { return address_; }  // bound "ADDR:PORT"
  unsigned port() const { return port_; }
  bool https() const { return https_; }
  // Runs `task` on the server thread (after `delay`); dropped if the server stops first.
  void post(std::function<void()> task, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // The same from the server thread itself (a handler, a Reply, a posted task).
  static void later(std::function<void()> task, std::chrono::milliseconds delay);

  struct Impl;

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
  std::string address_;
  unsigned port_ = 0;
  bool https_ = false;
};

}  // namespace moqt::web
