// Human-readable one-line renderings for logs and tools.
#include <sstream>

#include "moqt/wire/error.h"
#include "moqt/wire/messages.h"

namespace moqt::wire {

const char* to_string(SessionError e) {
  switch (e) {
    case SessionError::kNoError: return "NO_ERROR";
    case SessionError::kInternalError: return "INTERNAL_ERROR";
    case SessionError::kUnauthorized: return "UNAUTHORIZED";
    case SessionError::kProtocolViolation: return "PROTOCOL_VIOLATION";
    case SessionError::kInvalidRequestId: return "INVALID_REQUEST_ID";
    case SessionError::kDuplicateTrackAlias: return "DUPLICATE_TRACK_ALIAS";
    case SessionError::kKeyValueFormattingError: return "KEY_VALUE_FORMATTING_ERROR";
    case SessionError::kTooManyRequests: return "TOO_MANY_REQUESTS";
    case SessionError::kInvalidPath: return "INVALID_PATH";
    case SessionError::kMalformedPath: return "MALFORMED_PATH";
    case SessionError::kGoawayTimeout: return "GOAWAY_TIMEOUT";
    case SessionError::kControlMessageTimeout: return "CONTROL_MESSAGE_TIMEOUT";
    case SessionError::kDataStreamTimeout: return "DATA_STREAM_TIMEOUT";
    case SessionError::kAuthTokenCacheOverflow: return "AUTH_TOKEN_CACHE_OVERFLOW";
    case SessionError::kDuplicateAuthTokenAlias: return "DUPLICATE_AUTH_TOKEN_ALIAS";
    case SessionError::kVersionNegotiationFailed: return "VERSION_NEGOTIATION_FAILED";
    case SessionError::kMalformedAuthToken: return "MALFORMED_AUTH_TOKEN";
    case SessionError::kUnknownAuthTokenAlias: return "UNKNOWN_AUTH_TOKEN_ALIAS";
    case SessionError::kExpiredAuthToken: return "EXPIRED_AUTH_TOKEN";
    case SessionError::kInvalidAuthority: return "INVALID_AUTHORITY";
    case SessionError::kMalformedAuthority: return "MALFORMED_AUTHORITY";
  }
  return "UNKNOWN_ERROR";
}

std::string to_string(const Location& l) {
  std::ostringstream o;  // (string concatenation here trips a GCC 12 -O3 -Wrestrict false positive)
  o << '{' << l.group << ',' << l.object << '}';
  return o.str();
}

namespace {
// -16 §2.4.3 rendering: [A-Za-z0-9_] literal, other bytes as .xx.
void render_field(std::ostringstream& o, const std::string& f) {
  static const char* kHex = "0123456789abcdef";
  for (unsigned char c : f) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
      o << c;
    } else {
      o << '.' << kHex[c >> 4] << kHex[c & 15];
    }
  }
}
}  // namespace

std::string to_string(const TrackNamespace& ns) {
  std::ostringstream o;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (i) o << '-';
    render_field(o, ns[i]);
  }
  return o.str();
}

std::string to_string(const FullTrackName& n) {
  std::ostringstream o;
  o << to_string(n.ns) << "--";
  render_field(o, n.name);
  return o.str();
}

namespace {

struct Printer {
  std::ostringstream& o;

  void params(const MessageParams& p) {
    if (p.subscriber_priority) o << " sub_prio=" << int(*p.subscriber_priority);
    if (p.group_order) o << " order=" << int(*p.group_order);
    if (p.forward) o << " forward=" << *p.forward;
    if (p.filter) {
      o << " filter=" << int(p.filter->type);
      if (p.filter->type == FilterType::kAbsoluteStart || p.filter->type == FilterType::kAbsoluteRange)
        o << " start=" << to_string(p.filter->start);
      if (p.filter->end_group) o << " end_group=" << *p.filter->end_group;
    }
    if (p.largest_object) o << " largest=" << to_string(*p.largest_object);
    if (p.expires) o << " expires=" << *p.expires;
    if (p.delivery_timeout) o << " delivery_timeout=" << *p.delivery_timeout;
    if (p.subgroup_delivery_timeout) o << " subgroup_delivery_timeout=" << *p.subgroup_delivery_timeout;
    if (p.max_cache_duration) o << " max_cache=" << *p.max_cache_duration;
    if (p.new_group_request) o << " new_group_request=" << *p.new_group_request;
    if (p.rendezvous_timeout) o << " rendezvous_timeout=" << *p.rendezvous_timeout;
    if (p.fill_timeout) o << " fill_timeout=" << *p.fill_timeout;
    if (p.namespace_prefix) o << " prefix=" << to_string(*p.namespace_prefix);
    if (!p.auth_tokens.empty()) o << " tokens=" << p.auth_tokens.size();
    if (!p.unknown.empty()) o << " unknown_params=" << p.unknown.size();
  }
  void setup(const SetupParams& s) {
    if (s.path) o << " path=" << *s.path;
    if (s.authority) o << " authority=" << *s.authority;
    if (s.max_request_id) o << " max_request_id=" << *s.max_request_id;
    if (s.max_auth_token_cache_size) o << " max_token_cache=" << *s.max_auth_token_cache_size;
    if (s.implementation) o << " impl=" << *s.implementation;
    if (!s.auth_tokens.empty()) o << " tokens=" << s.auth_tokens.size();
    if (!s.unknown.empty()) o << " unknown_params=" << s.unknown.size();
  }
  void props(const KeyValueList& p) {
    if (!p.empty()) o << " track_properties=" << p.size();
  }

