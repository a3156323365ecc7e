#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MOQ_SRC (gst_moq_src_get_type())
G_DECLARE_FINAL_TYPE(GstMoqSrc, gst_moq_src, GST, MOQ_SRC, GstBin)

G_END_DECLS
