#include "moqt/wire/control_codec.h"

#include <cstring>

#include "moqt/wire/structures.h"

namespace moqt::wire {
namespace {

using MK = MessageKind;

// ---------------------------------------------------------------------------------------------
// Message parameters

using ParamMask = uint32_t;
constexpr ParamMask pbit(Param p) { return ParamMask{1} << static_cast<unsigned>(p); }

const char* param_name(Param p) {
  switch (p) {
    case Param::kDeliveryTimeout: return "DELIVERY_TIMEOUT";
    case Param::kAuthToken: return "AUTHORIZATION_TOKEN";
    case Param::kMaxCacheDuration: return "MAX_CACHE_DURATION";
    case Param::kExpires: return "EXPIRES";
    case Param::kLargestObject: return "LARGEST_OBJECT";
    case Param::kForward: return "FORWARD";
    case Param::kSubscriberPriority: return "SUBSCRIBER_PRIORITY";
    case Param::kSubscriptionFilter: return "SUBSCRIPTION_FILTER";
    case Param::kGroupOrder: return "GROUP_ORDER";
    case Param::kNewGroupRequest: return "NEW_GROUP_REQUEST";
    case Param::kSubgroupDeliveryTimeout: return "SUBGROUP_DELIVERY_TIMEOUT";
    case Param::kRendezvousTimeout: return "RENDEZVOUS_TIMEOUT";
    case Param::kFillTimeout: return "FILL_TIMEOUT";
    case Param::kNamespacePrefix: return "TRACK_NAMESPACE_PREFIX";
  }
  return "?";
}

// Which typed parameters a MessageParams holds.
ParamMask present_params(const MessageParams& m) {
  ParamMask s = 0;
  if (m.delivery_timeout) s |= pbit(Param::kDeliveryTimeout);
  if (!m.auth_tokens.empty()) s |= pbit(Param::kAuthToken);
  if (m.max_cache_duration) s |= pbit(Param::kMaxCacheDuration);
  if (m.expires) s |= pbit(Param::kExpires);
  if (m.largest_object) s |= pbit(Param::kLargestObject);
  if (m.forward) s |= pbit(Param::kForward);
  if (m.subscriber_priority) s |= pbit(Param::kSubscriberPriority);
  if (m.filter) s |= pbit(Param::kSubscriptionFilter);
  if (m.group_order) s |= pbit(Param::kGroupOrder);
  if (m.new_group_request) s |= pbit(Param::kNewGroupRequest);
  if (m.subgroup_delivery_timeout) s |= pbit(Param::kSubgroupDeliveryTimeout);
  if (m.rendezvous_timeout) s |= pbit(Param::kRendezvousTimeout);
  if (m.fill_timeout) s |= pbit(Param::kFillTimeout);
  if (m.namespace_prefix) s |= pbit(Param::kNamespacePrefix);
  return s;
}

uint64_t param_int(const MessageParams& m, Param p) {
  switch (p) {
    case Param::kDeliveryTimeout: return *m.delivery_timeout;
    case Param::kMaxCacheDuration: return *m.max_cache_duration;
    case Param::kExpires: return *m.expires;
    case Param::kForward: return *m.forward ? 1 : 0;
    case Param::kSubscriberPriority: return *m.subscriber_priority;
    case Param::kGroupOrder: return static_cast<uint64_t>(*m.group_order);
    case Param::kNewGroupRequest: return *m.new_group_request;
    case Param::kSubgroupDeliveryTimeout: return *m.subgroup_delivery_timeout;
    case Param::kRendezvousTimeout: return *m.rendezvous_timeout;
    case Param::kFillTimeout: return *m.fill_timeout;
    default: return 0;
  }
}

// -16 §9.2.2.2: DELIVERY_TIMEOUT must be > 0 (receiving 0 is a PROTOCOL_VIOLATION). -14 has no
// such rule and -18 made 0 mean "no timeout" (-18 change log, #1450).
bool zero_delivery_timeout_forbidden(const Profile& p) { return p.draft == Draft::k16; }

// Writes the structured value of one parameter (token, filter, location, namespace).
void write_param_struct(Writer& w, const MessageParams& m, const ParamSpec& s, const Profile& p,
                        const AuthToken* token) {
  switch (s.value) {
    case ParamValue::kToken: write_token(w, *token); break;
    case ParamValue::kFilter: write_filter(w, *m.filter, p.draft >= Draft::k18); break;
    case ParamValue::kLocation: write_location(w, *m.largest_object); break;
    case ParamValue::kNamespace: write_namespace(w, *m.namespace_prefix, p, 0); break;
    default: break;
  }
}

// Writes Number of Parameters + parameters, skipping those in `inline_fields` (the draft carries
// them as fixed fields of this message).
void write_params(Writer& w, const MessageParams& m, MK kind, const Profile& p, ParamMask inline_fields) {
  const ParamMask present = present_params(m) & ~inline_fields;
  for (unsigned i = 0; i < 32; ++i) {
    if (!(present & (ParamMask{1} << i))) continue;
    const Param param = static_cast<Param>(i);
    const ParamSpec* s = find_param(p, param);
    if (!s || !(s->allowed & bit(kind))) {
      w.fail(violation(std::string(param_name(param)) + " cannot be sent in " + to_string(kind) + " in " +
                       p.name));
      return;
    }
  }
  if (!m.unknown.empty() && p.params != ParamStyle::kKeyValue) {
    w.fail(violation(std::string("unknown parameters cannot be sent in ") + p.name));
    return;
  }
  if ((present & pbit(Param::kDeliveryTimeout)) && *m.delivery_timeout == 0 && zero_delivery_timeout_forbidden(p)) {
    w.fail(violation(std::string("DELIVERY_TIMEOUT must be > 0 in ") + p.name));
    return;
  }
  // Specs are in ascending type order, which delta coding needs; -14 unknown ones go last.
  uint64_t count = m.unknown.size();
  for (const ParamSpec& s : p.message_params) {
    if (present & pbit(s.param)) count += s.param == Param::kAuthToken ? m.auth_tokens.size() : 1;
  }
  w.varint(count);
  uint64_t prev = 0;
  for (const ParamSpec& s : p.message_params) {
    if (!(present & pbit(s.param))) continue;
    const size_t reps = s.param == Param::kAuthToken ? m.auth_tokens.size() : 1;
    for (size_t rep = 0; rep < reps; ++rep) {
      w.varint(p.kvp_delta_types ? s.type - prev : s.type);
      prev = s.type;
      const AuthToken* token = s.param == Param::kAuthToken ? &m.auth_tokens[rep] : nullptr;
      if (p.params == ParamStyle::kKeyValue) {
        if (!(s.type & 1)) {
          w.varint(param_int(m, s.param));
        } else {
          Writer inner(p.ints);
          write_param_struct(inner, m, s, p, token);
          if (inner.error()) w.fail(*inner.error());
          if (inner.size() > kMaxKvpValueBytes) w.fail(violation("parameter value longer than 65535 bytes"));
          w.lp_bytes(ByteView(inner.buffer()));
        }
        continue;
      }
      switch (s.value) {
        case ParamValue::kVarint: w.varint(param_int(m, s.param)); break;
        case ParamValue::kUint8: w.u8(static_cast<uint8_t>(param_int(m, s.param))); break;
        case ParamValue::kLocation:
        case ParamValue::kNamespace: write_param_struct(w, m, s, p, token); break;
        case ParamValue::kFilter:
        case ParamValue::kToken: {
          Writer inner(p.ints);
          write_param_struct(inner, m, s, p, token);
          if (inner.error()) w.fail(*inner.error());
          w.lp_bytes(ByteView(inner.buffer()));
          break;
        }
      }
    }
  }
  for (const KeyValuePair& kv : m.unknown) {  // -14 only (no delta coding)
    w.varint(kv.type);
    if (kv.is_bytes()) w.lp_bytes(kv.bytes_value);
    else w.varint(kv.int_value);
  }
}

// Applies one decoded integer-valued parameter, checking its range.
void set_param_int(Reader& r, MessageParams& m, Param param, uint64_t v, const Profile& p) {
  switch (param) {
    case Param::kDeliveryTimeout:
      if (v == 0 && zero_delivery_timeout_forbidden(p)) return r.fail(violation("DELIVERY_TIMEOUT must be > 0"));
      m.delivery_timeout = v;
      break;
    case Param::kMaxCacheDuration: m.max_cache_duration = v; break;
    case Param::kExpires: m.expires = v; break;
    case Param::kNewGroupRequest: m.new_group_request = v; break;
    case Param::kSubgroupDeliveryTimeout: m.subgroup_delivery_timeout = v; break;
    case Param::kRendezvousTimeout: m.rendezvous_timeout = v; break;
    case Param::kFillTimeout: m.fill_timeout = v; break;
    case Param::kForward:
      if (v > 1) return r.fail(violation("FORWARD must be 0 or 1, got " + std::to_string(v)));
      m.forward = v == 1;
      break;
    case Param::kSubscriberPriority:
      if (v > 255) return r.fail(violation("SUBSCRIBER_PRIORITY above 255"));
      m.subscriber_priority = static_cast<uint8_t>(v);
      break;
    case Param::kGroupOrder:
      if (!valid_group_order(v, false)) return r.fail(violation("GROUP_ORDER must be 1 or 2"));
      m.group_order = static_cast<GroupOrder>(v);
      break;
    default: break;
  }
}

// Decodes a structured parameter value that spans all of `r`.
void read_param_struct(Reader& r, MessageParams& m, const ParamSpec& s, const Profile& p) {
  switch (s.value) {
    case ParamValue::kToken: m.auth_tokens.push_back(read_token(r)); break;
    case ParamValue::kFilter: m.filter = read_filter(r, p.draft >= Draft::k18); break;
    case ParamValue::kLocation: m.largest_object = read_location(r); break;
    case ParamValue::kNamespace: m.namespace_prefix = read_namespace(r, p, 0); break;
    default: break;
  }
}

// Reads a length-prefixed parameter value and decodes it with read_param_struct, requiring it to
// fill the length exactly.
void read_lp_param(Reader& r, MessageParams& m, const ParamSpec& s, const Profile& p, bool apply) {
  const uint64_t len = r.varint();
  if (!r.ok()) return;
  if (len > kMaxKvpValueBytes) return r.fail(violation("parameter length above 65535"));
  ByteView value = r.bytes(static_cast<size_t>(len));
  if (!r.ok() || !apply) return;
  Reader inner(value, p.ints);
  read_param_struct(inner, m, s, p);
  if (inner.error()) return r.fail(*inner.error());
  const bool formatting = s.value == ParamValue::kToken || s.value == ParamValue::kLocation;
  if (inner.is_short() || !inner.empty()) {
    std::string what = std::string(param_name(s.param)) + " value does not match its length";
    // -16 §9.2.2.5 / -18 §10.2.9: a filter whose length mismatches is a PROTOCOL_VIOLATION;
    // other known types with a wrong serialization are KEY_VALUE_FORMATTING_ERROR.
    r.fail(formatting ? kvp_error(what) : violation(what));
  }
}

MessageParams read_params(Reader& r, MK kind, const Profile& p) {
  MessageParams m;
  const uint64_t count = r.varint();
  if (!r.ok()) return m;
  // Each parameter takes at least two bytes: a count beyond that cannot be honest.
  if (count > r.remaining()) {
    r.fail(violation("parameter count " + std::to_string(count) + " exceeds the message length"));
    return m;
  }
  ParamMask seen = 0;
  uint64_t type = 0;
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    const uint64_t t = r.varint();
    if (!r.ok()) break;
    if (p.kvp_delta_types) {
      if (i > 0 && t > UINT64_MAX - type) {
        r.fail(violation("parameter type delta overflows 2^64-1"));
        break;
      }
      type = i == 0 ? t : type + t;
    } else {
      type = t;
    }
    const ParamSpec* s = find_param(p, type);
    if (!s) {
      if (p.unknown_param_fatal) {
        r.fail(violation("unknown message parameter " + hex_u64(type) + " in " + to_string(kind)));
        break;
      }
      KeyValuePair kv;  // -14: ignore but keep (even/odd rule tells its size)
      kv.type = type;
      if (type & 1) kv.bytes_value = r.lp_string(kMaxKvpValueBytes, violation("parameter length above 65535"));
      else kv.int_value = r.varint();
      if (r.ok()) m.unknown.push_back(std::move(kv));
      continue;
    }
    const bool allowed = s->allowed & bit(kind);
    if (!allowed && p.misplaced_param_fatal) {
      r.fail(violation(std::string(param_name(s->param)) + " is not allowed in " + to_string(kind)));
      break;
    }
    if (allowed && !s->repeatable && (seen & pbit(s->param))) {
      r.fail(violation(std::string("duplicate ") + param_name(s->param) + " parameter"));
      break;
    }
    seen |= pbit(s->param);
    if (p.params == ParamStyle::kKeyValue) {
      if (!(type & 1)) {
        const uint64_t v = r.varint();
        if (r.ok() && allowed) set_param_int(r, m, s->param, v, p);
      } else {
        read_lp_param(r, m, *s, p, allowed);
      }
      continue;
    }
    switch (s->value) {  // -18: the parameter defines its encoding
      case ParamValue::kVarint: {
        const uint64_t v = r.varint();
        if (r.ok()) set_param_int(r, m, s->param, v, p);
        break;
      }
      case ParamValue::kUint8: {
        const uint8_t v = r.u8();
        if (r.ok()) set_param_int(r, m, s->param, v, p);
        break;
      }
      case ParamValue::kLocation:
      case ParamValue::kNamespace: read_param_struct(r, m, *s, p); break;
      case ParamValue::kFilter:
      case ParamValue::kToken: read_lp_param(r, m, *s, p, true); break;
    }
  }
  return m;
}

// Setup parameters / options.
void write_setup_params(Writer& w, const SetupParams& s, const Profile& p) {
  KeyValueList kvs;
  if (s.path) kvs.push_back(KeyValuePair::bytes(setup_param::kPath, *s.path));
  if (s.max_request_id) {
    if (p.setup == SetupStyle::kUnified) return w.fail(violation("MAX_REQUEST_ID does not exist in draft-18"));
    kvs.push_back(KeyValuePair::integer(setup_param::kMaxRequestId, *s.max_request_id));
  }
  for (const AuthToken& t : s.auth_tokens) {
    Writer inner(p.ints);
    write_token(inner, t);
    if (inner.error()) return w.fail(*inner.error());
    kvs.push_back(KeyValuePair::bytes(setup_param::kAuthorizationToken, to_string_bytes(inner.buffer())));
  }
  if (s.max_auth_token_cache_size)
    kvs.push_back(KeyValuePair::integer(setup_param::kMaxAuthTokenCacheSize, *s.max_auth_token_cache_size));
  if (s.authority) kvs.push_back(KeyValuePair::bytes(setup_param::kAuthority, *s.authority));
  if (s.implementation) kvs.push_back(KeyValuePair::bytes(setup_param::kMoqtImplementation, *s.implementation));
  kvs.insert(kvs.end(), s.unknown.begin(), s.unknown.end());
  if (p.setup != SetupStyle::kUnified) w.varint(kvs.size());
  write_kvps(w, kvs, p);
}

SetupParams read_setup_params(Reader& r, const Profile& p) {
  SetupParams s;
  std::optional<uint64_t> count;
  if (p.setup != SetupStyle::kUnified) {
    count = r.varint();
    if (!r.ok()) return s;
    if (*count > r.remaining()) {
      r.fail(violation("setup parameter count exceeds the message length"));
      return s;
    }
  }
  KeyValueList kvs = read_kvps(r, p, count);
  if (!r.ok()) return s;
  auto once = [&](bool already, const char* name) {
    if (already) r.fail(violation(std::string("duplicate setup parameter ") + name));
    return !already;
  };
  for (KeyValuePair& kv : kvs) {
    switch (kv.type) {
      case setup_param::kPath:
        if (once(s.path.has_value(), "PATH")) s.path = std::move(kv.bytes_value);
        break;
      case setup_param::kMaxRequestId:
        if (p.setup == SetupStyle::kUnified) {
          s.unknown.push_back(std::move(kv));  // not defined in -18: unknown, ignored
        } else if (once(s.max_request_id.has_value(), "MAX_REQUEST_ID")) {
          s.max_request_id = kv.int_value;
        }
        break;
      case setup_param::kAuthorizationToken: {
        Reader inner(as_bytes(kv.bytes_value), p.ints);
        s.auth_tokens.push_back(read_token(inner));
        if (inner.error()) r.fail(*inner.error());
        break;
      }
      case setup_param::kMaxAuthTokenCacheSize:
        if (once(s.max_auth_token_cache_size.has_value(), "MAX_AUTH_TOKEN_CACHE_SIZE"))
          s.max_auth_token_cache_size = kv.int_value;
        break;
      case setup_param::kAuthority:
        if (once(s.authority.has_value(), "AUTHORITY")) s.authority = std::move(kv.bytes_value);
        break;
      case setup_param::kMoqtImplementation:
        if (once(s.implementation.has_value(), "MOQT_IMPLEMENTATION")) s.implementation = std::move(kv.bytes_value);
        break;
      default:
        s.unknown.push_back(std::move(kv));
    }
    if (!r.ok()) break;
  }
  return s;
}

// Reads one byte that must be 0 or 1.
bool read_flag(Reader& r, const char* what) {
  const uint8_t v = r.u8();
  if (r.ok() && v > 1) r.fail(violation(std::string(what) + " must be 0 or 1"));
  return v == 1;
}

GroupOrder read_group_order(Reader& r, bool allow_publisher_choice) {
  const uint8_t v = r.u8();
  if (r.ok() && !valid_group_order(v, allow_publisher_choice))
    r.fail(violation("group order " + std::to_string(v) + " is invalid here"));
  return static_cast<GroupOrder>(v);
}

void write_group_order(Writer& w, std::optional<GroupOrder> g, GroupOrder dflt, bool allow_publisher_choice) {
  const GroupOrder v = g.value_or(dflt);
  if (!valid_group_order(static_cast<uint64_t>(v), allow_publisher_choice))
    w.fail(violation("group order 0 (publisher's) is not valid in this message"));
  w.u8(static_cast<uint8_t>(v));
}

// -14 "Content Exists (8) [Largest Location]".
void write_content_exists(Writer& w, const std::optional<Location>& largest) {
  w.u8(largest ? 1 : 0);
  if (largest) write_location(w, *largest);
}
std::optional<Location> read_content_exists(Reader& r) {
  if (read_flag(r, "Content Exists")) return read_location(r);
  return std::nullopt;
}

// -14 inline filter: "Filter Type (i) [Start Location] [End Group (i)]" (end literal).
constexpr ParamMask kInlineSubscribe14 = pbit(Param::kSubscriberPriority) | pbit(Param::kGroupOrder) |
                                         pbit(Param::kForward) | pbit(Param::kSubscriptionFilter);

// ---------------------------------------------------------------------------------------------
// Per-message payloads

struct Enc {
  Writer& w;
  const Profile& p;
  MK kind;  // for parameter checks (TRACK_STATUS shares SUBSCRIBE's layout)

