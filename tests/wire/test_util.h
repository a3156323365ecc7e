// Helpers shared by the wire codec tests.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "moqt/wire/control_codec.h"
#include "moqt/wire/data_codec.h"

namespace moqt::wire {
// gtest prints messages with these instead of raw bytes.
inline void PrintTo(const ControlMessage& m, std::ostream* os) { *os << to_string(m); }
inline void PrintTo(const WireError& e, std::ostream* os) { *os << to_string(e.code) << ": " << e.detail; }
}  // namespace moqt::wire

namespace moqt::wire::test {

// Bytes from a hex string with optional spaces and '|' separators ("20 00 13 | 01 ...").
inline Bytes hex(std::string_view h) {
  auto b = from_hex(h);
  EXPECT_TRUE(b.has_value()) << "bad hex in test: " << h;
  return b.value_or(Bytes{});
}

// Feeds `bytes` to a ControlStreamParser in chunks of `chunk` bytes (0 = random sizes) and
// returns every message and the first error.
struct ParsedControl {
  std::vector<ControlMessage> messages;
  std::optional<WireError> error;
};
inline ParsedControl parse_control_stream(const Bytes& bytes, Draft d, size_t chunk, uint32_t seed = 1) {
  ParsedControl out;
  ControlStreamParser parser(d);
  std::mt19937 rng(seed);
  size_t pos = 0;
  while (pos < bytes.size() && !out.error) {
    size_t n = chunk ? chunk : 1 + rng() % 17;
    n = std::min(n, bytes.size() - pos);
    parser.push(ByteView(bytes).subspan(pos, n));
    pos += n;
    while (auto m = parser.next()) {
      if (!*m) {
        out.error = m->error();
        break;
      }
      out.messages.push_back(std::move(m->value()));
    }
  }
  return out;
}

// Records data stream events as text plus the reassembled payloads.
struct RecordingVisitor : DataStreamVisitor {
  std::vector<SubgroupHeader> subgroup_headers;
  std::vector<FetchHeader> fetch_headers;
  std::vector<ObjectHeader> objects;
  std::vector<FetchObject> fetch_objects;
  std::vector<std::string> payloads;  // one per finished object
  std::string current;
  bool padding = false;
  bool ended = false;

  void on_subgroup_header(const SubgroupHeader& h) override { subgroup_headers.push_back(h); }
  void on_fetch_header(const FetchHeader& h) override { fetch_headers.push_back(h); }
  void on_padding_stream() override { padding = true; }
  void on_object(const ObjectHeader& o) override { objects.push_back(o); }
  void on_fetch_object(const FetchObject& o) override { fetch_objects.push_back(o); }
  void on_payload(ByteView chunk, bool end) override {
    current.append(chunk.begin(), chunk.end());
    if (end) {
      payloads.push_back(current);
      current.clear();
    }
  }
  void on_end_of_stream() override { ended = true; }
};

// Feeds a data stream in chunks (0 = random sizes); returns the first error.
inline std::optional<WireError> feed_data_stream(DataStreamParser& parser, const Bytes& bytes, size_t chunk,
                                                 bool fin = true, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  size_t pos = 0;
  if (bytes.empty()) return parser.feed({}, fin);
  while (pos < bytes.size()) {
    size_t n = chunk ? chunk : 1 + rng() % 23;
    n = std::min(n, bytes.size() - pos);
    const bool last = pos + n == bytes.size();
    if (auto e = parser.feed(ByteView(bytes).subspan(pos, n), fin && last)) return e;
    pos += n;
  }
  return std::nullopt;
}

}  // namespace moqt::wire::test
