// Data plane: subgroup streams, fetch streams and object datagrams for every supported draft.
// Encoders write headers only; payload bytes are appended by the caller (no copy of payloads).
// The stream parser is incremental and zero-copy for payloads: it buffers at most one partial
// header. Not thread-safe: a parser belongs to the thread that reads its stream.
#pragma once

#include <cstdint>
#include <optional>

#include "moqt/wire/codec_io.h"
#include "moqt/wire/draft.h"
#include "moqt/wire/types.h"

namespace moqt::wire {

enum class SubgroupIdMode : uint8_t {
  kZero = 0,         // no field, subgroup 0
  kFirstObject = 1,  // no field, subgroup = id of the first object on the stream
  kExplicit = 2,     // field present
};

struct SubgroupHeader {
  uint64_t track_alias = 0;
  uint64_t group_id = 0;
  SubgroupIdMode mode = SubgroupIdMode::kExplicit;
  uint64_t subgroup_id = 0;  // kFirstObject: known once the first object arrives
  bool has_properties = false;  // every object carries a properties block
  bool end_of_group = false;    // this subgroup holds the group's largest object
  std::optional<uint8_t> publisher_priority;  // nullopt: the track's default (-16+ only)
  bool first_object = false;    // -18: starts at the subgroup's first published object
  bool operator==(const SubgroupHeader&) const = default;
};

// One object on a subgroup stream (its payload follows separately).
struct ObjectHeader {
  uint64_t object_id = 0;
  uint64_t subgroup_id = 0;  // resolved (also for SubgroupIdMode::kFirstObject)
  KeyValueList properties;   // "extension headers" before -17
  ObjectStatus status = ObjectStatus::kNormal;
  uint64_t payload_length = 0;
  bool operator==(const ObjectHeader&) const = default;
};

struct FetchHeader {
  uint64_t request_id = 0;
  bool operator==(const FetchHeader&) const = default;
};

enum class FetchEntry : uint8_t {
  kObject,
  kEndOfNonExistentRange,  // -16+: objects up to `location` (inclusive) do not exist
  kEndOfUnknownRange,      // -16+: objects up to `location` (inclusive) are unknown
};

struct FetchObject {
  FetchEntry entry = FetchEntry::kObject;
  Location location;
  uint64_t subgroup_id = 0;
  bool datagram = false;  // -16+: forwarding preference Datagram (no subgroup)
  uint8_t publisher_priority = 128;
  KeyValueList properties;
  ObjectStatus status = ObjectStatus::kNormal;  // -14 only (later drafts: no status in fetches)
  uint64_t payload_length = 0;
  bool operator==(const FetchObject&) const = default;
};

struct ObjectDatagram {
  uint64_t track_alias = 0;
  uint64_t group_id = 0;
  uint64_t object_id = 0;
  std::optional<uint8_t> publisher_priority;  // nullopt: the track's default (-16+ only)
  bool end_of_group = false;
  KeyValueList properties;
  std::optional<ObjectStatus> status;  // a status datagram (no payload)
  bool operator==(const ObjectDatagram&) const = default;
};

// SUBGROUP_HEADER type byte for a header, or an error if the draft cannot express it.
Result<uint64_t> subgroup_header_type(const SubgroupHeader& h, Draft d);
std::optional<WireError> encode_subgroup_header(const SubgroupHeader& h, Draft d, Bytes& out);

// Object fields on a subgroup stream. `prev_object_id` is the previous object on this stream
// (nullopt for the first); `has_properties` must match the stream header.
std::optional<WireError> encode_subgroup_object(const ObjectHeader& o, std::optional<uint64_t> prev_object_id,
                                                bool has_properties, Draft d, Bytes& out);

std::optional<WireError> encode_fetch_header(const FetchHeader& h, Draft d, Bytes& out);

// Fetch objects reference the previous one (-16+), so the encoder keeps that state.
class FetchObjectEncoder {
 public:
  FetchObjectEncoder(Draft d, GroupOrder order) : draft_(d), order_(order) {}
  std::optional<WireError> encode(const FetchObject& o, Bytes& out);

 private:
  Draft draft_;
  GroupOrder order_;
  std::optional<Location> prior_;            // last object or end-of-range location
  std::optional<uint64_t> prior_subgroup_;   // last real object's
  std::optional<uint8_t> prior_priority_;
};

// A whole datagram (header + payload).
Result<Bytes> encode_datagram(const ObjectDatagram& d, ByteView payload, Draft draft);

struct DecodedDatagram {
  bool padding = false;  // -18 padding datagram: discard
  ObjectDatagram header;
  ByteView payload;      // points into the decoded buffer
};
Result<DecodedDatagram> decode_datagram(ByteView datagram, Draft d);

// What a peer-initiated unidirectional stream is, from its first bytes.
enum class UniStreamKind : uint8_t { kNeedMore, kSubgroup, kFetch, kControl, kPadding };
Result<UniStreamKind> classify_uni_stream(ByteView prefix, Draft d);

// Receives parse events. Payload chunks point into the bytes given to feed().
class DataStreamVisitor {
 public:
  virtual ~DataStreamVisitor() = default;
  virtual void on_subgroup_header(const SubgroupHeader&) {}
  virtual void on_fetch_header(const FetchHeader&) {}
  virtual void on_padding_stream() {}
  virtual void on_object(const ObjectHeader&) {}
  virtual void on_fetch_object(const FetchObject&) {}  // also end-of-range markers (no payload)
  // Zero or more chunks per object; `end_of_object` on the last (an empty object gets one
  // empty chunk so every object ends with exactly one end_of_object).
  virtual void on_payload(ByteView chunk, bool end_of_object) = 0;
  virtual void on_end_of_stream() {}
};

struct DataStreamLimits {
  size_t max_properties_bytes = 65535;  // per object properties block
};

// Incremental parser of one subgroup, fetch or padding stream (not a -18 control stream:
// classify_uni_stream() tells those apart first).
class DataStreamParser {
 public:
  DataStreamParser(Draft d, DataStreamVisitor& v, DataStreamLimits limits = {});
  // -18 fetch object ids are deltas whose direction follows the fetch's group order.
  void set_fetch_group_order(GroupOrder o) { fetch_order_ = o; }

  // Parses what it can. After an error, the stream (and per the drafts the session) is dead:
  // every later call returns the same error.
  std::optional<WireError> feed(ByteView data, bool fin = false);
  bool failed() const { return error_.has_value(); }

 private:
  enum class State : uint8_t { kStreamType, kSubgroupHeader, kFetchHeader, kObject, kPayload, kPadding, kDone };
  // Parses one header item from r; returns false if it needs more bytes or failed.
  bool parse_item(Reader& r);
  bool parse_subgroup_object(Reader& r);
  bool parse_fetch_object(Reader& r, bool* marker);
  KeyValueList read_properties(Reader& r);

  const Profile& p_;
  DataStreamVisitor& v_;
  DataStreamLimits limits_;
  GroupOrder fetch_order_ = GroupOrder::kAscending;
  State state_ = State::kStreamType;
  Bytes pending_;  // partial header bytes
  std::optional<WireError> error_;
  uint64_t stream_type_ = 0;
  bool is_fetch_ = false;
  SubgroupHeader subgroup_;
  std::optional<uint64_t> prev_object_id_;
  uint64_t payload_left_ = 0;
  // Fetch decoding state.
  std::optional<Location> prior_;
  std::optional<uint64_t> prior_subgroup_;
  std::optional<uint8_t> prior_priority_;
};

}  // namespace moqt::wire
