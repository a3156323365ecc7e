// Encoding and decoding of framed control messages (Type, 16-bit Length, Payload) for every
// supported draft. Pure: no I/O, no threads; safe to call from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <variant>

#include "moqt/wire/codec_io.h"
#include "moqt/wire/draft.h"
#include "moqt/wire/messages.h"

namespace moqt::wire {

// Appends one framed message to `out`. Fails (leaving `out` unchanged) when the message breaks a
// limit of the draft or holds a value the draft cannot represent.
std::optional<WireError> encode_control(const ControlMessage& m, Draft d, Bytes& out);
Result<Bytes> encode_control(const ControlMessage& m, Draft d);

// Decoding one message from the start of a buffer.
struct NeedMore {};
struct DecodedMessage {
  ControlMessage message;
  size_t consumed = 0;
};
using ControlDecode = std::variant<DecodedMessage, NeedMore, WireError>;
ControlDecode decode_control(ByteView in, Draft d);

// Decodes a control message payload whose type and length were already read.
Result<ControlMessage> decode_control_payload(uint64_t type, ByteView payload, Draft d);

// Incremental decoder for one control (or -18 request) stream. Feed bytes in any split; pull
// messages with next(). Holds at most one partial frame (<= 65546 bytes) between calls.
// Not thread-safe: owned by the thread that reads the stream.
class ControlStreamParser {
 public:
  explicit ControlStreamParser(Draft d) : draft_(d) {}

  void push(ByteView data);
  // A message, nullopt when more bytes are needed, or (sticky) the error that must close the session.
  std::optional<Result<ControlMessage>> next();
  // True when no partial message is buffered (a FIN here is clean).
  bool at_message_boundary() const { return buf_.size() == pos_; }
  size_t buffered() const { return buf_.size() - pos_; }
  Draft draft() const { return draft_; }

 private:
  Draft draft_;
  Bytes buf_;
  size_t pos_ = 0;
  std::optional<WireError> error_;
};

}  // namespace moqt::wire
