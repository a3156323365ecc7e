// The "moq" GStreamer plugin: moqsink, moqsrc and moqrelay.
#include <gst/gst.h>

#include "gstmoqrelay.h"
#include "gstmoqsink.h"
#include "gstmoqsrc.h"

static gboolean plugin_init(GstPlugin* plugin) {
  // Applications mark a buffer's layer with this custom meta (structure field "layer", uint).
  static const gchar* tags[] = {nullptr};
  if (!gst_meta_get_info("GstMoqLayerMeta")) gst_meta_register_custom("GstMoqLayerMeta", tags, nullptr, nullptr, nullptr);
  return gst_element_register(plugin, "moqsink", GST_RANK_PRIMARY, GST_TYPE_MOQ_SINK) &&
         gst_element_register(plugin, "moqsrc", GST_RANK_PRIMARY, GST_TYPE_MOQ_SRC) &&
         gst_element_register(plugin, "moqrelay", GST_RANK_NONE, GST_TYPE_MOQ_RELAY);
}

#define PACKAGE "moq-gst"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, moq, "Media over QUIC (MoQT drafts 14, 16, 18)", plugin_init,
                  "0.1.0", "LGPL", "moq-gst", "https://datatracker.ietf.org/wg/moq/")
