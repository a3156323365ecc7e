#include "moqt/wire/draft.h"

namespace moqt::wire {
namespace {

using MK = MessageKind;
using RK = RequestKind;

// draft-ietf-moq-transport-14 §9 (type codes), §9.2.1 (parameters).
constexpr MessageCode kMessages14[] = {
    {0x20, MK::kClientSetup, RK::kUnspecified, "CLIENT_SETUP"},
    {0x21, MK::kServerSetup, RK::kUnspecified, "SERVER_SETUP"},
    {0x10, MK::kGoaway, RK::kUnspecified, "GOAWAY"},
    {0x15, MK::kMaxRequestId, RK::kUnspecified, "MAX_REQUEST_ID"},
    {0x1A, MK::kRequestsBlocked, RK::kUnspecified, "REQUESTS_BLOCKED"},
    {0x03, MK::kSubscribe, RK::kUnspecified, "SUBSCRIBE"},
    {0x04, MK::kSubscribeOk, RK::kUnspecified, "SUBSCRIBE_OK"},
    {0x05, MK::kRequestError, RK::kSubscribe, "SUBSCRIBE_ERROR"},
    {0x02, MK::kRequestUpdate, RK::kUnspecified, "SUBSCRIBE_UPDATE"},
    {0x0A, MK::kUnsubscribe, RK::kUnspecified, "UNSUBSCRIBE"},
    {0x0B, MK::kPublishDone, RK::kUnspecified, "PUBLISH_DONE"},
    {0x1D, MK::kPublish, RK::kUnspecified, "PUBLISH"},
    {0x1E, MK::kRequestOk, RK::kPublish, "PUBLISH_OK"},
    {0x1F, MK::kRequestError, RK::kPublish, "PUBLISH_ERROR"},
    {0x16, MK::kFetch, RK::kUnspecified, "FETCH"},
    {0x18, MK::kFetchOk, RK::kUnspecified, "FETCH_OK"},
    {0x19, MK::kRequestError, RK::kFetch, "FETCH_ERROR"},
    {0x17, MK::kFetchCancel, RK::kUnspecified, "FETCH_CANCEL"},
    {0x0D, MK::kTrackStatus, RK::kUnspecified, "TRACK_STATUS"},
    {0x0E, MK::kRequestOk, RK::kTrackStatus, "TRACK_STATUS_OK"},
    {0x0F, MK::kRequestError, RK::kTrackStatus, "TRACK_STATUS_ERROR"},
    {0x06, MK::kPublishNamespace, RK::kUnspecified, "PUBLISH_NAMESPACE"},
    {0x07, MK::kRequestOk, RK::kPublishNamespace, "PUBLISH_NAMESPACE_OK"},
    {0x08, MK::kRequestError, RK::kPublishNamespace, "PUBLISH_NAMESPACE_ERROR"},
    {0x09, MK::kPublishNamespaceDone, RK::kUnspecified, "PUBLISH_NAMESPACE_DONE"},
    {0x0C, MK::kPublishNamespaceCancel, RK::kUnspecified, "PUBLISH_NAMESPACE_CANCEL"},
    {0x11, MK::kSubscribeNamespace, RK::kUnspecified, "SUBSCRIBE_NAMESPACE"},
    {0x12, MK::kRequestOk, RK::kSubscribeNamespace, "SUBSCRIBE_NAMESPACE_OK"},
    {0x13, MK::kRequestError, RK::kSubscribeNamespace, "SUBSCRIBE_NAMESPACE_ERROR"},
    {0x14, MK::kUnsubscribeNamespace, RK::kUnspecified, "UNSUBSCRIBE_NAMESPACE"},
};

constexpr MessageMask kAnyRequest14 = bit(MK::kPublish) | bit(MK::kSubscribe) | bit(MK::kRequestUpdate) |
                                      bit(MK::kSubscribeNamespace) | bit(MK::kPublishNamespace) |
                                      bit(MK::kTrackStatus) | bit(MK::kFetch);

constexpr ParamSpec kParams14[] = {
    // TRACK_STATUS_OK and PUBLISH_OK decode as REQUEST_OK, SUBSCRIBE_UPDATE as REQUEST_UPDATE.
    {0x02, Param::kDeliveryTimeout, ParamValue::kVarint,
     bit(MK::kTrackStatus) | bit(MK::kRequestOk) | bit(MK::kPublish) | bit(MK::kSubscribe) |
         bit(MK::kSubscribeOk) | bit(MK::kRequestUpdate)},
    {0x03, Param::kAuthToken, ParamValue::kToken, kAnyRequest14, true},
    {0x04, Param::kMaxCacheDuration, ParamValue::kVarint,
     bit(MK::kPublish) | bit(MK::kSubscribeOk) | bit(MK::kFetchOk) | bit(MK::kRequestOk)},
};

// draft-ietf-moq-transport-16 §9.
constexpr MessageCode kMessages16[] = {
    {0x20, MK::kClientSetup, RK::kUnspecified, "CLIENT_SETUP"},
    {0x21, MK::kServerSetup, RK::kUnspecified, "SERVER_SETUP"},
    {0x10, MK::kGoaway, RK::kUnspecified, "GOAWAY"},
    {0x15, MK::kMaxRequestId, RK::kUnspecified, "MAX_REQUEST_ID"},
    {0x1A, MK::kRequestsBlocked, RK::kUnspecified, "REQUESTS_BLOCKED"},
    {0x07, MK::kRequestOk, RK::kUnspecified, "REQUEST_OK"},
    {0x05, MK::kRequestError, RK::kUnspecified, "REQUEST_ERROR"},
    {0x03, MK::kSubscribe, RK::kUnspecified, "SUBSCRIBE"},
    {0x04, MK::kSubscribeOk, RK::kUnspecified, "SUBSCRIBE_OK"},
    {0x02, MK::kRequestUpdate, RK::kUnspecified, "REQUEST_UPDATE"},
    {0x0A, MK::kUnsubscribe, RK::kUnspecified, "UNSUBSCRIBE"},
    {0x1D, MK::kPublish, RK::kUnspecified, "PUBLISH"},
    {0x1E, MK::kRequestOk, RK::kPublish, "PUBLISH_OK"},
    {0x0B, MK::kPublishDone, RK::kUnspecified, "PUBLISH_DONE"},
    {0x16, MK::kFetch, RK::kUnspecified, "FETCH"},
    {0x18, MK::kFetchOk, RK::kUnspecified, "FETCH_OK"},
    {0x17, MK::kFetchCancel, RK::kUnspecified, "FETCH_CANCEL"},
    {0x0D, MK::kTrackStatus, RK::kUnspecified, "TRACK_STATUS"},
    {0x06, MK::kPublishNamespace, RK::kUnspecified, "PUBLISH_NAMESPACE"},
    {0x08, MK::kNamespace, RK::kUnspecified, "NAMESPACE"},
    {0x09, MK::kPublishNamespaceDone, RK::kUnspecified, "PUBLISH_NAMESPACE_DONE"},
    {0x0E, MK::kNamespaceDone, RK::kUnspecified, "NAMESPACE_DONE"},
    {0x0C, MK::kPublishNamespaceCancel, RK::kUnspecified, "PUBLISH_NAMESPACE_CANCEL"},
    {0x11, MK::kSubscribeNamespace, RK::kUnspecified, "SUBSCRIBE_NAMESPACE"},
};

// -16 §9.2.2. PUBLISH_OK and REQUEST_OK both decode as REQUEST_OK, hence the unions.
constexpr ParamSpec kParams16[] = {
    {0x02, Param::kDeliveryTimeout, ParamValue::kVarint,
     bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
    {0x03, Param::kAuthToken, ParamValue::kToken, kAnyRequest14, true},
    {0x08, Param::kExpires, ParamValue::kVarint, bit(MK::kSubscribeOk) | bit(MK::kPublish) | bit(MK::kRequestOk)},
    {0x09, Param::kLargestObject, ParamValue::kLocation,
     bit(MK::kSubscribeOk) | bit(MK::kPublish) | bit(MK::kRequestOk)},
    {0x10, Param::kForward, ParamValue::kVarint,
     bit(MK::kSubscribe) | bit(MK::kRequestUpdate) | bit(MK::kPublish) | bit(MK::kRequestOk) |
         bit(MK::kSubscribeNamespace)},
    {0x20, Param::kSubscriberPriority, ParamValue::kVarint,
     bit(MK::kSubscribe) | bit(MK::kFetch) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
    {0x21, Param::kSubscriptionFilter, ParamValue::kFilter,
     bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
    {0x22, Param::kGroupOrder, ParamValue::kVarint, bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kFetch)},
    {0x32, Param::kNewGroupRequest, ParamValue::kVarint,
     bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
};

// draft-ietf-moq-transport-18 §10. 0x1E (PUBLISH_OK) is a stale entry of the -18 type table:
// §10.5 makes PUBLISH_OK a REQUEST_OK (0x7). Accepted, never sent.
constexpr MessageCode kMessages18[] = {
    {0x2F00, MK::kSetup, RK::kUnspecified, "SETUP"},
    {0x10, MK::kGoaway, RK::kUnspecified, "GOAWAY"},
    {0x03, MK::kSubscribe, RK::kUnspecified, "SUBSCRIBE"},
    {0x04, MK::kSubscribeOk, RK::kUnspecified, "SUBSCRIBE_OK"},
    {0x1D, MK::kPublish, RK::kUnspecified, "PUBLISH"},
    {0x1E, MK::kRequestOk, RK::kPublish, "PUBLISH_OK", false},
    {0x0B, MK::kPublishDone, RK::kUnspecified, "PUBLISH_DONE"},
    {0x16, MK::kFetch, RK::kUnspecified, "FETCH"},
    {0x18, MK::kFetchOk, RK::kUnspecified, "FETCH_OK"},
    {0x0D, MK::kTrackStatus, RK::kUnspecified, "TRACK_STATUS"},
    {0x06, MK::kPublishNamespace, RK::kUnspecified, "PUBLISH_NAMESPACE"},
    {0x50, MK::kSubscribeNamespace, RK::kUnspecified, "SUBSCRIBE_NAMESPACE"},
    {0x51, MK::kSubscribeTracks, RK::kUnspecified, "SUBSCRIBE_TRACKS"},
    {0x08, MK::kNamespace, RK::kUnspecified, "NAMESPACE"},
    {0x0E, MK::kNamespaceDone, RK::kUnspecified, "NAMESPACE_DONE"},
    {0x0F, MK::kPublishBlocked, RK::kUnspecified, "PUBLISH_BLOCKED"},
    {0x02, MK::kRequestUpdate, RK::kUnspecified, "REQUEST_UPDATE"},
    {0x07, MK::kRequestOk, RK::kUnspecified, "REQUEST_OK"},
    {0x05, MK::kRequestError, RK::kUnspecified, "REQUEST_ERROR"},
};

constexpr MessageMask kAnyRequest18 = bit(MK::kPublish) | bit(MK::kSubscribe) | bit(MK::kRequestUpdate) |
                                      bit(MK::kSubscribeNamespace) | bit(MK::kSubscribeTracks) |
                                      bit(MK::kPublishNamespace) | bit(MK::kTrackStatus) | bit(MK::kFetch);

// -18 §10.2.2-§10.2.14. REQUEST_OK stands for PUBLISH_OK, REQUEST_UPDATE_OK and TRACK_STATUS_OK.
constexpr ParamSpec kParams18[] = {
    {0x02, Param::kDeliveryTimeout, ParamValue::kVarint,
     bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
    {0x03, Param::kAuthToken, ParamValue::kToken, kAnyRequest18, true},
    {0x04, Param::kRendezvousTimeout, ParamValue::kVarint, bit(MK::kSubscribe)},
    {0x06, Param::kSubgroupDeliveryTimeout, ParamValue::kVarint,
     bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
    {0x08, Param::kExpires, ParamValue::kVarint, bit(MK::kSubscribeOk) | bit(MK::kPublish) | bit(MK::kRequestOk)},
    {0x09, Param::kLargestObject, ParamValue::kLocation,
     bit(MK::kSubscribeOk) | bit(MK::kPublish) | bit(MK::kRequestOk)},
    {0x0A, Param::kFillTimeout, ParamValue::kVarint, bit(MK::kFetch)},
    {0x10, Param::kForward, ParamValue::kUint8,
     bit(MK::kSubscribe) | bit(MK::kRequestUpdate) | bit(MK::kPublish) | bit(MK::kRequestOk) |
         bit(MK::kSubscribeTracks)},
    {0x20, Param::kSubscriberPriority, ParamValue::kUint8,
     bit(MK::kSubscribe) | bit(MK::kFetch) | bit(MK::kRequestUpdate) | bit(MK::kRequestOk)},
    {0x21, Param::kSubscriptionFilter, ParamValue::kFilter,
     bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
    {0x22, Param::kGroupOrder, ParamValue::kUint8, bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kFetch)},
    {0x32, Param::kNewGroupRequest, ParamValue::kVarint,
     bit(MK::kSubscribe) | bit(MK::kRequestOk) | bit(MK::kRequestUpdate)},
    {0x34, Param::kNamespacePrefix, ParamValue::kNamespace, bit(MK::kRequestUpdate)},
};

const Profile kProfile14{
    .draft = Draft::k14,
    .name = "draft-14",
    .version = 0xff00000e,
    .alpn = "moq-00",
    .ints = IntEncoding::kQuicVarint,
    .setup = SetupStyle::kClientServerVersions,
    .params = ParamStyle::kKeyValue,
    .kvp_delta_types = false,
    .unknown_param_fatal = false,
    .misplaced_param_fatal = false,
    .request_fields_as_params = false,
    .request_id_in_replies = true,
    .request_error_retry = false,
    .request_error_redirect = false,
    .track_properties = false,
    .request_ok_track_properties = false,
    .namespace_done_by_request_id = false,
    .subscribe_namespace_options = false,
    .goaway_timeout = false,
    .min_namespace_fields = 1,
    .namespace_fields_nonempty = false,
    .object_status_does_not_exist = true,
    .subgroup_type_bits = 0x00,
    .datagram_default_priority = false,
    .fetch_objects = FetchObjectStyle::kAbsoluteWithStatus,
    .padding = false,
    .messages = kMessages14,
    .message_params = kParams14,
};

const Profile kProfile16{
    .draft = Draft::k16,
    .name = "draft-16",
    .version = 0xff000010,
    .alpn = "moqt-16",
    .ints = IntEncoding::kQuicVarint,
    .setup = SetupStyle::kClientServer,
    .params = ParamStyle::kKeyValue,
    .kvp_delta_types = true,
    .unknown_param_fatal = true,
    .misplaced_param_fatal = false,
    .request_fields_as_params = true,
    .request_id_in_replies = true,
    .request_error_retry = true,
    .request_error_redirect = false,
    .track_properties = true,
    .request_ok_track_properties = false,
    .namespace_done_by_request_id = true,
    .subscribe_namespace_options = true,
    .goaway_timeout = false,
    .min_namespace_fields = 1,
    .namespace_fields_nonempty = true,
    .object_status_does_not_exist = false,
    .subgroup_type_bits = 0x20,
    .datagram_default_priority = true,
    .fetch_objects = FetchObjectStyle::kFlagsAbsolute,
    .padding = false,
    .messages = kMessages16,
    .message_params = kParams16,
};

const Profile kProfile18{
    .draft = Draft::k18,
    .name = "draft-18",
    .version = 0xff000012,
    .alpn = "moqt-18",
    .ints = IntEncoding::kVi64,
    .setup = SetupStyle::kUnified,
    .params = ParamStyle::kPerParameter,
    .kvp_delta_types = true,
    .unknown_param_fatal = true,
    .misplaced_param_fatal = true,
    .request_fields_as_params = true,
    .request_id_in_replies = false,
    .request_error_retry = true,
    .request_error_redirect = true,
    .track_properties = true,
    .request_ok_track_properties = true,
    .namespace_done_by_request_id = true,
    .subscribe_namespace_options = false,
    .goaway_timeout = true,
    .min_namespace_fields = 0,
    .namespace_fields_nonempty = true,
    .object_status_does_not_exist = false,
    .subgroup_type_bits = 0x60,
    .datagram_default_priority = true,
    .fetch_objects = FetchObjectStyle::kFlagsDelta,
    .padding = true,
    .messages = kMessages18,
    .message_params = kParams18,
};

}  // namespace

const Profile& profile(Draft d) {
  switch (d) {
    case Draft::k14: return kProfile14;
    case Draft::k16: return kProfile16;
    case Draft::k18: return kProfile18;
  }
  return kProfile18;
}

std::optional<Draft> draft_from_alpn(std::string_view alpn) {
  for (Draft d : kAllDrafts) {
    if (profile(d).alpn == alpn) return d;
  }
  return std::nullopt;
}

std::optional<Draft> draft_from_version(uint64_t version) {
  for (Draft d : kAllDrafts) {
    if (profile(d).version == version) return d;
  }
  return std::nullopt;
}

const MessageCode* find_message_code(const Profile& p, uint64_t type) {
  for (const MessageCode& m : p.messages) {
    if (m.type == type) return &m;
  }
  return nullptr;
}

const MessageCode* find_message_code(const Profile& p, MessageKind kind, RequestKind of) {
  const MessageCode* fallback = nullptr;
  for (const MessageCode& m : p.messages) {
    if (m.kind != kind || !m.encode) continue;
    if (m.of == of) return &m;
    if (m.of == RequestKind::kUnspecified) fallback = &m;
  }
  return fallback;
}

const ParamSpec* find_param(const Profile& p, uint64_t type) {
  for (const ParamSpec& s : p.message_params) {
    if (s.type == type) return &s;
  }
  return nullptr;
}

const ParamSpec* find_param(const Profile& p, Param param) {
  for (const ParamSpec& s : p.message_params) {
    if (s.param == param) return &s;
  }
  return nullptr;
}

const char* to_string(MessageKind k) {
  static constexpr const char* kNames[] = {
      "CLIENT_SETUP", "SERVER_SETUP", "SETUP", "GOAWAY", "MAX_REQUEST_ID", "REQUESTS_BLOCKED",
      "SUBSCRIBE", "SUBSCRIBE_OK", "REQUEST_OK", "REQUEST_ERROR", "REQUEST_UPDATE", "UNSUBSCRIBE",
      "PUBLISH", "PUBLISH_DONE", "FETCH", "FETCH_OK", "FETCH_CANCEL", "TRACK_STATUS",
      "PUBLISH_NAMESPACE", "PUBLISH_NAMESPACE_DONE", "PUBLISH_NAMESPACE_CANCEL", "SUBSCRIBE_NAMESPACE",
      "UNSUBSCRIBE_NAMESPACE", "NAMESPACE", "NAMESPACE_DONE", "SUBSCRIBE_TRACKS", "PUBLISH_BLOCKED",
  };
  static_assert(std::size(kNames) == static_cast<size_t>(MessageKind::kCount));
  auto i = static_cast<size_t>(k);
  return i < std::size(kNames) ? kNames[i] : "?";
}

const char* to_string(RequestKind k) {
  switch (k) {
    case RequestKind::kUnspecified: return "unspecified";
    case RequestKind::kSubscribe: return "subscribe";
    case RequestKind::kPublish: return "publish";
    case RequestKind::kFetch: return "fetch";
    case RequestKind::kTrackStatus: return "track-status";
    case RequestKind::kPublishNamespace: return "publish-namespace";
    case RequestKind::kSubscribeNamespace: return "subscribe-namespace";
    case RequestKind::kSubscribeTracks: return "subscribe-tracks";
    case RequestKind::kUpdate: return "update";
  }
  return "?";
}

}  // namespace moqt::wire
