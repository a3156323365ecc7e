// Data-plane stream behaviour for drafts 14, 16 and 18 of draft-ietf-moq-transport:
//  (a) round trips of long generated subgroup/fetch streams and datagrams,
//  (b) the same stream fed in one piece, byte by byte, and in random chunks gives identical events,
//  (c) malformed input fails with the termination code the draft prescribes (PROTOCOL_VIOLATION
//      for everything here), plus stream classification and the zero-copy payload guarantee.
// Malformed vectors are hand-built; section numbers: -14/-16 §10, -18 §11 ("Data Streams and
// Datagrams"), -18 §3.4 (unidirectional stream types).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

// ---------------------------------------------------------------------------------------------
// Allocation accounting for this test binary: lets a test check that a huge declared payload
// length is streamed rather than buffered.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<size_t> g_allocated_bytes{0};
}  // namespace

// GCC pairs the replaced new/delete with malloc/free and warns about a mismatch that is not one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Every non-aligned form is replaced, so whatever allocates (ours, the library's, a sanitizer's
// runtime) pairs with a matching release.
static void* counted_alloc(std::size_t n) {
  if (g_count_allocations.load(std::memory_order_relaxed)) g_allocated_bytes.fetch_add(n, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace moqt::wire::test {
namespace {

constexpr ObjectStatus kNormal = ObjectStatus::kNormal;

KeyValuePair I(uint64_t type, uint64_t v) { return KeyValuePair::integer(type, v); }
KeyValuePair B(uint64_t type, std::string v) { return KeyValuePair::bytes(type, std::move(v)); }

std::string err(const std::optional<WireError>& e) { return e ? e->detail : "ok"; }
std::string name(Draft d) { return profile(d).name; }

// Properties allowed on an object with this status, as the drafts state it: -14 §10.2.1.2 bars
// only "Does Not Exist" objects, -16 §10.2.1.2 / -18 §11.2.1.2 allow Normal objects only.
bool properties_allowed(ObjectStatus s, Draft d) {
  return d == Draft::k14 ? s != ObjectStatus::kDoesNotExist : s == kNormal;
}

// Feeds the stream and returns what the visitor saw.
struct Outcome {
  RecordingVisitor v;
  std::optional<WireError> error;
};
Outcome run(const Bytes& bytes, Draft d, size_t chunk, uint32_t seed = 1, GroupOrder order = GroupOrder::kAscending,
            DataStreamLimits limits = {}) {
  Outcome out;
  DataStreamParser parser(d, out.v, limits);
  parser.set_fetch_group_order(order);
  out.error = feed_data_stream(parser, bytes, chunk, /*fin=*/true, seed);
  return out;
}

void expect_same_events(const RecordingVisitor& got, const RecordingVisitor& want) {
  EXPECT_EQ(got.subgroup_headers, want.subgroup_headers);
  EXPECT_EQ(got.fetch_headers, want.fetch_headers);
  EXPECT_EQ(got.padding, want.padding);
  EXPECT_EQ(got.ended, want.ended);
  EXPECT_TRUE(got.current.empty()) << "unfinished payload of " << got.current.size() << " bytes";
  ASSERT_EQ(got.objects.size(), want.objects.size());
  for (size_t i = 0; i < got.objects.size(); ++i) EXPECT_TRUE(got.objects[i] == want.objects[i]) << "object " << i;
  ASSERT_EQ(got.fetch_objects.size(), want.fetch_objects.size());
  for (size_t i = 0; i < got.fetch_objects.size(); ++i)
    EXPECT_TRUE(got.fetch_objects[i] == want.fetch_objects[i]) << "fetch entry " << i;
  ASSERT_EQ(got.payloads.size(), want.payloads.size());
  for (size_t i = 0; i < got.payloads.size(); ++i) {
    // No EXPECT_EQ: a failing 1 MB payload would flood the log.
    EXPECT_TRUE(got.payloads[i] == want.payloads[i])
        << "payload " << i << ": got " << got.payloads[i].size() << " bytes, want " << want.payloads[i].size();
  }
}

// ---------------------------------------------------------------------------------------------
// Generators

class Gen {
 public:
  Gen(Draft d, uint32_t seed) : d_(d), rng_(seed) {}
  uint64_t uniform(uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  std::string bytes(size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    return s;
  }
  size_t payload_size() {
    const uint64_t r = uniform(0, 99);
    if (r < 25) return 0;
    if (r < 75) return uniform(1, 200);
    if (r < 95) return uniform(201, 5000);
    return uniform(5001, 100000);
  }
  uint64_t any_int() {  // anything the draft's integer encoding can carry, biased to small values
    const uint64_t max = max_int(profile(d_).ints);
    switch (uniform(0, 3)) {
      case 0: return uniform(0, 63);
      case 1: return uniform(64, 20000);
      case 2: return uniform(0, max);
      default: return max - uniform(0, 3);
    }
  }
  KeyValueList props() {
    KeyValueList l;
    const uint64_t n = uniform(1, 4);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t type = chance(0.7) ? uniform(0, 63) : uniform(64, 20000);
      if (type & 1) l.push_back(B(type, bytes(uniform(0, 40))));
      else l.push_back(I(type, any_int()));
    }
    if (chance(0.03)) l.push_back(B(0x3B, bytes(uniform(10000, 30000))));  // a big value
    if (profile(d_).kvp_delta_types)  // the wire order of delta-coded types is ascending
      std::stable_sort(l.begin(), l.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
    return l;
  }
  ObjectStatus zero_length_status() {
    switch (uniform(0, 5)) {
      case 0: return ObjectStatus::kEndOfGroup;
      case 1: return ObjectStatus::kEndOfTrack;
      case 2: return d_ == Draft::k14 ? ObjectStatus::kDoesNotExist : kNormal;
      default: return kNormal;
    }
  }
  std::mt19937& rng() { return rng_; }

 private:
  Draft d_;
  std::mt19937 rng_;
};

struct GenStream {
  Bytes bytes;
  RecordingVisitor want;  // the events a correct parser reports
};

// A subgroup stream of `n` objects; objects at positions in `big` get `big_size` payload bytes.
GenStream subgroup_stream(Draft d, uint32_t seed, const SubgroupHeader& h, size_t n, std::vector<size_t> big = {},
                          size_t big_size = 0) {
  Gen g(d, seed);
  GenStream s;
  EXPECT_FALSE(encode_subgroup_header(h, d, s.bytes).has_value());
  SubgroupHeader announced = h;
  if (h.mode != SubgroupIdMode::kExplicit) announced.subgroup_id = 0;  // no field on the wire
  s.want.subgroup_headers.push_back(announced);
  std::optional<uint64_t> prev;
  uint64_t subgroup = h.mode == SubgroupIdMode::kExplicit ? h.subgroup_id : 0;
  for (size_t i = 0; i < n; ++i) {
    ObjectHeader o;
    if (!prev) o.object_id = g.uniform(0, 1000);
    else if (g.chance(0.7)) o.object_id = *prev + 1;
    else o.object_id = *prev + 1 + (g.chance(0.9) ? g.uniform(1, 10) : g.uniform(11, 1000000));
    if (!prev && h.mode == SubgroupIdMode::kFirstObject) subgroup = o.object_id;
    o.subgroup_id = subgroup;
    const size_t size = std::find(big.begin(), big.end(), i) != big.end() ? big_size : g.payload_size();
    o.payload_length = size;
    if (size == 0) o.status = g.zero_length_status();
    if (h.has_properties && properties_allowed(o.status, d) && g.chance(0.5)) o.properties = g.props();
    const std::string payload = g.bytes(size);
    auto e = encode_subgroup_object(o, prev, h.has_properties, d, s.bytes);
    EXPECT_FALSE(e.has_value()) << err(e);
    s.bytes.insert(s.bytes.end(), payload.begin(), payload.end());
    s.want.objects.push_back(o);
    s.want.payloads.push_back(payload);
    prev = o.object_id;
  }
  s.want.ended = true;
  return s;
}

// Descending fetches need room below the first group (steps are at most 1000); -16 QUIC varints
// stop at 2^62-1.
uint64_t descending_start(Gen& g, size_t n) { return g.uniform(1000 * (n + 1), uint64_t{1} << 61); }

// A fetch stream of `n` entries (objects and, in -16+, end-of-range markers) in group order `order`.
GenStream fetch_stream(Draft d, uint32_t seed, GroupOrder order, size_t n, std::vector<size_t> big = {},
                       size_t big_size = 0) {
  Gen g(d, seed);
  GenStream s;
  const uint64_t request_id = g.any_int();
  EXPECT_FALSE(encode_fetch_header(FetchHeader{request_id}, d, s.bytes).has_value());
  s.want.fetch_headers.push_back(FetchHeader{request_id});
  FetchObjectEncoder enc(d, order);
  const bool markers = d != Draft::k14;
  const bool descending = order == GroupOrder::kDescending;
  uint64_t group = descending ? descending_start(g, n) : g.uniform(0, 100);
  uint64_t object = g.uniform(0, 20);
  uint64_t subgroup = 0;
  uint8_t priority = static_cast<uint8_t>(g.uniform(0, 255));
  auto emit_marker = [&](uint64_t mg, uint64_t mo) {
    FetchObject m;
    m.entry = g.chance(0.5) ? FetchEntry::kEndOfNonExistentRange : FetchEntry::kEndOfUnknownRange;
    m.location = {mg, mo};
    auto e = enc.encode(m, s.bytes);
    EXPECT_FALSE(e.has_value()) << err(e);
    s.want.fetch_objects.push_back(m);  // markers carry no payload: no payload event
  };
  if (markers && g.chance(0.3)) {  // a fetch may open with an end-of-range marker
    emit_marker(group, object);
    object += 1 + g.uniform(0, 3);
  }
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) {
      if (g.chance(0.3)) {  // next group, in fetch order
        const uint64_t step = 1 + (g.chance(0.8) ? g.uniform(0, 2) : g.uniform(3, 1000));
        const uint64_t next = descending ? group - step : group + step;
        if (markers && step >= 2 && g.chance(0.3)) emit_marker(descending ? group - 1 : group + 1, g.uniform(0, 10));
        group = next;
        object = g.chance(0.2) ? object + 1 : g.uniform(0, 5);  // +1 is coded as "absent" across groups
      } else {
        if (markers && g.chance(0.1)) {
          const uint64_t mo = object + 1 + g.uniform(0, 3);
          emit_marker(group, mo);
          object = mo;
        }
        object += 1 + (g.chance(0.6) ? 0 : g.uniform(1, 50));
      }
    }
    FetchObject o;
    o.location = {group, object};
    const size_t size = std::find(big.begin(), big.end(), i) != big.end() ? big_size : g.payload_size();
    o.payload_length = size;
    if (g.chance(0.3)) priority = static_cast<uint8_t>(g.uniform(0, 255));
    o.publisher_priority = priority;
    if (d == Draft::k14) {
      o.subgroup_id = g.uniform(0, 10);
      if (size == 0) o.status = g.zero_length_status();
    } else if (g.chance(0.15)) {
      o.datagram = true;  // no subgroup: decodes with subgroup_id 0
    } else {
      switch (g.uniform(0, 4)) {
        case 0: break;                                   // same as prior
        case 1: subgroup += 1; break;                    // prior + 1
        case 2: subgroup = 0; break;
        default: subgroup = g.uniform(0, 100000); break;
      }
      o.subgroup_id = subgroup;
    }
    if (properties_allowed(o.status, d) && g.chance(0.3)) o.properties = g.props();
    const std::string payload = g.bytes(size);
    auto e = enc.encode(o, s.bytes);
    EXPECT_FALSE(e.has_value()) << err(e);
    s.bytes.insert(s.bytes.end(), payload.begin(), payload.end());
    s.want.fetch_objects.push_back(o);
    s.want.payloads.push_back(payload);
  }
  s.want.ended = true;
  return s;
}

// The streams every round-trip and split-feeding test uses: long, with payloads from 0 bytes to
// ~1 MB and properties, in every subgroup-id mode and both fetch orders.
std::vector<std::pair<std::string, GenStream>> generated_streams(Draft d) {
  std::vector<std::pair<std::string, GenStream>> out;
  SubgroupHeader h;
  h.track_alias = 7;
  h.group_id = 1234;
  h.mode = SubgroupIdMode::kExplicit;
  h.subgroup_id = 3;
  h.publisher_priority = 0x80;
  h.has_properties = true;
  out.emplace_back("subgroup+props", subgroup_stream(d, 1, h, 300, {17, 150}, 1000003));
  h.has_properties = false;
  h.mode = SubgroupIdMode::kFirstObject;
  h.end_of_group = true;
  if (d != Draft::k14) h.publisher_priority.reset();
  if (d == Draft::k18) h.first_object = true;
  out.emplace_back("subgroup-first-object", subgroup_stream(d, 2, h, 300, {5}, 400000));
  h.mode = SubgroupIdMode::kZero;
  h.has_properties = true;
  out.emplace_back("subgroup-zero", subgroup_stream(d, 3, h, 200));
  out.emplace_back("fetch", fetch_stream(d, 4, GroupOrder::kAscending, 300, {40}, 1000000));
  if (d == Draft::k18) {
    out.emplace_back("fetch-descending", fetch_stream(d, 5, GroupOrder::kDescending, 300, {3}, 700001));
  }
  return out;
}

GroupOrder order_of(const std::string& stream_name) {
  return stream_name.find("descending") != std::string::npos ? GroupOrder::kDescending : GroupOrder::kAscending;
}

// =============================================================================================
// (a) Round trips
// =============================================================================================

class DataRoundTrip : public ::testing::TestWithParam<Draft> {};

TEST_P(DataRoundTrip, GeneratedStreamsInOnePiece) {
  const Draft d = GetParam();
  for (auto& [label, s] : generated_streams(d)) {
    SCOPED_TRACE(label);
    Outcome r = run(s.bytes, d, s.bytes.size(), 1, order_of(label));
    ASSERT_FALSE(r.error.has_value()) << err(r.error);
    expect_same_events(r.v, s.want);
  }
}

TEST_P(DataRoundTrip, GeneratedStreamsCoverTheInterestingCases) {
  // Guards the generator itself: the streams above must hold what they claim to hold.
  const Draft d = GetParam();
  size_t empty = 0, large = 0, with_props = 0, statuses = 0, markers = 0, datagrams = 0;
  for (auto& [label, s] : generated_streams(d)) {
    for (const auto& p : s.want.payloads) {
      empty += p.empty();
      large += p.size() >= 400000;
    }
    for (const auto& o : s.want.objects) {
      with_props += !o.properties.empty();
      statuses += o.status != kNormal;
    }
    for (const auto& o : s.want.fetch_objects) {
      with_props += !o.properties.empty();
      statuses += o.status != kNormal;
      markers += o.entry != FetchEntry::kObject;
      datagrams += o.datagram;
    }
  }
  EXPECT_GT(empty, 50u);
  EXPECT_GE(large, d == Draft::k18 ? 5u : 4u);
  EXPECT_GT(with_props, 50u);
  EXPECT_GT(statuses, 20u);
  if (d != Draft::k14) {
    EXPECT_GT(markers, 5u);
    EXPECT_GT(datagrams, 10u);
  }
}

TEST_P(DataRoundTrip, RandomDatagrams) {
  const Draft d = GetParam();
  Gen g(d, 99);
  for (int i = 0; i < 3000; ++i) {
    ObjectDatagram dg;
    dg.track_alias = g.any_int();
    dg.group_id = g.any_int();
    dg.object_id = g.chance(0.3) ? 0 : g.any_int();
    if (d == Draft::k14 || g.chance(0.5)) dg.publisher_priority = static_cast<uint8_t>(g.uniform(0, 255));
    std::string payload;
    if (g.chance(0.3)) {
      dg.status = g.zero_length_status();
    } else {
      dg.end_of_group = g.chance(0.3);
      payload = g.bytes(g.uniform(0, 1200));
    }
    if (properties_allowed(dg.status.value_or(kNormal), d) && g.chance(0.4)) dg.properties = g.props();
    Result<Bytes> enc = encode_datagram(dg, as_bytes(payload), d);
    ASSERT_TRUE(enc.ok()) << enc.error().detail;
    Result<DecodedDatagram> dec = decode_datagram(*enc, d);
    ASSERT_TRUE(dec.ok()) << dec.error().detail;
    EXPECT_FALSE(dec->padding);
    EXPECT_TRUE(dec->header == dg) << "datagram " << i;
    EXPECT_EQ(to_string_bytes(dec->payload), payload);
  }
}

TEST_P(DataRoundTrip, EmptySubgroupStreamIsValid) {
  // -14 §10.4.3 / -18 §11.4.3: a header with no objects followed by FIN (or a reset) is allowed.
  const Draft d = GetParam();
  Outcome r = run(hex("14 01 02 03 80"), d, 0);
  ASSERT_FALSE(r.error.has_value()) << err(r.error);
  EXPECT_EQ(r.v.subgroup_headers.size(), 1u);
  EXPECT_TRUE(r.v.objects.empty());
  EXPECT_TRUE(r.v.ended);
  Outcome f = run(hex("05 09"), d, 0);
  ASSERT_FALSE(f.error.has_value()) << err(f.error);
  EXPECT_EQ(f.v.fetch_headers.size(), 1u);
  EXPECT_TRUE(f.v.ended);
}

INSTANTIATE_TEST_SUITE_P(Drafts, DataRoundTrip, ::testing::ValuesIn(kAllDrafts),
                         [](const auto& info) { return "Draft" + std::to_string(int(info.param)); });

// =============================================================================================
// (b) Split feeding: identical events however the bytes arrive
// =============================================================================================

class DataSplitFeeding : public ::testing::TestWithParam<Draft> {};

TEST_P(DataSplitFeeding, OneByteAtATime) {
  const Draft d = GetParam();
  for (auto& [label, s] : generated_streams(d)) {
    SCOPED_TRACE(label);
    Outcome r = run(s.bytes, d, 1, 1, order_of(label));
    ASSERT_FALSE(r.error.has_value()) << err(r.error);
    expect_same_events(r.v, s.want);
  }
}

TEST_P(DataSplitFeeding, RandomChunks) {
  const Draft d = GetParam();
  for (auto& [label, s] : generated_streams(d)) {
    for (uint32_t seed = 1; seed <= 4; ++seed) {
      SCOPED_TRACE(label + " seed " + std::to_string(seed));
      Outcome r = run(s.bytes, d, 0, seed, order_of(label));
      ASSERT_FALSE(r.error.has_value()) << err(r.error);
      expect_same_events(r.v, s.want);
    }
  }
}

TEST_P(DataSplitFeeding, LargeRandomChunks) {
  // Chunks that straddle many objects at once (up to 64 KiB).
  const Draft d = GetParam();
  for (auto& [label, s] : generated_streams(d)) {
    SCOPED_TRACE(label);
    Outcome r;
    DataStreamParser parser(d, r.v);
    parser.set_fetch_group_order(order_of(label));
    std::mt19937 rng(7);
    size_t pos = 0;
    while (pos < s.bytes.size() && !r.error) {
      const size_t n = std::min<size_t>(1 + rng() % 65536, s.bytes.size() - pos);
      r.error = parser.feed(ByteView(s.bytes).subspan(pos, n), pos + n == s.bytes.size());
      pos += n;
    }
    ASSERT_FALSE(r.error.has_value()) << err(r.error);
    expect_same_events(r.v, s.want);
  }
}

TEST_P(DataSplitFeeding, FinInItsOwnCall) {
  const Draft d = GetParam();
  for (auto& [label, s] : generated_streams(d)) {
    SCOPED_TRACE(label);
    Outcome r;
    DataStreamParser parser(d, r.v);
    parser.set_fetch_group_order(order_of(label));
    r.error = feed_data_stream(parser, s.bytes, 0, /*fin=*/false, 3);
    ASSERT_FALSE(r.error.has_value()) << err(r.error);
    EXPECT_FALSE(r.v.ended);
    r.error = parser.feed({}, /*fin=*/true);
    ASSERT_FALSE(r.error.has_value()) << err(r.error);
    expect_same_events(r.v, s.want);
  }
}

// Short hand-built streams, split into two pieces at every position.
struct SmallStream {
  Draft draft;
  GroupOrder order;
  const char* hex;
};
constexpr SmallStream kSmallStreams[] = {
    {Draft::k14, GroupOrder::kAscending, "15 02 00 00 00 | 00 05 02 41 2C 05 00 04 61 62 63 64 | 00 00 00 00"},
    {Draft::k14, GroupOrder::kAscending, "05 40 40 | 01 00 00 80 00 03 61 62 63 | 01 00 01 80 02 02 07 00 03"},
    {Draft::k16, GroupOrder::kAscending, "3D 02 41 2C 07 | 40 59 02 02 07 02 68 69 | 00 00 00 03"},
    {Draft::k16, GroupOrder::kAscending,
     "05 40 40 | 1C 01 00 80 03 61 62 63 | 40 8C 02 09 | 40 7C 06 00 20 02 02 07 00 | 41 0C 07 00"},
    {Draft::k18, GroupOrder::kAscending, "79 02 81 2C | C0 4D BB 02 02 07 02 68 69 | 00 00 00 04"},
    {Draft::k18, GroupOrder::kDescending,
     "05 07 | 1C 83 E8 03 80 01 61 | 0D 01 00 00 | 81 0C 81 F4 07 | 0D 81 F3 00 00"},
    {Draft::k18, GroupOrder::kAscending, "F0 13 2B 3E 28 00 00 00"},
};

TEST(DataSplitFeedingSmall, EveryTwoWaySplitMatchesOnePiece) {
  for (const SmallStream& ss : kSmallStreams) {
    SCOPED_TRACE(std::string(name(ss.draft)) + ": " + ss.hex);
    const Bytes bytes = hex(ss.hex);
    Outcome whole = run(bytes, ss.draft, bytes.size(), 1, ss.order);
    ASSERT_FALSE(whole.error.has_value()) << err(whole.error);
    ASSERT_TRUE(whole.v.ended);
    for (size_t cut = 0; cut <= bytes.size(); ++cut) {
      SCOPED_TRACE("cut at " + std::to_string(cut));
      Outcome r;
      DataStreamParser parser(ss.draft, r.v);
      parser.set_fetch_group_order(ss.order);
      r.error = parser.feed(ByteView(bytes).first(cut), false);
      if (!r.error) r.error = parser.feed(ByteView(bytes).subspan(cut), true);
      ASSERT_FALSE(r.error.has_value()) << err(r.error);
      expect_same_events(r.v, whole.v);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Drafts, DataSplitFeeding, ::testing::ValuesIn(kAllDrafts),
                         [](const auto& info) { return "Draft" + std::to_string(int(info.param)); });

// =============================================================================================
// (c) Malformed input
// =============================================================================================

// Feeds `h` whole and byte by byte (both with FIN at the end); both must fail with `code`, the
// parser must stay failed, and later feeds must return the same error.
void expect_stream_error(Draft d, std::string_view h, GroupOrder order = GroupOrder::kAscending,
                         DataStreamLimits limits = {}, SessionError code = SessionError::kProtocolViolation) {
  SCOPED_TRACE(name(d) + ": " + std::string(h));
  const Bytes bytes = hex(h);
  for (size_t chunk : {bytes.size(), size_t{1}}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    RecordingVisitor v;
    DataStreamParser parser(d, v, limits);
    parser.set_fetch_group_order(order);
    std::optional<WireError> e = feed_data_stream(parser, bytes, chunk);
    ASSERT_TRUE(e.has_value()) << "accepted a malformed stream";
    EXPECT_EQ(e->code, code) << e->detail;
    EXPECT_TRUE(parser.failed());
    EXPECT_FALSE(v.ended);
    std::optional<WireError> again = parser.feed(hex("00"), true);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, *e);
  }
}

void expect_stream_ok(Draft d, std::string_view h, GroupOrder order = GroupOrder::kAscending,
                      DataStreamLimits limits = {}) {
  SCOPED_TRACE(name(d) + ": " + std::string(h));
  Outcome r = run(hex(h), d, 0, 1, order, limits);
  EXPECT_FALSE(r.error.has_value()) << err(r.error);
  EXPECT_TRUE(r.v.ended);
}

void expect_datagram_error(Draft d, std::string_view h) {
  SCOPED_TRACE(name(d) + ": " + std::string(h));
  Result<DecodedDatagram> r = decode_datagram(hex(h), d);
  ASSERT_FALSE(r.ok()) << "accepted a malformed datagram";
  EXPECT_EQ(r.error().code, SessionError::kProtocolViolation) << r.error().detail;
}

// --- Stream types --------------------------------------------------------------------------

TEST(DataMalformed14, InvalidSubgroupTypes) {
  // -14 §10.4.2 defines 0x10-0x15 and 0x18-0x1D only: mode 0b11 and any 0x20/0x40 bit are unknown.
  for (const char* t : {"16", "17", "1E", "1F", "30", "31", "34", "35", "38", "3D", "40 50", "40 70", "40 90"})
    expect_stream_error(Draft::k14, std::string(t) + " 05 00 00 80 | 00 01 61");
}

TEST(DataMalformed16, InvalidSubgroupTypes) {
  // -16 §10.4.2: mode 0b11 reserved; only 0b00X1XXXX (0x40 bit and values > 0x7F are unknown).
  for (const char* t : {"16", "17", "1E", "1F", "36", "37", "3E", "3F", "40 50", "40 54", "40 70", "40 7D", "40 90",
                        "40 B4", "41 10"})
    expect_stream_error(Draft::k16, std::string(t) + " 05 00 00 80 | 00 01 61");
}

TEST(DataMalformed18, InvalidSubgroupTypes) {
  // -18 §11.4.2: mode 0b11 reserved in all four ranges; nothing above 0x7F (vi64 80 xx).
  for (const char* t : {"16", "17", "1E", "1F", "36", "37", "3E", "3F", "56", "57", "5E", "5F", "76", "77", "7E",
                        "7F", "80 90", "80 94", "80 B4", "80 F0", "81 10"})
    expect_stream_error(Draft::k18, std::string(t) + " 05 00 00 80 | 00 01 61");
}

TEST(DataMalformed, UnknownStreamTypes) {
  // -14/-16 §10: unknown stream type => close the session; -18 §3.4 likewise.
  for (Draft d : kAllDrafts) {
    for (const char* t : {"00", "01", "04", "06", "0F", "20", "2F"}) expect_stream_error(d, std::string(t) + " 01 02");
  }
  // 0x2F00 (SETUP) and 0x132B3E28 (PADDING) are no stream types before -18 (QUIC: 6F 00, 93 2B 3E 28).
  for (Draft d : {Draft::k14, Draft::k16}) {
    expect_stream_error(d, "6F 00 00 00");
    expect_stream_error(d, "93 2B 3E 28 00 00");
  }
  // -18: the padding *datagram* type is not a stream type; the parser does not take control
  // streams (classify_uni_stream routes those).
  expect_stream_error(Draft::k18, "F0 13 2B 3E 29 00 00");
  expect_stream_error(Draft::k18, "AF 00 00 00");
}

// --- FIN in the wrong place -----------------------------------------------------------------

TEST(DataMalformed, FinBeforeTheHeaderIsComplete) {
  for (Draft d : kAllDrafts) {
    expect_stream_error(d, "");          // no type at all
    expect_stream_error(d, "14");        // type only
    expect_stream_error(d, "14 02 00");  // no subgroup id / priority
    expect_stream_error(d, "14 02 00 00");
    expect_stream_error(d, "05");        // fetch type, no request id
  }
  expect_stream_error(Draft::k14, "40");        // half of a 2-byte varint type
  expect_stream_error(Draft::k18, "F0 13 2B");  // half of the padding type
  expect_stream_error(Draft::k18, "05 80");     // half of a 2-byte request id
}

TEST(DataMalformed, FinInsideAnObjectHeader) {
  // -14/-16 §10.4, -18 §11.4: FIN in the middle of a serialized object => PROTOCOL_VIOLATION.
  for (Draft d : kAllDrafts) {
    expect_stream_error(d, "14 02 00 00 00 | 05");             // delta only
    expect_stream_error(d, "14 02 00 00 00 | 05 00");          // length 0 without its status
    expect_stream_error(d, "11 01 02 80 | 00 05 02 41");       // inside the properties block
    expect_stream_error(d, "11 01 02 80 | 00");                // before the properties length
    expect_stream_error(d, "14 02 00 00 00 | 00 01 61 | 00");  // second object
  }
  expect_stream_error(Draft::k14, "14 02 00 00 00 | 40");          // inside a 2-byte delta
  expect_stream_error(Draft::k18, "14 02 00 00 00 | C0 4D");       // inside a 3-byte vi64 delta
  expect_stream_error(Draft::k14, "05 00 | 01 00 00 80 00");       // fetch: before the length
  expect_stream_error(Draft::k14, "05 00 | 01 00 00 80 00 00");    // fetch: length 0, no status
  expect_stream_error(Draft::k16, "05 00 | 1C 01 00");             // fetch: before the priority
  expect_stream_error(Draft::k16, "05 00 | 40");                   // fetch: inside 2-byte flags
  expect_stream_error(Draft::k16, "05 00 | 1C 01 00 80 00 | 40 8C 02");  // inside a marker
  expect_stream_error(Draft::k18, "05 00 | 1C 01 00 80 00 | 80 8C 02");
}

TEST(DataMalformed, FinInsideAPayload) {
  for (Draft d : kAllDrafts) {
    expect_stream_error(d, "14 02 00 00 00 | 00 04 61 62");
    expect_stream_error(d, "14 02 00 00 00 | 00 01 61 | 00 02 62");
  }
  expect_stream_error(Draft::k14, "05 00 | 01 00 00 80 00 03 61");
  expect_stream_error(Draft::k16, "05 00 | 1C 01 00 80 03 61");
  expect_stream_error(Draft::k18, "05 00 | 1C 01 00 80 03 61");
}

// --- Object fields ----------------------------------------------------------------------------

TEST(DataMalformed, UndefinedObjectStatus) {
  // -14 §10.2.1.1: 0x0, 0x1, 0x3, 0x4; -16 §10.2.1.1 / -18 §11.2.1.1: 0x0, 0x3, 0x4 ("Any other
  // value SHOULD be treated as a protocol error").
  for (const char* s : {"02", "05", "40 40"}) expect_stream_error(Draft::k14, std::string("10 01 02 80 | 00 00 ") + s);
  for (const char* s : {"01", "02", "05", "40 40"})
    expect_stream_error(Draft::k16, std::string("10 01 02 80 | 00 00 ") + s);
  for (const char* s : {"01", "02", "05", "40"})
    expect_stream_error(Draft::k18, std::string("10 01 02 80 | 00 00 ") + s);
  expect_stream_error(Draft::k14, "05 00 | 01 00 00 80 00 00 02");  // -14 fetch objects have a status too
  // The valid ones, for contrast.
  expect_stream_ok(Draft::k14, "10 01 02 80 | 00 00 01");
  expect_stream_ok(Draft::k16, "10 01 02 80 | 00 00 03");
  expect_stream_ok(Draft::k18, "10 01 02 80 | 00 00 04");
}

TEST(DataMalformed, PropertiesOnAnObjectThatMayNotHaveThem) {
  // -16 §10.2.1.2 / -18 §11.2.1.2: only Normal objects carry properties.
  for (Draft d : {Draft::k16, Draft::k18}) {
    expect_stream_error(d, "11 01 02 80 | 00 02 02 07 00 03");  // End of Group
    expect_stream_error(d, "11 01 02 80 | 00 02 02 07 00 04");  // End of Track
    expect_stream_ok(d, "11 01 02 80 | 00 02 02 07 00 00");     // Normal, empty
    expect_stream_ok(d, "11 01 02 80 | 00 00 00 03");           // End of Group, no properties
  }
  // -14 §10.2.1.2: only "Object Does Not Exist" objects are barred.
  expect_stream_error(Draft::k14, "11 01 02 80 | 00 02 02 07 00 01");
  expect_stream_error(Draft::k14, "05 00 | 01 00 00 80 02 02 07 00 01");
  expect_stream_ok(Draft::k14, "11 01 02 80 | 00 02 02 07 00 03");
  expect_stream_ok(Draft::k14, "11 01 02 80 | 00 00 00 01");
}

TEST(DataMalformed, SubgroupObjectIdOverflow) {
  // -18 §11.4.2: an Object ID above 2^64-1 => PROTOCOL_VIOLATION.
  expect_stream_error(Draft::k18, "10 01 02 80 | FF FF FF FF FF FF FF FF FF 01 61 | 00 01 62");
  expect_stream_error(Draft::k18, "10 01 02 80 | FF FF FF FF FF FF FF FF FE 01 61 | 01 01 62");
  expect_stream_ok(Draft::k18, "10 01 02 80 | FF FF FF FF FF FF FF FF FE 01 61 | 00 01 62");
}

TEST(DataMalformed, PropertiesBlockOverrunsOrBreaksLimits) {
  for (Draft d : kAllDrafts) {
    // A pair that runs past the block's declared length: type 5, length 5, one byte.
    expect_stream_error(d, "11 01 02 80 | 00 03 05 05 61 00 00");
    // An integer pair cut short by the block end (02 then a 2-byte integer's first byte).
    expect_stream_error(d, d == Draft::k18 ? "11 01 02 80 | 00 02 02 80 00 00" : "11 01 02 80 | 00 02 02 40 00 00");
  }
  // A Key-Value-Pair length above 2^16-1 is a PROTOCOL_VIOLATION (-14/-16 §1.4.2, -18 §1.4.3).
  expect_stream_error(Draft::k14, "11 01 02 80 | 00 05 05 80 01 00 00 00 00");
  expect_stream_error(Draft::k16, "11 01 02 80 | 00 05 05 80 01 00 00 00 00");
  expect_stream_error(Draft::k18, "11 01 02 80 | 00 04 05 C1 00 00 00 00");
}

TEST(DataMalformed, PropertiesBlockAboveTheConfiguredLimit) {
  DataStreamLimits limits;
  limits.max_properties_bytes = 8;
  for (Draft d : kAllDrafts) {
    // 8 bytes: {5: "abcdef"}; 9 bytes: {5: "abcdefg"}.
    expect_stream_ok(d, "11 01 02 80 | 00 08 05 06 61 62 63 64 65 66 00 00", GroupOrder::kAscending, limits);
    expect_stream_error(d, "11 01 02 80 | 00 09 05 07 61 62 63 64 65 66 67 00 00", GroupOrder::kAscending, limits);
    // Refused from the declared length alone, before the block arrives.
    RecordingVisitor v;
    DataStreamParser parser(d, v, limits);
    const char* declared = d == Draft::k18 ? "11 01 02 80 | 00 C0 FF FF" : "11 01 02 80 | 00 80 00 FF FF";
    std::optional<WireError> e = parser.feed(hex(declared));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, SessionError::kProtocolViolation);
  }
  expect_stream_error(Draft::k16, "05 00 | 3C 01 00 80 09 05 07 61 62 63 64 65 66 67 00", GroupOrder::kAscending,
                      limits);
  expect_stream_error(Draft::k14, "05 00 | 01 00 00 80 09 05 07 61 62 63 64 65 66 67 00 00", GroupOrder::kAscending,
                      limits);
}

// --- Fetch serialization flags --------------------------------------------------------------

TEST(DataMalformed, FetchFlagsAboveTheFlagRange) {
  // -16 §10.4.4 / -18 §11.4.4: >= 128 only 0x8C and 0x10C; "Any other value is a PROTOCOL_VIOLATION".
  for (const char* f : {"40 80", "40 8B", "40 8D", "40 FF", "41 00", "41 0D", "41 8C", "42 0C", "80 00 01 8C"})
    expect_stream_error(Draft::k16, std::string("05 00 | 1C 01 00 80 00 | ") + f + " 01 05");
  for (const char* f : {"80 80", "80 8B", "80 8D", "80 FF", "81 00", "81 0D", "81 8C", "82 0C", "C0 01 8C"})
    expect_stream_error(Draft::k18, std::string("05 00 | 1C 01 00 80 00 | ") + f + " 01 05");
  // The markers themselves, also in a non-minimal form, are fine.
  expect_stream_ok(Draft::k16, "05 00 | 1C 01 00 80 00 | 80 00 01 0C 01 05");
  expect_stream_ok(Draft::k18, "05 00 | 1C 01 00 80 00 | C0 01 0C 01 05");
}

TEST(DataMalformed, FirstFetchObjectReferencesAPriorObject) {
  // -16 §10.4.4.1, -18 §11.4.4.1: "If the first Object in the FETCH response uses a flag that
  // references fields in the prior Object ... PROTOCOL_VIOLATION".
  for (Draft d : {Draft::k16, Draft::k18}) {
    expect_stream_error(d, "05 00 | 14 00 80 00");     // no Group ID: prior group
    expect_stream_error(d, "05 00 | 18 01 80 00");     // no Object ID: prior object + 1
    expect_stream_error(d, "05 00 | 0C 01 00 00");     // no priority: prior priority
    expect_stream_error(d, "05 00 | 1D 01 00 80 00");  // subgroup mode 1: prior subgroup
    expect_stream_error(d, "05 00 | 1E 01 00 80 00");  // subgroup mode 2: prior subgroup + 1
    expect_stream_ok(d, "05 00 | 1F 01 04 00 80 00");  // mode 3: explicit subgroup, fine
    // -18 §11.4.4.2: after an End of Range the prior Group/Object are the marker's, but a prior
    // subgroup and priority only come from a real object.
    const std::string eor = d == Draft::k16 ? "05 00 | 40 8C 01 05 | " : "05 00 | 80 8C 01 05 | ";
    expect_stream_error(d, eor + "1D 01 06 80 00");  // prior subgroup
    expect_stream_error(d, eor + "0C 01 06 00");  // prior priority
    expect_stream_ok(d, eor + "10 80 00");        // group 1, object 5 + 1 from the marker
  }
  Outcome r = run(hex("05 00 | 80 8C 01 05 | 10 80 00"), Draft::k18, 0);
  ASSERT_EQ(r.v.fetch_objects.size(), 2u);
  EXPECT_EQ(r.v.fetch_objects[1].location, (Location{1, 6}));
}

TEST(DataMalformed18, FetchGroupDeltaBelowZeroOrAbove64Bits) {
  // -18 §11.4.4.1: a computed Group ID < 0 or > 2^64-1 => PROTOCOL_VIOLATION.
  expect_stream_error(Draft::k18, "05 00 | 1C 02 00 80 00 | 0D 02 00 00", GroupOrder::kDescending);  // 2 - 3
  expect_stream_error(Draft::k18, "05 00 | 1C 00 00 80 00 | 0D 00 00 00", GroupOrder::kDescending);  // 0 - 1
  expect_stream_ok(Draft::k18, "05 00 | 1C 02 00 80 00 | 0D 01 00 00", GroupOrder::kDescending);     // 2 - 2 = 0
  expect_stream_error(Draft::k18, "05 00 | 1C FF FF FF FF FF FF FF FF FF 00 80 00 | 0D 00 00 00");    // 2^64-1 + 1
  expect_stream_error(Draft::k18, "05 00 | 1C FF FF FF FF FF FF FF FF FE 00 80 00 | 0D 01 00 00");    // 2^64-2 + 2
  expect_stream_ok(Draft::k18, "05 00 | 1C FF FF FF FF FF FF FF FF FE 00 80 00 | 0D 00 00 00");       // 2^64-1
}

TEST(DataMalformed18, FetchObjectIdAbove64Bits) {
  // -18 §11.4.4.1: a computed Object ID > 2^64-1 => PROTOCOL_VIOLATION (delta and implicit +1).
  expect_stream_error(Draft::k18, "05 00 | 1C 01 FF FF FF FF FF FF FF FF FF 80 00 | 01 00");
  expect_stream_error(Draft::k18, "05 00 | 1C 01 FF FF FF FF FF FF FF FF FE 80 00 | 05 02 00");
  expect_stream_ok(Draft::k18, "05 00 | 1C 01 FF FF FF FF FF FF FF FF FE 80 00 | 05 01 00");
}

// --- Datagrams ------------------------------------------------------------------------------

TEST(DataMalformed14, DatagramInvalidTypes) {
  // -14 §10.3.1: only 0x00-0x07, 0x20, 0x21.
  for (const char* t : {"08", "09", "0F", "10", "1F", "22", "23", "24", "25", "28", "2C", "2D", "30", "40 40",
                        "93 2B 3E 29"})
    expect_datagram_error(Draft::k14, std::string(t) + " 05 00 09 80 00");
}

TEST(DataMalformed, DatagramInvalidTypes) {
  // -16 §10.3.1 / -18 §11.3.1: STATUS with END_OF_GROUP, or not of the form 0b00X0XXXX.
  for (Draft d : {Draft::k16, Draft::k18}) {
    for (const char* t : {"22", "23", "26", "27", "2A", "2B", "2E", "2F", "10", "11", "1F", "30", "3F"})
      expect_datagram_error(d, std::string(t) + " 05 00 09 80 00");
  }
  for (const char* t : {"40 40", "40 80", "41 00", "93 2B 3E 29"})
    expect_datagram_error(Draft::k16, std::string(t) + " 05 00 09 80 00");
  for (const char* t : {"40", "7F", "80 80", "81 00"})
    expect_datagram_error(Draft::k18, std::string(t) + " 05 00 09 80 00");
}

TEST(DataMalformed, DatagramPropertiesBitWithEmptyBlock) {
  // -14/-16 §10.3.1, -18 §11.3.1: the properties bit with a length of 0 => PROTOCOL_VIOLATION.
  for (Draft d : kAllDrafts) {
    expect_datagram_error(d, "01 05 00 09 80 00 68 69");
    expect_datagram_error(d, "05 05 00 80 00 68 69");
    expect_datagram_error(d, "21 05 00 09 80 00 00");
  }
  expect_datagram_error(Draft::k16, "0D 05 00 00 68 69");
  expect_datagram_error(Draft::k18, "2D 05 00 00 00");
}

TEST(DataMalformed, DatagramStatusAndPropertiesRules) {
  for (Draft d : {Draft::k16, Draft::k18}) {
    // -18 §11.3.1: STATUS + PROPERTIES with a non-Normal status.
    expect_datagram_error(d, "21 05 00 09 80 02 02 07 03");
    expect_datagram_error(d, "21 05 00 09 80 02 02 07 04");
    // Undefined status values.
    expect_datagram_error(d, "20 05 00 09 80 01");
    expect_datagram_error(d, "20 05 00 09 80 02");
  }
  expect_datagram_error(Draft::k14, "21 05 00 09 80 02 02 07 01");  // Does Not Exist with extensions
  expect_datagram_error(Draft::k14, "20 05 00 09 80 02");
  expect_datagram_error(Draft::k14, "20 05 00 09 80 05");
  // A status datagram has no payload.
  for (Draft d : kAllDrafts) expect_datagram_error(d, "20 05 00 09 80 03 00");
}

TEST(DataMalformed, TruncatedDatagrams) {
  for (Draft d : kAllDrafts) {
    for (const char* h : {"", "00", "00 05", "00 05 00", "00 05 00 09", "04 05 00", "01 05 00 09 80",
                          "01 05 00 09 80 05 02 07", "01 05 00 09 80 03 05 05 61", "20 05 00 09 80",
                          "21 05 00 09 80 02 02"})
      expect_datagram_error(d, h);
  }
  expect_datagram_error(Draft::k14, "00 05 40");     // half of a 2-byte group id
  expect_datagram_error(Draft::k16, "08 05 00");     // default priority, no object id
  expect_datagram_error(Draft::k16, "41");           // half of a 2-byte type
  expect_datagram_error(Draft::k18, "08 05 80");     // half of a 2-byte group id
  expect_datagram_error(Draft::k18, "F0 13 2B");     // half of the padding type
  // An empty payload is not a truncation.
  for (Draft d : kAllDrafts) EXPECT_TRUE(decode_datagram(hex("00 05 00 09 80"), d).ok());
}

TEST(DataMalformed, PaddingOnlyInDraft18) {
  // The -18 padding types as -14/-16 QUIC varints (93 2B 3E 28/29) are unknown types; the vi64
  // form F0... is an incomplete 8-byte QUIC varint there.
  for (Draft d : {Draft::k14, Draft::k16}) {
    expect_datagram_error(d, "93 2B 3E 29 00 00");
    expect_datagram_error(d, "F0 13 2B 3E 29");
    expect_stream_error(d, "F0 13 2B 3E 28");
  }
}

// --- Encoder guards ----------------------------------------------------------------------------

TEST(DataEncoderGuards, RefusesWhatTheWireCannotCarry) {
  auto object = [](uint64_t id, uint64_t len, ObjectStatus st = kNormal, KeyValueList props = {}) {
    ObjectHeader o;
    o.object_id = id;
    o.payload_length = len;
    o.status = st;
    o.properties = std::move(props);
    return o;
  };
  Bytes out;
  for (Draft d : kAllDrafts) {
    SCOPED_TRACE(name(d));
    EXPECT_TRUE(encode_subgroup_object(object(5, 1), 5, false, d, out).has_value());  // ids must increase
    EXPECT_TRUE(encode_subgroup_object(object(5, 1), 9, false, d, out).has_value());
    EXPECT_TRUE(encode_subgroup_object(object(0, 1, kNormal, {I(2, 1)}), std::nullopt, false, d, out).has_value());
    EXPECT_TRUE(encode_subgroup_object(object(0, 3, ObjectStatus::kEndOfGroup), std::nullopt, false, d, out)
                    .has_value());  // a status object has no payload
    EXPECT_TRUE(encode_subgroup_object(object(0, 0, static_cast<ObjectStatus>(2)), std::nullopt, false, d, out)
                    .has_value());
    ObjectDatagram dg;
    dg.status = ObjectStatus::kEndOfTrack;
    EXPECT_FALSE(encode_datagram(dg, as_bytes("x"), d).ok());  // status datagram with a payload
    dg.end_of_group = true;
    EXPECT_FALSE(encode_datagram(dg, {}, d).ok());  // STATUS | END_OF_GROUP is no valid type
  }
  // Does Not Exist: -14 only, and without extensions.
  EXPECT_FALSE(encode_subgroup_object(object(0, 0, ObjectStatus::kDoesNotExist), std::nullopt, false, Draft::k14, out)
                   .has_value());
  EXPECT_TRUE(encode_subgroup_object(object(0, 0, ObjectStatus::kDoesNotExist, {I(2, 1)}), std::nullopt, true,
                                     Draft::k14, out)
                  .has_value());
  EXPECT_TRUE(encode_subgroup_object(object(0, 0, ObjectStatus::kDoesNotExist), std::nullopt, false, Draft::k16, out)
                  .has_value());
  // Properties on End of Group: fine in -14, not in -16/-18.
  EXPECT_FALSE(encode_subgroup_object(object(0, 0, ObjectStatus::kEndOfGroup, {I(2, 1)}), std::nullopt, true,
                                      Draft::k14, out)
                   .has_value());
  EXPECT_TRUE(encode_subgroup_object(object(0, 0, ObjectStatus::kEndOfGroup, {I(2, 1)}), std::nullopt, true,
                                     Draft::k18, out)
                  .has_value());
  // -14 datagrams always carry a priority.
  ObjectDatagram no_prio;
  EXPECT_FALSE(encode_datagram(no_prio, as_bytes("x"), Draft::k14).ok());
  EXPECT_TRUE(encode_datagram(no_prio, as_bytes("x"), Draft::k16).ok());
  // -16+ fetch objects carry no status.
  FetchObject fo;
  fo.status = ObjectStatus::kEndOfGroup;
  EXPECT_TRUE(FetchObjectEncoder(Draft::k16, GroupOrder::kAscending).encode(fo, out).has_value());
  // -18 delta coding needs the fetch's group order to be followed.
  FetchObject a, b;
  a.location = {5, 3};
  b.location = {6, 0};
  FetchObjectEncoder desc(Draft::k18, GroupOrder::kDescending);
  EXPECT_FALSE(desc.encode(a, out).has_value());
  EXPECT_TRUE(desc.encode(b, out).has_value());
  FetchObjectEncoder asc(Draft::k18, GroupOrder::kAscending);
  EXPECT_FALSE(asc.encode(b, out).has_value());
  EXPECT_TRUE(asc.encode(a, out).has_value());
  FetchObject back;
  back.location = {6, 0};
  FetchObjectEncoder same(Draft::k18, GroupOrder::kAscending);
  a.location = {6, 4};
  EXPECT_FALSE(same.encode(a, out).has_value());
  EXPECT_TRUE(same.encode(back, out).has_value());  // object ids within a group must not go back
}

// --- Zero-copy payloads -----------------------------------------------------------------------

// Counts payload bytes without keeping (or allocating for) them.
struct CountingVisitor : DataStreamVisitor {
  ByteView window;  // the caller's buffer: every chunk must point into it
  size_t objects = 0, chunks = 0, bytes = 0, ends = 0, outside = 0;
  void on_object(const ObjectHeader&) override { ++objects; }
  void on_fetch_object(const FetchObject&) override { ++objects; }
  void on_payload(ByteView chunk, bool end) override {
    ++chunks;
    bytes += chunk.size();
    ends += end;
    if (!chunk.empty() && (chunk.data() < window.data() || chunk.data() + chunk.size() > window.data() + window.size()))
      ++outside;
  }
};

TEST(DataStreamLimitsTest, HugeDeclaredPayloadIsStreamedNotAllocated) {
  // A payload length of 2^61 (QUIC E0 00 00 00 00 00 00 00; vi64 FF 20 00 00 00 00 00 00 00):
  // the parser must hand out chunks of the caller's bytes, never buffer or reserve the payload.
  struct Case {
    Draft d;
    const char* header;
  };
  const Case cases[] = {
      {Draft::k14, "14 01 02 03 80 | 00 E0 00 00 00 00 00 00 00"},
      {Draft::k14, "05 00 | 01 00 00 80 00 E0 00 00 00 00 00 00 00"},
      {Draft::k16, "34 01 02 03 | 00 E0 00 00 00 00 00 00 00"},
      {Draft::k16, "05 00 | 1C 01 00 80 E0 00 00 00 00 00 00 00"},
      {Draft::k18, "74 01 02 03 | 00 FF 20 00 00 00 00 00 00 00"},
      {Draft::k18, "05 00 | 1C 01 00 80 FF 20 00 00 00 00 00 00 00"},
  };
  const Bytes chunk(64 * 1024, 0x5A);
  for (const Case& c : cases) {
    SCOPED_TRACE(name(c.d) + ": " + c.header);
    const Bytes header = hex(c.header);
    CountingVisitor v;
    v.window = ByteView(chunk);
    DataStreamParser parser(c.d, v);
    ASSERT_FALSE(parser.feed(header).has_value());
    g_allocated_bytes = 0;
    g_count_allocations = true;
    std::optional<WireError> e;
    for (int i = 0; i < 256 && !e; ++i) e = parser.feed(ByteView(chunk));  // 16 MiB
    g_count_allocations = false;
    ASSERT_FALSE(e.has_value()) << err(e);
    EXPECT_EQ(v.objects, 1u);
    EXPECT_EQ(v.bytes, 256u * chunk.size());
    EXPECT_EQ(v.ends, 0u);
    EXPECT_EQ(v.outside, 0u) << "payload chunks must point into the fed bytes";
    EXPECT_LT(g_allocated_bytes.load(), size_t{4096}) << "the parser allocated while streaming the payload";
    // Ending the stream here leaves the object unfinished.
    e = parser.feed({}, true);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, SessionError::kProtocolViolation);
  }
}

TEST(DataStreamLimitsTest, PayloadChunksSplitAtObjectBoundaries) {
  // One feed holding several objects: each chunk belongs to exactly one object.
  for (Draft d : kAllDrafts) {
    SCOPED_TRACE(name(d));
    const Bytes bytes = hex("14 02 00 00 00 | 00 03 61 62 63 | 00 00 00 | 00 02 64 65");
    CountingVisitor v;
    v.window = ByteView(bytes);
    DataStreamParser parser(d, v);
    ASSERT_FALSE(parser.feed(bytes, true).has_value());
    EXPECT_EQ(v.objects, 3u);
    EXPECT_EQ(v.ends, 3u);
    EXPECT_EQ(v.chunks, 3u);  // the empty object gets one empty end-of-object chunk
    EXPECT_EQ(v.bytes, 5u);
    EXPECT_EQ(v.outside, 0u);
  }
}

// --- Stream classification --------------------------------------------------------------------

struct ClassifyCase {
  const char* prefix;
  std::optional<UniStreamKind> kind;  // nullopt: PROTOCOL_VIOLATION
};

void check_classify(Draft d, std::initializer_list<ClassifyCase> cases) {
  for (const ClassifyCase& c : cases) {
    SCOPED_TRACE(name(d) + ": '" + c.prefix + "'");
    Result<UniStreamKind> r = classify_uni_stream(hex(c.prefix), d);
    if (c.kind) {
      ASSERT_TRUE(r.ok()) << r.error().detail;
      EXPECT_EQ(*r, *c.kind);
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, SessionError::kProtocolViolation);
    }
  }
}

constexpr auto kNeedMore = UniStreamKind::kNeedMore;
constexpr auto kSubgroup = UniStreamKind::kSubgroup;
constexpr auto kFetch = UniStreamKind::kFetch;
constexpr auto kControl = UniStreamKind::kControl;
constexpr auto kPadding = UniStreamKind::kPadding;
constexpr std::optional<UniStreamKind> kError = std::nullopt;

TEST(ClassifyUniStream, Draft14) {
  check_classify(Draft::k14, {{"", kNeedMore},
                              {"40", kNeedMore},
                              {"05", kFetch},
                              {"05 01 02", kFetch},
                              {"10", kSubgroup},
                              {"15", kSubgroup},
                              {"1D", kSubgroup},
                              {"40 10", kSubgroup},  // non-minimal 0x10
                              {"16", kError},
                              {"30", kError},        // DEFAULT_PRIORITY arrives in -15
                              {"40 50", kError},
                              {"00", kError},
                              {"6F 00", kError},     // 0x2F00: no uni control stream before -17
                              {"93 2B 3E 28", kError}});
}

TEST(ClassifyUniStream, Draft16) {
  check_classify(Draft::k16, {{"", kNeedMore},
                              {"05", kFetch},
                              {"10", kSubgroup},
                              {"30", kSubgroup},
                              {"3D", kSubgroup},
                              {"3E", kError},
                              {"40 50", kError},     // FIRST_OBJECT arrives in -18
                              {"40 7D", kError},
                              {"6F 00", kError},
                              {"93 2B 3E 28", kError},
                              {"93 2B", kNeedMore}});
}

TEST(ClassifyUniStream, Draft18) {
  check_classify(Draft::k18, {{"", kNeedMore},
                              {"05", kFetch},
                              {"10", kSubgroup},
                              {"3D", kSubgroup},
                              {"50", kSubgroup},
                              {"7D", kSubgroup},
                              {"7E", kError},
                              {"80 90", kError},
                              {"AF", kNeedMore},
                              {"AF 00", kControl},   // 0x2F00 as a 2-byte vi64
                              {"C0 2F 00", kControl},  // non-minimal
                              {"AF 01", kError},
                              {"F0 13 2B 3E", kNeedMore},
                              {"F0 13 2B 3E 28", kPadding},
                              {"F0 13 2B 3E 28 00 00", kPadding},
                              {"F0 13 2B 3E 29", kError},  // the padding datagram type
                              {"6F", kError}});
}

}  // namespace
}  // namespace moqt::wire::test
