// Packaging: how a broadcast's media sits on MoQT tracks. A format owns the catalog (its track
// name, writing and reading its JSON) and each object's framing (where the timestamp and the
// codec configuration go, what bytes the payload holds). The elements pick a format and never
// build catalogs or framing themselves; the engine below stays media-agnostic.
//
//   msf   LOC objects (draft-ietf-moq-loc: timestamp, config, frame marking as object
//         properties; the payload is the codec bitstream) + the MSF catalog track "catalog".
//   hang  moq.dev's format (@moq/watch, @moq/publish): catalog track "catalog.json" and the
//         "legacy" container (payload = QUIC varint timestamp in µs, then the codec bitstream).
//
// A third (CMAF) adds one more implementation of Packager; nothing else changes.
// Formats are stateless and shared: any thread may use them.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "moqt/session/session.h"

namespace moqgst::packaging {

enum class Format { kMsf, kHang };

// A track as the catalog describes it.
struct TrackInfo {
  std::string name;         // the track's name in this format
  GstCaps* caps = nullptr;  // borrowed
  unsigned priority = 128;
};

// A track a catalog lists, with its caps (owned by the caller; null when the codec is unknown).
struct CatalogEntry {
  std::string name;
  GstCaps* caps = nullptr;
};

// One media buffer on its way to an object.
struct Frame {
  bool keyframe = true;
  bool group_start = false;  // the first object of a group (decoder configuration repeats here)
  bool video = false;
  // Capture time as wall-clock µs since the epoch, if the pipeline has a clock, and the running
  // time (µs, one timeline for every pad of the element) if the buffer has a PTS.
  std::optional<int64_t> wall_us;
  std::optional<uint64_t> running_us;
  std::optional<unsigned> layer;    // temporal/SVC layer, when layer mapping is on
  const std::string* config = nullptr;  // codec configuration (avcC, hvcC, OpusHead, ...) or empty
};

// What a received object holds for a buffer (`config` points into that object: valid while it is).
struct Unpacked {
  size_t offset = 0;  // the codec bitstream starts here in the payload
  std::optional<GstClockTime> pts;  // ns
  bool wall_clock = false;          // pts is ns since the epoch (else the sender's media time)
  std::span<const uint8_t> config;  // decoder configuration carried by the object, if any
};

class Packager {
 public:
  virtual ~Packager() = default;
  virtual Format format() const = 0;
  virtual const char* name() const = 0;           // "msf", "hang"
  virtual const char* catalog_track() const = 0;  // "catalog", "catalog.json"

  // The JSON text of a full catalog (one object of its own group).
  virtual std::string build_catalog(const std::vector<TrackInfo>& tracks) const = 0;
  // Every track a catalog lists, in catalog order; nullopt (and why) if the text is not one.
  virtual std::optional<std::vector<CatalogEntry>> parse_catalog(const std::string& json,
                                                                 std::string* error) const = 0;

  // Fills `o` (properties, payload) for one frame whose bitstream `data` is owned by `owner`.
  // A format that frames the payload copies once per frame (never per subscriber).
  virtual void pack(const Frame& f, moqt::quic::SendBuffer data, moqt::session::Object* o) const = 0;
  // The media in a received object. `track_timescale`: units of the track's timestamps declared
  // once for the track (draft-16+ track property 0x08), if any. False if the object is malformed
  // for this format (it is dropped and counted, never delivered).
  virtual bool unpack(const moqt::session::ReceivedObject& o, std::optional<uint64_t> track_timescale,
                      Unpacked* out) const = 0;
};

const Packager& msf();
const Packager& hang();
// "msf" / "loc" or "hang"; null for anything else.
const Packager* by_name(const std::string& name);

// --- codec helpers shared by the formats ---------------------------------------------------------

// WebCodecs codec string for caps ("avc1.64001f", "vp8", "opus", ...), "" if unknown.
std::string codec_string(const GstCaps* caps);
// The codec configuration in caps: codec_data, or for Opus/Vorbis the first streamheader.
std::string codec_config(const GstCaps* caps);
// Caps for a WebCodecs codec string plus what a catalog says of it; `description` is the codec
// configuration (avcC, hvcC, AudioSpecificConfig, OpusHead) or empty. Null if the codec is unknown.
GstCaps* caps_for_codec(const std::string& codec, const std::string& description, int width, int height,
                        int rate, int channels);
// `caps` with decoder configuration from an object (LOC Video/Audio Config) when the caps carry
// none: avcC/hvcC switch H.264/H.265 to the length-prefixed stream format. New reference, or
// null when nothing changes.
GstCaps* caps_with_config(const GstCaps* caps, std::span<const uint8_t> config);

}  // namespace moqgst::packaging
