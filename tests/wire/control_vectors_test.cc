// Hand-built control message vectors for draft-ietf-moq-transport-14, -16 and -18.
//
// Every vector below was assembled byte by byte from the message diagrams of the draft text
// (shared/reference/draft-ietf-moq-transport-NN.md beside the checkout), NOT produced by running our encoder.
// Each vector names the draft section it follows and comments every field. For each one we check
//   (1) decode_control(bytes, draft) yields exactly the hand-built expected struct and consumes
//       every byte, and
//   (2) encode_control(expected, draft) reproduces exactly the same bytes
// unless the vector is marked "decode only" (non-minimal integers or stale type codes: the
// encoder always writes the shortest integer form and the current type code).
//
// Integer encodings:
//   -14/-16: QUIC varint (RFC 9000 §16): 00xxxxxx = 1 byte, 01.. = 2, 10.. = 4, 11.. = 8 bytes.
//   -18:     vi64 (-18 §1.4.1): the number of leading 1-bits of the first byte is the number of
//            extra bytes: 0xxxxxxx = 1 byte (0-127), 10xxxxxx = 2 bytes, 110xxxxx = 3, ...,
//            11111111 = 9 bytes (a plain 64-bit value follows).
// Message Length is always a fixed 16-bit big-endian field (-14 §9, -16 §9, -18 §10).
//
// Frequently used byte strings:
//   "live" = 6C 69 76 65     "video" = 76 69 64 65 6F   "audio" = 61 75 64 69 6F
//   "meet" = 6D 65 65 74     "room1" = 72 6F 6F 6D 31   "/moq"  = 2F 6D 6F 71
//   "abc"  = 61 62 63        "nope"  = 6E 6F 70 65      "bye"   = 62 79 65
//   "moq-gst" = 6D 6F 71 2D 67 73 74                     "x.io"  = 78 2E 69 6F
//   "moqt://b.io" = 6D 6F 71 74 3A 2F 2F 62 2E 69 6F (11 bytes)
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "test_util.h"

