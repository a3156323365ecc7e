// libFuzzer target: the catalog readers of the packaging layer (gst/moq/packaging), MSF and hang,
// on arbitrary text, the way moqsrc meets a peer's catalog. A GLib/GStreamer CRITICAL (a getter
// on the wrong JSON type, caps built from junk) is a crash here, as it is with G_DEBUG=fatal-criticals.
// Seeds: tests/fuzz/seeds/catalog/ (ours, @moq/publish's, older and foreign forms).
#include <gst/gst.h>

#include <cstdint>
#include <string>

#include "packaging.h"

// Before any input: GStreamer's start-up allocates for good (GLib even drops its first quark
// array on purpose), which the per-input leak check would otherwise blame on the first input.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gst_init(nullptr, nullptr);
  g_log_set_always_fatal(GLogLevelFlags(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING));
  // The parsers' first use (json-glib's types, caps of each codec) outside the leak check too.
  for (const moqgst::packaging::Packager* p : {&moqgst::packaging::msf(), &moqgst::packaging::hang()}) {
    auto e = p->parse_catalog(R"({"version":1,"tracks":[{"name":"v","codec":"avc1.42e01f"}]})", nullptr);
    if (e)
      for (auto& x : *e)
        if (x.caps) gst_caps_unref(x.caps);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const moqgst::packaging::Packager* p : {&moqgst::packaging::msf(), &moqgst::packaging::hang()}) {
    std::string err;
    auto entries = p->parse_catalog(text, &err);
    if (!entries) continue;
    for (auto& e : *entries) {
      if (e.caps) {
        gchar* s = gst_caps_to_string(e.caps);  // the caps must be well formed
        g_free(s);
        gst_caps_unref(e.caps);
      }
    }
  }
  return 0;
}
