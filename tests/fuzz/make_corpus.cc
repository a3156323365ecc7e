// Writes the seed corpora for the fuzz targets: valid control streams (every sample message of
// every draft) and valid data streams and datagrams, each prefixed with the target's selector
// bytes; and for fuzz_session, valid conversations with a Session (session_program.h) for each
// perspective and protocol. Usage: make_corpus OUTDIR  (creates OUTDIR/control, data, session)
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "../wire/samples.h"
#include "moqt/wire/control_codec.h"
#include "moqt/wire/data_codec.h"
#include "session_program.h"

using namespace moqt::wire;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& dir, const std::string& name, const Bytes& prefix, const Bytes& body) {
  std::ofstream f(dir / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(prefix.data()), static_cast<std::streamsize>(prefix.size()));
  f.write(reinterpret_cast<const char*>(body.data()), static_cast<std::streamsize>(body.size()));
}

void check(const std::optional<WireError>& e) {
  if (e) {
    std::cerr << "make_corpus: " << e->detail << "\n";
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_corpus OUTDIR\n";
    return 2;
  }
  const fs::path control = fs::path(argv[1]) / "control", data = fs::path(argv[1]) / "data";
  fs::create_directories(control);
  fs::create_directories(data);
  int n = 0;
  for (uint8_t di = 0; di < std::size(kAllDrafts); ++di) {
    const Draft d = kAllDrafts[di];
    Bytes all;
    for (const ControlMessage& m : moqt::wire::test::sample_messages(d)) {
      Bytes one;
      check(encode_control(m, d, one));
      write(control, "d" + std::to_string(int(d)) + "-" + std::to_string(n++), {di, 7}, one);
      all.insert(all.end(), one.begin(), one.end());
    }
    write(control, "d" + std::to_string(int(d)) + "-all", {di, 3}, all);

    // Subgroup streams: explicit id with properties; zero id; first-object id.
    const bool d14 = d == Draft::k14;
    for (int variant = 0; variant < 3; ++variant) {
      SubgroupHeader h;
      h.track_alias = 2;
      h.group_id = 10;
      h.mode = variant == 0 ? SubgroupIdMode::kExplicit : variant == 1 ? SubgroupIdMode::kZero : SubgroupIdMode::kFirstObject;
      h.subgroup_id = variant == 0 ? 1 : 0;
      h.has_properties = variant != 1;
      h.end_of_group = variant == 2;
      if (d14 || variant != 1) h.publisher_priority = 5;
      Bytes s;
      check(encode_subgroup_header(h, d, s));
      std::optional<uint64_t> prev;
      for (uint64_t id : {0, 1, 3}) {
        ObjectHeader o;
        o.object_id = id;
        if (h.has_properties && id == 1) o.properties = {KeyValuePair::integer(0x3c, 2), KeyValuePair::bytes(0x41, "trace")};
        const std::string payload = id == 3 ? "" : "payload-" + std::to_string(id);
        o.payload_length = payload.size();
        if (id == 3) o.status = ObjectStatus::kEndOfGroup;
        check(encode_subgroup_object(o, prev, h.has_properties, d, s));
        s.insert(s.end(), payload.begin(), payload.end());
        prev = id;
      }
      write(data, "d" + std::to_string(int(d)) + "-subgroup-" + std::to_string(variant), {di, 5, 0}, s);
    }
    // A fetch stream.
    for (GroupOrder order : {GroupOrder::kAscending, GroupOrder::kDescending}) {
      Bytes s;
      check(encode_fetch_header(FetchHeader{4}, d, s));
      FetchObjectEncoder enc(d, order);
      const uint64_t groups[] = {5, 6, 8};
      for (int gi = 0; gi < 3; ++gi) {
        const uint64_t g = order == GroupOrder::kAscending ? groups[gi] : groups[2 - gi];
        for (uint64_t obj = 0; obj < 3; ++obj) {
          FetchObject o;
          o.location = {g, obj};
          o.subgroup_id = obj == 2 ? 1 : 0;
          o.publisher_priority = obj == 2 ? 9 : 128;
          if (obj == 1) o.properties = {KeyValuePair::integer(0x02, 7)};
          o.payload_length = 3;
          check(enc.encode(o, s));
          s.insert(s.end(), {'a', 'b', 'c'});
        }
        if (!d14 && gi == 1) {
          FetchObject marker;
          marker.entry = FetchEntry::kEndOfUnknownRange;
          marker.location = {g, 9};
          check(enc.encode(marker, s));
        }
      }
      write(data, "d" + std::to_string(int(d)) + "-fetch-" + std::to_string(int(order)),
            {di, 9, static_cast<uint8_t>(order == GroupOrder::kDescending)}, s);
    }
    // Datagrams.
    for (int variant = 0; variant < 4; ++variant) {
      ObjectDatagram g;
      g.track_alias = 3;
      g.group_id = 1;
      g.object_id = variant;
      g.end_of_group = variant == 1;
      if (d14 || variant != 2) g.publisher_priority = 64;
      if (variant == 3) g.status = ObjectStatus::kEndOfTrack;
      if (variant == 2) g.properties = {KeyValuePair::integer(0x04, 1)};
      const std::string payload = variant == 3 ? "" : "datagram";
      Result<Bytes> b = encode_datagram(g, as_bytes(payload), d);
      if (!b) check(b.error());
      write(data, "d" + std::to_string(int(d)) + "-datagram-" + std::to_string(variant), {di, 1, 0}, *b);
    }
  }
  std::cout << "seed corpus written to " << argv[1] << "\n";
  return 0;
}