namespace moqt::wire::test {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

std::string describe(const ControlDecode& d) {
  if (std::holds_alternative<NeedMore>(d)) return "NeedMore";
  if (auto* e = std::get_if<WireError>(&d)) return std::string("error ") + to_string(e->code) + ": " + e->detail;
  return "message " + to_string(std::get<DecodedMessage>(d).message);
}

// Self-check of the hand-computed frame: the 16-bit Length must equal the payload size.
void expect_frame_length_consistent(const Bytes& bytes, Draft d) {
  uint64_t type = 0;
  size_t type_len = 0;
  ASSERT_EQ(decode_int(profile(d).ints, bytes, type, type_len), IntDecode::kOk) << "vector has no type";
  ASSERT_GE(bytes.size(), type_len + 2) << "vector has no length";
  const size_t len = size_t{bytes[type_len]} << 8 | bytes[type_len + 1];
  EXPECT_EQ(len, bytes.size() - type_len - 2) << "hand-computed Length field does not match the payload";
}

void expect_decodes(const Bytes& bytes, Draft d, const ControlMessage& expected) {
  expect_frame_length_consistent(bytes, d);
  const ControlDecode dec = decode_control(bytes, d);
  ASSERT_TRUE(std::holds_alternative<DecodedMessage>(dec)) << describe(dec);
  const auto& dm = std::get<DecodedMessage>(dec);
  EXPECT_EQ(dm.consumed, bytes.size());
  EXPECT_EQ(dm.message, expected) << "decoded:  " << to_string(dm.message) << "\nexpected: " << to_string(expected);
}

void expect_encodes(const Bytes& bytes, Draft d, const ControlMessage& expected) {
  const Result<Bytes> enc = encode_control(expected, d);
  ASSERT_TRUE(enc.ok()) << "encode failed: " << enc.error().detail;
  EXPECT_EQ(to_hex(*enc), to_hex(bytes)) << "encoder output (left) differs from the vector (right)";
}

// Both directions.
// (Variadic so that a braced initializer with commas can be passed as the expected message.)
#define EXPECT_VECTOR(draft, bytes, ...)              \
  do {                                                \
    SCOPED_TRACE("vector " #bytes);                   \
    const ControlMessage expected_msg = __VA_ARGS__;  \
    expect_decodes(bytes, draft, expected_msg);       \
    expect_encodes(bytes, draft, expected_msg);       \
  } while (0)

// Decode direction only (non-minimal encodings, stale codes).
#define EXPECT_DECODE_ONLY(draft, bytes, ...)         \
  do {                                                \
    SCOPED_TRACE("vector " #bytes);                   \
    const ControlMessage expected_msg = __VA_ARGS__;  \
    expect_decodes(bytes, draft, expected_msg);       \
  } while (0)

void expect_rejected(const Bytes& bytes, Draft d) {
  const ControlDecode dec = decode_control(bytes, d);
  ASSERT_TRUE(std::holds_alternative<WireError>(dec)) << describe(dec);
  EXPECT_EQ(std::get<WireError>(dec).code, SessionError::kProtocolViolation) << describe(dec);
}

void expect_encode_refused(const ControlMessage& m, Draft d) {
  const Result<Bytes> enc = encode_control(m, d);
  ASSERT_FALSE(enc.ok()) << to_string(m) << " encoded in " << profile(d).name << " as " << to_hex(*enc);
  EXPECT_EQ(enc.error().code, SessionError::kProtocolViolation);
}

AuthToken use_value(uint64_t token_type, std::string value) {
  return AuthToken{TokenAliasType::kUseValue, 0, token_type, std::move(value)};
}
AuthToken register_token(uint64_t alias, uint64_t token_type, std::string value) {
  return AuthToken{TokenAliasType::kRegister, alias, token_type, std::move(value)};
}
AuthToken use_alias(uint64_t alias) { return AuthToken{TokenAliasType::kUseAlias, alias, 0, {}}; }

SubscriptionFilter next_group_start() { return {FilterType::kNextGroupStart, {}, std::nullopt}; }
SubscriptionFilter largest_object() { return {FilterType::kLargestObject, {}, std::nullopt}; }
SubscriptionFilter absolute_start(uint64_t g, uint64_t o) { return {FilterType::kAbsoluteStart, {g, o}, std::nullopt}; }
SubscriptionFilter absolute_range(uint64_t g, uint64_t o, uint64_t end_group) {
  return {FilterType::kAbsoluteRange, {g, o}, end_group};
}

// gtest's ::testing::Test declares a private Setup(); name the -18 message unambiguously.
using SetupMessage = ::moqt::wire::Setup;

const FullTrackName kLiveVideo{{"live"}, "video"};
const TrackNamespace kLiveMeet{"live", "meet"};

// =============================================================================================
// draft-14: QUIC varints, 16-bit Length, ALPN moq-00, versions in CLIENT_SETUP/SERVER_SETUP,
// Key-Value-Pair parameters with plain (not delta-coded) types (-14 §1.4.2, §9.2).
// =============================================================================================

TEST(Draft14Vectors, ClientSetupNotesExample) {
  // -14 §9.3 (example from moqt-notes §3.2): version 0xff00000e, PATH "/moq", MAX_REQUEST_ID 100.
  // 100 > 63 needs the 2-byte QUIC form 40 64, and 0xff00000e > 2^30-1 needs the 8-byte form, so
  // this example is already minimal and the encoder must reproduce it byte for byte.
  const Bytes bytes = hex(
      "20"                       // type CLIENT_SETUP (0x20)
      "00 13"                    // length 19
      "01"                       // Number of Supported Versions 1
      "C0 00 00 00 FF 00 00 0E"  // Supported Version 0xff00000e (8-byte varint)
      "02"                       // Number of Parameters 2
      "01 04 2F 6D 6F 71"        // PATH (0x01, odd: length 4) "/moq"
      "02 40 64");               // MAX_REQUEST_ID (0x02, even: varint) 100
  ClientSetup m;
  m.versions = {0xff00000e};
  m.params.path = "/moq";
  m.params.max_request_id = 100;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, ClientSetupAllParameters) {
  // -14 §9.3, §9.3.1 (versions), §9.3.2 (setup parameters), §9.2.1.1 (Token structure).
  // Draft ambiguity: -14 §9.3.2.6 gives MOQT_IMPLEMENTATION the type 0x05, which collides with
  // AUTHORITY (0x05, §9.3.2.1). -15 moved it to 0x07 and every draft after uses 0x07; the codec
  // (and this vector) use 0x07 in -14 too, and read 0x05 as AUTHORITY.
  const Bytes bytes = hex(
      "20"                          // type CLIENT_SETUP
      "00 34"                       // length 52
      "02"                          // Number of Supported Versions 2
      "C0 00 00 00 FF 00 00 0E"     // 0xff00000e (draft-14)
      "C0 00 00 00 FF 00 00 0D"     // 0xff00000d (draft-13)
      "06"                          // Number of Parameters 6
      "01 04 2F 6D 6F 71"           // PATH (0x01) length 4 "/moq"
      "02 40 64"                    // MAX_REQUEST_ID (0x02) 100
      "03 05"                       // AUTHORIZATION TOKEN (0x03) length 5
      "   03"                       //   Alias Type USE_VALUE (0x3)
      "   00"                       //   Token Type 0 (out-of-band)
      "   61 62 63"                 //   Token Value "abc"
      "04 41 00"                    // MAX_AUTH_TOKEN_CACHE_SIZE (0x04) 256 (2-byte varint)
      "05 04 78 2E 69 6F"           // AUTHORITY (0x05) length 4 "x.io"
      "07 07 6D 6F 71 2D 67 73 74");  // MOQT_IMPLEMENTATION (0x07) length 7 "moq-gst"
  ClientSetup m;
  m.versions = {0xff00000e, 0xff00000d};
  m.params.path = "/moq";
  m.params.authority = "x.io";
  m.params.max_request_id = 100;
  m.params.max_auth_token_cache_size = 256;
  m.params.implementation = "moq-gst";
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, ServerSetup) {
  // -14 §9.3: Selected Version, then parameters. Unknown setup parameters are ignored (kept).
  const Bytes bytes = hex(
      "21"                       // type SERVER_SETUP (0x21)
      "00 12"                    // length 18
      "C0 00 00 00 FF 00 00 0E"  // Selected Version 0xff00000e
      "03"                       // Number of Parameters 3
      "02 0A"                    // MAX_REQUEST_ID (0x02) 10
      "07 03 73 72 76"           // MOQT_IMPLEMENTATION (0x07) length 3 "srv"
      "3C 05");                  // unknown even parameter 0x3C = 5 (ignored, kept)
  ServerSetup m;
  m.selected_version = 0xff00000e;
  m.params.max_request_id = 10;
  m.params.implementation = "srv";
  m.params.unknown = {KeyValuePair::integer(0x3C, 5)};
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, Goaway) {
  // -14 §9.4: New Session URI Length (i), New Session URI (..).
  const Bytes with_uri = hex(
      "10"                                   // type GOAWAY (0x10)
      "00 0C"                                // length 12
      "0B"                                   // New Session URI Length 11
      "6D 6F 71 74 3A 2F 2F 62 2E 69 6F");   // "moqt://b.io"
  EXPECT_VECTOR(Draft::k14, with_uri, Goaway{.new_session_uri = "moqt://b.io"});

  const Bytes empty_uri = hex(
      "10"      // type GOAWAY
      "00 01"   // length 1
      "00");    // New Session URI Length 0 (reuse the current URI)
  EXPECT_VECTOR(Draft::k14, empty_uri, Goaway{});
}

TEST(Draft14Vectors, MaxRequestId) {
  // -14 §9.5: Request ID (i).
  const Bytes bytes = hex(
      "15"       // type MAX_REQUEST_ID (0x15)
      "00 02"    // length 2
      "40 C8");  // Request ID 200 (2-byte varint)
  EXPECT_VECTOR(Draft::k14, bytes, MaxRequestId{200});

  // Decode only: 5 in the non-minimal 2-byte form. -14 §1.4 says encoders SHOULD use the shortest
  // form, so receivers accept longer ones; our encoder writes the minimal "05".
  const Bytes non_minimal = hex(
      "15"       // type MAX_REQUEST_ID
      "00 02"    // length 2
      "40 05");  // Request ID 5, non-minimal 2-byte varint
  EXPECT_DECODE_ONLY(Draft::k14, non_minimal, MaxRequestId{5});
}

TEST(Draft14Vectors, RequestsBlocked) {
  // -14 §9.6: Maximum Request ID (i).
  const Bytes bytes = hex(
      "1A"      // type REQUESTS_BLOCKED (0x1A)
      "00 01"   // length 1
      "20");    // Maximum Request ID 32
  EXPECT_VECTOR(Draft::k14, bytes, RequestsBlocked{32});
}

TEST(Draft14Vectors, SubscribeNextGroupStart) {
  // -14 §9.7: Request ID, Track Namespace (tuple), Track Name, Subscriber Priority (8),
  // Group Order (8), Forward (8), Filter Type (i), [Start], [End Group], Parameters.
  const Bytes bytes = hex(
      "03"                  // type SUBSCRIBE (0x3)
      "00 12"               // length 18
      "00"                  // Request ID 0
      "01 04 6C 69 76 65"   // Track Namespace: 1 field, length 4 "live"
      "05 76 69 64 65 6F"   // Track Name length 5 "video"
      "80"                  // Subscriber Priority 128
      "00"                  // Group Order 0 (use the publisher's)
      "01"                  // Forward 1
      "01"                  // Filter Type NextGroupStart (0x1): no Start, no End
      "00");                // Number of Parameters 0
  Subscribe m;
  m.request_id = 0;
  m.track = kLiveVideo;
  m.params.subscriber_priority = 128;
  m.params.group_order = GroupOrder::kPublisher;
  m.params.forward = true;
  m.params.filter = next_group_start();
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, SubscribeLargestObjectWithParameters) {
  // -14 §9.7 with DELIVERY_TIMEOUT (§9.2.1.2) and AUTHORIZATION TOKEN (§9.2.1.1) parameters.
  const Bytes bytes = hex(
      "03"                              // type SUBSCRIBE
      "00 21"                           // length 33
      "02"                              // Request ID 2
      "02 04 6C 69 76 65 04 6D 65 65 74"  // Track Namespace: 2 fields "live", "meet"
      "05 61 75 64 69 6F"               // Track Name "audio"
      "0A"                              // Subscriber Priority 10
      "01"                              // Group Order Ascending
      "00"                              // Forward 0
      "02"                              // Filter Type LargestObject (0x2)
      "02"                              // Number of Parameters 2
      "02 53 88"                        // DELIVERY_TIMEOUT (0x02, even) 5000 ms
      "03 05 03 00 61 62 63");          // AUTHORIZATION TOKEN (0x03, odd) len 5: USE_VALUE type 0 "abc"
  Subscribe m;
  m.request_id = 2;
  m.track = {kLiveMeet, "audio"};
  m.params.delivery_timeout = 5000;
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.forward = false;
  m.params.subscriber_priority = 10;
  m.params.filter = largest_object();
  m.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, SubscribeAbsoluteStart) {
  // -14 §9.7, Filter Type AbsoluteStart: Start Location present, no End Group.
  const Bytes bytes = hex(
      "03"                  // type SUBSCRIBE
      "00 14"               // length 20
      "04"                  // Request ID 4
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "C0"                  // Subscriber Priority 192
      "02"                  // Group Order Descending
      "01"                  // Forward 1
      "03"                  // Filter Type AbsoluteStart (0x3)
      "0A 00"               // Start Location {10, 0}
      "00");                // Number of Parameters 0
  Subscribe m;
  m.request_id = 4;
  m.track = kLiveVideo;
  m.params.forward = true;
  m.params.subscriber_priority = 192;
  m.params.filter = absolute_start(10, 0);
  m.params.group_order = GroupOrder::kDescending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, SubscribeAbsoluteRangeWithTokensAndUnknownParameter) {
  // -14 §9.7, Filter Type AbsoluteRange: Start Location and End Group (literal, inclusive).
  // AUTHORIZATION TOKEN may repeat (§9.2.1.1); unknown parameters are ignored (§9.2) and kept.
  const Bytes bytes = hex(
      "03"                        // type SUBSCRIBE
      "00 26"                     // length 38
      "06"                        // Request ID 6
      "01 04 6C 69 76 65"         // Track Namespace ("live")
      "05 76 69 64 65 6F"         // Track Name "video"
      "00"                        // Subscriber Priority 0
      "01"                        // Group Order Ascending
      "01"                        // Forward 1
      "04"                        // Filter Type AbsoluteRange (0x4)
      "40 64 05"                  // Start Location {100, 5}
      "40 C8"                     // End Group 200
      "03"                        // Number of Parameters 3
      "03 06 01 01 02 74 6F 6B"   // AUTHORIZATION TOKEN len 6: REGISTER, alias 1, type 2, "tok"
      "03 02 02 07"               // AUTHORIZATION TOKEN len 2: USE_ALIAS, alias 7
      "0D 01 7A");                // unknown odd parameter 0x0D, length 1, "z"
  Subscribe m;
  m.request_id = 6;
  m.track = kLiveVideo;
  m.params.auth_tokens = {register_token(1, 2, "tok"), use_alias(7)};
  m.params.forward = true;
  m.params.subscriber_priority = 0;
  m.params.filter = absolute_range(100, 5, 200);
  m.params.group_order = GroupOrder::kAscending;
  m.params.unknown = {KeyValuePair::bytes(0x0D, "z")};
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, SubscribeOkContentExists0) {
  // -14 §9.8: Request ID, Track Alias, Expires (i), Group Order (8), Content Exists (8),
  // [Largest Location], Parameters.
  const Bytes bytes = hex(
      "04"      // type SUBSCRIBE_OK (0x4)
      "00 06"   // length 6
      "00"      // Request ID 0
      "05"      // Track Alias 5
      "00"      // Expires 0 (does not expire)
      "01"      // Group Order Ascending
      "00"      // Content Exists 0: no Largest Location
      "00");    // Number of Parameters 0
  SubscribeOk m;
  m.request_id = 0;
  m.track_alias = 5;
  m.params.expires = 0;
  m.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, SubscribeOkContentExists1) {
  // -14 §9.8 with Largest Location, DELIVERY_TIMEOUT and MAX_CACHE_DURATION (§9.2.1.3).
  const Bytes bytes = hex(
      "04"             // type SUBSCRIBE_OK
      "00 13"          // length 19
      "02"             // Request ID 2
      "06"             // Track Alias 6
      "80 00 75 30"    // Expires 30000 ms (4-byte varint)
      "02"             // Group Order Descending
      "01"             // Content Exists 1
      "07 03"          // Largest Location {7, 3}
      "02"             // Number of Parameters 2
      "02 47 D0"       // DELIVERY_TIMEOUT (0x02) 2000
      "04 80 00 EA 60");  // MAX_CACHE_DURATION (0x04) 60000
  SubscribeOk m;
  m.request_id = 2;
  m.track_alias = 6;
  m.params.delivery_timeout = 2000;
  m.params.max_cache_duration = 60000;
  m.params.expires = 30000;
  m.params.largest_object = Location{7, 3};
  m.params.group_order = GroupOrder::kDescending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, SubscribeError) {
  // -14 §9.9: Request ID, Error Code, Error Reason (Reason Phrase, §1.4.3).
  const Bytes bytes = hex(
      "05"                // type SUBSCRIBE_ERROR (0x5)
      "00 07"             // length 7
      "02"                // Request ID 2
      "04"                // Error Code TRACK_DOES_NOT_EXIST (0x4)
      "04 6E 6F 70 65");  // Reason Phrase length 4 "nope"
  EXPECT_VECTOR(Draft::k14, bytes,
                (RequestError{.of = RequestKind::kSubscribe, .request_id = 2, .error_code = 4, .reason = "nope"}));
}

TEST(Draft14Vectors, SubscribeUpdate) {
  // -14 §9.10: Request ID, Subscription Request ID, Start Location, End Group (i) = last group
  // PLUS 1 (0 = open-ended), Subscriber Priority (8), Forward (8), Parameters.
  const Bytes closed = hex(
      "02"        // type SUBSCRIBE_UPDATE (0x2)
      "00 0B"     // length 11
      "08"        // Request ID 8
      "02"        // Subscription Request ID 2
      "0A 00"     // Start Location {10, 0}
      "15"        // End Group 21 = group 20 plus 1
      "40"        // Subscriber Priority 64
      "01"        // Forward 1
      "01"        // Number of Parameters 1
      "02 43 E8");  // DELIVERY_TIMEOUT 1000
  RequestUpdate a;
  a.request_id = 8;
  a.existing_request_id = 2;
  a.params.delivery_timeout = 1000;
  a.params.forward = true;
  a.params.subscriber_priority = 64;
  a.params.filter = absolute_range(10, 0, 20);
  EXPECT_VECTOR(Draft::k14, closed, a);

  const Bytes open = hex(
      "02"        // type SUBSCRIBE_UPDATE
      "00 08"     // length 8
      "0A"        // Request ID 10
      "02"        // Subscription Request ID 2
      "0C 01"     // Start Location {12, 1}
      "00"        // End Group 0: open-ended
      "80"        // Subscriber Priority 128
      "00"        // Forward 0
      "00");      // Number of Parameters 0
  RequestUpdate b;
  b.request_id = 10;
  b.existing_request_id = 2;
  b.params.forward = false;
  b.params.subscriber_priority = 128;
  b.params.filter = absolute_start(12, 1);
  EXPECT_VECTOR(Draft::k14, open, b);

  const Bytes end_group_zero = hex(
      "02"        // type SUBSCRIBE_UPDATE
      "00 08"     // length 8
      "0C"        // Request ID 12
      "02"        // Subscription Request ID 2
      "00 00"     // Start Location {0, 0}
      "01"        // End Group 1 = group 0 plus 1 (closed range ending in group 0)
      "80"        // Subscriber Priority 128
      "01"        // Forward 1
      "00");      // Number of Parameters 0
  RequestUpdate c;
  c.request_id = 12;
  c.existing_request_id = 2;
  c.params.forward = true;
  c.params.subscriber_priority = 128;
  c.params.filter = absolute_range(0, 0, 0);
  EXPECT_VECTOR(Draft::k14, end_group_zero, c);
}

TEST(Draft14Vectors, Unsubscribe) {
  // -14 §9.11: Request ID.
  const Bytes bytes = hex(
      "0A"      // type UNSUBSCRIBE (0xA)
      "00 01"   // length 1
      "02");    // Request ID 2
  EXPECT_VECTOR(Draft::k14, bytes, Unsubscribe{2});
}

TEST(Draft14Vectors, PublishDone) {
  // -14 §9.12: Request ID, Status Code, Stream Count, Error Reason.
  const Bytes bytes = hex(
      "0B"             // type PUBLISH_DONE (0xB)
      "00 07"          // length 7
      "02"             // Request ID 2
      "02"             // Status Code TRACK_ENDED (0x2)
      "03"             // Stream Count 3
      "03 62 79 65");  // Reason Phrase "bye"
  EXPECT_VECTOR(Draft::k14, bytes, (PublishDone{.request_id = 2, .status_code = 2, .stream_count = 3, .reason = "bye"}));

  const Bytes unknown_count = hex(
      "0B"                         // type PUBLISH_DONE
      "00 0B"                      // length 11
      "04"                         // Request ID 4
      "00"                         // Status Code INTERNAL_ERROR (0x0)
      "FF FF FF FF FF FF FF FF"    // Stream Count 2^62-1 ("unknown"): largest 8-byte varint
      "00");                       // Reason Phrase length 0
  EXPECT_VECTOR(Draft::k14, unknown_count,
                (PublishDone{.request_id = 4, .status_code = 0, .stream_count = (uint64_t{1} << 62) - 1}));
}

TEST(Draft14Vectors, PublishContentExists1) {
  // -14 §9.13: Request ID, Track Namespace, Track Name, Track Alias, Group Order (8),
  // Content Exists (8), [Largest Location], Forward (8), Parameters. (The diagram says
  // "Length (i)"; every other -14 message and §9 say the Length is 16 bits: a typo.)
  const Bytes bytes = hex(
      "1D"                  // type PUBLISH (0x1D)
      "00 1B"               // length 27
      "01"                  // Request ID 1
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "07"                  // Track Alias 7
      "01"                  // Group Order Ascending
      "01"                  // Content Exists 1
      "40 64 00"            // Largest Location {100, 0}
      "01"                  // Forward 1
      "02"                  // Number of Parameters 2
      "02 43 E8"            // DELIVERY_TIMEOUT 1000
      "04 44 B0");          // MAX_CACHE_DURATION 1200
  Publish m;
  m.request_id = 1;
  m.track = kLiveVideo;
  m.track_alias = 7;
  m.params.delivery_timeout = 1000;
  m.params.max_cache_duration = 1200;
  m.params.largest_object = Location{100, 0};
  m.params.forward = true;
  m.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, PublishContentExists0) {
  // -14 §9.13 without Largest Location, with an AUTHORIZATION TOKEN.
  const Bytes bytes = hex(
      "1D"                  // type PUBLISH
      "00 17"               // length 23
      "03"                  // Request ID 3
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 61 75 64 69 6F"   // Track Name "audio"
      "08"                  // Track Alias 8
      "02"                  // Group Order Descending
      "00"                  // Content Exists 0
      "00"                  // Forward 0
      "01"                  // Number of Parameters 1
      "03 03 03 01 6B");    // AUTHORIZATION TOKEN len 3: USE_VALUE, type 1, "k"
  Publish m;
  m.request_id = 3;
  m.track = {{"live"}, "audio"};
  m.track_alias = 8;
  m.params.auth_tokens = {use_value(1, "k")};
  m.params.forward = false;
  m.params.group_order = GroupOrder::kDescending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, PublishOk) {
  // -14 §9.14: Request ID, Forward (8), Subscriber Priority (8), Group Order (8), Filter Type,
  // [Start Location], [End Group], Parameters.
  const Bytes range = hex(
      "1E"        // type PUBLISH_OK (0x1E)
      "00 0C"     // length 12
      "01"        // Request ID 1
      "01"        // Forward 1
      "80"        // Subscriber Priority 128
      "02"        // Group Order Descending
      "04"        // Filter Type AbsoluteRange
      "05 00"     // Start Location {5, 0}
      "09"        // End Group 9
      "01"        // Number of Parameters 1
      "02 43 E8");  // DELIVERY_TIMEOUT 1000
  RequestOk a;
  a.of = RequestKind::kPublish;
  a.request_id = 1;
  a.params.delivery_timeout = 1000;
  a.params.forward = true;
  a.params.subscriber_priority = 128;
  a.params.filter = absolute_range(5, 0, 9);
  a.params.group_order = GroupOrder::kDescending;
  EXPECT_VECTOR(Draft::k14, range, a);

  const Bytes largest = hex(
      "1E"      // type PUBLISH_OK
      "00 06"   // length 6
      "03"      // Request ID 3
      "00"      // Forward 0
      "10"      // Subscriber Priority 16
      "01"      // Group Order Ascending
      "02"      // Filter Type LargestObject
      "00");    // Number of Parameters 0
  RequestOk b;
  b.of = RequestKind::kPublish;
  b.request_id = 3;
  b.params.forward = false;
  b.params.subscriber_priority = 16;
  b.params.filter = largest_object();
  b.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, largest, b);
}

TEST(Draft14Vectors, PublishError) {
  // -14 §9.15: Request ID, Error Code, Error Reason.
  const Bytes bytes = hex(
      "1F"          // type PUBLISH_ERROR (0x1F)
      "00 05"       // length 5
      "01"          // Request ID 1
      "04"          // Error Code UNINTERESTED (0x4)
      "02 6E 6F");  // Reason Phrase "no"
  EXPECT_VECTOR(Draft::k14, bytes,
                (RequestError{.of = RequestKind::kPublish, .request_id = 1, .error_code = 4, .reason = "no"}));
}

TEST(Draft14Vectors, FetchStandalone) {
  // -14 §9.16, §9.16.1: Request ID, Subscriber Priority (8), Group Order (8), Fetch Type,
  // Standalone {Track Namespace, Track Name, Start Location, End Location}, Parameters.
  const Bytes bytes = hex(
      "16"                  // type FETCH (0x16)
      "00 1C"               // length 28
      "0C"                  // Request ID 12
      "80"                  // Subscriber Priority 128
      "01"                  // Group Order Ascending
      "01"                  // Fetch Type Standalone (0x1)
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "01 00"               // Start Location {1, 0}
      "03 00"               // End Location {3, 0} (Object 0 = the whole end group)
      "01"                  // Number of Parameters 1
      "03 05 03 00 61 62 63");  // AUTHORIZATION TOKEN USE_VALUE type 0 "abc"
  Fetch m;
  m.request_id = 12;
  m.type = FetchType::kStandalone;
  m.track = kLiveVideo;
  m.start = {1, 0};
  m.end = {3, 0};
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.subscriber_priority = 128;
  m.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, FetchRelativeJoining) {
  // -14 §9.16.2: Joining Fetch {Joining Request ID, Joining Start}.
  const Bytes bytes = hex(
      "16"      // type FETCH
      "00 07"   // length 7
      "0E"      // Request ID 14
      "20"      // Subscriber Priority 32
      "00"      // Group Order 0 (publisher's)
      "02"      // Fetch Type Relative Joining (0x2)
      "02"      // Joining Request ID 2
      "03"      // Joining Start 3 (groups before the subscription's largest group)
      "00");    // Number of Parameters 0
  Fetch m;
  m.request_id = 14;
  m.type = FetchType::kRelativeJoining;
  m.joining_request_id = 2;
  m.joining_start = 3;
  m.params.subscriber_priority = 32;
  m.params.group_order = GroupOrder::kPublisher;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, FetchAbsoluteJoining) {
  // -14 §9.16.2: Absolute Joining Fetch. (-14 §9.16.2.1 says "Start Location to Joining Start",
  // a single integer; -16 makes it {Joining Start, 0}. Only the wire form matters here.)
  const Bytes bytes = hex(
      "16"      // type FETCH
      "00 08"   // length 8
      "10"      // Request ID 16
      "FF"      // Subscriber Priority 255
      "02"      // Group Order Descending
      "03"      // Fetch Type Absolute Joining (0x3)
      "02"      // Joining Request ID 2
      "43 E8"   // Joining Start 1000
      "00");    // Number of Parameters 0
  Fetch m;
  m.request_id = 16;
  m.type = FetchType::kAbsoluteJoining;
  m.joining_request_id = 2;
  m.joining_start = 1000;
  m.params.subscriber_priority = 255;
  m.params.group_order = GroupOrder::kDescending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, FetchOk) {
  // -14 §9.17: Request ID, Group Order (8), End Of Track (8), End Location, Parameters.
  const Bytes open = hex(
      "18"               // type FETCH_OK (0x18)
      "00 0B"            // length 11
      "0C"               // Request ID 12
      "01"               // Group Order Ascending
      "00"               // End Of Track 0
      "03 00"            // End Location {3, 0}
      "01"               // Number of Parameters 1
      "04 80 00 EA 60");  // MAX_CACHE_DURATION 60000
  FetchOk a;
  a.request_id = 12;
  a.end_of_track = false;
  a.end_location = {3, 0};
  a.params.max_cache_duration = 60000;
  a.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, open, a);

  const Bytes end_of_track = hex(
      "18"         // type FETCH_OK
      "00 07"      // length 7
      "0E"         // Request ID 14
      "02"         // Group Order Descending
      "01"         // End Of Track 1
      "40 C8 05"   // End Location {200, 5}
      "00");       // Number of Parameters 0
  FetchOk b;
  b.request_id = 14;
  b.end_of_track = true;
  b.end_location = {200, 5};
  b.params.group_order = GroupOrder::kDescending;
  EXPECT_VECTOR(Draft::k14, end_of_track, b);
}

TEST(Draft14Vectors, FetchError) {
  // -14 §9.18: Request ID, Error Code, Error Reason.
  const Bytes bytes = hex(
      "19"      // type FETCH_ERROR (0x19)
      "00 03"   // length 3
      "0C"      // Request ID 12
      "05"      // Error Code INVALID_RANGE (0x5)
      "00");    // Reason Phrase length 0
  EXPECT_VECTOR(Draft::k14, bytes, (RequestError{.of = RequestKind::kFetch, .request_id = 12, .error_code = 5}));
}

TEST(Draft14Vectors, FetchCancel) {
  // -14 §9.19: Request ID.
  const Bytes bytes = hex(
      "17"      // type FETCH_CANCEL (0x17)
      "00 01"   // length 1
      "0C");    // Request ID 12
  EXPECT_VECTOR(Draft::k14, bytes, FetchCancel{12});
}

TEST(Draft14Vectors, TrackStatus) {
  // -14 §9.20: identical to SUBSCRIBE (§9.7).
  const Bytes bytes = hex(
      "0D"                  // type TRACK_STATUS (0xD)
      "00 19"               // length 25
      "12"                  // Request ID 18
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "80"                  // Subscriber Priority 128
      "00"                  // Group Order 0
      "01"                  // Forward 1
      "02"                  // Filter Type LargestObject
      "01"                  // Number of Parameters 1
      "03 05 03 00 61 62 63");  // AUTHORIZATION TOKEN USE_VALUE type 0 "abc"
  TrackStatus m;
  m.request_id = 18;
  m.track = kLiveVideo;
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.forward = true;
  m.params.subscriber_priority = 128;
  m.params.filter = largest_object();
  m.params.group_order = GroupOrder::kPublisher;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, TrackStatusOk) {
  // -14 §9.21: identical to SUBSCRIBE_OK (§9.8) with Track Alias 0.
  const Bytes bytes = hex(
      "0E"               // type TRACK_STATUS_OK (0xE)
      "00 0D"            // length 13
      "12"               // Request ID 18
      "00"               // Track Alias 0
      "00"               // Expires 0
      "01"               // Group Order Ascending
      "01"               // Content Exists 1
      "0A 04"            // Largest Location {10, 4}
      "01"               // Number of Parameters 1
      "04 80 00 EA 60");  // MAX_CACHE_DURATION 60000
  RequestOk m;
  m.of = RequestKind::kTrackStatus;
  m.request_id = 18;
  m.params.max_cache_duration = 60000;
  m.params.expires = 0;
  m.params.largest_object = Location{10, 4};
  m.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, TrackStatusError) {
  // -14 §9.22: identical to SUBSCRIBE_ERROR (§9.9).
  const Bytes bytes = hex(
      "0F"                // type TRACK_STATUS_ERROR (0xF)
      "00 07"             // length 7
      "12"                // Request ID 18
      "04"                // Error Code TRACK_DOES_NOT_EXIST
      "04 6E 6F 70 65");  // Reason Phrase "nope"
  EXPECT_VECTOR(Draft::k14, bytes,
                (RequestError{.of = RequestKind::kTrackStatus, .request_id = 18, .error_code = 4, .reason = "nope"}));
}

TEST(Draft14Vectors, PublishNamespace) {
  // -14 §9.23: Request ID, Track Namespace, Parameters.
  const Bytes bytes = hex(
      "06"                                // type PUBLISH_NAMESPACE (0x6)
      "00 14"                             // length 20
      "14"                                // Request ID 20
      "02 04 6C 69 76 65 04 6D 65 65 74"  // Track Namespace ("live", "meet")
      "01"                                // Number of Parameters 1
      "03 05 03 00 61 62 63");            // AUTHORIZATION TOKEN USE_VALUE type 0 "abc"
  PublishNamespace m;
  m.request_id = 20;
  m.ns = kLiveMeet;
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, PublishNamespaceOk) {
  // -14 §9.24: Request ID only.
  const Bytes bytes = hex(
      "07"      // type PUBLISH_NAMESPACE_OK (0x7)
      "00 01"   // length 1
      "14");    // Request ID 20
  EXPECT_VECTOR(Draft::k14, bytes, (RequestOk{.of = RequestKind::kPublishNamespace, .request_id = 20}));
}

TEST(Draft14Vectors, PublishNamespaceError) {
  // -14 §9.25: Request ID, Error Code, Error Reason.
  const Bytes bytes = hex(
      "08"                // type PUBLISH_NAMESPACE_ERROR (0x8)
      "00 07"             // length 7
      "14"                // Request ID 20
      "01"                // Error Code UNAUTHORIZED (0x1)
      "04 64 65 6E 79");  // Reason Phrase "deny"
  EXPECT_VECTOR(Draft::k14, bytes,
                (RequestError{.of = RequestKind::kPublishNamespace, .request_id = 20, .error_code = 1, .reason = "deny"}));
}

TEST(Draft14Vectors, PublishNamespaceDone) {
  // -14 §9.26: Track Namespace only (keyed by namespace, not Request ID).
  const Bytes bytes = hex(
      "09"                                  // type PUBLISH_NAMESPACE_DONE (0x9)
      "00 0B"                               // length 11
      "02 04 6C 69 76 65 04 6D 65 65 74");  // Track Namespace ("live", "meet")
  EXPECT_VECTOR(Draft::k14, bytes, PublishNamespaceDone{.ns = kLiveMeet});
}

TEST(Draft14Vectors, PublishNamespaceCancel) {
  // -14 §9.27: Track Namespace, Error Code, Error Reason.
  const Bytes bytes = hex(
      "0C"                                // type PUBLISH_NAMESPACE_CANCEL (0xC)
      "00 0E"                             // length 14
      "02 04 6C 69 76 65 04 6D 65 65 74"  // Track Namespace ("live", "meet")
      "02"                                // Error Code TIMEOUT (0x2)
      "01 78");                           // Reason Phrase "x"
  EXPECT_VECTOR(Draft::k14, bytes, (PublishNamespaceCancel{.ns = kLiveMeet, .error_code = 2, .reason = "x"}));
}

TEST(Draft14Vectors, SubscribeNamespace) {
  // -14 §9.28: Request ID, Track Namespace Prefix (1..32 fields), Parameters.
  const Bytes bytes = hex(
      "11"                  // type SUBSCRIBE_NAMESPACE (0x11)
      "00 0F"               // length 15
      "16"                  // Request ID 22
      "01 04 6C 69 76 65"   // Track Namespace Prefix ("live")
      "01"                  // Number of Parameters 1
      "03 05 03 00 61 62 63");  // AUTHORIZATION TOKEN USE_VALUE type 0 "abc"
  SubscribeNamespace m;
  m.request_id = 22;
  m.prefix = {"live"};
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, SubscribeNamespaceOk) {
  // -14 §9.29: Request ID only.
  const Bytes bytes = hex(
      "12"      // type SUBSCRIBE_NAMESPACE_OK (0x12)
      "00 01"   // length 1
      "16");    // Request ID 22
  EXPECT_VECTOR(Draft::k14, bytes, (RequestOk{.of = RequestKind::kSubscribeNamespace, .request_id = 22}));
}

TEST(Draft14Vectors, SubscribeNamespaceError) {
  // -14 §9.30: Request ID, Error Code, Error Reason.
  const Bytes bytes = hex(
      "13"      // type SUBSCRIBE_NAMESPACE_ERROR (0x13)
      "00 03"   // length 3
      "16"      // Request ID 22
      "05"      // Error Code NAMESPACE_PREFIX_OVERLAP (0x5)
      "00");    // Reason Phrase length 0
  EXPECT_VECTOR(Draft::k14, bytes,
                (RequestError{.of = RequestKind::kSubscribeNamespace, .request_id = 22, .error_code = 5}));
}

TEST(Draft14Vectors, UnsubscribeNamespace) {
  // -14 §9.31: Track Namespace Prefix only.
  const Bytes bytes = hex(
      "14"                    // type UNSUBSCRIBE_NAMESPACE (0x14)
      "00 06"                 // length 6
      "01 04 6C 69 76 65");   // Track Namespace Prefix ("live")
  EXPECT_VECTOR(Draft::k14, bytes, UnsubscribeNamespace{{"live"}});
}

TEST(Draft14Vectors, ZeroDeliveryTimeoutIsAllowed) {
  // -14 §9.2.1.2 puts no lower bound on DELIVERY_TIMEOUT (unlike -16 §9.2.2.2).
  const Bytes bytes = hex(
      "1E"      // type PUBLISH_OK
      "00 08"   // length 8
      "05"      // Request ID 5
      "01"      // Forward 1
      "80"      // Subscriber Priority 128
      "01"      // Group Order Ascending
      "02"      // Filter Type LargestObject
      "01"      // Number of Parameters 1
      "02 00");  // DELIVERY_TIMEOUT (0x02) 0
  RequestOk m;
  m.of = RequestKind::kPublish;
  m.request_id = 5;
  m.params.delivery_timeout = 0;
  m.params.forward = true;
  m.params.subscriber_priority = 128;
  m.params.filter = largest_object();
  m.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k14, bytes, m);
}

