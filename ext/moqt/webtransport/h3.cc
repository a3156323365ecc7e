#include "moqt/webtransport/h3.h"

#include <nghttp3/nghttp3.h>

#include <cstring>

namespace moqt::webtransport {

void put_varint(Bytes& out, uint64_t v) {
  if (v < 64) {
    out.push_back(uint8_t(v));
  } else if (v < 16384) {
    out.push_back(uint8_t(0x40 | (v >> 8)));
    out.push_back(uint8_t(v));
  } else if (v < (uint64_t{1} << 30)) {
    for (int i = 3; i >= 0; --i) out.push_back(uint8_t((v >> (8 * i)) | (i == 3 ? 0x80 : 0)));
  } else {
    for (int i = 7; i >= 0; --i) out.push_back(uint8_t((v >> (8 * i)) | (i == 7 ? 0xc0 : 0)));
  }
}

std::optional<uint64_t> get_varint(ByteView in, size_t& pos) {
  if (pos >= in.size()) return std::nullopt;
  const size_t len = size_t{1} << (in[pos] >> 6);
  if (in.size() - pos < len) return std::nullopt;
  uint64_t v = in[pos] & 0x3f;
  for (size_t i = 1; i < len; ++i) v = (v << 8) | in[pos + i];
  pos += len;
  return v;
}

void put_frame(Bytes& out, uint64_t type, ByteView payload) {
  put_varint(out, type);
  put_varint(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

Settings webtransport_settings(bool server) {
  Settings s = {
      {h3::kSettingQpackMaxTableCapacity, 0},  // no dynamic table: no QPACK state to keep
      {h3::kSettingQpackBlockedStreams, 0},
      {h3::kSettingMaxFieldSectionSize, 16384},
      {h3::kSettingH3Datagram, 1},
      {h3::kSettingH3DatagramLegacy, 1},
      {h3::kSettingWtEnabled, 1},
      {h3::kSettingWtMaxSessions, 1},  // without WT flow control: one session per connection
      {h3::kSettingWtMaxSessionsLegacy, 1},
      {h3::kSettingEnableWebtransportLegacy, 1},
  };
  if (server) s.insert(s.begin() + 3, {h3::kSettingEnableConnectProtocol, 1});
  return s;
}

Bytes encode_settings(const Settings& s) {
  Bytes out;
  for (auto& [id, v] : s) {
    put_varint(out, id);
    put_varint(out, v);
  }
  return out;
}

std::optional<Settings> decode_settings(ByteView payload) {
  Settings s;
  size_t pos = 0;
  while (pos < payload.size()) {
    auto id = get_varint(payload, pos);
    if (!id) return std::nullopt;
    auto v = get_varint(payload, pos);
    if (!v) return std::nullopt;
    s.emplace_back(*id, *v);
  }
  return s;
}

std::optional<Frame> FrameReader::next(bool* error) {
  ByteView in(buf_);
  size_t pos = pos_;
  auto type = get_varint(in, pos);
  if (!type) return std::nullopt;
  auto len = get_varint(in, pos);
  if (!len) return std::nullopt;
  if (*len > max_) {
    *error = true;
    return std::nullopt;
  }
  if (in.size() - pos < *len) return std::nullopt;
  Frame f{*type, Bytes(in.begin() + long(pos), in.begin() + long(pos + *len))};
  pos_ = pos + size_t(*len);
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096) {
    buf_.erase(buf_.begin(), buf_.begin() + long(pos_));
    pos_ = 0;
  }
  return f;
}

void put_capsule(Bytes& out, uint64_t type, ByteView value) {
  put_varint(out, type);
  put_varint(out, value.size());
  out.insert(out.end(), value.begin(), value.end());
}

std::optional<Capsule> get_capsule(Bytes& buf, size_t max_value, bool* error) {
  size_t pos = 0;
  auto type = get_varint(buf, pos);
  if (!type) return std::nullopt;
  auto len = get_varint(buf, pos);
  if (!len) return std::nullopt;
  if (*len > max_value) {
    *error = true;
    return std::nullopt;
  }
  if (buf.size() - pos < *len) return std::nullopt;
  Capsule c{*type, Bytes(buf.begin() + long(pos), buf.begin() + long(pos + *len))};
  buf.erase(buf.begin(), buf.begin() + long(pos + *len));
  return c;
}

Bytes close_session_value(uint32_t code, const std::string& message) {
  const size_t n = std::min<size_t>(message.size(), 1024);
  Bytes v(4 + n);
  v[0] = uint8_t(code >> 24);
  v[1] = uint8_t(code >> 16);
  v[2] = uint8_t(code >> 8);
  v[3] = uint8_t(code);
  if (n) memcpy(v.data() + 4, message.data(), n);
  return v;
}

namespace {

// RFC 7541 §5.1 integer with an N-bit prefix; `first` holds the bits above the prefix.
void put_prefixed(Bytes& out, uint8_t first, int bits, uint64_t v) {
  const uint64_t max = (uint64_t{1} << bits) - 1;
  if (v < max) {
    out.push_back(uint8_t(first | v));
    return;
  }
  out.push_back(uint8_t(first | max));
  v -= max;
  while (v >= 128) {
    out.push_back(uint8_t(0x80 | (v & 0x7f)));
    v >>= 7;
  }
  out.push_back(uint8_t(v));
}

struct StaticEntry {
  uint8_t index;
  const char* name;
  const char* value;
};
// The RFC 9204 Appendix A entries we emit.
constexpr StaticEntry kStatic[] = {
    {0, ":authority", ""},     {1, ":path", "/"},           {15, ":method", "CONNECT"}, {23, ":scheme", "https"},
    {24, ":status", "103"},    {25, ":status", "200"},      {27, ":status", "404"},     {28, ":status", "503"},
    {67, ":status", "400"},    {68, ":status", "403"},      {71, ":status", "500"},     {90, "origin", ""},
};

}  // namespace

Bytes qpack_encode(const Headers& headers) {
  Bytes out{0x00, 0x00};  // Required Insert Count 0, Delta Base 0
  for (const auto& [name, value] : headers) {
    const StaticEntry* exact = nullptr;
    const StaticEntry* by_name = nullptr;
    for (const StaticEntry& e : kStatic) {
      if (name != e.name) continue;
      if (value == e.value) exact = &e;
      if (!by_name) by_name = &e;
    }
    if (exact) {
      put_prefixed(out, 0xc0, 6, exact->index);  // indexed field line, static (T=1)
      continue;
    }
    if (by_name) {
      put_prefixed(out, 0x50, 4, by_name->index);  // literal with static name reference
    } else {
      put_prefixed(out, 0x20, 3, name.size());  // literal with literal name, no Huffman
      out.insert(out.end(), name.begin(), name.end());
    }
    put_prefixed(out, 0x00, 7, value.size());
    out.insert(out.end(), value.begin(), value.end());
  }
  return out;
}

std::optional<Headers> qpack_decode(ByteView block, int64_t stream_id) {
  const nghttp3_mem* mem = nghttp3_mem_default();
  nghttp3_qpack_decoder* dec = nullptr;
  nghttp3_qpack_stream_context* sctx = nullptr;
  if (nghttp3_qpack_decoder_new(&dec, 0, 0, mem) != 0) return std::nullopt;
  if (nghttp3_qpack_stream_context_new(&sctx, stream_id, mem) != 0) {
    nghttp3_qpack_decoder_del(dec);
    return std::nullopt;
  }
  Headers out;
  bool ok = false;
  const uint8_t* p = block.data();
  size_t left = block.size();
  for (;;) {
    nghttp3_qpack_nv nv;
    uint8_t flags = 0;
    const nghttp3_ssize n = nghttp3_qpack_decoder_read_request(dec, sctx, &nv, &flags, p, left, 1);
    if (n < 0) break;
    p += n;
    left -= size_t(n);
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT) {
      nghttp3_vec nm = nghttp3_rcbuf_get_buf(nv.name), vl = nghttp3_rcbuf_get_buf(nv.value);
      out.emplace_back(std::string(reinterpret_cast<char*>(nm.base), nm.len),
                       std::string(reinterpret_cast<char*>(vl.base), vl.len));
      nghttp3_rcbuf_decref(nv.name);
      nghttp3_rcbuf_decref(nv.value);
      if (out.size() > 128) break;  // bound a hostile header list
    }
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_FINAL) {
      ok = left == 0;
      break;
    }
    if (flags & NGHTTP3_QPACK_DECODE_FLAG_BLOCKED) break;  // dynamic table reference: we allowed none
    if (n == 0 && !(flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT)) break;
  }
  nghttp3_qpack_stream_context_del(sctx);
  nghttp3_qpack_decoder_del(dec);
  if (!ok) return std::nullopt;
  return out;
}

