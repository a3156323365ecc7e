// Malformed and hostile control input: every case returns a typed error with the draft's
// termination code; nothing crashes or allocates without bound.
#include <gtest/gtest.h>

#include "samples.h"
#include "test_util.h"

namespace moqt::wire::test {
namespace {

// Frames `payload` as a control message of `type` (16-bit length, or a forced length).
Bytes frame(Draft d, uint64_t type, const Bytes& payload, std::optional<uint16_t> length = {}) {
  Writer w(profile(d).ints);
  w.varint(type);
  w.u16(length.value_or(static_cast<uint16_t>(payload.size())));
  w.bytes(ByteView(payload));
  return std::move(w).finish().value();
}

// A payload built field by field with the draft's integer encoding.
struct P {
  explicit P(Draft d) : w(profile(d).ints) {}
  P& v(uint64_t x) { w.varint(x); return *this; }
  P& u8(uint8_t x) { w.u8(x); return *this; }
  P& s(std::string_view x) { w.lp_bytes(x); return *this; }
  P& raw(std::string_view x) { w.bytes(x); return *this; }
  P& raw(const Bytes& x) { w.bytes(ByteView(x)); return *this; }
  Bytes done() { return std::move(w).finish().value(); }
  Writer w;
};

WireError decode_error(const Bytes& bytes, Draft d) {
  ControlDecode r = decode_control(bytes, d);
  if (auto* e = std::get_if<WireError>(&r)) return *e;
  ADD_FAILURE() << "expected an error, got "
                << (std::holds_alternative<NeedMore>(r) ? std::string("need-more")
                                                        : to_string(std::get<DecodedMessage>(r).message));
  return {};
}

ControlMessage decode_ok(const Bytes& bytes, Draft d) {
  ControlDecode r = decode_control(bytes, d);
  if (auto* m = std::get_if<DecodedMessage>(&r)) return m->message;
  ADD_FAILURE() << "expected a message: "
                << (std::holds_alternative<WireError>(r) ? std::get<WireError>(r).detail : "need-more");
  return Goaway{};
}

constexpr SessionError kViolation = SessionError::kProtocolViolation;
constexpr SessionError kKvpError = SessionError::kKeyValueFormattingError;

class Malformed : public ::testing::TestWithParam<Draft> {};

TEST_P(Malformed, UnknownMessageTypeClosesAtOnce) {
  const Draft d = GetParam();
  // Only the type is present: the error must not wait for the payload.
  Writer w(profile(d).ints);
  w.varint(0x3f);
  EXPECT_EQ(decode_error(std::move(w).finish().value(), d).code, kViolation);
}

TEST_P(Malformed, LengthMismatchIsAViolation) {
  const Draft d = GetParam();
  for (const ControlMessage& m : sample_messages(d)) {
    Bytes good = encode_control(m, d).value();
    uint64_t type = 0;
    size_t tl = 0;
    ASSERT_EQ(decode_int(profile(d).ints, good, type, tl), IntDecode::kOk);
    const size_t len = good.size() - tl - 2;
    // One extra byte inside the declared length: trailing garbage.
    Bytes longer(good.begin(), good.begin() + static_cast<long>(tl));
    longer.push_back(static_cast<uint8_t>((len + 1) >> 8));
    longer.push_back(static_cast<uint8_t>(len + 1));
    longer.insert(longer.end(), good.begin() + static_cast<long>(tl) + 2, good.end());
    longer.push_back(0x00);
    // GOAWAY in -18 may legitimately end with an optional Request ID.
    if (!(std::holds_alternative<Goaway>(m) && d == Draft::k18 && !std::get<Goaway>(m).request_id)) {
      EXPECT_EQ(decode_error(longer, d).code, kViolation) << to_string(m);
    }
    // A declared length one short cuts the last field.
    if (len > 0) {
      Bytes shorter(good.begin(), good.end() - 1);
      shorter[tl] = static_cast<uint8_t>((len - 1) >> 8);
      shorter[tl + 1] = static_cast<uint8_t>(len - 1);
      ControlDecode r = decode_control(shorter, d);
      // Either an error, or (when the last field was optional-to-the-end) a different message.
      if (auto* dm = std::get_if<DecodedMessage>(&r)) EXPECT_NE(dm->message, m) << to_string(m);
      else EXPECT_TRUE(std::holds_alternative<WireError>(r)) << to_string(m);
    }
  }
}

TEST_P(Malformed, NamespaceLimits) {
  const Draft d = GetParam();
  const uint64_t subscribe = 0x03;
  auto subscribe_with_ns = [&](const std::vector<std::string>& ns, const std::string& name) {
    P p(d);
    p.v(2).v(ns.size());
    for (auto& f : ns) p.s(f);
    p.s(name);
    if (d == Draft::k14) p.u8(128).u8(0).u8(1).v(2);  // priority, order, forward, filter
    p.v(0);                                          // no parameters
    return frame(d, subscribe, p.done());
  };
  EXPECT_TRUE(std::holds_alternative<Subscribe>(decode_ok(subscribe_with_ns({"a"}, "t"), d)));
  EXPECT_EQ(decode_error(subscribe_with_ns(std::vector<std::string>(33, "x"), "t"), d).code, kViolation);
  EXPECT_TRUE(std::holds_alternative<Subscribe>(decode_ok(subscribe_with_ns(std::vector<std::string>(32, "x"), "t"), d)));
  // Full track name above 4096 bytes.
  EXPECT_EQ(decode_error(subscribe_with_ns({std::string(4000, 'n')}, std::string(97, 't')), d).code, kViolation);
  EXPECT_TRUE(std::holds_alternative<Subscribe>(decode_ok(subscribe_with_ns({std::string(4000, 'n')}, std::string(96, 't')), d)));
  // Zero fields: allowed from -18 only; empty fields: forbidden from -16.
  if (d == Draft::k18) {
    EXPECT_TRUE(std::holds_alternative<Subscribe>(decode_ok(subscribe_with_ns({}, "t"), d)));
  } else {
    EXPECT_EQ(decode_error(subscribe_with_ns({}, "t"), d).code, kViolation);
  }
  if (d == Draft::k14) {
    EXPECT_TRUE(std::holds_alternative<Subscribe>(decode_ok(subscribe_with_ns({"a", ""}, "t"), d)));
  } else {
    EXPECT_EQ(decode_error(subscribe_with_ns({"a", ""}, "t"), d).code, kViolation);
  }
  // A field count far beyond the message: rejected before any allocation.
  P huge(d);
  huge.v(2).v(uint64_t{1} << 40);
  EXPECT_EQ(decode_error(frame(d, subscribe, huge.done()), d).code, kViolation);
}

TEST_P(Malformed, ReasonPhraseAndUriLimits) {
  const Draft d = GetParam();
  const bool d18 = d == Draft::k18;
  // PUBLISH_DONE: [RequestID] Status StreamCount Reason.
  auto publish_done = [&](size_t reason_len) {
    P p(d);
    if (!d18) p.v(2);
    p.v(0).v(1).s(std::string(reason_len, 'r'));
    return frame(d, 0x0B, p.done());
  };
  EXPECT_TRUE(std::holds_alternative<PublishDone>(decode_ok(publish_done(1024), d)));
  EXPECT_EQ(decode_error(publish_done(1025), d).code, kViolation);
  auto goaway = [&](size_t uri_len) {
    P p(d);
    p.s(std::string(uri_len, 'u'));
    if (d18) p.v(0);
    return frame(d, 0x10, p.done());
  };
  EXPECT_TRUE(std::holds_alternative<Goaway>(decode_ok(goaway(8192), d)));
  EXPECT_EQ(decode_error(goaway(8193), d).code, kViolation);
  // Encoders refuse the same.
  EXPECT_FALSE(encode_control(PublishDone{0, 0, 0, std::string(1025, 'r')}, d).ok());
  EXPECT_FALSE(encode_control(Goaway{std::string(8193, 'u'), {}, {}}, d).ok());
}

// SUBSCRIBE prefix (request id, namespace, name, and the -14 fixed fields) for parameter tests.
P subscribe_prefix(Draft d) {
  P p(d);
  p.v(2).v(1).s("ns").s("track");
  if (d == Draft::k14) p.u8(128).u8(0).u8(1).v(2);
  return p;
}

TEST_P(Malformed, ParameterLengthAndCountLimits) {
  const Draft d = GetParam();
  // AUTHORIZATION TOKEN (odd type 0x03) claiming 70000 bytes.
  P p = subscribe_prefix(d);
  p.v(1).v(0x03).v(70000).raw("x");
  EXPECT_EQ(decode_error(frame(d, 0x03, p.done()), d).code, kViolation);
  // A parameter count the message cannot hold.
  P q = subscribe_prefix(d);
  q.v(1000);
  EXPECT_EQ(decode_error(frame(d, 0x03, q.done()), d).code, kViolation);
}

TEST_P(Malformed, UndecodableTokenIsKeyValueFormattingError) {
  const Draft d = GetParam();
  P tok(d);
  tok.v(9);  // alias type 9 does not exist
  P p = subscribe_prefix(d);
  p.v(1).v(0x03).s(to_string_bytes(tok.done()));
  EXPECT_EQ(decode_error(frame(d, 0x03, p.done()), d).code, kKvpError);
  P tok2(d);
  tok2.v(0).v(5).v(1);  // DELETE with bytes after its alias
  P p2 = subscribe_prefix(d);
  p2.v(1).v(0x03).s(to_string_bytes(tok2.done()));
  EXPECT_EQ(decode_error(frame(d, 0x03, p2.done()), d).code, kKvpError);
  // Setup AUTHORIZATION TOKEN option too.
  P setup(d);
  if (d == Draft::k14) setup.v(1).v(0xff00000e);
  if (d != Draft::k18) setup.v(1);
  setup.v(0x03).s(to_string_bytes(tok.done()));
  EXPECT_EQ(decode_error(frame(d, d == Draft::k18 ? 0x2F00 : 0x20, setup.done()), d).code, kKvpError);
}

TEST_P(Malformed, UnknownAndMisplacedParameters) {
  const Draft d = GetParam();
  // Unknown parameter 0x3C (even: integer value).
  P p = subscribe_prefix(d);
  p.v(1).v(0x3C);
  if (d == Draft::k18) p.v(5);
  else p.v(5);
  Bytes unknown = frame(d, 0x03, p.done());
  if (d == Draft::k14) {
    auto m = std::get<Subscribe>(decode_ok(unknown, d));
    ASSERT_EQ(m.params.unknown.size(), 1u);  // ignored but kept
    EXPECT_EQ(m.params.unknown[0].type, 0x3Cu);
  } else {
    EXPECT_EQ(decode_error(unknown, d).code, kViolation);
  }
  if (d == Draft::k14) return;
  // A known parameter in a message it is not defined for: FORWARD (0x10) in FETCH.
  P f(d);
  f.v(4).v(2).v(2).v(0);  // request id, joining fetch of request 2, joining start 0
  f.v(1).v(0x10);
  if (d == Draft::k18) f.u8(1);
  else f.v(1);
  Bytes misplaced = frame(d, 0x16, f.done());
  if (d == Draft::k16) {
    auto m = std::get<Fetch>(decode_ok(misplaced, d));  // -16: ignored
    EXPECT_FALSE(m.params.forward.has_value());
  } else {
    EXPECT_EQ(decode_error(misplaced, d).code, kViolation);  // -18 §10.2.1
  }
}

TEST_P(Malformed, DuplicateParameters) {
  const Draft d = GetParam();
  // Two DELIVERY_TIMEOUTs (0x02) are a violation; two AUTHORIZATION TOKENs are fine.
  P p = subscribe_prefix(d);
  p.v(2).v(0x02).v(10).v(d == Draft::k14 ? 0x02 : 0).v(20);
  EXPECT_EQ(decode_error(frame(d, 0x03, p.done()), d).code, kViolation);
  P tok(d);
  tok.v(3).v(0).raw("abc");
  const std::string t = to_string_bytes(tok.done());
  P q = subscribe_prefix(d);
  q.v(2).v(0x03).s(t).v(d == Draft::k14 ? 0x03 : 0).s(t);
  auto m = std::get<Subscribe>(decode_ok(frame(d, 0x03, q.done()), d));
  EXPECT_EQ(m.params.auth_tokens.size(), 2u);
}

TEST_P(Malformed, OutOfRangeFieldValues) {
  const Draft d = GetParam();
  const bool d14 = d == Draft::k14, d18 = d == Draft::k18;
  auto sub_params = [&](uint64_t type, uint64_t value, bool as_u8) {
    P p = subscribe_prefix(d);
    p.v(1).v(type);
    if (as_u8) p.u8(static_cast<uint8_t>(value));
    else p.v(value);
    return frame(d, 0x03, p.done());
  };
  if (d14) {
    // Fixed fields: Forward 2, Group Order 3, Filter Type 5.
    P fwd(d);
    fwd.v(2).v(1).s("ns").s("t").u8(1).u8(0).u8(2).v(2).v(0);
    EXPECT_EQ(decode_error(frame(d, 0x03, fwd.done()), d).code, kViolation);
    P ord(d);
    ord.v(2).v(1).s("ns").s("t").u8(1).u8(3).u8(1).v(2).v(0);
    EXPECT_EQ(decode_error(frame(d, 0x03, ord.done()), d).code, kViolation);
    P flt(d);
    flt.v(2).v(1).s("ns").s("t").u8(1).u8(0).u8(1).v(5).v(0);
    EXPECT_EQ(decode_error(frame(d, 0x03, flt.done()), d).code, kViolation);
    // SUBSCRIBE_OK: group order 0 is not allowed there, Content Exists must be 0/1.
    P ok0(d);
    ok0.v(2).v(1).v(0).u8(0).u8(0).v(0);
    EXPECT_EQ(decode_error(frame(d, 0x04, ok0.done()), d).code, kViolation);
    P ok2(d);
    ok2.v(2).v(1).v(0).u8(1).u8(2).v(0);
    EXPECT_EQ(decode_error(frame(d, 0x04, ok2.done()), d).code, kViolation);
  } else {
    EXPECT_EQ(decode_error(sub_params(0x10, 2, d18), d).code, kViolation);    // FORWARD 2
    EXPECT_EQ(decode_error(sub_params(0x22, 3, d18), d).code, kViolation);    // GROUP_ORDER 3
    EXPECT_EQ(decode_error(sub_params(0x22, 0, d18), d).code, kViolation);    // GROUP_ORDER 0
    if (!d18) {
      EXPECT_EQ(decode_error(sub_params(0x20, 256, false), d).code, kViolation);  // priority > 255
    }
    // SUBSCRIPTION_FILTER with an undefined type, and with a length that does not match.
    P bad_type(d);
    bad_type.v(5);
    P p = subscribe_prefix(d);
    p.v(1).v(0x21).s(to_string_bytes(bad_type.done()));
    EXPECT_EQ(decode_error(frame(d, 0x03, p.done()), d).code, kViolation);
    P long_filter(d);
    long_filter.v(2).v(7);  // LargestObject has no fields: 1 byte too many
    P q = subscribe_prefix(d);
    q.v(1).v(0x21).s(to_string_bytes(long_filter.done()));
    EXPECT_EQ(decode_error(frame(d, 0x03, q.done()), d).code, kViolation);
  }
  // FETCH type 4 and FETCH_OK End Of Track 2.
  P fetch(d);
  fetch.v(4);
  if (d14) fetch.u8(0).u8(0);
  fetch.v(4).v(0).v(0).v(0);
  EXPECT_EQ(decode_error(frame(d, 0x16, fetch.done()), d).code, kViolation);
  P fok(d);
  if (!d18) fok.v(4);
  if (d14) fok.u8(1);
  fok.u8(2).v(1).v(0).v(0);
  EXPECT_EQ(decode_error(frame(d, 0x18, fok.done()), d).code, kViolation);
}

TEST(Malformed18, DeltaTypeAndFilterEndOverflow) {
  const Draft d = Draft::k18;
  // Two parameters whose type deltas sum past 2^64-1.
  P p = subscribe_prefix(d);
  p.v(2).v(0x02).v(1).v(UINT64_MAX).v(1);
  EXPECT_EQ(decode_error(frame(d, 0x03, p.done()), d).code, kViolation);
  // AbsoluteRange filter with Start.Group + End Group Delta > 2^64-1.
  P f(d);
  f.v(4).v(UINT64_MAX).v(0).v(1);
  P q = subscribe_prefix(d);
  q.v(1).v(0x21).s(to_string_bytes(f.done()));
  EXPECT_EQ(decode_error(frame(d, 0x03, q.done()), d).code, kViolation);
  // Setup option type deltas overflow too (delta KVP without a count).
  P s(d);
  s.v(0x07).s("x").v(UINT64_MAX).v(0);
  EXPECT_EQ(decode_error(frame(d, 0x2F00, s.done()), d).code, kViolation);
}

TEST(Malformed16, LargestObjectWithWrongLengthIsFormattingError) {
  const Draft d = Draft::k16;
  // SUBSCRIBE_OK: Request ID, Track Alias, params: LARGEST_OBJECT (0x09) with a 3-byte Location.
  P p(d);
  p.v(2).v(1).v(1).v(0x09).s(std::string("\x01\x02\x03", 3));
  EXPECT_EQ(decode_error(frame(d, 0x04, p.done()), d).code, kKvpError);
}

TEST_P(Malformed, DuplicateSetupParameter) {
  const Draft d = GetParam();
  P p(d);
  if (d == Draft::k14) p.v(1).v(0xff00000e);
  if (d != Draft::k18) p.v(2);
  p.v(0x01).s("/a").v(d == Draft::k14 ? 0x01 : 0).s("/b");
  EXPECT_EQ(decode_error(frame(d, d == Draft::k18 ? 0x2F00 : 0x20, p.done()), d).code, kViolation);
}

TEST_P(Malformed, ParserErrorIsSticky) {
  const Draft d = GetParam();
  ControlStreamParser parser(d);
  Writer w(profile(d).ints);
  w.varint(0x3f);
  w.u16(0);
  parser.push(std::move(w).finish().value());
  auto r = parser.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->ok());
  Bytes good = encode_control(sample_messages(d)[0], d).value();
  parser.push(good);
  r = parser.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->ok());
}

