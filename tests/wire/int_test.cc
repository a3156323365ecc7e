// Integer encodings: QUIC varint (RFC 9000 §16, drafts <= 16) and vi64 (draft-18 §1.4.1).
#include <gtest/gtest.h>

#include "test_util.h"

namespace moqt::wire::test {
namespace {

uint64_t decode_all(IntEncoding e, const Bytes& b) {
  uint64_t v = 0;
  size_t used = 0;
  EXPECT_EQ(decode_int(e, b, v, used), IntDecode::kOk);
  EXPECT_EQ(used, b.size());
  return v;
}

Bytes encode(IntEncoding e, uint64_t v) {
  Writer w(e);
  w.varint(v);
  EXPECT_TRUE(w.ok());
  return std::move(w).finish().value();
}

TEST(QuicVarint, Rfc9000Examples) {
  EXPECT_EQ(decode_all(IntEncoding::kQuicVarint, hex("c2 19 7c 5e ff 14 e8 8c")), 151288809941952652u);
  EXPECT_EQ(decode_all(IntEncoding::kQuicVarint, hex("9d 7f 3e 7d")), 494878333u);
  EXPECT_EQ(decode_all(IntEncoding::kQuicVarint, hex("7b bd")), 15293u);
  EXPECT_EQ(decode_all(IntEncoding::kQuicVarint, hex("25")), 37u);
  EXPECT_EQ(decode_all(IntEncoding::kQuicVarint, hex("40 25")), 37u);  // non-minimal is legal
}

TEST(QuicVarint, MinimalEncodingAtBoundaries) {
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, 63), hex("3f"));
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, 64), hex("40 40"));
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, 16383), hex("7f ff"));
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, 16384), hex("80 00 40 00"));
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, (1u << 30) - 1), hex("bf ff ff ff"));
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, 1u << 30), hex("c0 00 00 00 40 00 00 00"));
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, 0xff00000e), hex("c0 00 00 00 ff 00 00 0e"));
  EXPECT_EQ(encode(IntEncoding::kQuicVarint, kQuicVarintMax), hex("ff ff ff ff ff ff ff ff"));
}

TEST(QuicVarint, RejectsValuesAbove2To62) {
  Writer w(IntEncoding::kQuicVarint);
  w.varint(kQuicVarintMax + 1);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.error()->code, SessionError::kProtocolViolation);
}

TEST(Vi64, Draft18Examples) {
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("25")), 37u);
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("80 25")), 37u);
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("bb bd")), 15293u);
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("ed 7f 3e 7d")), 226442877u);
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("fa a1 a0 e4 03 d8")), 2893212287960u);
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("fc 89 98 ab c6 6b c0")), 151288809941952u);
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("fe fa 31 8f a8 e3 ca 11")), 70423237261249041u);
  EXPECT_EQ(decode_all(IntEncoding::kVi64, hex("ff ff ff ff ff ff ff ff ff")), UINT64_MAX);
}

TEST(Vi64, MinimalEncodingAtBoundaries) {
  EXPECT_EQ(encode(IntEncoding::kVi64, 127), hex("7f"));
  EXPECT_EQ(encode(IntEncoding::kVi64, 128), hex("80 80"));
  EXPECT_EQ(encode(IntEncoding::kVi64, 0x2F00), hex("af 00"));          // SETUP
  EXPECT_EQ(encode(IntEncoding::kVi64, 0x132B3E28), hex("f0 13 2b 3e 28"));  // padding stream
  EXPECT_EQ(encode(IntEncoding::kVi64, 15293), hex("bb bd"));
  EXPECT_EQ(encode(IntEncoding::kVi64, 226442877), hex("ed 7f 3e 7d"));
  EXPECT_EQ(encode(IntEncoding::kVi64, 2893212287960u), hex("fa a1 a0 e4 03 d8"));
  EXPECT_EQ(encode(IntEncoding::kVi64, 151288809941952u), hex("fc 89 98 ab c6 6b c0"));
  EXPECT_EQ(encode(IntEncoding::kVi64, 70423237261249041u), hex("fe fa 31 8f a8 e3 ca 11"));
  EXPECT_EQ(encode(IntEncoding::kVi64, UINT64_MAX), hex("ff ff ff ff ff ff ff ff ff"));
  EXPECT_EQ(encode(IntEncoding::kVi64, (uint64_t{1} << 56) - 1), hex("fe ff ff ff ff ff ff ff"));
  EXPECT_EQ(encode(IntEncoding::kVi64, uint64_t{1} << 56), hex("ff 01 00 00 00 00 00 00 00"));
}

TEST(Vi64, RoundTripsEveryLengthBoundary) {
  for (IntEncoding e : {IntEncoding::kQuicVarint, IntEncoding::kVi64}) {
    for (int bits = 0; bits <= 64; ++bits) {
      for (int64_t off : {-1, 0, 1}) {
        uint64_t v = bits == 64 ? UINT64_MAX : (uint64_t{1} << bits);
        v += static_cast<uint64_t>(off);
        if (v > max_int(e)) continue;
        Bytes b = encode(e, v);
        EXPECT_EQ(b.size(), int_size(e, v));
        EXPECT_EQ(decode_all(e, b), v) << "bits=" << bits << " off=" << off;
      }
    }
  }
}

TEST(Integers, TruncatedInputAsksForMore) {
  uint64_t v = 0;
  size_t used = 0;
  EXPECT_EQ(decode_int(IntEncoding::kQuicVarint, hex("c0 00 00"), v, used), IntDecode::kNeedMore);
  EXPECT_EQ(decode_int(IntEncoding::kVi64, hex("ff 00 00 00 00 00 00 00"), v, used), IntDecode::kNeedMore);
  EXPECT_EQ(decode_int(IntEncoding::kVi64, {}, v, used), IntDecode::kNeedMore);
}

TEST(Profiles, AlpnAndVersionLookups) {
  EXPECT_EQ(draft_from_alpn("moq-00"), Draft::k14);
  EXPECT_EQ(draft_from_alpn("moqt-16"), Draft::k16);
  EXPECT_EQ(draft_from_alpn("moqt-18"), Draft::k18);
  EXPECT_EQ(draft_from_alpn("h3"), std::nullopt);
  EXPECT_EQ(draft_from_version(0xff00000e), Draft::k14);
  EXPECT_EQ(draft_from_version(0xff000007), std::nullopt);
}

// Structural checks of the profile tables: codes unique, key-value parity matches encodings.
TEST(Profiles, TablesAreConsistent) {
  for (Draft d : kAllDrafts) {
    const Profile& p = profile(d);
    for (size_t i = 0; i < p.messages.size(); ++i)
      for (size_t j = i + 1; j < p.messages.size(); ++j)
        EXPECT_NE(p.messages[i].type, p.messages[j].type) << p.name << " " << p.messages[i].name;
    uint64_t prev = 0;
    for (const ParamSpec& s : p.message_params) {
      EXPECT_GT(s.type, prev) << p.name << ": parameter table must ascend (delta coding)";
      prev = s.type;
      if (p.params == ParamStyle::kKeyValue) {
        const bool structured = s.value != ParamValue::kVarint && s.value != ParamValue::kUint8;
        EXPECT_EQ(static_cast<bool>(s.type & 1), structured) << p.name << " param " << s.type;
      }
    }
  }
}

}  // namespace
}  // namespace moqt::wire::test
