// Every control message of every draft: encode -> decode gives the same message, and a stream
// of all of them parses identically whatever the byte splits.
#include <gtest/gtest.h>

#include <set>

#include "samples.h"
#include "test_util.h"

namespace moqt::wire::test {
namespace {

class ControlRoundTrip : public ::testing::TestWithParam<Draft> {};

TEST_P(ControlRoundTrip, EachMessageRoundTrips) {
  const Draft d = GetParam();
  for (const ControlMessage& m : sample_messages(d)) {
    SCOPED_TRACE(to_string(m));
    Result<Bytes> bytes = encode_control(m, d);
    ASSERT_TRUE(bytes.ok()) << bytes.error().detail;
    ControlDecode dec = decode_control(*bytes, d);
    ASSERT_TRUE(std::holds_alternative<DecodedMessage>(dec))
        << (std::holds_alternative<WireError>(dec) ? std::get<WireError>(dec).detail : "need more");
    const auto& dm = std::get<DecodedMessage>(dec);
    EXPECT_EQ(dm.consumed, bytes->size());
    EXPECT_EQ(dm.message, m) << "decoded: " << to_string(dm.message);
    // Length field = payload size.
    uint64_t type = 0;
    size_t tl = 0;
    ASSERT_EQ(decode_int(profile(d).ints, *bytes, type, tl), IntDecode::kOk);
    EXPECT_EQ((size_t{(*bytes)[tl]} << 8 | (*bytes)[tl + 1]), bytes->size() - tl - 2);
  }
}

// The samples name every message kind (and -14 reply variant) the draft's table defines.
TEST_P(ControlRoundTrip, SamplesCoverEveryTypeCode) {
  const Draft d = GetParam();
  const Profile& p = profile(d);
  std::set<uint64_t> seen;
  for (const ControlMessage& m : sample_messages(d)) {
    Result<Bytes> bytes = encode_control(m, d);
    ASSERT_TRUE(bytes.ok());
    uint64_t type = 0;
    size_t used = 0;
    ASSERT_EQ(decode_int(p.ints, *bytes, type, used), IntDecode::kOk);
    seen.insert(type);
  }
  for (const MessageCode& c : p.messages) {
    if (!c.encode) continue;  // stale codes are only accepted
    EXPECT_TRUE(seen.count(c.type)) << p.name << ": no sample for " << c.name;
  }
}

TEST_P(ControlRoundTrip, StreamParsesIdenticallyForAnySplit) {
  const Draft d = GetParam();
  const std::vector<ControlMessage> msgs = sample_messages(d);
  Bytes stream;
  for (const ControlMessage& m : msgs) ASSERT_FALSE(encode_control(m, d, stream).has_value());
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, stream.size()}) {
    ParsedControl got = parse_control_stream(stream, d, chunk);
    EXPECT_FALSE(got.error.has_value()) << "chunk " << chunk << ": " << got.error->detail;
    EXPECT_EQ(got.messages, msgs) << "chunk " << chunk;
  }
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    ParsedControl got = parse_control_stream(stream, d, 0, seed);
    EXPECT_FALSE(got.error.has_value());
    EXPECT_EQ(got.messages, msgs) << "seed " << seed;
  }
}

TEST_P(ControlRoundTrip, TruncatedFrameAsksForMore) {
  const Draft d = GetParam();
  for (const ControlMessage& m : sample_messages(d)) {
    Bytes bytes = encode_control(m, d).value();
    for (size_t n = 0; n < bytes.size(); ++n) {
      ControlDecode dec = decode_control(ByteView(bytes).first(n), d);
      ASSERT_TRUE(std::holds_alternative<NeedMore>(dec)) << to_string(m) << " prefix " << n;
    }
  }
}

TEST_P(ControlRoundTrip, ParserReportsBoundaryAndKeepsOnlyPartialFrame) {
  const Draft d = GetParam();
  Bytes two;
  auto msgs = sample_messages(d);
  ASSERT_FALSE(encode_control(msgs[0], d, two));
  const size_t first = two.size();
  ASSERT_FALSE(encode_control(msgs[1], d, two));
  ControlStreamParser parser(d);
  parser.push(ByteView(two).first(first + 2));
  auto m = parser.next();
  ASSERT_TRUE(m && m->ok());
  EXPECT_FALSE(parser.next().has_value());
  EXPECT_FALSE(parser.at_message_boundary());
  EXPECT_EQ(parser.buffered(), 2u);
  parser.push(ByteView(two).subspan(first + 2));
  m = parser.next();
  ASSERT_TRUE(m && m->ok());
  EXPECT_EQ(m->value(), msgs[1]);
  EXPECT_TRUE(parser.at_message_boundary());
}

INSTANTIATE_TEST_SUITE_P(AllDrafts, ControlRoundTrip, ::testing::ValuesIn(kAllDrafts),
                         [](const auto& info) { return std::string(profile(info.param).name).substr(6); });

}  // namespace
}  // namespace moqt::wire::test