TEST_P(Malformed, EncoderRefusesWhatTheDraftCannotCarry) {
  const Draft d = GetParam();
  Subscribe s;
  s.track = {{"ns"}, "t"};
  s.params.fill_timeout = 10;  // FETCH-only, and only in -18
  EXPECT_FALSE(encode_control(s, d).ok());
  Subscribe many;
  many.track = {std::vector<std::string>(33, "x"), "t"};
  EXPECT_FALSE(encode_control(many, d).ok());
  if (d != Draft::k18) {
    EXPECT_FALSE(encode_control(wire::Setup{}, d).ok());
    Subscribe big;
    big.request_id = kQuicVarintMax + 1;
    big.track = {{"ns"}, "t"};
    EXPECT_FALSE(encode_control(big, d).ok());
  } else {
    EXPECT_FALSE(encode_control(MaxRequestId{1}, d).ok());
    EXPECT_FALSE(encode_control(ClientSetup{}, d).ok());
  }
  // A message over 65535 bytes cannot be framed.
  PublishNamespace pn;
  pn.ns = {"ns"};
  for (int i = 0; i < 40; ++i) pn.params.auth_tokens.push_back(AuthToken{TokenAliasType::kUseValue, 0, 0, std::string(2000, 'k')});
  EXPECT_FALSE(encode_control(pn, d).ok());
}

INSTANTIATE_TEST_SUITE_P(AllDrafts, Malformed, ::testing::ValuesIn(kAllDrafts),
                         [](const auto& info) { return std::string(profile(info.param).name).substr(6); });

}  // namespace
}  // namespace moqt::wire::test
