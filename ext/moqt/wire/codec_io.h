// Byte-level reading and writing for the MoQT wire codec: the two integer encodings
// (QUIC varint for drafts <= 16, MoQ vi64 for drafts >= 17), fixed-width fields and
// length-prefixed byte strings. Pure functions, no I/O, no allocation beyond the output buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moqt/wire/error.h"

namespace moqt::wire {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

enum class IntEncoding : uint8_t {
  kQuicVarint,  // RFC 9000 §16: 2-bit length prefix, 1/2/4/8 bytes, max 2^62-1
  kVi64,        // draft-17+: leading 1-bits give the extra length, 1..9 bytes, full 64 bits
};

constexpr uint64_t kQuicVarintMax = (uint64_t{1} << 62) - 1;

// Largest value the encoding can carry.
constexpr uint64_t max_int(IntEncoding e) {
  return e == IntEncoding::kQuicVarint ? kQuicVarintMax : UINT64_MAX;
}
// Minimal encoded size of v (0 if v cannot be encoded).
size_t int_size(IntEncoding e, uint64_t v);

enum class IntDecode : uint8_t { kOk, kNeedMore };
// Decodes one integer from the start of `in`. On kOk, `value` and `consumed` are set.
IntDecode decode_int(IntEncoding e, ByteView in, uint64_t& value, size_t& consumed);

// Sequential reader over a byte span with a sticky failure state: after the first problem every
// read returns zero, so decoders read all fields and check once. "Short" (ran out of bytes) is kept
// apart from "bad" (a malformed value) because a stream decoder asks for more bytes on the former.
class Reader {
 public:
  Reader(ByteView data, IntEncoding e) : data_(data), enc_(e) {}

  uint64_t varint();
  uint8_t u8();
  uint16_t u16();
  ByteView bytes(size_t n);
  // Length-prefixed byte string; a length above `max_len` fails with `error_if_too_long`.
  std::string lp_string(size_t max_len, const WireError& error_if_too_long);
  ByteView rest();  // everything left

  void fail(WireError e) {
    if (!error_) error_ = std::move(e);
  }
  bool ok() const { return !short_ && !error_; }
  bool is_short() const { return short_ && !error_; }
  const std::optional<WireError>& error() const { return error_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }
  IntEncoding encoding() const { return enc_; }

 private:
  bool need(size_t n);
  ByteView data_;
  size_t pos_ = 0;
  IntEncoding enc_;
  bool short_ = false;
  std::optional<WireError> error_;
};

// Appending writer. Integers too large for the encoding make the writer fail (sticky).
class Writer {
 public:
  explicit Writer(IntEncoding e) : enc_(e) {}

  void varint(uint64_t v);
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) {
    buf_.push_back(static_cast<uint8_t>(v >> 8));
    buf_.push_back(static_cast<uint8_t>(v));
  }
  void bytes(ByteView b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  void bytes(std::string_view s) { buf_.insert(buf_.end(), s.begin(), s.end()); }
  void lp_bytes(std::string_view s) {
    varint(s.size());
    bytes(s);
  }
  void lp_bytes(ByteView b) {
    varint(b.size());
    bytes(b);
  }
  void fail(WireError e) {
    if (!error_) error_ = std::move(e);
  }
  bool ok() const { return !error_; }
  const std::optional<WireError>& error() const { return error_; }
  IntEncoding encoding() const { return enc_; }
  size_t size() const { return buf_.size(); }
  Bytes& buffer() { return buf_; }
  Result<Bytes> finish() && {
    if (error_) return *error_;
    return std::move(buf_);
  }

 private:
  IntEncoding enc_;
  Bytes buf_;
  std::optional<WireError> error_;
};

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string to_string_bytes(ByteView b) { return std::string(b.begin(), b.end()); }

// Hex helpers for tests, logs and tools: "20 00 13" / "200013" both parse.
std::string to_hex(ByteView b, bool spaced = true);
std::optional<Bytes> from_hex(std::string_view hex);
std::string hex_u64(uint64_t v);  // "0x2f00"

}  // namespace moqt::wire
