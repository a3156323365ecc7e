// Control messages, draft-neutral. One struct per message kind; what a draft puts in fixed fields
// and what it puts in parameters is the codec's business (control_codec.h), so the session layer
// builds and reads the same structs whatever draft the connection speaks.
//
// Fields that only some drafts carry are documented with the drafts; the encoder rejects a value
// the chosen draft cannot represent instead of dropping it silently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "moqt/wire/draft.h"
#include "moqt/wire/types.h"

namespace moqt::wire {

// Message parameters. -14 carries some of these as fixed fields (SUBSCRIBE priority, order,
// forward, filter; SUBSCRIBE_OK expires, order, largest); -16 and -18 as parameters.
struct MessageParams {
  std::optional<uint64_t> delivery_timeout;           // ms; -18 OBJECT_DELIVERY_TIMEOUT
  std::vector<AuthToken> auth_tokens;
  std::optional<uint64_t> max_cache_duration;         // ms; -14 parameter
  std::optional<uint64_t> expires;                    // ms
  std::optional<Location> largest_object;             // -14: "Content Exists" + Largest Location
  std::optional<bool> forward;
  std::optional<uint8_t> subscriber_priority;
  std::optional<SubscriptionFilter> filter;
  std::optional<GroupOrder> group_order;
  std::optional<uint64_t> new_group_request;
  std::optional<uint64_t> subgroup_delivery_timeout;  // -18
  std::optional<uint64_t> rendezvous_timeout;         // -18
  std::optional<uint64_t> fill_timeout;               // -18
  std::optional<TrackNamespace> namespace_prefix;     // -18 TRACK_NAMESPACE_PREFIX
  // -14 only: parameters this codec does not know. The draft says to ignore them; they are kept
  // so a relay or a log can see them. Later drafts close the session on unknown parameters.
  KeyValueList unknown;
  bool operator==(const MessageParams&) const = default;
};

// Setup parameters (-14/-16) / Setup Options (-18): one namespace across versions.
struct SetupParams {
  std::optional<std::string> path;
  std::optional<std::string> authority;
  std::optional<uint64_t> max_request_id;              // -14/-16
  std::optional<uint64_t> max_auth_token_cache_size;
  std::optional<std::string> implementation;           // MOQT_IMPLEMENTATION
  std::vector<AuthToken> auth_tokens;
  KeyValueList unknown;  // unknown setup parameters are ignored by every draft; kept here
  bool operator==(const SetupParams&) const = default;
};

struct ClientSetup {  // -14 (with versions), -16
  std::vector<uint64_t> versions;  // -14 only
  SetupParams params;
  bool operator==(const ClientSetup&) const = default;
};
struct ServerSetup {  // -14 (with version), -16
  uint64_t selected_version = 0;   // -14 only
  SetupParams params;
  bool operator==(const ServerSetup&) const = default;
};
struct Setup {  // -18
  SetupParams params;
  bool operator==(const Setup&) const = default;
};

struct Goaway {
  std::string new_session_uri;
  std::optional<uint64_t> timeout_ms;  // -18 (required there; absent = 0 when encoding)
  std::optional<uint64_t> request_id;  // -18, only on the control stream
  bool operator==(const Goaway&) const = default;
};

struct MaxRequestId {  // -14/-16
  uint64_t request_id = 0;
  bool operator==(const MaxRequestId&) const = default;
};
struct RequestsBlocked {  // -14/-16
  uint64_t max_request_id = 0;
  bool operator==(const RequestsBlocked&) const = default;
};

struct Subscribe {
  uint64_t request_id = 0;
  FullTrackName track;
  MessageParams params;
  bool operator==(const Subscribe&) const = default;
};
// TRACK_STATUS has the SUBSCRIBE layout in every draft here.
struct TrackStatus : Subscribe {
  bool operator==(const TrackStatus&) const = default;
};

struct SubscribeOk {
  uint64_t request_id = 0;  // not on the wire in -18 (the request stream identifies it)
  uint64_t track_alias = 0;
  MessageParams params;
  KeyValueList track_properties;  // -16+
  bool operator==(const SubscribeOk&) const = default;
};

// REQUEST_OK (-16/-18) and the -14 replies it replaced: PUBLISH_OK, TRACK_STATUS_OK,
// PUBLISH_NAMESPACE_OK, SUBSCRIBE_NAMESPACE_OK. -16 keeps PUBLISH_OK as its own type.
struct RequestOk {
  RequestKind of = RequestKind::kUnspecified;
  uint64_t request_id = 0;        // not on the wire in -18
  MessageParams params;
  KeyValueList track_properties;  // -18 (TRACK_STATUS_OK)
  bool operator==(const RequestOk&) const = default;
};

// -18 REDIRECT payload of REQUEST_ERROR.
struct Redirect {
  std::string connect_uri;
  FullTrackName track;
  bool operator==(const Redirect&) const = default;
};

inline constexpr uint64_t kRequestErrorRedirect = 0x34;  // -18

// REQUEST_ERROR (-16/-18) and the -14 per-request errors (SUBSCRIBE_ERROR, FETCH_ERROR, ...).
struct RequestError {
  RequestKind of = RequestKind::kUnspecified;
  uint64_t request_id = 0;       // not on the wire in -18
  uint64_t error_code = 0;
  uint64_t retry_interval = 0;   // -16+: ms + 1, 0 = do not retry
  std::string reason;
  std::optional<Redirect> redirect;  // -18, exactly when error_code is REDIRECT
  bool operator==(const RequestError&) const = default;
};

// REQUEST_UPDATE (-16/-18) and -14 SUBSCRIBE_UPDATE. In -14 the filter's start and end group,
// the subscriber priority and forward are fixed fields (all required).
struct RequestUpdate {
  uint64_t request_id = 0;
  uint64_t existing_request_id = 0;  // -14/-16 (in -18 the request stream names it)
  MessageParams params;
  bool operator==(const RequestUpdate&) const = default;
};

struct Unsubscribe {  // -14/-16
  uint64_t request_id = 0;
  bool operator==(const Unsubscribe&) const = default;
};

struct Publish {
  uint64_t request_id = 0;
  FullTrackName track;
  uint64_t track_alias = 0;
  MessageParams params;            // -14 fields: group order, largest (content exists), forward
  KeyValueList track_properties;   // -16+
  bool operator==(const Publish&) const = default;
};

struct PublishDone {
  uint64_t request_id = 0;  // not on the wire in -18
  uint64_t status_code = 0;
  uint64_t stream_count = 0;
  std::string reason;
  bool operator==(const PublishDone&) const = default;
};

struct Fetch {
  uint64_t request_id = 0;
  FetchType type = FetchType::kStandalone;
  // Standalone: track + [start, end]; end.object is "last + 1", 0 = the whole end group.
  FullTrackName track;
  Location start;
  Location end;
  // Joining.
  uint64_t joining_request_id = 0;
  uint64_t joining_start = 0;
  MessageParams params;  // -14 fields: subscriber priority, group order
  bool operator==(const Fetch&) const = default;
};

struct FetchOk {
  uint64_t request_id = 0;  // not on the wire in -18
  bool end_of_track = false;
  Location end_location;
  MessageParams params;     // -14 field: group order
  KeyValueList track_properties;  // -16+
  bool operator==(const FetchOk&) const = default;
};

struct FetchCancel {  // -14/-16
  uint64_t request_id = 0;
  bool operator==(const FetchCancel&) const = default;
};

struct PublishNamespace {
  uint64_t request_id = 0;
  TrackNamespace ns;
  MessageParams params;
  bool operator==(const PublishNamespace&) const = default;
};

struct PublishNamespaceDone {  // -14: by namespace; -16: by request id
  TrackNamespace ns;
  uint64_t request_id = 0;
  bool operator==(const PublishNamespaceDone&) const = default;
};

struct PublishNamespaceCancel {  // -14: by namespace; -16: by request id
  TrackNamespace ns;
  uint64_t request_id = 0;
  uint64_t error_code = 0;
  std::string reason;
  bool operator==(const PublishNamespaceCancel&) const = default;
};

enum class SubscribeOptions : uint64_t { kPublish = 0, kNamespace = 1, kBoth = 2 };

struct SubscribeNamespace {
  uint64_t request_id = 0;
  TrackNamespace prefix;
  SubscribeOptions options = SubscribeOptions::kBoth;  // -16 only
  MessageParams params;
  bool operator==(const SubscribeNamespace&) const = default;
};

struct UnsubscribeNamespace {  // -14
  TrackNamespace prefix;
  bool operator==(const UnsubscribeNamespace&) const = default;
};

struct Namespace {  // -16/-18, on the SUBSCRIBE_NAMESPACE stream
  TrackNamespace suffix;
  bool operator==(const Namespace&) const = default;
};
struct NamespaceDone {
  TrackNamespace suffix;
  bool operator==(const NamespaceDone&) const = default;
};

struct SubscribeTracks {  // -18
  uint64_t request_id = 0;
  TrackNamespace prefix;
  MessageParams params;
  bool operator==(const SubscribeTracks&) const = default;
};

struct PublishBlocked {  // -18 (PUBLISH_SKIPPED in -19)
  TrackNamespace suffix;
  std::string name;
  bool operator==(const PublishBlocked&) const = default;
};

// Alternatives in MessageKind order, so index() == MessageKind.
using ControlMessage =
    std::variant<ClientSetup, ServerSetup, Setup, Goaway, MaxRequestId, RequestsBlocked, Subscribe,
                 SubscribeOk, RequestOk, RequestError, RequestUpdate, Unsubscribe, Publish, PublishDone,
                 Fetch, FetchOk, FetchCancel, TrackStatus, PublishNamespace, PublishNamespaceDone,
                 PublishNamespaceCancel, SubscribeNamespace, UnsubscribeNamespace, Namespace,
                 NamespaceDone, SubscribeTracks, PublishBlocked>;
static_assert(std::variant_size_v<ControlMessage> == static_cast<size_t>(MessageKind::kCount));

inline MessageKind kind_of(const ControlMessage& m) { return static_cast<MessageKind>(m.index()); }

// One line, for logs and tools: "SUBSCRIBE id=2 track=live--video prio=128 filter=largest".
std::string to_string(const ControlMessage& m);

}  // namespace moqt::wire