TEST(Draft14Vectors, MisplacedParametersAreIgnored) {
  // Decode only. -14 §9.2.1: a parameter in a message its definition does not list "MUST be
  // ignored". DELIVERY_TIMEOUT (§9.2.1.2) and MAX_CACHE_DURATION (§9.2.1.3) are not defined for
  // PUBLISH_NAMESPACE, so the decoded message carries no parameters (and the encoder writes none).
  const Bytes bytes = hex(
      "06"                  // type PUBLISH_NAMESPACE
      "00 0C"               // length 12
      "14"                  // Request ID 20
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "02"                  // Number of Parameters 2
      "02 0A"               // DELIVERY_TIMEOUT (0x02) 10: not defined here, ignored
      "04 0A");             // MAX_CACHE_DURATION (0x04) 10: not defined here, ignored
  EXPECT_DECODE_ONLY(Draft::k14, bytes, (PublishNamespace{.request_id = 20, .ns = {"live"}}));
}

// =============================================================================================
// draft-16: QUIC varints, 16-bit Length, ALPN moqt-16, no versions in the setup messages.
// Key-Value-Pairs delta-code their Type (-16 §1.4.2): each Type is sent as the difference from
// the previous one (the first from 0), so types ascend. Even type: one varint value; odd type:
// Length + bytes. Subscription fields are Message Parameters (-16 §9.2.2).
// =============================================================================================