  void params(const MessageParams& m, ParamMask inline_fields = 0) { write_params(w, m, kind, p, inline_fields); }
  void request_id_if_replies(uint64_t id) {
    if (p.request_id_in_replies) w.varint(id);
  }

  void operator()(const ClientSetup& m) {
    if (p.setup == SetupStyle::kClientServerVersions) {
      w.varint(m.versions.size());
      for (uint64_t v : m.versions) w.varint(v);
    } else if (!m.versions.empty()) {
      w.fail(violation(std::string("CLIENT_SETUP carries no versions in ") + p.name));
    }
    write_setup_params(w, m.params, p);
  }
  void operator()(const ServerSetup& m) {
    if (p.setup == SetupStyle::kClientServerVersions) w.varint(m.selected_version);
    write_setup_params(w, m.params, p);
  }
  void operator()(const Setup& m) { write_setup_params(w, m.params, p); }
  void operator()(const Goaway& m) {
    if (m.new_session_uri.size() > kMaxGoawayUriBytes) w.fail(violation("GOAWAY URI longer than 8192 bytes"));
    w.lp_bytes(m.new_session_uri);
    if (p.goaway_timeout) {
      w.varint(m.timeout_ms.value_or(0));
      if (m.request_id) w.varint(*m.request_id);
    } else if (m.timeout_ms || m.request_id) {
      w.fail(violation(std::string("GOAWAY has no timeout or request id in ") + p.name));
    }
  }
  void operator()(const MaxRequestId& m) { w.varint(m.request_id); }
  void operator()(const RequestsBlocked& m) { w.varint(m.max_request_id); }
  void subscribe_like(const Subscribe& m) {
    w.varint(m.request_id);
    write_full_track_name(w, m.track, p);
    if (!p.request_fields_as_params) {
      const MessageParams& q = m.params;
      w.u8(q.subscriber_priority.value_or(128));
      write_group_order(w, q.group_order, GroupOrder::kPublisher, true);
      w.u8(q.forward.value_or(true) ? 1 : 0);
      write_filter(w, q.filter.value_or(SubscriptionFilter{}), false);
      params(q, kInlineSubscribe14);
      return;
    }
    params(m.params);
  }
  void operator()(const Subscribe& m) { subscribe_like(m); }
  void operator()(const TrackStatus& m) { subscribe_like(m); }
  // -14 SUBSCRIBE_OK / TRACK_STATUS_OK body after Request ID and Track Alias.
  void subscribe_ok_fields14(const MessageParams& q) {
    w.varint(q.expires.value_or(0));
    write_group_order(w, q.group_order, GroupOrder::kAscending, false);
    write_content_exists(w, q.largest_object);
    params(q, pbit(Param::kExpires) | pbit(Param::kGroupOrder) | pbit(Param::kLargestObject));
  }
  void operator()(const SubscribeOk& m) {
    request_id_if_replies(m.request_id);
    w.varint(m.track_alias);
    if (!p.request_fields_as_params) return subscribe_ok_fields14(m.params);
    params(m.params);
    write_kvps(w, m.track_properties, p);
  }
  void operator()(const RequestOk& m) {
    request_id_if_replies(m.request_id);
    if (!p.request_fields_as_params) {  // -14: the reply's own layout
      switch (m.of) {
        case RequestKind::kTrackStatus:
          w.varint(0);  // Track Alias, always 0 in TRACK_STATUS_OK
          return subscribe_ok_fields14(m.params);
        case RequestKind::kPublish: {
          const MessageParams& q = m.params;
          w.u8(q.forward.value_or(true) ? 1 : 0);
          w.u8(q.subscriber_priority.value_or(128));
          write_group_order(w, q.group_order, GroupOrder::kAscending, false);
          write_filter(w, q.filter.value_or(SubscriptionFilter{}), false);
          return params(q, kInlineSubscribe14);
        }
        case RequestKind::kPublishNamespace:
        case RequestKind::kSubscribeNamespace:
          if (present_params(m.params) || !m.params.unknown.empty())
            w.fail(violation("this -14 reply has no parameters"));
          return;
        default:
          return w.fail(violation(std::string("no -14 reply for a ") + to_string(m.of) + " request"));
      }
    }
    params(m.params);
    if (p.request_ok_track_properties) write_kvps(w, m.track_properties, p);
    else if (!m.track_properties.empty()) w.fail(violation(std::string("REQUEST_OK has no track properties in ") + p.name));
  }
  void operator()(const RequestError& m) {
    request_id_if_replies(m.request_id);
    w.varint(m.error_code);
    if (p.request_error_retry) w.varint(m.retry_interval);
    else if (m.retry_interval) w.fail(violation(std::string("no retry interval in ") + p.name));
    write_reason(w, m.reason);
    const bool is_redirect = p.request_error_redirect && m.error_code == kRequestErrorRedirect;
    if (is_redirect != m.redirect.has_value())
      return w.fail(violation("a Redirect is present exactly when the error code is REDIRECT (-18)"));
    if (m.redirect) {
      w.lp_bytes(m.redirect->connect_uri);
      // Both empty = "same track": the namespace tuple may then have 0 fields.
      write_namespace(w, m.redirect->track.ns, p, 0);
      w.lp_bytes(m.redirect->track.name);
    }
  }
  void operator()(const RequestUpdate& m) {
    w.varint(m.request_id);
    if (p.draft <= Draft::k16) w.varint(m.existing_request_id);
    if (!p.request_fields_as_params) {  // -14 SUBSCRIBE_UPDATE
      const MessageParams& q = m.params;
      if (!q.filter || (q.filter->type != FilterType::kAbsoluteStart && q.filter->type != FilterType::kAbsoluteRange))
        return w.fail(violation("-14 SUBSCRIBE_UPDATE needs an AbsoluteStart/AbsoluteRange filter"));
      write_location(w, q.filter->start);
      w.varint(q.filter->end_group ? *q.filter->end_group + 1 : 0);  // +1, 0 = open-ended
      w.u8(q.subscriber_priority.value_or(128));
      w.u8(q.forward.value_or(true) ? 1 : 0);
      return params(q, pbit(Param::kSubscriptionFilter) | pbit(Param::kSubscriberPriority) | pbit(Param::kForward));
    }
    params(m.params);
  }
  void operator()(const Unsubscribe& m) { w.varint(m.request_id); }
  void operator()(const Publish& m) {
    w.varint(m.request_id);
    write_full_track_name(w, m.track, p);
    w.varint(m.track_alias);
    if (!p.request_fields_as_params) {
      const MessageParams& q = m.params;
      write_group_order(w, q.group_order, GroupOrder::kAscending, false);
      write_content_exists(w, q.largest_object);
      w.u8(q.forward.value_or(true) ? 1 : 0);
      return params(q, pbit(Param::kGroupOrder) | pbit(Param::kLargestObject) | pbit(Param::kForward));
    }
    params(m.params);
    write_kvps(w, m.track_properties, p);
  }
  void operator()(const PublishDone& m) {
    request_id_if_replies(m.request_id);
    w.varint(m.status_code);
    w.varint(m.stream_count);
    write_reason(w, m.reason);
  }
  void operator()(const Fetch& m) {
    w.varint(m.request_id);
    ParamMask inline_fields = 0;
    if (!p.request_fields_as_params) {
      w.u8(m.params.subscriber_priority.value_or(128));
      write_group_order(w, m.params.group_order, GroupOrder::kPublisher, true);
      inline_fields = pbit(Param::kSubscriberPriority) | pbit(Param::kGroupOrder);
    }
    w.varint(static_cast<uint64_t>(m.type));
    if (m.type == FetchType::kStandalone) {
      write_full_track_name(w, m.track, p);
      write_location(w, m.start);
      write_location(w, m.end);
    } else if (m.type == FetchType::kRelativeJoining || m.type == FetchType::kAbsoluteJoining) {
      w.varint(m.joining_request_id);
      w.varint(m.joining_start);
    } else {
      return w.fail(violation("invalid fetch type"));
    }
    params(m.params, inline_fields);
  }
  void operator()(const FetchOk& m) {
    request_id_if_replies(m.request_id);
    ParamMask inline_fields = 0;
    if (!p.request_fields_as_params) {
      write_group_order(w, m.params.group_order, GroupOrder::kAscending, false);
      inline_fields = pbit(Param::kGroupOrder);
    }
    w.u8(m.end_of_track ? 1 : 0);
    write_location(w, m.end_location);
    params(m.params, inline_fields);
    if (p.track_properties) write_kvps(w, m.track_properties, p);
  }
  void operator()(const FetchCancel& m) { w.varint(m.request_id); }
  void operator()(const PublishNamespace& m) {
    w.varint(m.request_id);
    write_namespace(w, m.ns, p, p.min_namespace_fields);
    params(m.params);
  }
  void operator()(const PublishNamespaceDone& m) {
    if (p.namespace_done_by_request_id) w.varint(m.request_id);
    else write_namespace(w, m.ns, p, p.min_namespace_fields);
  }
  void operator()(const PublishNamespaceCancel& m) {
    if (p.namespace_done_by_request_id) w.varint(m.request_id);
    else write_namespace(w, m.ns, p, p.min_namespace_fields);
    w.varint(m.error_code);
    write_reason(w, m.reason);
  }
  void operator()(const SubscribeNamespace& m) {
    w.varint(m.request_id);
    write_namespace(w, m.prefix, p, p.draft >= Draft::k16 ? 0 : 1);
    if (p.subscribe_namespace_options) w.varint(static_cast<uint64_t>(m.options));
    params(m.params);
  }
  void operator()(const UnsubscribeNamespace& m) { write_namespace(w, m.prefix, p, 1); }
  void operator()(const Namespace& m) { write_namespace(w, m.suffix, p, 0); }
  void operator()(const NamespaceDone& m) { write_namespace(w, m.suffix, p, 0); }
  void operator()(const SubscribeTracks& m) {
    w.varint(m.request_id);
    write_namespace(w, m.prefix, p, 0);
    params(m.params);
  }
  void operator()(const PublishBlocked& m) {
    write_namespace(w, m.suffix, p, 0);
    w.lp_bytes(m.name);
  }
};

struct Dec {
  Reader& r;
  const Profile& p;
  MK kind;
  RequestKind of;