  void operator()(const ClientSetup& m) {
    o << "CLIENT_SETUP";
    if (!m.versions.empty()) {
      o << " versions=";
      for (size_t i = 0; i < m.versions.size(); ++i) o << (i ? "," : "") << hex_u64(m.versions[i]);
    }
    setup(m.params);
  }
  void operator()(const ServerSetup& m) {
    o << "SERVER_SETUP";
    if (m.selected_version) o << " version=" << hex_u64(m.selected_version);
    setup(m.params);
  }
  void operator()(const Setup& m) {
    o << "SETUP";
    setup(m.params);
  }
  void operator()(const Goaway& m) {
    o << "GOAWAY uri='" << m.new_session_uri << "'";
    if (m.timeout_ms) o << " timeout=" << *m.timeout_ms;
    if (m.request_id) o << " request_id=" << *m.request_id;
  }
  void operator()(const MaxRequestId& m) { o << "MAX_REQUEST_ID " << m.request_id; }
  void operator()(const RequestsBlocked& m) { o << "REQUESTS_BLOCKED " << m.max_request_id; }
  void operator()(const Subscribe& m) {
    o << "SUBSCRIBE id=" << m.request_id << " track=" << to_string(m.track);
    params(m.params);
  }
  void operator()(const TrackStatus& m) {
    o << "TRACK_STATUS id=" << m.request_id << " track=" << to_string(m.track);
    params(m.params);
  }
  void operator()(const SubscribeOk& m) {
    o << "SUBSCRIBE_OK id=" << m.request_id << " alias=" << m.track_alias;
    params(m.params);
    props(m.track_properties);
  }
  void operator()(const RequestOk& m) {
    o << "REQUEST_OK of=" << to_string(m.of) << " id=" << m.request_id;
    params(m.params);
    props(m.track_properties);
  }
  void operator()(const RequestError& m) {
    o << "REQUEST_ERROR of=" << to_string(m.of) << " id=" << m.request_id << " code=" << hex_u64(m.error_code)
      << " retry=" << m.retry_interval << " reason='" << m.reason << "'";
    if (m.redirect) o << " redirect=" << m.redirect->connect_uri << " " << to_string(m.redirect->track);
  }
  void operator()(const RequestUpdate& m) {
    o << "REQUEST_UPDATE id=" << m.request_id << " existing=" << m.existing_request_id;
    params(m.params);
  }
  void operator()(const Unsubscribe& m) { o << "UNSUBSCRIBE id=" << m.request_id; }
  void operator()(const Publish& m) {
    o << "PUBLISH id=" << m.request_id << " track=" << to_string(m.track) << " alias=" << m.track_alias;
    params(m.params);
    props(m.track_properties);
  }
  void operator()(const PublishDone& m) {
    o << "PUBLISH_DONE id=" << m.request_id << " status=" << m.status_code << " streams=" << m.stream_count
      << " reason='" << m.reason << "'";
  }
  void operator()(const Fetch& m) {
    o << "FETCH id=" << m.request_id << " type=" << int(m.type);
    if (m.type == FetchType::kStandalone)
      o << " track=" << to_string(m.track) << " start=" << to_string(m.start) << " end=" << to_string(m.end);
    else
      o << " joining=" << m.joining_request_id << " joining_start=" << m.joining_start;
    params(m.params);
  }
  void operator()(const FetchOk& m) {
    o << "FETCH_OK id=" << m.request_id << " end_of_track=" << m.end_of_track << " end=" << to_string(m.end_location);
    params(m.params);
    props(m.track_properties);
  }
  void operator()(const FetchCancel& m) { o << "FETCH_CANCEL id=" << m.request_id; }
  void operator()(const PublishNamespace& m) {
    o << "PUBLISH_NAMESPACE id=" << m.request_id << " ns=" << to_string(m.ns);
    params(m.params);
  }
  void operator()(const PublishNamespaceDone& m) {
    o << "PUBLISH_NAMESPACE_DONE ns=" << to_string(m.ns) << " id=" << m.request_id;
  }
  void operator()(const PublishNamespaceCancel& m) {
    o << "PUBLISH_NAMESPACE_CANCEL ns=" << to_string(m.ns) << " id=" << m.request_id << " code=" << m.error_code
      << " reason='" << m.reason << "'";
  }
  void operator()(const SubscribeNamespace& m) {
    o << "SUBSCRIBE_NAMESPACE id=" << m.request_id << " prefix=" << to_string(m.prefix)
      << " options=" << int(m.options);
    params(m.params);
  }
  void operator()(const UnsubscribeNamespace& m) { o << "UNSUBSCRIBE_NAMESPACE prefix=" << to_string(m.prefix); }
  void operator()(const Namespace& m) { o << "NAMESPACE suffix=" << to_string(m.suffix); }
  void operator()(const NamespaceDone& m) { o << "NAMESPACE_DONE suffix=" << to_string(m.suffix); }
  void operator()(const SubscribeTracks& m) {
    o << "SUBSCRIBE_TRACKS id=" << m.request_id << " prefix=" << to_string(m.prefix);
    params(m.params);
  }
  void operator()(const PublishBlocked& m) {
    o << "PUBLISH_BLOCKED suffix=" << to_string(m.suffix) << " name=" << m.name;
  }
};

}  // namespace

std::string to_string(const ControlMessage& m) {
  std::ostringstream o;
  std::visit(Printer{o}, m);
  return o.str();
}

}  // namespace moqt::wire