TEST(Draft16Vectors, ClientSetup) {
  // -16 §9.3, §9.3.1: Number of Parameters, Setup Parameters (delta-coded KVPs).
  const Bytes bytes = hex(
      "20"                           // type CLIENT_SETUP (0x20)
      "00 20"                        // length 32
      "05"                           // Number of Parameters 5
      "01 04 2F 6D 6F 71"            // delta 1 -> PATH (0x01), length 4 "/moq"
      "01 40 64"                     // delta 1 -> MAX_REQUEST_ID (0x02) 100
      "01 05 03 00 61 62 63"         // delta 1 -> AUTHORIZATION TOKEN (0x03) len 5: USE_VALUE type 0 "abc"
      "02 04 78 2E 69 6F"            // delta 2 -> AUTHORITY (0x05) "x.io"
      "02 07 6D 6F 71 2D 67 73 74");  // delta 2 -> MOQT_IMPLEMENTATION (0x07) "moq-gst"
  ClientSetup m;
  m.params.path = "/moq";
  m.params.authority = "x.io";
  m.params.max_request_id = 100;
  m.params.implementation = "moq-gst";
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, ServerSetup) {
  // -16 §9.3; unknown setup parameters are ignored (kept).
  const Bytes bytes = hex(
      "21"              // type SERVER_SETUP (0x21)
      "00 0D"           // length 13
      "04"              // Number of Parameters 4
      "02 0A"           // delta 2 -> MAX_REQUEST_ID (0x02) 10
      "02 41 00"        // delta 2 -> MAX_AUTH_TOKEN_CACHE_SIZE (0x04) 256
      "03 03 73 72 76"  // delta 3 -> MOQT_IMPLEMENTATION (0x07) "srv"
      "19 01");         // delta 25 -> unknown even parameter 0x20 = 1
  ServerSetup m;
  m.params.max_request_id = 10;
  m.params.max_auth_token_cache_size = 256;
  m.params.implementation = "srv";
  m.params.unknown = {KeyValuePair::integer(0x20, 1)};
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, Goaway) {
  // -16 §9.4: same layout as -14.
  const Bytes bytes = hex(
      "10"                                   // type GOAWAY
      "00 0C"                                // length 12
      "0B"                                   // New Session URI Length 11
      "6D 6F 71 74 3A 2F 2F 62 2E 69 6F");   // "moqt://b.io"
  EXPECT_VECTOR(Draft::k16, bytes, Goaway{.new_session_uri = "moqt://b.io"});
}

TEST(Draft16Vectors, MaxRequestId) {
  // -16 §9.5: Max Request ID (i).
  const Bytes bytes = hex(
      "15"       // type MAX_REQUEST_ID
      "00 02"    // length 2
      "40 C8");  // Max Request ID 200
  EXPECT_VECTOR(Draft::k16, bytes, MaxRequestId{200});
}

TEST(Draft16Vectors, RequestsBlocked) {
  // -16 §9.6: Maximum Request ID (i).
  const Bytes bytes = hex(
      "1A"       // type REQUESTS_BLOCKED
      "00 02"    // length 2
      "40 C8");  // Maximum Request ID 200
  EXPECT_VECTOR(Draft::k16, bytes, RequestsBlocked{200});

  // Decode only: 7 in the non-minimal 4-byte varint form (-16 §1.4: SHOULD be shortest).
  const Bytes non_minimal = hex(
      "1A"             // type REQUESTS_BLOCKED
      "00 04"          // length 4
      "80 00 00 07");  // Maximum Request ID 7 (4-byte varint)
  EXPECT_DECODE_ONLY(Draft::k16, non_minimal, RequestsBlocked{7});
}

TEST(Draft16Vectors, RequestOk) {
  // -16 §9.7: Request ID, Number of Parameters, Parameters; here a TRACK_STATUS reply, which
  // carries "the same parameters it would have set in a SUBSCRIBE_OK" (§9.19): EXPIRES (§9.2.2.6)
  // and LARGEST_OBJECT (§9.2.2.7, a length-prefixed Location). Draft ambiguity: §9.2.2.6 lists
  // EXPIRES for REQUEST_OK only as "(TODO: or REQUEST_OK)"; §9.19 is taken to allow it.
  const Bytes bytes = hex(
      "07"           // type REQUEST_OK (0x7)
      "00 09"        // length 9
      "04"           // Request ID 4
      "02"           // Number of Parameters 2
      "08 40 64"     // delta 8 -> EXPIRES (0x08) 100
      "01 02 05 02");  // delta 1 -> LARGEST_OBJECT (0x09, odd) length 2: Location {5, 2}
  RequestOk m;
  m.request_id = 4;
  m.params.expires = 100;
  m.params.largest_object = Location{5, 2};
  EXPECT_VECTOR(Draft::k16, bytes, m);

  const Bytes empty = hex(
      "07"      // type REQUEST_OK
      "00 02"   // length 2
      "06"      // Request ID 6
      "00");    // Number of Parameters 0
  EXPECT_VECTOR(Draft::k16, empty, RequestOk{.request_id = 6});
}

TEST(Draft16Vectors, PublishOk) {
  // -16 §9.14 (type 0x1E): Request ID, Parameters. Every subscription parameter PUBLISH_OK may
  // carry: DELIVERY_TIMEOUT, FORWARD, SUBSCRIBER_PRIORITY (a varint here), SUBSCRIPTION_FILTER,
  // GROUP_ORDER, NEW_GROUP_REQUEST (§9.2.2.2-§9.2.2.9).
  const Bytes bytes = hex(
      "1E"                // type PUBLISH_OK (0x1E)
      "00 13"             // length 19
      "01"                // Request ID 1
      "06"                // Number of Parameters 6
      "02 43 E8"          // delta 2  -> DELIVERY_TIMEOUT (0x02) 1000
      "0E 01"             // delta 14 -> FORWARD (0x10) 1
      "10 40 C8"          // delta 16 -> SUBSCRIBER_PRIORITY (0x20) 200
      "01 03 03 03 00"    // delta 1  -> SUBSCRIPTION_FILTER (0x21) length 3: AbsoluteStart {3, 0}
      "01 02"             // delta 1  -> GROUP_ORDER (0x22) Descending
      "10 00");           // delta 16 -> NEW_GROUP_REQUEST (0x32) 0
  RequestOk m;
  m.of = RequestKind::kPublish;
  m.request_id = 1;
  m.params.delivery_timeout = 1000;
  m.params.forward = true;
  m.params.subscriber_priority = 200;
  m.params.filter = absolute_start(3, 0);
  m.params.group_order = GroupOrder::kDescending;
  m.params.new_group_request = 0;
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, RequestError) {
  // -16 §9.8: Request ID, Error Code, Retry Interval (ms + 1; 0 = do not retry), Error Reason.
  const Bytes no_retry = hex(
      "05"                // type REQUEST_ERROR (0x5)
      "00 08"             // length 8
      "02"                // Request ID 2
      "10"                // Error Code DOES_NOT_EXIST (0x10)
      "00"                // Retry Interval 0: do not retry
      "04 6E 6F 70 65");  // Reason Phrase "nope"
  EXPECT_VECTOR(Draft::k16, no_retry, (RequestError{.request_id = 2, .error_code = 0x10, .reason = "nope"}));

  const Bytes retry = hex(
      "05"      // type REQUEST_ERROR
      "00 05"   // length 5
      "04"      // Request ID 4
      "02"      // Error Code TIMEOUT (0x2)
      "43 E9"   // Retry Interval 1001 = retry after 1000 ms
      "00");    // Reason Phrase length 0
  EXPECT_VECTOR(Draft::k16, retry, (RequestError{.request_id = 4, .error_code = 2, .retry_interval = 1001}));
}

