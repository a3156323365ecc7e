#include "moqt/wire/codec_io.h"

#include <bit>

namespace moqt::wire {

size_t int_size(IntEncoding e, uint64_t v) {
  if (e == IntEncoding::kQuicVarint) {
    if (v < (uint64_t{1} << 6)) return 1;
    if (v < (uint64_t{1} << 14)) return 2;
    if (v < (uint64_t{1} << 30)) return 4;
    if (v <= kQuicVarintMax) return 8;
    return 0;
  }
  // vi64: n bytes carry 7n value bits for n <= 8; 9 bytes carry all 64.
  for (size_t n = 1; n <= 8; ++n) {
    if (v < (uint64_t{1} << (7 * n))) return n;
  }
  return 9;
}

IntDecode decode_int(IntEncoding e, ByteView in, uint64_t& value, size_t& consumed) {
  if (in.empty()) return IntDecode::kNeedMore;
  const uint8_t first = in[0];
  if (e == IntEncoding::kQuicVarint) {
    const size_t len = size_t{1} << (first >> 6);
    if (in.size() < len) return IntDecode::kNeedMore;
    uint64_t v = first & 0x3f;
    for (size_t i = 1; i < len; ++i) v = (v << 8) | in[i];
    value = v;
    consumed = len;
    return IntDecode::kOk;
  }
  const int ones = std::countl_one(first);  // 0..8
  const size_t len = ones == 8 ? 9 : static_cast<size_t>(ones) + 1;
  if (in.size() < len) return IntDecode::kNeedMore;
  uint64_t v = ones >= 7 ? 0 : (first & (0xffu >> (ones + 1)));
  for (size_t i = 1; i < len; ++i) v = (v << 8) | in[i];
  value = v;
  consumed = len;
  return IntDecode::kOk;
}

bool Reader::need(size_t n) {
  if (short_ || error_) return false;
  if (data_.size() - pos_ < n) {
    short_ = true;
    return false;
  }
  return true;
}

uint64_t Reader::varint() {
  if (short_ || error_) return 0;
  uint64_t v = 0;
  size_t used = 0;
  if (decode_int(enc_, data_.subspan(pos_), v, used) != IntDecode::kOk) {
    short_ = true;
    return 0;
  }
  pos_ += used;
  return v;
}

uint8_t Reader::u8() {
  if (!need(1)) return 0;
  return data_[pos_++];
}

uint16_t Reader::u16() {
  if (!need(2)) return 0;
  uint16_t v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
  pos_ += 2;
  return v;
}

ByteView Reader::bytes(size_t n) {
  if (!need(n)) return {};
  ByteView out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

std::string Reader::lp_string(size_t max_len, const WireError& error_if_too_long) {
  const uint64_t len = varint();
  if (!ok()) return {};
  if (len > max_len) {
    fail(error_if_too_long);
    return {};
  }
  return to_string_bytes(bytes(static_cast<size_t>(len)));
}

ByteView Reader::rest() {
  if (short_ || error_) return {};
  ByteView out = data_.subspan(pos_);
  pos_ = data_.size();
  return out;
}

void Writer::varint(uint64_t v) {
  const size_t n = int_size(enc_, v);
  if (n == 0) {
    fail(violation("integer " + std::to_string(v) + " exceeds the QUIC varint range"));
    return;
  }
  if (enc_ == IntEncoding::kQuicVarint) {
    static constexpr uint8_t kPrefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
    for (size_t i = 0; i < n; ++i) {
      uint8_t b = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
      if (i == 0) b |= kPrefix[n];
      buf_.push_back(b);
    }
    return;
  }
  if (n == 9) {
    buf_.push_back(0xff);
    for (int i = 7; i >= 0; --i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return;
  }
  // n-1 leading ones, a zero, then the value in the remaining bits.
  const uint8_t prefix = static_cast<uint8_t>(0xff00u >> (n - 1));
  for (size_t i = 0; i < n; ++i) {
    uint8_t b = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
    if (i == 0) b |= prefix;
    buf_.push_back(b);
  }
}

std::string to_hex(ByteView b, bool spaced) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 3);
  for (size_t i = 0; i < b.size(); ++i) {
    if (spaced && i) out.push_back(' ');
    out.push_back(kDigits[b[i] >> 4]);
    out.push_back(kDigits[b[i] & 15]);
  }
  return out;
}

std::string hex_u64(uint64_t v) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[v & 15]);
    v >>= 4;
  } while (v);
  return "0x" + out;
}

std::optional<Bytes> from_hex(std::string_view hex) {
  Bytes out;
  int half = -1;
  for (char c : hex) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c == ' ' || c == '\n' || c == '\t' || c == '|' || c == ':') continue;
    else return std::nullopt;
    if (half < 0) {
      half = d;
    } else {
      out.push_back(static_cast<uint8_t>(half << 4 | d));
      half = -1;
    }
  }
  if (half >= 0) return std::nullopt;
  return out;
}

}  // namespace moqt::wire
