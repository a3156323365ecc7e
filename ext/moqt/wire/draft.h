// Per-draft profiles. Everything the codec does differently between drafts is a field here:
// integer encoding, message type codes, which fields exist, parameter encodings and tables,
// data-header type ranges. Adding a draft = one more profile plus the few real deltas.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "moqt/wire/codec_io.h"

namespace moqt::wire {

enum class Draft : uint8_t { k14 = 14, k16 = 16, k18 = 18 };

inline constexpr Draft kAllDrafts[] = {Draft::k14, Draft::k16, Draft::k18};

// Every control message the supported drafts define, under its newest name. Messages that
// differ only in which request they answer (-14 SUBSCRIBE_ERROR, FETCH_ERROR, ... or the -14/-16
// *_OK replies) share one kind and are told apart by RequestKind.
enum class MessageKind : uint8_t {
  kClientSetup,
  kServerSetup,
  kSetup,
  kGoaway,
  kMaxRequestId,
  kRequestsBlocked,
  kSubscribe,
  kSubscribeOk,
  kRequestOk,
  kRequestError,
  kRequestUpdate,
  kUnsubscribe,
  kPublish,
  kPublishDone,
  kFetch,
  kFetchOk,
  kFetchCancel,
  kTrackStatus,
  kPublishNamespace,
  kPublishNamespaceDone,
  kPublishNamespaceCancel,
  kSubscribeNamespace,
  kUnsubscribeNamespace,
  kNamespace,
  kNamespaceDone,
  kSubscribeTracks,
  kPublishBlocked,
  kCount,
};

// Which request a REQUEST_OK / REQUEST_ERROR answers. Only -14 (and -16's PUBLISH_OK) put it on
// the wire; in later drafts the session knows it from the request id or the request stream.
enum class RequestKind : uint8_t {
  kUnspecified,
  kSubscribe,
  kPublish,
  kFetch,
  kTrackStatus,
  kPublishNamespace,
  kSubscribeNamespace,
  kSubscribeTracks,
  kUpdate,
};

struct MessageCode {
  uint64_t type;
  MessageKind kind;
  RequestKind of;
  const char* name;  // the draft's own name for this code
  bool encode = true;  // false: accepted when received, never sent (a stale code)
};

// Message parameters known to the codec, draft-neutral.
enum class Param : uint8_t {
  kDeliveryTimeout,          // -14/-16 DELIVERY_TIMEOUT, -18 OBJECT_DELIVERY_TIMEOUT
  kAuthToken,
  kMaxCacheDuration,         // -14 parameter (a track property from -16)
  kExpires,
  kLargestObject,
  kForward,
  kSubscriberPriority,
  kSubscriptionFilter,
  kGroupOrder,
  kNewGroupRequest,
  kSubgroupDeliveryTimeout,  // -18
  kRendezvousTimeout,        // -18
  kFillTimeout,              // -18
  kNamespacePrefix,          // -18 TRACK_NAMESPACE_PREFIX
};

// How a parameter value is serialized in per-parameter mode (-17+). In key-value mode (-14/-16)
// the type's parity decides instead: even = one integer, odd = length + this structure.
enum class ParamValue : uint8_t { kVarint, kUint8, kLocation, kFilter, kToken, kNamespace };

using MessageMask = uint32_t;
constexpr MessageMask bit(MessageKind k) { return MessageMask{1} << static_cast<unsigned>(k); }

struct ParamSpec {
  uint64_t type;
  Param param;
  ParamValue value;
  MessageMask allowed;  // messages the draft allows it in
  bool repeatable = false;
};

enum class SetupStyle : uint8_t {
  kClientServerVersions,  // -14: CLIENT_SETUP/SERVER_SETUP with version lists
  kClientServer,          // -15/-16: same messages, version from ALPN
  kUnified,               // -17+: one SETUP (0x2F00) on each side's uni control stream
};
enum class ParamStyle : uint8_t {
  kKeyValue,      // count + KVPs (even/odd rule); -16 delta-codes the types
  kPerParameter,  // count + {type delta, value as the parameter defines}
};
enum class FetchObjectStyle : uint8_t {
  kAbsoluteWithStatus,  // -14: every field present, Object Status when length is 0
  kFlagsAbsolute,       // -16: serialization flags, absolute ids, end-of-range markers
  kFlagsDelta,          // -18: serialization flags, delta-coded ids
};

struct Profile {
  Draft draft;
  const char* name;           // "draft-14"
  uint64_t version;           // 0xff000000 + draft
  std::string_view alpn;      // raw QUIC ALPN and WT protocol token
  IntEncoding ints;
  SetupStyle setup;
  ParamStyle params;
  bool kvp_delta_types;       // KVP types are delta-coded (-16+)
  bool unknown_param_fatal;   // unknown message parameter closes the session (-16+)
  bool misplaced_param_fatal; // a known parameter in the wrong message closes it (-18)
  bool request_fields_as_params;   // SUBSCRIBE priority/order/forward/filter are parameters (-15+)
  bool request_id_in_replies;      // replies carry the Request ID (<= -16)
  bool request_error_retry;        // REQUEST_ERROR has Retry Interval (-16+)
  bool request_error_redirect;     // REQUEST_ERROR has Redirect (-18)
  bool track_properties;           // SUBSCRIBE_OK/PUBLISH/FETCH_OK end with track properties (-16+)
  bool request_ok_track_properties;// REQUEST_OK ends with track properties (-18)
  bool namespace_done_by_request_id; // PUBLISH_NAMESPACE_DONE/CANCEL keyed by Request ID (-16)
  bool subscribe_namespace_options;  // SUBSCRIBE_NAMESPACE has Subscribe Options (-16)
  bool goaway_timeout;             // GOAWAY has Timeout [+ Request ID] (-18)
  size_t min_namespace_fields;     // 1 in -14/-16, 0 in -18
  bool namespace_fields_nonempty;  // each field >= 1 byte (-16+)
  bool object_status_does_not_exist;  // status 0x1 exists (-14)
  uint8_t subgroup_type_bits;      // optional SUBGROUP_HEADER type bits beyond 0x1F
  bool datagram_default_priority;  // OBJECT_DATAGRAM type bit 0x08 and 0x24.. range (-16+)
  FetchObjectStyle fetch_objects;
  bool padding;                    // padding streams/datagrams (-18)
  std::span<const MessageCode> messages;
  std::span<const ParamSpec> message_params;
};

const Profile& profile(Draft d);
std::optional<Draft> draft_from_alpn(std::string_view alpn);
std::optional<Draft> draft_from_version(uint64_t version);  // -14 SETUP version numbers
const char* to_string(MessageKind k);
const char* to_string(RequestKind k);

// Lookups in a profile's message table.
const MessageCode* find_message_code(const Profile& p, uint64_t type);
const MessageCode* find_message_code(const Profile& p, MessageKind kind, RequestKind of);
const ParamSpec* find_param(const Profile& p, uint64_t type);
const ParamSpec* find_param(const Profile& p, Param param);

// Setup parameter / option types: one namespace across all versions.
namespace setup_param {
inline constexpr uint64_t kPath = 0x01;
inline constexpr uint64_t kMaxRequestId = 0x02;  // -14/-16
inline constexpr uint64_t kAuthorizationToken = 0x03;
inline constexpr uint64_t kMaxAuthTokenCacheSize = 0x04;
inline constexpr uint64_t kAuthority = 0x05;
inline constexpr uint64_t kMoqtImplementation = 0x07;
}  // namespace setup_param

// Data stream and datagram type codes.
inline constexpr uint64_t kFetchHeaderType = 0x05;
inline constexpr uint64_t kSetupStreamType = 0x2F00;        // -17+: the control uni stream
inline constexpr uint64_t kPaddingStreamType = 0x132B3E28;  // -18
inline constexpr uint64_t kPaddingDatagramType = 0x132B3E29;
inline constexpr uint64_t kFetchEndOfNonExistentRange = 0x8C;
inline constexpr uint64_t kFetchEndOfUnknownRange = 0x10C;

}  // namespace moqt::wire
