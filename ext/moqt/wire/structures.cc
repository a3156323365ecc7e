#include "moqt/wire/structures.h"

#include <algorithm>

namespace moqt::wire {

TrackNamespace read_namespace(Reader& r, const Profile& p, size_t min_fields) {
  TrackNamespace ns;
  const uint64_t n = r.varint();
  if (!r.ok()) return ns;
  if (n < min_fields || n > kMaxNamespaceFields) {
    r.fail(violation("track namespace has " + std::to_string(n) + " fields (allowed " +
                     std::to_string(min_fields) + ".." + std::to_string(kMaxNamespaceFields) + ")"));
    return ns;
  }
  size_t total = 0;
  ns.reserve(static_cast<size_t>(n));
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string field = r.lp_string(kMaxFullTrackNameBytes, violation("track namespace field longer than 4096 bytes"));
    if (!r.ok()) break;
    if (field.empty() && p.namespace_fields_nonempty) {
      r.fail(violation("empty track namespace field"));
      break;
    }
    total += field.size();
    if (total > kMaxFullTrackNameBytes) {
      r.fail(violation("track namespace longer than 4096 bytes"));
      break;
    }
    ns.push_back(std::move(field));
  }
  return ns;
}

void write_namespace(Writer& w, const TrackNamespace& ns, const Profile& p, size_t min_fields) {
  if (ns.size() < min_fields || ns.size() > kMaxNamespaceFields) {
    w.fail(violation("track namespace must have " + std::to_string(min_fields) + ".." +
                     std::to_string(kMaxNamespaceFields) + " fields, has " + std::to_string(ns.size())));
    return;
  }
  size_t total = 0;
  for (const std::string& f : ns) {
    if (f.empty() && p.namespace_fields_nonempty) w.fail(violation("empty track namespace field"));
    total += f.size();
  }
  if (total > kMaxFullTrackNameBytes) w.fail(violation("track namespace longer than 4096 bytes"));
  w.varint(ns.size());
  for (const std::string& f : ns) w.lp_bytes(f);
}

FullTrackName read_full_track_name(Reader& r, const Profile& p) {
  FullTrackName n;
  n.ns = read_namespace(r, p, p.min_namespace_fields);
  n.name = r.lp_string(kMaxFullTrackNameBytes, violation("track name longer than 4096 bytes"));
  if (!r.ok()) return n;
  size_t total = n.name.size();
  for (const auto& f : n.ns) total += f.size();
  if (total > kMaxFullTrackNameBytes) r.fail(violation("full track name longer than 4096 bytes"));
  return n;
}

void write_full_track_name(Writer& w, const FullTrackName& n, const Profile& p) {
  size_t total = n.name.size();
  for (const auto& f : n.ns) total += f.size();
  if (total > kMaxFullTrackNameBytes) w.fail(violation("full track name longer than 4096 bytes"));
  write_namespace(w, n.ns, p, p.min_namespace_fields);
  w.lp_bytes(n.name);
}

Location read_location(Reader& r) {
  Location l;
  l.group = r.varint();
  l.object = r.varint();
  return l;
}

void write_location(Writer& w, const Location& l) {
  w.varint(l.group);
  w.varint(l.object);
}

std::string read_reason(Reader& r) {
  return r.lp_string(kMaxReasonPhraseBytes, violation("reason phrase longer than 1024 bytes"));
}

void write_reason(Writer& w, const std::string& reason) {
  if (reason.size() > kMaxReasonPhraseBytes) w.fail(violation("reason phrase longer than 1024 bytes"));
  w.lp_bytes(reason);
}

KeyValueList read_kvps(Reader& r, const Profile& p, std::optional<uint64_t> count) {
  KeyValueList out;
  uint64_t type = 0;
  for (uint64_t i = 0; r.ok() && (count ? i < *count : !r.empty()); ++i) {
    const uint64_t t = r.varint();
    if (!r.ok()) break;
    if (p.kvp_delta_types) {
      if (i > 0 && t > UINT64_MAX - type) {
        r.fail(violation("key-value type delta overflows 2^64-1"));
        break;
      }
      type = (i == 0) ? t : type + t;
    } else {
      type = t;
    }
    KeyValuePair kv;
    kv.type = type;
    if (type & 1) {
      kv.bytes_value = r.lp_string(kMaxKvpValueBytes, violation("key-value length above 65535"));
    } else {
      kv.int_value = r.varint();
    }
    if (!r.ok()) break;
    out.push_back(std::move(kv));
  }
  return out;
}