namespace {
constexpr uint64_t kWtFirst = 0x52e4a40fa8db;
constexpr uint64_t kWtLast = 0x52e5ac983162;
}  // namespace

uint64_t wt_to_h3_error(uint32_t n) { return kWtFirst + n + n / 0x1e; }

std::optional<uint32_t> h3_to_wt_error(uint64_t h) {
  if (h < kWtFirst || h > kWtLast) return std::nullopt;
  const uint64_t s = h - kWtFirst;
  if (s % 0x1f == 0x1e) return std::nullopt;  // reserved (GREASE) codepoints
  return uint32_t(s - s / 0x1f);
}

std::optional<std::string> parse_sf_string(const std::string& raw) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < raw.size() && (raw[i] == ' ' || raw[i] == '\t')) ++i;
  };
  skip_ws();
  if (i >= raw.size()) return std::nullopt;
  std::string out;
  if (raw[i] == '"') {
    ++i;
    for (; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) {
        out.push_back(raw[++i]);
      } else if (raw[i] == '"') {
        ++i;
        break;
      } else {
        out.push_back(raw[i]);
      }
    }
  } else {  // lenient: a bare token
    while (i < raw.size() && raw[i] != ';' && raw[i] != ',' && raw[i] != ' ') out.push_back(raw[i++]);
  }
  return out.empty() ? std::nullopt : std::optional<std::string>(out);
}

std::vector<std::string> parse_sf_string_list(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '"' && (i == 0 || v[i - 1] != '\\')) quoted = !quoted;
    if (c == ',' && !quoted) {
      if (auto s = parse_sf_string(cur)) out.push_back(*s);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (auto s = parse_sf_string(cur)) out.push_back(*s);
  return out;
}

std::string sf_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace moqt::webtransport
