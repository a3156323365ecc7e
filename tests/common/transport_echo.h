// Test peers for any quic::Transport (raw QUIC or WebTransport): an echo server handler and a
// client handler that records what comes back. Callbacks run on the loop thread; the test
// thread reads the recorded state under `mu`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "moqt/quic/transport.h"

namespace moqt::test {

// Echoes every bidi stream back on itself, every uni stream on a new uni stream, every datagram.
class EchoHandler : public quic::TransportHandler {
 public:
  explicit EchoHandler(quic::Transport& t) : t_(t) {}
  void on_ready(std::string_view proto) override {
    std::lock_guard<std::mutex> l(mu);
    ready = std::string(proto);
    cv.notify_all();
  }
  void on_stream_data(quic::StreamId id, std::span<const uint8_t> data, bool fin) override {
    quic::StreamId out = id;
    if (id & 0x2) {  // unidirectional
      auto it = uni_out_.find(id);
      if (it == uni_out_.end()) {
        auto s = t_.open_uni_stream();
        if (!s) return;
        it = uni_out_.emplace(id, *s).first;
      }
      out = it->second;
    }
    t_.write(out, quic::SendBuffer::copy(data), fin);
  }
  void on_datagram(std::span<const uint8_t> d) override { t_.send_datagram(quic::SendBuffer::copy(d)); }
  void on_closed(const quic::CloseInfo& info) override {
    std::lock_guard<std::mutex> l(mu);
    closed = info;
    cv.notify_all();
  }
  template <typename Pred>
  bool wait(Pred p, std::chrono::milliseconds t = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, t, p);
  }
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::string> ready;
  std::optional<quic::CloseInfo> closed;

 private:
  quic::Transport& t_;
  std::map<quic::StreamId, quic::StreamId> uni_out_;
};

class RecordingHandler : public quic::TransportHandler {
 public:
  void on_ready(std::string_view proto) override {
    std::lock_guard<std::mutex> l(mu);
    ready = std::string(proto);
    cv.notify_all();
  }
  void on_stream_data(quic::StreamId id, std::span<const uint8_t> data, bool fin) override {
    std::lock_guard<std::mutex> l(mu);
    received[id].insert(received[id].end(), data.begin(), data.end());
    if (fin) finished.insert(id);
    cv.notify_all();
  }
  void on_stream_reset(quic::StreamId id, uint64_t code) override {
    std::lock_guard<std::mutex> l(mu);
    resets[id] = code;
    cv.notify_all();
  }
  void on_datagram(std::span<const uint8_t> d) override {
    std::lock_guard<std::mutex> l(mu);
    datagrams.emplace_back(d.begin(), d.end());
    cv.notify_all();
  }
  void on_closed(const quic::CloseInfo& info) override {
    std::lock_guard<std::mutex> l(mu);
    closed = info;
    cv.notify_all();
  }
  template <typename Pred>
  bool wait(Pred p, std::chrono::milliseconds t = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, t, p);
  }
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::string> ready;
  std::map<quic::StreamId, std::vector<uint8_t>> received;
  std::set<quic::StreamId> finished;
  std::map<quic::StreamId, uint64_t> resets;
  std::vector<std::vector<uint8_t>> datagrams;
  std::optional<quic::CloseInfo> closed;
};

inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

}  // namespace moqt::test
