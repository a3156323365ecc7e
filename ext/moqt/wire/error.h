// Errors of the wire codec: values, never exceptions. Every decode error carries the session
// termination code the draft prescribes, so the session layer can close with it unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace moqt::wire {

// Session termination codes (CONNECTION_CLOSE / WT_CLOSE_SESSION). Same numbers in -14, -16, -18.
enum class SessionError : uint64_t {
  kNoError = 0x0,
  kInternalError = 0x1,
  kUnauthorized = 0x2,
  kProtocolViolation = 0x3,
  kInvalidRequestId = 0x4,
  kDuplicateTrackAlias = 0x5,
  kKeyValueFormattingError = 0x6,
  kTooManyRequests = 0x7,
  kInvalidPath = 0x8,
  kMalformedPath = 0x9,
  kGoawayTimeout = 0x10,
  kControlMessageTimeout = 0x11,
  kDataStreamTimeout = 0x12,
  kAuthTokenCacheOverflow = 0x13,
  kDuplicateAuthTokenAlias = 0x14,
  kVersionNegotiationFailed = 0x15,
  kMalformedAuthToken = 0x16,
  kUnknownAuthTokenAlias = 0x17,
  kExpiredAuthToken = 0x18,
  kInvalidAuthority = 0x19,
  kMalformedAuthority = 0x1A,
};

const char* to_string(SessionError e);

struct WireError {
  SessionError code = SessionError::kProtocolViolation;
  std::string detail;  // what was wrong, for the log line

  bool operator==(const WireError&) const = default;
};

// Result<T>: a value or a WireError (std::expected is C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                   // NOLINT: implicit by design
  Result(WireError error) : v_(std::move(error)) {}           // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const WireError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, WireError> v_;
};

inline WireError violation(std::string detail) {
  return WireError{SessionError::kProtocolViolation, std::move(detail)};
}
inline WireError kvp_error(std::string detail) {
  return WireError{SessionError::kKeyValueFormattingError, std::move(detail)};
}

}  // namespace moqt::wire