  MessageParams params() { return read_params(r, kind, p); }
  uint64_t request_id_if_replies() { return p.request_id_in_replies ? r.varint() : 0; }
  KeyValueList track_properties() { return read_kvps(r, p, std::nullopt); }

  ControlMessage client_setup() {
    ClientSetup m;
    if (p.setup == SetupStyle::kClientServerVersions) {
      const uint64_t n = r.varint();
      if (r.ok() && n > r.remaining()) {
        r.fail(violation("version count exceeds the message length"));
        return m;
      }
      for (uint64_t i = 0; i < n && r.ok(); ++i) m.versions.push_back(r.varint());
    }
    m.params = read_setup_params(r, p);
    return m;
  }
  ControlMessage server_setup() {
    ServerSetup m;
    if (p.setup == SetupStyle::kClientServerVersions) m.selected_version = r.varint();
    m.params = read_setup_params(r, p);
    return m;
  }
  ControlMessage setup() { return Setup{read_setup_params(r, p)}; }
  ControlMessage goaway() {
    Goaway m;
    m.new_session_uri = r.lp_string(kMaxGoawayUriBytes, violation("GOAWAY URI longer than 8192 bytes"));
    if (p.goaway_timeout) {
      m.timeout_ms = r.varint();
      if (r.ok() && !r.empty()) m.request_id = r.varint();  // present only on the control stream
    }
    return m;
  }
  template <typename T>
  T subscribe_like() {
    T m;
    m.request_id = r.varint();
    m.track = read_full_track_name(r, p);
    if (!p.request_fields_as_params) {
      const uint8_t prio = r.u8();
      const GroupOrder order = read_group_order(r, true);
      const bool forward = read_flag(r, "Forward");
      SubscriptionFilter f = read_filter(r, false);
      m.params = params();
      m.params.subscriber_priority = prio;
      m.params.group_order = order;
      m.params.forward = forward;
      m.params.filter = f;
      return m;
    }
    m.params = params();
    return m;
  }
  void subscribe_ok_fields14(MessageParams& out) {
    const uint64_t expires = r.varint();
    const GroupOrder order = read_group_order(r, false);
    std::optional<Location> largest = read_content_exists(r);
    out = params();
    out.expires = expires;
    out.group_order = order;
    out.largest_object = largest;
  }
  ControlMessage subscribe_ok() {
    SubscribeOk m;
    m.request_id = request_id_if_replies();
    m.track_alias = r.varint();
    if (!p.request_fields_as_params) {
      subscribe_ok_fields14(m.params);
      return m;
    }
    m.params = params();
    m.track_properties = track_properties();
    return m;
  }
  ControlMessage request_ok() {
    RequestOk m;
    m.of = of;
    m.request_id = request_id_if_replies();
    if (!p.request_fields_as_params) {
      switch (of) {
        case RequestKind::kTrackStatus:
          r.varint();  // Track Alias: 0 by definition, no meaning
          subscribe_ok_fields14(m.params);
          break;
        case RequestKind::kPublish: {
          const bool forward = read_flag(r, "Forward");
          const uint8_t prio = r.u8();
          const GroupOrder order = read_group_order(r, false);
          SubscriptionFilter f = read_filter(r, false);
          m.params = params();
          m.params.forward = forward;
          m.params.subscriber_priority = prio;
          m.params.group_order = order;
          m.params.filter = f;
          break;
        }
        default: break;  // PUBLISH_NAMESPACE_OK / SUBSCRIBE_NAMESPACE_OK: Request ID only
      }
      return m;
    }
    m.params = params();
    if (p.request_ok_track_properties) m.track_properties = track_properties();
    return m;
  }
  ControlMessage request_error() {
    RequestError m;
    m.of = of;
    m.request_id = request_id_if_replies();
    m.error_code = r.varint();
    if (p.request_error_retry) m.retry_interval = r.varint();
    m.reason = read_reason(r);
    if (r.ok() && p.request_error_redirect && m.error_code == kRequestErrorRedirect) {
      Redirect red;
      red.connect_uri = r.lp_string(kMaxGoawayUriBytes, violation("redirect URI longer than 8192 bytes"));
      red.track.ns = read_namespace(r, p, 0);
      red.track.name = r.lp_string(kMaxFullTrackNameBytes, violation("redirect track name too long"));
      m.redirect = std::move(red);
    }
    return m;
  }
  ControlMessage request_update() {
    RequestUpdate m;
    m.request_id = r.varint();
    if (p.draft <= Draft::k16) m.existing_request_id = r.varint();
    if (!p.request_fields_as_params) {
      SubscriptionFilter f;
      f.start = read_location(r);
      const uint64_t end_plus_one = r.varint();
      f.type = end_plus_one ? FilterType::kAbsoluteRange : FilterType::kAbsoluteStart;
      if (end_plus_one) f.end_group = end_plus_one - 1;
      const uint8_t prio = r.u8();
      const bool forward = read_flag(r, "Forward");
      m.params = params();
      m.params.filter = f;
      m.params.subscriber_priority = prio;
      m.params.forward = forward;
      return m;
    }
    m.params = params();
    return m;
  }
  ControlMessage publish() {
    Publish m;
    m.request_id = r.varint();
    m.track = read_full_track_name(r, p);
    m.track_alias = r.varint();
    if (!p.request_fields_as_params) {
      const GroupOrder order = read_group_order(r, false);
      std::optional<Location> largest = read_content_exists(r);
      const bool forward = read_flag(r, "Forward");
      m.params = params();
      m.params.group_order = order;
      m.params.largest_object = largest;
      m.params.forward = forward;
      return m;
    }
    m.params = params();
    m.track_properties = track_properties();
    return m;
  }
  ControlMessage publish_done() {
    PublishDone m;
    m.request_id = request_id_if_replies();
    m.status_code = r.varint();
    m.stream_count = r.varint();
    m.reason = read_reason(r);
    return m;
  }
  ControlMessage fetch() {
    Fetch m;
    m.request_id = r.varint();
    std::optional<uint8_t> prio;
    std::optional<GroupOrder> order;
    if (!p.request_fields_as_params) {
      prio = r.u8();
      order = read_group_order(r, true);
    }
    const uint64_t type = r.varint();
    if (!r.ok()) return m;
    if (type < 1 || type > 3) {
      r.fail(violation("fetch type " + std::to_string(type) + " is undefined"));
      return m;
    }
    m.type = static_cast<FetchType>(type);
    if (m.type == FetchType::kStandalone) {
      m.track = read_full_track_name(r, p);
      m.start = read_location(r);
      m.end = read_location(r);
    } else {
      m.joining_request_id = r.varint();
      m.joining_start = r.varint();
    }
    m.params = params();
    if (prio) m.params.subscriber_priority = prio;
    if (order) m.params.group_order = order;
    return m;
  }
  ControlMessage fetch_ok() {
    FetchOk m;
    m.request_id = request_id_if_replies();
    std::optional<GroupOrder> order;
    if (!p.request_fields_as_params) order = read_group_order(r, false);
    m.end_of_track = read_flag(r, "End Of Track");
    m.end_location = read_location(r);
    m.params = params();
    if (order) m.params.group_order = order;
    if (p.track_properties) m.track_properties = track_properties();
    return m;
  }
  ControlMessage publish_namespace() {
    PublishNamespace m;
    m.request_id = r.varint();
    m.ns = read_namespace(r, p, p.min_namespace_fields);
    m.params = params();
    return m;
  }
  ControlMessage publish_namespace_done() {
    PublishNamespaceDone m;
    if (p.namespace_done_by_request_id) m.request_id = r.varint();
    else m.ns = read_namespace(r, p, p.min_namespace_fields);
    return m;
  }
  ControlMessage publish_namespace_cancel() {
    PublishNamespaceCancel m;
    if (p.namespace_done_by_request_id) m.request_id = r.varint();
    else m.ns = read_namespace(r, p, p.min_namespace_fields);
    m.error_code = r.varint();
    m.reason = read_reason(r);
    return m;
  }
  ControlMessage subscribe_namespace() {
    SubscribeNamespace m;
    m.request_id = r.varint();
    m.prefix = read_namespace(r, p, p.draft >= Draft::k16 ? 0 : 1);
    if (p.subscribe_namespace_options) {
      const uint64_t o = r.varint();
      if (r.ok() && o > 2) r.fail(violation("Subscribe Options must be 0, 1 or 2"));
      m.options = static_cast<SubscribeOptions>(o);
    }
    m.params = params();
    return m;
  }
  ControlMessage subscribe_tracks() {
    SubscribeTracks m;
    m.request_id = r.varint();
    m.prefix = read_namespace(r, p, 0);
    m.params = params();
    return m;
  }
  ControlMessage publish_blocked() {
    PublishBlocked m;
    m.suffix = read_namespace(r, p, 0);
    m.name = r.lp_string(kMaxFullTrackNameBytes, violation("track name longer than 4096 bytes"));
    return m;
  }

