// The broadcast catalog (draft-ietf-moq-msf): a JSON track named "catalog" in the broadcast's
// namespace listing its tracks with WebCodecs codec strings, resolution, frame rate, sample rate,
// channels and init data. Built and read with json-glib. We add "gstCaps" (the exact caps string):
// unknown fields are ignored by other readers, and it lets moqsrc restore caps losslessly.
#pragma once

#include <gst/gst.h>

#include <optional>
#include <string>
#include <vector>

namespace moqgst {

inline constexpr const char* kCatalogTrack = "catalog";

struct CatalogTrack {
  std::string name;
  GstCaps* caps = nullptr;  // borrowed
  unsigned priority = 128;
};

// The JSON text of a full (independent) catalog.
std::string build_catalog(const std::vector<CatalogTrack>& tracks);
// WebCodecs codec string for caps ("avc1.64001f", "vp8", "opus", ...), "" if unknown.
std::string codec_string(const GstCaps* caps);
// Every track a catalog lists, with its caps (owned by the caller; null when the codec is
// unknown), in catalog order; nullopt if the text is not a catalog.
struct CatalogEntry {
  std::string name;
  GstCaps* caps = nullptr;
};
std::optional<std::vector<CatalogEntry>> tracks_from_catalog(const std::string& json, std::string* error);
// Caps of `track` from a catalog (our gstCaps field, else derived from the codec string); null
// if the catalog does not list it or cannot be parsed.
GstCaps* caps_from_catalog(const std::string& json, const std::string& track, std::string* error);

}  // namespace moqgst
