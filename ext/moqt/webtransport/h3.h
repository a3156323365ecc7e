// The small part of HTTP/3 that WebTransport needs, pure (no I/O): frames, SETTINGS, stream
// types, capsules, QPACK field sections (encoding by hand with the static table and literals,
// decoding with nghttp3's QPACK decoder so Huffman-coded browser headers work), WT error-code
// mapping and the WT-Available-Protocols structured field.
//
// nghttp3 cannot send WebTransport SETTINGS or own WT streams (toolchain.md §3), so we do not use
// nghttp3_conn at all: these pieces plus session.cc are the whole HTTP/3 layer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace moqt::webtransport {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// HTTP/3 frame and stream types (RFC 9114) and WebTransport additions.
namespace h3 {
inline constexpr uint64_t kFrameData = 0x00;
inline constexpr uint64_t kFrameHeaders = 0x01;
inline constexpr uint64_t kFrameSettings = 0x04;
inline constexpr uint64_t kFrameGoaway = 0x07;
inline constexpr uint64_t kStreamControl = 0x00;
inline constexpr uint64_t kStreamQpackEncoder = 0x02;
inline constexpr uint64_t kStreamQpackDecoder = 0x03;
inline constexpr uint64_t kStreamWtUni = 0x54;    // WT unidirectional stream signal
inline constexpr uint64_t kFrameWtBidi = 0x41;    // WT bidirectional stream signal
inline constexpr uint64_t kCapsuleCloseSession = 0x2843;
inline constexpr uint64_t kCapsuleDrainSession = 0x78ae;
// Error codes.
inline constexpr uint64_t kNoError = 0x100;
inline constexpr uint64_t kGeneralProtocolError = 0x101;
inline constexpr uint64_t kStreamCreationError = 0x103;
inline constexpr uint64_t kFrameUnexpected = 0x105;
inline constexpr uint64_t kFrameError = 0x106;
inline constexpr uint64_t kMessageError = 0x10e;
inline constexpr uint64_t kRequestRejected = 0x10b;
inline constexpr uint64_t kSettingsError = 0x109;
inline constexpr uint64_t kMissingSettings = 0x10a;
inline constexpr uint64_t kWtBufferedStreamRejected = 0x3994bd84;
inline constexpr uint64_t kWtSessionGone = 0x170d7b68;
// SETTINGS identifiers.
inline constexpr uint64_t kSettingQpackMaxTableCapacity = 0x01;
inline constexpr uint64_t kSettingMaxFieldSectionSize = 0x06;
inline constexpr uint64_t kSettingQpackBlockedStreams = 0x07;
inline constexpr uint64_t kSettingEnableConnectProtocol = 0x08;
inline constexpr uint64_t kSettingH3Datagram = 0x33;
inline constexpr uint64_t kSettingH3DatagramLegacy = 0xffd277;
inline constexpr uint64_t kSettingEnableWebtransportLegacy = 0x2b603742;  // WT drafts <= 06
inline constexpr uint64_t kSettingWtMaxSessionsLegacy = 0xc671706a;       // WT drafts 07-12
inline constexpr uint64_t kSettingWtMaxSessions = 0x14e9cd29;             // WT drafts 13-14
inline constexpr uint64_t kSettingWtEnabled = 0x2c7cf000;                 // WT draft 15+
}  // namespace h3

// QUIC variable-length integers (HTTP/3 and WT framing always use these).
void put_varint(Bytes& out, uint64_t v);
// Reads a varint at `pos`; nullopt if the bytes are not all there yet.
std::optional<uint64_t> get_varint(ByteView in, size_t& pos);

void put_frame(Bytes& out, uint64_t type, ByteView payload);

using Settings = std::vector<std::pair<uint64_t, uint64_t>>;
// Everything a WebTransport endpoint announces: every WT codepoint current browsers look for.
Settings webtransport_settings(bool server);
Bytes encode_settings(const Settings& s);  // SETTINGS frame payload
std::optional<Settings> decode_settings(ByteView payload);

struct Frame {
  uint64_t type = 0;
  Bytes payload;
};

// Incremental frame reader for a control or request stream. Frames larger than `max_payload`
// are an error (we never need big ones: DATA payloads are read as a stream by the caller).
class FrameReader {
 public:
  explicit FrameReader(size_t max_payload) : max_(max_payload) {}
  void push(ByteView data) { buf_.insert(buf_.end(), data.begin(), data.end()); }
  // A whole frame, nullopt if more bytes are needed; sets `error` on a frame too large.
  std::optional<Frame> next(bool* error);
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  size_t max_;
  Bytes buf_;
  size_t pos_ = 0;
};

struct Capsule {
  uint64_t type = 0;
  Bytes value;
};
void put_capsule(Bytes& out, uint64_t type, ByteView value);
// Reads whole capsules from a byte stream; nullopt when more bytes are needed.
std::optional<Capsule> get_capsule(Bytes& buf, size_t max_value, bool* error);

// WT_CLOSE_SESSION: 32-bit application code + message (<= 1024 bytes).
Bytes close_session_value(uint32_t code, const std::string& message);

using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;
// QPACK field section with Required Insert Count 0: static-table references where they exist,
// literals otherwise, no Huffman, no dynamic table.
Bytes qpack_encode(const Headers& headers);
// Decodes a field section (static table + literals + Huffman; a dynamic-table reference fails
// since we advertise a capacity of 0).
std::optional<Headers> qpack_decode(ByteView block, int64_t stream_id);

// WebTransport application error codes <-> HTTP/3 error codes (WT §4.4).
uint64_t wt_to_h3_error(uint32_t code);
std::optional<uint32_t> h3_to_wt_error(uint64_t h3);

// RFC 9651 List of Strings (WT-Available-Protocols), leniently: tokens are accepted too.
std::vector<std::string> parse_sf_string_list(const std::string& v);
std::string sf_string(const std::string& s);  // "\"moqt-16\""
std::optional<std::string> parse_sf_string(const std::string& v);

}  // namespace moqt::webtransport