  ControlMessage decode() {
    switch (kind) {
      case MK::kClientSetup: return client_setup();
      case MK::kServerSetup: return server_setup();
      case MK::kSetup: return setup();
      case MK::kGoaway: return goaway();
      case MK::kMaxRequestId: return MaxRequestId{r.varint()};
      case MK::kRequestsBlocked: return RequestsBlocked{r.varint()};
      case MK::kSubscribe: return subscribe_like<Subscribe>();
      case MK::kTrackStatus: return subscribe_like<TrackStatus>();
      case MK::kSubscribeOk: return subscribe_ok();
      case MK::kRequestOk: return request_ok();
      case MK::kRequestError: return request_error();
      case MK::kRequestUpdate: return request_update();
      case MK::kUnsubscribe: return Unsubscribe{r.varint()};
      case MK::kPublish: return publish();
      case MK::kPublishDone: return publish_done();
      case MK::kFetch: return fetch();
      case MK::kFetchOk: return fetch_ok();
      case MK::kFetchCancel: return FetchCancel{r.varint()};
      case MK::kPublishNamespace: return publish_namespace();
      case MK::kPublishNamespaceDone: return publish_namespace_done();
      case MK::kPublishNamespaceCancel: return publish_namespace_cancel();
      case MK::kSubscribeNamespace: return subscribe_namespace();
      case MK::kUnsubscribeNamespace: return UnsubscribeNamespace{read_namespace(r, p, 1)};
      case MK::kNamespace: return Namespace{read_namespace(r, p, 0)};
      case MK::kNamespaceDone: return NamespaceDone{read_namespace(r, p, 0)};
      case MK::kSubscribeTracks: return subscribe_tracks();
      case MK::kPublishBlocked: return publish_blocked();
      case MK::kCount: break;
    }
    r.fail(violation("unhandled message kind"));
    return Goaway{};
  }
};

RequestKind request_kind_of(const ControlMessage& m) {
  if (auto* ok = std::get_if<RequestOk>(&m)) return ok->of;
  if (auto* err = std::get_if<RequestError>(&m)) return err->of;
  return RequestKind::kUnspecified;
}

}  // namespace