TEST(Draft16Vectors, SubscribeAllParameters) {
  // -16 §9.9: Request ID, Track Namespace, Track Name, Number of Parameters, Parameters.
  // Parameters in ascending type order, delta-coded: 0x02, 0x03, 0x10, 0x20, 0x21, 0x22.
  const Bytes bytes = hex(
      "03"                      // type SUBSCRIBE (0x3)
      "00 25"                   // length 37
      "00"                      // Request ID 0
      "01 04 6C 69 76 65"       // Track Namespace ("live")
      "05 76 69 64 65 6F"       // Track Name "video"
      "06"                      // Number of Parameters 6
      "02 53 88"                // delta 2  -> DELIVERY_TIMEOUT (0x02) 5000
      "01 05 03 00 61 62 63"    // delta 1  -> AUTHORIZATION_TOKEN (0x03) len 5: USE_VALUE type 0 "abc"
      "0D 00"                   // delta 13 -> FORWARD (0x10) 0
      "10 40 80"                // delta 16 -> SUBSCRIBER_PRIORITY (0x20) 128
      "01 04 04 0A 00 0F"       // delta 1  -> SUBSCRIPTION_FILTER (0x21) len 4: AbsoluteRange {10,0} end 15
      "01 01");                 // delta 1  -> GROUP_ORDER (0x22) Ascending
  Subscribe m;
  m.request_id = 0;
  m.track = kLiveVideo;
  m.params.delivery_timeout = 5000;
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.forward = false;
  m.params.subscriber_priority = 128;
  m.params.filter = absolute_range(10, 0, 15);  // -16: End Group is the literal last group
  m.params.group_order = GroupOrder::kAscending;
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, SubscribeLargestObjectFilter) {
  // -16 §9.9 with SUBSCRIPTION_FILTER LargestObject and NEW_GROUP_REQUEST (§9.2.2.9).
  const Bytes bytes = hex(
      "03"                  // type SUBSCRIBE
      "00 13"               // length 19
      "02"                  // Request ID 2
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 61 75 64 69 6F"   // Track Name "audio"
      "02"                  // Number of Parameters 2
      "21 01 02"            // delta 33 -> SUBSCRIPTION_FILTER (0x21) len 1: LargestObject
      "11 05");             // delta 17 -> NEW_GROUP_REQUEST (0x32) 5
  Subscribe m;
  m.request_id = 2;
  m.track = {{"live"}, "audio"};
  m.params.filter = largest_object();
  m.params.new_group_request = 5;
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, SubscribeOkWithTrackExtensions) {
  // -16 §9.10: Request ID, Track Alias, Parameters, Track Extensions (rest of the message;
  // delta-coded KVPs, their own delta sequence starting again from 0; §2.5, §11).
  const Bytes bytes = hex(
      "04"               // type SUBSCRIBE_OK (0x4)
      "00 16"            // length 22
      "00"               // Request ID 0
      "09"               // Track Alias 9
      "02"               // Number of Parameters 2
      "08 80 00 75 30"   // delta 8 -> EXPIRES (0x08) 30000
      "01 02 07 03"      // delta 1 -> LARGEST_OBJECT (0x09) len 2: {7, 3}
      // Track Extensions:
      "04 80 00 EA 60"   // delta 4  -> MAX_CACHE_DURATION (0x04) 60000
      "0A 40 80"         // delta 10 -> DEFAULT_PUBLISHER_PRIORITY (0x0E) 128
      "14 02");          // delta 20 -> DEFAULT_PUBLISHER_GROUP_ORDER (0x22) Descending
  SubscribeOk m;
  m.request_id = 0;
  m.track_alias = 9;
  m.params.expires = 30000;
  m.params.largest_object = Location{7, 3};
  m.track_properties = {KeyValuePair::integer(0x04, 60000), KeyValuePair::integer(0x0E, 128),
                        KeyValuePair::integer(0x22, 2)};
  EXPECT_VECTOR(Draft::k16, bytes, m);

  const Bytes bare = hex(
      "04"      // type SUBSCRIBE_OK
      "00 03"   // length 3
      "02"      // Request ID 2
      "0A"      // Track Alias 10
      "00");    // Number of Parameters 0; no Track Extensions
  EXPECT_VECTOR(Draft::k16, bare, SubscribeOk{.request_id = 2, .track_alias = 10});
}

TEST(Draft16Vectors, RequestUpdate) {
  // -16 §9.11: Request ID, Existing Request ID, Parameters.
  const Bytes bytes = hex(
      "02"        // type REQUEST_UPDATE (0x2)
      "00 0D"     // length 13
      "06"        // Request ID 6
      "00"        // Existing Request ID 0
      "04"        // Number of Parameters 4
      "02 47 D0"  // delta 2  -> DELIVERY_TIMEOUT (0x02) 2000
      "0E 01"     // delta 14 -> FORWARD (0x10) 1
      "10 0A"     // delta 16 -> SUBSCRIBER_PRIORITY (0x20) 10
      "01 01 01");  // delta 1 -> SUBSCRIPTION_FILTER (0x21) len 1: NextGroupStart
  RequestUpdate m;
  m.request_id = 6;
  m.existing_request_id = 0;
  m.params.delivery_timeout = 2000;
  m.params.forward = true;
  m.params.subscriber_priority = 10;
  m.params.filter = next_group_start();
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, Unsubscribe) {
  // -16 §9.12: Request ID.
  const Bytes bytes = hex(
      "0A"      // type UNSUBSCRIBE
      "00 01"   // length 1
      "00");    // Request ID 0
  EXPECT_VECTOR(Draft::k16, bytes, Unsubscribe{0});
}

TEST(Draft16Vectors, PublishWithTrackExtensions) {
  // -16 §9.13: Request ID, Track Namespace, Track Name, Track Alias, Parameters, Track Extensions.
  const Bytes bytes = hex(
      "1D"                      // type PUBLISH (0x1D)
      "00 29"                   // length 41
      "01"                      // Request ID 1
      "01 04 6C 69 76 65"       // Track Namespace ("live")
      "05 76 69 64 65 6F"       // Track Name "video"
      "0B"                      // Track Alias 11
      "04"                      // Number of Parameters 4
      "03 05 03 00 61 62 63"    // delta 3 -> AUTHORIZATION_TOKEN (0x03) USE_VALUE type 0 "abc"
      "05 40 64"                // delta 5 -> EXPIRES (0x08) 100
      "01 03 40 64 00"          // delta 1 -> LARGEST_OBJECT (0x09) len 3: {100, 0}
      "07 00"                   // delta 7 -> FORWARD (0x10) 0
      // Track Extensions:
      "02 47 D0"                // delta 2  -> DELIVERY_TIMEOUT (0x02) 2000
      "09 02 04 0A"             // delta 9  -> IMMUTABLE_EXTENSIONS (0x0B, odd) len 2: bytes 04 0A
      "25 01");                 // delta 37 -> DYNAMIC_GROUPS (0x30) 1
  Publish m;
  m.request_id = 1;
  m.track = kLiveVideo;
  m.track_alias = 11;
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.expires = 100;
  m.params.largest_object = Location{100, 0};
  m.params.forward = false;
  m.track_properties = {KeyValuePair::integer(0x02, 2000), KeyValuePair::bytes(0x0B, std::string("\x04\x0A", 2)),
                        KeyValuePair::integer(0x30, 1)};
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, PublishDone) {
  // -16 §9.15: Request ID, Status Code, Stream Count, Error Reason.
  const Bytes bytes = hex(
      "0B"             // type PUBLISH_DONE
      "00 07"          // length 7
      "01"             // Request ID 1
      "08"             // Status Code UPDATE_FAILED (0x8)
      "00"             // Stream Count 0
      "03 75 70 64");  // Reason Phrase "upd"
  EXPECT_VECTOR(Draft::k16, bytes, (PublishDone{.request_id = 1, .status_code = 8, .stream_count = 0, .reason = "upd"}));
}

TEST(Draft16Vectors, FetchStandalone) {
  // -16 §9.16, §9.16.1: Request ID, Fetch Type, Standalone, Parameters (priority and group order
  // are now parameters).
  const Bytes bytes = hex(
      "16"                  // type FETCH (0x16)
      "00 17"               // length 23
      "08"                  // Request ID 8
      "01"                  // Fetch Type Standalone
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "01 00"               // Start Location {1, 0}
      "03 00"               // End Location {3, 0}
      "02"                  // Number of Parameters 2
      "20 01"               // delta 32 -> SUBSCRIBER_PRIORITY (0x20) 1
      "02 02");             // delta 2  -> GROUP_ORDER (0x22) Descending
  Fetch m;
  m.request_id = 8;
  m.type = FetchType::kStandalone;
  m.track = kLiveVideo;
  m.start = {1, 0};
  m.end = {3, 0};
  m.params.subscriber_priority = 1;
  m.params.group_order = GroupOrder::kDescending;
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, FetchRelativeJoining) {
  // -16 §9.16.2: Joining Request ID, Joining Start.
  const Bytes bytes = hex(
      "16"      // type FETCH
      "00 05"   // length 5
      "0A"      // Request ID 10
      "02"      // Fetch Type Relative Joining
      "00"      // Joining Request ID 0
      "02"      // Joining Start 2
      "00");    // Number of Parameters 0
  EXPECT_VECTOR(Draft::k16, bytes,
                (Fetch{.request_id = 10, .type = FetchType::kRelativeJoining, .joining_request_id = 0, .joining_start = 2}));
}

TEST(Draft16Vectors, FetchAbsoluteJoining) {
  // -16 §9.16.2, §9.16.2.1: Start Location = {Joining Start, 0}.
  const Bytes bytes = hex(
      "16"        // type FETCH
      "00 0D"     // length 13
      "0C"        // Request ID 12
      "03"        // Fetch Type Absolute Joining
      "00"        // Joining Request ID 0
      "40 64"     // Joining Start 100
      "01"        // Number of Parameters 1
      "03 05 03 00 61 62 63");  // AUTHORIZATION_TOKEN USE_VALUE type 0 "abc"
  Fetch m;
  m.request_id = 12;
  m.type = FetchType::kAbsoluteJoining;
  m.joining_request_id = 0;
  m.joining_start = 100;
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, FetchOk) {
  // -16 §9.17: Request ID, End Of Track (8), End Location, Parameters, Track Extensions.
  const Bytes bytes = hex(
      "18"        // type FETCH_OK (0x18)
      "00 08"     // length 8
      "08"        // Request ID 8
      "01"        // End Of Track 1
      "03 00"     // End Location {3, 0}
      "00"        // Number of Parameters 0
      "04 43 E8");  // Track Extension: delta 4 -> MAX_CACHE_DURATION (0x04) 1000
  FetchOk m;
  m.request_id = 8;
  m.end_of_track = true;
  m.end_location = {3, 0};
  m.track_properties = {KeyValuePair::integer(0x04, 1000)};
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, FetchCancel) {
  // -16 §9.18: Request ID.
  const Bytes bytes = hex(
      "17"      // type FETCH_CANCEL
      "00 01"   // length 1
      "08");    // Request ID 8
  EXPECT_VECTOR(Draft::k16, bytes, FetchCancel{8});
}

TEST(Draft16Vectors, TrackStatus) {
  // -16 §9.19: SUBSCRIBE layout (delivery parameters are not included).
  const Bytes bytes = hex(
      "0D"                  // type TRACK_STATUS (0xD)
      "00 15"               // length 21
      "0E"                  // Request ID 14
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "01"                  // Number of Parameters 1
      "03 05 03 00 61 62 63");  // delta 3 -> AUTHORIZATION_TOKEN USE_VALUE type 0 "abc"
  TrackStatus m;
  m.request_id = 14;
  m.track = kLiveVideo;
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, PublishNamespace) {
  // -16 §9.20: Request ID, Track Namespace, Parameters.
  const Bytes bytes = hex(
      "06"                                // type PUBLISH_NAMESPACE (0x6)
      "00 0D"                             // length 13
      "10"                                // Request ID 16
      "02 04 6C 69 76 65 04 6D 65 65 74"  // Track Namespace ("live", "meet")
      "00");                              // Number of Parameters 0
  EXPECT_VECTOR(Draft::k16, bytes, (PublishNamespace{.request_id = 16, .ns = kLiveMeet}));
}

TEST(Draft16Vectors, Namespace) {
  // -16 §9.21 (type 0x8, was PUBLISH_NAMESPACE_ERROR in -14): Track Namespace Suffix.
  const Bytes bytes = hex(
      "08"                       // type NAMESPACE (0x8)
      "00 07"                    // length 7
      "01 05 72 6F 6F 6D 31");   // Track Namespace Suffix ("room1")
  EXPECT_VECTOR(Draft::k16, bytes, Namespace{{"room1"}});
}

TEST(Draft16Vectors, PublishNamespaceDone) {
  // -16 §9.22: Request ID (keyed by Request ID, not namespace as in -14).
  const Bytes bytes = hex(
      "09"      // type PUBLISH_NAMESPACE_DONE (0x9)
      "00 01"   // length 1
      "10");    // Request ID 16
  EXPECT_VECTOR(Draft::k16, bytes, PublishNamespaceDone{.request_id = 16});
}

TEST(Draft16Vectors, NamespaceDone) {
  // -16 §9.23 (type 0xE, was TRACK_STATUS_OK in -14): Track Namespace Suffix.
  const Bytes bytes = hex(
      "0E"                       // type NAMESPACE_DONE (0xE)
      "00 07"                    // length 7
      "01 05 72 6F 6F 6D 31");   // Track Namespace Suffix ("room1")
  EXPECT_VECTOR(Draft::k16, bytes, NamespaceDone{{"room1"}});
}

TEST(Draft16Vectors, PublishNamespaceCancel) {
  // -16 §9.24: Request ID, Error Code (REQUEST_ERROR codes), Error Reason.
  const Bytes bytes = hex(
      "0C"      // type PUBLISH_NAMESPACE_CANCEL (0xC)
      "00 04"   // length 4
      "10"      // Request ID 16
      "20"      // Error Code UNINTERESTED (0x20)
      "01 78");  // Reason Phrase "x"
  EXPECT_VECTOR(Draft::k16, bytes, (PublishNamespaceCancel{.request_id = 16, .error_code = 0x20, .reason = "x"}));
}

