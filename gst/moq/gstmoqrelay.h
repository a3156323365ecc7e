#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MOQ_RELAY (gst_moq_relay_get_type())
G_DECLARE_FINAL_TYPE(GstMoqRelay, gst_moq_relay, GST, MOQ_RELAY, GstElement)

G_END_DECLS