std::optional<WireError> encode_control(const ControlMessage& m, Draft d, Bytes& out) {
  const Profile& p = profile(d);
  const MK kind = kind_of(m);
  const MessageCode* code = find_message_code(p, kind, request_kind_of(m));
  if (!code) return violation(std::string(to_string(kind)) + " does not exist in " + p.name);
  Writer payload(p.ints);
  std::visit(Enc{payload, p, kind}, m);
  if (payload.error()) return *payload.error();
  if (payload.size() > kMaxControlPayload) return violation(std::string(code->name) + " longer than 65535 bytes");
  Writer frame(p.ints);
  frame.varint(code->type);
  frame.u16(static_cast<uint16_t>(payload.size()));
  if (frame.error()) return *frame.error();
  out.insert(out.end(), frame.buffer().begin(), frame.buffer().end());
  out.insert(out.end(), payload.buffer().begin(), payload.buffer().end());
  return std::nullopt;
}

Result<Bytes> encode_control(const ControlMessage& m, Draft d) {
  Bytes out;
  if (auto err = encode_control(m, d, out)) return *err;
  return out;
}

Result<ControlMessage> decode_control_payload(uint64_t type, ByteView payload, Draft d) {
  const Profile& p = profile(d);
  const MessageCode* code = find_message_code(p, type);
  if (!code) return violation("unknown control message type " + hex_u64(type));
  Reader r(payload, p.ints);
  ControlMessage m = Dec{r, p, code->kind, code->of}.decode();
  if (r.error()) {
    WireError e = *r.error();
    e.detail = std::string(code->name) + ": " + e.detail;
    return e;
  }
  if (r.is_short()) return violation(std::string(code->name) + " is shorter than its fields");
  if (!r.empty()) return violation(std::string(code->name) + " has " + std::to_string(r.remaining()) +
                                   " bytes beyond its fields (length mismatch)");
  return m;
}