TEST(Draft16Vectors, SubscribeNamespace) {
  // -16 §9.25: Request ID, Track Namespace Prefix (0..32 fields), Subscribe Options (i),
  // Parameters.
  const Bytes both = hex(
      "11"                      // type SUBSCRIBE_NAMESPACE (0x11)
      "00 12"                   // length 18
      "12"                      // Request ID 18
      "01 04 6C 69 76 65"       // Track Namespace Prefix ("live")
      "02"                      // Subscribe Options 2 (PUBLISH and NAMESPACE)
      "02"                      // Number of Parameters 2
      "03 05 03 00 61 62 63"    // delta 3  -> AUTHORIZATION_TOKEN USE_VALUE type 0 "abc"
      "0D 00");                 // delta 13 -> FORWARD (0x10) 0
  SubscribeNamespace a;
  a.request_id = 18;
  a.prefix = {"live"};
  a.options = SubscribeOptions::kBoth;
  a.params.auth_tokens = {use_value(0, "abc")};
  a.params.forward = false;
  EXPECT_VECTOR(Draft::k16, both, a);

  const Bytes publish_only_empty_prefix = hex(
      "11"      // type SUBSCRIBE_NAMESPACE
      "00 04"   // length 4
      "14"      // Request ID 20
      "00"      // Track Namespace Prefix with 0 fields (allowed here)
      "00"      // Subscribe Options 0 (PUBLISH)
      "00");    // Number of Parameters 0
  EXPECT_VECTOR(Draft::k16, publish_only_empty_prefix,
                (SubscribeNamespace{.request_id = 20, .prefix = {}, .options = SubscribeOptions::kPublish}));

  const Bytes namespace_only = hex(
      "11"                  // type SUBSCRIBE_NAMESPACE
      "00 09"               // length 9
      "16"                  // Request ID 22
      "01 04 6C 69 76 65"   // Track Namespace Prefix ("live")
      "01"                  // Subscribe Options 1 (NAMESPACE)
      "00");                // Number of Parameters 0
  EXPECT_VECTOR(Draft::k16, namespace_only,
                (SubscribeNamespace{.request_id = 22, .prefix = {"live"}, .options = SubscribeOptions::kNamespace}));
}

TEST(Draft16Vectors, RepeatedAuthorizationTokenUsesDeltaZero) {
  // -16 §1.4.2: a repeated type is delta 0; AUTHORIZATION TOKEN may repeat (§9.2.2.1).
  const Bytes bytes = hex(
      "06"                      // type PUBLISH_NAMESPACE
      "00 15"                   // length 21
      "12"                      // Request ID 18
      "01 04 6C 69 76 65"       // Track Namespace ("live")
      "02"                      // Number of Parameters 2
      "03 05 03 00 61 62 63"    // delta 3 -> AUTHORIZATION_TOKEN len 5: USE_VALUE type 0 "abc"
      "00 04 01 01 00 78");     // delta 0 -> AUTHORIZATION_TOKEN len 4: REGISTER alias 1 type 0 "x"
  PublishNamespace m;
  m.request_id = 18;
  m.ns = {"live"};
  m.params.auth_tokens = {use_value(0, "abc"), register_token(1, 0, "x")};
  EXPECT_VECTOR(Draft::k16, bytes, m);
}

TEST(Draft16Vectors, ZeroDeliveryTimeoutIsViolation) {
  // -16 §9.2.2.2: "If an endpoint receives a DELIVERY_TIMEOUT equal to 0 it MUST close the
  // session with PROTOCOL_VIOLATION"; senders MUST use a value > 0.
  const Bytes bytes = hex(
      "03"                  // type SUBSCRIBE
      "00 10"               // length 16
      "00"                  // Request ID 0
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "01"                  // Number of Parameters 1
      "02 00");             // delta 2 -> DELIVERY_TIMEOUT (0x02) 0: not allowed
  expect_frame_length_consistent(bytes, Draft::k16);
  expect_rejected(bytes, Draft::k16);
  Subscribe m;
  m.track = kLiveVideo;
  m.params.delivery_timeout = 0;
  expect_encode_refused(m, Draft::k16);
}

TEST(Draft16Vectors, MisplacedParametersAreIgnored) {
  // Decode only. -16 §9.2.2: a known parameter in a message its definition does not list "MUST
  // be ignored" (unknown ones are fatal, §9.2). DELIVERY_TIMEOUT (§9.2.2.2) and FORWARD
  // (§9.2.2.8) are not defined for PUBLISH_NAMESPACE.
  const Bytes bytes = hex(
      "06"                  // type PUBLISH_NAMESPACE
      "00 0C"               // length 12
      "10"                  // Request ID 16
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "02"                  // Number of Parameters 2
      "02 0A"               // delta 2  -> DELIVERY_TIMEOUT (0x02) 10: ignored here
      "0E 01");             // delta 14 -> FORWARD (0x10) 1: ignored here
  EXPECT_DECODE_ONLY(Draft::k16, bytes, (PublishNamespace{.request_id = 16, .ns = {"live"}}));
}

// =============================================================================================
// draft-18: vi64 integers (-18 §1.4.1), 16-bit Length, ALPN moqt-18. One SETUP (0x2F00 = AF 00)
// per side; requests on their own bidi streams, so replies carry no Request ID. Message
// Parameters are count + {Type delta (vi64), value as the parameter defines} (-18 §10.2): uint8
// for FORWARD/SUBSCRIBER_PRIORITY/GROUP_ORDER, a bare Location for LARGEST_OBJECT, length-prefixed
// for SUBSCRIPTION_FILTER and AUTHORIZATION_TOKEN, vi64 for the rest. Setup Options and Track
// Properties stay delta-coded Key-Value-Pairs (even = vi64, odd = length + bytes).
// =============================================================================================

TEST(Draft18Vectors, Setup) {
  // -18 §10.3: Setup Options span the payload (no count), delta-coded KVPs (§1.4.3).
  const Bytes bytes = hex(
      "AF 00"                        // type SETUP (0x2F00 as a 2-byte vi64)
      "00 1F"                        // length 31
      "01 04 2F 6D 6F 71"            // delta 1 -> PATH (0x01) len 4 "/moq"
      "02 05 03 00 61 62 63"         // delta 2 -> AUTHORIZATION TOKEN (0x03) len 5: USE_VALUE type 0 "abc"
      "01 80 80"                     // delta 1 -> MAX_AUTH_TOKEN_CACHE_SIZE (0x04) 128 (2-byte vi64)
      "01 04 78 2E 69 6F"            // delta 1 -> AUTHORITY (0x05) len 4 "x.io"
      "02 07 6D 6F 71 2D 67 73 74");  // delta 2 -> MOQT_IMPLEMENTATION (0x07) len 7 "moq-gst"
  SetupMessage m;
  m.params.path = "/moq";
  m.params.authority = "x.io";
  m.params.max_auth_token_cache_size = 128;
  m.params.implementation = "moq-gst";
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, SetupPathOnlyAndEmpty) {
  // -18 §10.3 (the -19 notes example "AF 00 00 06 01 04 2F 6D 6F 71" has the same -18 layout).
  const Bytes path_only = hex(
      "AF 00"                // type SETUP
      "00 06"                // length 6
      "01 04 2F 6D 6F 71");  // delta 1 -> PATH "/moq"
  EXPECT_VECTOR(Draft::k18, path_only, SetupMessage{SetupParams{.path = "/moq"}});

  const Bytes empty = hex(
      "AF 00"   // type SETUP
      "00 00");  // length 0: no options
  EXPECT_VECTOR(Draft::k18, empty, SetupMessage{});
}

TEST(Draft18Vectors, SetupUnknownGreaseOption) {
  // -18 §10.3: unknown Setup Options are ignored (kept). GREASE types are 0x7f * N + 0x9D
  // (-18 §15.4); 0x9D is odd, so it carries a length.
  const Bytes bytes = hex(
      "AF 00"               // type SETUP
      "00 09"               // length 9
      "01 04 2F 6D 6F 71"   // delta 1 -> PATH "/moq"
      "80 9C"               // delta 156 (2-byte vi64) -> type 0x9D (GREASE)
      "00");                // length 0
  SetupMessage m;
  m.params.path = "/moq";
  m.params.unknown = {KeyValuePair::bytes(0x9D, "")};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, Goaway) {
  // -18 §10.4: New Session URI Length, New Session URI, Timeout (vi64), [Request ID (vi64)].
  // Draft ambiguity: the Request ID is "present only when sent on the control stream"; there is
  // no flag, so the codec infers its presence from the bytes left in the payload.
  const Bytes request_stream = hex(
      "10"                                  // type GOAWAY (0x10)
      "00 0E"                               // length 14
      "0B"                                  // New Session URI Length 11
      "6D 6F 71 74 3A 2F 2F 62 2E 69 6F"    // "moqt://b.io"
      "93 88");                             // Timeout 5000 ms (2-byte vi64); no Request ID
  EXPECT_VECTOR(Draft::k18, request_stream, (Goaway{.new_session_uri = "moqt://b.io", .timeout_ms = 5000}));

  const Bytes control_stream = hex(
      "10"      // type GOAWAY
      "00 03"   // length 3
      "00"      // New Session URI Length 0
      "00"      // Timeout 0 (no specific timeout)
      "04");    // Request ID 4 (control stream only)
  EXPECT_VECTOR(Draft::k18, control_stream, (Goaway{.new_session_uri = "", .timeout_ms = 0, .request_id = 4}));

  // Decode only: -18 §1.4.1 lets any vi64 length represent a value ("80 25" = 37); the encoder
  // writes the minimal "25".
  const Bytes non_minimal = hex(
      "10"       // type GOAWAY
      "00 03"    // length 3
      "00"       // New Session URI Length 0
      "80 25");  // Timeout 37 in the non-minimal 2-byte vi64 form
  EXPECT_DECODE_ONLY(Draft::k18, non_minimal, (Goaway{.new_session_uri = "", .timeout_ms = 37}));
}

