// libFuzzer target: data streams (subgroup, fetch, padding) and datagrams for every draft.
// Input: [draft selector][split seed][flags][bytes...]. Flags bit 0: descending fetch order.
// Oracles: sanitizers; identical events for any byte split; datagrams re-encode to an
// equivalent datagram.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "moqt/wire/data_codec.h"

using namespace moqt::wire;

namespace {

struct Recorder : DataStreamVisitor {
  std::vector<std::string> events;
  std::string payload;
  void on_subgroup_header(const SubgroupHeader& h) override {
    events.push_back("sg " + std::to_string(h.track_alias) + " " + std::to_string(h.group_id) + " " +
                     std::to_string(h.subgroup_id));
  }
  void on_fetch_header(const FetchHeader& h) override { events.push_back("fetch " + std::to_string(h.request_id)); }
  void on_padding_stream() override { events.push_back("padding"); }
  void on_object(const ObjectHeader& o) override {
    events.push_back("obj " + std::to_string(o.object_id) + " " + std::to_string(o.subgroup_id) + " " +
                     std::to_string(o.properties.size()) + " " + std::to_string(o.payload_length));
  }
  void on_fetch_object(const FetchObject& o) override {
    events.push_back("fobj " + std::to_string(int(o.entry)) + " " + to_string(o.location) + " " +
                     std::to_string(o.subgroup_id) + " " + std::to_string(o.payload_length));
  }
  void on_payload(ByteView chunk, bool end) override {
    payload.append(chunk.begin(), chunk.end());
    if (end) {
      events.push_back("payload " + payload);
      payload.clear();
    }
  }
  void on_end_of_stream() override { events.push_back("end"); }
};

std::pair<std::vector<std::string>, bool> parse(ByteView in, Draft d, uint8_t seed, GroupOrder order) {
  Recorder rec;
  DataStreamLimits limits;
  limits.max_properties_bytes = 4096;
  DataStreamParser parser(d, rec, limits);
  parser.set_fetch_group_order(order);
  size_t pos = 0;
  uint32_t x = seed | 1u;
  bool failed = false;
  do {
    size_t n = seed == 0 ? in.size() : 1 + (x % 29);
    x = x * 1103515245u + 12345u;
    n = std::min(n, in.size() - pos);
    const bool fin = pos + n == in.size();
    if (parser.feed(in.subspan(pos, n), fin)) {
      failed = true;
      break;
    }
    pos += n;
  } while (pos < in.size());
  return {rec.events, failed};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const Draft d = kAllDrafts[data[0] % std::size(kAllDrafts)];
  const uint8_t seed = data[1];
  const GroupOrder order = (data[2] & 1) ? GroupOrder::kDescending : GroupOrder::kAscending;
  ByteView in(data + 3, size - 3);

  auto whole = parse(in, d, 0, order);
  auto split = parse(in, d, seed, order);
  // Events are emitted as soon as complete, so a failing stream may report fewer events when
  // split; up to the failure point they must agree, and success must agree.
  if (whole.second != split.second) abort();
  if (!whole.second && whole.first != split.first) abort();

  (void)classify_uni_stream(in, d);
  Result<DecodedDatagram> dg = decode_datagram(in, d);
  if (dg && !dg->padding) {
    Result<Bytes> re = encode_datagram(dg->header, dg->payload, d);
    if (!re) abort();
    Result<DecodedDatagram> again = decode_datagram(*re, d);
    if (!again || !(again->header == dg->header)) abort();
    if (!std::equal(again->payload.begin(), again->payload.end(), dg->payload.begin(), dg->payload.end())) abort();
  }
  return 0;
}