ControlDecode decode_control(ByteView in, Draft d) {
  const Profile& p = profile(d);
  uint64_t type = 0;
  size_t type_len = 0;
  if (decode_int(p.ints, in, type, type_len) != IntDecode::kOk) return NeedMore{};
  // Reject an unknown type before waiting for its payload.
  if (!find_message_code(p, type)) return violation("unknown control message type " + hex_u64(type));
  if (in.size() < type_len + 2) return NeedMore{};
  const size_t len = static_cast<size_t>(in[type_len]) << 8 | in[type_len + 1];
  if (in.size() < type_len + 2 + len) return NeedMore{};
  Result<ControlMessage> m = decode_control_payload(type, in.subspan(type_len + 2, len), d);
  if (!m) return m.error();
  return DecodedMessage{std::move(m).value(), type_len + 2 + len};
}

void ControlStreamParser::push(ByteView data) {
  if (error_) return;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data.begin(), data.end());
}

std::optional<Result<ControlMessage>> ControlStreamParser::next() {
  if (error_) return Result<ControlMessage>(*error_);
  ControlDecode d = decode_control(ByteView(buf_).subspan(pos_), draft_);
  if (std::holds_alternative<NeedMore>(d)) {
    if (pos_ > 0) {  // keep only the partial frame
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
      pos_ = 0;
    }
    return std::nullopt;
  }
  if (auto* e = std::get_if<WireError>(&d)) {
    error_ = *e;
    return Result<ControlMessage>(*e);
  }
  auto& dm = std::get<DecodedMessage>(d);
  pos_ += dm.consumed;
  return Result<ControlMessage>(std::move(dm.message));
}

}  // namespace moqt::wire