TEST(Draft18Vectors, SubscribeNotesExample) {
  // moqt-notes §3.5 gives this -19 SUBSCRIBE; checked field by field against -18 §10.7 and
  // §10.2.7/§10.2.9 it is also a valid -18 message (the -18 and -19 SUBSCRIBE layouts and the
  // 0x20 / 0x21 parameter encodings are the same).
  const Bytes bytes = hex(
      "03"                  // type SUBSCRIBE (0x3)
      "00 13"               // length 19
      "00"                  // Request ID 0
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "02"                  // Number of Parameters 2
      "20 80"               // delta 32 -> SUBSCRIBER_PRIORITY (0x20), uint8 128
      "01 01 02");          // delta 1  -> SUBSCRIPTION_FILTER (0x21), length 1: LargestObject
  Subscribe m;
  m.request_id = 0;
  m.track = kLiveVideo;
  m.params.subscriber_priority = 128;
  m.params.filter = largest_object();
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, SubscribeAllParameters) {
  // -18 §10.7 with every parameter SUBSCRIBE may carry (§10.2.2-§10.2.13), ascending:
  // 0x02, 0x03, 0x04, 0x06, 0x10, 0x20, 0x21, 0x22, 0x32.
  // Draft ambiguity: -18 §10.2.6 does not say how RENDEZVOUS_TIMEOUT (0x04) is encoded; like the
  // other millisecond parameters it is taken to be a vi64.
  const Bytes bytes = hex(
      "03"                      // type SUBSCRIBE
      "00 2C"                   // length 44
      "04"                      // Request ID 4
      "01 04 6C 69 76 65"       // Track Namespace ("live")
      "05 76 69 64 65 6F"       // Track Name "video"
      "09"                      // Number of Parameters 9
      "02 93 88"                // delta 2  -> OBJECT_DELIVERY_TIMEOUT (0x02) vi64 5000
      "01 05 03 00 61 62 63"    // delta 1  -> AUTHORIZATION_TOKEN (0x03) len 5: USE_VALUE type 0 "abc"
      "01 83 E8"                // delta 1  -> RENDEZVOUS_TIMEOUT (0x04) vi64 1000
      "02 80 C8"                // delta 2  -> SUBGROUP_DELIVERY_TIMEOUT (0x06) vi64 200
      "0A 01"                   // delta 10 -> FORWARD (0x10) uint8 1
      "10 C8"                   // delta 16 -> SUBSCRIBER_PRIORITY (0x20) uint8 200
      "01 04"                   // delta 1  -> SUBSCRIPTION_FILTER (0x21) length 4:
      "   04"                   //   Filter Type AbsoluteRange
      "   64 05"                //   Start Location {100, 5}
      "   0A"                   //   End Group Delta 10 (last group = 100 + 10 = 110)
      "01 02"                   // delta 1  -> GROUP_ORDER (0x22) uint8 Descending
      "10 00");                 // delta 16 -> NEW_GROUP_REQUEST (0x32) vi64 0
  Subscribe m;
  m.request_id = 4;
  m.track = kLiveVideo;
  m.params.delivery_timeout = 5000;
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.forward = true;
  m.params.subscriber_priority = 200;
  m.params.filter = absolute_range(100, 5, 110);
  m.params.group_order = GroupOrder::kDescending;
  m.params.new_group_request = 0;
  m.params.subgroup_delivery_timeout = 200;
  m.params.rendezvous_timeout = 1000;
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, SubscribeAbsoluteStartFilter) {
  // -18 §10.7, §5.1.2: AbsoluteStart filter with a 3-byte vi64 group inside the filter value.
  const Bytes bytes = hex(
      "03"                  // type SUBSCRIBE
      "00 17"               // length 23
      "06"                  // Request ID 6
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "02"                  // Number of Parameters 2
      "10 00"               // delta 16 -> FORWARD (0x10) uint8 0
      "11 05"               // delta 17 -> SUBSCRIPTION_FILTER (0x21) length 5:
      "   03"               //   Filter Type AbsoluteStart
      "   C0 4E 20 00");    //   Start Location {20000 (3-byte vi64), 0}
  Subscribe m;
  m.request_id = 6;
  m.track = kLiveVideo;
  m.params.forward = false;
  m.params.filter = absolute_start(20000, 0);
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, SubscribeOk) {
  // -18 §10.8: Track Alias, Parameters, Track Properties (no Request ID).
  const Bytes bytes = hex(
      "04"           // type SUBSCRIBE_OK (0x4)
      "00 10"        // length 16
      "05"           // Track Alias 5
      "02"           // Number of Parameters 2
      "08 C0 75 30"  // delta 8 -> EXPIRES (0x08) vi64 30000 (3 bytes)
      "01 07 03"     // delta 1 -> LARGEST_OBJECT (0x09) bare Location {7, 3}
      // Track Properties (rest of the message, delta KVPs):
      "04 C0 EA 60"  // delta 4  -> MAX_CACHE_DURATION (0x04) 60000
      "0A 80 80");   // delta 10 -> DEFAULT_PUBLISHER_PRIORITY (0x0E) 128
  SubscribeOk m;
  m.track_alias = 5;
  m.params.expires = 30000;
  m.params.largest_object = Location{7, 3};
  m.track_properties = {KeyValuePair::integer(0x04, 60000), KeyValuePair::integer(0x0E, 128)};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, RequestOkTrackStatusOk) {
  // -18 §10.5: Parameters, Track Properties (populated in TRACK_STATUS_OK, §10.14).
  const Bytes bytes = hex(
      "07"          // type REQUEST_OK (0x7)
      "00 08"       // length 8
      "01"          // Number of Parameters 1
      "09 0A 04"    // delta 9 -> LARGEST_OBJECT (0x09) {10, 4}
      // Track Properties:
      "22 01"       // delta 34 -> DEFAULT_PUBLISHER_GROUP_ORDER (0x22) Ascending
      "0E 01");     // delta 14 -> DYNAMIC_GROUPS (0x30) 1
  RequestOk m;
  m.params.largest_object = Location{10, 4};
  m.track_properties = {KeyValuePair::integer(0x22, 1), KeyValuePair::integer(0x30, 1)};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, RequestOkPublishOk) {
  // -18 §10.5 used as PUBLISH_OK: subscription parameters, empty Track Properties.
  const Bytes bytes = hex(
      "07"          // type REQUEST_OK
      "00 0C"       // length 12
      "05"          // Number of Parameters 5
      "02 64"       // delta 2  -> OBJECT_DELIVERY_TIMEOUT (0x02) 100
      "04 64"       // delta 4  -> SUBGROUP_DELIVERY_TIMEOUT (0x06) 100
      "0A 01"       // delta 10 -> FORWARD (0x10) uint8 1
      "10 20"       // delta 16 -> SUBSCRIBER_PRIORITY (0x20) uint8 32
      "01 01 01");  // delta 1  -> SUBSCRIPTION_FILTER (0x21) length 1: NextGroupStart
  RequestOk m;
  m.params.delivery_timeout = 100;
  m.params.forward = true;
  m.params.subscriber_priority = 32;
  m.params.filter = next_group_start();
  m.params.subgroup_delivery_timeout = 100;
  EXPECT_VECTOR(Draft::k18, bytes, m);

  const Bytes empty = hex(
      "07"      // type REQUEST_OK
      "00 01"   // length 1
      "00");    // Number of Parameters 0; no Track Properties
  EXPECT_VECTOR(Draft::k18, empty, RequestOk{});
}

TEST(Draft18Vectors, StalePublishOkCode) {
  // Decode only. The -18 §10 type table still lists 0x1E PUBLISH_OK, but §10.5 (and the change
  // log, #1611) make PUBLISH_OK a REQUEST_OK (0x7). The codec accepts 0x1E and always sends 0x7.
  const Bytes stale = hex(
      "1E"      // type 0x1E (PUBLISH_OK, stale table entry)
      "00 01"   // length 1
      "00");    // Number of Parameters 0
  const RequestOk publish_ok{.of = RequestKind::kPublish};
  EXPECT_DECODE_ONLY(Draft::k18, stale, publish_ok);
  EXPECT_EQ(to_hex(encode_control(publish_ok, Draft::k18).value()), to_hex(hex("07 00 01 00")));
}

TEST(Draft18Vectors, RequestError) {
  // -18 §10.6.2: Error Code, Retry Interval, Error Reason, [Redirect] (no Request ID).
  const Bytes bytes = hex(
      "05"                // type REQUEST_ERROR (0x5)
      "00 07"             // length 7
      "10"                // Error Code DOES_NOT_EXIST (0x10)
      "00"                // Retry Interval 0
      "04 6E 6F 70 65");  // Reason Phrase "nope"
  EXPECT_VECTOR(Draft::k18, bytes, (RequestError{.error_code = 0x10, .reason = "nope"}));
}

TEST(Draft18Vectors, RequestErrorRedirect) {
  // -18 §10.6.1, §10.6.2: Error Code REDIRECT (0x34, §15.10.2) is followed by a Redirect
  // {Connect URI Length, Connect URI, Track Namespace, Track Name Length, Track Name}.
  const Bytes bytes = hex(
      "05"                                  // type REQUEST_ERROR
      "00 21"                               // length 33
      "34"                                  // Error Code REDIRECT (0x34)
      "83 E9"                               // Retry Interval 1001 (2-byte vi64)
      "00"                                  // Reason Phrase length 0
      "0B 6D 6F 71 74 3A 2F 2F 62 2E 69 6F"  // Connect URI "moqt://b.io"
      "02 04 6C 69 76 65 04 6D 65 65 74"    // Track Namespace ("live", "meet")
      "05 76 69 64 65 6F");                 // Track Name "video"
  RequestError a;
  a.error_code = kRequestErrorRedirect;
  a.retry_interval = 1001;
  a.redirect = Redirect{"moqt://b.io", {kLiveMeet, "video"}};
  EXPECT_VECTOR(Draft::k18, bytes, a);

  const Bytes same_track = hex(
      "05"      // type REQUEST_ERROR
      "00 06"   // length 6
      "34"      // Error Code REDIRECT
      "00"      // Retry Interval 0
      "00"      // Reason Phrase length 0
      "00"      // Connect URI length 0 (current session)
      "00"      // Track Namespace with 0 fields
      "00");    // Track Name length 0 (both empty: same track as the request)
  RequestError b;
  b.error_code = kRequestErrorRedirect;
  b.redirect = Redirect{};
  EXPECT_VECTOR(Draft::k18, same_track, b);
}

TEST(Draft18Vectors, RequestUpdate) {
  // -18 §10.9: Request ID, Parameters (no Existing Request ID: the request stream names it).
  const Bytes subscription = hex(
      "02"              // type REQUEST_UPDATE (0x2)
      "00 0F"           // length 15
      "08"              // Request ID 8
      "04"              // Number of Parameters 4
      "02 80 FA"        // delta 2  -> OBJECT_DELIVERY_TIMEOUT (0x02) 250
      "0E 00"           // delta 14 -> FORWARD (0x10) uint8 0
      "10 40"           // delta 16 -> SUBSCRIBER_PRIORITY (0x20) uint8 64
      "01 04"           // delta 1  -> SUBSCRIPTION_FILTER (0x21) length 4:
      "   04 0A 00 00");  //   AbsoluteRange, Start {10, 0}, End Group Delta 0 (only group 10)
  RequestUpdate a;
  a.request_id = 8;
  a.params.delivery_timeout = 250;
  a.params.forward = false;
  a.params.subscriber_priority = 64;
  a.params.filter = absolute_range(10, 0, 10);
  EXPECT_VECTOR(Draft::k18, subscription, a);

  // -18 §10.9.2, §10.2.14: TRACK_NAMESPACE_PREFIX (0x34) is a bare Track Namespace.
  const Bytes namespace_prefix = hex(
      "02"                                  // type REQUEST_UPDATE
      "00 0E"                               // length 14
      "0A"                                  // Request ID 10
      "01"                                  // Number of Parameters 1
      "34"                                  // delta 52 -> TRACK_NAMESPACE_PREFIX (0x34)
      "02 04 6C 69 76 65 04 6D 65 65 74");  //   Track Namespace ("live", "meet")
  RequestUpdate b;
  b.request_id = 10;
  b.params.namespace_prefix = kLiveMeet;
  EXPECT_VECTOR(Draft::k18, namespace_prefix, b);
}

TEST(Draft18Vectors, Publish) {
  // -18 §10.10: Request ID, Track Namespace, Track Name, Track Alias, Parameters, Track Properties.
  const Bytes bytes = hex(
      "1D"                      // type PUBLISH (0x1D)
      "00 24"                   // length 36
      "01"                      // Request ID 1
      "01 04 6C 69 76 65"       // Track Namespace ("live")
      "05 76 69 64 65 6F"       // Track Name "video"
      "0B"                      // Track Alias 11
      "04"                      // Number of Parameters 4
      "03 05 03 00 61 62 63"    // delta 3 -> AUTHORIZATION_TOKEN (0x03) len 5: USE_VALUE type 0 "abc"
      "05 64"                   // delta 5 -> EXPIRES (0x08) 100
      "01 81 00 02"             // delta 1 -> LARGEST_OBJECT (0x09) {256 (2-byte vi64), 2}
      "07 00"                   // delta 7 -> FORWARD (0x10) uint8 0
      // Track Properties:
      "02 93 88"                // delta 2 -> OBJECT_DELIVERY_TIMEOUT (0x02) 5000
      "04 80 C8");              // delta 4 -> SUBGROUP_DELIVERY_TIMEOUT (0x06) 200
  Publish m;
  m.request_id = 1;
  m.track = kLiveVideo;
  m.track_alias = 11;
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.expires = 100;
  m.params.largest_object = Location{256, 2};
  m.params.forward = false;
  m.track_properties = {KeyValuePair::integer(0x02, 5000), KeyValuePair::integer(0x06, 200)};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, PublishDone) {
  // -18 §10.11: Status Code, Stream Count, Error Reason (no Request ID).
  const Bytes bytes = hex(
      "0B"             // type PUBLISH_DONE (0xB)
      "00 06"          // length 6
      "02"             // Status Code TRACK_ENDED (0x2)
      "03"             // Stream Count 3
      "03 62 79 65");  // Reason Phrase "bye"
  EXPECT_VECTOR(Draft::k18, bytes, (PublishDone{.status_code = 2, .stream_count = 3, .reason = "bye"}));

  const Bytes unknown_count = hex(
      "0B"                            // type PUBLISH_DONE
      "00 0B"                         // length 11
      "00"                            // Status Code INTERNAL_ERROR
      "FF 3F FF FF FF FF FF FF FF"    // Stream Count 2^62-1: 62 bits need the 9-byte vi64 form
      "00");                          // Reason Phrase length 0
  EXPECT_VECTOR(Draft::k18, unknown_count, (PublishDone{.status_code = 0, .stream_count = (uint64_t{1} << 62) - 1}));
}

TEST(Draft18Vectors, FetchStandalone) {
  // -18 §10.12, §10.12.1, with FILL_TIMEOUT (§10.2.5), SUBSCRIBER_PRIORITY, GROUP_ORDER.
  // Draft ambiguity: -18 §10.2.5 does not state FILL_TIMEOUT's encoding; taken to be a vi64.
  const Bytes bytes = hex(
      "16"                  // type FETCH (0x16)
      "00 1A"               // length 26
      "04"                  // Request ID 4
      "01"                  // Fetch Type Standalone
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "05 76 69 64 65 6F"   // Track Name "video"
      "01 00"               // Start Location {1, 0}
      "03 00"               // End Location {3, 0}
      "03"                  // Number of Parameters 3
      "0A 81 F4"            // delta 10 -> FILL_TIMEOUT (0x0A) vi64 500
      "16 0A"               // delta 22 -> SUBSCRIBER_PRIORITY (0x20) uint8 10
      "02 01");             // delta 2  -> GROUP_ORDER (0x22) uint8 Ascending
  Fetch m;
  m.request_id = 4;
  m.type = FetchType::kStandalone;
  m.track = kLiveVideo;
  m.start = {1, 0};
  m.end = {3, 0};
  m.params.subscriber_priority = 10;
  m.params.group_order = GroupOrder::kAscending;
  m.params.fill_timeout = 500;
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, FetchRelativeJoining) {
  // -18 §10.12.2: Joining Request ID, Joining Start.
  const Bytes bytes = hex(
      "16"      // type FETCH
      "00 05"   // length 5
      "06"      // Request ID 6
      "02"      // Fetch Type Relative Joining
      "02"      // Joining Request ID 2
      "05"      // Joining Start 5
      "00");    // Number of Parameters 0
  EXPECT_VECTOR(Draft::k18, bytes,
                (Fetch{.request_id = 6, .type = FetchType::kRelativeJoining, .joining_request_id = 2, .joining_start = 5}));
}

