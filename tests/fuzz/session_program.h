// The input language of fuzz_session, shared by the target and the seed generator (make_corpus).
//
// Input: [config][policy] then operations, each [opcode][operands...]. Opcodes are taken modulo
// Op::kCount, so every byte is some operation. A length is one byte (0..127), or two bytes
// (big-endian, top bit set) for 128..32767; a read past the end gives zeros.
//
// config: bit 0 the session is the server; bits 1-3 the negotiated protocol and transport
//   (kProtocols); then the Config flags below.
// policy: what the handlers do when the peer creates something (kPolicy* bits; the high
//   nibble is the Action of handlers for incoming PUBLISH).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace moqt::fuzz {

// ALPN (raw QUIC) or WT-Protocol by config bits 1-3. Over WebTransport a client sends no
// PATH/AUTHORITY and a server refuses them; no WT protocol at all means draft-14.
struct Protocol {
  const char* name;
  bool webtransport;
};
inline constexpr Protocol kProtocols[] = {
    {"moq-00", false}, {"moqt-16", false}, {"moqt-18", false}, {"", true},
    {"moq-00", true},  {"moqt-16", true},  {"moqt-18", true},  {"moqt-17", false},  // unsupported
};
inline constexpr uint8_t kProtocolUnsupported = 7;

enum Config : uint8_t {
  kServer = 0x01,
  kZeroTimeouts = 0x10,   // setup/request timeouts of 0 ms: kRunTimers fires them
  kNoWorkarounds = 0x20,  // SessionConfig::peer_workarounds = false
  kSmallLimits = 0x40,    // tiny max_request_id, queue, object and unknown-alias bounds
  kQueueing = 0x80,       // written bytes stay queued until kDrain (queue bound, DELIVERY_TIMEOUT)
};
inline constexpr uint8_t config(bool server, uint8_t protocol, uint8_t flags = 0) {
  return uint8_t((server ? kServer : 0) | (protocol & 7) << 1 | flags);
}

enum Policy : uint8_t {
  kPolicyRefusePublish = 0x01,    // on_incoming_publish returns nullptr
  kPolicyRefuseNamespace = 0x02,  // on_namespace_published returns false
  kPolicyCloseOnGoaway = 0x04,    // on_goaway closes the session
  kPolicySubscribeOnReady = 0x08,  // on_ready subscribes (a request racing the queued ones)
};

// What a handler does to the session from inside its callbacks: low nibble the action, high
// nibble the object count that triggers it (on_object actions).
enum class Action : uint8_t {
  kNone,
  kUnsubscribeOnObject,  // subscription: unsubscribe; fetch: cancel_fetch
  kUnsubscribeOnOk,      // subscription: in on_subscribe_ok; fetch: in on_fetch_ok
  kCloseOnObject,
  kJoiningFetchOnOk,
  kForwardToLocal,       // write each received object into local track 0 (a relay)
  kUpdateOnObject,
  kResubscribeOnDone,
  kCloseOnDone,
  kCount,
};
inline constexpr uint8_t action(Action a, uint8_t after_objects = 0) { return uint8_t(after_objects << 4 | uint8_t(a)); }
// The policy's high nibble: the action of handlers accepting an incoming PUBLISH (after 0 objects).
inline constexpr uint8_t publish_action(Action a) { return uint8_t(uint8_t(a) << 4); }

enum class Op : uint8_t {
  // The peer / the transport.
  kPeerWrite,         // stream, flags (bit 0 FIN), length, bytes
  kPeerReset,         // stream, code
  kPeerStopSending,   // stream, code
  kPeerDatagram,      // length, bytes
  kDrain,             // everything queued went out (on_stream_drained)
  kStreamClosed,      // stream: on_stream_closed, if it is finished in every direction
  kStreamLimit,       // n: the session may open n streams of each kind (on_streams_available)
  kPeerClose,         // code
  kRunTimers,         // wait: runs the due timers, once per input (see kRunTimersWait)
  // The local application.
  kSubscribe,         // remote track, options, action
  kUnsubscribe,       // subscription index
  kUpdate,            // subscription index, options
  kFetch,             // remote track, start group, end group, action
  kJoiningFetch,      // subscription index, start, flags (bit 0 relative), action
  kCancelFetch,       // fetch index
  kPublishNamespace,  // namespace
  kPublishNamespaceDone,  // namespace
  kSubscribeNamespace,    // namespace
  kTrackStatus,       // remote track
  kPublish,           // -: a new local track (index 2, 3, ...), pushed with PUBLISH
  kWrite,             // local track, flags (kWrite*), hints (kHint*), payload length
  kEndGroup,          // local track, how (% 3: end_group, reset_subgroup 0, reset_subgroup 1)
  kFinishTrack,       // local track, flags (bit 0 publisher gone, bit 1 also unregister)
  kGoaway,            // flags (bit 0 new URI, bit 1 timeout 1 ms)
  kClose,             // code
  kCount,
};

// kRunTimers operand that waits 6 ms before the timers run (the DELIVERY_TIMEOUT checks run at
// least 5 ms apart). One exact value, so that few mutated inputs pay for the sleep.
inline constexpr uint8_t kRunTimersWait = 0xD1;

// Stream selector: kind in the top two bits, the index (n-th stream of that kind) in the rest.
enum class StreamKind : uint8_t { kPeerBidi, kPeerUni, kLocalBidi, kLocalUni };
inline constexpr uint8_t stream(StreamKind k, uint8_t index) { return uint8_t(uint8_t(k) << 6 | (index & 63)); }

// kWrite flags. Objects of a group get ascending ids; a new group is the next id (+ flags >> 6).
enum WriteFlags : uint8_t {
  kWriteNewGroup = 0x01,
  kWriteDatagram = 0x02,
  kWriteSubgroup1 = 0x04,
  kWriteProperties = 0x08,
  kWriteEndOfGroup = 0x10,   // status object, no payload
  kWriteEndSubgroup = 0x20,  // then end its subgroup (FIN)
};

// kWrite hints: how the subgroup stream is announced (Object::header_mode, end_of_group_header)
// and unusual ids.
enum WriteHints : uint8_t {
  kHintExplicit = 0x01,       // header_mode kExplicit
  kHintFirstObject = 0x02,    // header_mode kFirstObject
  kHintEndOfGroup = 0x04,     // end_of_group_header
  kHintObjectGap = 0x08,      // skip an object id
  kHintSubgroupIsObject = 0x10,  // subgroup id = object id (where kFirstObject applies)
};

// Subscription options byte: filter type = 1 + (bits 0-1); bit 2 forward off; bits 3-4 group
// order; bit 5 a 1 ms DELIVERY_TIMEOUT; bit 6 max_subgroup 0; priority = the whole byte.
inline constexpr uint8_t kOptionsLargest = 0x01;  // FilterType::kLargestObject, forward

// Tables the operands index (modulo their size).
inline constexpr size_t kRemoteTracks = 3;  // example.net/live/cam video, live/cam video, example.net ""
inline constexpr size_t kNamespaces = 4;    // example.net/live, example.net, live/cam, example.net/live/cam

inline void put_length(std::vector<uint8_t>& out, size_t n) {
  if (n < 128) {
    out.push_back(uint8_t(n));
  } else {
    out.push_back(uint8_t(0x80 | (n >> 8)));
    out.push_back(uint8_t(n));
  }
}

}  // namespace moqt::fuzz
