#include "moqt/wire/data_codec.h"

#include <algorithm>

#include "moqt/wire/structures.h"

namespace moqt::wire {
namespace {

// SUBGROUP_HEADER type bits (-14 §10.4.2, -16 §10.4.2, -18 §11.4.2).
constexpr uint64_t kSgProperties = 0x01;
constexpr uint64_t kSgModeMask = 0x06;
constexpr uint64_t kSgEndOfGroup = 0x08;
constexpr uint64_t kSgAlways = 0x10;
constexpr uint64_t kSgDefaultPriority = 0x20;
constexpr uint64_t kSgFirstObject = 0x40;

// OBJECT_DATAGRAM type bits (-14 §10.3.1 table, -16/-18 bit definitions).
constexpr uint64_t kDgProperties = 0x01;
constexpr uint64_t kDgEndOfGroup = 0x02;
constexpr uint64_t kDgZeroObjectId = 0x04;
constexpr uint64_t kDgDefaultPriority = 0x08;
constexpr uint64_t kDgStatus = 0x20;

// Fetch serialization flags (-16 §10.4.4.1, -18 §11.4.4.1).
constexpr uint64_t kFfSubgroupMask = 0x03;
constexpr uint64_t kFfObjectId = 0x04;
constexpr uint64_t kFfGroupId = 0x08;
constexpr uint64_t kFfPriority = 0x10;
constexpr uint64_t kFfProperties = 0x20;
constexpr uint64_t kFfDatagram = 0x40;

bool valid_subgroup_type(uint64_t t, const Profile& p) {
  if (t > 0x7f || !(t & kSgAlways)) return false;
  if ((t & kSgModeMask) == kSgModeMask) return false;  // mode 0b11 reserved
  return (t & 0x60 & ~static_cast<uint64_t>(p.subgroup_type_bits)) == 0;
}

bool valid_datagram_type(uint64_t t, const Profile& p) {
  if (!p.datagram_default_priority) return t <= 0x07 || t == 0x20 || t == 0x21;  // -14 table
  if (t & ~uint64_t{0x2f}) return false;
  return !((t & kDgStatus) && (t & kDgEndOfGroup));
}

bool valid_status(uint64_t s, const Profile& p) {
  return s == 0x0 || s == 0x3 || s == 0x4 || (s == 0x1 && p.object_status_does_not_exist);
}

// Which objects may carry properties. -14 §10.2.1.2 forbids extension headers only on "Object
// Does Not Exist" objects (End of Group / End of Track may carry them); -16 §10.2.1.2 and
// -18 §11.2.1.2 allow them on Normal objects only. Status 0x1 exists exactly in -14.
bool properties_allowed(ObjectStatus s, const Profile& p) {
  if (p.object_status_does_not_exist) return s != ObjectStatus::kDoesNotExist;
  return s == ObjectStatus::kNormal;
}

void write_properties_block(Writer& w, const KeyValueList& props, const Profile& p) {
  Writer inner(p.ints);
  write_kvps(inner, props, p);
  if (inner.error()) return w.fail(*inner.error());
  w.lp_bytes(ByteView(inner.buffer()));
}

KeyValueList read_properties_block(Reader& r, const Profile& p, size_t max_bytes) {
  const uint64_t len = r.varint();
  if (!r.ok()) return {};
  if (len > max_bytes) {
    r.fail(violation("object properties block of " + std::to_string(len) + " bytes exceeds the limit of " +
                     std::to_string(max_bytes)));
    return {};
  }
  ByteView block = r.bytes(static_cast<size_t>(len));
  if (!r.ok()) return {};
  Reader inner(block, p.ints);
  KeyValueList kvs = read_kvps(inner, p, std::nullopt);
  if (inner.error()) r.fail(*inner.error());
  else if (inner.is_short()) r.fail(violation("object properties overrun their length"));
  return kvs;
}

void write_status_or_payload_length(Writer& w, ObjectStatus status, uint64_t payload_length, const Profile& p) {
  if (status != ObjectStatus::kNormal && payload_length)
    return w.fail(violation("an object with a non-normal status has no payload"));
  if (!valid_status(static_cast<uint64_t>(status), p)) return w.fail(violation("object status undefined in this draft"));
  w.varint(payload_length);
  if (payload_length == 0) w.varint(static_cast<uint64_t>(status));
}

}  // namespace

Result<uint64_t> subgroup_header_type(const SubgroupHeader& h, Draft d) {
  const Profile& p = profile(d);
  uint64_t t = kSgAlways | (static_cast<uint64_t>(h.mode) << 1);
  if (h.has_properties) t |= kSgProperties;
  if (h.end_of_group) t |= kSgEndOfGroup;
  if (!h.publisher_priority) t |= kSgDefaultPriority;
  if (h.first_object) t |= kSgFirstObject;
  if (!valid_subgroup_type(t, p))
    return violation(std::string("subgroup header cannot be expressed in ") + p.name +
                     (h.publisher_priority ? "" : " (default priority needs -16+)"));
  return t;
}

std::optional<WireError> encode_subgroup_header(const SubgroupHeader& h, Draft d, Bytes& out) {
  const Profile& p = profile(d);
  Result<uint64_t> type = subgroup_header_type(h, d);
  if (!type) return type.error();
  Writer w(p.ints);
  w.varint(*type);
  w.varint(h.track_alias);
  w.varint(h.group_id);
  if (h.mode == SubgroupIdMode::kExplicit) w.varint(h.subgroup_id);
  if (h.publisher_priority) w.u8(*h.publisher_priority);
  if (w.error()) return *w.error();
  out.insert(out.end(), w.buffer().begin(), w.buffer().end());
  return std::nullopt;
}

std::optional<WireError> encode_subgroup_object(const ObjectHeader& o, std::optional<uint64_t> prev_object_id,
                                                bool has_properties, Draft d, Bytes& out) {
  const Profile& p = profile(d);
  Writer w(p.ints);
  if (prev_object_id) {
    if (o.object_id <= *prev_object_id) return violation("object ids on a subgroup stream must increase");
    w.varint(o.object_id - *prev_object_id - 1);
  } else {
    w.varint(o.object_id);
  }
  if (has_properties) {
    if (!o.properties.empty() && !properties_allowed(o.status, p))
      return violation("an object with this status carries no properties");
    write_properties_block(w, o.properties, p);
  } else if (!o.properties.empty()) {
    return violation("the subgroup header says objects carry no properties");
  }
  write_status_or_payload_length(w, o.status, o.payload_length, p);
  if (w.error()) return *w.error();
  out.insert(out.end(), w.buffer().begin(), w.buffer().end());
  return std::nullopt;
}

std::optional<WireError> encode_fetch_header(const FetchHeader& h, Draft d, Bytes& out) {
  Writer w(profile(d).ints);
  w.varint(kFetchHeaderType);
  w.varint(h.request_id);
  if (w.error()) return *w.error();
  out.insert(out.end(), w.buffer().begin(), w.buffer().end());
  return std::nullopt;
}

std::optional<WireError> FetchObjectEncoder::encode(const FetchObject& o, Bytes& out) {
  const Profile& p = profile(draft_);
  Writer w(p.ints);
  if (p.fetch_objects == FetchObjectStyle::kAbsoluteWithStatus) {  // -14
    if (o.entry != FetchEntry::kObject) return violation("draft-14 fetches have no end-of-range markers");
    w.varint(o.location.group);
    w.varint(o.datagram ? o.location.object : o.subgroup_id);
    w.varint(o.location.object);
    w.u8(o.publisher_priority);
    if (!o.properties.empty() && !properties_allowed(o.status, p))
      return violation("an object with this status carries no extensions");
    write_properties_block(w, o.properties, p);
    write_status_or_payload_length(w, o.status, o.payload_length, p);
  } else if (o.entry != FetchEntry::kObject) {
    // End-of-range markers carry absolute Group and Object IDs (-16 §10.4.4.2, -18 §11.4.4.2).
    w.varint(o.entry == FetchEntry::kEndOfNonExistentRange ? kFetchEndOfNonExistentRange : kFetchEndOfUnknownRange);
    w.varint(o.location.group);
    w.varint(o.location.object);
    if (w.error()) return *w.error();
    prior_ = o.location;
  } else {
    if (o.status != ObjectStatus::kNormal) return violation(std::string("fetch objects carry no status in ") + p.name);
    const bool delta = p.fetch_objects == FetchObjectStyle::kFlagsDelta;
    uint64_t flags = 0;
    const bool group_field = !prior_ || prior_->group != o.location.group;
    // Absent Object ID means "prior + 1" in both -16 and -18, whatever the group.
    const bool object_field = !prior_ || o.location.object != prior_->object + 1;
    if (group_field) flags |= kFfGroupId;
    if (object_field) flags |= kFfObjectId;
    if (o.datagram) {
      flags |= kFfDatagram;
    } else if (prior_subgroup_ && o.subgroup_id == *prior_subgroup_) {
      flags |= 0x01;
    } else if (o.subgroup_id == 0) {
      flags |= 0x00;
    } else if (prior_subgroup_ && o.subgroup_id == *prior_subgroup_ + 1) {
      flags |= 0x02;
    } else {
      flags |= 0x03;
    }
    const bool priority_field = !prior_priority_ || *prior_priority_ != o.publisher_priority;
    if (priority_field) flags |= kFfPriority;
    if (!o.properties.empty()) flags |= kFfProperties;
    w.varint(flags);
    if (group_field) {
      if (!delta || !prior_) {
        w.varint(o.location.group);
      } else if (order_ == GroupOrder::kDescending) {
        if (o.location.group >= prior_->group) return violation("descending fetch: group id must decrease");
        w.varint(prior_->group - o.location.group - 1);
      } else {
        if (o.location.group <= prior_->group) return violation("ascending fetch: group id must increase");
        w.varint(o.location.group - prior_->group - 1);
      }
    }
    if ((flags & kFfSubgroupMask) == 0x03 && !o.datagram) w.varint(o.subgroup_id);
    if (object_field) {
      if (delta && prior_ && !group_field) {
        if (o.location.object < prior_->object) return violation("object ids within a fetch group must increase");
        w.varint(o.location.object - prior_->object);
      } else {
        w.varint(o.location.object);
      }
    }
    if (priority_field) w.u8(o.publisher_priority);
    if (!o.properties.empty()) write_properties_block(w, o.properties, p);
    w.varint(o.payload_length);
    if (w.error()) return *w.error();
    prior_ = o.location;
    if (!o.datagram) prior_subgroup_ = o.subgroup_id;
    prior_priority_ = o.publisher_priority;
  }
  if (w.error()) return *w.error();
  out.insert(out.end(), w.buffer().begin(), w.buffer().end());
  return std::nullopt;
}

Result<Bytes> encode_datagram(const ObjectDatagram& d, ByteView payload, Draft draft) {
  const Profile& p = profile(draft);
  uint64_t type = 0;
  if (!d.properties.empty()) type |= kDgProperties;
  if (d.end_of_group) type |= kDgEndOfGroup;
  // -14 has no status datagram without an Object ID (0x24.. arrive with -16).
  if (d.object_id == 0 && (!d.status || p.datagram_default_priority)) type |= kDgZeroObjectId;
  if (!d.publisher_priority) type |= kDgDefaultPriority;
  if (d.status) type |= kDgStatus;
  if (!valid_datagram_type(type, p))
    return violation(std::string("object datagram cannot be expressed in ") + p.name);
  if (d.status && !payload.empty()) return violation("a status datagram has no payload");
  if (d.status && !d.properties.empty() && !properties_allowed(*d.status, p))
    return violation("an object with this status carries no properties");
  if (d.status && !valid_status(static_cast<uint64_t>(*d.status), p)) return violation("object status undefined");
  Writer w(p.ints);
  w.varint(type);
  w.varint(d.track_alias);
  w.varint(d.group_id);
  if (!(type & kDgZeroObjectId)) w.varint(d.object_id);
  if (d.publisher_priority) w.u8(*d.publisher_priority);
  if (!d.properties.empty()) write_properties_block(w, d.properties, p);
  if (d.status) w.varint(static_cast<uint64_t>(*d.status));
  else w.bytes(payload);
  return std::move(w).finish();
}

Result<DecodedDatagram> decode_datagram(ByteView datagram, Draft draft) {
  const Profile& p = profile(draft);
  Reader r(datagram, p.ints);
  DecodedDatagram out;
  const uint64_t type = r.varint();
  if (!r.ok()) return violation("empty or truncated datagram type");
  if (p.padding && type == kPaddingDatagramType) {
    out.padding = true;
    return out;
  }
  if (!valid_datagram_type(type, p)) return violation("invalid object datagram type " + hex_u64(type));
  ObjectDatagram& d = out.header;
  d.track_alias = r.varint();
  d.group_id = r.varint();
  d.object_id = (type & kDgZeroObjectId) ? 0 : r.varint();
  if (!(type & kDgDefaultPriority)) d.publisher_priority = r.u8();
  d.end_of_group = type & kDgEndOfGroup;
  if (type & kDgProperties) {
    d.properties = read_properties_block(r, p, kMaxControlPayload);
    if (r.ok() && d.properties.empty()) return violation("datagram has the properties bit but no properties");
  }
  if (type & kDgStatus) {
    const uint64_t s = r.varint();
    if (r.ok() && !valid_status(s, p)) return violation("undefined object status " + std::to_string(s));
    d.status = static_cast<ObjectStatus>(s);
    if (r.ok() && !d.properties.empty() && !properties_allowed(d.status.value(), p))
      return violation("an object with status " + std::to_string(s) + " carries no properties");
    if (r.ok() && !r.empty()) return violation("status datagram has bytes after the status");
  } else {
    out.payload = r.rest();
  }
  if (r.error()) return *r.error();
  if (r.is_short()) return violation("truncated object datagram");
  return out;
}

Result<UniStreamKind> classify_uni_stream(ByteView prefix, Draft d) {
  const Profile& p = profile(d);
  uint64_t type = 0;
  size_t used = 0;
  if (decode_int(p.ints, prefix, type, used) != IntDecode::kOk) return UniStreamKind::kNeedMore;
  if (type == kFetchHeaderType) return UniStreamKind::kFetch;
  if (valid_subgroup_type(type, p)) return UniStreamKind::kSubgroup;
  if (p.setup == SetupStyle::kUnified && type == kSetupStreamType) return UniStreamKind::kControl;
  if (p.padding && type == kPaddingStreamType) return UniStreamKind::kPadding;
  return violation("unknown unidirectional stream type " + hex_u64(type));
}

DataStreamParser::DataStreamParser(Draft d, DataStreamVisitor& v, DataStreamLimits limits)
    : p_(profile(d)), v_(v), limits_(limits) {}

KeyValueList DataStreamParser::read_properties(Reader& r) {
  return read_properties_block(r, p_, limits_.max_properties_bytes);
}

bool DataStreamParser::parse_subgroup_object(Reader& r) {
  ObjectHeader o;
  const uint64_t delta = r.varint();
  if (subgroup_.has_properties) o.properties = read_properties(r);
  o.payload_length = r.varint();
  uint64_t status = 0;
  if (r.ok() && o.payload_length == 0) status = r.varint();
  if (!r.ok()) return false;
  if (!valid_status(status, p_)) {
    r.fail(violation("undefined object status " + std::to_string(status)));
    return false;
  }
  o.status = static_cast<ObjectStatus>(status);
  if (!o.properties.empty() && !properties_allowed(o.status, p_)) {
    r.fail(violation("an object with status " + std::to_string(status) + " carries no properties"));
    return false;
  }
  if (prev_object_id_) {
    if (delta >= UINT64_MAX - *prev_object_id_) {
      r.fail(violation("object id overflows 2^64-1"));
      return false;
    }
    o.object_id = *prev_object_id_ + delta + 1;
  } else {
    o.object_id = delta;
    if (subgroup_.mode == SubgroupIdMode::kFirstObject) subgroup_.subgroup_id = o.object_id;
  }
  o.subgroup_id = subgroup_.subgroup_id;
  prev_object_id_ = o.object_id;
  payload_left_ = o.payload_length;
  v_.on_object(o);
  return true;
}

bool DataStreamParser::parse_fetch_object(Reader& r, bool* marker) {
  FetchObject o;
  if (p_.fetch_objects == FetchObjectStyle::kAbsoluteWithStatus) {  // -14
    o.location.group = r.varint();
    o.subgroup_id = r.varint();
    o.location.object = r.varint();
    o.publisher_priority = r.u8();
    o.properties = read_properties(r);
    o.payload_length = r.varint();
    uint64_t status = 0;
    if (r.ok() && o.payload_length == 0) status = r.varint();
    if (!r.ok()) return false;
    if (!valid_status(status, p_)) {
      r.fail(violation("undefined object status " + std::to_string(status)));
      return false;
    }
    o.status = static_cast<ObjectStatus>(status);
    if (!o.properties.empty() && !properties_allowed(o.status, p_)) {
      r.fail(violation("an object with status " + std::to_string(status) + " carries no extensions"));
      return false;
    }
    payload_left_ = o.payload_length;
    v_.on_fetch_object(o);
    return true;
  }
  const uint64_t flags = r.varint();
  if (!r.ok()) return false;
  if (flags == kFetchEndOfNonExistentRange || flags == kFetchEndOfUnknownRange) {
    o.entry = flags == kFetchEndOfNonExistentRange ? FetchEntry::kEndOfNonExistentRange : FetchEntry::kEndOfUnknownRange;
    o.location = read_location(r);
    if (!r.ok()) return false;
    prior_ = o.location;
    payload_left_ = 0;
    *marker = true;
    v_.on_fetch_object(o);
    return true;
  }
  if (flags >= 0x80) {
    r.fail(violation("invalid fetch serialization flags " + hex_u64(flags)));
    return false;
  }
  const bool delta = p_.fetch_objects == FetchObjectStyle::kFlagsDelta;
  o.datagram = flags & kFfDatagram;
  const uint64_t mode = flags & kFfSubgroupMask;
  // Parse every field first; state is committed only once the whole header is there.
  uint64_t group_field = 0, subgroup_field = 0, object_field = 0;
  uint8_t priority = 0;
  if (flags & kFfGroupId) group_field = r.varint();
  if (!o.datagram && mode == 0x03) subgroup_field = r.varint();
  if (flags & kFfObjectId) object_field = r.varint();
  if (flags & kFfPriority) priority = r.u8();
  if (flags & kFfProperties) o.properties = read_properties(r);
  o.payload_length = r.varint();
  if (!r.ok()) return false;

  auto refuse = [&](const char* what) {
    r.fail(violation(std::string("fetch object refers to a prior ") + what + " that does not exist"));
    return false;
  };
  if (!(flags & kFfGroupId) && !prior_) return refuse("group");
  if (!(flags & kFfObjectId) && !prior_) return refuse("object");
  if (!(flags & kFfPriority) && !prior_priority_) return refuse("priority");
  if (!o.datagram && (mode == 0x01 || mode == 0x02) && !prior_subgroup_) return refuse("subgroup");

  if (!(flags & kFfGroupId)) {
    o.location.group = prior_->group;
  } else if (!delta || !prior_) {
    o.location.group = group_field;
  } else if (fetch_order_ == GroupOrder::kDescending) {
    if (group_field >= prior_->group) {
      r.fail(violation("fetch group id delta goes below 0"));
      return false;
    }
    o.location.group = prior_->group - group_field - 1;
  } else {
    if (group_field >= UINT64_MAX - prior_->group) {
      r.fail(violation("fetch group id overflows 2^64-1"));
      return false;
    }
    o.location.group = prior_->group + group_field + 1;
  }
  if (flags & kFfObjectId) {
    if (delta && prior_ && !(flags & kFfGroupId)) {
      if (object_field > UINT64_MAX - prior_->object) {
        r.fail(violation("fetch object id overflows 2^64-1"));
        return false;
      }
      o.location.object = prior_->object + object_field;
    } else {
      o.location.object = object_field;
    }
  } else {
    if (prior_->object == UINT64_MAX) {
      r.fail(violation("fetch object id overflows 2^64-1"));
      return false;
    }
    o.location.object = prior_->object + 1;
  }
  if (!o.datagram) {
    switch (mode) {
      case 0x00: o.subgroup_id = 0; break;
      case 0x01: o.subgroup_id = *prior_subgroup_; break;
      case 0x02: o.subgroup_id = *prior_subgroup_ + 1; break;
      default: o.subgroup_id = subgroup_field; break;
    }
    prior_subgroup_ = o.subgroup_id;
  }
  o.publisher_priority = (flags & kFfPriority) ? priority : *prior_priority_;
  prior_priority_ = o.publisher_priority;
  prior_ = o.location;
  payload_left_ = o.payload_length;
  v_.on_fetch_object(o);
  return true;
}

bool DataStreamParser::parse_item(Reader& r) {
  switch (state_) {
    case State::kStreamType: {
      const uint64_t type = r.varint();
      if (!r.ok()) return false;
      stream_type_ = type;
      if (type == kFetchHeaderType) {
        state_ = State::kFetchHeader;
      } else if (valid_subgroup_type(type, p_)) {
        state_ = State::kSubgroupHeader;
      } else if (p_.padding && type == kPaddingStreamType) {
        state_ = State::kPadding;
        v_.on_padding_stream();
      } else {
        r.fail(violation("unknown data stream type " + hex_u64(type)));
        return false;
      }
      return true;
    }
    case State::kSubgroupHeader: {
      SubgroupHeader h;
      const uint64_t t = stream_type_;
      h.track_alias = r.varint();
      h.group_id = r.varint();
      h.mode = static_cast<SubgroupIdMode>((t & kSgModeMask) >> 1);
      if (h.mode == SubgroupIdMode::kExplicit) h.subgroup_id = r.varint();
      if (!(t & kSgDefaultPriority)) h.publisher_priority = r.u8();
      if (!r.ok()) return false;
      h.has_properties = t & kSgProperties;
      h.end_of_group = t & kSgEndOfGroup;
      h.first_object = t & kSgFirstObject;
      subgroup_ = h;
      state_ = State::kObject;
      v_.on_subgroup_header(h);
      return true;
    }
    case State::kFetchHeader: {
      FetchHeader h;
      h.request_id = r.varint();
      if (!r.ok()) return false;
      is_fetch_ = true;
      state_ = State::kObject;
      v_.on_fetch_header(h);
      return true;
    }
    case State::kObject: {
      bool marker = false;
      const bool ok = is_fetch_ ? parse_fetch_object(r, &marker) : parse_subgroup_object(r);
      if (!ok) return false;
      state_ = State::kPayload;
      if (payload_left_ == 0) {
        if (!marker) v_.on_payload({}, true);  // an end-of-range marker is not an object
        state_ = State::kObject;
      }
      return true;
    }
    default:
      return false;
  }
}

std::optional<WireError> DataStreamParser::feed(ByteView data, bool fin) {
  if (error_) return error_;
  // Generous bound on one header: the properties block plus its fixed fields.
  const size_t max_header = limits_.max_properties_bytes + 64;
  while (!data.empty() && !error_) {
    if (state_ == State::kPayload) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(payload_left_, data.size()));
      payload_left_ -= n;
      v_.on_payload(data.first(n), payload_left_ == 0);
      data = data.subspan(n);
      if (payload_left_ == 0) state_ = State::kObject;
      continue;
    }
    if (state_ == State::kPadding || state_ == State::kDone) {
      data = {};  // padding bytes are discarded unread
      break;
    }
    if (pending_.empty()) {
      Reader r(data, p_.ints);
      if (parse_item(r)) {
        data = data.subspan(r.pos());
        continue;
      }
      if (r.error()) {
        error_ = *r.error();
        break;
      }
      if (data.size() > max_header) {
        error_ = violation("object header longer than " + std::to_string(max_header) + " bytes");
        break;
      }
      pending_.assign(data.begin(), data.end());
      data = {};
      break;
    }
    // Complete a split header: add a bounded slice of the new bytes to the partial header.
    const size_t old = pending_.size();
    const size_t take = std::min(data.size(), max_header + 1 - std::min(old, max_header));
    pending_.insert(pending_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    Reader r(ByteView(pending_), p_.ints);
    if (parse_item(r)) {
      const size_t from_data = r.pos() - old;  // parse needed more than `old` bytes before
      pending_.clear();
      data = data.subspan(from_data);
      continue;
    }
    if (r.error()) {
      error_ = *r.error();
      break;
    }
    if (pending_.size() > max_header) {
      error_ = violation("object header longer than " + std::to_string(max_header) + " bytes");
      break;
    }
    data = data.subspan(take);
  }
  if (error_) return error_;
  if (fin) {
    if (!pending_.empty() || (state_ == State::kPayload && payload_left_ > 0)) {
      error_ = violation("stream ended (FIN) in the middle of an object");
      return error_;
    }
    if (state_ == State::kStreamType || state_ == State::kSubgroupHeader || state_ == State::kFetchHeader) {
      error_ = violation("stream ended (FIN) before its header");
      return error_;
    }
    state_ = State::kDone;
    v_.on_end_of_stream();
  }
  return std::nullopt;
}

}  // namespace moqt::wire