TEST(Draft18Vectors, FetchAbsoluteJoining) {
  // -18 §10.12.2, §10.12.2.1: Start Location = {Joining Start, 0}.
  const Bytes bytes = hex(
      "16"                      // type FETCH
      "00 0D"                   // length 13
      "08"                      // Request ID 8
      "03"                      // Fetch Type Absolute Joining
      "02"                      // Joining Request ID 2
      "83 E8"                   // Joining Start 1000 (2-byte vi64)
      "01"                      // Number of Parameters 1
      "03 05 03 00 61 62 63");  // delta 3 -> AUTHORIZATION_TOKEN USE_VALUE type 0 "abc"
  Fetch m;
  m.request_id = 8;
  m.type = FetchType::kAbsoluteJoining;
  m.joining_request_id = 2;
  m.joining_start = 1000;
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, FetchOk) {
  // -18 §10.13: End Of Track (8), End Location, Parameters, Track Properties (no Request ID).
  const Bytes bytes = hex(
      "18"             // type FETCH_OK (0x18)
      "00 08"          // length 8
      "00"             // End Of Track 0
      "03 00"          // End Location {3, 0}
      "00"             // Number of Parameters 0
      "04 C0 EA 60");  // Track Property: delta 4 -> MAX_CACHE_DURATION (0x04) 60000
  FetchOk m;
  m.end_location = {3, 0};
  m.track_properties = {KeyValuePair::integer(0x04, 60000)};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, TrackStatus) {
  // -18 §10.14: SUBSCRIBE layout.
  const Bytes bytes = hex(
      "0D"                      // type TRACK_STATUS (0xD)
      "00 15"                   // length 21
      "0E"                      // Request ID 14
      "01 04 6C 69 76 65"       // Track Namespace ("live")
      "05 76 69 64 65 6F"       // Track Name "video"
      "01"                      // Number of Parameters 1
      "03 05 03 00 61 62 63");  // delta 3 -> AUTHORIZATION_TOKEN USE_VALUE type 0 "abc"
  TrackStatus m;
  m.request_id = 14;
  m.track = kLiveVideo;
  m.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, PublishNamespace) {
  // -18 §10.15: Request ID, Track Namespace, Parameters.
  const Bytes bytes = hex(
      "06"                                // type PUBLISH_NAMESPACE (0x6)
      "00 0D"                             // length 13
      "10"                                // Request ID 16
      "02 04 6C 69 76 65 04 6D 65 65 74"  // Track Namespace ("live", "meet")
      "00");                              // Number of Parameters 0
  EXPECT_VECTOR(Draft::k18, bytes, (PublishNamespace{.request_id = 16, .ns = kLiveMeet}));
}

TEST(Draft18Vectors, SubscribeNamespace) {
  // -18 §10.18 (type 0x50: one vi64 byte; it would be 40 50 as a QUIC varint): Request ID,
  // Track Namespace Prefix (0..32 fields), Parameters. No Subscribe Options in -18.
  const Bytes bytes = hex(
      "50"                      // type SUBSCRIBE_NAMESPACE (0x50)
      "00 0F"                   // length 15
      "12"                      // Request ID 18
      "01 04 6C 69 76 65"       // Track Namespace Prefix ("live")
      "01"                      // Number of Parameters 1
      "03 05 03 00 61 62 63");  // delta 3 -> AUTHORIZATION_TOKEN USE_VALUE type 0 "abc"
  SubscribeNamespace a;
  a.request_id = 18;
  a.prefix = {"live"};
  a.params.auth_tokens = {use_value(0, "abc")};
  EXPECT_VECTOR(Draft::k18, bytes, a);

  const Bytes empty_prefix = hex(
      "50"      // type SUBSCRIBE_NAMESPACE
      "00 03"   // length 3
      "14"      // Request ID 20
      "00"      // Track Namespace Prefix with 0 fields
      "00");    // Number of Parameters 0
  EXPECT_VECTOR(Draft::k18, empty_prefix, (SubscribeNamespace{.request_id = 20, .prefix = {}}));
}

TEST(Draft18Vectors, SubscribeTracks) {
  // -18 §10.19 (type 0x51): Request ID, Track Namespace Prefix, Parameters (FORWARD allowed).
  const Bytes bytes = hex(
      "51"                      // type SUBSCRIBE_TRACKS (0x51)
      "00 11"                   // length 17
      "16"                      // Request ID 22
      "01 04 6C 69 76 65"       // Track Namespace Prefix ("live")
      "02"                      // Number of Parameters 2
      "03 05 03 00 61 62 63"    // delta 3  -> AUTHORIZATION_TOKEN USE_VALUE type 0 "abc"
      "0D 00");                 // delta 13 -> FORWARD (0x10) uint8 0
  SubscribeTracks m;
  m.request_id = 22;
  m.prefix = {"live"};
  m.params.auth_tokens = {use_value(0, "abc")};
  m.params.forward = false;
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, Namespace) {
  // -18 §10.16: Track Namespace Suffix. (The diagram labels the type "(i)"; as everywhere in
  // -18 it is a vi64, identical for 0x8.)
  const Bytes bytes = hex(
      "08"                       // type NAMESPACE (0x8)
      "00 07"                    // length 7
      "01 05 72 6F 6F 6D 31");   // Track Namespace Suffix ("room1")
  EXPECT_VECTOR(Draft::k18, bytes, Namespace{{"room1"}});
}

TEST(Draft18Vectors, NamespaceDone) {
  // -18 §10.17: Track Namespace Suffix.
  const Bytes bytes = hex(
      "0E"                       // type NAMESPACE_DONE (0xE)
      "00 07"                    // length 7
      "01 05 72 6F 6F 6D 31");   // Track Namespace Suffix ("room1")
  EXPECT_VECTOR(Draft::k18, bytes, NamespaceDone{{"room1"}});
}

TEST(Draft18Vectors, PublishBlocked) {
  // -18 §10.20 (type 0xF): Track Namespace Suffix, Track Name Length, Track Name.
  const Bytes bytes = hex(
      "0F"                     // type PUBLISH_BLOCKED (0xF)
      "00 0D"                  // length 13
      "01 05 72 6F 6F 6D 31"   // Track Namespace Suffix ("room1")
      "05 76 69 64 65 6F");    // Track Name "video"
  EXPECT_VECTOR(Draft::k18, bytes, (PublishBlocked{.suffix = {"room1"}, .name = "video"}));
}

TEST(Draft18Vectors, RepeatedAuthorizationTokenUsesDeltaZero) {
  // -18 §10.2: Type Delta 0 repeats a type; AUTHORIZATION TOKEN may repeat (§10.2.2).
  const Bytes bytes = hex(
      "06"                      // type PUBLISH_NAMESPACE
      "00 15"                   // length 21
      "12"                      // Request ID 18
      "01 04 6C 69 76 65"       // Track Namespace ("live")
      "02"                      // Number of Parameters 2
      "03 05 03 00 61 62 63"    // delta 3 -> AUTHORIZATION_TOKEN len 5: USE_VALUE type 0 "abc"
      "00 04 01 01 00 78");     // delta 0 -> AUTHORIZATION_TOKEN len 4: REGISTER alias 1 type 0 "x"
  PublishNamespace m;
  m.request_id = 18;
  m.ns = {"live"};
  m.params.auth_tokens = {use_value(0, "abc"), register_token(1, 0, "x")};
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, ZeroObjectDeliveryTimeoutMeansNone) {
  // -18 §10.2.4, §8: OBJECT_DELIVERY_TIMEOUT 0 is valid ("no timeout"; change log #1450
  // reversed the -16 "> 0" rule).
  const Bytes bytes = hex(
      "02"      // type REQUEST_UPDATE
      "00 04"   // length 4
      "0C"      // Request ID 12
      "01"      // Number of Parameters 1
      "02 00");  // delta 2 -> OBJECT_DELIVERY_TIMEOUT (0x02) 0
  RequestUpdate m;
  m.request_id = 12;
  m.params.delivery_timeout = 0;
  EXPECT_VECTOR(Draft::k18, bytes, m);
}

TEST(Draft18Vectors, MisplacedParameterIsViolation) {
  // -18 §10.2.1: a parameter in a message its definition does not list closes the session with
  // PROTOCOL_VIOLATION. FORWARD (§10.2.12) is not defined for PUBLISH_NAMESPACE.
  const Bytes bytes = hex(
      "06"                  // type PUBLISH_NAMESPACE
      "00 0A"               // length 10
      "10"                  // Request ID 16
      "01 04 6C 69 76 65"   // Track Namespace ("live")
      "01"                  // Number of Parameters 1
      "10 01");             // delta 16 -> FORWARD (0x10) uint8 1: not allowed here
  expect_frame_length_consistent(bytes, Draft::k18);
  expect_rejected(bytes, Draft::k18);
}

// =============================================================================================
// Message types a draft does not define.
// =============================================================================================

TEST(ControlVectorsUnknownType, DecodeRejectsTypesTheDraftLacks) {
  // "An endpoint that receives an unknown message type MUST close the session" (-14 §9, -16 §9,
  // -18 §10), with PROTOCOL_VIOLATION.
  expect_rejected(hex("12 00 01 00"), Draft::k16);    // 0x12 SUBSCRIBE_NAMESPACE_OK: -14 only
  expect_rejected(hex("19 00 01 00"), Draft::k16);    // 0x19 FETCH_ERROR: -14 only
  expect_rejected(hex("14 00 01 00"), Draft::k16);    // 0x14 UNSUBSCRIBE_NAMESPACE: -14 only
  expect_rejected(hex("6F 00 00 00"), Draft::k16);    // 0x2F00 SETUP (2-byte QUIC varint): -17+
  expect_rejected(hex("20 00 00"), Draft::k18);       // 0x20 CLIENT_SETUP: reserved in -18
  expect_rejected(hex("15 00 01 00"), Draft::k18);    // 0x15 MAX_REQUEST_ID: gone in -18
  expect_rejected(hex("0A 00 01 00"), Draft::k18);    // 0x0A UNSUBSCRIBE: gone in -18
  expect_rejected(hex("11 00 00"), Draft::k18);       // 0x11 SUBSCRIBE_NAMESPACE (-16 code)
  expect_rejected(hex("40 50 00 00"), Draft::k14);    // 0x50 (2-byte QUIC varint): -18 only
  expect_rejected(hex("0F 00 00"), Draft::k16);       // 0xF: TRACK_STATUS_ERROR in -14, PUBLISH_BLOCKED in -18
  // Rejected as soon as the type is known, before the payload arrives.
  expect_rejected(hex("12"), Draft::k16);
  expect_rejected(hex("20"), Draft::k18);
  expect_rejected(hex("40 50"), Draft::k14);
}

TEST(ControlVectorsUnknownType, EncodeRefusesKindsTheDraftLacks) {
  expect_encode_refused(SetupMessage{}, Draft::k14);
  expect_encode_refused(SetupMessage{}, Draft::k16);
  expect_encode_refused(Namespace{{"a"}}, Draft::k14);
  expect_encode_refused(NamespaceDone{{"a"}}, Draft::k14);
  expect_encode_refused(SubscribeTracks{.request_id = 0, .prefix = {"a"}}, Draft::k14);
  expect_encode_refused(SubscribeTracks{.request_id = 0, .prefix = {"a"}}, Draft::k16);
  expect_encode_refused(PublishBlocked{.suffix = {"a"}, .name = "b"}, Draft::k16);
  expect_encode_refused(UnsubscribeNamespace{{"a"}}, Draft::k16);
  expect_encode_refused(MaxRequestId{10}, Draft::k18);
  expect_encode_refused(RequestsBlocked{10}, Draft::k18);
  expect_encode_refused(ClientSetup{}, Draft::k18);
  expect_encode_refused(ServerSetup{}, Draft::k18);
  expect_encode_refused(Unsubscribe{0}, Draft::k18);
  expect_encode_refused(FetchCancel{0}, Draft::k18);
  expect_encode_refused(PublishNamespaceDone{.request_id = 0}, Draft::k18);
  expect_encode_refused(PublishNamespaceCancel{.request_id = 0}, Draft::k18);
  expect_encode_refused(UnsubscribeNamespace{{"a"}}, Draft::k18);
}

}  // namespace
}  // namespace moqt::wire::test
