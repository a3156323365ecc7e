// Building blocks shared by the control and data codecs: namespaces, names, Key-Value-Pair lists,
// locations, reason phrases, tokens, subscription filters. Readers record failures in the Reader
// (sticky), writers in the Writer, each with the termination code the draft prescribes.
#pragma once

#include "moqt/wire/codec_io.h"
#include "moqt/wire/draft.h"
#include "moqt/wire/types.h"

namespace moqt::wire {

// Track namespace tuple. `min_fields` is 0 where a draft allows an empty tuple (prefixes).
TrackNamespace read_namespace(Reader& r, const Profile& p, size_t min_fields);
void write_namespace(Writer& w, const TrackNamespace& ns, const Profile& p, size_t min_fields);

// Namespace + name, with the 4096-byte full-name limit.
FullTrackName read_full_track_name(Reader& r, const Profile& p);
void write_full_track_name(Writer& w, const FullTrackName& n, const Profile& p);

Location read_location(Reader& r);
void write_location(Writer& w, const Location& l);

std::string read_reason(Reader& r);
void write_reason(Writer& w, const std::string& reason);

// A sequence of Key-Value-Pairs. With `count` set, exactly that many are read; otherwise they run
// to the end of the reader. Types are delta-coded when the profile says so.
KeyValueList read_kvps(Reader& r, const Profile& p, std::optional<uint64_t> count);
void write_kvps(Writer& w, const KeyValueList& kvps, const Profile& p);

// Token structure (the value of an AUTHORIZATION TOKEN parameter/option, without its length).
// Undecodable tokens are KEY_VALUE_FORMATTING_ERROR.
AuthToken read_token(Reader& r);
void write_token(Writer& w, const AuthToken& t);

// Subscription filter. `end_as_delta` (-18): End Group is a delta from Start.Group.
SubscriptionFilter read_filter(Reader& r, bool end_as_delta);
void write_filter(Writer& w, const SubscriptionFilter& f, bool end_as_delta);

bool valid_group_order(uint64_t v, bool allow_publisher_choice);

}  // namespace moqt::wire