void write_kvps(Writer& w, const KeyValueList& kvps, const Profile& p) {
  const KeyValueList* list = &kvps;
  KeyValueList sorted;
  if (p.kvp_delta_types && !std::is_sorted(kvps.begin(), kvps.end(),
                                           [](const auto& a, const auto& b) { return a.type < b.type; })) {
    // Delta coding needs ascending types; keep the relative order of equal types.
    sorted = kvps;
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
    list = &sorted;
  }
  uint64_t prev = 0;
  for (const KeyValuePair& kv : *list) {
    w.varint(p.kvp_delta_types ? kv.type - prev : kv.type);
    prev = kv.type;
    if (kv.is_bytes()) {
      if (kv.bytes_value.size() > kMaxKvpValueBytes) w.fail(violation("key-value value longer than 65535 bytes"));
      w.lp_bytes(kv.bytes_value);
    } else {
      w.varint(kv.int_value);
    }
  }
}

AuthToken read_token(Reader& r) {
  AuthToken t;
  const uint64_t alias_type = r.varint();
  if (!r.ok()) {
    if (r.is_short()) r.fail(kvp_error("truncated authorization token"));
    return t;
  }
  switch (alias_type) {
    case 0x0:
    case 0x2:
      t.alias_type = static_cast<TokenAliasType>(alias_type);
      t.alias = r.varint();
      if (r.ok() && !r.empty()) r.fail(kvp_error("authorization token has bytes after its alias"));
      break;
    case 0x1:
      t.alias_type = TokenAliasType::kRegister;
      t.alias = r.varint();
      t.token_type = r.varint();
      t.value = to_string_bytes(r.rest());
      break;
    case 0x3:
      t.alias_type = TokenAliasType::kUseValue;
      t.token_type = r.varint();
      t.value = to_string_bytes(r.rest());
      break;
    default:
      r.fail(kvp_error("authorization token alias type " + std::to_string(alias_type) + " is undefined"));
      return t;
  }
  if (r.is_short()) r.fail(kvp_error("truncated authorization token"));
  return t;
}

void write_token(Writer& w, const AuthToken& t) {
  w.varint(static_cast<uint64_t>(t.alias_type));
  switch (t.alias_type) {
    case TokenAliasType::kDelete:
    case TokenAliasType::kUseAlias:
      w.varint(t.alias);
      break;
    case TokenAliasType::kRegister:
      w.varint(t.alias);
      w.varint(t.token_type);
      w.bytes(t.value);
      break;
    case TokenAliasType::kUseValue:
      w.varint(t.token_type);
      w.bytes(t.value);
      break;
    default:
      w.fail(violation("invalid token alias type"));
  }
}

SubscriptionFilter read_filter(Reader& r, bool end_as_delta) {
  SubscriptionFilter f;
  const uint64_t type = r.varint();
  if (!r.ok()) return f;
  if (type < 0x1 || type > 0x4) {
    r.fail(violation("subscription filter type " + std::to_string(type) + " is undefined"));
    return f;
  }
  f.type = static_cast<FilterType>(type);
  if (f.type == FilterType::kAbsoluteStart || f.type == FilterType::kAbsoluteRange) f.start = read_location(r);
  if (f.type == FilterType::kAbsoluteRange) {
    const uint64_t end = r.varint();
    if (!r.ok()) return f;
    if (end_as_delta) {
      if (end > UINT64_MAX - f.start.group) {
        r.fail(violation("subscription filter end group overflows 2^64-1"));
        return f;
      }
      f.end_group = f.start.group + end;
    } else {
      f.end_group = end;
    }
  }
  return f;
}

void write_filter(Writer& w, const SubscriptionFilter& f, bool end_as_delta) {
  w.varint(static_cast<uint64_t>(f.type));
  if (f.type == FilterType::kAbsoluteStart || f.type == FilterType::kAbsoluteRange) write_location(w, f.start);
  if (f.type == FilterType::kAbsoluteRange) {
    if (!f.end_group) {
      w.fail(violation("AbsoluteRange filter without an end group"));
      return;
    }
    if (end_as_delta) {
      if (*f.end_group < f.start.group) {
        w.fail(violation("filter end group before start group"));
        return;
      }
      w.varint(*f.end_group - f.start.group);
    } else {
      w.varint(*f.end_group);
    }
  }
}

bool valid_group_order(uint64_t v, bool allow_publisher_choice) {
  return v == 1 || v == 2 || (allow_publisher_choice && v == 0);
}

}  // namespace moqt::wire
