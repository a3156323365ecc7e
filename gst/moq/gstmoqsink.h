#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MOQ_SINK_PAD (gst_moq_sink_pad_get_type())
G_DECLARE_FINAL_TYPE(GstMoqSinkPad, gst_moq_sink_pad, GST, MOQ_SINK_PAD, GstPad)

#define GST_TYPE_MOQ_SINK (gst_moq_sink_get_type())
G_DECLARE_FINAL_TYPE(GstMoqSink, gst_moq_sink, GST, MOQ_SINK, GstElement)

GType gst_moq_mode_get_type(void);
// uri, mode, cert-file, key-file, tls-pin, tls-insecure, draft, port, cert-sha256, stats
void gst_moq_install_common_properties(GObjectClass* klass, guint first_id);
// Fills a GstURIHandler interface for the moqt:// scheme (the "uri" property).
void gst_moq_uri_handler_fill(gpointer iface, GstURIType (*get_type)(GType));

G_END_DECLS
