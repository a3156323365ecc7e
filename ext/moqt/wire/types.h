// Value types shared by control messages and data headers. Plain data, comparable, printable.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moqt::wire {

// {Group, Object}; ordered as the drafts define (group first).
struct Location {
  uint64_t group = 0;
  uint64_t object = 0;
  auto operator<=>(const Location&) const = default;
};

// A namespace is a tuple of byte strings (each field may hold any bytes).
using TrackNamespace = std::vector<std::string>;

struct FullTrackName {
  TrackNamespace ns;
  std::string name;
  bool operator==(const FullTrackName&) const = default;
};

// Key-Value-Pair: even types carry an integer, odd types a byte string (all drafts here).
struct KeyValuePair {
  uint64_t type = 0;
  uint64_t int_value = 0;     // even type
  std::string bytes_value;    // odd type
  bool is_bytes() const { return type & 1; }
  bool operator==(const KeyValuePair&) const = default;

  static KeyValuePair integer(uint64_t type, uint64_t v) { return {type, v, {}}; }
  static KeyValuePair bytes(uint64_t type, std::string v) { return {type, 0, std::move(v)}; }
};
// Ordered as on the wire. Drafts >= 16 delta-code types, so their lists are sorted by type.
using KeyValueList = std::vector<KeyValuePair>;

// Group order: 0 is "publisher's choice" (only in -14 SUBSCRIBE/FETCH fields).
enum class GroupOrder : uint8_t { kPublisher = 0, kAscending = 1, kDescending = 2 };

enum class FilterType : uint64_t {
  kNextGroupStart = 0x1,
  kLargestObject = 0x2,
  kAbsoluteStart = 0x3,
  kAbsoluteRange = 0x4,
};

// Subscription filter, draft-neutral: `end_group` is the absolute, inclusive last group.
// (On the wire -14 SUBSCRIBE writes it literally, -14 SUBSCRIBE_UPDATE writes it +1,
// -16 literally, -18 as a delta from start.group.)
struct SubscriptionFilter {
  FilterType type = FilterType::kLargestObject;
  Location start;                      // kAbsoluteStart, kAbsoluteRange
  std::optional<uint64_t> end_group;   // kAbsoluteRange (-14 SUBSCRIBE_UPDATE: nullopt = open)
  bool operator==(const SubscriptionFilter&) const = default;
};

enum class TokenAliasType : uint64_t { kDelete = 0x0, kRegister = 0x1, kUseAlias = 0x2, kUseValue = 0x3 };

// AUTHORIZATION TOKEN structure (-14 §9.2.1.1, -16 §9.2.2.1, -18 §10.2.2).
struct AuthToken {
  TokenAliasType alias_type = TokenAliasType::kUseValue;
  uint64_t alias = 0;       // kDelete, kRegister, kUseAlias
  uint64_t token_type = 0;  // kRegister, kUseValue
  std::string value;        // kRegister, kUseValue
  bool operator==(const AuthToken&) const = default;
};

enum class ObjectStatus : uint64_t {
  kNormal = 0x0,
  kDoesNotExist = 0x1,  // -14 only
  kEndOfGroup = 0x3,
  kEndOfTrack = 0x4,
};

enum class FetchType : uint64_t { kStandalone = 0x1, kRelativeJoining = 0x2, kAbsoluteJoining = 0x3 };

// Limits the drafts set (-14 §2.4.1 / §1.4.3, -16 §2.4.1, -18 §2.4.1).
inline constexpr size_t kMaxNamespaceFields = 32;
inline constexpr size_t kMaxFullTrackNameBytes = 4096;
inline constexpr size_t kMaxReasonPhraseBytes = 1024;
inline constexpr size_t kMaxKvpValueBytes = 65535;
inline constexpr size_t kMaxGoawayUriBytes = 8192;
inline constexpr size_t kMaxControlPayload = 65535;

std::string to_string(const Location& l);
std::string to_string(const TrackNamespace& ns);  // rendered as the drafts recommend
std::string to_string(const FullTrackName& n);

}  // namespace moqt::wire
